"""The npm registry protocol at ``/{org}[/{project}]/_packaging/{feed}[@{view}]/npm/registry/``.

Translates requests into feed service calls and results into what the npm CLI expects. Client
quirks are noted where they are handled.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain import semver
from feed_core.domain.access import require_role
from feed_core.domain.bounded_json import dumps_sliced
from feed_core.domain.errors import BadRequestError, FeedError, NotFoundError, UnauthorizedError
from feed_core.domain.models import Caller, Feed, PackageVersion, View
from feed_core.domain.names import NpmName, parse_npm_name
from feed_core.domain.roles import Role
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.visibility import versions_in_view
from feed_core.protocols.files import record_download, record_save, serve_blob, serve_flight, streams_through
from feed_core.protocols.http import (
    authenticate,
    base_url,
    guarded,
    json_response,
    parse_json,
    parse_json_body,
    read_body,
)
from feed_core.protocols.notices import header_value
from feed_core.protocols.npm_wire import (
    PublishRequest,
    packument,
    parse_publish,
    version_document,
    version_from_filename,
)
from feed_core.protocols.page_cache import respond
from feed_core.service.container import Services
from feed_core.service.packages import NewVersion, PackageView
from feed_core.service.page_cache import BASE_URL
from feed_core.service.resolve import Lookup, Resolution
from feed_core.service.upstream import is_internal
from feed_core.upstreams.models import UpstreamVersion

if TYPE_CHECKING:  # a type only: the adapter never reads storage
    from feed_core.storage.packages import IndexEntry

log = logging.getLogger("feed_core.npm")
PROTOCOL = "npm"
ABBREVIATED = "application/vnd.npm.install-v1+json"
AUDIT_UNAVAILABLE = (
    "npm audit is not available on this feed: it has no advisory database, and it does not pass the list "
    "of installed packages (private names included) on to any other registry. Check dependencies with a "
    "scanner that reads package-lock.json instead."
)
_BUILD_IN_THREAD_VERSIONS = 200  # larger packuments are built off the event loop


class VersionNotFoundError(NotFoundError):
    """A version the caller asked for is not offered to it, and why: the reason goes in the ``npm-notice``
    header as well, which npm prints from an answer it does not cache (as a 404)."""


def render_error(exc: FeedError) -> Response:
    # npm prints `error` (or `message`) from the body after the status line.
    headers = {"npm-notice": header_value(exc.message)} if isinstance(exc, VersionNotFoundError) else None
    return json_response({"error": exc.message}, status=exc.status, headers=headers)


def notes(res: Resolution) -> dict[str, str]:
    """Response headers of a listing: the ``X-Feed-*`` counts and, for a reader missing versions that only a
    collaborator can save, an ``npm-notice`` (npm shows nothing else then: the version is simply not in the
    packument, and npm says ETARGET). npm prints the notice only from an answer it does not keep in its cache,
    so that answer is ``no-store``. Worked out when a page is built, never for a cached one."""
    notice = res.unsaved_notice
    if notice is None:
        return res.notes
    return {**res.notes, "npm-notice": header_value(notice), "Cache-Control": "no-store"}


@dataclass
class NpmContext:
    services: Services
    request: Request
    org: str
    project: str | None
    feed: Feed
    view: View
    caller: Caller
    registry_url: str  # ends with /npm/registry/

    async def require(self, role: Role, action: str) -> None:
        require_role(self.feed, self.caller, role, action)


def _split(rest: str) -> list[str]:
    """Path segments after ``/npm/registry/``, each percent-decoded once."""
    if not rest:
        return []
    segs = [unquote(s) for s in rest.split("/")]
    for s in segs:
        if s in (".", "..") or "\\" in s or "\x00" in s:
            raise BadRequestError("invalid path: '.' and '..' segments and backslashes are not allowed")
    return segs


def _name_and_rest(segs: list[str], *, for_publish: bool = False) -> tuple[NpmName, list[str]]:
    first = segs[0]
    if first.startswith("@"):
        if "/" in first:  # @scope%2fname, already decoded
            return parse_npm_name(first, for_publish=for_publish), segs[1:]
        if len(segs) < 2:
            raise BadRequestError(f"invalid package name {first!r}: a scope needs a name after it")
        return parse_npm_name(f"{first}/{segs[1]}", for_publish=for_publish), segs[2:]
    if "/" in first:
        raise BadRequestError(f"invalid package name {first!r}: only a scoped name may contain a slash")
    return parse_npm_name(first, for_publish=for_publish), segs[1:]


async def handle(
    services: Services, request: Request, org: str, project: str | None, feed_ref: str, rest: str
) -> Response:
    async def run() -> Response:
        segs = _split(rest)
        if segs[:3] == ["-", "v1", "login"]:
            # npm >= 9 tries web login first; a 4xx makes it fall back to the user/password flow.
            return json_response({"error": "web login is not supported; log in with a personal access token"}, 404)
        if request.method == "PUT" and len(segs) == 3 and segs[:2] == ["-", "user"]:
            return await _couch_login(services, request, org, segs)
        # Credentials before anything else, so anonymous callers learn nothing about which feeds exist.
        caller = await authenticate(services, org, request)
        feed_name, _, view_name = feed_ref.partition("@")
        feed = await services.feeds.find(org, project, feed_name)
        view = services.feeds.view(feed, view_name or None)
        registry_url = _registry_url(services, request, org, project, feed_ref)
        ctx = NpmContext(services, request, org, project, feed, view, caller, registry_url)
        await ctx.require(Role.READER, "reading packages")
        if segs == ["-", "ping"]:
            return json_response({})
        return await _dispatch(ctx, request.method, segs)

    return await guarded(render_error, run)


def _registry_url(services: Services, request: Request, org: str, project: str | None, feed_ref: str) -> str:
    scope = f"{org}/{project}" if project else org
    return f"{base_url(services, request)}/{scope}/_packaging/{feed_ref}/npm/registry/"


async def _couch_login(services: Services, request: Request, org: str, segs: list[str]) -> Response:
    """``npm login``/``adduser`` (the couch flow): the password must be a personal access token,
    which is handed back as the session token npm stores."""
    if not segs[2].startswith("org.couchdb.user:"):
        raise NotFoundError("unknown user endpoint")
    body = parse_json(await read_body(request, 64 * 1024))
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(password, str) or not password:
        raise UnauthorizedError("log in with a personal access token as the password")
    try:
        caller = await services.identity.authenticate(org, password)
    except UnauthorizedError:
        raise UnauthorizedError(
            "this feed has no passwords: enter a personal access token as the password "
            "(create one with `python -m feed_core token create` or POST /{org}/_apis/tokens/pats)"
        ) from None
    return json_response({"ok": True, "id": f"org.couchdb.user:{caller.user}", "token": password}, 201)


async def _dispatch(ctx: NpmContext, method: str, segs: list[str]) -> Response:
    if not segs:
        if method not in ("GET", "HEAD"):
            raise NotFoundError(f"no such npm endpoint: {method} on the registry root; name a package")
        return json_response({"db_name": ctx.feed.name, "view": ctx.view.name})
    if segs[0] == "-":
        return await _special(ctx, method, segs[1:])
    name, rest = _name_and_rest(segs, for_publish=method == "PUT" and len(segs) <= 2)
    if not rest:
        if method in ("GET", "HEAD"):
            return await _get_packument(ctx, name)
        if method == "PUT":
            return await _put_package(ctx, name)
    elif rest[0] == "-rev" and len(rest) == 2:
        if method == "PUT":
            return await _put_package(ctx, name, revision_edit=True)
        if method == "DELETE":
            return await _unpublish_all(ctx, name)
    elif rest[0] == "-" and len(rest) == 2 and method in ("GET", "HEAD"):
        return await _get_tarball(ctx, name, rest[1])
    elif rest[0] == "-" and len(rest) == 4 and rest[2] == "-rev" and method == "DELETE":
        return await _delete_tarball(ctx, name, rest[1])
    elif len(rest) == 1 and method in ("GET", "HEAD"):
        return await _get_version(ctx, name, rest[0])
    raise NotFoundError(f"no such npm endpoint: {method} {'/'.join(segs)}")


async def _special(ctx: NpmContext, method: str, segs: list[str]) -> Response:
    if segs == ["whoami"]:
        return json_response({"username": ctx.caller.user})
    if len(segs) == 2 and segs[0] == "user" and method == "GET":
        return json_response({"name": segs[1].removeprefix("org.couchdb.user:"), "email": ""})
    if segs == ["v1", "search"] and method == "GET":
        return await _search(ctx)
    if segs[:3] == ["npm", "v1", "security"] and segs[3:] in (["advisories", "bulk"], ["audits", "quick"]):
        # npm shows any error answer as an audit error ("audit endpoint returned an error", with this
        # message), where an empty one would read "found 0 vulnerabilities". A 4xx, as it is no fault
        # of the feed. Nothing is forwarded: the body lists every installed name, private ones included.
        raise NotFoundError(AUDIT_UNAVAILABLE)
    if segs == ["npm", "v1", "keys"]:
        return json_response({"keys": []})
    if segs and segs[0] == "package" and len(segs) >= 3:
        name, rest = _name_and_rest(segs[1:])
        if rest and rest[0] == "dist-tags" and len(rest) <= 2:
            return await _dist_tags(ctx, method, name, rest[1] if len(rest) == 2 else None)
    raise NotFoundError(f"no such npm endpoint: {method} -/{'/'.join(segs)}")


async def _lookup(ctx: NpmContext, name: NpmName, want_version: str | None = None) -> Lookup:
    return await ctx.services.resolver.look_up(
        ctx.feed, ctx.view, ctx.caller, PROTOCOL, name.full, now=ctx.services.clock(), want_version=want_version
    )


async def _resolve(ctx: NpmContext, lookup: Lookup) -> Resolution:
    return await ctx.services.resolver.resolve(lookup, ctx.services.clock())


def _as_view(res: Resolution) -> PackageView:
    versions = res.versions()
    if not versions:
        raise NotFoundError(
            res.explain_empty(
                f"package {res.lookup.name} has no versions in {res.lookup.feed.name}@{res.lookup.view.name}"
            )
        )
    return PackageView(res.meta, versions, res.dist_tags)


async def _get_packument(ctx: NpmContext, name: NpmName) -> Response:
    lookup = await _lookup(ctx, name)
    lookup.require_exists(f"package {name.full} does not exist in feed {ctx.feed.name}")
    abbreviated = (
        ABBREVIATED in ctx.request.headers.get("accept", "") and ctx.request.query_params.get("write") != "true"
    )
    # Built once for every Host: with BASE_URL for the base, which each response gets replaced.
    base = base_url(ctx.services, ctx.request)
    template_url = BASE_URL + ctx.registry_url.removeprefix(base)
    key = (ctx.feed.id, ctx.view.id, name.full, "a" if abbreviated else "f", template_url)
    built = ctx.services.pages.get(key, lookup.fingerprint, base)
    if built is None:
        res = await _resolve(ctx, lookup)

        def build() -> bytes:
            pkg = _as_view(res)
            revision = f"{pkg.meta.rev}-{ctx.feed.id[:8]}"
            return dumps_sliced(packument(pkg, template_url, abbreviated=abbreviated, revision=revision))

        big = len(res.held) + len(res.upstream) > _BUILD_IN_THREAD_VERSIONS
        body = await asyncio.to_thread(build) if big else build()
        built = ctx.services.pages.put(key, lookup.fingerprint, body, notes(res), base)
    return await respond(ctx.request, built, ABBREVIATED if abbreviated else "application/json", {})


async def _read(ctx: NpmContext, name: NpmName) -> PackageView:
    """What the feed itself holds in the view (for edits and dist-tags: upstream versions aside)."""
    pkg = await ctx.services.packages.read(ctx.feed, ctx.view, PROTOCOL, name.full)
    if pkg is None:
        raise NotFoundError(f"package {name.full} does not exist in {ctx.feed.name}@{ctx.view.name}")
    return pkg


async def _get_version(ctx: NpmContext, name: NpmName, ref: str) -> Response:
    want = ref if semver.try_parse_semver(ref) else None
    res = await _resolve(ctx, await _lookup(ctx, name, want))
    number = res.dist_tags.get(ref, ref)
    v = next((v for v in res.versions() if v.version == number), None)
    if v is None:
        raise VersionNotFoundError(res.explain_missing(number))
    return json_response(version_document(v, ctx.registry_url, abbreviated=False), headers=notes(res))


async def _held_or_upstream(
    ctx: NpmContext, name: NpmName, number: str
) -> PackageVersion | tuple[UpstreamSource, UpstreamVersion]:
    """The held version, or (for a collaborator or higher) the upstream one to save. Everything that refuses
    a version (role, upstream behaviour, release age, a deleted number) refuses it here, before any download."""
    held = await ctx.services.packages.version(ctx.feed, PROTOCOL, name.full, number)
    if held is not None:
        if held.deleted is not None:
            raise NotFoundError(
                f"{name.full}@{number} was deleted from feed {ctx.feed.name}; its number stays reserved"
            )
        if versions_in_view([held], ctx.view):
            return held
    res = await _resolve(ctx, await _lookup(ctx, name, number))
    if number in res.held:
        return res.held[number]  # saved by a concurrent request between the two reads
    if number not in res.upstream or not res.lookup.can_save:
        raise VersionNotFoundError(res.explain_missing(number))
    return res.upstream[number]


async def _get_tarball(ctx: NpmContext, name: NpmName, filename: str) -> Response:
    number = version_from_filename(name, filename)
    if number is None:
        raise NotFoundError(f"{filename} is not a tarball of {name.full}")
    found = await _held_or_upstream(ctx, name, number)
    if isinstance(found, PackageVersion):
        return await _serve_tarball(ctx, found)
    source, uv = found
    services = ctx.services
    key = (ctx.feed.id, PROTOCOL, name.full, number)

    async def commit(record: PackageVersion) -> PackageVersion:
        saved = await services.packages.commit_saved(ctx.feed, record)
        record_save(services, ctx.feed, saved)
        log.info(
            "saved %s@%s into %s from upstream %s for %s",
            name.full,
            number,
            ctx.feed.scope_label,
            source.name,
            ctx.caller.user,
        )
        return saved

    if is_internal(source):  # nothing to download: the other feed's blob is ours too

        async def fetch_and_commit() -> PackageVersion:
            return await commit(
                await services.upstreams.fetch_for_save(ctx.feed, ctx.caller, PROTOCOL, name.full, source, uv)
            )

        return await _serve_tarball(ctx, await services.upstreams.save(key, fetch_and_commit))
    plan = services.upstreams.plan_version_save(ctx.caller, PROTOCOL, name.full, source, uv)
    flight = services.upstreams.stream_save(key, plan, commit)
    if not streams_through(ctx.request):
        return await _serve_tarball(ctx, await flight.saved())

    async def stored() -> Response:
        return await _serve_tarball(ctx, await flight.saved())

    return await serve_flight(flight, stored, headers=_disposition(uv.filename))


async def _serve_tarball(ctx: NpmContext, v: PackageVersion) -> Response:
    record_download(ctx.services, ctx.request, ctx.feed.id, v.protocol, v.name, v.version)
    return await serve_blob(
        ctx.services, ctx.request, v.sha256, v.filename, size=v.size, headers=_disposition(v.filename)
    )


def _disposition(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


async def _put_package(ctx: NpmContext, name: NpmName, *, revision_edit: bool = False) -> Response:
    # Every whole-document PUT needs a contributor: say so before reading up to the upload limit.
    await ctx.require(Role.CONTRIBUTOR, "publishing or changing packages")
    body = await parse_json_body(await read_body(ctx.request, ctx.services.settings.max_upload_bytes))
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    # A publish is a PUT of a document the client did not read first: it has no `_rev` (npm deprecate
    # and star send back the document they read, `_rev` included, and `_attachments` empty).
    if not revision_edit and ("_rev" not in body or body.get("_attachments")):
        req: PublishRequest = await asyncio.to_thread(parse_publish, name, body)
        await ctx.services.packages.publish(
            ctx.feed,
            ctx.view,
            ctx.caller,
            NewVersion(
                PROTOCOL,
                name.full,
                req.version,
                req.manifest,
                req.content,
                req.filename,
                req.sha256,
                req.sha512_integrity,
                req.sha1,
                req.tags,
            ),
        )
        log.info("published %s@%s to %s by %s", name.full, req.version, ctx.feed.scope_label, ctx.caller.user)
        return json_response({"ok": True, "id": name.full, "success": True}, 201)
    return await _edit_package(ctx, name, body, revision_edit)


async def _edit_package(ctx: NpmContext, name: NpmName, body: dict[str, Any], revision_edit: bool) -> Response:
    """Non-publish writes of the whole document: deprecate (version fields) and, through the
    ``/-rev/`` URL, unpublishing single versions (the versions left out of the body)."""
    await ctx.require(Role.CONTRIBUTOR, "changing packages")
    if not ctx.view.is_local:
        raise BadRequestError(f"packages are changed through the feed, not through the view @{ctx.view.name}")
    versions = body.get("versions")
    if versions is None:
        return json_response({"ok": True})  # e.g. `npm owner`: maintainers are not kept by this feed
    if not isinstance(versions, dict):
        raise BadRequestError("'versions' must be an object")
    pkg = await ctx.services.packages.read(ctx.feed, ctx.view, PROTOCOL, name.full)
    stored = {v.version: v for v in pkg.versions} if pkg else {}
    await _refuse_unknown_versions(ctx, name, [n for n in versions if n not in stored])
    if pkg is None:
        raise NotFoundError(f"package {name.full} does not exist in {ctx.feed.name}@{ctx.view.name}")
    if revision_edit:
        removed = [n for n in stored if n not in versions]
        if removed:
            await ctx.services.packages.unpublish(ctx.feed, ctx.caller, PROTOCOL, name.full, removed)
            log.info("unpublished %s@%s from %s", name.full, ",".join(removed), ctx.feed.scope_label)
    messages: dict[str, str] = {}
    for number, doc in versions.items():
        if number in stored and isinstance(doc, dict):
            wanted = doc.get("deprecated") or ""
            if not isinstance(wanted, str):
                raise BadRequestError(f"versions[{number!r}].deprecated must be a string")
            if wanted != (stored[number].deprecated or ""):
                messages[number] = wanted
    if messages:
        await ctx.services.packages.deprecate(ctx.feed, ctx.caller, PROTOCOL, name.full, messages)
    return json_response({"ok": True})


async def _refuse_unknown_versions(ctx: NpmContext, name: NpmName, numbers: list[str]) -> None:
    """An edit sends back the document npm read, which may list upstream versions the feed does not hold;
    a version that is neither held nor offered upstream would be a publish without a tarball."""
    if not numbers:
        return
    offered = {v.version for v in (await _resolve(ctx, await _lookup(ctx, name))).versions()}
    unknown = next((n for n in numbers if n not in offered), None)
    if unknown is not None:
        raise BadRequestError(
            f"{name.full}@{unknown[:100]} is not in this feed: a new version is published with exactly one "
            "tarball attachment (`npm publish`), not by editing the package document"
        )


async def _unpublish_all(ctx: NpmContext, name: NpmName) -> Response:
    await ctx.require(Role.CONTRIBUTOR, "unpublishing packages")
    pkg = await _read(ctx, name)
    await ctx.services.packages.unpublish(ctx.feed, ctx.caller, PROTOCOL, name.full, [v.version for v in pkg.versions])
    return json_response({"ok": True})


async def _delete_tarball(ctx: NpmContext, name: NpmName, filename: str) -> Response:
    """The last step of ``npm unpublish pkg@ver``: the version is already deleted by then."""
    await ctx.require(Role.CONTRIBUTOR, "unpublishing packages")
    number = version_from_filename(name, filename)
    if number is None:
        raise NotFoundError(f"{filename} is not a tarball of {name.full}")
    pkg = await ctx.services.packages.read(ctx.feed, ctx.view, PROTOCOL, name.full)
    if pkg is not None and pkg.version(number) is not None:
        await ctx.services.packages.unpublish(ctx.feed, ctx.caller, PROTOCOL, name.full, [number])
    return json_response({"ok": True})


async def _dist_tags(ctx: NpmContext, method: str, name: NpmName, tag: str | None) -> Response:
    if method == "GET" and tag is None:
        # The tags clients resolve against: the feed's own over the upstreams', pointing at visible versions.
        res = await _resolve(ctx, await _lookup(ctx, name))
        return json_response(_as_view(res).dist_tags)
    if tag is None:
        raise NotFoundError("name the dist-tag in the URL")
    if not ctx.view.is_local:
        raise BadRequestError(f"dist-tags are changed through the feed, not through the view @{ctx.view.name}")
    if method == "PUT":
        value = parse_json(await read_body(ctx.request, 4096))
        if not isinstance(value, str):
            raise BadRequestError('the body must be a JSON string naming the version, e.g. "1.2.3"')
        await ctx.services.packages.set_tag(ctx.feed, ctx.caller, PROTOCOL, name.full, tag, value)
        return json_response({"ok": True}, 201)
    if method == "DELETE":
        await ctx.services.packages.set_tag(ctx.feed, ctx.caller, PROTOCOL, name.full, tag, None)
        return json_response({"ok": True})
    raise NotFoundError(f"no such npm endpoint: {method} dist-tags")


async def _in_view(ctx: NpmContext, entry: IndexEntry) -> IndexEntry | None:
    """``entry`` as the search of a release view shows it (its latest version in the view), or ``None`` when the
    view holds none of its versions. The index row says so; a row written before it recorded views is checked
    against the package itself."""
    if entry.views is not None:
        held = entry.views.get(ctx.view.id)
        return None if held is None else replace(entry, latest=held[0])
    pkg = await ctx.services.packages.read(ctx.feed, ctx.view, PROTOCOL, entry.name)
    return None if pkg is None else entry


async def _search(ctx: NpmContext) -> Response:
    q = ctx.request.query_params
    text = q.get("text", "")[:256]
    try:
        size = max(1, min(int(q.get("size", "20")), 250))
        offset = max(0, int(q.get("from", "0")))
    except ValueError:
        raise BadRequestError("size and from must be whole numbers") from None
    entries = await ctx.services.packages.search(ctx.feed, PROTOCOL, text)
    if not ctx.view.is_local:
        entries = [e for e in [await _in_view(ctx, e) for e in entries] if e is not None]
    page = entries[offset : offset + size]
    objects = [
        {
            "package": {
                "name": e.name,
                "scope": e.name[1:].split("/")[0] if e.name.startswith("@") else "unscoped",
                "version": e.latest,
                "description": e.description,
                "keywords": e.keywords,
                "date": e.modified,
                "links": {},
                "publisher": {"username": e.publisher, "email": ""},
                "maintainers": [{"username": e.publisher, "email": ""}],
            },
            "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0}},
            "searchScore": 1.0,
        }
        for e in page
    ]
    return json_response({"objects": objects, "total": len(entries), "time": ctx.services.clock().isoformat()})
