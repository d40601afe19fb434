"""A hostile upstream on 127.0.0.1: one server that speaks npm and PyPI and lies in the way a test asks.

    with HostileUpstream() as hostile:
        hostile.set_mode(Mode.GZIP_BOMB)
        # npm registry: hostile.npm_url  (packuments, tarballs, -/ping)
        # Python index: hostile.pypi_url (PEP 691 JSON or PEP 503 HTML project pages, files, .metadata)

It serves one npm package (``NPM_NAME``, version ``VERSION``) and one Python project (``PY_NAME``,
version ``PY_VERSION``), plus their honest neighbours ``NPM_OTHER``/``PY_OTHER`` that the lying modes
pass off as them. In ``Mode.HONEST`` it is a correct upstream, so a test can save a version first and
turn hostile afterwards. Every request is logged (method, path). Threaded like the other fixtures:
uvicorn in a background thread until ``stop()``; the mode may be switched while requests are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import hashlib
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tests.npm_packages import integrity, make_tarball
from tests.python_packages import make_wheel

NPM_NAME, NPM_OTHER, VERSION = "hostile-pkg", "other-pkg", "1.0.0"
PY_NAME, PY_OTHER, PY_VERSION = "hostile-py", "other-py", "1.0"
OLD_TIME = "2020-01-01T00:00:00.000Z"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
BOMB_BYTES = 512 * 1024 * 1024  # what one gzip bomb inflates to; it travels as about 0.5 MB
SLOW_SECONDS = 120.0  # how long a slow body keeps trickling (stop() cuts it short)
DEEP = 100_000  # nesting depth of the deep document


class Mode(enum.Enum):
    HONEST = "honest"
    GZIP_BOMB = "gzip-bomb"  # every answer (metadata, files, ping) is a gzip bomb sent with Content-Encoding: gzip
    SLOW_BODY = "slow-body"  # every body trickles out one byte at a time
    DEEP_NESTING = "deep-nesting"  # documents with a field nested 100k levels deep
    HUGE_NUMBERS = "huge-numbers"  # documents with a 100k-digit number and a float beyond range
    GARBAGE = "garbage"  # 200 with bytes that are no document at all
    HTML_200 = "html-200"  # 200 with an HTML error page (for the Python index: a page with no files)
    LYING_NAME = "lying-name"  # npm: packument and version name another package; PyPI: another project's files
    FOREIGN_TARBALL = "foreign-tarball"  # the file (its hashes declared) is another package's: package.json, METADATA
    FOREIGN_URL = "foreign-url"  # dist.tarball / the file URL points at another package's file
    BAD_VERSION_KEYS = "bad-version-keys"  # versions "__proto__", "../../etc", "latest" next to the real one
    MISSING_FILENAME = "missing-filename"  # a PEP 691 file entry without "filename"
    METADATA_MISMATCH = "metadata-mismatch"  # the .metadata file does not match its declared hash
    CHANGED_BYTES = "changed-bytes"  # the same version with new bytes (and hashes declaring them)
    HTML_ONLY = "html-only"  # the Python index answers PEP 503 HTML (no upload times) whatever is asked


#: Modes that spoil the package documents (metadata) themselves.
DOCUMENT_MODES = (
    Mode.GZIP_BOMB,
    Mode.SLOW_BODY,
    Mode.DEEP_NESTING,
    Mode.HUGE_NUMBERS,
    Mode.GARBAGE,
    Mode.HTML_200,
    Mode.LYING_NAME,
    Mode.BAD_VERSION_KEYS,
    Mode.MISSING_FILENAME,
)


@functools.cache
def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    """``size`` spaces as one gzip stream of about size/1000 bytes, built in well under a second: one
    1 MiB deflate segment ended by a full flush (so it stands alone) repeated, then the gzip trailer."""
    block = b" " * (1024 * 1024)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    count = size // len(block)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + segment * count + end + struct.pack("<II", crc, (count * len(block)) & 0xFFFFFFFF)


def _deep_document() -> bytes:
    return b'{"name":"x","versions":{},"deep":' + b"[" * DEEP + b"]" * DEEP + b"}"


@dataclass(frozen=True)
class _NpmFile:
    name: str
    data: bytes


@dataclass(frozen=True)
class _PyFile:
    project: str
    filename: str
    data: bytes
    metadata: bytes


class HostileUpstream:
    """npm registry at ``npm_url`` and Python index at ``pypi_url``, on one free 127.0.0.1 port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode = Mode.HONEST
        self._requests: list[tuple[str, str]] = []
        self.published = OLD_TIME  # npm time[VERSION] and PyPI upload-time in the honest answer
        self.time_value: Any = None  # when set, replaces ``published`` as is (odd times); ``...`` drops it
        self._generation = 0  # CHANGED_BYTES: bumped to make new bytes for the same version
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._sock = socket.create_server(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{self._sock.getsockname()[1]}/"
        self.npm_url, self.pypi_url = base + "npm/", base + "pypi/simple/"
        config = uvicorn.Config(
            self._app, interface="asgi3", lifespan="off", log_config=None, access_log=False, ws="none",
            timeout_graceful_shutdown=1,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="hostile-upstream", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the hostile upstream did not start")
            time.sleep(0.002)

    def __enter__(self) -> HostileUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs -----------------------------------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            if mode is Mode.CHANGED_BYTES and self._mode is not Mode.CHANGED_BYTES:
                self._generation += 1
            self._mode = mode

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- what it serves honestly -----------------------------------------------------------------------------------

    def npm_tarball(self, name: str = NPM_NAME) -> bytes:
        """The bytes an honest answer serves for ``name@VERSION`` (new ones after CHANGED_BYTES)."""
        return make_tarball(name, VERSION, code=f"module.exports = {json.dumps(name)}; // {self._generation}\n")

    def wheel(self, project: str = PY_NAME) -> _PyFile:
        filename, data, metadata = make_wheel(project, PY_VERSION, code=f"VALUE = {self._generation}\n")
        return _PyFile(project, filename, data, metadata)

    def _publish_time(self) -> Any:
        return self.published if self.time_value is None else self.time_value

    # -- npm ---------------------------------------------------------------------------------------------------------

    def _packument(self, name: str) -> dict[str, Any]:
        mode = self._mode
        file_owner = NPM_OTHER if mode is Mode.FOREIGN_URL else name
        data = self.npm_tarball(NPM_OTHER if mode is Mode.FOREIGN_TARBALL else file_owner)
        claimed = NPM_OTHER if mode is Mode.LYING_NAME else name
        manifest = {
            "name": claimed,
            "version": VERSION,
            "main": "index.js",
            "_id": f"{claimed}@{VERSION}",
            "dist": {
                "tarball": f"{self.npm_url}{file_owner}/-/{file_owner}-{VERSION}.tgz",
                "integrity": integrity(data),
                "shasum": hashlib.sha1(data).hexdigest(),  # noqa: S324 - npm's shasum
            },
        }
        versions = {VERSION: manifest}
        if mode is Mode.BAD_VERSION_KEYS:
            for key in ("__proto__", "../../etc", "latest"):
                versions[key] = {**manifest, "version": key}
        times: dict[str, Any] = {"created": OLD_TIME, "modified": OLD_TIME}
        if self.time_value is not ...:
            times[VERSION] = self._publish_time()
        return {
            "_id": claimed,
            "name": claimed,
            "dist-tags": {"latest": VERSION},
            "versions": versions,
            "time": times,
        }

    def _npm(self, rest: str) -> Response:
        if rest == "-/ping":
            return JSONResponse({})
        name, is_file, file = rest.partition("/-/")
        if name not in (NPM_NAME, NPM_OTHER):
            return JSONResponse({"error": "Not found"}, 404)
        if is_file:
            if file != f"{name}-{VERSION}.tgz":
                return JSONResponse({"error": "Not found"}, 404)
            owner = NPM_OTHER if self._mode is Mode.FOREIGN_TARBALL and name == NPM_NAME else name
            return Response(self.npm_tarball(owner), media_type="application/octet-stream")
        return JSONResponse(self._packument(name))

    # -- PyPI --------------------------------------------------------------------------------------------------------

    def _py_files(self, project: str) -> list[_PyFile]:
        if self._mode is Mode.LYING_NAME:
            return [self.wheel(PY_OTHER)]
        return [self.wheel(project)]

    def _project_json(self, project: str) -> dict[str, Any]:
        entries = []
        for f in self._py_files(project):
            # FOREIGN_URL: the entry keeps its own file name, but its URL and hashes are another project's file.
            # FOREIGN_TARBALL: its URL is its own, but the bytes there (and the hashes declared) are another's.
            foreign = self._mode in (Mode.FOREIGN_URL, Mode.FOREIGN_TARBALL)
            served = self.wheel(PY_OTHER) if foreign else f
            at = served.filename if self._mode is Mode.FOREIGN_URL else f.filename
            entry: dict[str, Any] = {
                "filename": f.filename,
                "url": f"../../files/{at}",
                "hashes": {"sha256": hashlib.sha256(served.data).hexdigest()},
                "requires-python": ">=3.8",
                "core-metadata": {"sha256": hashlib.sha256(served.metadata).hexdigest()},
                "size": len(served.data),
                "yanked": False,
            }
            if self.time_value is not ...:
                entry["upload-time"] = self._publish_time()
            if self._mode is Mode.MISSING_FILENAME:
                del entry["filename"]
            entries.append(entry)
        return {"meta": {"api-version": "1.1"}, "name": project, "versions": [PY_VERSION], "files": entries}

    def _project_html(self, project: str) -> str:
        anchors = "".join(
            f'<a href="../../files/{f.filename}#sha256={hashlib.sha256(f.data).hexdigest()}" '
            f'data-requires-python="&gt;=3.8">{f.filename}</a><br/>\n'
            for f in self._py_files(project)
        )
        return f"<!DOCTYPE html><html><body><h1>Links for {project}</h1>\n{anchors}</body></html>\n"

    def _pypi(self, rest: str, accept: str) -> Response:
        if rest == "":
            return Response("<!DOCTYPE html><html><body></body></html>", media_type="text/html")
        project = rest.strip("/")
        if project not in (PY_NAME, PY_OTHER):
            return JSONResponse({"message": "not found"}, 404)
        if JSON_V1 in accept and self._mode is not Mode.HTML_ONLY:
            return JSONResponse(self._project_json(project), media_type=JSON_V1)
        return Response(self._project_html(project), media_type="text/html")

    def _py_file(self, wanted: str) -> Response:
        for f in (self.wheel(PY_NAME), self.wheel(PY_OTHER)):
            if wanted == f.filename:
                if self._mode is Mode.FOREIGN_TARBALL and f.project == PY_NAME:
                    return Response(self.wheel(PY_OTHER).data, media_type="application/octet-stream")
                return Response(f.data, media_type="application/octet-stream")
            if wanted == f.filename + ".metadata":
                spoiled = self._mode is Mode.METADATA_MISMATCH
                return Response(f.metadata + (b"X-Spoiled: yes\n" if spoiled else b""))
        return JSONResponse({"message": "not found"}, 404)

    # -- serving -----------------------------------------------------------------------------------------------------

    def _spoiled(self, honest: Response, path: str) -> Response:
        """The honest answer as the document modes spoil it (files and pings only by the bomb and slowness)."""
        mode = self._mode
        is_document = (path.startswith("/npm/") and "/-/" not in path) or path.startswith("/pypi/simple/")
        if mode is Mode.GZIP_BOMB:
            return Response(
                gzip_bomb(), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, status_code=200
            )
        if mode is Mode.SLOW_BODY:
            return StreamingResponse(self._trickle(bytes(honest.body)), media_type=honest.media_type)
        if not is_document or honest.status_code != 200:
            return honest
        if mode is Mode.DEEP_NESTING:
            return Response(_deep_document(), media_type="application/json")
        if mode is Mode.HUGE_NUMBERS:
            body = b'{"name":"x","versions":{"1.0.0":' + b"9" * 100_000 + b'},"big":1e999999}'
            return Response(body, media_type="application/json")
        if mode is Mode.GARBAGE:
            return Response(bytes(range(256)) * 64, media_type="application/json")
        if mode is Mode.HTML_200:
            page = "<html><body><h1>Service temporarily unavailable</h1></body></html>"
            return Response(page, media_type="text/html")
        return honest

    async def _trickle(self, body: bytes) -> AsyncIterator[bytes]:
        deadline = time.monotonic() + SLOW_SECONDS
        for i in range(len(body)):
            yield body[i : i + 1]
            if time.monotonic() > deadline or self._stopping is None or self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.5)

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        with self._lock:
            self._requests.append((method, path))
        accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1")
        if path.startswith("/npm/"):
            honest = self._npm(path.removeprefix("/npm/"))
        elif path.startswith("/pypi/simple/"):
            honest = self._pypi(path.removeprefix("/pypi/simple/"), accept)
        elif path.startswith("/pypi/files/"):
            honest = self._py_file(path.removeprefix("/pypi/files/"))
        else:
            honest = JSONResponse({"error": "not found"}, 404)
        await self._spoiled(honest, path)(scope, receive, send)

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await self._server.serve(sockets=[self._sock])

    def stop(self) -> None:
        """Stop serving and wait for the thread; ends slow bodies. Idempotent."""
        if self._thread.is_alive():
            if self._loop is not None and self._stopping is not None:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._stopping.set)
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._sock.close()


@pytest.fixture
def hostile_upstream() -> Iterator[HostileUpstream]:
    """A fresh hostile upstream in ``Mode.HONEST``, stopped at teardown."""
    with HostileUpstream() as upstream:
        yield upstream
