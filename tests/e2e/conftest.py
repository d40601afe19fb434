"""End-to-end fixtures: the feed server under uvicorn in a subprocess, and the real npm CLI.

* ``embedded_server`` / ``azurite_server``: one server per backend for the whole session (started on
  first use). ``server`` picks one: the embedded store unless a test parametrises it indirectly with
  ``@pytest.mark.parametrize("server", BACKENDS, indirect=True)``.
* ``api``: the REST management API as the organization administrator (httpx).
* ``feed``: a fresh feed per test (unique name) where alice is a contributor and bob a reader, with a
  write token for alice and a read token for bob.
* ``npm``: makes isolated npm clients; each has its own userconfig, cache and project directory, and
  never reads this machine's user or global npm configuration.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
ORG = "local"
START_TIMEOUT_SECONDS = 20.0
NPM_TIMEOUT_SECONDS = 60.0
NPM = shutil.which("npm") or "npm"
NODE = shutil.which("node") or "node"

#: Storage backends the core scenario runs on; Azurite needs the emulator (tests/azurite.py).
BACKENDS = ["embedded", pytest.param("azurite", marks=pytest.mark.azurite)]

_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def clean_env() -> dict[str, str]:
    """This process's environment without feed settings, npm configuration or proxies."""
    env: dict[str, str] = {}
    for key, value in os.environ.items():
        lower = key.lower()
        if key.startswith("FEED_") or lower.startswith("npm_config_") or lower in _PROXY_VARS:
            continue
        env[key] = value
    env["NO_PROXY"] = HOST
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


# --- the server ------------------------------------------------------------------------------------


@dataclass
class FeedServer:
    backend: str
    base_url: str  # http://127.0.0.1:PORT
    port: int
    admin_token: str
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def npm_registry(self, feed: str, view: str | None = None) -> str:
        ref = f"{feed}@{view}" if view else feed
        return f"{self.base_url}/{ORG}/_packaging/{ref}/npm/registry/"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _start_server(backend: str, workdir: Path, extra_env: dict[str, str]) -> FeedServer:
    admin_token = secrets.token_urlsafe(24)[:32]
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = clean_env()
    # The fixture upstreams run on 127.0.0.1, which the outbound guard refuses unless allowed. A machine
    # that reaches the public registries through a gateway in a reserved range (the live tests) adds it
    # with FEED_UPSTREAM_ALLOWED_NETWORKS in the test run's own environment, as an operator would.
    allowed = ",".join(n for n in ("127.0.0.0/8,::1", os.environ.get("FEED_UPSTREAM_ALLOWED_NETWORKS", "")) if n)
    env.update({"FEED_ADMIN_TOKEN": admin_token, "FEED_UPSTREAM_ALLOWED_NETWORKS": allowed, **extra_env})
    problem = "not started"
    for attempt in range(3):  # a port taken between probing and binding: try another one
        port = _free_port()
        log_path = workdir / f"server-{attempt}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "feed_core", "serve", "--port", str(port), "--data-dir", str(data_dir)],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if client.get(f"{base}/_health").status_code == 200:
                        return FeedServer(backend, base, port, admin_token, log_path, proc)
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        code = proc.poll()
        _stop(proc)
        problem = f"exited with code {code}" if code is not None else f"no answer within {START_TIMEOUT_SECONDS:.0f} s"
        problem += f"; log:\n{log_path.read_text(errors='replace')[-4000:]}"
    pytest.fail(f"the feed server ({backend}) did not start: {problem}", pytrace=False)


@contextlib.contextmanager
def own_embedded_server(workdir: Path, **env: str) -> Iterator[FeedServer]:
    """A server of its own on the embedded store with these settings, stopped on exit."""
    server = _start_server("embedded", workdir, {"FEED_STORAGE": "embedded", **env})
    try:
        yield server
    finally:
        _stop(server.proc)


@contextlib.contextmanager
def own_azurite_server(workdir: Path, connection_string: str, prefix: str, **env: str) -> Iterator[FeedServer]:
    """A server of its own on Azurite, in tables and a container of its own named ``{prefix}…``, stopped on
    exit."""
    unique = uuid.uuid4().hex[:12]
    storage = {
        "FEED_STORAGE": "azure",
        "FEED_STORAGE_CONNECTION_STRING": connection_string,
        "FEED_TABLE_PREFIX": f"{prefix}{unique}",
        "FEED_BLOB_CONTAINER": f"{prefix}-{unique}",
    }
    server = _start_server("azurite", workdir, {**storage, **env})
    try:
        yield server
    finally:
        _stop(server.proc)


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedServer]:
    with own_embedded_server(tmp_path_factory.mktemp("feed-embedded")) as server:
        yield server


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory, azurite_connection_string: str) -> Iterator[FeedServer]:
    workdir = tmp_path_factory.mktemp("feed-azurite")
    with own_azurite_server(workdir, azurite_connection_string, "e2e", FEED_DOWNLOAD_REDIRECT="true") as server:
        yield server


