"""The download-time coalescer on real stores: memory only on the hot path, background and shutdown flushes,
bounds, and failed writes retried rather than lost."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feed_core.domain.models import Feed
from feed_core.domain.retention import RetentionPlan, RetentionPolicy, run_summary_line
from feed_core.service.download_times import MAX_BACKOFF, DownloadRecorder
from feed_core.storage.catalog import FEEDS, Catalog
from feed_core.storage.credential_cipher import CredentialCipher
from feed_core.storage.download_times import DOWNLOADS, DownloadTimesStore
from feed_core.storage.embedded import EmbeddedBlobStore, EmbeddedTableStore
from feed_core.storage.ports import Storage
from tests.azurite import open_unique_storage
from tests.counting_storage import CountingTableStore

NOON = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def tables(tmp_path: Path) -> AsyncIterator[CountingTableStore]:
    storage = Storage(EmbeddedTableStore(tmp_path / "db.sqlite3"), EmbeddedBlobStore(tmp_path / "blobs"))
    await storage.provision([DOWNLOADS])
    try:
        yield CountingTableStore(storage.tables)
    finally:
        await storage.close()


async def test_records_are_memory_only_until_a_flush_writes_one_row_per_version_and_day(
    tables: CountingTableStore,
) -> None:
    clock = Clock()
    recorder = DownloadRecorder(DownloadTimesStore(tables), clock, flush_seconds=3600)
    for _ in range(100):
        recorder.record("f", "npm", "a", "1.0.0")
    recorder.record("f", "npm", "a", "2.0.0")
    assert tables.total == 0 and recorder.pending == 2
    assert await recorder.flush() == 2
    # Two new rows, and the mark of when recording began; a new row is an insert, never an upsert.
    assert tables.calls["insert"] == 3 and tables.calls["upsert"] == 0
    clock.now += timedelta(hours=11)  # 23:00, the same day
    recorder.record("f", "npm", "a", "1.0.0")
    assert recorder.pending == 0
    clock.now += timedelta(hours=2)  # the next day
    recorder.record("f", "npm", "a", "1.0.0")
    assert await recorder.flush() == 1
    store = DownloadTimesStore(tables)
    days = await store.package("f", "npm", "a")
    assert days == {"1.0.0": datetime(2026, 11, 2, tzinfo=UTC), "2.0.0": datetime(2026, 11, 1, tzinfo=UTC)}
    assert await store.recording_since() == datetime(2026, 11, 1, tzinfo=UTC)
    await recorder.close()


async def test_a_background_flush_follows_a_record_and_close_writes_the_rest(tables: CountingTableStore) -> None:
    recorder = DownloadRecorder(DownloadTimesStore(tables), Clock(), flush_seconds=0.05)
    recorder.record("f", "pypi", "p", "1.0")
    for _ in range(100):
        if recorder.pending == 0 and tables.calls["insert"] >= 2:
            break
        await asyncio.sleep(0.02)
    assert tables.calls["insert"] == 2  # the row and the mark
    recorder.record("f", "pypi", "p", "2.0")
    await recorder.close()  # before the background flush is due
    assert set(await DownloadTimesStore(tables).package("f", "pypi", "p")) == {"1.0", "2.0"}


async def test_close_right_after_a_record_writes_it_without_waiting_for_the_background_flush(
    tables: CountingTableStore,
) -> None:
    recorder = DownloadRecorder(DownloadTimesStore(tables), Clock(), flush_seconds=3600)
    recorder.record("f", "maven", "g:a", "1.0")  # its background flush is scheduled, not yet started
    await asyncio.wait_for(recorder.close(), 10)
    assert set(await DownloadTimesStore(tables).package("f", "maven", "g:a")) == {"1.0"}


async def test_the_maps_are_bounded(tables: CountingTableStore) -> None:
    recorder = DownloadRecorder(DownloadTimesStore(tables), Clock(), flush_seconds=3600, max_keys=3)
    for v in ("1", "2", "3", "4"):
        recorder.record("f", "cargo", "c", v)
    assert recorder.pending == 3 and recorder.dropped == 1
    await recorder.flush()
    recorder.record("f", "cargo", "c", "4")  # room again
    recorder.record("f", "cargo", "c", "1")  # forgotten as the least recent: written once more
    assert recorder.pending == 2
    await recorder.close()


async def test_dropped_days_are_logged_once_per_flush(
    tables: CountingTableStore, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = DownloadRecorder(DownloadTimesStore(tables), Clock(), flush_seconds=3600, max_keys=1)
    for v in ("1", "2", "3", "4"):
        recorder.record("f", "npm", "a", v)
    with caplog.at_level(logging.WARNING, logger="feed_core.service.download_times"):
        await recorder.flush()
        await recorder.flush()
    dropped = [r for r in caplog.records if "were not queued" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].getMessage().startswith("3 download days")
    await recorder.close()


async def test_a_record_after_close_is_refused_and_logged_once(
    tables: CountingTableStore, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = DownloadRecorder(DownloadTimesStore(tables), Clock(), flush_seconds=3600)
    await recorder.close()
    with caplog.at_level(logging.WARNING, logger="feed_core.service.download_times"):
        recorder.record("f", "npm", "a", "1")
        recorder.record("f", "npm", "a", "2")
    assert recorder.pending == 0 and recorder.dropped == 2
    assert sum("after the recorder closed" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.azurite
async def test_a_failed_write_is_logged_and_tried_again(
    azurite_connection_string: str, caplog: pytest.LogCaptureFixture
) -> None:
    storage = await open_unique_storage(azurite_connection_string)
    try:
        recorder = DownloadRecorder(DownloadTimesStore(storage.tables), Clock(), flush_seconds=3600)
        recorder.record("f", "nuget", "n", "1.0.0")
        with caplog.at_level(logging.WARNING, logger="feed_core.service.download_times"):
            assert await recorder.flush() == 0  # the table does not exist yet
        assert "could not write 1 of 1 download times" in caplog.text
        assert recorder.pending == 1
        backoffs = [recorder._backoff]
        for _ in range(4):  # each failed flush doubles the wait before the next, up to a bound
            await recorder.flush()
            backoffs.append(recorder._backoff)
        assert backoffs == [2, 4, 8, MAX_BACKOFF, MAX_BACKOFF]
        await storage.provision([DOWNLOADS])
        assert await recorder.flush() == 1 and recorder._backoff == 1
        assert set(await DownloadTimesStore(storage.tables).package("f", "nuget", "n")) == {"1.0.0"}
        await recorder.close()
    finally:
        await storage.close()


def test_a_run_over_several_feeds_logs_one_line() -> None:
    policy = RetentionPolicy(2)
    assert policy.to_rest()["countLimit"] == 2
    removing = RetentionPlan(removals=(), kept=(), counted=0)
    line = run_summary_line({"o/a": {"npm:x": removing}, "o/b": {}}, dry_run=True)
    assert line == (
        "retention on 2 feeds with a policy: would move 0 versions of 0 packages in 0 feeds to the recycle bin, "
        "kept 0 versions of 1 package (dry run)"
    )
    assert run_summary_line({}, dry_run=False).startswith("retention on 0 feeds with a policy: moved 0 versions")


async def test_feed_documents_from_before_retention_read_as_no_policy(tables: CountingTableStore) -> None:
    """A feed document written before feeds had a retention policy has no such field: it reads as none, and the
    policy, once set, is stored with the feed and read back."""
    await tables.inner.provision([FEEDS])
    catalog = Catalog(tables, CredentialCipher.from_settings("", ()))
    feed = await catalog.create_feed(Feed(id=str(uuid.uuid4()), org="o", project=None, name="old"))
    row = await tables.get(FEEDS, "o", f"id:{feed.id}")
    assert row is not None
    assert "retentionPolicy" not in json.loads(row.get_str("doc"))
    old = await catalog.get_feed_by_id("o", feed.id)
    assert old is not None and old.retention_policy is None
    old.retention_policy = RetentionPolicy(5, 30)
    await catalog.update_feed(old)
    again = await catalog.get_feed_by_id("o", feed.id)
    assert again is not None and again.retention_policy == RetentionPolicy(5, 30)
    row = await tables.get(FEEDS, "o", f"id:{feed.id}")
    assert row is not None and json.loads(row.get_str("doc"))["retentionPolicy"]["countLimit"] == 5
    again.retention_policy = None
    await catalog.update_feed(again)
    row = await tables.get(FEEDS, "o", f"id:{feed.id}")
    assert row is not None and "retentionPolicy" not in json.loads(row.get_str("doc"))
