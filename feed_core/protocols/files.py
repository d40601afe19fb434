"""Serving package files: stored ones one way for every protocol (redirect to storage, 304, HEAD, stream), and
files being saved from an upstream as they arrive (stream-through)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from feed_core.domain.errors import NotFoundError
from feed_core.domain.models import Feed, PackageVersion
from feed_core.domain.source_models import InternalSource
from feed_core.service.container import Services
from feed_core.service.stream_through import Flight
from feed_core.storage.packages import content_key

#: A key ``azure.functions.AsgiMiddleware`` puts in the scope of every request it hands over.
AZURE_FUNCTIONS_SCOPE_KEY = "azure_functions.invocation_id"

log = logging.getLogger(__name__)


def record_download(services: Services, request: Request, feed_id: str, protocol: str, name: str, version: str) -> None:
    """Count a GET of one of a stored version's files as a download of it, for retention (memory only: the
    write comes later, at most once a day; see ``service/download_times.py``). A HEAD reads nothing."""
    if request.method == "GET":
        services.downloads.record(feed_id, protocol, name, version)


def record_save(services: Services, feed: Feed, saved: PackageVersion) -> None:
    """Count a version saved from an upstream as downloaded now: a request for its file made the save. When the
    upstream is another feed of this service, that feed's version counts as downloaded too (its file was read
    from there): the source, and so the feed's id, is in the feed's settings, with no read."""
    services.downloads.record(feed.id, saved.protocol, saved.name, saved.version)
    source_id = saved.source_chain[0].get("id") if saved.source_chain else None
    source = next((s for s in feed.upstream_sources if s.id == source_id), None)
    if isinstance(source, InternalSource):
        services.downloads.record(source.internal_upstream_feed_id.lower(), saved.protocol, saved.name, saved.version)


async def serve_blob(
    services: Services,
    request: Request,
    sha256: str,
    filename: str,
    *,
    media: str = "application/octet-stream",
    size: int | None = None,
    redirect: bool = True,
    ranges: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """The bytes stored under ``sha256``. When the backend hands out short-lived URLs (Azure SAS) and
    ``redirect`` is on, a file of at least ``FEED_DOWNLOAD_REDIRECT_MIN_BYTES`` (or of unknown ``size``)
    is a 302 to it: clients drop Authorization when the host changes. A smaller one is sent by the worker,
    from its memory once read (``service/blob_cache.py``): a second round trip would cost more than the
    bytes. ``size`` saves a stat when the caller knows it; ``ranges`` serves HTTP Range requests where the
    store is a local disk."""
    blobs = services.packages.store.blobs
    key = content_key(sha256)
    settings = services.settings
    cached = services.blobs.get(sha256)
    if cached is not None:
        size = len(cached)
    small = size is not None and size < settings.download_redirect_min_bytes
    if redirect and settings.download_redirect and not small:
        url = await blobs.download_url(key, filename, settings.sas_ttl_seconds)
        if url:
            return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    if size is None:
        info = await blobs.stat(key)
        if info is None:
            raise NotFoundError(f"the content of {filename} is missing")
        size = info.size
    # nosniff: a package file is data, never a page a browser should guess the type of and run.
    out = {
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        **(headers or {}),
    }
    if request.headers.get("if-none-match") == out["ETag"]:
        return Response(status_code=304, headers=out, media_type=media)
    if request.method == "HEAD":
        return Response(status_code=200, headers={**out, "Content-Length": str(size)}, media_type=media)
    path = blobs.local_path(key) if ranges else None
    if path is not None:
        return FileResponse(path, media_type=media, headers=out)
    if cached is None and services.blobs.holds(size):
        cached = await services.blobs.load(sha256, size, lambda: _read_whole(services, key, filename))
        if cached is None:
            log.warning("the content of %s does not hold the %d bytes recorded; sent as stored", filename, size)
    if cached is not None:
        return Response(cached, media_type=media, headers=out)
    stream: AsyncIterator[bytes] = blobs.read(key)
    return StreamingResponse(stream, media_type=media, headers={**out, "Content-Length": str(size)})


async def _read_whole(services: Services, key: str, filename: str) -> bytes:
    data = await services.packages.store.blobs.read_all(key)
    if data is None:
        raise NotFoundError(f"the content of {filename} is missing")
    return data


def streams_through(request: Request) -> bool:
    """Whether a request for a file not saved yet is answered while it downloads. A HEAD, a Range or a
    conditional request waits for the save and is then answered from storage like any other. So does a
    request through the Azure Functions host: its ASGI adapter buffers whole responses, so streaming would
    send nothing sooner and would carry the file through the worker's memory instead of a redirect; and the
    host may freeze the worker once the response is sent, so there the save must end before the answer. So
    does an HTTP/1.0 request (a proxy's, often): without a declared length its body ends by closing the
    connection, so a body cut short would look complete."""
    headers = request.headers
    if AZURE_FUNCTIONS_SCOPE_KEY in request.scope or request.scope.get("http_version") == "1.0":
        return False
    return request.method == "GET" and "range" not in headers and "if-none-match" not in headers


async def serve_flight(
    flight: Flight,
    stored: Callable[[], Awaitable[Response]],
    *,
    media: str = "application/octet-stream",
    sha256: str = "",
    headers: dict[str, str] | None = None,
    verified_headers: Callable[[Mapping[str, str]], dict[str, str]] | None = None,
) -> Response:
    """A file being saved from an upstream, sent as it arrives (see ``service/stream_through.py``): the
    status line waits for the first bytes released, so a failure before them is a plain error response,
    and a failure after them (before the file is verified) cuts the body short. The response ends once the
    file is verified, while it is still being stored and committed. ``stored`` answers from storage instead,
    when the version that was committed is not the file downloaded. ``sha256``, when known before the
    download, is the ETag. A response that starts once the file is verified (a small file always does) also
    carries ``verified_headers`` of its hex digests."""
    if not await flight.started():
        return await stored()
    out = {"Cache-Control": "private, max-age=31536000, immutable", **(headers or {})}
    if verified_headers is not None and flight.complete:
        out.update(verified_headers(flight.digests))
    if sha256:
        out["ETag"] = f'"{sha256}"'
    size = flight.spool.size if flight.complete else flight.declared_size
    if size is not None:
        out["Content-Length"] = str(size)
    return StreamingResponse(flight.body(), media_type=media, headers=out)
