"""An npm registry and a PEP 691 Python index on 127.0.0.1 whose file bodies stop part-way until the test lets them
go on: for the stream-through tests, which must see bytes reach a client while the upstream is still sending.

It runs in the test's own event loop (``await GatedUpstream.start()``), so a gate is a plain ``asyncio.Event``.
Each file declares the hashes of ``data`` and may send other bytes (``sent``): a tampered file.

    upstream = await GatedUpstream.start()
    gate = asyncio.Event()
    upstream.add_npm("big", "1.0.0", data, split=len(data) // 2, gate=gate)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections import Counter
from dataclasses import dataclass

HOST = "127.0.0.1"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
PIECE = 16 * 1024
GATE_TIMEOUT = 15.0  # a test that never opens its gate still ends


@dataclass
class GatedFile:
    body: bytes  # the bytes sent
    split: int  # sent before waiting for the gate
    gate: asyncio.Event | None
    content_length: bool = True  # else chunked


class GatedUpstream:
    def __init__(self) -> None:
        self.documents: dict[str, tuple[bytes, str]] = {}  # path -> (body, media type)
        self.files: dict[str, GatedFile] = {}
        self.requests: Counter[str] = Counter()
        self.sent: dict[str, int] = {}  # path -> bytes of the body written so far (last request)
        self._server: asyncio.Server | None = None
        self.url = ""

    @classmethod
    async def start(cls) -> GatedUpstream:
        upstream = cls()
        upstream._server = await asyncio.start_server(upstream._serve, HOST, 0)
        port = upstream._server.sockets[0].getsockname()[1]
        upstream.url = f"http://{HOST}:{port}/"
        return upstream

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # --- content ------------------------------------------------------------------------------------
    def add_npm(
        self,
        name: str,
        version: str,
        data: bytes,
        *,
        sent: bytes | None = None,
        split: int | None = None,
        gate: asyncio.Event | None = None,
        content_length: bool = True,
    ) -> str:
        """A one-version package whose tarball declares ``data``'s hashes; returns the tarball's path."""
        path = f"/{name}/-/{name}-{version}.tgz"
        dist = {
            "tarball": self.url.rstrip("/") + path,
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            "shasum": hashlib.sha1(data).hexdigest(),  # noqa: S324 - npm's shasum
        }
        doc = {
            "name": name,
            "dist-tags": {"latest": version},
            "versions": {version: {"name": name, "version": version, "dist": dist}},
            "time": {"created": "2020-01-01T00:00:00.000Z", version: "2020-01-01T00:00:00.000Z"},
        }
        self.documents[f"/{name}"] = (json.dumps(doc).encode(), "application/json")
        self._add_file(path, data if sent is None else sent, split, gate, content_length)
        return path

    def add_pypi(
        self,
        name: str,
        version: str,
        filename: str,
        data: bytes,
        metadata: bytes,
        *,
        sent: bytes | None = None,
        split: int | None = None,
        gate: asyncio.Event | None = None,
        content_length: bool = True,
    ) -> str:
        """A project with one file (and its core metadata file) declaring ``data``'s sha-256; returns its path."""
        path = f"/files/{filename}"
        entry = {
            "filename": filename,
            "url": self.url.rstrip("/") + path,
            "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
            "requires-python": ">=3.8",
            "core-metadata": {"sha256": hashlib.sha256(metadata).hexdigest()},
            "size": len(data),
            "upload-time": "2020-01-01T00:00:00Z",
            "yanked": False,
        }
        doc = {"meta": {"api-version": "1.1"}, "name": name, "versions": [version], "files": [entry]}
        self.documents[f"/simple/{name}/"] = (json.dumps(doc).encode(), JSON_V1)
        self.documents[path + ".metadata"] = (metadata, "text/plain")
        self._add_file(path, data if sent is None else sent, split, gate, content_length)
        return path

    def _add_file(
        self, path: str, body: bytes, split: int | None, gate: asyncio.Event | None, content_length: bool
    ) -> None:
        self.files[path] = GatedFile(body, len(body) if split is None else split, gate, content_length)

    # --- serving ------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        quiet = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, asyncio.CancelledError)
        with contextlib.suppress(*quiet):  # a client that went away, or the test ending while a gate is shut
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, _ = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
                path = target.split("?", 1)[0]
                self.requests[path] += 1
                if path in self.files:
                    await self._send_file(writer, path, self.files[path], method == "HEAD")
                elif path in self.documents:
                    body, media = self.documents[path]
                    writer.write(_head(200, media, len(body)) + (b"" if method == "HEAD" else body))
                else:
                    writer.write(_head(404, "text/plain", 9) + b"not here\n")
                await writer.drain()
            finally:
                writer.close()

    async def _send_file(self, writer: asyncio.StreamWriter, path: str, file: GatedFile, head_only: bool) -> None:
        writer.write(_head(200, "application/octet-stream", len(file.body) if file.content_length else None))
        if head_only:
            return
        self.sent[path] = 0
        await self._write(writer, path, file, file.body[: file.split])
        if file.gate is not None:
            await asyncio.wait_for(file.gate.wait(), GATE_TIMEOUT)
        await self._write(writer, path, file, file.body[file.split :])
        if not file.content_length:
            writer.write(b"0\r\n\r\n")

    async def _write(self, writer: asyncio.StreamWriter, path: str, file: GatedFile, data: bytes) -> None:
        """``data`` in pieces, one per turn of the loop, so the feed reads it as it arrives."""
        for start in range(0, len(data), PIECE):
            piece = data[start : start + PIECE]
            writer.write(piece if file.content_length else b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            self.sent[path] += len(piece)
            await asyncio.sleep(0)


def _head(status: int, media: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {media}", "Connection: close"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
