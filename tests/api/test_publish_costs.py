"""What a publish costs in storage calls, on both backends (and in HTTP requests on Azure), and concurrent
publishes sharing the index writes of their feed: fewer transactions, every publish written, a conflicting
one still refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from feed_core.app import create_app
from feed_core.domain.ids import package_guid
from feed_core.service.container import build_services, open_storage
from feed_core.settings import Settings
from feed_core.storage.calls import StorageCallCounter
from feed_core.storage.ports import Entity, Storage, TableOp
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory
from tests.counting_storage import CountingBlobStore, CountingTableStore


class HoldingTables(CountingTableStore):
    """Counts calls; with ``hold`` set, the next write of the package index (one row or several) waits for it."""

    hold: asyncio.Event | None = None
    #: How many rows the held write carries.
    held_rows: int = 0

    async def _held(self, table: str, rows: int) -> None:
        if table == "packageindex" and self.hold is not None:
            hold, self.hold = self.hold, None
            self.held_rows = rows
            await hold.wait()

    async def upsert(self, table: str, entity: Entity) -> str:
        await self._held(table, 1)
        return await super().upsert(table, entity)

    async def transact(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        await self._held(table, len(ops))
        return await super().transact(table, ops)


@dataclass
class Worker:
    api: Api
    tables: HoldingTables
    blobs: CountingBlobStore
    requests: StorageCallCounter  # HTTP requests to Azure (none on the embedded store)

    def reset(self) -> None:
        self.tables.reset()
        self.blobs.reset()
        self.requests.reset()


@asynccontextmanager
async def worker(settings: Settings, tokens: dict[str, str] | None = None) -> AsyncIterator[Worker]:
    requests = StorageCallCounter()
    opened = await open_storage(settings, call_counter=requests)
    tables, blobs = HoldingTables(opened.tables), CountingBlobStore(opened.blobs)
    svc = await build_services(settings, clock=MutableClock(), storage=Storage(tables, blobs))
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        transport = httpx.ASGITransport(app=create_app(services=svc))
        async with httpx.AsyncClient(transport=transport, base_url="http://feed.test") as http:
            yield Worker(Api(http, svc, dict(tokens or {})), tables, blobs, requests)
    finally:
        await svc.close()


async def _costs(w: Worker, name: str, version: str) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """The port calls (tables and blobs) and the Azure HTTP requests of one publish."""
    w.reset()
    assert (await w.api.publish(name, version, who="alice")).status_code == 201
    ports = {**w.tables.by_table, **{(m, "blobs"): n for m, n in w.blobs.calls.items()}}
    return ports, w.requests.snapshot()


async def test_a_new_package_costs_five_calls_and_a_later_version_three(
    make_settings: SettingsFactory, backend: str
) -> None:
    async with worker(make_settings(cache_seconds=60)) as w:
        await w.api.create_feed("feed")
        await w.api.staff("feed")
        assert (await w.api.publish("other", "0.1.0", who="alice")).status_code == 201  # token and feed cached
        ports, requests = await _costs(w, "fresh", "1.0.0")
        assert ports == {
            ("query", "packages"): 1,  # is the version taken? (the partition is empty)
            ("put_if_absent", "blobs"): 1,  # the content first
            ("transact", "packages"): 1,  # the commit: version row and meta row
            ("upsert", "packageids"): 1,  # written with the index, at once
            ("upsert", "packageindex"): 1,
        }
        ports, later = await _costs(w, "fresh", "1.1.0")
        assert ports == {("put_if_absent", "blobs"): 1, ("transact", "packages"): 1, ("upsert", "packageindex"): 1}
    if backend == "azurite":
        assert requests == {
            ("GET", "table-query"): 1,
            ("PUT", "blob"): 1,
            ("POST", "table-batch"): 1,
            ("PUT", "table-entity"): 2,
        }
        assert later == {("PUT", "blob"): 1, ("POST", "table-batch"): 1, ("PUT", "table-entity"): 1}
    else:
        assert requests == later == {}


def _index_rows_waiting(w: Worker) -> int:
    """How many index rows wait in the package store's group commit (read from its queues: a loaded machine can
    take longer than any fixed pause between a version's commit and its index row joining the queue)."""
    grouped = w.api.services.packages.store._grouped
    return sum(len(q.waiting) for (table, _), q in grouped._queues.items() if table == "packageindex")


async def test_concurrent_publishes_share_index_transactions_and_every_one_lands(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(cache_seconds=60)
    names = [f"pkg-{i}" for i in range(8)]
    async with worker(settings) as w:
        feed = await w.api.create_feed("feed")
        await w.api.staff("feed")
        assert (await w.api.publish("warm", "0.1.0", who="alice")).status_code == 201  # token and feed cached
        w.reset()
        # The first index write is held in flight until every other publish has committed: their index
        # rows wait meanwhile, and go together in one transaction when it lands.
        w.tables.hold = hold = asyncio.Event()
        publishes = [asyncio.create_task(w.api.publish(n, "1.0.0", who="alice")) for n in [*names, "dup", "dup"]]
        for _ in range(1000):  # until the index rows of the eight packages and the first "dup" are held or waiting
            if w.tables.held_rows + _index_rows_waiting(w) >= 9:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert not any(p.done() for p in publishes[:8])  # no publish answers before its index row is written
        hold.set()
        statuses = [r.status_code for r in await asyncio.gather(*publishes)]
        assert statuses[:8] == [201] * 8
        assert sorted(statuses[8:]) == [201, 409]  # one version published twice at once: one wins
        # The held write and the one transaction of the rows that waited for it (two at most, whatever the
        # first held write carried).
        index_writes = w.tables.by_table[("upsert", "packageindex")] + w.tables.by_table[("transact", "packageindex")]
        assert 1 <= index_writes <= 2  # one when all nine rows were queued before the first write began
        ids = w.tables.by_table[("upsert", "packageids")] + w.tables.by_table[("transact", "packageids")]
        assert 1 <= ids <= 9
    async with worker(settings, w.api.tokens) as cold:  # all of it is in storage, not in a worker's memory
        search = await cold.api.http.get(
            cold.api.registry() + "-/v1/search?text=&size=50", headers=cold.api.auth("bob")
        )
        found = {o["package"]["name"]: o["package"]["version"] for o in search.json()["objects"]}
        assert found == dict.fromkeys([*names, "dup"], "1.0.0") | {"warm": "0.1.0"}
        store = cold.api.services.packages.store
        for name in [*names, "dup"]:
            assert await store.package_by_id(feed["id"], package_guid(feed["id"], "npm", name)) == ("npm", name)
