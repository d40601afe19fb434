"""The management REST API under ``/{org}[/{project}]/_apis/``, in Azure DevOps shapes.

Paths are matched case-insensitively on their fixed words (Azure clients send both ``feeds`` and
``Feeds``); ``api-version`` is accepted in any of the values Azure documents. Each route is one small
handler in :data:`ROUTES`, which also names its body and answer models: the OpenAPI document
(``feed_core.api.openapi``) is generated from that table.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from feed_core.api import recycle_bin_rest as recycle_bin
from feed_core.api import retention_rest
from feed_core.api.models import (
    CargoVersionUpdate,
    FeedCreateRequest,
    FeedUpdateRequest,
    MavenVersionUpdate,
    NpmVersionUpdate,
    NugetVersionUpdate,
    PermissionsPatch,
    PypiVersionUpdate,
    RestorePatch,
    TokenCreateRequest,
    UpackVersionUpdate,
    UpstreamingRequest,
    ViewCreateRequest,
    ViewUpdateRequest,
)
from feed_core.api.openapi import openapi_document
from feed_core.api.recycle_bin_shapes import (
    DeletedMavenVersionResponse,
    DeletedNpmVersionResponse,
    DeletedVersionResponse,
    OperationReference,
    RecycleBinBatch,
    RecycleBinPackage,
    RecycleBinPackageList,
    RecycleBinVersionUpdate,
)
from feed_core.api.responses import (
    DeletedFeedListResponse,
    FeedListResponse,
    FeedResponse,
    PermissionListResponse,
    ProvenanceResponse,
    TokenCreateResponse,
    TokenListResponse,
    UpstreamingResponse,
    VersionResponse,
    ViewListResponse,
    ViewResponse,
)
from feed_core.api.routing import Call, Route, render_error
from feed_core.api.shapes import (
    deleted_feed_response,
    feed_response,
    listed_feed_response,
    permission_response,
    provenance_response,
    token_response,
    version_response,
    view_response,
)
from feed_core.api.upstream_shapes import FeedHealthResponse, feed_health_response
from feed_core.api.usage_rest import DEFAULT_TOP as USAGE_TOP
from feed_core.api.usage_rest import get_usage
from feed_core.api.usage_shapes import FeedUsageResponse, usage_total
from feed_core.domain.access import caller_role, require_role
from feed_core.domain.cargo_names import validate_crate_name
from feed_core.domain.cargo_versions import validate_crate_version
from feed_core.domain.errors import BadRequestError, MethodNotAllowedError, NotFoundError
from feed_core.domain.ids import version_guid
from feed_core.domain.maven_layout import validate_artifact_id, validate_group_id, validate_version
from feed_core.domain.models import Caller, Feed, ViewVisibility
from feed_core.domain.names import parse_npm_name, validate_org, validate_project
from feed_core.domain.nuget_versions import lower_id, parse_version, validate_id
from feed_core.domain.python_dist import canonical_version, normalize_name, validate_project_name
from feed_core.domain.roles import Role, Scope
from feed_core.domain.upack import check_name as check_upack_name
from feed_core.domain.upack import check_version as check_upack_version
from feed_core.protocols.http import authenticate, guarded, json_response
from feed_core.service.container import Services
from feed_core.service.feeds import UNCHANGED, FeedUpdate, ViewUpdate, http_etag

log = logging.getLogger("feed_core.api")
_RESTORE_PATCH = '[{"op": "replace", "path": "/isDeleted", "value": false}]'


async def handle(services: Services, request: Request, org: str, project: str | None, rest: str) -> Response:
    async def run() -> Response:
        # Credentials first: a token is bound to its organization, so an anonymous caller (or one
        # from another organization) learns nothing about which organizations exist.
        caller = await authenticate(services, org, request)
        validate_org(org)
        if project is not None:
            validate_project(project)
        segs = [s for s in rest.split("/") if s]
        allowed = []
        for route in ROUTES:
            params = route.match(segs)
            if params is not None and route.method == request.method:
                return await route.handler(Call(services, request, org, project, caller, route, params))
            if params is not None:
                allowed.append(route.method)
        if not allowed:
            raise NotFoundError(f"no such API: {request.method} _apis/{rest}")
        methods = ", ".join(dict.fromkeys(allowed))
        response = render_error(MethodNotAllowedError(f"_apis/{rest} takes {methods}, not {request.method}"))
        response.headers["Allow"] = methods
        return response

    return await guarded(render_error, run)


def _administers(feed: Feed, caller: Caller) -> bool:
    """Whether the caller sees why upstreams fail (addresses, status codes): feed administrators only."""
    return caller_role(feed, caller) >= Role.ADMINISTRATOR


# --- tokens ----------------------------------------------------------------------------------------


async def _list_tokens(c: Call) -> Response:
    tokens = await c.services.identity.list_tokens(c.org, c.caller, c.query("user"))
    return c.answer(TokenListResponse(pat_tokens=[token_response(t) for t in tokens], continuation_token=None))


async def _create_token(c: Call) -> Response:
    body = await c.body(TokenCreateRequest)
    minted = await c.services.identity.mint(
        c.org,
        c.caller,
        user=body.user,
        display_name=body.display_name or "",
        scope=body.scope or Scope.READ,
        valid_to=body.valid_to,
    )
    log.info("token %s created for %s by %s", minted.token.authorization_id, minted.token.user, c.caller.user)
    shown = token_response(minted.token, minted.plaintext)
    return c.answer(TokenCreateResponse(pat_token=shown, pat_token_error="none"))  # noqa: S106 - no error


async def _revoke_token(c: Call) -> Response:
    auth_id = c.query("authorizationId")
    if not auth_id:
        raise BadRequestError("name the token to revoke with ?authorizationId=")
    await c.services.identity.revoke(c.org, c.caller, auth_id, c.query("user"))
    return c.empty()


# --- feeds -----------------------------------------------------------------------------------------


async def _list_feeds(c: Call) -> Response:
    feeds = await c.services.feeds.list_feeds(c.org, c.project, c.caller)
    usage = await c.services.usage.stored_in_org(c.org) if feeds else {}
    shown = [
        listed_feed_response(
            c.base,
            f,
            await c.services.health.get_all(f.id),
            detailed=_administers(f, c.caller),
            usage=usage_total(usage.get(f.id)),
        )
        for f in feeds
    ]
    return c.answer(FeedListResponse(count=len(shown), value=shown))


async def _create_feed(c: Call) -> Response:
    body = await c.body(FeedCreateRequest)
    feed = await c.services.feeds.create(
        c.org,
        c.project,
        c.caller,
        body.name,
        body.description or "",
        body.upstream_enabled is not False,
        body.upstream_sources or [],
        minimum_release_age_hours=body.minimum_release_age_hours,
        minimum_release_age_exemptions=body.minimum_release_age_exemptions,
    )
    log.info("feed %s created by %s", feed.scope_label, c.caller.user)
    return c.answer(feed_response(c.base, feed))


async def _feed_answer(c: Call, feed: Feed) -> Response:
    health = await c.services.health.get_all(feed.id)
    shown = feed_response(c.base, feed, health, detailed=_administers(feed, c.caller))
    return c.answer(shown, headers={"ETag": http_etag(feed.etag)})


async def _get_feed(c: Call) -> Response:
    feed = await c.feed()
    require_role(feed, c.caller, Role.READER, "reading the feed")
    return await _feed_answer(c, feed)


async def _update_feed(c: Call) -> Response:
    feed = await c.feed()
    body = await c.body(FeedUpdateRequest)
    sent = body.model_fields_set
    change = FeedUpdate(
        name=body.name,
        description=body.description,
        upstream_enabled=body.upstream_enabled,
        upstream_sources=body.upstream_sources,
        hide_deleted_package_versions=body.hide_deleted_package_versions,
        badges_enabled=body.badges_enabled,
        default_view_id=body.default_view_id,
        allow_upstream_name_conflict=body.allow_upstream_name_conflict,
        minimum_release_age_hours=(
            body.minimum_release_age_hours if "minimum_release_age_hours" in sent else UNCHANGED
        ),
        minimum_release_age_exemptions=(
            body.minimum_release_age_exemptions if "minimum_release_age_exemptions" in sent else UNCHANGED
        ),
    )
    updated = await c.services.feeds.update(feed, c.caller, change, c.request.headers.get("if-match"))
    return await _feed_answer(c, updated)


async def _delete_feed(c: Call) -> Response:
    feed = await c.feed()
    await c.services.feeds.delete(feed, c.caller)
    log.info("feed %s moved to the feed recycle bin by %s", feed.scope_label, c.caller.user)
    return c.empty()


async def _feed_health(c: Call) -> Response:
    feed = await c.feed()
    require_role(feed, c.caller, Role.READER, "reading upstream health")
    health = await c.services.health.get_all(feed.id)
    usage = usage_total(await c.services.usage.stored(feed))
    return c.answer(feed_health_response(feed, health, detailed=_administers(feed, c.caller), usage=usage))


# --- the feed recycle bin --------------------------------------------------------------------------


async def _list_deleted_feeds(c: Call) -> Response:
    feeds = await c.services.feeds.deleted_feeds(c.org, c.project, c.caller)
    shown = [deleted_feed_response(c.base, f, c.services.cleanup.purge_due(f)) for f in feeds]
    return c.answer(DeletedFeedListResponse(count=len(shown), value=shown))


async def _restore_feed(c: Call) -> Response:
    feed = await c.services.feeds.find_deleted(c.org, c.project, c.params["feedId"], c.caller)
    try:
        await c.body(RestorePatch)
    except BadRequestError as exc:
        raise BadRequestError(f"{exc.message}; to restore the feed send the JSON patch {_RESTORE_PATCH}") from None
    restored = await c.services.feeds.restore(feed, c.caller)
    log.info("feed %s restored by %s", restored.scope_label, c.caller.user)
    return c.answer(feed_response(c.base, restored))


async def _purge_feed(c: Call) -> Response:
    feed = await c.services.feeds.find_deleted(c.org, c.project, c.params["feedId"], c.caller)
    await c.services.cleanup.purge(feed, c.caller)
    log.info("feed %s permanently deleted by %s", feed.scope_label, c.caller.user)
    return c.empty()


# --- views and permissions -------------------------------------------------------------------------


async def _list_views(c: Call) -> Response:
    feed = await c.feed()
    require_role(feed, c.caller, Role.READER, "reading views")
    shown = [view_response(c.base, feed, v) for v in feed.views]
    return c.answer(ViewListResponse(count=len(shown), value=shown))


async def _create_view(c: Call) -> Response:
    feed = await c.feed()
    body = await c.body(ViewCreateRequest)
    view = await c.services.feeds.create_view(feed, c.caller, body.name, body.visibility or ViewVisibility.PRIVATE)
    return c.answer(view_response(c.base, feed, view))


async def _get_view(c: Call) -> Response:
    feed = await c.feed()
    require_role(feed, c.caller, Role.READER, "reading views")
    return c.answer(view_response(c.base, feed, c.services.feeds.view(feed, c.params["viewId"])))


async def _update_view(c: Call) -> Response:
    feed = await c.feed()
    body = await c.body(ViewUpdateRequest)
    view = await c.services.feeds.update_view(
        feed, c.caller, c.params["viewId"], ViewUpdate(body.name, body.visibility)
    )
    return c.answer(view_response(c.base, feed, view))


async def _delete_view(c: Call) -> Response:
    feed = await c.feed()
    await c.services.feeds.delete_view(feed, c.caller, c.params["viewId"])
    return c.empty()


def _permissions(feed: Feed) -> PermissionListResponse:
    shown = [permission_response(p.user, p.role, feed) for p in feed.permissions]
    return PermissionListResponse(count=len(shown), value=shown)


async def _get_permissions(c: Call) -> Response:
    feed = await c.feed()
    require_role(feed, c.caller, Role.ADMINISTRATOR, "reading permissions")
    return c.answer(_permissions(feed))


async def _set_permissions(c: Call) -> Response:
    feed = await c.feed()
    body = await c.body(PermissionsPatch)
    changes = [(p.identity_descriptor, p.role) for p in body.root]
    return c.answer(_permissions(await c.services.feeds.set_permissions(feed, c.caller, changes)))


# --- packages --------------------------------------------------------------------------------------


async def _provenance(c: Call) -> Response:
    """``Feeds/{feed}/Packages/{packageId}/Versions/{versionId}/provenance``."""
    feed = await c.feed()
    require_role(feed, c.caller, Role.READER, "reading provenance")
    package_id, version_id = c.params["packageId"], c.params["packageVersionId"]
    store = c.services.packages.store
    found = await store.package_by_id(feed.id, package_id)
    if found is None:
        raise NotFoundError(f"no package with id {package_id} in feed {feed.name}")
    protocol, name = found
    _, versions = await store.get_package(feed.id, protocol, name)
    match = next((v for v in versions if version_guid(feed.id, protocol, name, v.version) == version_id.lower()), None)
    if match is None:
        raise NotFoundError(f"no version with id {version_id} of {name} in feed {feed.name}")
    return c.answer(provenance_response(feed, match))


def _protocol(c: Call) -> str:
    """``npm``, ``pypi``, ``nuget``, ``maven``, ``cargo`` or ``upack``: the fixed word after ``feeds/{feedId}/`` in the
    route's path."""
    return c.route.path.split("/")[3]


