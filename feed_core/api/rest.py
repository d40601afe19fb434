"""The management REST API under ``/{org}[/{project}]/_apis/``, in Azure DevOps shapes.

Paths are matched case-insensitively on their fixed words (Azure clients send both ``feeds`` and
``Feeds``); ``api-version`` is accepted in any of the values Azure documents.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from feed_core.api.shapes import (
    feed_json,
    permission_json,
    provenance_json,
    token_json,
    version_json,
    view_json,
)
from feed_core.api.upstream_shapes import feed_health_response
from feed_core.domain.access import caller_role, require_role
from feed_core.domain.clock import parse_iso
from feed_core.domain.errors import BadRequestError, FeedError, NotFoundError
from feed_core.domain.ids import version_guid
from feed_core.domain.models import Caller, Feed, ViewVisibility
from feed_core.domain.names import parse_npm_name, validate_org, validate_project
from feed_core.domain.python_dist import canonical_version, normalize_name, validate_project_name
from feed_core.domain.roles import Role, parse_role, parse_scope
from feed_core.domain.upstream_rules import parse_behaviour
from feed_core.domain.upstream_sources import parse_source_requests
from feed_core.protocols.http import authenticate, base_url, guarded, json_response, parse_json, read_body
from feed_core.service.container import Services
from feed_core.service.feeds import UNCHANGED, FeedUpdate, ViewUpdate, http_etag

log = logging.getLogger("feed_core.api")
_BODY_LIMIT = 1024 * 1024


def render_error(exc: FeedError) -> Response:
    """Azure DevOps error body: clients show ``message``."""
    return json_response(
        {
            "$id": "1",
            "innerException": None,
            "message": exc.message,
            "typeName": type(exc).__name__,
            "typeKey": type(exc).__name__,
            "errorCode": 0,
            "eventId": 3000,
        },
        status=exc.status,
    )


def _bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadRequestError(f"{key} must be true or false")
    return value


def _str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{key} must be a string")
    return value


async def _json_body(request: Request) -> Any:
    return parse_json(await read_body(request, _BODY_LIMIT))


async def _object_body(request: Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    return body


def _listing(items: list[Any]) -> dict[str, Any]:
    return {"count": len(items), "value": items}


async def handle(services: Services, request: Request, org: str, project: str | None, rest: str) -> Response:
    async def run() -> Response:
        # Credentials first: a token is bound to its organization, so an anonymous caller (or one
        # from another organization) learns nothing about which organizations exist.
        caller = await authenticate(services, org, request)
        validate_org(org)
        if project is not None:
            validate_project(project)
        segs = [s for s in rest.split("/") if s]
        lower = [s.lower() for s in segs]
        method = request.method
        base = base_url(services, request)
        if lower[:2] == ["tokens", "pats"] and len(segs) == 2:
            return await _tokens(services, request, org, caller, method)
        if lower[:2] == ["packaging", "feeds"]:
            return await _feeds(services, request, org, project, caller, method, segs[2:], lower[2:], base)
        if lower[:2] == ["packaging", "feedrecyclebin"]:
            return await _recycle_bin(services, request, org, project, caller, method, segs[2:], base)
        raise NotFoundError(f"no such API: {method} _apis/{rest}")

    return await guarded(render_error, run)


async def _tokens(services: Services, request: Request, org: str, caller: Caller, method: str) -> Response:
    q = request.query_params
    if method == "GET":
        tokens = await services.identity.list_tokens(org, caller, q.get("user"))
        return json_response({"patTokens": [token_json(t) for t in tokens], "continuationToken": None})
    if method == "POST":
        body = await _object_body(request)
        valid_to = None
        if (raw := _str(body, "validTo")) is not None:
            try:
                valid_to = parse_iso(raw)
            except ValueError:
                raise BadRequestError(f"validTo {raw!r} is not an ISO-8601 date") from None
            if valid_to.tzinfo is None:
                raise BadRequestError("validTo must include a time zone, e.g. 2027-01-01T00:00:00Z")
        try:
            scope = parse_scope(_str(body, "scope") or "vso.packaging")
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        minted = await services.identity.mint(
            org,
            caller,
            user=_str(body, "user"),
            display_name=_str(body, "displayName") or "",
            scope=scope,
            valid_to=valid_to,
        )
        log.info("token %s created for %s by %s", minted.token.authorization_id, minted.token.user, caller.user)
        return json_response({"patToken": token_json(minted.token, minted.plaintext), "patTokenError": "none"})
    if method == "DELETE":
        auth_id = q.get("authorizationId")
        if not auth_id:
            raise BadRequestError("name the token to revoke with ?authorizationId=")
        await services.identity.revoke(org, caller, auth_id, q.get("user"))
        return Response(status_code=204)
    raise NotFoundError(f"no such API: {method} tokens/pats")


async def _feeds(
    services: Services,
    request: Request,
    org: str,
    project: str | None,
    caller: Caller,
    method: str,
    segs: list[str],
    lower: list[str],
    base: str,
) -> Response:
    if not segs:
        if method == "GET":
            feeds = await services.feeds.list_feeds(org, project, caller)
            return json_response(
                _listing(
                    [
                        feed_json(base, f, await services.health.get_all(f.id), detailed=_administers(f, caller))
                        for f in feeds
                    ]
                )
            )
        if method == "POST":
            body = await _object_body(request)
            name = _str(body, "name")
            if not name:
                raise BadRequestError("a feed needs a name")
            sources = body.get("upstreamSources")
            feed = await services.feeds.create(
                org,
                project,
                caller,
                name,
                _str(body, "description") or "",
                _bool(body, "upstreamEnabled") is not False,
                [] if sources is None else parse_source_requests(sources),
                minimum_release_age_hours=body.get("minimumReleaseAgeHours"),
                minimum_release_age_exemptions=body.get("minimumReleaseAgeExemptions"),
            )
            log.info("feed %s created by %s", feed.scope_label, caller.user)
            return json_response(feed_json(base, feed), 201)
        raise NotFoundError(f"no such API: {method} feeds")
    feed = await services.feeds.find(org, project, segs[0])
    sub, sub_lower = segs[1:], lower[1:]
    if not sub:
        return await _feed(services, request, feed, caller, method, base)
    if sub_lower[0] == "views":
        return await _views(services, request, feed, caller, method, sub[1:], base)
    if sub_lower == ["health"] and method == "GET":
        require_role(feed, caller, Role.READER, "reading upstream health")
        health = await services.health.get_all(feed.id)
        return json_response(
            feed_health_response(feed, health, detailed=_administers(feed, caller)).model_dump(
                by_alias=True, mode="json", exclude_unset=True
            )
        )
    if sub_lower == ["permissions"]:
        return await _permissions(services, request, feed, caller, method)
    if (
        sub_lower[0] == "packages"
        and len(sub_lower) == 5
        and sub_lower[2] == "versions"
        and sub_lower[4] == "provenance"
    ):
        return await _provenance(services, feed, caller, method, sub[1], sub[3])
    if (
        sub_lower[0] in ("npm", "pypi")
        and len(sub_lower) > 2
        and sub_lower[1] == "packages"
        and (sub_lower[-1] == "upstreaming")
    ):
        return await _upstreaming(services, request, feed, caller, method, sub_lower[0], sub[2:-1])
    if sub_lower[0] == "npm":
        return await _npm_version(services, request, feed, caller, method, sub[1:], base)
    if sub_lower[0] == "pypi":
        return await _pypi_version(services, request, feed, caller, method, sub[1:], base)
    raise NotFoundError(f"no such API: {method} feeds/{'/'.join(segs)}")


async def _feed(services: Services, request: Request, feed: Feed, caller: Caller, method: str, base: str) -> Response:
    if method == "GET":
        require_role(feed, caller, Role.READER, "reading the feed")
        health = await services.health.get_all(feed.id)
        detailed = _administers(feed, caller)
        return json_response(feed_json(base, feed, health, detailed=detailed), headers={"ETag": http_etag(feed.etag)})
    if method == "PATCH":
        body = await _object_body(request)
        sources = body.get("upstreamSources")
        change = FeedUpdate(
            name=_str(body, "name"),
            description=_str(body, "description"),
            upstream_enabled=_bool(body, "upstreamEnabled"),
            upstream_sources=None if sources is None else parse_source_requests(sources),
            hide_deleted_package_versions=_bool(body, "hideDeletedPackageVersions"),
            badges_enabled=_bool(body, "badgesEnabled"),
            default_view_id=_str(body, "defaultViewId"),
            allow_upstream_name_conflict=_bool(body, "allowUpstreamNameConflict"),
            minimum_release_age_hours=body.get("minimumReleaseAgeHours", UNCHANGED),
            minimum_release_age_exemptions=body.get("minimumReleaseAgeExemptions", UNCHANGED),
        )
        updated = await services.feeds.update(feed, caller, change, request.headers.get("if-match"))
        health = await services.health.get_all(updated.id)
        detailed = _administers(updated, caller)
        return json_response(
            feed_json(base, updated, health, detailed=detailed), headers={"ETag": http_etag(updated.etag)}
        )
    if method == "DELETE":
        await services.feeds.delete(feed, caller)
        log.info("feed %s moved to the feed recycle bin by %s", feed.scope_label, caller.user)
        return Response(status_code=204)
    raise NotFoundError(f"no such API: {method} feed")


def _administers(feed: Feed, caller: Caller) -> bool:
    """Whether the caller sees why upstreams fail (addresses, status codes): feed administrators only."""
    return caller_role(feed, caller) >= Role.ADMINISTRATOR


_RESTORE_PATCH = '[{"op": "replace", "path": "/isDeleted", "value": false}]'


async def _recycle_bin(
    services: Services,
    request: Request,
    org: str,
    project: str | None,
    caller: Caller,
    method: str,
    segs: list[str],
    base: str,
) -> Response:
    """Azure's feed recycle bin: list deleted feeds, restore one (PATCH ``/isDeleted``), purge one now (DELETE)."""
    if not segs and method == "GET":
        feeds = await services.feeds.deleted_feeds(org, project, caller)
        return json_response(
            _listing(
                [{**feed_json(base, f), "scheduledPermanentDeleteDate": services.cleanup.purge_due(f)} for f in feeds]
            )
        )
    if len(segs) == 1 and method in ("PATCH", "DELETE"):
        feed = await services.feeds.find_deleted(org, project, segs[0], caller)
        if method == "DELETE":
            await services.cleanup.purge(feed, caller)
            log.info("feed %s permanently deleted by %s", feed.scope_label, caller.user)
            return Response(status_code=204)
        body = await _json_body(request)
        if not (
            isinstance(body, list)
            and len(body) == 1
            and isinstance(body[0], dict)
            and body[0].get("op") == "replace"
            and str(body[0].get("path", "")).lower() == "/isdeleted"
            and body[0].get("value") is False
        ):
            raise BadRequestError(f"to restore the feed send the JSON patch {_RESTORE_PATCH}")
        restored = await services.feeds.restore(feed, caller)
        log.info("feed %s restored by %s", restored.scope_label, caller.user)
        return json_response(feed_json(base, restored))
    raise NotFoundError(f"no such API: {method} feedrecyclebin/{'/'.join(segs)}")


