"""A real Cargo sparse registry on 127.0.0.1, serving a folder, for upstream tests, e2e tests with cargo and benchmarks.

    with CargoRegistry(tmp_path / "registry") as registry:
        registry.add("serde_mini", "1.0.0", deps=[index_dep("itoa", "^1")])
        # cargo: [registries.up] index = registry.sparse_url; the feed: location = registry.index_url

The folder holds what a static sparse registry holds: ``index/config.json``, ``index/{prefix}/{name}`` (one JSON line
per version, as cargo reads them) and the ``.crate`` files in ``crates/{name}-{version}.crate``. ``config.json`` is
written from ``dl`` on every ``start``/``set_dl``: by default a template with markers
(``{url}crates/{crate}/{version}/download``); ``set_dl(no_marker=True)`` makes it ``{url}api/v1/crates``, to which
cargo (and the feed) append ``/{crate}/{version}/download``, and ``set_dl(template)`` takes any template (markers
``{crate}``, ``{version}``, ``{prefix}``, ``{lowerprefix}``, ``{sha256-checksum}``). Downloads are answered for any
path the current template gives a crate.

Served with threads (no event loop), so pytest fixtures, async tests and bench scripts use it alike; GET and HEAD
only. Beyond a static file server, each switchable while it runs:

- ``ETag`` (sha-256 of the body) and ``Last-Modified`` on every file, ``304`` for ``If-None-Match`` (and
  ``If-Modified-Since``);
- ``require_token(token)``: every request without ``Authorization: <token>`` (raw, as cargo sends it, or
  ``Bearer <token>``, or Basic with the token as password) gets a 401 with
  ``WWW-Authenticate: Cargo login_url="{url}me"``; ``config.json`` then says ``"auth-required": true``;
- ``yank``/``unyank`` (flips ``yanked`` in the index line), ``tamper`` (other bytes than ``cksum`` declares),
  ``write_index`` (any bytes as a crate's index file: hostile lines), ``remove`` (a version's line goes);
- ``down = True``: every request answered 503; ``stop()`` closes the port and cuts open connections (an
  outage), ``start()`` opens the same port again; ``delay`` seconds before each answer (single-flight tests);
- ``requests``: every ``(method, path, headers)`` asked (headers lower-cased), ``count(suffix)``,
  ``reset_requests()``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.cargo_packages import crate_bytes

DEFAULT_PUBTIME = "2020-01-01T00:00:00Z"
MARKER_DL = "{url}crates/{crate}/{version}/download"
NO_MARKER_DL = "{url}api/v1/crates"
_MARKERS = {
    "{crate}": r"(?P<crate>[A-Za-z0-9_-]+)",
    "{version}": r"(?P<version>[0-9A-Za-z.+-]+)",
    "{prefix}": r"[0-9A-Za-z_-]+(?:/[0-9A-Za-z_-]+)?",
    "{lowerprefix}": r"[0-9a-z_-]+(?:/[0-9a-z_-]+)?",
    "{sha256-checksum}": r"[0-9a-f]{64}",
}
Request = tuple[str, str, dict[str, str]]


def index_path(name: str) -> str:
    """Where cargo looks for a crate's index file (lower-cased; written here so the fixture checks the feed)."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def index_dep(
    name: str,
    req: str = "^0.1",
    *,
    kind: str = "normal",
    optional: bool = False,
    default_features: bool = True,
    features: Sequence[str] = (),
    target: str | None = None,
    registry: str | None = None,
    package: str | None = None,
) -> dict[str, Any]:
    """One dependency in the shape of an index line."""
    return {
        "name": name,
        "req": req,
        "features": list(features),
        "optional": optional,
        "default_features": default_features,
        "target": target,
        "kind": kind,
        "registry": registry,
        "package": package,
    }


