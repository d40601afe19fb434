"""Retention on both backends: the policy over REST, download times as downloads record them, and the job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from feed_core import jobs
from feed_core.service.container import build_services, open_storage
from feed_core.service.packages import RETENTION
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process
from tests.api.test_cargo_hosting import cargo, raw
from tests.api.test_cargo_hosting import published as cargo_published
from tests.api.test_maven_hosting import DIR, A, G, release_files
from tests.api.test_nuget_api import push as nuget_push
from tests.api.test_nuget_api import v3 as nuget_v3
from tests.api.test_pypi_api import PIP_ACCEPT, base, upload
from tests.counting_storage import CountingTableStore, counting
from tests.maven_packages import basic, deploy, repo
from tests.nupkg_builder import build_nupkg

POLICY = f"/{ORG}/_apis/packaging/feeds/feed/retentionpolicies?api-version=7.1"
PROMOTE = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
NO_POLICY = {"countLimit": None, "daysToKeepRecentlyDownloadedPackages": None, "ageLimitInDays": None}


def clock_of(api: Api) -> MutableClock:
    clock = api.services.clock
    assert isinstance(clock, MutableClock)
    return clock


async def set_policy(api: Api, **body: Any) -> None:
    r = await api.http.put(POLICY, json=body, headers=api.auth())
    assert r.status_code == 200, r.text


async def publish_hourly(api: Api, name: str, *versions: str, tag: str | None = None) -> None:
    """Publish ``versions`` in this order, an hour apart (so the first is the oldest)."""
    for v in versions:
        r = await api.publish(name, v, who="alice", **({"tag": tag} if tag else {}))
        assert r.status_code == 201, r.text
        clock_of(api).advance(hours=1)


async def download(api: Api, name: str, version: str) -> httpx.Response:
    r = await api.http.get(f"{api.registry()}{name}/-/{name}-{version}.tgz", headers=api.auth("bob"))
    assert r.status_code == 200, r.text
    return r


async def live(api: Api, name: str) -> list[str]:
    feed = await api.services.feeds.find(ORG, None, "feed")
    _, versions = await api.services.packages.store.get_package(feed.id, "npm", name)
    return sorted(v.version for v in versions if v.deleted is None)


# --- the policy over REST ----------------------------------------------------------------------------------------


async def test_the_policy_round_trips_and_survives_other_feed_changes(feed_api: Api) -> None:
    api = feed_api
    r = await api.http.get(POLICY, headers=api.auth("bob"))
    assert r.status_code == 200 and r.json() == NO_POLICY
    r = await api.http.put(
        POLICY, json={"countLimit": 5, "daysToKeepRecentlyDownloadedPackages": 30}, headers=api.auth()
    )
    assert r.status_code == 200
    stored = {"countLimit": 5, "daysToKeepRecentlyDownloadedPackages": 30, "ageLimitInDays": None}
    assert r.json() == stored
    patch = await api.http.patch(f"/{ORG}/_apis/packaging/feeds/feed", json={"description": "x"}, headers=api.auth())
    assert patch.status_code == 200
    assert (await api.http.get(POLICY, headers=api.auth("bob"))).json() == stored
    # ageLimitInDays is deprecated in Azure and ignored here too; the days are optional.
    await set_policy(api, countLimit=2, ageLimitInDays=10)
    shown = {"countLimit": 2, "daysToKeepRecentlyDownloadedPackages": None, "ageLimitInDays": None}
    assert (await api.http.get(POLICY, headers=api.auth("bob"))).json() == shown
    assert (await api.http.delete(POLICY, headers=api.auth())).status_code == 204
    assert (await api.http.get(POLICY, headers=api.auth("bob"))).json() == NO_POLICY
    feed = await api.services.feeds.find(ORG, None, "feed")
    assert feed.retention_policy is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"countLimit": 0}, "countLimit must be between 1 and 5000, not 0"),
        ({"countLimit": 5001}, "countLimit must be between 1 and 5000"),
        ({"countLimit": "3"}, "countLimit must be a whole number, not '3'"),
        ({"countLimit": 2.5}, "countLimit must be a whole number"),
        ({"countLimit": True}, "countLimit must be a whole number"),
        ({"countLimit": 3, "daysToKeepRecentlyDownloadedPackages": 0}, "must be between 1 and 4000"),
        ({"daysToKeepRecentlyDownloadedPackages": 5}, "daysToKeepRecentlyDownloadedPackages needs countLimit"),
        ({"countLimit": 3, "count": 4}, "unknown retention policy field(s): count"),
        ([{"countLimit": 3}], ""),
    ],
)
async def test_bad_policies_are_refused_with_the_reason(feed_api: Api, body: Any, message: str) -> None:
    api = feed_api
    await set_policy(api, countLimit=7)
    r = await api.http.put(POLICY, json=body, headers=api.auth())
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert (await api.http.get(POLICY, headers=api.auth())).json()["countLimit"] == 7


async def test_only_owners_change_the_policy_and_a_read_scope_narrows_an_owner(feed_api: Api) -> None:
    api = feed_api
    await api.grant("feed", "dave", "administrator")
    await api.token("dave", "vso.packaging")
    for who in ("bob", "carol", "alice", "dave"):
        r = await api.http.put(POLICY, json={"countLimit": 3}, headers=api.auth(who))
        assert r.status_code == 403, (who, r.text)
        assert "changing the retention policy in feed feed needs the Feed Owner" in r.json()["message"]
        assert (await api.http.delete(POLICY, headers=api.auth(who))).status_code == 403
        assert (await api.http.get(POLICY, headers=api.auth(who))).status_code == 200
    r = await api.http.put(POLICY, json={"countLimit": 3}, headers=api.auth("dave"))
    assert "scope vso.packaging" in r.json()["message"]
    assert (await api.http.put(POLICY, json={"countLimit": 3})).status_code == 401
    await api.create_feed("private")
    other = POLICY.replace("/feed/", "/private/")
    assert (await api.http.get(other, headers=api.auth("bob"))).status_code in (403, 404)
    assert (await api.http.get(POLICY.replace("/feed/", "/nosuch/"), headers=api.auth())).status_code == 404


# --- recording downloads -------------------------------------------------------------------------------------------


async def test_a_download_shows_up_after_a_flush_and_a_head_is_no_download(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "dl", "1.0.0", "2.0.0")
    feed = await api.services.feeds.find(ORG, None, "feed")
    store = api.services.downloads.store
    head = await api.http.head(f"{api.registry()}dl/-/dl-2.0.0.tgz", headers=api.auth("bob"))
    assert head.status_code == 200
    await download(api, "dl", "1.0.0")
    assert await store.package(feed.id, "npm", "dl") == {}  # the request only noted it in memory
    assert await api.services.downloads.flush() == 1
    day = clock_of(api).now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert await store.package(feed.id, "npm", "dl") == {"1.0.0": day}
    assert await store.recording_since() is not None


async def test_a_python_file_download_is_recorded_too(feed_api: Api) -> None:
    api = feed_api
    filename, _, _, status = await upload(api, "Demo.Pkg", "1.0")
    assert status == 200
    doc = (await api.http.get(base() + "simple/demo-pkg/", headers={**PIP_ACCEPT, **api.auth("bob")})).json()
    (url,) = [f["url"] for f in doc["files"] if f["filename"] == filename]
    assert (await api.http.get(url, headers=api.auth("bob"))).status_code == 200
    await api.services.downloads.close()
    feed = await api.services.feeds.find(ORG, None, "feed")
    assert set(await api.services.downloads.store.package(feed.id, "pypi", "demo-pkg")) == {"1.0"}


async def test_a_version_saved_from_an_upstream_feed_counts_as_downloaded_in_both(feed_api: Api) -> None:
    """The saving feed counts the download, and so does the feed of this service it came from (its file was read
    there), even though nothing downloaded it from that feed directly."""
    api = feed_api
    await api.create_feed("team")
    await api.follow_internal_upstream("team", "feed", ("npm",))
    await publish_hourly(api, "shared", "1.0.0")
    r = await api.http.get(f"{api.registry('team')}shared/-/shared-1.0.0.tgz", headers=api.auth())
    assert r.status_code == 200
    await api.services.downloads.flush()
    team = await api.services.feeds.find(ORG, None, "team")
    upstream = await api.services.feeds.find(ORG, None, "feed")
    for one in (team, upstream):
        assert set(await api.services.downloads.store.package(one.id, "npm", "shared")) == {"1.0.0"}, one.name


async def test_nuget_maven_and_cargo_file_downloads_are_recorded(feed_api: Api) -> None:
    api = feed_api
    assert (await nuget_push(api, build_nupkg("Contoso.Lib", "1.2.0"))).status_code == 201
    r = await api.http.get(f"{nuget_v3()}flat2/contoso.lib/1.2.0/contoso.lib.1.2.0.nupkg", headers=api.auth("bob"))
    assert r.status_code == 200
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    deployed = await deploy(api.http, alice, G, A, "1.0", release_files())
    assert all(r.status_code in (200, 201) for r in deployed)
    r = await api.http.get(repo() + DIR + "lib-1.0.jar.sha1", headers=bob)  # a checksum is no download
    assert r.status_code == 200
    await api.services.downloads.flush()
    feed = await api.services.feeds.find(ORG, None, "feed")
    store = api.services.downloads.store
    assert await store.package(feed.id, "maven", f"{G}:{A}") == {}
    assert (await api.http.get(repo() + DIR + "lib-1.0.pom", headers=bob)).status_code == 200
    await cargo_published(api, "crab", "0.1.0")
    r = await api.http.get(f"{cargo()}/api/v1/crates/crab/0.1.0/download", headers=raw(api, "bob"))
    assert r.status_code == 200
    await api.services.downloads.flush()
    assert set(await store.package(feed.id, "nuget", "contoso.lib")) == {"1.2.0"}
    assert set(await store.package(feed.id, "maven", f"{G}:{A}")) == {"1.0"}
    assert set(await store.package(feed.id, "cargo", "crab")) == {"0.1.0"}


@pytest.fixture
async def counted(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[tuple[Api, CountingTableStore]]:
    settings = make_settings()
    storage, tables, _ = counting(await open_storage(settings))
    svc = await build_services(settings, clock=clock, storage=storage)
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        async with httpx.AsyncClient(transport=in_process(svc), base_url="http://feed.test") as http:
            api = Api(http, svc)
            await api.create_feed("feed")
            await api.staff("feed")
            yield api, tables
    finally:
        await svc.close()


def writes(tables: CountingTableStore) -> int:
    """Rows written to the downloads table, however written."""
    return sum(tables.by_table.get((op, "downloads"), 0) for op in ("insert", "update", "upsert"))


async def test_many_downloads_of_one_version_on_one_day_cost_one_write(
    counted: tuple[Api, CountingTableStore],
) -> None:
    api, tables = counted
    await publish_hourly(api, "hot", "1.0.0")
    await publish_hourly(api, "warm", "1.0.0")
    await download(api, "warm", "1.0.0")
    await api.services.downloads.flush()  # the first flush also marks when recording began
    tables.reset()
    for _ in range(25):
        await download(api, "hot", "1.0.0")
    assert writes(tables) == 0  # nothing on the download path itself
    await api.services.downloads.flush()
    clock_of(api).advance(hours=5)  # still the same day
    for _ in range(25):
        await download(api, "hot", "1.0.0")
    await api.services.downloads.flush()
    assert writes(tables) == 1
    clock_of(api).advance(days=1)  # the next day: one more
    await download(api, "hot", "1.0.0")
    await api.services.downloads.flush()
    assert writes(tables) == 2


# --- the job ---------------------------------------------------------------------------------------------------------


async def test_the_count_limit_moves_the_oldest_versions_to_the_recycle_bin(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "lib", "1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0")
    await set_policy(api, countLimit=2)
    report = await jobs.run_retention(api.services)
    assert [(r.package, r.version) for r in report.removed] == [("lib", "1.0.0"), ("lib", "1.1.0"), ("lib", "1.2.0")]
    assert report.line == (
        f"retention on feed {ORG}/feed: moved 3 versions of 1 package to the recycle bin, kept 2 versions of 1 package"
    )
    assert await live(api, "lib") == ["2.0.0", "2.1.0"]
    feed = await api.services.feeds.find(ORG, None, "feed")
    gone = await api.services.packages.store.get_version(feed.id, "npm", "lib", "1.0.0")
    assert gone is not None and gone.deleted is not None and gone.deleted_by == RETENTION
    # In the recycle bin: the number stays reserved, and the file is no longer served.
    r = await api.publish("lib", "1.0.0", who="alice")
    assert r.status_code in (403, 409) and "1.0.0" in r.text
    r = await api.http.get(f"{api.registry()}lib/-/lib-1.0.0.tgz", headers=api.auth("bob"))
    assert r.status_code == 404
    again = await jobs.run_retention(api.services)
    assert again.removed == [] and "moved 0 versions" in again.line


async def test_versions_in_views_and_tagged_ones_are_kept(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "app", "3.0.0", "1.0.0", "1.1.0", "1.2.0")
    await publish_hourly(api, "app", "4.0.0-rc.1", tag="next")
    tags = f"{api.registry()}-/package/app/dist-tags"
    assert (await api.http.put(f"{tags}/latest", json="3.0.0", headers=api.auth("alice"))).status_code == 201
    versions = f"/{ORG}/_apis/packaging/feeds/feed/npm/app/versions"
    r = await api.http.patch(f"{versions}/1.0.0", json=PROMOTE, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    await set_policy(api, countLimit=1)
    report = await jobs.run_retention(api.services)
    # 1.0.0 is in @Release (and does not count); 3.0.0 and 4.0.0-rc.1 are tagged: three count, one may stay, and
    # the two that are not protected go although the limit is not reached.
    assert [r.version for r in report.removed] == ["1.1.0", "1.2.0"]
    assert await live(api, "app") == ["1.0.0", "3.0.0", "4.0.0-rc.1"]
    assert (await api.http.get(tags, headers=api.auth("bob"))).json() == {"latest": "3.0.0", "next": "4.0.0-rc.1"}


async def test_a_version_downloaded_within_the_days_is_kept(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "used", "1.0.0", "2.0.0", "3.0.0")
    await download(api, "used", "3.0.0")  # download times are recorded from now on
    await api.services.downloads.flush()
    clock_of(api).advance(days=40)
    await download(api, "used", "1.0.0")
    await api.services.downloads.flush()
    await set_policy(api, countLimit=1, daysToKeepRecentlyDownloadedPackages=30)
    report = await jobs.run_retention(api.services)
    assert [r.version for r in report.removed] == ["2.0.0"]
    assert "no download recorded" in report.removed[0].reason
    assert await live(api, "used") == ["1.0.0", "3.0.0"]


async def test_versions_with_no_download_count_from_when_recording_began(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "old", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1, daysToKeepRecentlyDownloadedPackages=30)
    clock_of(api).advance(days=100)  # published long ago, but nothing recorded a download yet
    first = await jobs.run_retention(api.services)
    assert first.removed == [] and await live(api, "old") == ["1.0.0", "2.0.0", "3.0.0"]
    clock_of(api).advance(days=31)
    later = await jobs.run_retention(api.services)
    assert [r.version for r in later.removed] == ["1.0.0", "2.0.0"]


async def test_a_dry_run_reports_and_changes_nothing(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "dry", "1.0.0", "2.0.0", "3.0.0")
    await set_policy(api, countLimit=1)
    feed = await api.services.feeds.find(ORG, None, "feed")
    _, before = await api.services.packages.store.get_package(feed.id, "npm", "dry")
    report = await jobs.run_retention(api.services, dry_run=True, feed="FEED")
    assert [(r.feed, r.protocol, r.package, r.version) for r in report.removed] == [
        (f"{ORG}/feed", "npm", "dry", "1.0.0"),
        (f"{ORG}/feed", "npm", "dry", "2.0.0"),
    ]
    assert report.line.endswith(
        "would move 2 versions of 1 package to the recycle bin, kept 1 version of 1 package (dry run)"
    )
    _, after = await api.services.packages.store.get_package(feed.id, "npm", "dry")
    assert [(v.version, v.deleted, v.etag) for v in after] == [(v.version, v.deleted, v.etag) for v in before]
    assert await api.services.downloads.store.recording_since() is None
    real = await jobs.run_retention(api.services)
    assert [r.version for r in real.removed] == ["1.0.0", "2.0.0"]


async def test_the_job_covers_every_feed_with_a_policy_and_every_protocol(feed_api: Api) -> None:
    api = feed_api
    await api.create_feed("other")
    await api.staff("other")
    await publish_hourly(api, "np", "1.0.0", "2.0.0")
    for version in ("3.0", "1.0", "2.0"):  # 3.0, the oldest, is the newest: it stays
        assert (await upload(api, "py-lib", version))[3] == 200
        clock_of(api).advance(hours=1)
    for version in ("1.0.0", "2.0.0"):
        assert (await api.publish("kept", version, who="alice", feed="other")).status_code == 201
    await set_policy(api, countLimit=1)
    report = await jobs.run_retention(api.services)
    assert sorted((r.protocol, r.package, r.version) for r in report.removed) == [
        ("npm", "np", "1.0.0"),
        ("pypi", "py-lib", "1.0"),
        ("pypi", "py-lib", "2.0"),
    ]
    assert report.feeds == 1 and report.packages == 2
    with pytest.raises(Exception, match="no feed named 'nosuch'"):
        await jobs.run_retention(api.services, feed="nosuch")


async def test_more_versions_than_one_edit_holds_go_in_several(feed_api: Api, clock: MutableClock) -> None:
    api = feed_api
    feed = await api.services.feeds.find(ORG, None, "feed")
    versions = [f"1.0.{i}" for i in range(100)]
    for v in versions:
        assert (await api.publish("many", v, who="alice")).status_code == 201
        clock.advance(minutes=1)
    await set_policy(api, countLimit=3)
    report = await jobs.run_retention(api.services)
    assert len(report.removed) == 97
    assert await live(api, "many") == ["1.0.97", "1.0.98", "1.0.99"]
    meta = await api.services.packages.store.get_meta(feed.id, "npm", "many")
    assert meta is not None and meta.dist_tags["latest"] == "1.0.99"


async def test_a_purged_version_loses_its_download_rows(feed_api: Api) -> None:
    api = feed_api
    await publish_hourly(api, "old", "1.0.0", "2.0.0")
    for v in ("1.0.0", "2.0.0"):
        await download(api, "old", v)
    await api.services.downloads.flush()
    url = f"/{ORG}/_apis/packaging/feeds/feed/npm/old/versions/1.0.0"
    assert (await api.http.delete(url, headers=api.auth())).status_code in (200, 202, 204)
    clock_of(api).advance(days=api.services.recycle_bin.policy.days + 1)
    feed = await api.services.feeds.find(ORG, None, "feed")
    due = await api.services.recycle_bin.due(feed)
    assert await api.services.recycle_bin.purge_due(feed, due) == 1
    assert set(await api.services.downloads.store.package(feed.id, "npm", "old")) == {"2.0.0"}
