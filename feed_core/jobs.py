"""The timer jobs: refresh upstream metadata of held packages, check upstream health, collect
garbage (purge deleted feeds past retention, remove unreferenced blobs, then measure every feed's storage
usage), and apply the feeds' retention policies (``retention_job``); and the one-off rewrite of package index
rows from before they recorded views and origins.

All are plain async functions over the services, so the Azure timer functions, the CLI
(``python -m feed_core jobs refresh|health|gc|retention|reindex``) and ``serve --with-jobs`` all run the same code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from feed_core.domain.clock import iso
from feed_core.domain.models import Feed, ViewVisibility
from feed_core.domain.source_models import InternalSource, UpstreamSource
from feed_core.domain.usage import FeedTallies
from feed_core.retention_job import RetentionReport, run_retention
from feed_core.service.cleanup import GcReport
from feed_core.service.container import Services
from feed_core.service.upstream import declared_digests, enabled_sources, is_internal, source_key
from feed_core.storage.health import UpstreamHealth

log = logging.getLogger("feed_core.jobs")
__all__ = ["RetentionReport", "run_gc", "run_health", "run_refresh", "run_reindex", "run_retention"]
PROTOCOLS_WITH_UPSTREAMS = ("npm", "pypi", "nuget", "maven", "cargo", "upack")
#: Protocols whose saved versions take their upstream's later yanks and unyanks (the index line's ``yanked``).
YANKS_FOLLOW_UPSTREAM = ("cargo",)
_SHARED_SAME_ORG = {ViewVisibility.COLLECTION, ViewVisibility.ORGANIZATION, ViewVisibility.AAD_TENANT}
_SHARED_OTHER_ORG = {ViewVisibility.ORGANIZATION, ViewVisibility.AAD_TENANT}


# --- garbage collection ----------------------------------------------------------------------------


async def run_gc(services: Services, *, dry_run: bool = False) -> GcReport:
    """Purge deleted feeds past retention and remove what nothing references (see service/cleanup.py); then
    recompute every feed's storage usage (service/usage.py), which the feed list and health show, from the version
    rows the collection's reference scan read (after its purges): the rows of every feed are read once."""
    tallies = None
    if not dry_run:  # the feeds listed before the scan: it saw all their rows
        tallies = FeedTallies(f.id for f in await services.catalog.all_feeds(include_deleted=True))
    report = await services.cleanup.collect_garbage(dry_run=dry_run, usage=tallies)
    report.sessions_removed = await services.sessions.sweep(dry_run=dry_run)
    log.info("%s", report.summary())
    if tallies is not None:
        log.info("%s", (await services.usage.refresh_all(tallies)).summary())
    return report


# --- index rows ------------------------------------------------------------------------------------


@dataclass
class ReindexReport:
    feeds: int = 0
    rewritten: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return f"reindex: {self.rewritten} index rows rewritten in {self.feeds} feeds in {self.seconds:.1f} s"


async def run_reindex(services: Services, *, every_row: bool = False, concurrency: int = 8) -> ReindexReport:
    """Rewrite the index rows written before the index recorded each package's views and origins (every row
    with ``every_row``), from the packages' rows: until then the web UI's feed page lists those packages with
    their latest version only, under no view or source filter."""
    started = time.monotonic()
    report = ReindexReport()
    packages = services.packages
    for feed in await services.catalog.all_feeds():
        report.feeds += 1
        for protocol in PROTOCOLS_WITH_UPSTREAMS:
            entries = await packages.store.list_index(feed.id, protocol)
            names = [e.name for e in entries if every_row or e.origin is None]
            for start in range(0, len(names), concurrency):
                batch = names[start : start + concurrency]
                await asyncio.gather(*(packages.reindex(feed, protocol, name) for name in batch))
                report.rewritten += len(batch)
    report.seconds = time.monotonic() - started
    log.info("%s", report.summary())
    return report


# --- health ----------------------------------------------------------------------------------------


@dataclass
class HealthReport:
    feeds: int = 0
    upstreams: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        failed = "; ".join(self.failed) if self.failed else "none"
        return (
            f"health: {self.feeds} feeds, {self.upstreams} upstreams checked, {len(self.failed)} failed "
            f"({failed}) in {self.seconds:.1f} s"
        )


