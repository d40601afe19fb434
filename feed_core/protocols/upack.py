"""The Universal Packages wire at ``/{org}[/{project}]/_packaging/{feed}[@{view}]/upack/`` (this service's own;
``python -m feed_core universal`` is its client):

=======================================================================  ===========  =============================
``POST chunks/query``  ``{"chunks": [sha256, ...]}``                     contributor  ``{"missing": [...]}``
``PUT chunks/{sha256}``  the chunk's bytes (at most 2 MiB)                contributor  201 ``{"sha256", "size"}``
``PUT packages/{name}/versions/{version}``  the manifest                  contributor  201 (400 ``missing``: resend)
``GET packages/{name}``                                                   reader       the versions in the view¹
``GET packages/{name}/versions/{version}``                                reader       the canonical manifest
``GET packages/{name}/versions/{version}/chunks/{sha256}``                reader       the chunk's bytes
=======================================================================  ===========  =============================

Credentials are Basic (the token as password) or Bearer, as for every protocol. Errors are
``{"message": ...}``. The commit may carry the client's total hash in ``X-Upack-Total-Hash`` (checked against
the one the feed computes) and a description in the ``description`` query parameter.

¹ Each with ``version``, ``totalHash``, ``size``, ``published`` and ``source``: ``feed`` (published here) or
``upstream`` (saved from, or offered by, an upstream source).
"""

from __future__ import annotations

import hashlib
import logging
import re
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.errors import BadRequestError, FeedError, MethodNotAllowedError, NotFoundError
from feed_core.domain.models import Caller, Feed, PackageVersion, View
from feed_core.domain.roles import Role
from feed_core.domain.semver import sort_versions
from feed_core.domain.upack import check_name, check_version
from feed_core.protocols.files import record_download, serve_blob
from feed_core.protocols.http import authenticate, guarded, json_response, limited, parse_json_body, read_body
from feed_core.service.container import Services
from feed_core.service.upack import MAX_CHUNK_BYTES, MAX_QUERY_HASHES, PROTOCOL, MissingChunksError

log = logging.getLogger("feed_core.upack")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_READS = ("GET", "HEAD")
TOTAL_HASH_HEADER = "X-Upack-Total-Hash"
#: A query of ``MAX_QUERY_HASHES`` hashes takes about 680 KB of JSON.
_MAX_QUERY_BYTES = 2 * 1024 * 1024
#: The canonical manifest is data, never a page a browser should run.
_SAFE = {"X-Content-Type-Options": "nosniff"}


def render_error(exc: FeedError) -> Response:
    body: dict[str, object] = {"message": exc.message}
    if isinstance(exc, MissingChunksError):
        body["missing"] = exc.missing
    return json_response(body, status=exc.status)


async def handle(
    services: Services, request: Request, org: str, project: str | None, feed_ref: str, rest: str
) -> Response:
    async def run() -> Response:
        segs = [unquote(s) for s in rest.split("/")]
        if any(s in (".", "..") or "/" in s or "\\" in s or "\x00" in s for s in segs):
            raise BadRequestError("invalid path: '.' and '..' segments, encoded slashes, backslashes and NUL")
        # Credentials first, so that anonymous callers learn nothing about which feeds exist.
        caller = await authenticate(services, org, request)
        feed_name, _, view_name = feed_ref.partition("@")
        feed = await services.feeds.find(org, project, feed_name)
        view = services.feeds.view(feed, view_name or None)
        require_role(feed, caller, Role.READER, "reading Universal Packages")
        if segs[0] == "chunks" and len(segs) == 2:
            return await _chunks(services, request, feed, view, caller, segs[1])
        if segs[0] == "packages" and len(segs) >= 2:
            return await _packages(services, request, feed, view, caller, segs[1:])
        raise NotFoundError(f"no such Universal Packages endpoint: {request.method} upack/{rest[:200]}")

    return await guarded(render_error, run)


async def _chunks(services: Services, request: Request, feed: Feed, view: View, caller: Caller, what: str) -> Response:
    """``POST chunks/query`` and ``PUT chunks/{sha256}``."""
    if not view.is_local:
        raise BadRequestError(f"chunks are uploaded to the feed, not to a view: use the feed URL without @{view.name}")
    if what == "query":
        _only(request.method, "POST", "asking which chunks are missing")
        require_role(feed, caller, Role.CONTRIBUTOR, "uploading Universal Package chunks")
        hashes = _query_hashes(await parse_json_body(await read_body(request, _MAX_QUERY_BYTES)))
        return json_response({"missing": await services.upack.missing_chunks(feed, caller, hashes)})
    _only(request.method, "PUT", "uploading a chunk")
    require_role(feed, caller, Role.CONTRIBUTOR, "uploading Universal Package chunks")
    sha = _sha256(what)
    data = await _read_chunk(request, sha)
    size = await services.upack.put_chunk(feed, caller, sha, data)
    return json_response({"sha256": sha, "size": size}, status=201)


