"""The Python package index protocol at ``/{org}[/{project}]/_packaging/{feed}[@{view}]/pypi/``.

``simple/`` is the repository API (PEP 503 HTML and PEP 691 JSON, with PEP 592 yanking, PEP 658/714
core metadata and PEP 700 ``versions``/``upload-time``); ``upload/`` takes twine's and uv's legacy
uploads; ``download/{name}/{version}/{file}`` serves files and their ``.metadata``.
See ``shared/protocols/python.md`` for what pip, uv and twine need.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feed_core.domain.access import require_role
from feed_core.domain.bounded_json import dumps_sliced
from feed_core.domain.errors import (
    BadRequestError,
    FeedError,
    MethodNotAllowedError,
    NotFoundError,
)
from feed_core.domain.models import Caller, Feed, PackageVersion, View
from feed_core.domain.python_dist import check_form_fields, inspect_distribution, normalize_name
from feed_core.domain.roles import Role
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.visibility import versions_in_view
from feed_core.protocols.files import record_download, record_save, serve_blob, serve_flight, streams_through
from feed_core.protocols.http import authenticate, base_url, guarded, json_response, limited
from feed_core.protocols.notices import header_value
from feed_core.protocols.page_cache import respond
from feed_core.service.container import Services
from feed_core.service.packages import NewFile
from feed_core.service.page_cache import BASE_URL, BuiltPage
from feed_core.service.resolve import Lookup, Resolution
from feed_core.service.upstream import is_internal
from feed_core.upstreams.models import UpstreamFile, UpstreamVersion

log = logging.getLogger("feed_core.pypi")
PROTOCOL = "pypi"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.1"
_BUILD_IN_THREAD_VERSIONS = 200  # larger pages are built off the event loop


def render_error(exc: FeedError) -> Response:
    """Warehouse-style JSON: uv shows ``code``; twine shows the status and, with --verbose, the body."""
    return json_response({"message": exc.message, "code": f"{exc.status} {exc.message}"}, status=exc.status)


def choose_format(accept: str, override: str | None) -> str | None:
    """PEP 691 negotiation by q-value, JSON preferred on ties; ``None`` means 406."""
    if override:
        accept = override
    if not accept.strip():
        accept = "*/*"
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in (JSON_V1, "application/vnd.pypi.simple.latest+json"):
            choice = (q, 2, JSON_V1)
        elif media in (HTML_V1, "application/vnd.pypi.simple.latest+html"):
            choice = (q, 1, HTML_V1)
        elif media == "text/html":
            choice = (q, 0, "text/html")
        elif media in ("*/*", "application/*"):
            choice = (q, -1, JSON_V1 if media == "application/*" else "text/html")
        else:
            continue
        if q > 0 and (best is None or choice[:2] > best[:2]):
            best = choice
    return None if best is None else best[2]


async def handle(
    services: Services, request: Request, org: str, project: str | None, feed_ref: str, rest: str
) -> Response:
    async def run() -> Response:
        caller = await authenticate(services, org, request)
        feed_name, _, view_name = feed_ref.partition("@")
        feed = await services.feeds.find(org, project, feed_name)
        view = services.feeds.view(feed, view_name or None)
        require_role(feed, caller, Role.READER, "reading packages")
        scope = f"{org}/{project}" if project else org
        feed_url = f"{base_url(services, request)}/{scope}/_packaging/{feed_ref}/pypi/"
        segs = [unquote(s) for s in rest.split("/")]
        if any(s in (".", "..") or "\\" in s or "\x00" in s for s in segs):
            raise BadRequestError("invalid path: '.' and '..' segments and backslashes are not allowed")
        head = segs[0] if segs else ""
        if head == "upload" and segs[1:] in ([], [""]) and request.method == "POST":
            return await _upload(services, request, feed, view, caller)
        if head == "simple" and request.method in ("GET", "HEAD"):
            return await _simple(services, request, feed, view, caller, segs[1:], feed_url)
        if head == "download" and len(segs) == 4 and request.method in ("GET", "HEAD"):
            return await _download(services, request, feed, view, caller, segs[1], segs[2], segs[3])
        if head == "upload":
            raise MethodNotAllowedError("uploads are POSTed to this URL (twine upload / uv publish)")
        raise NotFoundError(f"no such Python endpoint: {request.method} pypi/{rest}")

    return await guarded(render_error, run)


# --- simple API -----------------------------------------------------------------------------------


async def _simple(
    services: Services, request: Request, feed: Feed, view: View, caller: Caller, segs: list[str], feed_url: str
) -> Response:
    fmt = choose_format(request.headers.get("accept", ""), request.query_params.get("format"))
    if fmt is None:
        return Response(
            "no acceptable format: ask for application/vnd.pypi.simple.v1+json or text/html",
            status_code=406,
            media_type="text/plain",
        )
    if segs in ([], [""]):
        return await _project_list(services, request, feed, view, fmt)
    raw_name = segs[0]
    if len(segs) == 1 or segs[1:] != [""] or raw_name != normalize_name(raw_name):
        # PEP 503: the canonical URL is the normalized name with a trailing slash.
        if len(segs) > 2 or (len(segs) == 2 and segs[1] != ""):
            raise NotFoundError(f"no such page: simple/{'/'.join(segs)}")
        return RedirectResponse(f"{feed_url}simple/{quote(normalize_name(raw_name))}/", status_code=301)
    return await _project_page(services, request, feed, view, caller, raw_name, feed_url, fmt)


async def _project_list(services: Services, request: Request, feed: Feed, view: View, fmt: str) -> Response:
    entries = await services.packages.search(feed, PROTOCOL, "")
    names = sorted(e.name for e in entries)
    if not view.is_local:
        names = [n for n in names if await services.packages.read(feed, view, PROTOCOL, n) is not None]
    if "json" in fmt:
        body = json.dumps({"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}).encode()
    else:
        links = "\n".join(f'    <a href="{quote(n)}/">{html.escape(n)}</a><br/>' for n in names)
        body = _html_page("Simple index", links).encode()
    built = BuiltPage(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', {})
    return await respond(request, built, fmt if fmt != "text/html" else "text/html; charset=utf-8", {})


def _html_page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n{body}\n  </body>\n</html>\n"
    )


def file_url(feed_url: str, name: str, version: str, filename: str) -> str:
    return f"{feed_url}download/{quote(name)}/{quote(version)}/{quote(filename)}"


async def _resolve(
    services: Services, feed: Feed, view: View, caller: Caller, name: str, want_version: str | None = None
) -> Resolution:
    """The project as this caller sees it: held versions, then (in @Local) each upstream in order."""
    now = services.clock()
    lookup = await services.resolver.look_up(feed, view, caller, PROTOCOL, name, now=now, want_version=want_version)
    return await _resolve_lookup(lookup, services, now)


async def _resolve_lookup(lookup: Lookup, services: Services, now: datetime) -> Resolution:
    feed, view, name = lookup.feed, lookup.view, lookup.name
    lookup.require_exists(f"project {name} does not exist in {feed.name}@{view.name}")
    return await services.resolver.resolve(lookup, now)


async def _project_page(
    services: Services, request: Request, feed: Feed, view: View, caller: Caller, name: str, feed_url: str, fmt: str
) -> Response:
    now = services.clock()
    lookup = await services.resolver.look_up(feed, view, caller, PROTOCOL, name, now=now)
    # Built once for every Host: with BASE_URL for the base, which each response gets replaced.
    base = base_url(services, request)
    template_url = BASE_URL + feed_url.removeprefix(base)
    key = (feed.id, view.id, name, fmt, template_url)
    built = services.pages.get(key, lookup.fingerprint, base)
    if built is None:
        res = await _resolve_lookup(lookup, services, now)

        def build() -> bytes:
            return _project_body(res, name, template_url, fmt)

        big = len(res.held) + len(res.upstream) > _BUILD_IN_THREAD_VERSIONS
        body = await asyncio.to_thread(build) if big else build()
        built = services.pages.put(key, lookup.fingerprint, body, notes(res), base)
    return await respond(request, built, fmt if fmt != "text/html" else "text/html; charset=utf-8", {})


def notes(res: Resolution) -> dict[str, str]:
    """Response headers of a project page: the ``X-Feed-*`` counts and, for a reader missing versions that only
    a collaborator can save, ``X-Feed-Notice`` saying so. pip and uv print no header and no field of a page,
    so this is for people asking with curl (the README shows how). Worked out when a page is built."""
    notice = res.unsaved_notice
    return {**res.notes, "X-Feed-Notice": header_value(notice)} if notice else res.notes


def _project_body(res: Resolution, name: str, feed_url: str, fmt: str) -> bytes:
    versions = res.versions()
    if not versions:
        raise NotFoundError(res.explain_empty(f"project {name} has no files here"))
    files: list[tuple[PackageVersion, dict[str, Any]]] = [(v, f) for v in versions for f in v.files]
    if "json" in fmt:
        doc = {
            "meta": {"api-version": API_VERSION},
            "name": name,
            "versions": [v.version for v in versions],
            "files": [_file_json(feed_url, name, v, f) for v, f in files],
        }
        return dumps_sliced(doc)
    anchors = "\n".join(_file_anchor(feed_url, name, v, f) for v, f in files)
    return _html_page(f"Links for {name}", anchors).encode()


def _file_json(feed_url: str, name: str, v: PackageVersion, f: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": f["filename"],
        "url": file_url(feed_url, name, v.version, f["filename"]),
        "hashes": {"sha256": f["sha256"]},
        "size": f["size"],
        "upload-time": f.get("uploaded"),
        "yanked": f["yanked"] or True if "yanked" in f else False,
    }
    if f.get("requires_python"):
        entry["requires-python"] = f["requires_python"]
    if f.get("metadata_sha256"):
        entry["core-metadata"] = {"sha256": f["metadata_sha256"]}
    return entry


def _file_anchor(feed_url: str, name: str, v: PackageVersion, f: dict[str, Any]) -> str:
    attrs = [f'href="{html.escape(file_url(feed_url, name, v.version, f["filename"]))}#sha256={f["sha256"]}"']
    if f.get("requires_python"):
        attrs.append(f'data-requires-python="{html.escape(f["requires_python"])}"')
    if f.get("metadata_sha256"):
        attrs.append(f'data-core-metadata="sha256={f["metadata_sha256"]}"')
        attrs.append(f'data-dist-info-metadata="sha256={f["metadata_sha256"]}"')
    if "yanked" in f:
        attrs.append(f'data-yanked="{html.escape(f["yanked"] or "")}"')
    return f"    <a {' '.join(attrs)}>{html.escape(f['filename'])}</a><br/>"


# --- files ----------------------------------------------------------------------------------------


async def _file_to_serve(
    services: Services, feed: Feed, view: View, caller: Caller, name: str, version: str, filename: str
) -> dict[str, Any] | tuple[UpstreamSource, UpstreamVersion, UpstreamFile]:
    """The held file, or (for a collaborator or higher) the upstream one to save. Everything that refuses a
    file refuses it here, before any download."""
    held = await services.packages.version(feed, PROTOCOL, name, version)
    if held is not None and held.deleted is None and versions_in_view([held], view):
        found = next((f for f in held.files if f["filename"] == filename), None)
        if found is not None:
            return found
    res = await _resolve(services, feed, view, caller, name, want_version=version)
    if version in res.held:
        found = next((f for f in res.held[version].files if f["filename"] == filename), None)
        if found is not None:
            return found
    if version not in res.upstream or not res.lookup.can_save:
        raise NotFoundError(res.explain_missing(version))
    source, uv = res.upstream[version]
    upstream_file = next((f for f in uv.files if f.filename == filename), None)
    if upstream_file is None:
        raise NotFoundError(f"{filename} is not a file of {name} {version} in {feed.name} or its upstreams")
    return source, uv, upstream_file


async def _saved_file(
    services: Services, feed: Feed, name: str, version: str, saved: PackageVersion, filename: str
) -> dict[str, Any]:
    found = next((f for f in saved.files if f["filename"] == filename), None)
    if found is None:  # a concurrent save of another file of this version won the race: read it again
        again = await services.packages.store.get_version(feed.id, PROTOCOL, name, version)
        found = next((f for f in (again.files if again else []) if f["filename"] == filename), None)
    if found is None:
        raise NotFoundError(f"{filename} could not be saved; try again")
    return found


async def _download(
    services: Services,
    request: Request,
    feed: Feed,
    view: View,
    caller: Caller,
    name: str,
    version: str,
    filename: str,
) -> Response:
    """A file, or with ``.metadata`` its core metadata file. A file only an upstream has is saved first, sent
    while it downloads (stream-through) when the request allows; for a ``.metadata`` request only its
    metadata file is fetched and verified."""
    metadata = filename.endswith(".metadata")
    wanted = filename.removesuffix(".metadata") if metadata else filename
    name = normalize_name(name)
    found = await _file_to_serve(services, feed, view, caller, name, version, wanted)
    # Range requests too: uv reads a wheel's zip directory that way when there is no .metadata.
    media = "text/plain; charset=utf-8" if metadata else "application/octet-stream"

    async def serve(f: dict[str, Any]) -> Response:
        digest = f.get("metadata_sha256") if metadata else f["sha256"]
        if not digest:
            raise NotFoundError(f"{wanted} has no separate core metadata file")
        size = None if metadata or not isinstance(f.get("size"), int) else f["size"]
        return await serve_blob(
            services, request, digest, wanted, media=media, size=size, redirect=not metadata, ranges=True
        )

    if isinstance(found, dict):
        if not metadata:
            record_download(services, request, feed.id, PROTOCOL, name, version)
        return await serve(found)
    source, uv, upstream_file = found
    if metadata and upstream_file.metadata_sha256:
        label = f"{name} {version} ({wanted}) metadata"
        await services.upstreams.cache_side_file(
            source, label, upstream_file.url + ".metadata", upstream_file.metadata_sha256
        )
        return await serve({"filename": wanted, "metadata_sha256": upstream_file.metadata_sha256})
    key = (feed.id, PROTOCOL, name, version, wanted)

    async def commit(record: PackageVersion) -> PackageVersion:
        saved = await services.packages.commit_saved(feed, record)
        record_save(services, feed, saved)
        log.info("saved %s into %s from upstream %s for %s", wanted, feed.scope_label, source.name, caller.user)
        return saved

    if is_internal(source):  # nothing to download: the other feed's blobs are ours too

        async def fetch_and_commit() -> PackageVersion:
            return await commit(
                await services.upstreams.fetch_file_for_save(caller, PROTOCOL, name, source, uv, upstream_file)
            )

        saved = await services.upstreams.save(key, fetch_and_commit)
        return await serve(await _saved_file(services, feed, name, version, saved, wanted))
    plan = services.upstreams.plan_file_save(caller, PROTOCOL, name, source, uv, upstream_file)
    flight = services.upstreams.stream_save(key, plan, commit)

    async def stored() -> Response:
        return await serve(await _saved_file(services, feed, name, version, await flight.saved(), wanted))

    if metadata or not streams_through(request):
        return await stored()
    return await serve_flight(flight, stored, sha256=upstream_file.sha256)


# --- upload ---------------------------------------------------------------------------------------


async def _upload(services: Services, request: Request, feed: Feed, view: View, caller: Caller) -> Response:
    limit = services.settings.max_upload_bytes
    body = limited(request, limit)
    require_role(feed, caller, Role.CONTRIBUTOR, "uploading packages")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequestError("uploads are multipart/form-data with :action=file_upload (use twine or uv publish)")
    try:
        async with body.form(max_files=2, max_fields=500, max_part_size=8 * 1024 * 1024) as form:
            if form.get(":action") != "file_upload":
                raise BadRequestError(f"unsupported :action {form.get(':action')!r}; only file_upload is supported")
            upload = form.get("content")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise BadRequestError("the upload has no file in its 'content' field")
            data = await upload.read()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
    except MultiPartException as exc:
        raise BadRequestError(f"the upload is not a valid multipart form (as twine sends it): {exc.message}") from None
    filename = upload.filename.rsplit("/", 1)[-1]
    sha256 = hashlib.sha256(data).hexdigest()
    dist = await asyncio.to_thread(inspect_distribution, filename, data)  # up to the upload limit unpacked
    check_form_fields(
        dist, fields.get("name", ""), fields.get("version", ""), fields.get("sha256_digest") or None, sha256
    )
    meta = dist.fields
    _, created = await services.packages.add_file(
        feed,
        view,
        caller,
        NewFile(
            protocol=PROTOCOL,
            name=dist.name,
            version=dist.version,
            manifest={
                "name": meta.name,
                "version": meta.version,
                "description": meta.summary,
                "summary": meta.summary,
                "requires_python": meta.requires_python,
                "requires_dist": list(meta.requires_dist),
                "keywords": [k.strip() for k in meta.keywords.replace(",", " ").split() if k.strip()],
                "license": meta.license,
                "author": meta.author,
                "home_page": meta.home_page,
            },
            file={
                "filename": filename,
                "sha256": sha256,
                "size": len(data),
                "requires_python": meta.requires_python,
                "metadata_sha256": hashlib.sha256(dist.metadata).hexdigest(),
                "filetype": dist.kind,
                "pyversion": fields.get("pyversion", ""),
            },
            content=data,
            side_blobs=(dist.metadata,),
        ),
    )
    log.info(
        "%s %s to %s by %s", "uploaded" if created else "re-sent identical", filename, feed.scope_label, caller.user
    )
    return Response("OK" if created else "OK: identical file already present", media_type="text/plain")
