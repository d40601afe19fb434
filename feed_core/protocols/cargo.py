"""The Cargo registry protocol at ``/{org}[/{project}]/_packaging/{feed}[@{view}]/cargo/``: a sparse index under
``index/`` (``config.json`` and one file per crate) and the Web API under ``api/v1/`` (publish, yank, owners, search,
downloads). See ``shared/protocols/cargo.md`` for what cargo needs.

Every URL but the login page (``me``) needs a token: cargo sends it only once ``config.json`` answered 401 with a
``Cargo`` challenge, and then sends it raw in ``Authorization``. Index files hold the feed's versions and, for a
collaborator, its upstreams' (through the shared resolver, as npm's packuments do); a version the feed does not hold
is saved from its upstream on download. Publish, yank, owners and search are in ``cargo_api``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.cargo_index import index_line, render_index
from feed_core.domain.cargo_names import name_from_index_path, validate_crate_name
from feed_core.domain.cargo_versions import validate_crate_version
from feed_core.domain.errors import (
    BadRequestError,
    ForbiddenError,
    MethodNotAllowedError,
    NotFoundError,
    UnauthorizedError,
)
from feed_core.domain.models import Caller, PackageVersion
from feed_core.domain.roles import Role
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.visibility import versions_in_view
from feed_core.protocols import cargo_api
from feed_core.protocols import cargo_wire as wire
from feed_core.protocols.cargo_context import PROTOCOL, Ctx, held_spelling, held_twin, look_up
from feed_core.protocols.files import record_download, record_save, serve_blob, serve_flight, streams_through
from feed_core.protocols.http import base_url, guarded, json_response
from feed_core.protocols.page_cache import respond
from feed_core.service.container import Services
from feed_core.service.upstream import is_internal
from feed_core.upstreams.models import UpstreamVersion

log = logging.getLogger("feed_core.cargo")
_BUILD_IN_THREAD_VERSIONS = 200  # larger index files are built off the event loop
_READS = ("GET", "HEAD")
_URL_SAFE = "/@~!$&'()*+,;=:"


async def handle(
    services: Services, request: Request, org: str, project: str | None, feed_ref: str, rest: str
) -> Response:
    scope = f"{org}/{project}" if project else org
    # As a URL: the parts were percent-decoded, and these URLs go into headers and documents.
    api_path = "/" + quote(f"{scope}/_packaging/{feed_ref}/cargo", safe=_URL_SAFE)
    index_file = rest.startswith("index/") and rest != "index/config.json"
    render = wire.text_error if index_file else wire.api_error
    login_url = api_path + "/me"  # made absolute once the base URL is known

    async def run() -> Response:
        nonlocal login_url
        segs = [unquote(s) for s in rest.split("/")]
        if any(s in (".", "..") or "/" in s or "\\" in s or "\x00" in s for s in segs):
            raise BadRequestError(
                "invalid path: '.' and '..' segments, encoded slashes, backslashes and NUL are not allowed"
            )
        api_url = base_url(services, request) + api_path
        login_url = f"{api_url}/me"
        if segs == ["me"]:  # the page `cargo login` points at: how to get a token (no token needed to read it)
            if request.method not in _READS:
                raise MethodNotAllowedError(f"{request.method} is not supported here: this page is read with GET")
            return wire.text(wire.login_text(f"{api_url}/index/", api_url))
        # Credentials first, so that anonymous callers learn nothing about which feeds exist.
        caller = await _authenticate(services, org, request, web_api=segs[0] == "api")
        feed_name, _, view_name = feed_ref.partition("@")
        feed = await services.feeds.find(org, project, feed_name)
        view = services.feeds.view(feed, view_name or None)
        require_role(feed, caller, Role.READER, "reading crates")
        ctx = Ctx(services, request, feed, view, caller, api_url, f"{api_url}/index/")
        if segs[0] == "index" and len(segs) > 1:
            return await _index(ctx, segs[1:])
        if segs[:2] == ["api", "v1"]:
            return await _api(ctx, segs[2:])
        raise NotFoundError(f"no such Cargo endpoint: cargo/{rest[:200]}; the index is at {api_url}/index/")

    response = await guarded(render, run)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = wire.challenge(login_url)
    return response


async def _authenticate(services: Services, org: str, request: Request, *, web_api: bool) -> Caller:
    try:
        token = wire.cargo_token(request.headers.get("authorization"))
        if token is not None:
            return await services.identity.authenticate(org, token)
    except UnauthorizedError as exc:
        if web_api:  # cargo's convention: a token the Web API does not take is a 403
            raise ForbiddenError(f"{exc.message}; log in again with `cargo login --registry <name>`") from None
        raise
    raise UnauthorizedError(
        "this registry is private: log in with `cargo login --registry <name>` and a personal access token, "
        'with credential-provider = "cargo:token" set for the registry in .cargo/config.toml'
    )


# --- the index -------------------------------------------------------------------------------------------------


async def _index(ctx: Ctx, path: list[str]) -> Response:
    if ctx.request.method not in _READS:
        raise MethodNotAllowedError(f"{ctx.request.method} is not supported here: the index is read with GET")
    if path == ["config.json"]:
        return json_response(wire.config_document(ctx.api_url), headers={"Cache-Control": "private, no-cache"})
    try:
        key = name_from_index_path("/".join(path)).lower()
    except ValueError as exc:
        raise NotFoundError(f"{'/'.join(path)[:200]} is not an index file: {exc}") from None
    lookup, twin = await asyncio.gather(look_up(ctx, key), held_twin(ctx.services, ctx.feed, key))
    if twin is not None and lookup.meta is None:
        raise NotFoundError(await _twin_message(ctx, key, twin))
    lookup.require_exists(f"crate {key} does not exist in {ctx.where} or its upstream sources")
    built = ctx.services.pages.get((ctx.feed.id, ctx.view.id, PROTOCOL, key), lookup.fingerprint)
    if built is None:
        res = await ctx.services.resolver.resolve(lookup, ctx.services.clock())

        def build() -> bytes:
            versions = res.versions()
            if not versions:
                raise NotFoundError(res.explain_empty(f"crate {key} has no versions in {ctx.where}"))
            return b"".join(_rendered_line(key, v) for v in versions)

        big = len(res.held) + len(res.upstream) > _BUILD_IN_THREAD_VERSIONS
        body = await asyncio.to_thread(build) if big else build()
        built = ctx.services.pages.put((ctx.feed.id, ctx.view.id, PROTOCOL, key), lookup.fingerprint, body, res.notes)
    return await respond(ctx.request, built, wire.TEXT, wire.SAFE)


async def _twin_message(ctx: Ctx, key: str, twin: str) -> str:
    spelling = await held_spelling(ctx.services, ctx.feed, twin)
    return (
        f"crate {key} does not exist in {ctx.where}: the feed holds {spelling}, which is the same name to cargo; "
        f"depend on {spelling}"
    )


#: Index lines already rendered, by what they are made of; each entry holds the manifest it was made from and is
#: used only for that very object (a version's manifest is not changed in place: a change is a new record).
_LINES: OrderedDict[tuple[str, str, str, bool, str], tuple[object, bytes]] = OrderedDict()
_LINES_KEPT = 20_000
_LINES_LOCK = threading.Lock()


def _rendered_line(key: str, v: PackageVersion) -> bytes:
    """A version's index line as bytes, rendered once while its record is in memory: a crate's index file is built
    again whenever any of its versions changes, and most of its lines are the same each time. (Large files are
    built in worker threads, hence the lock.)"""
    pubtime = str(v.provenance.get("originalPublished", v.published))
    cache_key = (key, v.version, v.sha256, v.unlisted is not None, pubtime)
    with _LINES_LOCK:
        hit = _LINES.get(cache_key)
        if hit is not None and hit[0] is v.manifest:
            _LINES.move_to_end(cache_key)
            return hit[1]
    line = render_index([_line(key, v)])
    with _LINES_LOCK:
        _LINES[cache_key] = (v.manifest, line)
        _LINES.move_to_end(cache_key)
        while len(_LINES) > _LINES_KEPT:
            _LINES.popitem(last=False)
    return line


def _line(key: str, v: PackageVersion) -> dict[str, object]:
    """A version's index line. A saved version keeps its upstream's publish time (none when the upstream gave
    none: the time it was saved is not when it was published, and an index line never changes but for ``yanked``)."""
    published = v.provenance.get("originalPublished", v.published)
    pubtime = published if isinstance(published, str) and published else None
    return index_line(key, v.version, v.sha256, v.manifest, v.unlisted is not None, pubtime)


# --- the Web API -----------------------------------------------------------------------------------------------


async def _api(ctx: Ctx, segs: list[str]) -> Response:
    method = ctx.request.method
    if segs == ["crates"]:
        _only(method, "GET", "searching")
        return await cargo_api.search(ctx)
    if segs == ["crates", "new"]:
        _only(method, "PUT", "publishing")
        return await cargo_api.publish(ctx)
    if len(segs) < 3 or segs[0] != "crates":
        raise NotFoundError(f"no such Cargo API: {method} api/v1/{'/'.join(segs)[:200]}")
    name = _crate_name(segs[1])
    if segs[2:] == ["owners"]:
        return await cargo_api.owners(ctx, name)
    if len(segs) == 4 and segs[3] in ("yank", "unyank", "download"):
        number = _version(segs[2])
        if segs[3] == "yank":
            _only(method, "DELETE", "yanking")
            return await cargo_api.set_yanked(ctx, name, number, yanked=True)
        if segs[3] == "unyank":
            _only(method, "PUT", "unyanking")
            return await cargo_api.set_yanked(ctx, name, number, yanked=False)
        if method not in _READS:
            raise MethodNotAllowedError(f"{method} is not supported here: a crate is downloaded with GET")
        return await _download(ctx, name, number)
    raise NotFoundError(f"no such Cargo API: {method} api/v1/{'/'.join(segs)[:200]}")


def _only(method: str, wanted: str, action: str) -> None:
    if method != wanted:
        raise MethodNotAllowedError(f"{method} is not supported here: {action} is a {wanted}")


def _crate_name(text: str) -> str:
    try:
        return validate_crate_name(text)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def _version(text: str) -> str:
    try:
        return validate_crate_version(text)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


# --- downloads -------------------------------------------------------------------------------------------------


async def _held_or_upstream(ctx: Ctx, key: str, number: str) -> PackageVersion | tuple[UpstreamSource, UpstreamVersion]:
    """The held version, or (for a collaborator or higher) the upstream one to save. Everything that refuses a
    version (role, upstream behaviour, release age, a deleted number) refuses it here, before any download."""
    held = await ctx.services.packages.version(ctx.feed, PROTOCOL, key, number)
    if held is not None:
        if held.deleted is not None:
            raise NotFoundError(f"{key}@{number} was deleted from feed {ctx.feed.name}; its number stays reserved")
        if versions_in_view([held], ctx.view):
            return held
    lookup, twin = await asyncio.gather(look_up(ctx, key, number), held_twin(ctx.services, ctx.feed, key))
    if twin is not None and lookup.meta is None:  # never saved beside the held spelling, which its index hides
        raise NotFoundError(await _twin_message(ctx, key, twin))
    res = await ctx.services.resolver.resolve(lookup, ctx.services.clock())
    if number in res.held:
        return res.held[number]  # saved by a concurrent request between the two reads
    if number not in res.upstream or not res.lookup.can_save:
        raise NotFoundError(res.explain_missing(number))
    return res.upstream[number]


async def _download(ctx: Ctx, name: str, number: str) -> Response:
    key = name.lower()
    found = await _held_or_upstream(ctx, key, number)
    if isinstance(found, PackageVersion):
        return await _serve_crate(ctx, found)
    source, uv = found
    services = ctx.services
    flight_key = (ctx.feed.id, PROTOCOL, key, number)

    async def commit(record: PackageVersion) -> PackageVersion:
        saved = await services.packages.commit_saved(ctx.feed, record)
        record_save(services, ctx.feed, saved)
        log.info(
            "saved %s@%s into %s from upstream %s for %s",
            key,
            number,
            ctx.feed.scope_label,
            source.name,
            ctx.caller.user,
        )
        return saved

    if is_internal(source):  # nothing to download: the other feed's blob is ours too

        async def fetch_and_commit() -> PackageVersion:
            record = await services.upstreams.fetch_for_save(ctx.feed, ctx.caller, PROTOCOL, key, source, uv)
            return await commit(record)

        return await _serve_crate(ctx, await services.upstreams.save(flight_key, fetch_and_commit))
    plan = services.upstreams.plan_version_save(ctx.caller, PROTOCOL, key, source, uv)
    flight = services.upstreams.stream_save(flight_key, plan, commit)
    if not streams_through(ctx.request):
        return await _serve_crate(ctx, await flight.saved())

    async def stored() -> Response:
        return await _serve_crate(ctx, await flight.saved())

    return await serve_flight(flight, stored, sha256=uv.sha256, headers=_disposition(uv.filename))


async def _serve_crate(ctx: Ctx, v: PackageVersion) -> Response:
    record_download(ctx.services, ctx.request, ctx.feed.id, v.protocol, v.name, v.version)
    return await serve_blob(
        ctx.services, ctx.request, v.sha256, v.filename, size=v.size, headers=_disposition(v.filename)
    )


def _disposition(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