async def _internal_problem(services: Services, feed: Feed, source: InternalSource) -> str | None:
    org = source.internal_upstream_collection_id or feed.org
    upstream = await services.catalog.get_feed_by_id(org, source.internal_upstream_feed_id)
    if upstream is None:
        return f"the upstream feed of {source.location} no longer exists: remove this source or point it elsewhere"
    view = upstream.view_by_id(source.internal_upstream_view_id)
    if view is None:
        return f"the view of {source.location} no longer exists: pick another view of feed {upstream.name}"
    shared = _SHARED_SAME_ORG if org.lower() == feed.org.lower() else _SHARED_OTHER_ORG
    if view.visibility not in shared:
        return (
            f"view {upstream.name}@{view.name} is no longer shared (visibility {view.visibility.value}): its owner "
            "must set its visibility to collection (same organization) or organization"
        )
    return None


async def run_health(services: Services, *, concurrency: int = 8) -> HealthReport:
    """Probe every enabled upstream once (shared upstreams once per run) and store what was seen."""
    started = time.monotonic()
    report = HealthReport()
    probes: dict[str, asyncio.Task[tuple[str | None, int]]] = {}
    gate = asyncio.Semaphore(concurrency)

    async def probe(source: UpstreamSource) -> tuple[str | None, int]:
        async with gate:
            return await services.upstreams.probe(source)

    for feed in await services.catalog.all_feeds():
        sources = [s for p in PROTOCOLS_WITH_UPSTREAMS for s in enabled_sources(feed, p)]
        if not sources:
            continue
        report.feeds += 1
        known = await services.health.get_all(feed.id)
        results: list[tuple[UpstreamSource, str | None, int]] = []
        for source in sources:
            if isinstance(source, InternalSource):
                results.append((source, await _internal_problem(services, feed, source), 0))
                continue
            key = source_key(feed.id, source)
            if key not in probes:
                probes[key] = asyncio.create_task(probe(source))
            reason, latency = await probes[key]
            results.append((source, reason, latency))
        now = iso(services.clock())
        for source, reason, latency in results:
            sid = source.id
            health = known.get(sid) or UpstreamHealth(sid)
            health.last_checked = now
            health.latency_ms = latency if reason is None else None
            if reason is None:
                health.status, health.last_success, health.consecutive_failures = "ok", now, 0
                health.status_details = []
            else:
                health.status, health.last_failure = "failed", now
                health.consecutive_failures += 1
                health.status_details = [{"reason": reason}]
                report.failed.append(f"{feed.name}/{source.name}: {reason}")
            await services.health.put(feed.id, health)
            report.upstreams += 1
    report.seconds = time.monotonic() - started
    log.info("%s", report.summary())
    return report


# --- refresh ---------------------------------------------------------------------------------------


@dataclass
class RefreshReport:
    feeds: int = 0
    packages: int = 0
    revalidated: int = 0
    flagged_removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    flagged_changed: list[str] = field(default_factory=list)  # saved versions whose upstream declares other bytes
    yanked: list[str] = field(default_factory=list)  # saved versions yanked (Cargo) because their upstream did
    unyanked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    kept_private: int = 0  # private packages whose external upstreams were not asked
    complete: bool = True
    seconds: float = 0.0

    def summary(self) -> str:
        state = "complete" if self.complete else "stopped at its time budget; the next run resumes there"
        return (
            f"refresh: {self.feeds} feeds, {self.packages} packages, {self.revalidated} upstream documents "
            f"revalidated, {len(self.flagged_removed)} saved versions flagged as removed upstream, "
            f"{len(self.flagged_changed)} as changed upstream, "
            f"{len(self.yanked)} yanked and {len(self.unyanked)} unyanked as upstream, "
            f"{len(self.failures)} upstream failures, {self.kept_private} private packages not asked of external "
            f"upstreams, {self.seconds:.1f} s ({state})"
        )


@dataclass(frozen=True)
class _Item:
    key: str  # ordering and resume key: org|feed id|protocol|name
    feed: Feed
    protocol: str
    name: str


async def _work(services: Services) -> tuple[int, list[_Item]]:
    """How many feeds have external upstreams, and every (feed, package) to revalidate, in order."""
    items = []
    feeds = set()
    for feed in await services.catalog.all_feeds():
        for protocol in PROTOCOLS_WITH_UPSTREAMS:
            external = [s for s in enabled_sources(feed, protocol) if not is_internal(s)]
            if not external:
                continue
            feeds.add(feed.id)
            for entry in await services.packages.store.list_index(feed.id, protocol):
                items.append(_Item(f"{feed.org.lower()}|{feed.id}|{protocol}|{entry.name}", feed, protocol, entry.name))
    return len(feeds), sorted(items, key=lambda i: i.key)


