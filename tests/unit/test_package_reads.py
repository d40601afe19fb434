"""The per-worker package read cache on the embedded store: shared reads, the window, the memory bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from feed_core.domain.models import PackageMeta, PackageVersion
from feed_core.service.package_reads import PackageReads
from feed_core.storage.embedded import EmbeddedBlobStore, EmbeddedTableStore
from feed_core.storage.packages import PackageStore
from tests.counting_storage import CountingTableStore

FEED = "feed-id"


def _version(name: str, number: str, manifest_bytes: int = 10) -> PackageVersion:
    return PackageVersion(
        "npm", name, number, {"readme": "x" * manifest_bytes}, f"{name}-{number}.tgz", "0" * 64, "", "", 1, "", "u"
    )


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[PackageStore, CountingTableStore]]:
    tables = CountingTableStore(EmbeddedTableStore(tmp_path / "feed.sqlite3"))
    blobs = EmbeddedBlobStore(tmp_path / "blobs")
    yield PackageStore(tables, blobs), tables
    await tables.close()


async def _publish(store: PackageStore, name: str, number: str, manifest_bytes: int = 10) -> None:
    meta = await store.get_meta(FEED, "npm", name) or PackageMeta("npm", name)
    meta.rev += 1
    await store.commit_version(FEED, _version(name, number, manifest_bytes), meta)


async def test_concurrent_misses_of_one_package_share_one_read(
    stores: tuple[PackageStore, CountingTableStore],
) -> None:
    store, tables = stores
    await _publish(store, "a", "1.0.0")
    reads = PackageReads(store, 60)
    tables.reset()
    metas = await asyncio.gather(*(reads.meta(FEED, "npm", "a") for _ in range(20)))
    assert {m.rev for m in metas if m} == {1} and tables.calls == {"get": 1}
    packages = await asyncio.gather(*(reads.package(FEED, "npm", "a") for _ in range(20)))
    assert all([v.version for v in vs] == ["1.0.0"] for _, vs in packages)
    assert tables.calls == {"get": 1, "query": 1}
    await asyncio.gather(*(reads.version(FEED, "npm", "a", "1.0.0") for _ in range(5)))
    assert tables.calls == {"get": 1, "query": 1}  # from the partition already held


async def test_a_change_behind_the_workers_back_shows_once_the_window_ends(
    stores: tuple[PackageStore, CountingTableStore],
) -> None:
    store, _ = stores
    await _publish(store, "a", "1.0.0")
    reads = PackageReads(store, 0.2)
    assert [v.version for v in (await reads.package(FEED, "npm", "a"))[1]] == ["1.0.0"]
    await _publish(store, "a", "1.1.0")  # as another worker would
    assert [v.version for v in (await reads.package(FEED, "npm", "a"))[1]] == ["1.0.0"]  # trusted meanwhile
    await asyncio.sleep(0.25)
    assert [v.version for v in (await reads.package(FEED, "npm", "a"))[1]] == ["1.0.0", "1.1.0"]


async def test_version_rows_stay_within_the_memory_bound(stores: tuple[PackageStore, CountingTableStore]) -> None:
    store, tables = stores
    for i in range(20):
        await _publish(store, f"p{i}", "1.0.0", manifest_bytes=10_000)
    reads = PackageReads(store, 60, max_bytes=60_000)
    for i in range(20):
        await reads.package(FEED, "npm", f"p{i}")
    assert reads.stats()["bytes"] <= 60_000 and reads.stats()["rows"] < 20
    tables.reset()
    await reads.package(FEED, "npm", "p19")  # the most recent are still held
    assert tables.total == 0
    await reads.package(FEED, "npm", "p0")  # the oldest went first: read again
    assert tables.calls == {"query": 1}
