"""Property-based fuzzing of every HTTP surface: never a 5xx, and a refused request leaves no trace.

Hypothesis generates requests to the REST API, the npm registry, the Python index and the Cargo registry
(``tests/api/fuzz_inputs.py``): hostile paths, headers and bodies, sent by callers of every role and
by strangers. Each goes through httpx's ASGITransport to the app on the embedded store, which starts
every example from the same saved state. Properties:

- the answer is never a 5xx, and never takes more than a few seconds;
- a 4xx comes with a message, and leaves every SQLite row and every file of the store as it was.

Each endpoint first gets the requests that broke the feed before (``known_hostile``), then 60
generated ones; examples are derandomized and nothing is written to a ``.hypothesis`` folder, so CI
is repeatable. The whole module runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import sqlite3
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from feed_core.app import create_app
from feed_core.domain.roles import Scope
from feed_core.service.container import Services, build_services
from feed_core.settings import Settings
from tests.api.conftest import ADMIN_TOKEN, ORG, MutableClock, running_api
from tests.api.fuzz_inputs import (
    CARGO,
    CARGO_ENDPOINTS,
    NPM,
    NPM_ENDPOINTS,
    PYPI,
    PYPI_ENDPOINTS,
    REST,
    REST_ENDPOINTS,
    TOKENS,
    Endpoint,
    FuzzRequest,
    known_hostile,
    raw_requests,
    requests_to,
)
from tests.cargo_packages import crate_bytes, publish_body
from tests.python_packages import make_sdist, make_wheel, upload_form

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
#: Longest any one request may take before it counts as a hang.
REQUEST_SECONDS = 10.0
SCOPES = {"owen": Scope.MANAGE, "alice": Scope.WRITE, "carol": Scope.READ, "bob": Scope.READ, "nobody": Scope.MANAGE}
ROLES = {"owen": "administrator", "alice": "contributor", "carol": "collaborator", "bob": "reader"}

State = tuple[frozenset[tuple[Any, ...]], frozenset[tuple[str, int]]]


def snapshot(data_dir: Path) -> State:
    """Every row of the embedded store's SQLite and every file under its blob root (``.tmp`` included)."""
    db = sqlite3.connect(f"file:{data_dir / 'feed.sqlite3'}?mode=ro", uri=True)
    try:
        rows = frozenset(db.execute("SELECT tbl, pk, rk, props, etag FROM entities"))
    finally:
        db.close()
    root = data_dir / "blobs"
    files = frozenset((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())
    return rows, files


def describe_change(before: State, after: State) -> str:
    lines = [f"row removed: {r[:3]}" for r in before[0] - after[0]]
    lines += [f"row written: {r[:3]} {str(r[3])[:200]}" for r in after[0] - before[0]]
    lines += [f"file removed: {f}" for f in before[1] - after[1]]
    lines += [f"file written: {f}" for f in after[1] - before[1]]
    return "\n".join(lines)


class RawTarget:
    """Hands the app the request target exactly as the client wrote it (``x-raw-target``), as a
    server receives it from ``curl --path-as-is``: httpx itself would resolve ``..`` segments away."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = dict(scope["headers"]).get(b"x-raw-target")
            if raw is not None:
                path, _, query = raw.partition(b"?")
                scope = {
                    **scope,
                    "raw_path": path,
                    "path": unquote(path.decode("ascii")),  # what uvicorn does
                    "query_string": query,
                    "headers": [(k, v) for k, v in scope["headers"] if k != b"x-raw-target"],
                }
        await self._app(scope, receive, send)


async def build_world(settings_: Settings) -> dict[bytes, bytes]:
    """Feed ``fuzz`` with staff, packages of both protocols and views, fed by feed ``up`` through its
    shared ``@Local`` view. Returns the ids the strategies refer to as ``$feed_id`` and ``$up_id``."""
    async with running_api(settings_, MutableClock()) as api:
        for user, scope in SCOPES.items():
            await api.services.identity.mint(
                ORG, None, user=user, display_name="fuzz", scope=scope, plaintext=TOKENS[user]
            )
        fuzz = await api.create_feed("fuzz")
        up = await api.create_feed("up")
        for user, role in ROLES.items():
            await api.grant("fuzz", user, role)
        await api.follow_internal_upstream("fuzz", "up")
        feeds = f"/{ORG}/_apis/packaging/feeds"
        for name, version, feed, tag in [
            ("p", "1.0.0", "fuzz", "latest"),
            ("p", "1.1.0", "fuzz", "beta"),
            ("@sc/q", "1.0.0", "fuzz", "latest"),
            ("u", "1.0.0", "up", "latest"),
        ]:
            assert (await api.publish(name, version, feed=feed, tag=tag)).status_code == 201
        promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
        r = await api.http.patch(f"{feeds}/fuzz/npm/p/versions/1.0.0", json=promote, headers=api.auth())
        assert r.status_code == 200, r.text
        for make, name, feed in [
            (make_wheel, "pylib", "fuzz"),
            (make_sdist, "pylib", "fuzz"),
            (make_wheel, "uplib", "up"),
        ]:
            filename, data, _ = make(name, "1.0")
            fields, files = upload_form(name, "1.0", filename, data)
            url = f"/{ORG}/_packaging/{feed}/pypi/upload/"
            assert (await api.http.post(url, data=fields, files=files, headers=api.auth())).status_code == 200
        for name, version, feed in [
            ("demo_crate", "1.0.0", "fuzz"),
            ("demo_crate", "1.1.0", "fuzz"),
            ("upcrate", "1.0.0", "up"),
        ]:
            body = publish_body(name, version, crate_bytes(name, version))
            url = f"/{ORG}/_packaging/{feed}/cargo/api/v1/crates/new"
            assert (await api.http.put(url, content=body, headers=api.auth())).status_code == 200
    return {b"$feed_id": fuzz["id"].encode(), b"$up_id": up["id"].encode()}


@dataclass
class Fuzzer:
    """The app on a copy of the saved world; the copy is renewed after any request that changed it."""

    runner: asyncio.Runner
    template: Path
    live: Path
    ids: dict[bytes, bytes]
    settings: Settings = field(init=False)
    baseline: State = field(init=False)
    services: Services | None = None
    client: httpx.AsyncClient | None = None
    dirty: bool = True

    def __post_init__(self) -> None:
        self.settings = _settings(self.live)
        self.baseline = snapshot(self.template)

    async def _reset(self) -> None:
        await self._close()
        shutil.rmtree(self.live, ignore_errors=True)
        shutil.copytree(self.template, self.live)
        self.services = await build_services(self.settings, clock=MutableClock())
        app = RawTarget(create_app(services=self.services))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://feed.test")
        self.dirty = False

    async def _close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.services is not None:
            await self.services.close()
        self.client = self.services = None

    def _fill(self, data: bytes) -> bytes:
        for placeholder, value in self.ids.items():
            data = data.replace(placeholder, value)
        return data

    async def _send(self, req: FuzzRequest) -> tuple[int, bytes]:
        assert self.client is not None
        headers = [(b"x-raw-target", self._fill(req.target.encode("ascii")))]
        headers += [(k, self._fill(v)) for k, v in req.headers]
        request = self.client.build_request(req.method, "/", headers=headers, content=self._fill(req.body))
        try:
            response = await asyncio.wait_for(self.client.send(request), REQUEST_SECONDS)
        except TimeoutError:
            return 599, f"no answer within {REQUEST_SECONDS} s".encode()
        except Exception:  # an exception out of the app is a 500 on a real server
            return 500, traceback.format_exc().encode()
        return response.status_code, response.content

    def send(self, req: FuzzRequest) -> tuple[int, bytes, State]:
        """The status and body of the answer, and the store's state after it."""
        if self.dirty:
            self.runner.run(self._reset())
        status, body = self.runner.run(self._send(req))
        after = snapshot(self.live)
        self.dirty = after != self.baseline
        return status, body, after

    def close(self) -> None:
        self.runner.run(self._close())


def _settings(data_dir: Path) -> Settings:
    settings = Settings(
        admin_token=ADMIN_TOKEN,
        organization=ORG,
        data_dir=data_dir,
        upstream_timeout=1.0,
        upstream_download_timeout=2.0,
    )
    return settings.model_copy(update={"upstream_connect_timeout": 0.5})  # below what an operator may set


@pytest.fixture(scope="module")
def loopback_only() -> Iterator[None]:
    """Refuse any name lookup or connection beyond loopback while fuzzing: generated upstream
    sources must never make the feed reach the network."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def loopback(host: Any) -> bool:
        if host in (None, "localhost", b"localhost"):
            return True
        try:
            return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
        except ValueError:
            return False

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not loopback(host):
            raise socket.gaierror(f"fuzz test: no lookups of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            raise ConnectionRefusedError(f"fuzz test: no connections to {address!r}")
        real_connect(sock, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        mp.setattr(socket.socket, "connect", connect)
        yield


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory, loopback_only: None) -> Iterator[Fuzzer]:
    del loopback_only
    root = tmp_path_factory.mktemp("fuzz")
    # Hypothesis keeps caches (constants, unicode tables) under ./.hypothesis even without a database.
    set_hypothesis_home_dir(root / "hypothesis")
    with asyncio.Runner() as runner:
        ids = runner.run(build_world(_settings(root / "template")))
        fz = Fuzzer(runner, root / "template", root / "live", ids)
        try:
            yield fz
        finally:
            fz.close()
            set_hypothesis_home_dir(None)


def check(fuzzer: Fuzzer, req: FuzzRequest) -> None:
    status, body, after = fuzzer.send(req)
    assert status < 500, f"{status}: {body[:2000]!r}"
    if 400 <= status < 500:
        change = describe_change(fuzzer.baseline, after)
        assert not change, f"the refused request ({status}: {body[:300]!r}) changed the store:\n{change}"
        if req.method != "HEAD":
            assert body.strip(), f"a {status} without a message"


def fuzz(fuzzer: Fuzzer, requests: st.SearchStrategy[FuzzRequest], known: list[FuzzRequest] | None = None) -> None:
    """Check ``known`` requests, then as many as ``FUZZ`` allows drawn from ``requests``."""

    @FUZZ
    @given(req=requests)
    def run(req: FuzzRequest) -> None:
        check(fuzzer, req)

    for req in known or []:
        run = example(req=req)(run)
    run()


@pytest.mark.parametrize("endpoint", REST_ENDPOINTS, ids=str)
def test_rest_api(fuzzer: Fuzzer, endpoint: Endpoint) -> None:
    fuzz(fuzzer, requests_to(REST, endpoint), known_hostile(REST, endpoint))


@pytest.mark.parametrize("endpoint", NPM_ENDPOINTS, ids=str)
def test_npm_registry(fuzzer: Fuzzer, endpoint: Endpoint) -> None:
    fuzz(fuzzer, requests_to(NPM, endpoint), known_hostile(NPM, endpoint))


@pytest.mark.parametrize("endpoint", PYPI_ENDPOINTS, ids=str)
def test_python_index(fuzzer: Fuzzer, endpoint: Endpoint) -> None:
    fuzz(fuzzer, requests_to(PYPI, endpoint), known_hostile(PYPI, endpoint))


@pytest.mark.parametrize("endpoint", CARGO_ENDPOINTS, ids=str)
def test_cargo_registry(fuzzer: Fuzzer, endpoint: Endpoint) -> None:
    fuzz(fuzzer, requests_to(CARGO, endpoint), known_hostile(CARGO, endpoint))


def test_any_path(fuzzer: Fuzzer) -> None:
    fuzz(fuzzer, raw_requests())
