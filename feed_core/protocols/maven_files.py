"""Stored Maven files as the wire sees them: finding a file's entry in its version, its digests, and serving it or
its checksum file with the same headers on GET and HEAD."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from feed_core.domain.errors import NotFoundError
from feed_core.domain.maven_layout import ArtifactFile
from feed_core.domain.models import PackageVersion
from feed_core.protocols import maven_wire as wire
from feed_core.protocols.files import record_download, serve_blob
from feed_core.protocols.maven_context import Ctx
from feed_core.storage.packages import content_key


def stored_entry(version: PackageVersion | None, filename: str) -> dict[str, Any] | None:
    if version is None:
        return None
    return next((f for f in version.files if f.get("filename") == filename), None)


async def entry_digest(ctx: Ctx, entry: dict[str, Any], algorithm: str) -> str:
    """A digest of a stored file: as kept with it, else (an entry saved without it) worked out from its bytes."""
    kept = entry.get(algorithm)
    if isinstance(kept, str) and kept:
        return kept
    data = await ctx.services.packages.store.blobs.read_all(content_key(str(entry["sha256"])))
    if data is None:
        raise NotFoundError(f"the content of {entry['filename']} is missing")
    return wire.digests(data)[algorithm]


async def serve_entry(
    ctx: Ctx, version: PackageVersion, entry: dict[str, Any], file: ArtifactFile, checksum: str | None
) -> Response:
    """A stored file, or the checksum file of it, with the same headers on GET and HEAD."""
    modified = wire.http_date(str(entry.get("uploaded") or version.published))
    # A snapshot's file name can be deployed again with other bytes: revalidated, never kept as immutable.
    cache = "private, no-cache" if file.is_snapshot else "private, max-age=31536000, immutable"
    if checksum is not None:
        digest = await entry_digest(ctx, entry, checksum)
        return wire.small_file(
            ctx.request, digest.encode(), wire.TEXT, {"Cache-Control": cache}, last_modified=modified
        )
    record_download(ctx.services, ctx.request, ctx.feed.id, version.protocol, version.name, version.version)
    headers = {**wire.SAFE, **wire.checksum_headers(entry), "Cache-Control": cache}
    if modified:
        headers["Last-Modified"] = modified
    size = entry.get("size")
    return await serve_blob(
        ctx.services,
        ctx.request,
        str(entry["sha256"]),
        file.filename,
        media=wire.media_type(file.extension),
        size=size if isinstance(size, int) else None,
        headers=headers,
    )