def _visibility(body: dict[str, Any]) -> ViewVisibility | None:
    raw = _str(body, "visibility")
    if raw is None:
        return None
    for v in ViewVisibility:
        if v.value.lower() == raw.lower():
            return v
    raise BadRequestError("visibility must be private, collection, organization or aadTenant")


async def _views(
    services: Services, request: Request, feed: Feed, caller: Caller, method: str, segs: list[str], base: str
) -> Response:
    if not segs:
        if method == "GET":
            require_role(feed, caller, Role.READER, "reading views")
            return json_response(_listing([view_json(base, feed, v) for v in feed.views]))
        if method == "POST":
            body = await _object_body(request)
            name = _str(body, "name")
            if not name:
                raise BadRequestError("a view needs a name")
            view = await services.feeds.create_view(feed, caller, name, _visibility(body) or ViewVisibility.PRIVATE)
            return json_response(view_json(base, feed, view), 201)
    elif len(segs) == 1:
        if method == "GET":
            require_role(feed, caller, Role.READER, "reading views")
            return json_response(view_json(base, feed, services.feeds.view(feed, segs[0])))
        if method == "PATCH":
            body = await _object_body(request)
            view = await services.feeds.update_view(
                feed, caller, segs[0], ViewUpdate(_str(body, "name"), _visibility(body))
            )
            return json_response(view_json(base, feed, view))
        if method == "DELETE":
            await services.feeds.delete_view(feed, caller, segs[0])
            return Response(status_code=204)
    raise NotFoundError(f"no such API: {method} views/{'/'.join(segs)}")


