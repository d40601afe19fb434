"""What each feed settings form does: the posted fields turned into the feed service's calls, the same calls the
REST API makes (``feed_core.api.rest``). Each handler returns the notice shown after it; a refusal is the
service's own error (400, 403, 404, 409, 412), which ``feed_core.ui.settings`` shows on the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from feed_core.domain.errors import BadRequestError
from feed_core.domain.models import Feed, ViewVisibility
from feed_core.domain.roles import Role, parse_role
from feed_core.service.feeds import UNCHANGED, FeedUpdate, ViewUpdate
from feed_core.ui import upstream_edits as edits
from feed_core.ui.page import Ui

#: Each visibility: its short label, and who may use the view as an upstream source.
VISIBILITIES = (
    (ViewVisibility.PRIVATE, "Private", "only this feed's members read it; no other feed can use it"),
    (ViewVisibility.COLLECTION, "Organization", "other feeds of this organization may use it as an upstream source"),
    (ViewVisibility.ORGANIZATION, "Other organizations", "feeds of other organizations here may use it too"),
    (ViewVisibility.AAD_TENANT, "Directory tenant", "as other organizations, for the whole directory tenant"),
)

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


HANDLERS: dict[str, Callable[[Ui, Feed, dict[str, str]], Awaitable[str]]] = {
    "upstreams": _upstreams,
    "views": _views,
    "permissions": _permissions,
    "general": _general,
}
