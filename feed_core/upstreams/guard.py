"""The outbound-request guard: the one transport every upstream request goes through.

It decides at connect time, on the address the socket is actually opened to: the host name is
resolved here, every address it resolves to is checked (``feed_core.domain.outbound``), and the
connection goes to a checked address literal, so a name that resolves differently a moment later
(DNS rebinding) cannot slip past. TLS still verifies, and ``Host`` still names, the host of the URL.

It also caps the connections to any one origin, so that one slow or hostile upstream cannot take the
whole pool and starve the others.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from feed_core.domain.outbound import IPAddress, IPNetwork, literal_address, refusal

_PERMANENT_DNS_ERRORS = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class Unreachable(Exception):
    """The guard will not, or can never, connect to this host: refused by policy, or no such name.
    Retrying does not help; ``reason`` is written for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check every address, then connect to a checked address literal."""

    def __init__(self, allowed: Iterable[IPNetwork] = ()) -> None:
        self._allowed = tuple(allowed)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            kind = refusal(address, self._allowed)
            if kind is not None:
                shown = host if str(address) == host.strip("[]") else f"{host} ({address})"
                raise Unreachable(
                    f"refused to connect to {shown}: the address is {kind}; upstreams must be on the public "
                    "internet unless an operator allows the network in FEED_UPSTREAM_ALLOWED_NETWORKS"
                )
        failure: Exception | None = None
        for address in addresses:  # every one was checked: connect to the first that answers
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # _resolve never returns an empty list
        raise failure

    async def _resolve(self, host: str, port: int, seconds: float | None) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(seconds):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out") from None
        except socket.gaierror as exc:
            if exc.errno in _PERMANENT_DNS_ERRORS:
                raise Unreachable(f"DNS lookup of {host} failed: no such host; check the location for typos") from exc
            raise httpcore.ConnectError(f"DNS lookup of {host} failed ({exc})") from exc
        addresses: list[IPAddress] = []
        for *_, sockaddr in infos:
            parsed = literal_address(str(sockaddr[0]))
            if parsed is not None and parsed not in addresses:
                addresses.append(parsed)
        if not addresses:
            raise Unreachable(f"DNS lookup of {host} gave no address")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Unreachable("upstreams are never reached through a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass
class _Slots:
    semaphore: asyncio.Semaphore
    users: int = 0


class _OriginLimits:
    """At most ``per_origin`` requests in flight to one origin; a slot is held until its response closes."""

    def __init__(self, per_origin: int) -> None:
        self._per_origin = per_origin
        self._origins: dict[tuple[bytes, bytes, int | None], _Slots] = {}

    async def acquire(self, origin: tuple[bytes, bytes, int | None]) -> Callable[[], None]:
        slots = self._origins.setdefault(origin, _Slots(asyncio.Semaphore(self._per_origin)))
        slots.users += 1
        try:
            await slots.semaphore.acquire()
        except BaseException:
            self._leave(origin, slots)
            raise
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.semaphore.release()
                self._leave(origin, slots)

        return release

    def _leave(self, origin: tuple[bytes, bytes, int | None], slots: _Slots) -> None:
        slots.users -= 1
        if slots.users == 0:
            del self._origins[origin]


class _ReleasingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._release()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded network backend and a per-origin connection cap."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits, per_origin: int, allowed: Iterable[IPNetwork] = ()
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx has no parameter for the network backend: give it a pool built with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed),
        )
        self._origins = _OriginLimits(per_origin)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        release = await self._origins.acquire((url.raw_scheme, url.raw_host, url.port))
        try:
            response = await super().handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ReleasingStream(response.stream, release)
        return response
