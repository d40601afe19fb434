"""Review probes (branch review-c) for the retention work: each test states what should hold and fails today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feed_core import retention_job
from feed_core.retention_job import RetentionReport
from feed_core.service.download_times import DownloadRecorder
from tests.api.conftest import ORG, Api
from tests.api.test_retention import clock_of, download, live, publish_hourly, set_policy

FEEDS = f"/{ORG}/_apis/packaging/feeds"


async def test_a_view_created_and_promoted_to_during_a_run_is_kept(feed_api: Api) -> None:
    """The job reads the feed (its views) once at the start; a view made and promoted to meanwhile is not seen."""
    api = feed_api
    await publish_hourly(api, "racy", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)
    stale = await api.services.feeds.find(ORG, None, "feed")  # what run_retention holds for the whole run
    r = await api.http.post(f"{FEEDS}/feed/views", json={"name": "Gold"}, headers=api.auth())
    assert r.status_code in (200, 201), r.text
    gold = {"views": {"op": "add", "path": "/views/-", "value": "Gold"}}
    r = await api.http.patch(f"{FEEDS}/feed/npm/racy/versions/1.0.0", json=gold, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    now = clock_of(api)()
    report = RetentionReport(dry_run=False)
    await retention_job._package(api.services, stale, "npm", "racy", now, now, report)
    assert "1.0.0" in await live(api, "racy"), "a version promoted to a view was moved to the recycle bin"


async def test_a_download_still_in_memory_protects_its_version(feed_api: Api) -> None:
    """serve --with-jobs: the job reads only stored download days, not the ones this process still holds."""
    api = feed_api
    await publish_hourly(api, "mem", "1.0.0", "2.0.0", "3.0.0")
    await download(api, "mem", "3.0.0")
    await api.services.downloads.flush()  # recording began
    clock_of(api).advance(days=60)
    await set_policy(api, countLimit=1, daysToKeepRecentlyDownloadedPackages=30)
    await download(api, "mem", "1.0.0")  # just now, still in memory (the flush is up to 5 s away)
    await retention_job.run_retention(api.services)
    assert "1.0.0" in await live(api, "mem"), "a version downloaded seconds ago was removed"


async def test_two_workers_never_move_a_download_day_back(feed_api: Api) -> None:
    """Upserts are unconditional: a worker flushing yesterday's day after another wrote today's moves it back."""
    api = feed_api
    store = api.services.downloads.store
    feed = await api.services.feeds.find(ORG, None, "feed")
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


async def test_the_job_reads_only_what_it_needs(feed_api: Api) -> None:
    """Packages with fewer versions than the limit cannot lose any; the job still reads two partitions each."""
    from tests.counting_storage import CountingTableStore

    api = feed_api
    for i in range(5):
        await publish_hourly(api, f"small{i}", "1.0.0")
    await set_policy(api, countLimit=10)
    tables = api.services.downloads.store._t
    counter = CountingTableStore(tables) if not isinstance(tables, CountingTableStore) else tables
    api.services.downloads.store._t = counter
    counter.reset()
    await retention_job.run_retention(api.services)
    assert counter.by_table.get(("query", "downloads"), 0) == 0, counter.by_table


async def test_a_policy_removed_during_a_run_stops_it(feed_api: Api) -> None:
    """An owner who removes the policy (it is taking the wrong versions) cannot stop a run already going."""
    api = feed_api
    await publish_hourly(api, "halt", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)
    stale = await api.services.feeds.find(ORG, None, "feed")
    assert (await api.http.delete(f"{FEEDS}/feed/retentionpolicies", headers=api.auth())).status_code == 204
    now = clock_of(api)()
    await retention_job._package(api.services, stale, "npm", "halt", now, now, RetentionReport(dry_run=False))
    assert await live(api, "halt") == ["1.0.0", "2.0.0", "3.0.0"]


async def test_the_newest_listed_nuget_version_is_kept(feed_api: Api) -> None:
    """The newest version is protected even when unlisted; the latest one clients see (listed) is removed."""
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
    feed = await api.services.feeds.find(ORG, None, "feed")
    _, versions = await api.services.packages.store.get_package(feed.id, "nuget", "contoso.lib")
    assert "1.1.0" in {v.version for v in versions if v.deleted is None}, "the latest listed version was removed"


async def test_planning_reads_no_manifest_blobs(feed_api: Api) -> None:
    """A manifest over 30K characters lives in a blob; the job's plan needs none of it, yet reads one per version
    (one after another), and for a package with nothing to remove."""
    from tests.counting_storage import CountingBlobStore

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
