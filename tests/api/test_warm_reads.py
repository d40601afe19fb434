"""Warm reads cost no storage call within FEED_READ_FRESHNESS_SECONDS; concurrent misses share one read;
writes show at once on the worker that made them and within the window on every other; a publish makes
no duplicate read. On both backends, counted at the storage ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from feed_core.service.container import build_services, open_storage
from feed_core.settings import Settings
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process
from tests.counting_storage import CountingBlobStore, CountingTableStore, counting

ABBREV = {"Accept": "application/vnd.npm.install-v1+json"}


@dataclass
class Worker:
    """One worker (its own services and caches) on shared storage, with counted storage calls."""

    api: Api
    tables: CountingTableStore
    blobs: CountingBlobStore

    def reset(self) -> None:
        self.tables.reset()
        self.blobs.reset()

    @property
    def calls(self) -> int:
        return self.tables.total + self.blobs.total


@asynccontextmanager
async def worker(settings: Settings, tokens: dict[str, str] | None = None) -> AsyncIterator[Worker]:
    storage, tables, blobs = counting(await open_storage(settings))
    svc = await build_services(settings, clock=MutableClock(), storage=storage)
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        transport = in_process(svc)
        async with httpx.AsyncClient(transport=transport, base_url="http://feed.test") as http:
            yield Worker(Api(http, svc, dict(tokens or {})), tables, blobs)
    finally:
        await svc.close()


async def _set_up(w: Worker, *versions: str, name: str = "demo") -> None:
    await w.api.create_feed("feed")
    await w.api.staff("feed")
    for v in versions:
        assert (await w.api.publish(name, v, who="alice")).status_code == 201


async def _get(api: Api, path: str, **headers: str) -> httpx.Response:
    return await api.http.get(api.registry() + path, headers={**api.auth("bob"), **headers})


async def _versions(api: Api, name: str = "demo") -> set[str]:
    r = await _get(api, name)
    return set(r.json()["versions"]) if r.status_code == 200 else set()


async def test_warm_packuments_and_downloads_make_no_table_call_within_the_window(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(read_freshness_seconds=60, cache_seconds=60)
    async with worker(settings) as w:
        await _set_up(w, "1.0.0", "1.1.0")
        for path, headers in (("demo", {}), ("demo", ABBREV), ("demo/-/demo-1.0.0.tgz", {})):
            assert (await _get(w.api, path, **headers)).status_code == 200
        w.reset()
        for _ in range(10):
            for path, headers in (("demo", {}), ("demo", ABBREV)):
                assert (await _get(w.api, path, **headers)).status_code == 200
        assert w.calls == 0, (w.tables.calls, w.blobs.calls)
        for _ in range(5):  # the first download reads the small content blob, whole; the rest come from memory
            assert (await _get(w.api, "demo/-/demo-1.1.0.tgz")).status_code == 200
        assert w.tables.total == 0, w.tables.calls
        assert w.blobs.calls == {"read_all": 1}, w.blobs.calls


async def test_with_the_window_off_every_packument_checks_the_revision(make_settings: SettingsFactory) -> None:
    settings = make_settings(read_freshness_seconds=0, cache_seconds=60)
    async with worker(settings) as w:
        await _set_up(w, "1.0.0")
        assert (await _get(w.api, "demo")).status_code == 200
        w.reset()
        for _ in range(3):
            assert (await _get(w.api, "demo")).status_code == 200
        assert w.tables.by_table == {("get", "packages"): 3}  # the page itself still comes from the page cache


async def test_concurrent_cold_requests_share_one_read_of_each_row(make_settings: SettingsFactory) -> None:
    settings = make_settings(read_freshness_seconds=60, cache_seconds=60)
    async with worker(settings) as first:
        await _set_up(first, "1.0.0", "1.1.0")
        tokens = first.api.tokens
    async with worker(settings, tokens) as single:  # what one request on a cold worker reads
        single.reset()
        assert (await _get(single.api, "demo")).status_code == 200
        one = dict(single.tables.by_table)
    assert one[("get", "packages")] == 1 and one[("query", "packages")] == 1
    async with worker(settings, tokens) as crowd:
        crowd.reset()
        answers = await asyncio.gather(*(_get(crowd.api, "demo") for _ in range(16)))
        assert {r.status_code for r in answers} == {200}
        assert dict(crowd.tables.by_table) == one  # 16 at once: the token, org, feed and package rows read once


async def test_a_write_shows_at_once_on_its_worker_and_within_the_window_on_another(
    make_settings: SettingsFactory,
) -> None:
    window = 0.3
    settings = make_settings(read_freshness_seconds=window)
    async with worker(settings) as w1:
        await _set_up(w1, "1.0.0")
        async with worker(settings, w1.api.tokens) as w2:
            assert await _versions(w2.api) == {"1.0.0"}
            assert (await _get(w2.api, "demo/-/demo-1.0.0.tgz")).status_code == 200

            assert (await w1.api.publish("demo", "1.1.0", who="alice")).status_code == 201
            assert await _versions(w1.api) == {"1.0.0", "1.1.0"}  # the writing worker: at once
            await asyncio.sleep(window * 1.5)
            assert await _versions(w2.api) == {"1.0.0", "1.1.0"}  # another worker: within the window
            assert (await _get(w2.api, "demo/-/demo-1.1.0.tgz")).status_code == 200

            doc = (await w1.api.http.get(w1.api.registry() + "demo?write=true", headers=w1.api.auth("alice"))).json()
            path = f"demo/-/demo-1.0.0.tgz/-rev/{doc['_rev']}"
            r = await w1.api.http.delete(w1.api.registry() + path, headers=w1.api.auth("alice"))
            assert r.status_code == 200, r.text
            assert await _versions(w1.api) == {"1.1.0"}
            assert (await _get(w1.api, "demo/-/demo-1.0.0.tgz")).status_code == 404
            await asyncio.sleep(window * 1.5)
            assert await _versions(w2.api) == {"1.1.0"}
            assert (await _get(w2.api, "demo/-/demo-1.0.0.tgz")).status_code == 404
            r = await w2.api.publish("demo", "1.0.0", who="alice")
            assert r.status_code == 409 and "reserved" in r.json()["error"]


async def test_a_deleted_package_disappears_from_another_worker_within_the_window(
    make_settings: SettingsFactory,
) -> None:
    window = 0.3
    settings = make_settings(read_freshness_seconds=window)
    async with worker(settings) as w1:
        await _set_up(w1, "1.0.0", "2.0.0")
        async with worker(settings, w1.api.tokens) as w2:
            assert await _versions(w2.api) == {"1.0.0", "2.0.0"}
            doc = (await w1.api.http.get(w1.api.registry() + "demo?write=true", headers=w1.api.auth("alice"))).json()
            r = await w1.api.http.delete(w1.api.registry() + f"demo/-rev/{doc['_rev']}", headers=w1.api.auth("alice"))
            assert r.status_code == 200, r.text
            assert (await _get(w1.api, "demo")).status_code == 404
            await asyncio.sleep(window * 1.5)
            assert (await _get(w2.api, "demo")).status_code == 404
            assert (await _get(w2.api, "demo/-/demo-2.0.0.tgz")).status_code == 404


async def _publish_costs(w: Worker, name: str, version: str) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    w.reset()
    assert (await w.api.publish(name, version, who="alice")).status_code == 201
    return dict(w.tables.by_table), dict(w.blobs.calls)


def _reads(by_table: dict[tuple[str, str], Any]) -> dict[tuple[str, str], int]:
    return {k: n for k, n in by_table.items() if k[0] in ("get", "query")}


async def test_a_publish_reads_nothing_twice_and_writes_the_package_id_only_when_it_creates_the_package(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(cache_seconds=60)
    async with worker(settings) as w:
        await _set_up(w, "0.1.0", name="other")  # alice's token and the feed: cached from now on
        # A new package: one query of its partition (empty), then the content, the commit, and the
        # package id and index written at once.
        tables, blobs = await _publish_costs(w, "fresh", "1.0.0")
        assert tables == {
            ("query", "packages"): 1,
            ("transact", "packages"): 1,
            ("upsert", "packageids"): 1,
            ("upsert", "packageindex"): 1,
        }
        assert blobs == {"put_if_absent": 1}
        # The next version on the same worker: what the first publish wrote is known, nothing is read, and
        # the package id (written when the package was created) is not written again.
        tables, blobs = await _publish_costs(w, "fresh", "1.1.0")
        assert tables == {("transact", "packages"): 1, ("upsert", "packageindex"): 1}
        assert blobs == {"put_if_absent": 1}
    async with worker(settings, w.api.tokens) as cold:
        # A worker that has not seen the package: one query of its rows, which also tells the index.
        warm_up = await cold.api.http.get(cold.api.registry() + "nothing-here", headers=cold.api.auth("alice"))
        assert warm_up.status_code == 404  # alice's token, the org and the feed: cached from now on
        tables, _ = await _publish_costs(cold, "fresh", "1.2.0")
        assert _reads(tables) == {("query", "packages"): 1}
        assert tables[("transact", "packages")] == 1 and ("upsert", "packageids") not in tables
        search = await cold.api.http.get(cold.api.registry() + "-/v1/search?text=fresh", headers=cold.api.auth("bob"))
        assert [o["package"]["version"] for o in search.json()["objects"]] == ["1.2.0"]


async def test_a_publish_against_a_stale_cached_revision_retries_and_lands(make_settings: SettingsFactory) -> None:
    settings = make_settings(read_freshness_seconds=60, cache_seconds=60)
    async with worker(settings) as w1:
        await _set_up(w1, "1.0.0")
        async with worker(settings, w1.api.tokens) as w2:
            assert await _versions(w2.api) == {"1.0.0"}  # w2 now trusts this revision for a minute
            assert (await w1.api.publish("demo", "1.1.0", who="alice")).status_code == 201
            assert (await w2.api.publish("demo", "1.2.0", who="alice")).status_code == 201  # conflict, retried
            assert (await w2.api.publish("demo", "1.1.0", who="alice")).status_code == 409
            assert await _versions(w2.api) == {"1.0.0", "1.1.0", "1.2.0"}
