"""Storage usage of feeds: computed from a feed's version rows, and the last result kept per feed.

A computation is one partition-prefix scan of the feed's version rows (``PackageStore.footprints``): sizes, digests
and state only, never a manifest or a blob. It hands the event loop back between slices of rows, so a feed of many
versions does not hold up the requests served alongside. The result is stored (``storage/usage.py``), so the feed
list and the health endpoint show a total without scanning; the gc job recomputes every feed's (:meth:`refresh_all`)
from the rows its reference scan read (``FeedTallies``), after its purges, rather than scanning each feed again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from feed_core.domain.clock import Clock, iso, parse_iso
from feed_core.domain.models import Feed
from feed_core.domain.usage import FeedTallies, FeedUsage, UsageTally
from feed_core.service.cache import SingleFlight, TtlCache
from feed_core.storage.catalog import Catalog
from feed_core.storage.packages import PackageStore
from feed_core.storage.usage import StoredUsage, UsageStore, stored_usage

log = logging.getLogger("feed_core.usage")
#: Version rows added up between two turns of the event loop.
_SLICE = 500


@dataclass(frozen=True)
class MeasuredUsage:
    """A feed's usage and when it was computed (ISO time)."""

    feed_id: str
    computed_at: str
    usage: FeedUsage


@dataclass
class UsageReport:
    feeds: int = 0
    total_bytes: int = 0
    failed: int = 0
    rows_removed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"usage: {self.feeds} feeds measured ({self.failed} failed), {self.total_bytes} bytes held in all; "
            f"{self.rows_removed} usage rows of feeds that are gone removed, {self.seconds:.1f} s"
        )


class UsageService:
    def __init__(
        self, *, packages: PackageStore, store: UsageStore, catalog: Catalog, clock: Clock, max_age_seconds: float = 0
    ) -> None:
        self._packages = packages
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._max_age = timedelta(seconds=max_age_seconds)
        # this worker's last computation per feed (bounded), and the computations in flight
        self._recent: TtlCache[str, MeasuredUsage] = TtlCache(max_age_seconds, max_entries=1000)
        self._flights: SingleFlight[str, MeasuredUsage] = SingleFlight()

    async def recent(self, feed: Feed) -> MeasuredUsage:
        """The feed's usage as this worker computed it less than ``FEED_USAGE_MAX_AGE_SECONDS`` ago, else computed
        now: however often it is asked, a worker scans a feed's rows once in that time (concurrent askers share
        one computation)."""
        hit = self._recent.get(feed.id)
        if hit is not None and self._clock() - parse_iso(hit.computed_at) < self._max_age:
            return hit
        return await self._flights.run(feed.id, lambda: self.measure(feed))

    async def measure(self, feed: Feed) -> MeasuredUsage:
        """The feed's usage computed now, and stored as its last."""
        tally = UsageTally()
        rows = 0
        async for fp in self._packages.footprints(feed.id):
            tally.add(fp)
            rows += 1
            if rows % _SLICE == 0:
                await asyncio.sleep(0)
        return await self._keep(feed, tally.result())

    async def _keep(self, feed: Feed, usage: FeedUsage) -> MeasuredUsage:
        """Store ``usage`` as the feed's last, computed now."""
        computed_at = iso(self._clock())
        await self._store.put(feed.org, stored_usage(feed.id, usage, computed_at))
        measured = MeasuredUsage(feed.id, computed_at, usage)
        self._recent.put(feed.id, measured)
        return measured

    async def stored(self, feed: Feed) -> StoredUsage | None:
        """The feed's usage as last computed, or ``None`` when it never was: one row read."""
        return await self._store.get(feed.org, feed.id)

    async def stored_in_org(self, org: str) -> dict[str, StoredUsage]:
        """Every feed's usage as last computed in the organization, by feed id: one partition query."""
        return await self._store.of_org(org)

    async def refresh_all(self, tallies: FeedTallies | None = None) -> UsageReport:
        """Recompute and store every feed's usage (those in the feed recycle bin too: their bytes are still held),
        and remove the rows of feeds that are gone. ``tallies``: the version rows the gc run just scanned, added up
        per feed; a feed they cover is stored from them, without a scan of its own (one they do not is scanned)."""
        started = time.monotonic()
        report = UsageReport()
        for feed in await self._catalog.all_feeds(include_deleted=True):
            try:
                scanned = tallies.result(feed.id) if tallies is not None else None
                measured = await (self.measure(feed) if scanned is None else self._keep(feed, scanned))
                report.total_bytes += measured.usage.total_bytes
            except Exception:  # one feed's unreadable row must not leave every feed after it unmeasured
                log.exception("measuring the storage usage of feed %s failed", feed.scope_label)
                report.failed += 1
                continue
            report.feeds += 1
        stored = [key async for key in self._store.all_keys()]
        # Feeds listed after the rows were: a row is written only for a feed that exists, so one missing from this
        # list belongs to a feed purged since (a measurement racing the purge may have written it back).
        known = {(f.org.lower(), f.id) for f in await self._catalog.all_feeds(include_deleted=True)}
        gone = [key for key in stored if key not in known]
        for org, feed_id in gone:
            await self._store.delete(org, feed_id)
        report.rows_removed = len(gone)
        report.seconds = time.monotonic() - started
        return report
