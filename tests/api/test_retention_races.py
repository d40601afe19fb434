"""Retention against changes made while a run goes, and what a run reads (both backends).

The feed is read again before each package and after the rows the removal writes: a view made and promoted to,
a tag, or a policy removed during a run all count. Downloads still in memory count; two workers never move a
download day back; planning reads no manifest blob, and no download row for a package within its limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from feed_core import retention_job
from feed_core.domain.download_times import DOWNLOAD_RECORDING_GRANULARITY
from feed_core.domain.models import Feed
from feed_core.retention_job import RetentionReport, RetentionRun
from feed_core.service.container import build_services, open_storage
from feed_core.service.download_times import DownloadRecorder
from feed_core.storage.ports import Storage
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process
from tests.api.test_cargo_hosting import cargo, raw
from tests.api.test_cargo_hosting import published as cargo_published
from tests.api.test_retention import clock_of, download, live, publish_hourly, set_policy
from tests.counting_storage import CountingBlobStore, CountingTableStore, RacingTableStore

FEEDS = f"/{ORG}/_apis/packaging/feeds"
GOLD = {"views": {"op": "add", "path": "/views/-", "value": "Gold"}}
RELEASE = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}


def run_at(api: Api, *, dry_run: bool = False) -> RetentionRun:
    """One run's settings as ``run_retention`` makes them, at the clock's now (recording began long ago)."""
    now = clock_of(api)()
    slack = DOWNLOAD_RECORDING_GRANULARITY + timedelta(seconds=api.services.downloads.flush_seconds)
    return RetentionRun(api.services, now, now - timedelta(days=365), slack, RetentionReport(dry_run=dry_run))


async def the_feed(api: Api) -> Feed:
    return await api.services.feeds.find(ORG, None, "feed")


async def make_gold_view(api: Api) -> None:
    r = await api.http.post(f"{FEEDS}/feed/views", json={"name": "Gold"}, headers=api.auth())
    assert r.status_code in (200, 201), r.text


async def promote(api: Api, name: str, version: str, body: dict[str, object]) -> None:
    r = await api.http.patch(f"{FEEDS}/feed/npm/{name}/versions/{version}", json=body, headers=api.auth("alice"))
    assert r.status_code == 200, r.text


# --- the feed as it is now ---------------------------------------------------------------------------------------


async def test_a_view_made_and_promoted_to_after_the_run_read_the_feed_is_kept(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "racy", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)
    stale = await the_feed(api)  # as the run read it when it began
    await make_gold_view(api)
    await promote(api, "racy", "1.0.0", GOLD)
    await retention_job.retain_package(run_at(api), stale, "npm", "racy")
    assert await live(api, "racy") == ["1.0.0", "3.0.0"]


async def test_a_policy_removed_during_a_run_stops_it_for_the_packages_left(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "halt", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)
    stale = await the_feed(api)
    assert (await api.http.delete(f"{FEEDS}/feed/retentionpolicies", headers=api.auth())).status_code == 204
    assert await retention_job.retain_package(run_at(api), stale, "npm", "halt") is None
    assert await live(api, "halt") == ["1.0.0", "2.0.0", "3.0.0"]


async def test_a_feed_deleted_during_a_run_is_skipped(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "gone", "1.0.0", "2.0.0")
    await set_policy(api, countLimit=1)
    stale = await the_feed(api)
    assert (await api.http.delete(f"{FEEDS}/feed", headers=api.auth())).status_code == 204
    assert await retention_job.retain_package(run_at(api), stale, "npm", "gone") is None
    _, versions = await api.services.packages.store.get_package(stale.id, "npm", "gone")
    assert sorted(v.version for v in versions if v.deleted is None) == ["1.0.0", "2.0.0"]


# --- changes between planning and removal ---------------------------------------------------------------------


@dataclass
class Racing:
    api: Api
    #: Another worker on the same storage (its writes do not wait for this worker's turns per package).
    other: Api
    tables: RacingTableStore


@pytest.fixture
async def racing(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Racing]:
    """The app on tables whose next package write can be raced, a staffed feed, and a second worker."""
    settings = make_settings()
    inner = await open_storage(settings)
    tables = RacingTableStore(inner.tables)
    svc = await build_services(settings, clock=clock, storage=Storage(tables, inner.blobs))
    other = await build_services(make_settings(), clock=clock, storage=inner)
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        async with (
            httpx.AsyncClient(transport=in_process(svc), base_url="http://feed.test") as http,
            httpx.AsyncClient(transport=in_process(other), base_url="http://feed.test") as other_http,
        ):
            api = Api(http, svc)
            await api.create_feed("feed")
            await api.staff("feed")
            yield Racing(api, Api(other_http, other, api.tokens), tables)
    finally:
        await other.upstreams.close()  # the storage is the first worker's: it closes it
        await svc.close()


async def race(racing: Racing, change: Callable[[], Awaitable[None]]) -> None:
    """Run retention with ``change`` (by the other worker) landing between the removal's read of the rows and
    its write."""
    racing.tables.before_transact = ("packages", change)
    await retention_job.run_retention(racing.api.services)
    assert racing.tables.before_transact is None, "the change did not run"


async def test_a_version_promoted_between_planning_and_removal_stays(
    racing: Racing,
) -> None:
    api, other = racing.api, racing.other
    await publish_hourly(api, "raced", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)
    await race(racing, lambda: promote(other, "raced", "1.0.0", RELEASE))
    assert await live(api, "raced") == ["1.0.0", "3.0.0"]


async def test_a_view_made_and_promoted_to_between_planning_and_removal_counts(
    racing: Racing,
) -> None:
    api, other = racing.api, racing.other
    await publish_hourly(api, "raced", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)

    async def gold() -> None:
        await make_gold_view(other)
        await promote(other, "raced", "2.0.0", GOLD)

    await race(racing, gold)
    assert await live(api, "raced") == ["2.0.0", "3.0.0"]


async def test_a_version_tagged_between_planning_and_removal_stays(racing: Racing) -> None:
    api, other = racing.api, racing.other
    await publish_hourly(api, "raced", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)

    async def tag() -> None:
        url = other.registry() + "-/package/raced/dist-tags/stable"
        r = await other.http.put(url, json="1.0.0", headers=other.auth("alice"))
        assert r.status_code in (200, 201), r.text

    await race(racing, tag)
    assert await live(api, "raced") == ["1.0.0", "3.0.0"]


# --- downloads ----------------------------------------------------------------------------------------------------


async def test_a_download_still_in_memory_protects_its_version(feed_api: Api) -> None:
    """serve --with-jobs: a download this process has not written yet counts (the run writes it first)."""
    api = feed_api
    await publish_hourly(api, "mem", "1.0.0", "2.0.0", "3.0.0")
    await download(api, "mem", "3.0.0")
    await api.services.downloads.flush()  # recording began
    clock_of(api).advance(days=60)
    await set_policy(api, countLimit=1, daysToKeepRecentlyDownloadedPackages=30)
    await download(api, "mem", "1.0.0")  # just now, still in memory
    await retention_job.run_retention(api.services)
    assert await live(api, "mem") == ["1.0.0", "3.0.0"]


async def test_a_stored_day_a_flush_interval_past_the_window_still_counts(feed_api: Api) -> None:
    """Another worker writes a day up to its flush interval late: a download at 23:59:58 is written after
    midnight. The window allows for that on top of the day a stored day may lag."""
    api = feed_api
    await publish_hourly(api, "late", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1, daysToKeepRecentlyDownloadedPackages=30)
    feed = await the_feed(api)
    clock = clock_of(api)
    clock.now = datetime(2027, 1, 1, 0, 0, 2, tzinfo=UTC)
    # 31 days and 2 seconds before now: past the 30 days and the day a stored day may lag, within the flush.
    await api.services.downloads.store.put(feed.id, "npm", "late", "1.0.0", date(2026, 12, 1))
    plan = await retention_job.retain_package(run_at(api, dry_run=True), feed, "npm", "late")
    assert plan is not None and [r.version for r in plan.removals] == ["2.0.0"]


async def test_two_workers_never_move_a_download_day_back(feed_api: Api) -> None:
    """A worker that flushes yesterday's day after another wrote today's leaves today's."""
    api = feed_api
    store = api.services.downloads.store
    feed = await the_feed(api)
    t = [datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC)]
    w1 = DownloadRecorder(store, lambda: t[0], flush_seconds=3600)
    w2 = DownloadRecorder(store, lambda: t[0], flush_seconds=3600)
    w1.record(feed.id, "npm", "x", "1.0.0")  # 23:59:59 on worker 1, flushed a few seconds later
    t[0] += timedelta(seconds=2)
    w2.record(feed.id, "npm", "x", "1.0.0")  # 00:00:01 the next day on worker 2
    await w2.flush()
    await w1.flush()
    for w in (w1, w2):
        await w.close()
    days = await store.package(feed.id, "npm", "x")
    assert days["1.0.0"] == datetime(2026, 5, 2, tzinfo=UTC), days