def _package_name(c: Call) -> str:
    """The package the path names: npm ``name`` or ``@scope/name``; a PyPI name normalized (PEP 503); a NuGet
    id in lower case; a Maven ``groupId:artifactId`` as written (Maven names are case-sensitive); a crate name in
    lower case (its index-file name)."""
    if _protocol(c) == "cargo":
        return _checked(validate_crate_name, c.params["packageName"]).lower()
    if _protocol(c) == "upack":
        return check_upack_name(c.params["packageName"])
    if _protocol(c) == "maven":
        group_id = _checked(validate_group_id, c.params["groupId"])
        return f"{group_id}:{_checked(validate_artifact_id, c.params['artifactId'])}"
    if _protocol(c) == "pypi":
        return normalize_name(validate_project_name(c.params["packageName"]))
    if _protocol(c) == "nuget":
        return lower_id(validate_id(c.params["packageName"]))
    if "packageScope" in c.params:
        return parse_npm_name(f"@{c.params['packageScope']}/{c.params['unscopedPackageName']}").full
    return parse_npm_name(c.params["packageName"]).full


def _checked(check: Callable[[str], str], text: str) -> str:
    """A part of the path checked by the protocol's rules (a Maven groupId, a crate name; a 400 says why)."""
    try:
        return check(text)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


