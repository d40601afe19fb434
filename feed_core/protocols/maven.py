"""The Maven repository protocol at ``/{org}[/{project}]/_packaging/{feed}[@{view}]/maven/v1/{path}``.

The default (``maven2``) layout over plain HTTP: GET and HEAD read, PUT deploys. Paths are parsed by
``domain/maven_layout.py``; a file is a ``groupId:artifactId`` package's version (``1.0`` or ``1.0-SNAPSHOT``)
holding every file of its directory. Checksum files (``.md5``, ``.sha1``, ``.sha256``, ``.sha512``) are never
stored: they are answered from the digests kept with each file. ``maven-metadata.xml`` is built by the feed from
what it holds and what its upstreams offer (``maven_listing``); deploys are ``maven_deploy``. Files the feed does
not hold come from its upstreams through ``maven_upstream``. See ``shared/protocols/maven.md`` for what mvn and
Gradle need.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.errors import BadRequestError, MethodNotAllowedError, NotFoundError, UnauthorizedError
from feed_core.domain.maven_layout import FileRequest, MetadataRequest, coordinate_name, parse_path
from feed_core.domain.models import Caller
from feed_core.domain.roles import Role
from feed_core.domain.visibility import versions_in_view
from feed_core.protocols import maven_deploy, maven_listing, maven_upstream
from feed_core.protocols import maven_wire as wire
from feed_core.protocols.http import base_url, guarded, token_from_header
from feed_core.protocols.maven_context import PROTOCOL, Ctx
from feed_core.protocols.maven_files import serve_entry, stored_entry
from feed_core.service.container import Services


async def handle(
    services: Services, request: Request, org: str, project: str | None, feed_ref: str, rest: str
) -> Response:
    async def run() -> Response:
        top, _, raw_path = rest.partition("/")
        if top != "v1":
            raise NotFoundError(
                f"no such Maven endpoint: maven/{rest[:200]}; the repository URL is …/_packaging/{feed_ref}/maven/v1"
            )
        segs = [unquote(s) for s in raw_path.split("/")]
        if any(s in (".", "..") or "/" in s or "\\" in s or "\x00" in s for s in segs):
            raise BadRequestError(
                "invalid path: '.' and '..' segments, encoded slashes, backslashes and NUL are not allowed"
            )
        # Credentials first, so that anonymous callers learn nothing about which feeds exist.
        caller = await _authenticate(services, org, request)
        feed_name, _, view_name = feed_ref.partition("@")
        feed = await services.feeds.find(org, project, feed_name)
        view = services.feeds.view(feed, view_name or None)
        require_role(feed, caller, Role.READER, "reading packages")
        scope = f"{org}/{project}" if project else org
        url = f"{base_url(services, request)}/{scope}/_packaging/{feed_ref}/maven/v1/"
        ctx = Ctx(services, request, feed, view, caller, url)
        path = "/".join(segs)
        method = request.method
        if method in ("GET", "HEAD"):
            return await _read(ctx, path)
        if method == "PUT":
            return await maven_deploy.put(ctx, path)
        raise MethodNotAllowedError(
            f"{method} is not supported here: a Maven repository is read with GET and HEAD and deployed to with PUT"
        )

    response = await guarded(wire.render_error, run)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = wire.CHALLENGE
    elif response.status_code == 405:
        response.headers["Allow"] = "GET, HEAD, PUT"
    return response


async def _authenticate(services: Services, org: str, request: Request) -> Caller:
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        raise UnauthorizedError(
            "this feed is private: give the repository's <server> in settings.xml any username and a personal "
            "access token as its password"
        )
    return await services.identity.authenticate(org, token)


async def _read(ctx: Ctx, path: str) -> Response:
    if not path:
        raise NotFoundError(f"this is the Maven repository of {ctx.where}; it serves files by path, with no listings")
    try:
        parsed = parse_path(path)
    except ValueError as exc:  # nothing can be stored at a path that is not Maven's: not found, said why
        raise NotFoundError(str(exc)) from None
    if isinstance(parsed, MetadataRequest):
        return await maven_listing.get(ctx, parsed)
    return await _read_file(ctx, parsed)


async def _read_file(ctx: Ctx, req: FileRequest) -> Response:
    """A held file (or its checksum); one the feed does not hold comes from an upstream that may serve it."""
    file = req.file
    name = coordinate_name(file.group_id, file.artifact_id)
    held = await ctx.services.packages.version(ctx.feed, PROTOCOL, name, file.version)
    if held is not None and held.deleted is not None:
        raise NotFoundError(
            f"{name}:{file.version} was deleted from feed {ctx.feed.name}; its version number stays reserved"
        )
    visible = held is not None and bool(versions_in_view([held], ctx.view))
    if held is not None and visible:
        entry = stored_entry(held, file.filename)
        if entry is not None:
            return await serve_entry(ctx, held, entry, file, req.checksum)
        if not held.source_chain:  # deployed here: its files are all here, and never mixed with an upstream's
            raise NotFoundError(f"{file.filename} is not among the files of {name}:{file.version} in {ctx.where}")
    if not ctx.view.is_local:
        raise NotFoundError(f"{name}:{file.version} is not in view {ctx.where}: it has not been promoted to it")
    hit = await maven_upstream.upstream_file(ctx, file)
    if hit is None:
        raise NotFoundError(f"{file.path} does not exist in {ctx.where} or its upstream sources")
    return await maven_upstream.serve_upstream_file(ctx, hit, req.checksum)
