"""The NuGet v3 protocol at ``/{org}[/{project}]/_packaging/{feed}[@{view}]/nuget/v3/index.json``.

Every resource lives under ``…/nuget/v3/`` (the NuGet client re-sends credentials only to URLs at or
below one it has authenticated to): ``flat2/`` (PackageBaseAddress), ``registrations/`` (SemVer 1) and
``registrations-semver2/``, ``catalog/``, ``query``, ``autocomplete`` (``nuget_metadata``), ``package``
(push, unlist, relist) and ``symbolpackage`` (``nuget_publish``). Documents are rendered in ``nuget_wire``.
Versions go through the same resolver as the other protocols, so upstream versions appear here as they do
for npm and Python. ``…/nuget/v2`` (the OData subset PowerShellGet and ``nuget list`` use) is
``nuget_v2``, sharing this module's authentication and downloads. See ``shared/protocols/nuget.md`` for what
the NuGet client needs.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.errors import BadRequestError, FeedError, MethodNotAllowedError, NotFoundError, UnauthorizedError
from feed_core.domain.models import Caller, PackageVersion
from feed_core.domain.nuget_package import read_nupkg
from feed_core.domain.roles import Role
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.visibility import versions_in_view
from feed_core.protocols import nuget_metadata, nuget_publish, nuget_v2
from feed_core.protocols import nuget_wire as wire
from feed_core.protocols.files import record_download, record_save, serve_blob, serve_flight, streams_through
from feed_core.protocols.http import base_url, guarded, json_response, token_from_header
from feed_core.protocols.notices import header_value
from feed_core.protocols.nuget_context import (
    PROTOCOL,
    WARNING_HEADER,
    Ctx,
    document,
    look_up,
    package_name,
    version_number,
)
from feed_core.service.container import Services
from feed_core.service.page_cache import BASE_URL
from feed_core.service.upstream import is_internal
from feed_core.storage.packages import content_key
from feed_core.upstreams.models import UpstreamVersion

log = logging.getLogger("feed_core.nuget")
#: nuget.exe sends Basic credentials only after a challenge naming Basic (and a lone one is the safest).
CHALLENGE = 'Basic realm="package feed"'
#: A .nuspec is the pusher's XML, served from the feed's origin: a browser must not run what it embeds (an XHTML
#: ``<script>`` in application/xml runs, with the Basic credentials the browser keeps for this origin).
NUSPEC_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


def render_error(exc: FeedError) -> Response:
    """JSON with the message, and the message again in ``X-NuGet-Warning``: nuget.exe and dotnet print that
    header, while of a failed push they show only the status line otherwise."""
    return json_response(
        {"message": exc.message}, status=exc.status, headers={WARNING_HEADER: header_value(exc.message)}
    )


async def handle(
    services: Services, request: Request, org: str, project: str | None, feed_ref: str, rest: str
) -> Response:
    async def run() -> Response:
        segs = [unquote(s) for s in rest.split("/")]
        if any(s in (".", "..") or "\\" in s or "\x00" in s for s in segs):
            raise BadRequestError("invalid path: '.' and '..' segments and backslashes are not allowed")
        # Credentials first, so that anonymous callers learn nothing about which feeds exist.
        caller = await _authenticate(services, org, request)
        feed_name, _, view_name = feed_ref.partition("@")
        feed = await services.feeds.find(org, project, feed_name)
        view = services.feeds.view(feed, view_name or None)
        require_role(feed, caller, Role.READER, "reading packages")
        scope = f"{org}/{project}" if project else org
        path = f"/{scope}/_packaging/{feed_ref}/nuget/v3/"
        base = base_url(services, request)
        ctx = Ctx(services, request, feed, view, caller, wire.Urls(base + path), wire.Urls(BASE_URL + path))
        if segs[0] == "v3":
            return await _v3(ctx, segs[1:])
        if segs[0] == "v2":
            return await nuget_v2.handle(ctx, segs[1:], _download)
        raise NotFoundError(f"no such NuGet endpoint: nuget/{rest[:200]}; the package source is …/nuget/v3/index.json")

    response = await guarded(render_error, run)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response


async def _authenticate(services: Services, org: str, request: Request) -> Caller:
    """A personal access token from ``Authorization`` (Basic with the token as the password, or Bearer), else
    from ``X-NuGet-ApiKey``. ``Authorization`` wins: nuget.exe sends the configured API key (any text, as
    Azure Artifacts allows) along with the source's credentials."""
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        token = request.headers.get("x-nuget-apikey", "").strip() or None
    if token is None:
        raise UnauthorizedError(
            "this feed is private: give the source a personal access token as its password (packageSourceCredentials)"
        )
    return await services.identity.authenticate(org, token)


async def _v3(ctx: Ctx, segs: list[str]) -> Response:
    method = ctx.request.method
    head, rest = segs[0] if segs else "", segs[1:]
    if head in ("package", "symbolpackage"):
        return await nuget_publish.handle(ctx, head == "symbolpackage", rest)
    if method not in ("GET", "HEAD"):
        raise MethodNotAllowedError(f"{method} is not supported on nuget/v3/{'/'.join(segs)[:200]}")
    if segs == ["index.json"]:
        return json_response(wire.service_index(ctx.urls))
    if head == "flat2" and len(rest) == 2 and rest[1] == "index.json":
        name = package_name(rest[0])
        return await document(ctx, name, "flat", wire.flat_listing)
    if head == "flat2" and len(rest) == 3:
        return await _flat_file(ctx, rest[0], rest[1], rest[2])
    found = await nuget_metadata.handle(ctx, head, rest)
    if found is None:
        raise NotFoundError(f"no such NuGet v3 resource: nuget/v3/{'/'.join(segs)[:200]}")
    return found


