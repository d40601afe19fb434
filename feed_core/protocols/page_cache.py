"""A cache of built documents (npm packuments, Python simple pages) and how to answer from it."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

GZIP_MIN_BYTES = 1024


@dataclass
class BuiltPage:
    body: bytes
    etag: str
    notes: dict[str, str]
    _gzipped: bytes | None = None

    def gzipped(self) -> bytes:
        """The body gzip-compressed, made once on first request (these documents compress 5-10x)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class PageCache:
    """Built documents (packuments, simple pages) per (feed, view, package, form, base URL), valid while
    the inputs' fingerprint (package revision, upstream answers, behaviour, caller's save right) is
    unchanged. Working out the fingerprint costs one point read, so a warm GET never rebuilds."""

    def __init__(self, max_entries: int = 2000) -> None:
        self._max = max_entries
        self._data: dict[tuple[str, ...], tuple[str, BuiltPage]] = {}

    def get(self, key: tuple[str, ...], generation: str) -> BuiltPage | None:
        hit = self._data.get(key)
        if hit is None or hit[0] != generation:
            return None
        return hit[1]

    def put(self, key: tuple[str, ...], generation: str, body: bytes, notes: dict[str, str]) -> BuiltPage:
        built = BuiltPage(body, '"' + hashlib.sha1(body).hexdigest() + '"', notes)  # noqa: S324 - a validator
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[key] = (generation, built)
        return built


def respond(request: Request, built: BuiltPage, media: str, extra: dict[str, str]) -> Response:
    """200 (gzip when asked and worth it), 304 on a matching ETag, or headers only for HEAD.
    Each encoding is its own representation, so it gets its own strong ETag."""
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
        body = built.gzipped()
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers, "Content-Length": str(len(body))}, media_type=media)
    return Response(body, media_type=media, headers=headers)
