"""A small, real npm registry on 127.0.0.1 that stands in for an upstream in tests.

    def test_proxy(fixture_registry):
        fixture_registry.add("left-pad", "1.0.0", deps={"tiny": "^1.0.0"})
        httpx.get(fixture_registry.url + "left-pad")  # the full packument

Test modules import the fixtures (``from tests.npm_registry_fixture import fixture_registry  # noqa: F401``), or a
conftest.py does. It serves the read side of the public registry (see /work/shared/protocols/npm.md): full and
abbreviated packuments with strong ETags, Last-Modified and 304s, and tarballs at
``{url}{name}/-/{basename}-{version}.tgz``. Knobs make it misbehave: ``remove`` (unpublish), ``tamper`` (bytes that do
not match ``dist.integrity``), ``set_time`` (any publish time, or none), ``serve_raw`` (any bytes at a path),
``set_down`` (closed connection, 503 or hang), ``set_delay`` and ``require_auth``.
Nothing else is served: no writes, no ``/-/all``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import unquote

import h11
import pytest
import uvicorn
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from tests.npm_packages import integrity, make_tarball

DownMode = Literal["refuse", "503", "hang"]
Request = tuple[str, str, dict[str, str]]
DEFAULT_PUBLISHED = "2020-01-01T00:00:00.000Z"
ABBREVIATED = "application/vnd.npm.install-v1+json"
HANG_SECONDS = 3600.0  # longer than any client timeout; stop() cuts it short
CORGI_FIELDS = (
    *("name", "version", "dist", "deprecated", "dependencies", "optionalDependencies", "devDependencies"),
    *("peerDependencies", "peerDependenciesMeta", "bundleDependencies", "bin", "directories", "engines"),
    *("os", "cpu", "libc", "funding", "_hasShrinkwrap"),
)


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Package:
    created: str
    modified: datetime  # a logical clock: +1 s at least on every change, never before a publish time
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)  # version -> manifest with dist
    tarballs: dict[str, bytes] = field(default_factory=dict)  # "{basename}-{version}.tgz" -> bytes served
    time: dict[str, Any] = field(default_factory=dict)  # version -> published (set_time may make it anything)
    tags: dict[str, str] = field(default_factory=dict)

    def touch(self, at: datetime | None = None) -> None:
        self.modified = max(self.modified + timedelta(seconds=1), at or self.modified)


class FixtureRegistry:
    """An npm registry on a free 127.0.0.1 port, served by uvicorn in a background thread until ``stop()``.

    Every method is thread-safe and may be called while requests are in flight. Usable as a context manager.
    """

    url: str  # base URL ending with "/", e.g. "http://127.0.0.1:PORT/"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._packages: dict[str, _Package] = {}
        self._requests: list[Request] = []
        self._down: DownMode | None = None
        self._delay = 0.0
        self._auth: str | None = None
        self._raw: dict[str, tuple[bytes, str]] = {}  # path -> (body, media type) served as it is
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None  # set by stop(): ends hangs and delays at once
        self._sock = socket.create_server(("127.0.0.1", 0))  # listening now: early connections wait in the backlog
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/"
        config = uvicorn.Config(
            self._app, interface="asgi3", http=_protocol_for(self), ws="none", lifespan="off",
            log_config=None, access_log=False, timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"fixture-registry {self.url}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fixture registry did not start")
            time.sleep(0.002)

    def __enter__(self) -> FixtureRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content ---------------------------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        version: str,
        *,
        deps: dict[str, str] | None = None,
        published: str | None = None,
        tag: str | None = "latest",
        extra: dict[str, Any] | None = None,
        tarball: bytes | None = None,
    ) -> None:
        """Publish ``name@version`` (replacing it if present). ``published`` is the ISO time recorded in
        ``time[version]`` (default: an old fixed date); ``tag`` is pointed at the version unless None; ``extra`` adds
        package.json fields; ``tarball`` defaults to a real .tgz whose package.json carries ``deps`` and ``extra``."""
        fields = {**(extra or {}), "dependencies": deps or {}}
        data = tarball if tarball is not None else make_tarball(name, version, extra=fields)
        file = f"{name.split('/')[-1]}-{version}.tgz"
        dist = {
            "tarball": f"{self.url}{name}/-/{file}",
            "integrity": integrity(data),
            "shasum": hashlib.sha1(data).hexdigest(),  # noqa: S324 - npm's shasum
        }
        manifest = {"name": name, "version": version, "main": "index.js", **fields, "_id": f"{name}@{version}"}
        published = published or DEFAULT_PUBLISHED
        with self._lock:
            pkg = self._packages.setdefault(name, _Package(created=published, modified=_parse_iso(published)))
            pkg.versions[version] = {**manifest, "dist": dist}
            pkg.tarballs[file] = data
            pkg.time[version] = published
            if tag is not None:
                pkg.tags[tag] = version
            pkg.touch(_parse_iso(published))

    def remove(self, name: str, version: str) -> None:
        """Unpublish one version: it, its tarball and tags pointing at it go; ``latest`` moves to the most recently
        added remaining version. Removing the last version makes the package 404."""
        with self._lock:
            pkg = self._packages[name]
            del pkg.versions[version], pkg.time[version], pkg.tarballs[f"{name.split('/')[-1]}-{version}.tgz"]
            pkg.tags = {tag: v for tag, v in pkg.tags.items() if v != version}
            if not pkg.versions:
                del self._packages[name]
                return
            pkg.tags.setdefault("latest", list(pkg.versions)[-1])
            pkg.touch()

    def tamper(self, name: str, version: str) -> None:
        """Serve a different (valid) tarball than the packument's ``dist.integrity``/``shasum`` declare."""
        with self._lock:
            file = f"{name.split('/')[-1]}-{version}.tgz"
            self._packages[name].tarballs[file] = make_tarball(name, version, code="/* tampered */")

    def set_time(self, name: str, version: str, value: object) -> None:
        """Make ``time[version]`` any JSON value (a number, a time without a zone, garbage), or drop it (``None``)."""
        with self._lock:
            pkg = self._packages[name]
            if value is None:
                pkg.time.pop(version, None)
            else:
                pkg.time[version] = value
            pkg.touch()

    def document(self, name: str) -> dict[str, Any]:
        """The full packument of ``name`` as it is served now (to alter and ``serve_raw``)."""
        with self._lock:
            return json.loads(json.dumps(_full(name, self._packages[name])))

    def serve_raw(self, path: str, body: bytes | None, media_type: str = "application/json") -> None:
        """Answer GET ``path`` (e.g. ``/left-pad``) with these bytes and a 200, whatever they are (None: stop)."""
        with self._lock:
            if body is None:
                self._raw.pop(path, None)
            else:
                self._raw[path] = (body, media_type)

    # -- behaviour -------------------------------------------------------------------------------------------------

    def set_down(self, down: bool, mode: DownMode = "refuse") -> None:
        """While down, every request gets a closed connection ("refuse"), a 503, or no answer until stop() ("hang")."""
        self._down = mode if down else None

    def set_delay(self, seconds: float) -> None:
        """Wait this long before answering every request (0 = no delay)."""
        self._delay = seconds

    def require_auth(self, header_value: str | None) -> None:
        """Answer 401 to requests whose Authorization header is not exactly ``header_value`` (None = open)."""
        self._auth = header_value

    # -- request log -----------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """(method, percent-decoded path without query, lowercased headers) of every request received, in order;
        requests refused while down are included."""
        with self._lock:
            return list(self._requests)

    def count(self, method: str, path_suffix: str) -> int:
        """How many ``method`` requests had a path ending with ``path_suffix``."""
        return sum(1 for m, path, _ in self.requests if m == method and path.endswith(path_suffix))

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _log(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append((method, path, headers))

    # -- serving ---------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving and wait for the thread; ends hanging requests. Idempotent."""
        if self._thread.is_alive():
            if self._loop is not None and self._stopping is not None:
                with contextlib.suppress(RuntimeError):  # the loop may have just closed
                    self._loop.call_soon_threadsafe(self._stopping.set)
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._sock.close()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await self._server.serve(sockets=[self._sock])

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        self._log(scope["method"], scope["path"], dict(headers.items()))
        response = await self._respond(scope["method"], scope["path"], headers)
        await response(scope, receive, send)

    async def _respond(self, method: str, path: str, headers: Headers) -> Response:
        await self._sleep(self._delay)
        if self._down == "hang":
            await self._sleep(HANG_SECONDS)
        if self._down is not None:  # "503", or a "hang" ended by stop(), or a request that raced set_down("refuse")
            return JSONResponse({"error": "Service Unavailable"}, 503)
        if self._auth is not None and headers.get("authorization") != self._auth:
            return JSONResponse({"error": "Unauthorized"}, 401)
        if method != "GET":
            return JSONResponse({"error": "Method Not Allowed"}, 405, headers={"Allow": "GET"})
        if path == "/-/ping":  # npm ping, which registries answer with an empty object
            return JSONResponse({})
        with self._lock:
            raw = self._raw.get(path)
        if raw is not None:  # in 1 MiB chunks: one write of a huge body would hold this process's GIL
            chunks = (raw[0][i : i + 2**20] for i in range(0, len(raw[0]), 2**20))
            return StreamingResponse(chunks, media_type=raw[1], headers={"Content-Length": str(len(raw[0]))})
        name, is_tarball, file = path.removeprefix("/").partition("/-/")
        with self._lock:
            pkg = self._packages.get(name)
            if pkg is not None and is_tarball and file in pkg.tarballs:
                return Response(pkg.tarballs[file], media_type="application/octet-stream")
            if pkg is None or is_tarball:
                return JSONResponse({"error": "Not found"}, 404)
            abbreviated = ABBREVIATED in headers.get("accept", "")
            body = json.dumps(_abbreviated(name, pkg) if abbreviated else _full(name, pkg)).encode()
            modified = pkg.modified.replace(microsecond=0)
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        validators = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True), "Vary": "Accept"}
        if _not_modified(headers, etag, modified):
            return Response(status_code=304, headers=validators)
        return Response(body, media_type=ABBREVIATED if abbreviated else "application/json", headers=validators)