async def _get_upstreaming(c: Call) -> Response:
    """``versionsFromExternalUpstreams`` of one package; settable before the package exists."""
    feed, name = await c.feed(), _package_name(c)
    require_role(feed, c.caller, Role.READER, "reading upstream behaviour")
    behaviour = await c.services.resolver.behaviour(feed, _protocol(c), name)
    return c.answer(UpstreamingResponse(versions_from_external_upstreams=behaviour.value))


async def _set_upstreaming(c: Call) -> Response:
    feed, name = await c.feed(), _package_name(c)
    require_role(feed, c.caller, Role.ADMINISTRATOR, "changing upstream behaviour")
    behaviour = (await c.body(UpstreamingRequest)).versions_from_external_upstreams
    await c.services.resolver.set_behaviour(feed, _protocol(c), name, behaviour)
    log.info("upstream behaviour of %s in %s set to %s by %s", name, feed.scope_label, behaviour.value, c.caller.user)
    return c.answer(UpstreamingResponse(versions_from_external_upstreams=behaviour.value))


def _version_number(c: Call) -> str:
    """The version the path names; PyPI versions canonical (PEP 440); NuGet versions normalized, lower case; a Cargo
    version exactly as published (build metadata included)."""
    number = c.params["packageVersion"]
    if _protocol(c) == "maven":
        return _checked(validate_version, number)
    if _protocol(c) == "cargo":
        return _checked(validate_crate_version, number)
    if _protocol(c) == "upack":
        return check_upack_version(number)
    if _protocol(c) == "nuget":
        return parse_version(number).lower
    return canonical_version(number) if _protocol(c) == "pypi" else number


