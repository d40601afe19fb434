"""Feed settings, for the feed's administrators: upstream sources (with their health), views, permissions, and
general settings (description, minimum release age).

Every change goes through the feed service exactly as the REST API's does (``feed_core.api.rest``), and the
service checks the role again. A refused change (400, 409, or 412 when the feed changed since the page was
loaded) shows the section again with the message and, where it is safe, what was typed; credentials typed
into a form are never shown again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.errors import BadRequestError, FeedError, NotFoundError
from feed_core.domain.models import Feed, ViewVisibility
from feed_core.domain.roles import Role, parse_role
from feed_core.domain.source_models import PROTOCOLS
from feed_core.service.feeds import UNCHANGED, FeedUpdate, ViewUpdate, http_etag
from feed_core.ui import upstream_edits as edits
from feed_core.ui.page import Ui, UiRoute
from feed_core.ui.upstream_health import rows

log = logging.getLogger("feed_core.ui")

SECTIONS = {"upstreams": "Upstream sources", "views": "Views", "permissions": "Permissions", "general": "General"}
#: Shown again after a refused form; never credentials.
_SECRET_FIELDS = frozenset({"csrf", "password", "token"})
#: Each visibility: its short label, and who may use the view as an upstream source.
VISIBILITIES = (
    (ViewVisibility.PRIVATE, "Private", "only this feed's members read it; no other feed can use it"),
    (ViewVisibility.COLLECTION, "Organization", "other feeds of this organization may use it as an upstream source"),
    (ViewVisibility.ORGANIZATION, "Other organizations", "feeds of other organizations here may use it too"),
    (ViewVisibility.AAD_TENANT, "Directory tenant", "as other organizations, for the whole directory tenant"),
)
ROLES = (Role.READER, Role.COLLABORATOR, Role.CONTRIBUTOR, Role.ADMINISTRATOR)
ROLE_HELP = {
    Role.READER: "installs what the feed holds",
    Role.COLLABORATOR: "installs, and so saves versions from upstream sources",
    Role.CONTRIBUTOR: "publishes, promotes, deprecates and unpublishes too",
    Role.ADMINISTRATOR: "changes the feed's settings too",
}
STALE = (
    "The feed's settings changed since this page was loaded (someone else saved a change). "
    "Reload the page and make your change again."
)


@dataclass(frozen=True)
class Refused:
    """A change the services refused, to show on the section with the values that were sent."""

    status: int
    message: str
    values: dict[str, str]


async def _admin_feed(ui: Ui) -> Feed:
    feed = await ui.services.feeds.find(ui.org, ui.project, ui.params["feed"])
    require_role(feed, ui.caller, Role.ADMINISTRATOR, "changing feed settings")
    return feed


def _section(ui: Ui) -> str:
    section = ui.params.get("section", "upstreams").lower()
    if section not in SECTIONS:
        raise NotFoundError(f"feed settings have no section {section[:40]!r}; see {', '.join(SECTIONS)}")
    return section


async def _show(ui: Ui) -> Response:
    feed = await _admin_feed(ui)
    section = _section(ui)
    if section == "upstreams" and (source_id := ui.query("edit")):
        return _edit_source(ui, feed, source_id, None)
    confirm = _confirmation(ui, feed, section)
    if confirm is not None:
        etag = http_etag(feed.etag)
        return ui.page("settings_confirm.html", feed=feed, section=section, sections=SECTIONS, etag=etag, **confirm)
    return await _render(ui, feed, section, None)


async def _render(ui: Ui, feed: Feed, section: str, refused: Refused | None) -> Response:
    context: dict[str, Any] = {
        "feed": feed,
        "section": section,
        "sections": SECTIONS,
        "etag": http_etag(feed.etag),
        "problem": refused.message if refused else "",
        "values": refused.values if refused else {},
    }
    if section == "upstreams":
        others = [f for f in await ui.services.feeds.list_feeds(ui.org, ui.project, ui.caller) if f.id != feed.id]
        context.update(
            rows=rows(feed, await ui.services.health.get_all(feed.id)),
            public_sources=sorted(ui.services.settings.public_sources.items(), key=lambda kv: kv[0].lower()),
            other_feeds=sorted(others, key=lambda f: f.name.lower()),
            protocols=PROTOCOLS,
        )
    elif section == "views":
        context.update(visibilities=VISIBILITIES)
    elif section == "permissions":
        context.update(roles=ROLES, role_help=ROLE_HELP)
    return ui.page(f"settings_{section}.html", refused.status if refused else 200, **context)


def _edit_source(ui: Ui, feed: Feed, source_id: str, refused: Refused | None) -> Response:
    """The page that changes one source: name, URL, its own minimum release age, credentials."""
    src = next((s for s in feed.upstream_sources if s.id == source_id), None)
    if src is None:
        raise NotFoundError("that upstream source is not in the feed (any more)")
    return ui.page(
        "settings_source.html",
        refused.status if refused else 200,
        feed=feed,
        section="upstreams",
        sections=SECTIONS,
        etag=http_etag(feed.etag),
        source=src,
        problem=refused.message if refused else "",
        values=refused.values if refused else {},
    )


def _confirmation(ui: Ui, feed: Feed, section: str) -> dict[str, Any] | None:
    """The "are you sure" page a remove or delete link opens (its form posts the action), or ``None``."""
    if section == "upstreams" and (source_id := ui.query("remove")):
        src = next((s for s in feed.upstream_sources if s.id == source_id), None)
        if src is None:
            raise NotFoundError("that upstream source is not in the feed (any more)")
        what = f"the upstream source {src.name}"
        detail = "Versions already saved from it stay in the feed; new ones no longer come from it."
        return {"what": what, "detail": detail, "action": "remove", "key": "source", "value": src.id}
    if section == "views" and (view_ref := ui.query("delete")):
        view = ui.services.feeds.view(feed, view_ref)
        detail = "Packages promoted to it stay in the feed; clients using the view's URL stop working."
        return {"what": f"the view @{view.name}", "detail": detail, "action": "delete", "key": "view", "value": view.id}
    if section == "permissions" and (user := ui.query("remove")):
        perm = next((p for p in feed.permissions if p.user.lower() == user.lower()), None)
        if perm is None:
            raise NotFoundError(f"{user[:60]!r} has no role in feed {feed.name!r}")
        detail = "They keep their tokens, but can no longer use this feed (unless they administer the organization)."
        what = f"the role of {perm.user}"
        return {"what": what, "detail": detail, "action": "remove", "key": "user", "value": perm.user}
    return None


async def _post(ui: Ui) -> Response:
    fields = await ui.form()
    feed = await _admin_feed(ui)
    section = _section(ui)
    try:
        notice = await _HANDLERS[section](ui, feed, fields)
    except FeedError as exc:
        if exc.status not in (400, 409, 412):
            raise
        message = STALE if exc.status == 412 else exc.message
        values = {k: v for k, v in fields.items() if k not in _SECRET_FIELDS}
        fresh = await ui.services.feeds.find(ui.org, ui.project, ui.params["feed"])
        refused = Refused(exc.status, message, values)
        if section == "upstreams" and fields.get("action") == "edit":
            return _edit_source(ui, fresh, fields.get("source", ""), refused)
        return await _render(ui, fresh, section, refused)
    log.info("%s changed %s of feed %s in the web UI: %s", ui.caller.user, section, feed.scope_label, notice)
    return ui.done(ui.feed_url(feed, "settings", section), notice)


# --- upstream sources ------------------------------------------------------------------------------


async def _upstreams(ui: Ui, feed: Feed, fields: dict[str, str]) -> str:
    action = fields.get("action", "")
    sources = feed.upstream_sources
    if action == "add-public":
        drafts, notice = [*edits.kept(sources), edits.public(fields.get("public", ""))], "Added the public source."
    elif action == "add-custom":
        drafts, notice = [*edits.kept(sources), edits.custom(fields)], "Added the custom registry."
    elif action == "add-internal":
        drafts, notice = [*edits.kept(sources), edits.internal(fields)], "Added the feed's view as a source."
    elif action == "remove":
        drafts, notice = edits.remove(sources, fields.get("source", ""))
    elif action == "edit":
        drafts, notice = edits.edit(sources, fields)
    elif action == "" and "order" in fields:
        drafts, notice = edits.reorder(sources, fields["order"]), "Saved the new order."
    else:
        drafts, notice = edits.list_action(sources, action)
    change = FeedUpdate(upstream_sources=edits.validated(drafts))
    await ui.services.feeds.update(feed, ui.caller, change, fields.get("etag") or None)
    return notice


# --- views -----------------------------------------------------------------------------------------


def _visibility(text: str) -> ViewVisibility:
    for v, _, _ in VISIBILITIES:
        if v.value == text:
            return v
    raise BadRequestError("choose the view's visibility")


async def _views(ui: Ui, feed: Feed, fields: dict[str, str]) -> str:
    action, feeds = fields.get("action", ""), ui.services.feeds
    if action == "create":
        name = fields.get("name", "").strip()
        view = await feeds.create_view(feed, ui.caller, name, _visibility(fields.get("visibility", "")))
        return f"Created the view @{view.name}."
    if action not in ("update", "delete"):
        raise BadRequestError(f"unknown action {action[:60]!r}")
    view = feeds.view(feed, fields.get("view", "") or "-")
    if action == "update":
        name = fields.get("name", "").strip()
        change = ViewUpdate(name if name and name != view.name else None, _visibility(fields.get("visibility", "")))
        updated = await feeds.update_view(feed, ui.caller, view.id, change)
        return f"Saved the view @{updated.name}."
    await feeds.delete_view(feed, ui.caller, view.id)
    return f"Deleted the view @{view.name}."


# --- permissions -----------------------------------------------------------------------------------


async def _permissions(ui: Ui, feed: Feed, fields: dict[str, str]) -> str:
    action, user = fields.get("action", ""), fields.get("user", "").strip()
    if not user:
        raise BadRequestError("name the user")
    if action == "set":
        try:
            role = parse_role(fields.get("role", ""))
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        if role is Role.NONE:
            raise BadRequestError("choose a role; to take a user's role away, remove it")
        await ui.services.feeds.set_permissions(feed, ui.caller, [(user, role)])
        return f"{user} is now {role.display_name}."
    if action == "remove":
        await ui.services.feeds.set_permissions(feed, ui.caller, [(user, Role.NONE)])
        return f"Removed the role of {user}."
    raise BadRequestError(f"unknown action {action[:60]!r}")


# --- general ---------------------------------------------------------------------------------------


def _exemptions(text: str) -> list[str]:
    return [p for line in text.replace(",", "\n").splitlines() if (p := line.strip())]


async def _general(ui: Ui, feed: Feed, fields: dict[str, str]) -> str:
    if fields.get("action", "") != "save":
        raise BadRequestError(f"unknown action {fields.get('action', '')[:60]!r}")
    change = FeedUpdate(
        description=fields.get("description", "").strip(),
        upstream_enabled=fields.get("upstream_enabled") == "on",
        minimum_release_age_hours=edits.hours(fields.get("minimum_release_age_hours", ""), "minimum release age"),
        minimum_release_age_exemptions=_exemptions(fields.get("minimum_release_age_exemptions", ""))
        if "minimum_release_age_exemptions" in fields
        else UNCHANGED,
    )
    await ui.services.feeds.update(feed, ui.caller, change, fields.get("etag") or None)
    return "Saved the general settings."


_HANDLERS: dict[str, Callable[[Ui, Feed, dict[str, str]], Awaitable[str]]] = {
    "upstreams": _upstreams,
    "views": _views,
    "permissions": _permissions,
    "general": _general,
}

ROUTES = (
    UiRoute("GET", ("feed", "{feed}", "settings"), _show),
    UiRoute("GET", ("feed", "{feed}", "settings", "{section}"), _show),
    UiRoute("POST", ("feed", "{feed}", "settings"), _post),
    UiRoute("POST", ("feed", "{feed}", "settings", "{section}"), _post),
)