# --- what a run reads -------------------------------------------------------------------------------------------


async def test_packages_within_the_limit_cost_no_download_read(feed_api: Api) -> None:
    api = feed_api
    for i in range(5):
        await publish_hourly(api, f"small{i}", "1.0.0")
    await publish_hourly(api, "big", "1.0.0", "2.0.0")
    await set_policy(api, countLimit=1, daysToKeepRecentlyDownloadedPackages=30)
    store = api.services.downloads.store
    counter = CountingTableStore(store._t)
    store._t = counter
    await retention_job.run_retention(api.services)
    assert counter.by_table.get(("query", "downloads"), 0) == 1, counter.by_table  # "big" only


async def test_planning_reads_no_manifest_blobs(feed_api: Api) -> None:
    """A manifest over 30K characters lives in a blob; the plan needs none of them."""
    api = feed_api
    big = {"keywords": ["k" * 200] * 200}  # ~40K characters of manifest
    for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        r = await api.publish("heavy", v, who="alice", extra=big)
        assert r.status_code == 201, r.text
    await set_policy(api, countLimit=10)
    store = api.services.packages.store
    counter = CountingBlobStore(store._b)
    store._b = counter
    await retention_job.run_retention(api.services)
    assert counter.calls["read_all"] == 0, counter.calls