# --- flat container files -----------------------------------------------------------------------------


async def _flat_file(ctx: Ctx, raw_name: str, raw_number: str, filename: str) -> Response:
    name, number = package_name(raw_name), version_number(raw_number)
    lowered = filename.lower()
    if lowered.startswith(f"{name}.") and lowered.endswith(".nupkg") and _same(lowered[len(name) + 1 : -6], number):
        return await _download(ctx, name, number)
    if lowered == f"{name}.nuspec":
        return await _nuspec(ctx, name, number)
    raise NotFoundError(f"no such file {filename[:200]!r}: {name} {number} has {name}.{number}.nupkg and {name}.nuspec")


def _same(text: str, number: str) -> bool:
    """Whether a file name's version is ``number`` (clients spell it normalized; ``1.0`` is ``1.0.0`` too)."""
    try:
        return version_number(text) == number
    except BadRequestError:
        return False


async def _held_or_upstream(
    ctx: Ctx, name: str, number: str
) -> PackageVersion | tuple[UpstreamSource, UpstreamVersion]:
    """The held version, or (for a collaborator or higher) the upstream one to save. Everything that refuses
    a version (role, upstream behaviour, release age, a deleted number) refuses it here, before any download."""
    held = await ctx.services.packages.version(ctx.feed, PROTOCOL, name, number)
    if held is not None:
        if held.deleted is not None:
            raise NotFoundError(f"{name} {number} was deleted from feed {ctx.feed.name}; its number stays reserved")
        if versions_in_view([held], ctx.view):
            return held
    lookup = await look_up(ctx, name, number)
    lookup.require_exists(f"package {name} does not exist in {ctx.where}")
    res = await ctx.services.resolver.resolve(lookup, ctx.services.clock())
    if number in res.held:
        return res.held[number]  # saved by a concurrent request between the two reads
    if number not in res.upstream or not res.lookup.can_save:
        raise NotFoundError(res.explain_missing(number))
    return res.upstream[number]


async def _download(ctx: Ctx, name: str, number: str) -> Response:
    """The .nupkg exactly as pushed (or saved). One only an upstream has is saved first, and sent while it
    downloads when the request allows."""
    found = await _held_or_upstream(ctx, name, number)
    if isinstance(found, PackageVersion):
        return await _serve_package(ctx, found)
    source, uv = found
    services = ctx.services
    key = (ctx.feed.id, PROTOCOL, name, number)

    async def commit(record: PackageVersion) -> PackageVersion:
        saved = await services.packages.commit_saved(ctx.feed, record)
        record_save(services, ctx.feed, saved)
        log.info("saved %s %s into %s from %s for %s", name, number, ctx.feed.scope_label, source.name, ctx.caller.user)
        return saved

    if is_internal(source):  # nothing to download: the other feed's blob is ours too

        async def fetch_and_commit() -> PackageVersion:
            return await commit(
                await services.upstreams.fetch_for_save(ctx.feed, ctx.caller, PROTOCOL, name, source, uv)
            )

        return await _serve_package(ctx, await services.upstreams.save(key, fetch_and_commit))
    plan = services.upstreams.plan_version_save(ctx.caller, PROTOCOL, name, source, uv)
    flight = services.upstreams.stream_save(key, plan, commit)

    async def stored() -> Response:
        return await _serve_package(ctx, await flight.saved())

    if not streams_through(ctx.request):
        return await stored()
    return await serve_flight(flight, stored, headers=_disposition(uv.filename))


async def _serve_package(ctx: Ctx, v: PackageVersion) -> Response:
    record_download(ctx.services, ctx.request, ctx.feed.id, v.protocol, v.name, v.version)
    return await serve_blob(
        ctx.services, ctx.request, v.sha256, v.filename, size=v.size, headers=_disposition(v.filename)
    )


def _disposition(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


async def _nuspec(ctx: Ctx, name: str, number: str) -> Response:
    """The .nuspec as it is inside the package: stored beside it at push time, else read from the package."""
    found = await _held_or_upstream(ctx, name, number)
    if not isinstance(found, PackageVersion):
        raise NotFoundError(
            f"{name} {number} is not saved in feed {ctx.feed.name} yet: download its .nupkg first, then its .nuspec"
        )
    nuspec_sha = str(found.files[0].get("metadata_sha256") or "") if found.files else ""
    if nuspec_sha:
        return await serve_blob(
            ctx.services,
            ctx.request,
            nuspec_sha,
            f"{name}.nuspec",
            media="application/xml",
            redirect=False,
            headers=NUSPEC_HEADERS,
        )
    data = await ctx.services.packages.store.blobs.read_all(content_key(found.sha256))
    if data is None:
        raise NotFoundError(f"the content of {found.filename} is missing")
    package = await asyncio.to_thread(read_nupkg, data)
    return Response(package.nuspec_bytes, media_type="application/xml", headers=NUSPEC_HEADERS)