async def _permissions(services: Services, request: Request, feed: Feed, caller: Caller, method: str) -> Response:
    if method == "GET":
        require_role(feed, caller, Role.ADMINISTRATOR, "reading permissions")
        return json_response(_listing([permission_json(p.user, p.role, feed) for p in feed.permissions]))
    if method == "PATCH":
        body = await _json_body(request)
        if not isinstance(body, list):
            raise BadRequestError('the body must be a list of {"role": ..., "identityDescriptor": ...}')
        changes = []
        for i, item in enumerate(body):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("identityDescriptor"), str)
                or not isinstance(item.get("role"), str)
            ):
                raise BadRequestError(f"permission [{i}] needs string 'role' and 'identityDescriptor'")
            try:
                role = parse_role(item["role"])
            except ValueError as exc:
                raise BadRequestError(str(exc)) from None
            changes.append((item["identityDescriptor"], role))
        updated = await services.feeds.set_permissions(feed, caller, changes)
        return json_response(_listing([permission_json(p.user, p.role, updated) for p in updated.permissions]))
    raise NotFoundError(f"no such API: {method} permissions")


async def _provenance(
    services: Services, feed: Feed, caller: Caller, method: str, package_id: str, version_id: str
) -> Response:
    """``Feeds/{feed}/Packages/{packageId}/Versions/{versionId}/provenance``."""
    if method != "GET":
        raise NotFoundError(f"no such API: {method} provenance")
    require_role(feed, caller, Role.READER, "reading provenance")
    found = await services.packages.store.package_by_id(feed.id, package_id)
    if found is None:
        raise NotFoundError(f"no package with id {package_id} in feed {feed.name}")
    protocol, name = found
    _, versions = await services.packages.store.get_package(feed.id, protocol, name)
    match = next((v for v in versions if version_guid(feed.id, protocol, name, v.version) == version_id.lower()), None)
    if match is None:
        raise NotFoundError(f"no version with id {version_id} of {name} in feed {feed.name}")
    return json_response(provenance_json(feed, match))