class CargoRegistry:
    def __init__(self, root: Path, *, port: int = 0) -> None:
        self.root = Path(root)
        (self.root / "index").mkdir(parents=True, exist_ok=True)
        (self.root / "crates").mkdir(parents=True, exist_ok=True)
        self.port = port
        self.down = False
        self.delay = 0.0
        self.token: str | None = None
        self.api: str | None = None  # written as config.json's "api" when set
        self._dl = MARKER_DL
        self._requests: list[Request] = []
        self._lock = threading.RLock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # --- addresses -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def index_url(self) -> str:
        """The sparse index URL without ``sparse+`` (what a feed's upstream source names as its location)."""
        return self.url + "index/"

    @property
    def sparse_url(self) -> str:
        """What cargo's configuration names (``index = "sparse+http://…/index/"``)."""
        return "sparse+" + self.index_url

    @property
    def dl(self) -> str:
        """``config.json``'s ``dl`` as it is served now."""
        return self._dl.replace("{url}", self.url)

    # --- running ---------------------------------------------------------------------------------
    def start(self) -> CargoRegistry:
        """Serve (on the port it had before, after a ``stop``)."""
        if self._server is not None:
            return self
        registry = self

        class Handler(_Handler):
            served = registry

        deadline = time.monotonic() + 5
        while True:
            try:
                server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:  # the port of a stopped server may linger a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._write_config()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port and cut the open connections: requests fail until ``start`` again."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> CargoRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- settings --------------------------------------------------------------------------------
    def set_dl(self, template: str | None = None, *, no_marker: bool = False) -> None:
        """``dl`` from a template (``{url}`` is this registry's base URL), the default marker one (``None``), or
        one without markers (``no_marker``)."""
        if no_marker:
            template = NO_MARKER_DL
        with self._lock:
            self._dl = template if template is not None else MARKER_DL
            self._write_config()

    def require_token(self, token: str | None) -> None:
        """Ask every request for ``token`` (None: an open registry)."""
        with self._lock:
            self.token = token
            self._write_config()

    def _write_config(self) -> None:
        config: dict[str, Any] = {"dl": self.dl}
        if self.api is not None:
            config["api"] = self.api
        if self.token is not None:
            config["auth-required"] = True
        self.write("index/config.json", json.dumps(config).encode())

    # --- content ---------------------------------------------------------------------------------
    def write(self, path: str, data: bytes) -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)  # readers on other threads never see half a file
        return target

    def crate_path(self, name: str, version: str) -> Path:
        return self.root / "crates" / f"{name}-{version}.crate"

    def add(
        self,
        name: str,
        version: str,
        *,
        deps: Sequence[Mapping[str, Any]] = (),
        features: Mapping[str, list[str]] | None = None,
        crate: bytes | None = None,
        yanked: bool = False,
        pubtime: str | None = DEFAULT_PUBTIME,
        links: str | None = None,
        rust_version: str | None = None,
        **line: Any,
    ) -> bytes:
        """Publish ``name`` ``version`` (replacing the line of the same version): its ``.crate`` (a real one by
        default) and its index line with ``cksum``; ``line`` adds or overrides fields. Returns the crate's bytes."""
        data = crate if crate is not None else crate_bytes(name, version)
        entry: dict[str, Any] = {
            "name": name,
            "vers": version,
            "deps": [dict(d) for d in deps],
            "cksum": hashlib.sha256(data).hexdigest(),
            "features": dict(features or {}),
            "yanked": yanked,
            "links": links,
            "v": 2,
        }
        if rust_version is not None:
            entry["rust_version"] = rust_version
        if pubtime is not None:
            entry["pubtime"] = pubtime
        entry.update(line)
        with self._lock:
            self.write(f"crates/{name}-{version}.crate", data)
            lines = [x for x in self.lines(name) if x.get("vers") != version]
            self._write_lines(name, [*lines, entry])
        return data

    def lines(self, name: str) -> list[dict[str, Any]]:
        """The crate's index lines as served now (``[]`` when it has none)."""
        target = self.root / "index" / index_path(name)
        if not target.is_file():
            return []
        return [json.loads(text) for text in target.read_bytes().splitlines() if text.strip()]

    def _write_lines(self, name: str, lines: Sequence[Mapping[str, Any]]) -> None:
        body = b"".join(json.dumps(x, separators=(",", ":")).encode() + b"\n" for x in lines)
        self.write_index(name, body)

    def write_index(self, name: str, body: bytes) -> None:
        """Serve these bytes as ``name``'s index file, whatever they are."""
        self.write(f"index/{index_path(name)}", body)

    def _edit(self, name: str, version: str, **fields: Any) -> None:
        with self._lock:
            lines = self.lines(name)
            if not any(x.get("vers") == version for x in lines):
                raise KeyError(f"{name} {version} is not in the fixture registry")
            self._write_lines(name, [{**x, **fields} if x.get("vers") == version else x for x in lines])

    def yank(self, name: str, version: str) -> None:
        self._edit(name, version, yanked=True)

    def unyank(self, name: str, version: str) -> None:
        self._edit(name, version, yanked=False)

    def remove(self, name: str, version: str) -> None:
        """The version's line goes (its ``.crate`` stays downloadable)."""
        with self._lock:
            self._write_lines(name, [x for x in self.lines(name) if x.get("vers") != version])

    def tamper(self, name: str, version: str) -> bytes:
        """Serve a valid ``.crate`` of that version with other bytes than its ``cksum`` declares; returns them."""
        data = crate_bytes(name, version, files={"src/lib.rs": b"// tampered\n"})
        self.write(f"crates/{name}-{version}.crate", data)
        return data

    # --- request log -----------------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def count(self, suffix: str, method: str = "GET") -> int:
        """How many ``method`` requests had a path ending with ``suffix``."""
        return sum(1 for m, path, _ in self.requests if m == method and path.endswith(suffix))

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # --- answering -------------------------------------------------------------------------------
    def answer(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """``(status, body, headers)`` for a request path (percent-decoded, without the leading ``/``)."""
        with self._lock:
            self._requests.append((method, "/" + path, dict(headers)))
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            return 503, b"down for the test\n", {"Content-Type": "text/plain"}
        if path == "me":
            return 200, b"no tokens are handed out here: this is a test registry\n", {"Content-Type": "text/plain"}
        if self.token is not None and not _authorized(headers.get("authorization", ""), self.token):
            challenge = {"WWW-Authenticate": f'Cargo login_url="{self.url}me"', "Content-Type": "application/json"}
            return 401, json.dumps({"errors": [{"detail": "a token is required"}]}).encode(), challenge
        if ".." in path.split("/"):
            return 404, b"not found\n", {"Content-Type": "text/plain"}
        if path.startswith("index/"):
            found = self._file(path)
            if found is not None:
                media = "application/json" if path == "index/config.json" else "text/plain"
                return 200, found[0], {"Content-Type": media, "Last-Modified": formatdate(found[1], usegmt=True)}
            return 404, b"no such crate\n", {"Content-Type": "text/plain"}
        crate = self._download(path)
        if crate is not None:
            return 200, crate, {"Content-Type": "application/x-tar"}
        return 404, b"not found\n", {"Content-Type": "text/plain"}

    def _file(self, path: str) -> tuple[bytes, float] | None:
        target = self.root / path
        with contextlib.suppress(OSError):
            if target.is_file():
                return target.read_bytes(), target.stat().st_mtime
        return None

    def _download(self, path: str) -> bytes | None:
        """The ``.crate`` a download path names under the current ``dl``."""
        with self._lock:
            dl = self.dl
        if not any(marker in dl for marker in _MARKERS):
            dl += "/{crate}/{version}/download"
        pattern = re.escape(dl.removeprefix(self.url))
        for marker, group in _MARKERS.items():
            pattern = pattern.replace(re.escape(marker), group, 1).replace(re.escape(marker), ".*")
        match = re.fullmatch(pattern, path)
        if match is None or "crate" not in match.groupdict() or "version" not in match.groupdict():
            return None
        found = self._file(f"crates/{match['crate']}-{match['version']}.crate")
        return found[0] if found is not None else None


def _authorized(header: str, token: str) -> bool:
    if header in (token, f"Bearer {token}"):
        return True
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    with contextlib.suppress(ValueError):
        return base64.b64decode(value).decode().partition(":")[2] == token
    return False


class _Handler(http.server.BaseHTTPRequestHandler):
    served: CargoRegistry
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stall on keep-alive
        with self.served._lock:
            self.served._connections.add(self.connection)

    def finish(self) -> None:
        with self.served._lock:
            self.served._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def do_GET(self) -> None:
        self._reply(head=False)

    def do_HEAD(self) -> None:
        self._reply(head=True)

    def _reply(self, *, head: bool) -> None:
        path = unquote(urlsplit(self.path).path).lstrip("/")
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, body, extra = self.served.answer(self.command, path, headers)
        if status == 200:
            extra = {**extra, "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"'}
            if _not_modified(headers, extra):
                status, body = 304, b""
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)) if status != 304 else "0")
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)


def _not_modified(request: Mapping[str, str], response: Mapping[str, str]) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since when both are sent."""
    if (tags := request.get("if-none-match")) is not None:
        return response["ETag"] in {tag.strip().removeprefix("W/") for tag in tags.split(",")} or tags.strip() == "*"
    since, modified = request.get("if-modified-since"), response.get("Last-Modified")
    if since and modified:
        with contextlib.suppress(TypeError, ValueError):
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    return False


@contextlib.contextmanager
def running_registry(root: Path) -> Iterator[CargoRegistry]:
    """A started registry, stopped at the end."""
    with CargoRegistry(root) as registry:
        yield registry
