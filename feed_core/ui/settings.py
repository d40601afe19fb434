"""Feed settings, for the feed's administrators: upstream sources (with their health), views, permissions, and
general settings (description, minimum release age).

Every change goes through the feed service exactly as the REST API's does (``feed_core.api.rest``), and the
service checks the role again. A refused change (400, 409, or 412 when the feed changed since the page was
loaded) shows the section again with the message and, where it is safe, what was typed; credentials typed
into a form are never shown again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.errors import FeedError, NotFoundError
from feed_core.domain.models import Feed
from feed_core.domain.roles import Role
from feed_core.domain.source_models import PROTOCOLS
from feed_core.service.feeds import http_etag
from feed_core.ui.page import Ui, UiRoute
from feed_core.ui.settings_actions import HANDLERS, VISIBILITIES
from feed_core.ui.upstream_health import rows

log = logging.getLogger("feed_core.ui")

SECTIONS = {"upstreams": "Upstream sources", "views": "Views", "permissions": "Permissions", "general": "General"}
#: Shown again after a refused form; never credentials.
_SECRET_FIELDS = frozenset({"csrf", "password", "token"})
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
    elif section == "general":
        context.update(usage=await ui.services.usage.stored(feed))
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
        notice = await HANDLERS[section](ui, feed, fields)
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


ROUTES = (
    UiRoute("GET", ("feed", "{feed}", "settings"), _show),
    UiRoute("GET", ("feed", "{feed}", "settings", "{section}"), _show),
    UiRoute("POST", ("feed", "{feed}", "settings"), _post),
    UiRoute("POST", ("feed", "{feed}", "settings", "{section}"), _post),
)
