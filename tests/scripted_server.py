"""A scripted HTTP(S) server on 127.0.0.1 for the outbound-request tests: a test says what each path answers
(status, headers, raw body bytes, a delay), including what no well-behaved upstream would send (decompression
bombs, redirects to internal addresses). One thread, one event loop, one connection per request.

    def test_bomb(scripted_server):
        server = scripted_server({"/pkg": Reply(headers={"Content-Encoding": "gzip"}, body=bomb)})
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before the answer starts; stop() cuts it short


class ScriptedServer:
    """Answers ``routes[path]`` (or ``routes["*"]``, else 404) and records ``(method, path, headers)``."""

    def __init__(self, routes: Mapping[str, Reply], tls: ssl.SSLContext | None = None) -> None:
        self.routes = dict(routes)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started.wait(10)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{HOST}:{self.port}/"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, HOST, 0, ssl=self._tls))
        self.port: int = self._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_until_complete(self._stopping.wait())
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
            self.requests.append((method, target, headers))
            reply = self.routes.get(target) or self.routes.get("*") or Reply(404, body=b"not here")
            if reply.delay:
                stop = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait([stop], timeout=reply.delay)
                stop.cancel()
            out = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(reply.body)}", "Connection: close"]
            out += [f"{k}: {v}" for k, v in reply.headers.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            if method != "HEAD":
                writer.write(reply.body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def count(self, path: str) -> int:
        return sum(1 for _, p, _ in self.requests if p == path)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Make scripted servers (``scripted_server(routes, tls=None)``); all are stopped at teardown."""
    servers: list[ScriptedServer] = []

    def make(routes: Mapping[str, Reply], tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(routes, tls))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and the PEM file of that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feed-test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "upstream-cert.pem", directory / "upstream-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path
