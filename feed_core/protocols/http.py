"""HTTP plumbing every protocol shares: credentials, body limits, base URLs, error bodies."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.errors import FeedError, PayloadTooLargeError, UnauthorizedError
from feed_core.domain.models import Caller
from feed_core.service.container import Services

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
        except (binascii.Error, UnicodeDecodeError):
            raise UnauthorizedError("the Basic credentials are not valid base64") from None
        user, sep, password = decoded.partition(":")
        return (password if sep else user) or None
    raise UnauthorizedError(f"unsupported authorization scheme {kind!r}; use Basic or Bearer")


async def authenticate(services: Services, org: str, request: Request) -> Caller:
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        raise UnauthorizedError("this feed is private: send a personal access token (Basic or Bearer)")
    return await services.identity.authenticate(org, token)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the request body is {int(declared)} bytes; this feed accepts at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the request body is larger than the {limit} bytes this feed accepts")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        from feed_core.domain.errors import BadRequestError

        raise BadRequestError(f"the request body is not valid JSON: {exc}") from None


def base_url(services: Services, request: Request) -> str:
    """Scheme://host[:port] clients reach us at: the configured public URL, else the request's."""
    if services.settings.public_url:
        return services.settings.public_url
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    if not host:
        host = request.url.netloc
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
    except Exception:
        log.exception("unexpected error")
        from feed_core.domain.errors import FeedError as _E

        err = _E("internal error; the server log has the details")
        err.status = 500
        return render(err)
