"""The package page, ``…/_artifacts/feed/{feed}/{protocol}/{name}``: its versions (with views, times, where each
came from, who saved it, the verified hash and its state), the versions the feed holds back and why, how to
install a version and what it depends on, and its readme. Tabs are links (``?tab=``), so each works without
JavaScript; ``?view=`` shows the package through a view, ``?version=`` picks the version of the install and readme
tabs. Owner actions are links to their confirmation pages (``package_actions``), shown only to roles that may use
them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from feed_core.domain.errors import BadRequestError, NotFoundError
from feed_core.domain.roles import Role
from feed_core.domain.upstream_rules import Behaviour
from feed_core.protocols.http import base_url
from feed_core.ui import package_data as data
from feed_core.ui.package_actions import version_actions
from feed_core.ui.page import Ui, UiRoute
from feed_core.ui.render import path_segment

TABS = (("versions", "Versions"), ("blocked", "Blocked versions"), ("install", "Install"), ("readme", "Readme"))


def _page_number(ui: Ui, count: int) -> int:
    text = ui.query("page", "1")
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise BadRequestError("page must be a whole number from 1")
    last = max(1, -(-count // data.PAGE_SIZE))
    return min(int(text), last)


def _handler(protocol: str) -> Callable[[Ui], Awaitable[Response]]:
    async def package(ui: Ui) -> Response:
        feed = await ui.services.feeds.find(ui.org, ui.project, ui.params["feed"])
        name = data.stored_name(protocol, ui.params["name"])
        tab = ui.query("tab", "versions").lower()
        if tab not in dict(TABS):
            raise BadRequestError(f"there is no tab {tab[:40]!r}: use versions, blocked, install or readme")
        view = ui.services.feeds.view(feed, ui.query("view") or None)
        p = await data.load_package(ui.services, feed, view, ui.caller, protocol, name)
        shown_view = None if view.is_local else view.name

        def tab_url(key: str, **extra: str | int | None) -> str:
            return ui.feed_url(feed, protocol, name, tab=key, view=shown_view, **extra)

        def action_url(key: str, version: str | None = None, **extra: str) -> str:
            return ui.feed_url(feed, protocol, name, key, version=version, **extra)

        context: dict[str, object] = {}
        if tab == "versions":
            number = _page_number(ui, len(p.versions))
            start = (number - 1) * data.PAGE_SIZE
            context.update(
                rows=p.versions[start : start + data.PAGE_SIZE],
                page_number=number,
                pages=max(1, -(-len(p.versions) // data.PAGE_SIZE)),
                actions_for=lambda row: version_actions(feed, protocol, row.record, p.role) if row.live else [],
            )
        elif tab == "blocked":
            now = ui.services.clock()
            context.update(available=lambda w: data.available_in_words(w.available, now))
        else:
            wanted = ui.query("version")
            row = p.row(data.version_number(protocol, wanted)) if wanted else p.latest
            if wanted and row is None:
                raise NotFoundError(f"{name} {wanted[:100]} is not a version this page shows")
            context.update(selected=row)
            if row is not None and tab == "install":
                declared = (
                    await data.maven_dependencies(ui.services, row.record)
                    if protocol == "maven"
                    else data.dependencies(protocol, row.record.manifest)
                )
                context.update(dependencies=declared, snippets=data.install_snippets(p, row, _organization_url(ui)))
            elif row is not None:
                context.update(readme=await data.readme(ui.services, protocol, row))
        return ui.page(
            "package.html",
            p=p,
            tab=tab,
            tabs=TABS,
            tab_url=tab_url,
            action_url=action_url,
            label=data.PROTOCOL_LABELS[protocol],
            allows_external=p.behaviour is Behaviour.ALLOW_EXTERNAL,
            can_administer=p.role >= Role.ADMINISTRATOR,
            can_contribute=p.role >= Role.CONTRIBUTOR,
            views=list(feed.views),
            shown_view=shown_view,
            **context,
        )

    return package


ROUTES: tuple[UiRoute, ...] = tuple(
    UiRoute("GET", ("feed", "{feed}", protocol, "{name}"), _handler(protocol)) for protocol in data.PROTOCOLS
)


def _organization_url(ui: Ui) -> str:
    """The organization's URL as the Universal Packages client takes it (``--organization``)."""
    return f"{base_url(ui.services, ui.request)}/{path_segment(ui.org)}"
