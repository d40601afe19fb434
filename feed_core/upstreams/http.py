"""HTTP plumbing for upstream calls: one shared client, budgets, bounded retries, readable failures.

A client's own credentials are never forwarded: every upstream request is built here, with the
source's own credentials (custom registries) or none.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from feed_core.domain.credentials import Credentials, UnreadableCredentials

log = logging.getLogger("feed_core.upstreams")

USER_AGENT = "feed-core (package feed; upstream fetch)"
RETRY_STATUSES = {502, 503, 504}


class UpstreamFailure(Exception):
    """An upstream could not be used; ``reason`` is written for a person (cause and fix)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_client(connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        trust_env=False,  # never pick up a machine-wide proxy or netrc credentials
    )


def source_auth_headers(source: Mapping[str, Any], url: str) -> dict[str, str]:
    """The source's own credentials, sent only to the host the source names (as npm does).

    Stored credentials that could not be decrypted make the source unusable (``UpstreamFailure`` with
    the reason) rather than asking the upstream without them."""
    creds = source.get("credentials")
    if isinstance(creds, UnreadableCredentials):
        raise UpstreamFailure(creds.reason)
    if not isinstance(creds, Credentials):
        return {}
    if urlsplit(url).netloc != urlsplit(str(source.get("location", ""))).netloc:
        return {}
    if creds.token is not None:
        return {"Authorization": f"Bearer {creds.token}"}
    pair = f"{creds.username or 'feed'}:{creds.password or ''}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def describe(exc: BaseException, url: str) -> str:
    """A person-readable cause and fix for a failed upstream call."""
    host = urlsplit(url).netloc
    text = str(exc)
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return f"timed out talking to {host}; the upstream is slow or unreachable: check it, or raise the timeout"
    if isinstance(exc, httpx.ConnectError):
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return f"DNS lookup of {host} failed: check the source's location for typos"
        if isinstance(exc.__cause__, ssl.SSLError) or "SSL" in text or "certificate" in text:
            return f"TLS handshake with {host} failed ({text}): check the certificate or use the right scheme"
        return f"could not connect to {host} ({text or 'connection refused'}): is the upstream running?"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error talking to {host}: {text or type(exc).__name__}"
    return f"{type(exc).__name__} talking to {host}: {text}"


def describe_status(status: int, url: str) -> str:
    host = urlsplit(url).netloc
    if status in (401, 403):
        return f"{host} refused the credentials ({status}): set or renew the source's credentials"
    if status == 429:
        return f"{host} is rate-limiting this feed (429): lower the request rate or retry later"
    return f"{host} answered {status}"


async def get_with_retry(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], budget: float, attempts: int = 2
) -> httpx.Response:
    """GET with a hard overall budget and one retry on connection errors or 502/503/504."""
    delay = 0.2
    async with asyncio.timeout(budget):
        for attempt in range(attempts):
            try:
                response = await client.get(url, headers=headers)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                if attempt + 1 >= attempts:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or attempt + 1 >= attempts:
                    return response
            await asyncio.sleep(delay)
            delay *= 2
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
    source: Mapping[str, Any],
    url: str,
    accept: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
) -> Fetched:
    """GET a package document, revalidating with the validators we hold; failures raise ``UpstreamFailure``."""
    headers = {"Accept": accept, **source_auth_headers(source, url)}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        response = await get_with_retry(client, url, headers, budget)
    except (TimeoutError, httpx.HTTPError) as exc:
        raise UpstreamFailure(describe(exc, url)) from exc
    if response.status_code == 304:
        return Fetched("not_modified", etag=etag, last_modified=last_modified, url=url)
    if response.status_code == 404:
        return Fetched("not_found", url=url)
    if response.status_code != 200:
        raise UpstreamFailure(describe_status(response.status_code, url))
    return Fetched(
        "ok", response.content, response.headers.get("etag"), response.headers.get("last-modified"), str(response.url)
    )
