"""How to answer with a built document (npm packument, Python simple page): gzip, ETag, 304, HEAD."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from feed_core.service.page_cache import BuiltPage

GZIP_MIN_BYTES = 1024
GZIP_IN_THREAD_BYTES = 1024 * 1024


async def respond(request: Request, built: BuiltPage, media: str, extra: dict[str, str]) -> Response:
    """200 (gzip when asked and worth it), 304 on a matching ETag, or headers only for HEAD.
    Each encoding is its own representation, so it gets its own strong ETag. A large body is
    compressed off the event loop (zlib lets go of the interpreter while it works)."""
    compress = len(built.body) > GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", "")
    gz_etag = built.etag[:-1] + '-gz"'
    headers = {
        "ETag": gz_etag if compress else built.etag,
        "Vary": "Accept, Accept-Encoding, Authorization",
        "Cache-Control": "private, no-cache",
        **built.notes,
        **extra,
    }
    if request.headers.get("if-none-match") in (built.etag, gz_etag):
        # A media type on the 304 too: the Functions host would otherwise label it text/plain.
        return Response(status_code=304, headers=headers, media_type=media)
    body = built.body
    if compress:
        body = await asyncio.to_thread(built.gzipped) if len(body) > GZIP_IN_THREAD_BYTES else built.gzipped()
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers, "Content-Length": str(len(body))}, media_type=media)
    return Response(body, media_type=media, headers=headers)