# --- the newest version clients see -------------------------------------------------------------------------------


async def test_the_newest_listed_nuget_version_is_kept_when_the_newest_is_unlisted(feed_api: Api) -> None:
    from tests.api.test_nuget_api import push as nuget_push
    from tests.nupkg_builder import build_nupkg

    api = feed_api
    for v in ("1.0.0", "1.1.0", "2.0.0"):
        assert (await nuget_push(api, build_nupkg("Contoso.Lib", v))).status_code == 201
        clock_of(api).advance(hours=1)
    url = f"{FEEDS}/feed/nuget/packages/contoso.lib/versions/2.0.0"
    r = await api.http.patch(url, json={"listed": False}, headers=api.auth("alice"))
    assert r.status_code in (200, 202, 204), r.text
    await set_policy(api, countLimit=1)
    await retention_job.run_retention(api.services)
    _, versions = await api.services.packages.store.get_package((await the_feed(api)).id, "nuget", "contoso.lib")
    assert sorted(v.version for v in versions if v.deleted is None) == ["1.1.0", "2.0.0"]


async def test_the_newest_crate_not_yanked_is_kept_when_the_newest_is_yanked(feed_api: Api) -> None:
    api = feed_api
    for v in ("0.1.0", "0.2.0", "0.3.0"):
        await cargo_published(api, "crab", v)
        clock_of(api).advance(hours=1)
    r = await api.http.delete(f"{cargo()}/api/v1/crates/crab/0.3.0/yank", headers=raw(api))
    assert r.status_code == 200, r.text
    await set_policy(api, countLimit=1)
    await retention_job.run_retention(api.services)
    _, versions = await api.services.packages.store.get_package((await the_feed(api)).id, "cargo", "crab")
    assert sorted(v.version for v in versions if v.deleted is None) == ["0.2.0", "0.3.0"]
