"""The retention job: apply each feed's retention policy to every package it holds.

For every feed with a policy, every package of every protocol (the feed's index rows), it reads the package's
rows and their recorded download days, asks ``domain.retention.plan_retention`` which versions go, and moves them
to the recycle bin through ``PackageService.remove_by_retention`` (which asks the plan again on the rows it
writes, so a version promoted or tagged meanwhile stays). A dry run reads and plans only. Each run logs one
summary line; the report lists every version removed (or that would be), with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from feed_core.domain.errors import NotFoundError
from feed_core.domain.models import Feed, PackageMeta, PackageVersion
from feed_core.domain.retention import RetentionPlan, plan_retention, run_summary_line, summary_line
from feed_core.service.container import Services

log = logging.getLogger("feed_core.jobs")

#: Every protocol whose packages retention looks at (one without packages in a feed costs one query).
RETENTION_PROTOCOLS = ("npm", "pypi", "nuget", "maven", "cargo", "upack")


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
    removed: list[Removal] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: One line per feed with a policy (``domain.retention.summary_line``).
    feed_lines: list[str] = field(default_factory=list)
    line: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        failed = f", {len(self.failures)} packages failed" if self.failures else ""
        return f"{self.line}{failed} ({self.seconds:.1f} s)"


async def run_retention(
    services: Services, *, dry_run: bool = False, feed: str | None = None, concurrency: int = 4
) -> RetentionReport:
    """Apply every feed's retention policy (only the feed named ``feed``, when given: 404 when there is none)."""
    started = time.monotonic()
    report = RetentionReport(dry_run=dry_run)
    feeds = [f for f in await services.catalog.all_feeds() if feed is None or f.name.lower() == feed.lower()]
    if feed is not None and not feeds:
        raise NotFoundError(f"there is no feed named {feed!r}")
    now = services.clock()
    since = await _recording_since(services, now, dry_run=dry_run)
    plans_by_feed: dict[str, dict[str, RetentionPlan]] = {}
    for one in feeds:
        if one.retention_policy is None:
            continue
        report.feeds += 1
        plans = await _feed(services, one, now, since, report, concurrency)
        plans_by_feed[one.scope_label] = plans
        report.feed_lines.append(summary_line(one.scope_label, plans, dry_run=dry_run))
    report.line = run_summary_line(plans_by_feed, dry_run=dry_run)
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


async def _feed(
    services: Services,
    feed: Feed,
    now: datetime,
    since: datetime,
    report: RetentionReport,
    concurrency: int,
) -> dict[str, RetentionPlan]:
    plans: dict[str, RetentionPlan] = {}
    gate = asyncio.Semaphore(concurrency)

    async def package(protocol: str, name: str) -> None:
        async with gate:
            try:
                plan = await _package(services, feed, protocol, name, now, since, report)
            except Exception as exc:  # one package must not stop the job for every package after it
                log.exception("retention of %s %s in %s failed", protocol, name, feed.scope_label)
                report.failures.append(f"{feed.scope_label} {protocol} {name}: {exc!r:.200}")
                return
            plans[f"{protocol}:{name}"] = plan

    for protocol in RETENTION_PROTOCOLS:
        entries = await services.packages.store.list_index(feed.id, protocol)
        report.packages += len(entries)
        await asyncio.gather(*(package(protocol, e.name) for e in entries))
    return plans


async def _package(
    services: Services,
    feed: Feed,
    protocol: str,
    name: str,
    now: datetime,
    since: datetime,
    report: RetentionReport,
) -> RetentionPlan:
    store = services.packages.store
    (meta, versions), downloads = await asyncio.gather(
        store.get_package(feed.id, protocol, name), services.downloads.store.package(feed.id, protocol, name)
    )
    if meta is None:  # gone since the index listed it
        return RetentionPlan(removals=(), kept=(), counted=0)

    def plan_for(m: PackageMeta, rows: list[PackageVersion]) -> RetentionPlan:
        return plan_retention(
            protocol,
            rows,
            m.dist_tags,
            feed.views,
            feed.retention_policy,
            now,
            downloads,
            downloads_recorded_since=since,
        )

    plan = plan_for(meta, versions)
    if report.dry_run or not plan.removals:
        report.removed.extend(Removal(feed.scope_label, protocol, name, r.version, r.reason) for r in plan.removals)
        return plan
    reasons: dict[str, str] = {}

    def choose(m: PackageMeta, rows: list[PackageVersion]) -> list[str]:
        fresh = plan_for(m, rows)
        reasons.update((r.version, r.reason) for r in fresh.removals)
        return [r.version for r in fresh.removals]

    removed = await services.packages.remove_by_retention(feed, protocol, name, choose)
    report.removed.extend(Removal(feed.scope_label, protocol, name, n, reasons[n]) for n in removed)
    gone = set(removed)
    # The plan as carried out: what was read, less what a concurrent change kept.
    return RetentionPlan(
        removals=tuple(r for r in plan.removals if r.version in gone),
        kept=plan.kept,
        counted=plan.counted,
    )