async def run_refresh(services: Services, *, budget_seconds: float = 240.0, concurrency: int = 8) -> RefreshReport:
    """Revalidate, for every feed, the upstream metadata of each package it holds, and flag saved
    versions their upstream no longer lists. Stops within ``budget_seconds`` and resumes next run."""
    started = time.monotonic()
    deadline = started + budget_seconds
    report = RefreshReport()
    report.feeds, items = await _work(services)
    cursor = str((await services.health.get_cursor("refresh")).get("after", ""))
    # A cycle goes once through every held package; a run that ran out of time leaves a cursor and
    # the next run finishes the cycle from there (then the cycle after starts from the beginning).
    ordered = [i for i in items if i.key > cursor]
    seen: dict[tuple[str, str, str], asyncio.Task[Any]] = {}
    done = 0
    for start in range(0, len(ordered), concurrency):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            report.complete = False
            break
        batch = ordered[start : start + concurrency]
        try:
            async with asyncio.timeout(remaining):
                await asyncio.gather(*(_refresh_item(services, item, seen, report) for item in batch))
        except TimeoutError:
            report.complete = False
            break
        done += len(batch)
        await services.health.put_cursor("refresh", {"after": batch[-1].key})
    report.packages = done
    if report.complete:
        await services.health.put_cursor("refresh", {})
    report.seconds = time.monotonic() - started
    log.info("%s", report.summary())
    return report


async def _refresh_item(
    services: Services, item: _Item, seen: dict[tuple[str, str, str], asyncio.Task[Any]], report: RefreshReport
) -> None:
    sources = [s for s in enabled_sources(item.feed, item.protocol) if not is_internal(s)]
    if sources and not await services.resolver.may_ask_external(item.feed, item.protocol, item.name):
        report.kept_private += 1  # a private name is never sent to an external upstream
        return
    answers = {}
    for source in sources:
        key = (source_key(item.feed.id, source), item.protocol, item.name)
        if key not in seen:  # feeds sharing an upstream revalidate each package once per run
            seen[key] = asyncio.create_task(services.upstreams.revalidate(item.feed, source, item.protocol, item.name))
            report.revalidated += 1
        try:
            offer = await seen[key]
        except Exception as exc:  # one package must not stop the job for every package after it
            log.exception("refresh of %s from %s failed", item.name, source.name)
            report.failures.append(f"{source.name}: {item.name} skipped ({exc!r:.200})")
            continue
        if offer.error:
            # A failed or refused document (stale-if-error aside) says nothing about what was removed.
            report.failures.append(f"{source.name}: {item.name} skipped: {offer.error}")
            continue
        answers[source.id] = offer
    if not answers:
        return
    # Refused entries are listed, just not believed: they do not make a saved version "removed".
    listed = {sid: {*o.package.versions, *o.package.refused} if o.package else set() for sid, o in answers.items()}
    flagged, restored = await services.packages.mark_upstream_listing(item.feed, item.protocol, item.name, listed)
    report.flagged_removed.extend(f"{item.feed.name}/{item.name}@{v}" for v in flagged)
    report.restored.extend(f"{item.feed.name}/{item.name}@{v}" for v in restored)

    def declared(sid: str, number: str) -> dict[str, str] | None:
        package = answers[sid].package if sid in answers else None
        uv = package.versions.get(number) if package else None
        return declared_digests(uv) if uv else None

    changed = await services.packages.mark_upstream_changes(item.feed, item.protocol, item.name, declared)
    report.flagged_changed.extend(f"{item.feed.name}/{item.name}@{v}" for v in changed)
    if item.protocol in YANKS_FOLLOW_UPSTREAM:
        flags = {
            sid: {number: uv.manifest.get("yanked") is True for number, uv in o.package.versions.items()}
            for sid, o in answers.items()
            if o.package is not None
        }
        yanked, unyanked = await services.packages.mark_upstream_yanks(item.feed, item.protocol, item.name, flags)
        report.yanked.extend(f"{item.feed.name}/{item.name}@{v}" for v in yanked)
        report.unyanked.extend(f"{item.feed.name}/{item.name}@{v}" for v in unyanked)
