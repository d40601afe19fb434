"""A real Maven repository on 127.0.0.1 serving a folder in the default layout, for upstream tests and benchmarks.

``MavenRepo(root).start()`` serves GET and HEAD of the files under ``root`` (threads, no event loop, so pytest
fixtures, async tests and bench scripts all use it alike); ``stop()`` closes the port (an outage) and
``start()`` opens the same port again. What it does beyond a plain file server, each switchable:

- checksum files (``.md5``, ``.sha1``, ``.sha256``, ``.sha512``) computed on the fly when the folder holds none
  (``computed_checksums`` names which kinds; empty: none), or served wrong (``wrong_checksums``: paths of the
  files whose checksum files lie);
- ``maven-metadata.xml`` of a coordinate generated from its version directories when the folder has none, or
  taken from a local repository's ``maven-metadata-<id>.xml`` (a folder seeded from ``~/.m2`` has those);
- ``raw``: path -> bytes answered as they are (hostile metadata); ``down``: every request answered 503;
- ``requests``: every ``(method, path)`` asked, for counting.

``add_artifact`` writes a coordinate's version (a POM naming it, a jar) into the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHECKSUMS = ("md5", "sha1", "sha256", "sha512")
_MEDIA = {".pom": "text/xml", ".xml": "text/xml", ".jar": "application/java-archive"}


def pom(group_id: str, artifact_id: str, version: str, packaging: str = "jar", extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>{group_id}</groupId>\n  <artifactId>{artifact_id}</artifactId>\n  <version>{version}</version>\n"
        f"  <packaging>{packaging}</packaging>\n  <name>{artifact_id}</name>\n"
        f"  <description>{artifact_id} {version}, from the fixture repository</description>\n{extra}"
        "</project>\n"
    ).encode()


def metadata(group_id: str, artifact_id: str, versions: Iterable[str], last_updated: str = "20200101000000") -> bytes:
    """A-level metadata listing ``versions`` in the order given (the last one as latest and release)."""
    listed = list(versions)
    items = "".join(f"      <version>{v}</version>\n" for v in listed)
    newest = listed[-1] if listed else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<metadata>\n'
        f"  <groupId>{group_id}</groupId>\n  <artifactId>{artifact_id}</artifactId>\n  <versioning>\n"
        f"    <latest>{newest}</latest>\n    <release>{newest}</release>\n"
        f"    <versions>\n{items}    </versions>\n    <lastUpdated>{last_updated}</lastUpdated>\n"
        "  </versioning>\n</metadata>\n"
    ).encode()


def plugin_metadata(plugins: Iterable[tuple[str, str, str]]) -> bytes:
    """G-level metadata from ``(name, prefix, artifactId)`` entries."""
    items = "".join(
        f"    <plugin>\n      <name>{n}</name>\n      <prefix>{p}</prefix>\n      <artifactId>{a}</artifactId>\n"
        "    </plugin>\n"
        for n, p, a in plugins
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<metadata>\n  <plugins>\n{items}  </plugins>\n</metadata>\n'.encode()
    )


@dataclass
class MavenRepo:
    root: Path
    computed_checksums: tuple[str, ...] = CHECKSUMS
    generate_metadata: bool = True
    wrong_checksums: set[str] = field(default_factory=set)
    raw: dict[str, bytes] = field(default_factory=dict)
    down: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()  # open keep-alive connections, cut by ``stop``

    # --- running ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> MavenRepo:
        """Serve (on the port it had before, after a ``stop``)."""
        if self._server is not None:
            return self
        repo = self

        class Handler(_Handler):
            served = repo

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

    def __enter__(self) -> MavenRepo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- content ---------------------------------------------------------------------------------
    def write(self, path: str, data: bytes) -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def add_artifact(
        self,
        group_id: str,
        artifact_id: str,
        version: str,
        *,
        jar: bytes | None = None,
        packaging: str = "jar",
        classifiers: dict[str, bytes] | None = None,
    ) -> dict[str, bytes]:
        """Write a version's POM and jar (and ``classifiers``: classifier -> jar bytes); returns path -> bytes."""
        base = f"{group_id.replace('.', '/')}/{artifact_id}/{version}/{artifact_id}-{version}"
        files = {f"{base}.pom": pom(group_id, artifact_id, version, packaging)}
        if packaging != "pom":
            files[f"{base}.jar"] = jar if jar is not None else f"jar of {group_id}:{artifact_id}:{version}".encode()
        for classifier, data in (classifiers or {}).items():
            files[f"{base}-{classifier}.jar"] = data
        for path, data in files.items():
            self.write(path, data)
        return files

    def count(self, suffix: str, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if p.endswith(suffix) and (method is None or m == method))

    # --- answering -------------------------------------------------------------------------------
    def answer(self, method: str, path: str) -> tuple[int, bytes, dict[str, str]]:
        """``(status, body, headers)`` for a request path (percent-decoded, without the leading ``/``)."""
        with self._lock:
            self.requests.append((method, "/" + path))
        if self.down:
            return 503, b"down for the test\n", {"Content-Type": "text/plain"}
        if path in self.raw:
            return 200, self.raw[path], {"Content-Type": "text/xml"}
        if ".." in path.split("/"):
            return 404, b"not found\n", {"Content-Type": "text/plain"}
        found = self._file(path)
        if found is not None:
            return 200, found[0], {"Content-Type": _media(path), "Last-Modified": formatdate(found[1], usegmt=True)}
        base, _, algorithm = path.rpartition(".")
        if algorithm in CHECKSUMS and algorithm in self.computed_checksums:
            target = self._file(base)
            if target is not None:
                digest = hashlib.new(algorithm, target[0]).hexdigest()
                if base in self.wrong_checksums:
                    digest = hashlib.new(algorithm, target[0] + b"tampered").hexdigest()
                return 200, digest.encode(), {"Content-Type": "text/plain"}
        return 404, b"not found\n", {"Content-Type": "text/plain"}

    def _file(self, path: str) -> tuple[bytes, float] | None:
        target = self.root / path
        if target.is_file():
            return target.read_bytes(), target.stat().st_mtime
        folder = target.parent
        if target.name == "maven-metadata.xml" and folder.is_dir():
            local = sorted(folder.glob("maven-metadata-*.xml"))
            if local:
                return local[0].read_bytes(), local[0].stat().st_mtime
            if self.generate_metadata:
                return self._generated(folder)
        return None

    def _generated(self, folder: Path) -> tuple[bytes, float] | None:
        """A-level metadata from the version directories holding a POM, oldest first by modification time."""
        artifact_id = folder.name
        versions = [d for d in folder.iterdir() if d.is_dir() and (d / f"{artifact_id}-{d.name}.pom").is_file()]
        if not versions:
            return None
        versions.sort(key=lambda d: (d / f"{artifact_id}-{d.name}.pom").stat().st_mtime)
        group_id = os.path.relpath(folder.parent, self.root).replace(os.sep, ".")
        newest = max((d / f"{artifact_id}-{d.name}.pom").stat().st_mtime for d in versions)
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(newest))
        return metadata(group_id, artifact_id, [d.name for d in versions], stamp), newest


def _media(path: str) -> str:
    return _MEDIA.get(Path(path).suffix, "application/octet-stream")


class _Handler(http.server.BaseHTTPRequestHandler):
    served: MavenRepo
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the client's delayed ACK stall
        # every keep-alive response ~40 ms (a real mvn build from here took twice as long).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        status, body, headers = self.served.answer(self.command, path)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if status == 200:
            headers = {**headers, "ETag": etag}
            if self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)
