"""HTTP plumbing every protocol shares: credentials, body limits, JSON bodies, base URLs, error bodies."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.errors import (
    BadRequestError,
    FeedError,
    PayloadTooLargeError,
    RequestTimeoutError,
    UnauthorizedError,
)
from feed_core.domain.models import Caller
from feed_core.service.container import Services
from feed_core.settings import Settings
from feed_core.storage.ports import StorageNotProvisionedError

log = logging.getLogger("feed_core.http")

# Deliberately free of the words npm treats specially in this header ("otp", "ipaddress").
WWW_AUTHENTICATE = 'Basic realm="package feed", Bearer realm="package feed"'


def token_from_header(value: str | None) -> str | None:
    """The token in an ``Authorization`` header: Bearer, or Basic with the token as the password
    (any user name, as Azure Artifacts accepts; a bare token with no colon is taken whole)."""
    if not value:
        return None
    kind, _, rest = value.strip().partition(" ")
    kind = kind.lower()
    rest = rest.strip()
    if kind == "bearer":
        return rest or None
    if kind == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except ValueError:  # bad base64, non-ASCII header bytes, or a password that is not UTF-8
            raise UnauthorizedError("the Basic credentials are not valid base64") from None
        user, sep, password = decoded.partition(":")
        return (password if sep else user) or None
    raise UnauthorizedError(f"unsupported authorization scheme {kind!r}; use Basic or Bearer")


async def authenticate(services: Services, org: str, request: Request) -> Caller:
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        raise UnauthorizedError("this feed is private: send a personal access token (Basic or Bearer)")
    return await services.identity.authenticate(org, token)


def declared_length(request: Request) -> int | None:
    """The body size the client declared in ``Content-Length``, when that is a plain number."""
    value = request.headers.get("content-length", "").strip()
    if not value.isascii() or not value.isdigit():
        return None
    return int(value) if len(value) <= 18 else 10**18


def limited(request: Request, limit: int) -> Request:
    """The request with its body capped at ``limit`` bytes (413), checked on the declared length and
    again as the body streams in, so that a chunked body cannot run past it either."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLargeError(f"the request body is {declared} bytes; this feed accepts at most {limit}")
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise BadRequestError("the client went away before sending the whole request body")
        received += len(message.get("body", b""))
        if received > limit:
            raise PayloadTooLargeError(f"the request body is larger than the {limit} bytes this feed accepts")
        return message

    return Request(request.scope, receive)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` before reading it all."""
    return await limited(request, limit).body()


#: The slowest average upload rate a request body may arrive at, once the body-read timeout has passed.
MIN_BODY_BYTES_PER_SECOND = 64 * 1024


def body_deadline(receive: Receive, seconds: float, declared: int | None = None) -> Receive:
    """``receive`` with two bounds on the request body, measured from first asking for it:

    - no byte for ``seconds`` is a 408 (a client that declares more body than it sends, or stalls);
    - the body must keep an average of ``MIN_BODY_BYTES_PER_SECOND`` beyond those first ``seconds``: the
      whole of a ``declared`` length is due by ``seconds + declared / rate``, and a chunked body may
      never fall behind ``seconds + received / rate``. A trickle gets a 408 too, while a large
      upload over a slow but working link does not.

    Every body reader (JSON bodies, multipart uploads) goes through this one ``receive``. Messages
    after the body (a disconnect) are waited for without a deadline.
    """
    started: float | None = None
    received = 0
    body_done = False

    async def bounded() -> Message:
        nonlocal started, received, body_done
        if body_done:
            return await receive()
        now = asyncio.get_running_loop().time()
        if started is None:
            started = now
        overall = started + seconds + max(declared or 0, received) / MIN_BODY_BYTES_PER_SECOND
        idle = now + seconds
        try:
            async with asyncio.timeout_at(min(idle, overall)):
                message = await receive()
        except TimeoutError:
            if idle <= overall:
                raise RequestTimeoutError(f"no byte of the request body arrived within {seconds:g} s") from None
            raise RequestTimeoutError(
                f"the request body did not arrive within {round(overall - started, 1):g} s: after the first "
                f"{seconds:g} s, a body must arrive at {MIN_BODY_BYTES_PER_SECOND // 1024} KiB/s on average"
            ) from None
        received += len(message.get("body", b""))
        body_done = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return bounded


#: Bodies larger than this are parsed in a worker thread, off the event loop (npm publishes).
PARSE_IN_THREAD_BYTES = 1024 * 1024


def parse_json(body: bytes) -> Any:
    """A client's JSON body (UTF-8); a 400 for anything the code behind could not handle safely
    (see :mod:`feed_core.domain.bounded_json`)."""
    try:
        return loads_bounded(body)
    except UnsafeJson as exc:
        raise BadRequestError(f"the request body {exc}") from None


async def parse_json_body(body: bytes) -> Any:
    """:func:`parse_json`, in a worker thread for bodies over ``PARSE_IN_THREAD_BYTES`` so that a large
    publish does not hold up every other request on the event loop."""
    if len(body) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_json, body)
    return parse_json(body)


#: ``host[:port]``: DNS labels (underscores tolerated) or a bracketed IPv6 address, then an optional port.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9a-f:.]{{2,45}}\])(?::(\d{{1,5}}))?", re.IGNORECASE)
MAX_HOST_LENGTH = 261  # 253 for the name, 8 for ":" and a port


@functools.lru_cache(maxsize=256)
def _host(value: str, header: str) -> str:
    """The checked, lower-cased ``host[:port]`` (cached: a worker sees few distinct hosts, and an
    attacker's many distinct ones only cost the check itself)."""
    host = value.strip().lower()
    match = _HOST.fullmatch(host) if len(host) <= MAX_HOST_LENGTH else None
    if match is None or int(match.group(1) or 0) > 65535:
        raise BadRequestError(f"the {header} header {value[:100]!r} is not a valid host[:port]")
    return host


def base_url(services: Services, request: Request) -> str:
    """Scheme://host[:port] clients reach us at: ``FEED_PUBLIC_URL``; else the request's own ``Host``, or
    ``X-Forwarded-Host``/``-Proto`` when they come from a proxy in ``FEED_TRUSTED_PROXIES``. Never an
    unchecked value from the client: these URLs end up in documents other clients download from."""
    settings = services.settings
    if settings.public_url:
        return settings.public_url
    cached = request.scope.get(_BASE_URL_KEY)
    if cached is None:
        cached = request.scope[_BASE_URL_KEY] = _request_base_url(settings, request)
    return str(cached)


_BASE_URL_KEY = "feed_core.base_url"  # worked out once per request, kept in its ASGI scope


def _request_base_url(settings: Settings, request: Request) -> str:
    headers = request.headers
    forwarded_host = forwarded_proto = ""
    if settings.trusts_proxy(request.client.host if request.client else None):
        # A chain of proxies lists the original value first.
        forwarded_host = headers.get("x-forwarded-host", "").split(",")[0].strip()
        forwarded_proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if forwarded_proto not in ("", "http", "https"):
        raise BadRequestError(f"the X-Forwarded-Proto header {forwarded_proto[:20]!r} is not http or https")
    scheme = forwarded_proto or str(request.scope.get("scheme") or "http")
    if forwarded_host:
        host = _host(forwarded_host, "X-Forwarded-Host")
    else:
        host = _host(headers.get("host") or request.url.netloc, "Host")
    return f"{scheme}://{host}"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


ErrorRenderer = Callable[[FeedError], Response]


async def guarded(render: ErrorRenderer, handler: Callable[[], Awaitable[Response]]) -> Response:
    """Run a handler, turning domain errors into the protocol's error body and never leaking a 500 trace."""
    try:
        return await handler()
    except FeedError as exc:
        response = render(exc)
        if isinstance(exc, UnauthorizedError):
            response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response
    except StorageNotProvisionedError as exc:  # a deployment fault, said as such: requests never create storage
        log.error("storage is not provisioned: %s", exc)
        err = FeedError(f"the server's storage is not set up: {exc}")
        err.status = 503
        return render(err)
    except Exception:
        log.exception("unexpected error")
        err = FeedError("internal error; the server log has the details")
        err.status = 500
        return render(err)