async def _get_version(c: Call) -> Response:
    """One package version, with where it came from."""
    show_deleted = c.flag("showDeleted")
    feed, protocol, name, number = await c.feed(), _protocol(c), _package_name(c), _version_number(c)
    require_role(feed, c.caller, Role.READER, "reading packages")
    meta, versions = await c.services.packages.store.get_package(feed.id, protocol, name)
    v = next((v for v in versions if v.version == number), None)
    if v is None or meta is None or (v.deleted and feed.hide_deleted_package_versions and not show_deleted):
        raise NotFoundError(f"{name} {number} does not exist in feed {feed.name}")
    return c.answer(version_response(c.base, feed, v, meta.dist_tags.get("latest")))


async def _promote(c: Call, feed: Feed, name: str, number: str, view_ref: str) -> None:
    view = c.services.feeds.view(feed, view_ref)
    await c.services.packages.promote(feed, c.caller, _protocol(c), name, number, view)


async def _update_npm_version(c: Call) -> Response:
    """Promote an npm version into a view and/or deprecate it."""
    feed, name, number = await c.feed(), _package_name(c), _version_number(c)
    body = await c.body(NpmVersionUpdate)
    if body.views is None and body.deprecate_message is None:
        raise BadRequestError("nothing to change: send views and/or deprecateMessage")
    if body.views is not None:
        await _promote(c, feed, name, number, body.views.value)
    if body.deprecate_message is not None:
        await c.services.packages.deprecate(feed, c.caller, "npm", name, {number: body.deprecate_message})
    return c.empty()


