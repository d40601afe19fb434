"""HTTP plumbing for upstream calls: one shared client, budgets, bounded retries, readable failures.

A client's own credentials are never forwarded: every upstream request is built here, with the
source's own credentials (custom registries) or none. Every request goes through the outbound guard
(``feed_core.upstreams.guard``), redirects are followed here (at most ``MAX_REDIRECTS``, each hop
guarded and given its own headers), and bodies are read with a bound on their decoded size.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from feed_core.domain.credentials import Credentials, UnreadableCredentials
from feed_core.domain.outbound import IPNetwork
from feed_core.domain.source_models import UpstreamSource
from feed_core.upstreams.decoding import ACCEPT_ENCODING, BoundedDecoder, DecodingError
from feed_core.upstreams.guard import GuardedTransport, Unreachable
from feed_core.upstreams.tls import CA_BUNDLE_SETTING, trust_context

log = logging.getLogger("feed_core.upstreams")

USER_AGENT = "feed-core (package feed; upstream fetch)"
RETRY_STATUSES = {502, 503, 504}
MAX_REDIRECTS = 5
_RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)
MAX_CONNECTIONS = 128
#: One origin gets at most this many of them, so a slow or hostile upstream cannot starve the others.
MAX_CONNECTIONS_PER_ORIGIN = 32
DOCUMENT_LIMIT_SETTING = "FEED_UPSTREAM_MAX_DOCUMENT_BYTES"
FILE_LIMIT_SETTING = "FEED_MAX_UPLOAD_BYTES"

HeadersFor = Callable[[str], dict[str, str]]


class UpstreamFailure(Exception):
    """An upstream could not be used; ``reason`` is written for a person (cause and fix).

    ``permanent``: asking again soon will fail the same way (TLS, DNS, refused credentials, the
    outbound guard), so the circuit opens at once."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def make_client(
    connect_timeout: float,
    read_timeout: float,
    *,
    allowed_networks: tuple[IPNetwork, ...] = (),
    ca_bundle: str = "",
) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=32)
    transport = GuardedTransport(
        ssl_context=trust_context(ca_bundle),
        limits=limits,
        per_origin=MAX_CONNECTIONS_PER_ORIGIN,
        allowed=allowed_networks,
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        follow_redirects=False,  # open_stream follows them, through the guard, without reading their bodies
        trust_env=False,  # never pick up a machine-wide proxy or netrc credentials
    )


def source_auth_headers(source: UpstreamSource, url: str) -> dict[str, str]:
    """The source's own credentials, sent only to the host the source names (as npm does), never over plain
    http when the source is https (a registry's download template or a redirect could otherwise ask for that).

    Stored credentials that could not be decrypted make the source unusable (``UpstreamFailure`` with
    the reason) rather than asking the upstream without them."""
    creds = source.credentials
    if isinstance(creds, UnreadableCredentials):
        raise UpstreamFailure(creds.reason)
    if not isinstance(creds, Credentials):
        return {}
    target, home = urlsplit(url), urlsplit(source.location)
    if target.netloc != home.netloc or (home.scheme == "https" and target.scheme != "https"):
        return {}  # another host, or the source's own host over plain http when the source named https
    secret = creds.as_json()
    if "token" in secret:
        return {"Authorization": f"Bearer {secret['token']}"}
    pair = f"{secret['username'] or 'feed'}:{secret['password']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def describe(exc: BaseException, url: str) -> str:
    """A person-readable cause and fix for a failed upstream call."""
    host = urlsplit(url).netloc
    text = str(exc)
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return f"timed out talking to {host}; the upstream is slow or unreachable: check it, or raise the timeout"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"{host} redirected more than {MAX_REDIRECTS} times: check the source's location"
    if isinstance(exc, httpx.ConnectError):
        tls = _tls_error(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            return (
                f"the TLS certificate of {host} is not trusted ({tls.verify_message}): the feed trusts the "
                f"system's certificate store; behind a TLS-inspecting proxy, add the proxy's CA certificate to that "
                f"store, or point {CA_BUNDLE_SETTING} (or SSL_CERT_FILE) at a PEM file holding it"
            )
        if tls is not None:
            return f"TLS handshake with {host} failed ({tls}): check the certificate or use the right scheme"
        return f"could not connect to {host} ({text or 'connection refused'}): is the upstream running?"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error talking to {host}: {text or type(exc).__name__}"
    return f"{type(exc).__name__} talking to {host}: {text}"


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    return cause


def failure_of(exc: BaseException, url: str) -> UpstreamFailure:
    """The ``UpstreamFailure`` for an exception of a call to ``url``; TLS problems and guard refusals are permanent."""
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, Unreachable):
        return UpstreamFailure(exc.reason, permanent=True)
    return UpstreamFailure(describe(exc, url), permanent=_tls_error(exc) is not None)


def describe_status(status: int, url: str) -> str:
    host = urlsplit(url).netloc
    if status in (401, 403):
        return f"{host} refused the credentials ({status}): set or renew the source's credentials"
    if status == 429:
        return f"{host} is rate-limiting this feed (429): lower the request rate or retry later"
    return f"{host} answered {status}"


