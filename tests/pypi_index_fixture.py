"""A small, real Python index (PEP 691 JSON project pages, files, .metadata) on 127.0.0.1 for upstream tests.

It serves project pages only: like PyPI it has a project list at the root, but the tests assert the feed
never asks for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from feed_core.domain.python_dist import normalize_name
from tests.python_packages import make_wheel

JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class _File:
    filename: str
    data: bytes
    metadata: bytes
    version: str
    uploaded: object  # any JSON value: a hostile index may send numbers, zone-less times or garbage
    yanked: bool = False


@dataclass
class FixtureIndex:
    projects: dict[str, list[_File]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    down: bool = False
    tampered: set[str] = field(default_factory=set)
    tampered_metadata: set[str] = field(default_factory=set)  # file names whose .metadata does not match its hash
    html: bool = False  # serve PEP 503 HTML project pages (which carry no upload times) instead of PEP 691 JSON
    #: path -> (body, media type): answered with a 200 as it is, whatever it is
    raw: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/simple/"
        config = uvicorn.Config(
            self._app, interface="asgi3", lifespan="off", log_config=None, access_log=False, ws="none"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.002)

    def add(
        self,
        name: str,
        version: str,
        *,
        uploaded: object = "2020-01-01T00:00:00Z",
        requires: tuple[str, ...] = (),
        code: str = "VALUE = 1\n",
    ) -> tuple[str, bytes]:
        filename, data, metadata = make_wheel(name, version, requires=requires, code=code)
        self.projects.setdefault(normalize_name(name), []).append(_File(filename, data, metadata, version, uploaded))
        return filename, data

    def count(self, suffix: str) -> int:
        return sum(1 for r in self.requests if r.endswith(suffix))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        self.requests.append(path)
        response = self._respond(path)
        await response(scope, receive, send)

    def _respond(self, path: str) -> Response:
        if self.down:
            return JSONResponse({"message": "down"}, 503)
        if path in self.raw:
            return Response(self.raw[path][0], media_type=self.raw[path][1])
        if path == "/simple/":
            return JSONResponse(
                {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in self.projects]}, media_type=JSON_V1
            )
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "simple" and parts[1] in self.projects:
            files = self.projects[parts[1]]
            if self.html:
                anchors = "".join(
                    f'<a href="../../files/{f.filename}#sha256={hashlib.sha256(f.data).hexdigest()}">{f.filename}</a>'
                    for f in files
                )
                return Response(f"<html><body>{anchors}</body></html>", media_type="text/html")
            doc = {
                "meta": {"api-version": "1.1"},
                "name": parts[1],
                "versions": sorted({f.version for f in files}),
                "files": [
                    {
                        "filename": f.filename,
                        "url": f"../../files/{f.filename}",
                        "hashes": {"sha256": hashlib.sha256(f.data).hexdigest()},
                        "requires-python": ">=3.8",
                        "core-metadata": {"sha256": hashlib.sha256(f.metadata).hexdigest()},
                        "size": len(f.data),
                        "upload-time": f.uploaded,
                        "yanked": f.yanked,
                    }
                    for f in files
                ],
            }
            body = json.dumps(doc).encode()
            return Response(body, media_type=JSON_V1, headers={"ETag": f'"{hashlib.sha256(body).hexdigest()[:16]}"'})
        if len(parts) == 2 and parts[0] == "files":
            name = parts[1].removesuffix(".metadata")
            for f in (f for files in self.projects.values() for f in files):
                if f.filename == name:
                    if parts[1].endswith(".metadata"):
                        return Response(f.metadata + (b"tampered" if f.filename in self.tampered_metadata else b""))
                    data = f.data + b"tampered" if f.filename in self.tampered else f.data
                    return Response(data, media_type="application/octet-stream")
        return JSONResponse({"message": "not found"}, 404)


@pytest.fixture
def fixture_index() -> Iterator[FixtureIndex]:
    index = FixtureIndex()
    yield index
    index.stop()