async def _update_pypi_version(c: Call) -> Response:
    """Promote a Python version into a view and/or yank it (PEP 592)."""
    feed, name, number = await c.feed(), _package_name(c), _version_number(c)
    body = await c.body(PypiVersionUpdate)
    if body.views is None and body.yanked is None:
        raise BadRequestError("nothing to change: send views and/or yanked")
    if body.views is not None:
        await _promote(c, feed, name, number, body.views.value)
    if body.yanked is not None:
        reason = body.yanked_reason[:1024] if body.yanked else None
        await c.services.packages.set_yanked(feed, c.caller, "pypi", name, number, reason)
    return c.empty()


async def _update_nuget_version(c: Call) -> Response:
    """Promote a NuGet version into a view and/or list or unlist it."""
    feed, name, number = await c.feed(), _package_name(c), _version_number(c)
    body = await c.body(NugetVersionUpdate)
    if body.views is None and body.listed is None:
        raise BadRequestError("nothing to change: send views and/or listed")
    if body.views is not None:
        await _promote(c, feed, name, number, body.views.value)
    if body.listed is not None:
        await c.services.packages.set_listed(feed, c.caller, "nuget", name, number, body.listed)
    return c.empty()


async def _update_maven_version(c: Call) -> Response:
    """Promote a Maven version into a view."""
    feed, name, number = await c.feed(), _package_name(c), _version_number(c)
    body = await c.body(MavenVersionUpdate)
    await _promote(c, feed, name, number, body.views.value)
    return c.empty()


async def _update_cargo_version(c: Call) -> Response:
    """Promote a Cargo version into a view and/or yank or unyank it (a yanked version is an unlisted one)."""
    feed, name, number = await c.feed(), _package_name(c), _version_number(c)
    body = await c.body(CargoVersionUpdate)
    if body.views is None and body.yanked is None:
        raise BadRequestError("nothing to change: send views and/or yanked")
    if body.views is not None:
        await _promote(c, feed, name, number, body.views.value)
    if body.yanked is not None:
        await c.services.packages.set_listed(feed, c.caller, "cargo", name, number, not body.yanked)
    return c.empty()