def _full(name: str, pkg: _Package) -> dict[str, Any]:
    latest = pkg.versions.get(pkg.tags.get("latest", ""), {})
    return {
        "_id": name,
        "name": name,
        "description": latest.get("description", ""),
        "dist-tags": pkg.tags,
        "versions": pkg.versions,
        "time": {"created": pkg.created, "modified": _iso(pkg.modified), **pkg.time},
    }


def _abbreviated(name: str, pkg: _Package) -> dict[str, Any]:
    versions = {}
    for version, manifest in pkg.versions.items():
        versions[version] = {key: manifest[key] for key in CORGI_FIELDS if key in manifest}
        if {"preinstall", "install", "postinstall"} & set(manifest.get("scripts", {})):
            versions[version]["hasInstallScript"] = True
    return {"name": name, "modified": _iso(pkg.modified), "dist-tags": pkg.tags, "versions": versions}


def _not_modified(headers: Headers, etag: str, modified: datetime) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since when both are sent."""
    if (if_none_match := headers.get("if-none-match")) is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag in tags or "*" in tags
    if (if_modified_since := headers.get("if-modified-since")) is not None:
        with contextlib.suppress(TypeError, ValueError):  # unparsable or zone-less dates: no 304
            return modified <= parsedate_to_datetime(if_modified_since)
    return False


def _protocol_for(registry: FixtureRegistry) -> type[H11Protocol]:
    class Protocol(H11Protocol):
        """uvicorn's h11 protocol, except that while "refuse" is on it logs the request and drops the connection."""

        def data_received(self, data: bytes) -> None:
            if registry._down != "refuse":
                super().data_received(data)
                return
            parser = h11.Connection(h11.SERVER)
            parser.receive_data(data)
            with contextlib.suppress(h11.RemoteProtocolError):
                if isinstance(event := parser.next_event(), h11.Request):
                    path = unquote(event.target.decode("latin-1").partition("?")[0])
                    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in event.headers}
                    registry._log(event.method.decode("latin-1"), path, headers)
            self.transport.close()

    return Protocol


def dead_url() -> str:
    """The URL of a loopback port with nothing listening (connection refused): a dead upstream."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture
def fixture_registry() -> Iterator[FixtureRegistry]:
    """A fresh, empty registry, stopped at teardown."""
    with FixtureRegistry() as registry:
        yield registry


@pytest.fixture
def make_fixture_registry() -> Iterator[Callable[[], FixtureRegistry]]:
    """A factory of fresh registries, all stopped at teardown."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(FixtureRegistry())
