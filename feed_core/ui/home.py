"""The organization's home page: the feeds the signed-in user can read, each with its packages per protocol,
its upstream sources' health and its storage usage as last measured, at a glance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.responses import Response

from feed_core.domain.access import caller_role
from feed_core.domain.models import Feed
from feed_core.domain.roles import Role
from feed_core.storage.usage import StoredUsage
from feed_core.ui.package_data import PROTOCOL_LABELS, PROTOCOLS
from feed_core.ui.page import Ui, UiRoute


@dataclass(frozen=True)
class FeedSummary:
    feed: Feed
    packages: dict[str, int]
    upstreams: int
    healthy: int
    failing: list[str]
    role: Role
    usage: StoredUsage | None = None

    @property
    def total(self) -> int:
        return sum(self.packages.values())

    @property
    def protocols(self) -> list[str]:
        """The protocols the feed serves something for: packages, or an upstream source."""
        used = {p for p, n in self.packages.items() if n} | {s.protocol for s in self.feed.upstream_sources}
        return [p for p in PROTOCOLS if p in used]


async def summarize(ui: Ui, feed: Feed, usage: StoredUsage | None = None) -> FeedSummary:
    counts, health = await asyncio.gather(ui.services.package_list.counts(feed), ui.services.health.get_all(feed.id))
    enabled = [s for s in feed.upstream_sources if s.enabled]
    failing = [s.name for s in enabled if s.id in health and health[s.id].status != "ok"]
    return FeedSummary(
        feed=feed,
        packages={p: counts.get(p, 0) for p in PROTOCOLS},
        upstreams=len(enabled),
        healthy=len(enabled) - len(failing),
        failing=failing,
        role=caller_role(feed, ui.caller),
        usage=usage,
    )


async def _home(ui: Ui) -> Response:
    feeds = await ui.services.feeds.list_feeds(ui.org, ui.project, ui.caller)
    usage = await ui.services.usage.stored_in_org(ui.org) if feeds else {}  # one query, whatever the feeds
    ordered = sorted(feeds, key=lambda f: f.name.lower())
    summaries = await asyncio.gather(*(summarize(ui, f, usage.get(f.id)) for f in ordered))
    return ui.page("home.html", feeds=summaries, labels=PROTOCOL_LABELS)


ROUTES = (UiRoute("GET", (), _home),)