async def _update_upack_version(c: Call) -> Response:
    """Promote a Universal Package version into a view."""
    feed, name, number = await c.feed(), _package_name(c), _version_number(c)
    body = await c.body(UpackVersionUpdate)
    await _promote(c, feed, name, number, body.views.value)
    return c.empty()


async def _delete_version(c: Call) -> Response:
    """Unpublish a version; its number stays reserved."""
    feed, name, number = await c.feed(), _package_name(c), _version_number(c)
    await c.services.packages.unpublish(feed, c.caller, _protocol(c), name, [number])
    return c.empty()


# --- the document of this API ----------------------------------------------------------------------


@functools.cache
def _document() -> dict[str, Any]:
    return openapi_document(ROUTES)


async def _openapi(c: Call) -> Response:
    scope = f"{c.org}/{c.project}" if c.project else c.org
    return json_response({**_document(), "servers": [{"url": f"{c.base}/{scope}"}]})


# --- the table -------------------------------------------------------------------------------------

_FEED = "packaging/feeds/{feedId}"


def _upstreaming_routes(package: str) -> tuple[Route, ...]:
    return (
        Route(
            "GET",
            f"{package}/upstreaming",
            _get_upstreaming,
            "Whether a package takes versions from external upstreams",
            answer=UpstreamingResponse,
        ),
        Route(
            "PATCH",
            f"{package}/upstreaming",
            _set_upstreaming,
            "Set whether a package takes versions from external upstreams",
            body=UpstreamingRequest,
            answer=UpstreamingResponse,
        ),
    )


def _version_routes(
    package: str, update: Callable[[Call], Awaitable[Response]], body: type[BaseModel], *, deleted: int = 200
) -> tuple[Route, ...]:
    version = f"{package}/versions/{{packageVersion}}"
    return (
        Route("GET", version, _get_version, "Get a package version", answer=VersionResponse, query=("showDeleted",)),
        Route("PATCH", version, update, "Promote, deprecate, yank or unlist a package version", body=body),
        Route(
            "DELETE",
            version,
            _delete_version,
            "Unpublish a package version (its number stays reserved)",
            status=deleted,
        ),
    )


def _recycle_bin_routes(package: str, *, maven: bool = False) -> tuple[Route, ...]:
    """A protocol's recycle bin routes for one deleted version (``package``: the path up to the package)."""
    version = f"{package}/versions/{{packageVersion}}"
    npm = package.split("/")[3] == "npm"
    answer: type[BaseModel] = (
        DeletedMavenVersionResponse if maven else DeletedNpmVersionResponse if npm else DeletedVersionResponse
    )
    return (
        Route("GET", version, recycle_bin.get_binned_version, "Get a version in the recycle bin", answer=answer),
        Route(
            "PATCH",
            version,
            recycle_bin.restore_binned_version,
            'Restore a version from the recycle bin ({"deleted": false})',
            body=RecycleBinVersionUpdate,
        ),
        Route(
            "DELETE",
            version,
            recycle_bin.delete_binned_version,
            "Delete a version in the recycle bin permanently (its number stays reserved)",
            status=202 if maven else 200,  # as the Maven version delete, in Azure
        ),
    )


def _recycle_bin_batch(protocol: str) -> Route:
    return Route(
        "POST",
        f"{_FEED}/{protocol}/RecycleBin/packagesBatch",
        recycle_bin.recycle_bin_batch,
        "Restore, or delete permanently, several versions in the recycle bin",
        body=RecycleBinBatch,
        status=202,
    )