def _package_name(protocol: str, segs: list[str]) -> str:
    """The package named by URL segments: ``name`` or, for npm, ``@scope/name`` (the ``@`` literal)."""
    if protocol == "npm":
        if len(segs) == 2 and segs[0].startswith("@"):
            return parse_npm_name(f"{segs[0]}/{segs[1]}").full
        if len(segs) == 1:
            return parse_npm_name(segs[0]).full
    elif len(segs) == 1:
        return normalize_name(validate_project_name(segs[0]))
    raise NotFoundError(f"expected {protocol}/packages/{{name}}/upstreaming")


async def _upstreaming(
    services: Services, request: Request, feed: Feed, caller: Caller, method: str, protocol: str, segs: list[str]
) -> Response:
    """``versionsFromExternalUpstreams`` of one package; settable before the package exists."""
    name = _package_name(protocol, segs)
    if method == "GET":
        require_role(feed, caller, Role.READER, "reading upstream behaviour")
        behaviour = await services.resolver.behaviour(feed, protocol, name)
        return json_response({"versionsFromExternalUpstreams": behaviour.value})
    if method == "PATCH":
        require_role(feed, caller, Role.ADMINISTRATOR, "changing upstream behaviour")
        body = await _object_body(request)
        raw = body.get("versionsFromExternalUpstreams")
        if not isinstance(raw, str):
            raise BadRequestError('send {"versionsFromExternalUpstreams": "auto" | "allowExternalVersions"}')
        try:
            behaviour = parse_behaviour(raw)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        await services.resolver.set_behaviour(feed, protocol, name, behaviour)
        log.info("upstream behaviour of %s in %s set to %s by %s", name, feed.scope_label, behaviour.value, caller.user)
        return json_response({"versionsFromExternalUpstreams": behaviour.value})
    raise NotFoundError(f"no such API: {method} upstreaming")


