"""The per-feed table of received Universal Package chunks, on both stores."""

from __future__ import annotations

import asyncio

from feed_core.service.container import Services
from feed_core.storage import upack_chunks
from feed_core.storage.upack_chunks import ChunkRow, UpackChunkStore


class CountingStore(UpackChunkStore):
    """The real store, counting the point reads in flight at once."""

    in_flight = 0
    most_in_flight = 0

    async def get(self, feed_id: str, sha256: str) -> ChunkRow | None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let the other readers start, as a slower store would
            return await super().get(feed_id, sha256)
        finally:
            self.in_flight -= 1


async def test_rows_are_per_feed_and_read_in_bounded_batches(services: Services) -> None:
    store = CountingStore(services.storage.tables)
    hashes = [f"{i:064x}" for i in range(150)]
    for sha in hashes[:100]:
        await store.record("feed-a", sha, 7, "2026-11-01T00:00:00Z")
    await store.record("feed-b", hashes[120], 9, "2026-11-02T00:00:00Z")
    most_tasks = 0
    reading = True

    async def sample() -> None:
        nonlocal most_tasks
        while reading:
            most_tasks = max(most_tasks, len(asyncio.all_tasks()))
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    try:
        found = await store.get_many("feed-a", [*hashes, hashes[0]])
    finally:
        reading = False
        await sampler
    bound = upack_chunks._READ_CONCURRENCY
    assert bound < len(hashes)
    assert store.most_in_flight == bound, "the reads go on in parallel, but never more than the bound"
    assert most_tasks <= bound + 5, f"{most_tasks} tasks for {len(hashes)} reads"
    assert sorted(found) == hashes[:100]
    assert found[hashes[5]] == ChunkRow(hashes[5], 7, "2026-11-01T00:00:00Z")
    assert await store.get_many("feed-b", hashes[:100]) == {}
    await store.record("feed-a", hashes[0], 7, "2026-11-03T00:00:00Z")  # received again: the time is renewed
    assert (await store.get("feed-a", hashes[0])) == ChunkRow(hashes[0], 7, "2026-11-03T00:00:00Z")
    scanned = [(feed, row.sha256) async for feed, row in store.scan()]
    assert len(scanned) == 101 and ("feed-b", hashes[120]) in scanned
    assert await store.delete("feed-a", hashes[:10]) == 10
    assert len(await store.rows("feed-a")) == 90
    assert await store.delete_feed("feed-a") == 90
    assert await store.rows("feed-a") == [] and len(await store.rows("feed-b")) == 1


async def test_a_row_renewed_since_it_was_scanned_is_not_deleted(services: Services) -> None:
    """The gc's sweep deletes the rows it scanned only as scanned: a chunk sent again meanwhile keeps its row."""
    store = UpackChunkStore(services.storage.tables)
    hashes = [f"{i:064x}" for i in range(150)]  # two transactions' worth
    for sha in hashes:
        await store.record("feed-a", sha, 7, "2026-11-01T00:00:00Z")
    scanned = [row async for feed, row in store.scan() if feed == "feed-a"]
    assert all(row.etag for row in scanned)
    await store.record("feed-a", hashes[3], 7, "2026-11-05T00:00:00Z")  # sent again after the scan
    await store.delete("feed-a", [hashes[120]])  # and one gone meanwhile
    kept = await store.delete_unchanged("feed-a", scanned)
    assert kept == [hashes[3]]
    assert [row.sha256 for row in await store.rows("feed-a")] == [hashes[3]]