def status_failure(status: int, url: str) -> UpstreamFailure:
    """A failed answer; refused credentials are permanent (they will not fix themselves)."""
    return UpstreamFailure(describe_status(status, url), permanent=status in (401, 403))


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, method: str, url: str, headers_for: HeadersFor
) -> AsyncIterator[httpx.Response]:
    """Send a request and yield its response, unread. Redirects are followed here, at most
    ``MAX_REDIRECTS``: each hop passes the guard again, gets ``headers_for(hop)`` (so a source's
    credentials go to its own host only), and its body is never read. Failures raise ``UpstreamFailure``."""
    hop = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            response = await client.send(client.build_request(method, hop, headers=headers_for(hop)), stream=True)
            if not response.has_redirect_location:
                break
            await _close(response)
            target = response.url.join(response.headers["location"])
            if target.scheme not in ("http", "https"):
                host = urlsplit(hop).netloc
                raise UpstreamFailure(f"{host} redirected to a {target.scheme}: URL, which is not followed")
            hop = str(target)
        else:
            raise httpx.TooManyRedirects("too many redirects", request=response.request)
    except (httpx.HTTPError, Unreachable) as exc:
        raise failure_of(exc, hop) from exc
    try:
        yield response
    except httpx.HTTPError as exc:
        raise failure_of(exc, hop) from exc
    finally:
        await _close(response)


#: Unread bodies up to this size are read before a response is closed, so that its connection is kept.
_DRAIN_BYTES = 64 * 1024


async def _close(response: httpx.Response) -> None:
    """Close a response, reading first what is left of a small unread body (a 404 page, a redirect's text):
    the connection pool drops a connection whose response was not read to the end, and the next request to
    that upstream would pay for a new connection (a TLS handshake) instead."""
    length = response.headers.get("content-length", "")
    if not response.is_stream_consumed and length.isdigit() and int(length) <= _DRAIN_BYTES:
        with contextlib.suppress(httpx.HTTPError, httpx.StreamError, TimeoutError):
            async with asyncio.timeout(1.0):
                async for _ in response.aiter_raw():
                    pass
    await response.aclose()


async def iter_body(response: httpx.Response, max_bytes: int, setting: str) -> AsyncIterator[bytes]:
    """The decoded body in pieces, stopping with ``UpstreamFailure`` as soon as it exceeds ``max_bytes``."""
    url = str(response.url)
    try:
        decoder = BoundedDecoder(response.headers.get("content-encoding", ""))
        size = 0
        async for raw in response.aiter_raw():
            for piece in decoder.feed(raw):
                size += len(piece)
                if size > max_bytes:
                    raise UpstreamFailure(
                        f"{urlsplit(url).netloc} sent more than {max_bytes} bytes (decompressed) for {url}; "
                        f"the feed stopped reading there (limit: {setting})"
                    )
                yield piece
    except DecodingError as exc:
        raise UpstreamFailure(f"{urlsplit(url).netloc} sent an unreadable body for {url}: {exc}") from None


async def read_body(response: httpx.Response, max_bytes: int, setting: str = DOCUMENT_LIMIT_SETTING) -> bytes:
    return b"".join([piece async for piece in iter_body(response, max_bytes, setting)])


@dataclass(frozen=True)
class Answer:
    """A response whose body (read only for a 200) is in memory."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str


async def get_with_retry(
    client: httpx.AsyncClient, url: str, headers_for: HeadersFor, budget: float, max_bytes: int, attempts: int = 2
) -> Answer:
    """GET with a hard overall budget and one retry on connection errors or 502/503/504; the body of a 200
    is read, up to ``max_bytes`` decoded. Failures raise ``UpstreamFailure``."""
    delay = 0.2
    try:
        async with asyncio.timeout(budget):
            for attempt in range(attempts):
                try:
                    async with open_stream(client, "GET", url, headers_for) as response:
                        if response.status_code not in RETRY_STATUSES or attempt + 1 >= attempts:
                            body = await read_body(response, max_bytes) if response.status_code == 200 else b""
                            return Answer(response.status_code, response.headers, body, str(response.url))
                except UpstreamFailure as failure:
                    retryable = isinstance(failure.__cause__, _RETRYABLE)
                    if failure.permanent or not retryable or attempt + 1 >= attempts:
                        raise
                await asyncio.sleep(delay)
                delay *= 2
    except TimeoutError as exc:
        raise UpstreamFailure(describe(exc, url)) from exc
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Fetched:
    """The answer to a conditional GET of an upstream's package document."""

    status: Literal["ok", "not_modified", "not_found"]
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""  # where the body came from (after redirects), for resolving relative links


async def conditional_get(
    client: httpx.AsyncClient,
    source: UpstreamSource,
    url: str,
    accept: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
    max_bytes: int,
) -> Fetched:
    """GET a package document, revalidating with the validators we hold; failures raise ``UpstreamFailure``."""
    validators = {}
    if etag:
        validators["If-None-Match"] = etag
    if last_modified:
        validators["If-Modified-Since"] = last_modified

    def headers_for(hop: str) -> dict[str, str]:
        return {"Accept": accept, **source_auth_headers(source, hop), **validators}

    answer = await get_with_retry(client, url, headers_for, budget, max_bytes)
    if answer.status == 304:
        return Fetched("not_modified", etag=etag, last_modified=last_modified, url=url)
    if answer.status == 404:
        return Fetched("not_found", url=url)
    if answer.status != 200:
        raise status_failure(answer.status, url)
    return Fetched("ok", answer.body, answer.headers.get("etag"), answer.headers.get("last-modified"), answer.url)