async def _npm_version(
    services: Services, request: Request, feed: Feed, caller: Caller, method: str, segs: list[str], base: str
) -> Response:
    """``npm/{name}/versions/{v}`` and ``npm/@{scope}/{name}/versions/{v}``."""
    if len(segs) == 4 and segs[0].startswith("@"):
        name_text, rest = f"{segs[0]}/{segs[1]}", segs[2:]
    elif len(segs) == 3:
        name_text, rest = segs[0], segs[1:]
    else:
        raise NotFoundError("expected npm/{package}/versions/{version}")
    if rest[0].lower() != "versions":
        raise NotFoundError("expected npm/{package}/versions/{version}")
    return await _version(services, request, feed, caller, method, "npm", parse_npm_name(name_text).full, rest[1], base)


async def _pypi_version(
    services: Services, request: Request, feed: Feed, caller: Caller, method: str, segs: list[str], base: str
) -> Response:
    """``pypi/packages/{name}/versions/{v}``: names normalized (PEP 503), versions canonical (PEP 440)."""
    if len(segs) != 4 or segs[0].lower() != "packages" or segs[2].lower() != "versions":
        raise NotFoundError("expected pypi/packages/{name}/versions/{version}")
    name = normalize_name(validate_project_name(segs[1]))
    return await _version(services, request, feed, caller, method, "pypi", name, canonical_version(segs[3]), base)


async def _version(
    services: Services,
    request: Request,
    feed: Feed,
    caller: Caller,
    method: str,
    protocol: str,
    name: str,
    number: str,
    base: str,
) -> Response:
    """One package version: GET (with provenance), PATCH (promote, deprecate, yank), DELETE (number stays reserved)."""
    packages = services.packages
    if method == "GET":
        require_role(feed, caller, Role.READER, "reading packages")
        meta, versions = await packages.store.get_package(feed.id, protocol, name)
        v = next((v for v in versions if v.version == number), None)
        show_deleted = request.query_params.get("showDeleted", "").lower() == "true"
        if v is None or meta is None or (v.deleted and feed.hide_deleted_package_versions and not show_deleted):
            raise NotFoundError(f"{name} {number} does not exist in feed {feed.name}")
        return json_response(version_json(base, feed, v, meta.dist_tags.get("latest")))
    if method == "PATCH":
        body = await _object_body(request)
        changed = False
        views = body.get("views")
        if views is not None:
            if not isinstance(views, dict) or views.get("op") != "add" or not isinstance(views.get("value"), str):
                raise BadRequestError('views must be {"op": "add", "path": "/views/-", "value": "<view>"}')
            view = services.feeds.view(feed, views["value"])
            await packages.promote(feed, caller, protocol, name, number, view)
            changed = True
        message = body.get("deprecateMessage")
        if message is not None and protocol == "npm":
            if not isinstance(message, str):
                raise BadRequestError("deprecateMessage must be a string")
            await packages.deprecate(feed, caller, protocol, name, {number: message})
            changed = True
        yanked = body.get("yanked")
        if yanked is not None and protocol == "pypi":
            reason = body.get("yankedReason", "")
            if not isinstance(yanked, bool) or not isinstance(reason, str):
                raise BadRequestError('send {"yanked": true|false, "yankedReason": "..."}')
            await packages.set_yanked(feed, caller, protocol, name, number, reason[:1024] if yanked else None)
            changed = True
        if not changed:
            extra = "deprecateMessage" if protocol == "npm" else "yanked"
            raise BadRequestError(f"nothing to change: send views and/or {extra}")
        return Response(status_code=200)
    if method == "DELETE":
        await packages.unpublish(feed, caller, protocol, name, [number])
        return Response(status_code=200)
    raise NotFoundError(f"no such API: {method} {protocol} version")