async def _packages(
    services: Services, request: Request, feed: Feed, view: View, caller: Caller, segs: list[str]
) -> Response:
    """``packages/{name}``, ``…/versions/{version}`` and ``…/versions/{version}/chunks/{sha256}``."""
    method = request.method
    name = check_name(segs[0])
    if len(segs) == 1:
        _reads_only(method)
        return await _list(services, feed, view, caller, name)
    if segs[1] != "versions" or len(segs) not in (3, 5) or (len(segs) == 5 and segs[3] != "chunks"):
        raise NotFoundError(f"no such Universal Packages endpoint: {method} upack/packages/{'/'.join(segs)[:200]}")
    number = check_version(segs[2])
    if len(segs) == 3 and method == "PUT":
        return await _publish(services, request, feed, view, caller, name, number)
    _reads_only(method)
    v = await services.upack.version(feed, view, caller, name, number)
    if len(segs) == 3:
        # A download starts with the manifest: one GET of it is one download of the version, for retention.
        record_download(services, request, feed.id, PROTOCOL, name, number)
        return await _manifest(services, request, v)
    sha = _sha256(segs[4])
    if not await services.upack.chunk_in(v, sha):
        raise NotFoundError(f"chunk {sha} is not part of {name}@{number}")
    return await serve_blob(services, request, sha, f"{sha}.chunk")


def _only(method: str, wanted: str, action: str) -> None:
    if method != wanted:
        raise MethodNotAllowedError(f"{method} is not supported here: {action} is a {wanted}")


def _reads_only(method: str) -> None:
    if method not in _READS:
        raise MethodNotAllowedError(f"{method} is not supported here: this is read with GET")


def _sha256(text: str) -> str:
    if not _SHA256.fullmatch(text):
        raise BadRequestError(f"{text[:80]!r} is not a sha256: 64 lower-case hex digits")
    return text


def _query_hashes(body: object) -> list[str]:
    hashes = body.get("chunks") if isinstance(body, dict) else None
    if not isinstance(hashes, list):
        raise BadRequestError('send {"chunks": [sha256, ...]}')
    if len(hashes) > MAX_QUERY_HASHES:
        raise BadRequestError(f"ask about at most {MAX_QUERY_HASHES} chunks at a time, not {len(hashes)}")
    for sha in hashes:
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise BadRequestError(f"{str(sha)[:80]!r} is not a sha256: 64 lower-case hex digits")
    return hashes


async def _read_chunk(request: Request, sha: str) -> bytes:
    """The body, at most ``MAX_CHUNK_BYTES`` (413), hashed as it arrives; 400 when it is not ``sha``'s bytes."""
    digest = hashlib.sha256()
    parts: list[bytes] = []
    async for part in limited(request, MAX_CHUNK_BYTES).stream():
        digest.update(part)
        parts.append(part)
    if digest.hexdigest() != sha:
        raise BadRequestError("chunk bytes do not match their sha256")
    data = b"".join(parts)
    if not data:
        raise BadRequestError("a chunk cannot be empty")
    return data


async def _publish(
    services: Services, request: Request, feed: Feed, view: View, caller: Caller, name: str, number: str
) -> Response:
    upack = services.upack
    require_role(feed, caller, Role.CONTRIBUTOR, "publishing packages")
    declared = request.headers.get(TOTAL_HASH_HEADER)
    if declared is not None:
        declared = _sha256(declared.strip())
    body = await read_body(request, min(upack.limits.max_manifest_bytes, services.settings.max_upload_bytes))
    committed = await upack.publish(
        feed,
        view,
        caller,
        name,
        number,
        body,
        declared_total=declared,
        description=request.query_params.get("description", ""),
    )
    log.info(
        "published Universal Package %s@%s (%d files, %d bytes) to %s by %s",
        name,
        number,
        committed.files,
        committed.version.size,
        feed.scope_label,
        caller.user,
    )
    return json_response(
        {
            "name": name,
            "version": number,
            "totalHash": committed.total_hash,
            "size": committed.version.size,
            "files": committed.files,
        },
        status=201,
    )


async def _list(services: Services, feed: Feed, view: View, caller: Caller, name: str) -> Response:
    found = await services.upack.versions(feed, view, caller, name)
    order = {n: i for i, n in enumerate(sort_versions([v.version for v in found]))}
    versions = sorted(found, key=lambda v: order[v.version])
    return json_response(
        {
            "name": name,
            "versions": [
                {
                    "version": v.version,
                    "totalHash": v.sha256,
                    "size": v.size,
                    "published": v.published,
                    "source": source_of(v),
                }
                for v in versions
            ],
        },
        headers={"Cache-Control": "private, no-cache"},
    )


def source_of(v: PackageVersion) -> str:
    """``feed`` for a version published to this feed; ``upstream`` for one saved from an upstream (it has
    provenance or a source chain) or only offered by one (a resolution's transient record has a source chain).
    The client tells a rerun of its own publish from a version it may not publish by this."""
    return "upstream" if v.provenance or v.source_chain else "feed"


async def _manifest(services: Services, request: Request, v: PackageVersion) -> Response:
    etag = f'"{v.sha256}"'
    headers = {
        "ETag": etag,
        TOTAL_HASH_HEADER: v.sha256,
        "Cache-Control": "private, max-age=31536000, immutable",
        **_SAFE,
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    data = await services.upack.manifest_bytes(v)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(data))
        return Response(status_code=200, headers=headers, media_type="application/json")
    return Response(data, media_type="application/json", headers=headers)


__all__ = ["PROTOCOL", "handle"]
