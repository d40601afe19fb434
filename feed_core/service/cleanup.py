"""Removing what nothing needs any more: purging deleted feeds, and garbage collecting blobs.

**Purging a feed** first claims it: a write of its document, conditional on the ETag of the deleted
feed just read, marks it ``purging``, so a restore that got there first makes the purge re-read and
stop, and a restore that comes later is refused (409). Then it deletes the feed's package, version,
index and package-id rows, its upstream behaviour, health and storage usage rows, and last its document, which
releases its name. A purge cut short leaves the claimed feed in the recycle bin, so the next purge
(or gc run, whatever the retention) finishes it. Its blobs are not deleted here: blobs are shared by
sha-256 across feeds, so they go through garbage collection like any other.

**Garbage collection** (one run):

1. purges every deleted feed whose retention period has ended, and the rows (package, health and
   upstream behaviour rows) of feeds whose document is gone (left behind by deletes before the
   recycle bin existed, by a purge cut short, or by a job that wrote health rows as a purge ran);
   then purges every package version that has been in its feed's recycle bin for
   ``FEED_RECYCLE_BIN_DAYS`` (``service.recycle_bin``), so that its blobs are no longer referenced;
2. collects what is referenced: the blobs of every version row (files, Python core metadata files,
   large manifests; a Universal Package's manifest and every chunk it lists) that is not purged, and the
   cached upstream document of every upstream some feed still has (cached answers of upstreams no feed
   has any more are dropped); a feed's Universal Package chunk rows reference their chunks too, for
   ``UNREFERENCED_CHUNK_DAYS`` after the upload when no version of the feed lists them (so that an
   interrupted publish can resume), after which the rows go;
   the same scan of the version rows, when the caller asks (``usage``), adds up each feed's storage usage;
3. deletes every content-addressed blob that nothing references and that was last modified before
   the cutoff (now minus ``FEED_GC_GRACE_HOURS``), and the embedded store's leftovers of writes that
   never finished.

Why this is safe against a concurrent publish: a publish, or a save from an upstream (internal ones
included, which copy nothing), stores (or, when the bytes are already there, renews) its blobs before
it commits the version row, a cached side file is renewed whenever it is used again, and a blob is
deleted only on condition that it was not modified after the cutoff. A blob can therefore only be
lost by a publish that takes longer than the grace period between storing its bytes and committing
its row. Blob ages come from the storage's own clock, compared with the system clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from feed_core.domain.access import require_role
from feed_core.domain.clock import Clock, iso, parse_iso, system_clock
from feed_core.domain.errors import NotFoundError
from feed_core.domain.models import Caller, Feed
from feed_core.domain.roles import Role
from feed_core.domain.usage import FeedTallies
from feed_core.service.recycle_bin import RecycleBin
from feed_core.service.retry import retry_on_conflict
from feed_core.service.upstream import source_key
from feed_core.settings import Settings
from feed_core.storage.catalog import Catalog
from feed_core.storage.download_times import DownloadTimesStore
from feed_core.storage.health import HealthStore
from feed_core.storage.packages import CONTENT_PREFIX, MANIFEST_PREFIX, PackageStore, content_key
from feed_core.storage.ports import BlobStore
from feed_core.storage.upack_chunks import UNREFERENCED_CHUNK_DAYS, ChunkRow, UpackChunkStore
from feed_core.storage.upstream_state import DOCUMENT_PREFIX, UpstreamStateStore
from feed_core.storage.usage import UsageStore

log = logging.getLogger("feed_core.cleanup")
#: The content-addressed blob families; nothing else in the container is ever collected.
BLOB_FAMILIES = (CONTENT_PREFIX, MANIFEST_PREFIX, DOCUMENT_PREFIX)
_DELETE_CONCURRENCY = 16


@dataclass
class GcReport:
    dry_run: bool = False
    feeds_purged: int = 0
    versions_purged: int = 0
    rows_removed: int = 0
    cache_entries_dropped: int = 0
    blobs_kept: int = 0
    blobs_removed: int = 0
    bytes_removed: int = 0
    temp_files_removed: int = 0
    temp_bytes_removed: int = 0
    sessions_removed: int = 0
    chunk_rows_removed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"gc{' (dry run)' if self.dry_run else ''}: {verb} {self.feeds_purged} deleted feeds past retention "
            f"({self.rows_removed} rows), {self.versions_purged} package versions past the recycle bin's days, "
            f"{self.cache_entries_dropped} cached upstream answers of upstreams no "
            f"feed has, {self.blobs_removed} unreferenced blobs ({self.bytes_removed} bytes), "
            f"{self.temp_files_removed} leftover temporary files ({self.temp_bytes_removed} bytes), and "
            f"{self.sessions_removed} ended web UI sessions, {self.chunk_rows_removed} Universal Package chunks no "
            "version uses; "
            f"{self.blobs_kept} blobs kept, {self.seconds:.1f} s"
        )


class Cleanup:
    def __init__(
        self,
        *,
        catalog: Catalog,
        packages: PackageStore,
        upstream_state: UpstreamStateStore,
        health: HealthStore,
        usage: UsageStore,
        blobs: BlobStore,
        chunks: UpackChunkStore,
        settings: Settings,
        clock: Clock,
        blob_clock: Clock = system_clock,
        recycle_bin: RecycleBin | None = None,
        downloads: DownloadTimesStore | None = None,
    ) -> None:
        self._catalog = catalog
        self._packages = packages
        self._state = upstream_state
        self._health = health
        self._usage = usage
        self._downloads = downloads
        self._blobs = blobs
        self._chunks = chunks
        self._settings = settings
        self._clock = clock
        self._blob_clock = blob_clock
        self._recycle_bin = recycle_bin

    # purging -------------------------------------------------------------------------------------
    async def purge(self, feed: Feed, caller: Caller) -> int:
        """Permanently delete a feed from the recycle bin now; the number of rows removed."""
        require_role(feed, caller, Role.ADMINISTRATOR, "permanently deleting the feed")
        claimed = await self._claim(feed)
        if claimed is None:
            raise NotFoundError(f"feed {feed.name!r} is not in the feed recycle bin; delete it first")
        return await self._purge_rows(claimed.id, claimed)

    async def _claim(self, feed: Feed) -> Feed | None:
        """Mark the deleted feed ``purging``, conditionally on the ETag read; ``None`` when it is not
        (or no longer) in the recycle bin. A restore racing this write makes one of the two re-read."""

        async def attempt() -> Feed | None:
            current = await self._catalog.get_feed_by_id(feed.org, feed.id, include_deleted=True)
            if current is None or current.deleted is None:
                return None
            if current.purging is None:
                current.purging = iso(self._clock())
                await self._catalog.update_feed(current)
            return current

        return await retry_on_conflict(attempt, "the feed is being changed by others right now; try again")

    async def _purge_rows(self, feed_id: str, feed: Feed | None) -> int:
        rows = await self._packages.delete_feed(feed_id)
        rows += await self._state.delete_feed(feed_id)
        rows += await self._health.delete_feed(feed_id)
        rows += await self._chunks.delete_feed(feed_id)
        if self._downloads is not None:
            rows += await self._downloads.delete_feed(feed_id)
        if feed is not None:
            await self._usage.delete(feed.org, feed_id)  # a feed gone without its document: the usage job's sweep
            await self._catalog.delete_feed(feed)
            rows += 2
        log.info("feed %s purged: %d rows removed", feed.scope_label if feed else feed_id, rows)
        return rows

    def purge_due(self, feed: Feed) -> str | None:
        """When the deleted feed is due to be purged (ISO time), or ``None`` for a feed not deleted."""
        if feed.deleted is None:
            return None
        return iso(parse_iso(feed.deleted) + timedelta(days=self._settings.deleted_feed_retention_days))

    # garbage collection --------------------------------------------------------------------------
    async def collect_garbage(self, *, dry_run: bool = False, usage: FeedTallies | None = None) -> GcReport:
        """One gc run (module docstring). ``usage``, in a run that is not a dry run, is handed every version row the
        reference scan reads, after this run's purges, so the caller stores each feed's usage without a scan."""
        started = time.monotonic()
        report = GcReport(dry_run=dry_run)
        cutoff = self._blob_clock() - timedelta(hours=self._settings.gc_grace_hours)
        now = iso(self._clock())
        gone: set[str] = set()  # feeds whose rows are (or, in a dry run, would be) purged
        for feed in await self._catalog.all_feeds(include_deleted=True):
            due = self.purge_due(feed)
            if due is None or (due > now and feed.purging is None):
                continue
            if not dry_run:
                claimed = await self._claim(feed)
                if claimed is None:
                    continue  # restored (or purged) meanwhile
                report.rows_removed += await self._purge_rows(claimed.id, claimed)
            gone.add(feed.id)
            report.feeds_purged += 1

        skip = await self._purge_versions(gone, report)
        referenced_by: dict[str, set[str]] = defaultdict(set)
        footprints = usage.add if usage is not None and not dry_run else None
        async for feed_id, key in self._packages.blob_references(skip, footprints):
            referenced_by[feed_id].add(key)
        with_rows = set(referenced_by) | await self._health.feed_ids() | await self._state.behaviour_feed_ids()
        # Listed after the scans: a feed's rows are written only after its document exists, so a feed
        # seen in a scan and missing here has no document any more.
        feeds = [f for f in await self._catalog.all_feeds(include_deleted=True) if f.id not in gone]
        known = {f.id for f in feeds}
        for feed_id in with_rows - known - gone:
            if not dry_run:
                report.rows_removed += await self._purge_rows(feed_id, None)
        referenced: set[str] = set().union(*(keys for feed_id, keys in referenced_by.items() if feed_id in known))
        await self._sweep_chunk_rows(referenced_by, known, referenced, report)
        referenced_by.clear()

        sources = {source_key(f.id, s) for f in feeds for s in f.upstream_sources}
        async for doc in self._state.cached_documents():
            if doc.source_key in sources:
                referenced.update(doc.blob_keys)
            else:
                report.cache_entries_dropped += 1
                if not dry_run:
                    await self._state.forget(doc)

        await self._delete_unreferenced(referenced, cutoff, report)
        report.temp_files_removed, report.temp_bytes_removed = await self._blobs.sweep_interrupted_writes(
            cutoff, dry_run=dry_run
        )
        report.seconds = time.monotonic() - started
        return report

    async def _sweep_chunk_rows(
        self, referenced_by: dict[str, set[str]], known: set[str], referenced: set[str], report: GcReport
    ) -> None:
        """A Universal Package chunk row keeps its bytes for a publish to come (one interrupted, to resume), for
        ``UNREFERENCED_CHUNK_DAYS``; then, if no version of its feed lists the chunk, the row goes, and the bytes
        with it unless something else references them. Rows of feeds that no longer exist go at once."""
        stale = iso(self._clock() - timedelta(days=UNREFERENCED_CHUNK_DAYS))
        doomed: dict[str, list[ChunkRow]] = defaultdict(list)
        async for feed_id, row in self._chunks.scan():
            key = content_key(row.sha256)
            if feed_id in known and (key in referenced_by.get(feed_id, ()) or row.uploaded > stale):
                referenced.add(key)
            else:
                doomed[feed_id].append(row)
        for feed_id, rows in doomed.items():
            if report.dry_run:
                report.chunk_rows_removed += len(rows)
                continue
            kept = await self._chunks.delete_unchanged(feed_id, rows)  # a row renewed since the scan stays
            report.chunk_rows_removed += len(rows) - len(kept)
            referenced.update(content_key(sha) for sha in kept)

    async def _purge_versions(self, gone: set[str], report: GcReport) -> frozenset[tuple[str, str]]:
        """Purge the versions whose time in the recycle bin has ended (of feeds not purged in this run). A dry run
        purges none: the rows it would purge, for the reference scan to pass over."""
        if self._recycle_bin is None:
            return frozenset()
        would: set[tuple[str, str]] = set()
        for feed in await self._catalog.all_feeds(include_deleted=True):
            if feed.id in gone:
                continue
            due = await self._recycle_bin.due(feed)
            if report.dry_run:
                would.update(PackageStore.row_of(feed.id, v) for v in due)
                report.versions_purged += len(due)
            elif due:
                report.versions_purged += await self._recycle_bin.purge_due(feed, due)
        if report.versions_purged and not report.dry_run:
            log.info("gc: %d package versions purged from recycle bins", report.versions_purged)
        return frozenset(would)

    async def _delete_unreferenced(self, referenced: set[str], cutoff: datetime, report: GcReport) -> None:
        async def delete(key: str, size: int) -> None:
            if report.dry_run or await self._blobs.delete_if_older(key, cutoff):
                report.blobs_removed += 1
                report.bytes_removed += size
            else:
                report.blobs_kept += 1  # renewed since it was listed: a publish is about to reference it

        pending: set[asyncio.Task[None]] = set()
        for family in BLOB_FAMILIES:
            async for blob in self._blobs.list_blobs(family):
                if blob.key in referenced or blob.last_modified > cutoff:
                    report.blobs_kept += 1
                    continue
                pending.add(asyncio.create_task(delete(blob.key, blob.size)))
                if len(pending) >= _DELETE_CONCURRENCY:
                    _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pending)