ROUTES: tuple[Route, ...] = (
    Route("GET", "openapi.json", _openapi, "This document (OpenAPI 3.1)"),
    Route("GET", "tokens/pats", _list_tokens, "List personal access tokens", answer=TokenListResponse, query=("user",)),
    Route(
        "POST",
        "tokens/pats",
        _create_token,
        "Create a personal access token",
        body=TokenCreateRequest,
        answer=TokenCreateResponse,
    ),
    Route(
        "DELETE",
        "tokens/pats",
        _revoke_token,
        "Revoke a personal access token",
        status=204,
        query=("authorizationId", "user"),
    ),
    Route("GET", "packaging/feeds", _list_feeds, "List the feeds the caller can read", answer=FeedListResponse),
    Route(
        "POST",
        "packaging/feeds",
        _create_feed,
        "Create a feed",
        body=FeedCreateRequest,
        answer=FeedResponse,
        status=201,
    ),
    Route("GET", _FEED, _get_feed, "Get a feed", answer=FeedResponse, response_headers=("ETag",)),
    Route(
        "PATCH",
        _FEED,
        _update_feed,
        "Change a feed's settings",
        body=FeedUpdateRequest,
        answer=FeedResponse,
        request_headers=("If-Match",),
        response_headers=("ETag",),
        errors=(412,),
    ),
    Route("DELETE", _FEED, _delete_feed, "Move a feed to the feed recycle bin", status=204),
    Route("GET", f"{_FEED}/health", _feed_health, "The health of a feed's upstream sources", answer=FeedHealthResponse),
    Route(
        "GET",
        f"{_FEED}/usage",
        get_usage,
        "A feed's storage usage, per protocol and per package, computed now",
        answer=FeedUsageResponse,
        query=("$top", "$skip", "protocolType"),
        top_default=USAGE_TOP,
    ),
    Route(
        "GET",
        f"{_FEED}/retentionpolicies",
        retention_rest.get_retention_policy,
        "Get a feed's retention policy (every field null when it has none)",
        answer=retention_rest.RetentionPolicyResponse,
    ),
    Route(
        "PUT",
        f"{_FEED}/retentionpolicies",
        retention_rest.set_retention_policy,
        "Set a feed's retention policy (no countLimit removes it)",
        body=retention_rest.RetentionPolicyRequest,
        answer=retention_rest.RetentionPolicyResponse,
    ),
    Route(
        "DELETE",
        f"{_FEED}/retentionpolicies",
        retention_rest.delete_retention_policy,
        "Remove a feed's retention policy",
        status=204,
    ),
    Route("GET", f"{_FEED}/views", _list_views, "List a feed's views", answer=ViewListResponse),
    Route(
        "POST",
        f"{_FEED}/views",
        _create_view,
        "Create a view",
        body=ViewCreateRequest,
        answer=ViewResponse,
        status=201,
    ),
    Route("GET", f"{_FEED}/views/{{viewId}}", _get_view, "Get a view", answer=ViewResponse),
    Route(
        "PATCH",
        f"{_FEED}/views/{{viewId}}",
        _update_view,
        "Rename a view or change its visibility",
        body=ViewUpdateRequest,
        answer=ViewResponse,
    ),
    Route("DELETE", f"{_FEED}/views/{{viewId}}", _delete_view, "Delete a view", status=204),
    Route("GET", f"{_FEED}/permissions", _get_permissions, "List a feed's permissions", answer=PermissionListResponse),
    Route(
        "PATCH",
        f"{_FEED}/permissions",
        _set_permissions,
        "Set users' roles in a feed",
        body=PermissionsPatch,
        answer=PermissionListResponse,
    ),
    Route(
        "GET",
        f"{_FEED}/packages/{{packageId}}/versions/{{packageVersionId}}/provenance",
        _provenance,
        "Where a package version came from",
        answer=ProvenanceResponse,
    ),
    # upstreaming before versions: npm/packages/x/upstreaming would also read as the versions of "packages"
    *_upstreaming_routes(f"{_FEED}/npm/packages/{{packageName}}"),
    *_upstreaming_routes(f"{_FEED}/npm/packages/@{{packageScope}}/{{unscopedPackageName}}"),
    *_upstreaming_routes(f"{_FEED}/pypi/packages/{{packageName}}"),
    *_upstreaming_routes(f"{_FEED}/nuget/packages/{{packageName}}"),
    *_upstreaming_routes(f"{_FEED}/maven/groups/{{groupId}}/artifacts/{{artifactId}}"),
    *_upstreaming_routes(f"{_FEED}/cargo/packages/{{packageName}}"),
    *_upstreaming_routes(f"{_FEED}/upack/packages/{{packageName}}"),
    *_version_routes(f"{_FEED}/npm/{{packageName}}", _update_npm_version, NpmVersionUpdate),
    *_version_routes(f"{_FEED}/npm/@{{packageScope}}/{{unscopedPackageName}}", _update_npm_version, NpmVersionUpdate),
    *_version_routes(f"{_FEED}/pypi/packages/{{packageName}}", _update_pypi_version, PypiVersionUpdate),
    *_version_routes(f"{_FEED}/nuget/packages/{{packageName}}", _update_nuget_version, NugetVersionUpdate),
    *_version_routes(f"{_FEED}/cargo/packages/{{packageName}}", _update_cargo_version, CargoVersionUpdate),
    *_version_routes(f"{_FEED}/upack/packages/{{packageName}}", _update_upack_version, UpackVersionUpdate),
    # Azure answers a Maven delete with 202
    *_version_routes(
        f"{_FEED}/maven/groups/{{groupId}}/artifacts/{{artifactId}}",
        _update_maven_version,
        MavenVersionUpdate,
        deleted=202,
    ),
    Route(
        "GET",
        f"{_FEED}/RecycleBin/Packages",
        recycle_bin.list_binned_packages,
        "List the packages with versions in the feed's recycle bin",
        answer=RecycleBinPackageList,
        query=("protocolType", "packageNameQuery", "$top", "$skip"),
        top_default=recycle_bin.LIST_TOP,
    ),
    Route(
        "DELETE",
        f"{_FEED}/RecycleBin/Packages",
        recycle_bin.empty_recycle_bin,
        "Empty the feed's recycle bin: its versions are hidden now and deleted permanently by the gc job",
        answer=OperationReference,
        status=202,
    ),
    Route(
        "GET",
        f"{_FEED}/RecycleBin/Packages/{{packageId}}",
        recycle_bin.get_binned_package,
        "A package's versions in the recycle bin",
        answer=RecycleBinPackage,
    ),
    *_recycle_bin_routes(f"{_FEED}/npm/RecycleBin/packages/{{packageName}}"),
    *_recycle_bin_routes(f"{_FEED}/npm/RecycleBin/packages/@{{packageScope}}/{{unscopedPackageName}}"),
    *_recycle_bin_routes(f"{_FEED}/pypi/RecycleBin/packages/{{packageName}}"),
    *_recycle_bin_routes(f"{_FEED}/nuget/RecycleBin/packages/{{packageName}}"),
    *_recycle_bin_routes(f"{_FEED}/cargo/RecycleBin/packages/{{packageName}}"),
    *_recycle_bin_routes(f"{_FEED}/upack/RecycleBin/packages/{{packageName}}"),
    *_recycle_bin_routes(f"{_FEED}/maven/RecycleBin/groups/{{groupId}}/artifacts/{{artifactId}}", maven=True),
    *(_recycle_bin_batch(protocol) for protocol in ("npm", "pypi", "nuget", "cargo", "maven", "upack")),
    Route(
        "GET",
        "packaging/feedrecyclebin",
        _list_deleted_feeds,
        "List the deleted feeds the caller administers",
        answer=DeletedFeedListResponse,
    ),
    Route(
        "PATCH",
        "packaging/feedrecyclebin/{feedId}",
        _restore_feed,
        "Restore a deleted feed",
        body=RestorePatch,
        answer=FeedResponse,
    ),
    Route("DELETE", "packaging/feedrecyclebin/{feedId}", _purge_feed, "Delete a feed permanently now", status=204),
)