#: For modules that run upstream scenarios on a server of their own: short upstream budgets, and no wait
#: between on-demand refreshes of an upstream document.
UPSTREAM_SERVER_ENV = {
    "FEED_STORAGE": "embedded",
    "FEED_UPSTREAM_TIMEOUT_SECONDS": "2",
    "FEED_UPSTREAM_CONNECT_TIMEOUT_SECONDS": "1",
    "FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS": "5",
    "FEED_UPSTREAM_REFRESH_MIN_SECONDS": "0",
}


@pytest.fixture(scope="module")
def upstream_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[FeedServer]:
    """The module's own server with ``UPSTREAM_SERVER_ENV``: a module overrides ``server`` with
    ``running(upstream_server)`` so that ``api`` and ``feed`` use it."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    srv = _start_server("embedded", tmp_path_factory.mktemp(f"feed-{module}"), UPSTREAM_SERVER_ENV)
    try:
        yield srv
    finally:
        _stop(srv.proc)


def running(srv: FeedServer) -> FeedServer:
    """``srv``, after checking that its process is still alive (else the test fails with its log)."""
    if srv.proc.poll() is not None:
        pytest.fail(f"the feed server has exited; log:\n{srv.log_tail()}", pytrace=False)
    return srv


@pytest.fixture
def server(request: pytest.FixtureRequest) -> FeedServer:
    """The embedded server, or the backend named by indirect parametrisation."""
    backend = getattr(request, "param", "embedded")
    if backend not in ("embedded", "azurite"):
        raise ValueError(f"unknown backend {backend!r}")
    srv: FeedServer = request.getfixturevalue(f"{backend}_server")
    if srv.proc.poll() is not None:
        pytest.fail(f"the {backend} feed server has exited; log:\n{srv.log_tail()}", pytrace=False)
    return srv


# --- the REST API ----------------------------------------------------------------------------------


class Api:
    """The management API, as the organization administrator unless a token is given."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.client = httpx.Client(base_url=f"{server.base_url}/{ORG}", trust_env=False, timeout=30.0)

    def close(self) -> None:
        self.client.close()

    def _auth(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.server.admin_token}"}

    def request(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.request(method, path, headers=self._auth(token), **kw)

    def create_feed(self, name: str) -> dict[str, Any]:
        r = self.request("POST", "/_apis/packaging/feeds", json={"name": name})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def set_permissions(self, feed: str, grants: list[tuple[str, str]]) -> None:
        body = [{"role": role, "identityDescriptor": user} for user, role in grants]
        r = self.request("PATCH", f"/_apis/packaging/Feeds/{feed}/permissions", json=body)
        assert r.status_code == 200, r.text

    def mint(self, user: str, scope: str) -> str:
        r = self.request("POST", "/_apis/tokens/pats", json={"user": user, "scope": scope})
        assert r.status_code == 200, r.text
        token: str = r.json()["patToken"]["token"]
        assert token
        return token

    def promote(self, feed: str, package: str, version: str, view: str, *, token: str | None = None) -> httpx.Response:
        return self.request(
            "PATCH",
            f"/_apis/packaging/feeds/{feed}/npm/{package}/versions/{version}",
            params={"api-version": "7.1"},
            json={"views": {"op": "add", "path": "/views/-", "value": view}},
            token=token,
        )

    def npm_get(
        self, feed: str, path: str, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """A raw GET from the feed's npm registry (``path`` relative to ``.../npm/registry/``)."""
        url = f"{self.server.npm_registry(feed)}{path}"
        return self.client.get(url, headers={**self._auth(token), **(headers or {})})


@pytest.fixture
def api(server: FeedServer) -> Iterator[Api]:
    client = Api(server)
    try:
        yield client
    finally:
        client.close()


@dataclass
class FeedEnv:
    name: str
    registry: str  # the feed's npm registry URL, ending with /npm/registry/
    alice_token: str  # contributor, vso.packaging_write
    bob_token: str  # reader, vso.packaging
    server: FeedServer

    def view_registry(self, view: str) -> str:
        return self.server.npm_registry(self.name, view)


@pytest.fixture
def feed(server: FeedServer, api: Api) -> FeedEnv:
    return new_feed(server, api, "e2e")


def new_feed(server: FeedServer, api: Api, prefix: str) -> FeedEnv:
    """A fresh feed named ``{prefix}-…``: alice contributes (write token), bob reads (read token)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    api.create_feed(name)
    api.set_permissions(name, [("alice", "contributor"), ("bob", "reader")])
    return FeedEnv(
        name=name,
        registry=server.npm_registry(name),
        alice_token=api.mint("alice", "vso.packaging_write"),
        bob_token=api.mint("bob", "vso.packaging"),
        server=server,
    )


# --- npm -------------------------------------------------------------------------------------------


@dataclass
class NpmResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    def __iter__(self) -> Iterator[Any]:  # rc, out, err = client.run(...)
        return iter((self.returncode, self.stdout, self.stderr))

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def nerf_dart(registry: str) -> str:
    """npm's credential key for a registry URL: ``//host:port/path/``."""
    return "//" + registry.split("://", 1)[1]


@dataclass
class NpmClient:
    """One npm user on one machine: its own userconfig, cache and project directory."""

    root: Path
    registry: str
    token: str | None
    auth: str  # "bearer" (``_authToken``), "basic" (``username`` + ``_password``) or "none"
    userconfig: Path = field(init=False)
    cache: Path = field(init=False)
    project: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True)
        self.userconfig = self.root / "npmrc"
        self.cache = self.root / "cache"
        self.project = self.root / "project"
        self.cache.mkdir()
        self.project.mkdir()
        (self.project / "package.json").write_text(
            json.dumps({"name": "e2e-project", "version": "1.0.0", "private": True}, indent=2) + "\n"
        )
        key = nerf_dart(self.registry)
        lines = [f"registry={self.registry}", "noproxy=127.0.0.1", "color=false"]
        if self.auth == "bearer":
            lines.append(f"{key}:_authToken={self.token}")
        elif self.auth == "basic":
            encoded = base64.b64encode((self.token or "").encode()).decode()
            lines += [f"{key}:username=anything", f"{key}:_password={encoded}"]
        elif self.auth != "none":
            raise ValueError(f"unknown auth kind {self.auth!r}")
        self.userconfig.write_text("\n".join(lines) + "\n")
        (self.root / "globalnpmrc").write_text("")

    def env(self) -> dict[str, str]:
        env = clean_env()
        env.update(
            {
                "NPM_CONFIG_USERCONFIG": str(self.userconfig),
                "NPM_CONFIG_GLOBALCONFIG": str(self.root / "globalnpmrc"),
                "npm_config_cache": str(self.cache),
                "NPM_CONFIG_UPDATE_NOTIFIER": "false",
                "NPM_CONFIG_FUND": "false",
                "NPM_CONFIG_AUDIT": "false",
                "NO_COLOR": "1",
            }
        )
        return env

    def run(self, *args: str, cwd: Path | None = None, timeout: float = NPM_TIMEOUT_SECONDS) -> NpmResult:
        return self._exec([NPM, *args], cwd, timeout)

    def node(self, script: str, *, cwd: Path | None = None) -> NpmResult:
        return self._exec([NODE, "-e", script], cwd, NPM_TIMEOUT_SECONDS)

    def _exec(self, argv: list[str], cwd: Path | None, timeout: float) -> NpmResult:
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd or self.project,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(argv)} did not finish within {timeout:.0f} s:\n{exc.stdout!r}\n{exc.stderr!r}")
        return NpmResult(proc.returncode, proc.stdout, proc.stderr)


