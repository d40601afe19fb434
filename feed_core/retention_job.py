"""The retention job: apply each feed's retention policy to every package it holds.

For every feed with a policy, every package of every protocol (the feed's index rows), it reads the package's
rows (without their manifests) and plans which versions go (``domain.retention.plan_retention``); the recorded
download days are read only when more versions count toward the limit than it allows (otherwise none can go).
The chosen versions move to the recycle bin through ``PackageService.remove_by_retention``, which plans again on
the rows it writes, with the feed read again after those rows: a version promoted or tagged meanwhile, or to a
view made meanwhile, stays. The feed is read again before each package too: a policy removed (or a feed deleted)
during a run stops it for the packages not yet done.

Downloads this process still holds in memory are written before planning, and a package's download days are read
again just before its removal is written. Another worker's are written within its flush interval, so the window a
recorded day protects is widened by that interval (on top of the day a stored day may lag): a download just
before midnight, written just after, still counts for the day it happened. What no run can see is a download on
another worker within the last flush interval of a version whose stored day is older than the window: that
version may go (it stays restorable from the recycle bin).

Memory stays flat with the number of packages: a fixed pool of workers per feed, totals kept as the run goes,
and the report lists at most ``REPORT_LIMIT`` removals (and counts every one). A dry run reads and plans only.
Each run logs one summary line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from feed_core.concurrency import for_each
from feed_core.domain.download_times import DOWNLOAD_RECORDING_GRANULARITY
from feed_core.domain.errors import NotFoundError
from feed_core.domain.models import Feed, PackageMeta, PackageVersion
from feed_core.domain.retention import RetentionPlan, RetentionTotals, plan_retention, run_totals_line, totals_line
from feed_core.service.container import Services

log = logging.getLogger("feed_core.jobs")

#: Every protocol whose packages retention looks at (one without packages in a feed costs one query).
RETENTION_PROTOCOLS = ("npm", "pypi", "nuget", "maven", "cargo", "upack")
#: At most this many removals are listed in a report (every one is counted).
REPORT_LIMIT = 1000


@dataclass(frozen=True)
class Removal:
    feed: str
    protocol: str
    package: str
    version: str
    reason: str

    def line(self) -> str:
        return f"{self.feed} {self.protocol} {self.package}@{self.version}: {self.reason}"


@dataclass
class RetentionReport:
    dry_run: bool
    feeds: int = 0
    packages: int = 0
    #: The first ``REPORT_LIMIT`` removals; ``removed_count`` counts them all.
    removed: list[Removal] = field(default_factory=list)
    removed_count: int = 0
    failures: list[str] = field(default_factory=list)
    #: One line per feed with a policy (``domain.retention.totals_line``).
    feed_lines: list[str] = field(default_factory=list)
    line: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        failed = f", {len(self.failures)} packages failed" if self.failures else ""
        return f"{self.line}{failed} ({self.seconds:.1f} s)"

    def note(self, removal: Removal) -> None:
        self.removed_count += 1
        if len(self.removed) < REPORT_LIMIT:
            self.removed.append(removal)

    @property
    def unlisted(self) -> int:
        """Removals counted but not listed (past ``REPORT_LIMIT``)."""
        return self.removed_count - len(self.removed)


@dataclass(frozen=True)
class RetentionRun:
    services: Services
    now: datetime
    since: datetime
    #: How far a stored download day may lag the last download (``recording_granularity`` of the plan).
    slack: timedelta
    report: RetentionReport


def _matches(f: Feed, feed: str | None, org: str | None, project: str | None) -> bool:
    if feed is not None and f.name.lower() != feed.lower():
        return False
    if org is None:
        return True
    return f.org.lower() == org.lower() and (f.project or "").lower() == (project or "").lower()


async def run_retention(
    services: Services,
    *,
    dry_run: bool = False,
    feed: str | None = None,
    org: str | None = None,
    project: str | None = None,
    concurrency: int = 4,
) -> RetentionReport:
    """Apply every feed's retention policy. ``feed``: only the feed of that name (404 when there is none); with
    ``org``, only feeds of that organization and ``project`` (``None``: the organization's own feeds)."""
    started = time.monotonic()
    report = RetentionReport(dry_run=dry_run)
    feeds = [f for f in await services.catalog.all_feeds() if _matches(f, feed, org, project)]
    if (feed is not None or org is not None) and not feeds:
        where = f" in {org}{'/' + project if project else ''}" if org is not None else ""
        raise NotFoundError(f"there is no feed named {feed!r}{where}" if feed else f"there is no feed{where}")
    await services.downloads.flush()  # what this process holds in memory counts
    now = services.clock()
    since = await _recording_since(services, now, dry_run=dry_run)
    slack = DOWNLOAD_RECORDING_GRANULARITY + timedelta(seconds=services.downloads.flush_seconds)
    run = RetentionRun(services, now, since, slack, report)
    totals_by_feed: dict[str, RetentionTotals] = {}
    for one in feeds:
        if one.retention_policy is None:
            continue
        report.feeds += 1
        totals = await _feed(run, one, concurrency)
        totals_by_feed[one.scope_label] = totals
        report.feed_lines.append(totals_line(one.scope_label, totals, dry_run=dry_run))
    report.line = run_totals_line(totals_by_feed, dry_run=dry_run)
    report.seconds = time.monotonic() - started
    log.info("%s", report.summary())
    return report


async def _recording_since(services: Services, now: datetime, *, dry_run: bool) -> datetime:
    """When download times began to be recorded; a real run that finds no mark sets it to now (a dry run only
    assumes so), so versions with no download recorded are counted from now on, not from the beginning."""
    store = services.downloads.store
    since = await store.recording_since()
    if since is not None:
        return since
    return now if dry_run else await store.mark_recording_started(now)


async def _feed(run: RetentionRun, feed: Feed, concurrency: int) -> RetentionTotals:
    totals = RetentionTotals()

    async def package(item: tuple[str, str]) -> None:
        protocol, name = item
        try:
            plan = await retain_package(run, feed, protocol, name)
        except Exception as exc:  # one package must not stop the job for every package after it
            log.exception("retention of %s %s in %s failed", protocol, name, feed.scope_label)
            run.report.failures.append(f"{feed.scope_label} {protocol} {name}: {exc!r:.200}")
            return
        if plan is not None:
            totals.add(plan)

    for protocol in RETENTION_PROTOCOLS:
        entries = await run.services.packages.store.list_index(feed.id, protocol)
        run.report.packages += len(entries)
        await for_each(((protocol, e.name) for e in entries), package, concurrency)
    return totals


async def _current(services: Services, feed: Feed) -> Feed | None:
    """The feed as stored now, when it still has a retention policy (``None``: deleted, or the policy gone)."""
    now = await services.catalog.get_feed_by_id(feed.org, feed.id)
    return now if now is not None and now.retention_policy is not None else None


async def retain_package(run: RetentionRun, feed: Feed, protocol: str, name: str) -> RetentionPlan | None:
    """Apply the feed's policy (as stored now) to one package; the plan carried out, or ``None`` when the
    package was skipped (the feed deleted, its policy removed, the package gone)."""
    services, report = run.services, run.report
    current = await _current(services, feed)
    if current is None:
        return None
    store = services.packages.store
    meta, versions = await store.get_package(feed.id, protocol, name, light=True)
    if meta is None:  # gone since the index listed it
        return None
    downloads: dict[str, datetime] = {}

    def plan_for(f: Feed, m: PackageMeta, rows: list[PackageVersion]) -> RetentionPlan:
        return plan_retention(
            protocol,
            rows,
            m.dist_tags,
            f.views,
            f.retention_policy,
            run.now,
            downloads,
            downloads_recorded_since=run.since,
            recording_granularity=run.slack,
        )

    plan = plan_for(current, meta, versions)
    policy = current.retention_policy
    if policy is not None and policy.days_to_keep_recently_downloaded is not None and plan.counted > policy.count_limit:
        # Only a package over its limit can lose versions, and only then do its download days matter.
        downloads.update(await services.downloads.store.package(feed.id, protocol, name))
        plan = plan_for(current, meta, versions)
    if report.dry_run or not plan.removals:
        for r in plan.removals:
            report.note(Removal(feed.scope_label, protocol, name, r.version, r.reason))
        return plan
    reasons: dict[str, str] = {}
    latest: list[Feed | None] = [current]

    async def reread() -> None:
        """The feed, and the download days, as they are after the rows the removal is about to change."""
        now = latest[0] = await _current(services, feed)
        policy = None if now is None else now.retention_policy
        if policy is not None and policy.days_to_keep_recently_downloaded is not None:
            fresh = await services.downloads.store.package(feed.id, protocol, name)
            downloads.clear()
            downloads.update(fresh)

    def choose(m: PackageMeta, rows: list[PackageVersion]) -> list[str]:
        if latest[0] is None:
            return []
        fresh = plan_for(latest[0], m, rows)
        reasons.update((r.version, r.reason) for r in fresh.removals)
        return [r.version for r in fresh.removals]

    removed = await services.packages.remove_by_retention(feed, protocol, name, choose, reread)
    for n in removed:
        report.note(Removal(feed.scope_label, protocol, name, n, reasons[n]))
    gone = set(removed)
    # The plan as carried out: what was read, less what a concurrent change kept.
    return RetentionPlan(
        removals=tuple(r for r in plan.removals if r.version in gone),
        kept=plan.kept,
        counted=plan.counted,
    )