NpmFactory = Callable[..., NpmClient]


@pytest.fixture
def npm(tmp_path: Path, feed: FeedEnv) -> NpmFactory:
    """``npm(token, registry=None, auth="bearer", name="user")`` -> a fresh, isolated npm client.

    ``registry`` defaults to the test's feed; ``auth`` is "bearer", "basic" or "none".
    """
    counter = iter(range(1000))

    def make(
        token: str | None = None, *, registry: str | None = None, auth: str | None = None, name: str = "user"
    ) -> NpmClient:
        kind = auth or ("bearer" if token else "none")
        return NpmClient(tmp_path / f"npm-{name}-{next(counter)}", registry or feed.registry, token, kind)

    return make


# --- packages --------------------------------------------------------------------------------------


PackageFactory = Callable[..., Path]


@pytest.fixture
def package(tmp_path: Path) -> PackageFactory:
    """``package(name, version, value=..., index=..., dependencies=..., scripts=..., keywords=...,
    description=..., files=...)`` -> a package directory (package.json + index.js) under tmp_path.

    index.js exports ``value`` (default ``"name@version"``) unless ``index`` gives its source.
    """

    def make(
        name: str,
        version: str,
        *,
        value: str | None = None,
        index: str | None = None,
        dependencies: dict[str, str] | None = None,
        scripts: dict[str, str] | None = None,
        keywords: list[str] | None = None,
        description: str | None = None,
        files: dict[str, str] | None = None,
    ) -> Path:
        folder = tmp_path / "src" / f"{name.replace('@', '').replace('/', '__')}-{version}-{uuid.uuid4().hex[:6]}"
        folder.mkdir(parents=True)
        manifest: dict[str, Any] = {
            "name": name,
            "version": version,
            "description": description or f"{name} for end-to-end tests",
            "main": "index.js",
            "license": "MIT",
        }
        if dependencies:
            manifest["dependencies"] = dependencies
        if scripts:
            manifest["scripts"] = scripts
        if keywords:
            manifest["keywords"] = keywords
        (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if index is None:
            index = f"module.exports = {json.dumps(value if value is not None else f'{name}@{version}')};\n"
        (folder / "index.js").write_text(index)
        for rel, text in (files or {}).items():
            (folder / rel).write_text(text)
        return folder

    return make


@pytest.fixture
def carol(api: Api, feed: FeedEnv) -> str:
    """A collaborator's (Feed and Upstream Reader's) read token for the test's feed."""
    api.set_permissions(feed.name, [("carol", "collaborator")])
    return api.mint("carol", "vso.packaging")
