"""Storage usage (``GET feeds/{feed}/usage``), and its stored total in the feed list and the health endpoint, on both
backends: published, saved and recycle-bin bytes of npm, Python and NuGet versions; paging, roles, bad input; the gc
job measuring every feed from its one scan of the version rows; a purge removing the row; what the feed list costs."""

# ruff: noqa: F811
from __future__ import annotations

from collections.abc import AsyncIterator
from secrets import token_hex
from typing import Any

import httpx
import pytest

from feed_core import jobs
from feed_core.domain.clock import iso
from feed_core.domain.models import PackageMeta, PackageVersion
from feed_core.service.container import build_services, open_storage
from feed_core.storage.usage import StoredUsage, UsageStore, stored_usage
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process, running_api
from tests.api.upack_helpers import publish as upack_publish
from tests.api.upack_helpers import random_package
from tests.counting_storage import counting
from tests.maven_packages import basic as maven_basic
from tests.maven_packages import deploy, jar, pom
from tests.npm_packages import make_tarball, publish_body
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.nupkg_builder import build_nupkg
from tests.python_packages import make_sdist, make_wheel, upload_form

FEEDS = f"/{ORG}/_apis/packaging/feeds"
USAGE = f"{FEEDS}/feed/usage"


@pytest.fixture
async def up(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> AsyncIterator[Api]:
    """Feed ``feed`` whose npm upstream is the fixture registry; alice contributor, bob reader, carol collaborator."""
    async with running_api(make_settings(usage_max_age_seconds=0), clock) as api:
        await api.create_feed("feed")
        source = {"name": "fixture", "protocol": "npm", "location": fixture_registry.url}
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


async def publish_npm(api: Api, name: str, version: str, code: str = "") -> int:
    data = make_tarball(name, version, code=code)
    r = await api.http.put(
        api.registry() + name, json=publish_body(name, version, tarball=data), headers=api.auth("alice")
    )
    assert r.status_code == 201, r.text
    return len(data)


async def upload_python(api: Api, name: str, version: str, filename: str, data: bytes) -> None:
    fields, files = upload_form(name, version, filename, data)
    r = await api.http.post(f"/{ORG}/_packaging/feed/pypi/upload/", data=fields, files=files, headers=api.auth("alice"))
    assert r.status_code == 200, r.text


async def push_nuget(api: Api, data: bytes) -> None:
    files = {"package": ("package.nupkg", data, "application/octet-stream")}
    r = await api.http.put(
        f"/{ORG}/_packaging/feed/nuget/v3/package", files=files, headers={"X-NuGet-ApiKey": api.tokens["alice"]}
    )
    assert r.status_code == 201, r.text


async def usage(api: Api, query: str = "", who: str = "alice") -> dict[str, Any]:
    r = await api.http.get(f"{USAGE}?api-version=7.1{query}", headers=api.auth(who))
    assert r.status_code == 200, r.text
    return dict(r.json())


def figures(d: dict[str, Any]) -> tuple[int, int, int, int]:
    return d["totalBytes"], d["publishedBytes"], d["savedBytes"], d["recycleBinBytes"]


async def test_every_figure_for_published_saved_and_deleted_versions(
    up: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    big1 = await publish_npm(up, "big", "1.0.0", code="x" * 3000)
    big2 = await publish_npm(up, "big", "1.1.0", code="y" * 2000)
    small = await publish_npm(up, "small", "1.0.0")
    wheel_name, wheel, _ = make_wheel("demo", "1.0")
    sdist_name, sdist, _ = make_sdist("demo", "1.0")
    await upload_python(up, "demo", "1.0", wheel_name, wheel)
    await upload_python(up, "demo", "1.0", sdist_name, sdist)
    nupkg = build_nupkg("Contoso.Lib", "1.0.0")
    await push_nuget(up, nupkg)
    saved = make_tarball("left-pad", "1.0.0", code="z" * 500)
    fixture_registry.add("left-pad", "1.0.0", tarball=saved)
    r = await up.http.get(f"{up.registry()}left-pad/-/left-pad-1.0.0.tgz", headers=up.auth("carol"))
    assert r.status_code == 200 and r.content == saved
    r = await up.http.delete(f"{FEEDS}/feed/npm/big/versions/1.0.0?api-version=7.1", headers=up.auth("alice"))
    assert r.status_code == 200, r.text
    clock.advance(minutes=5)

    got = await usage(up)
    python = len(wheel) + len(sdist)
    published = big2 + small + python + len(nupkg)
    assert figures(got) == (published + len(saved) + big1, published, len(saved), big1)
    assert got["computedAt"] == iso(clock.now) and got["feedId"] == (await feed_id(up))
    assert got["versions"] == 6
    assert got["distinctBytes"] == got["totalBytes"]  # nothing shared here
    assert got["protocols"] == {
        "npm": {
            "totalBytes": big1 + big2 + small + len(saved),
            "publishedBytes": big2 + small,
            "savedBytes": len(saved),
            "recycleBinBytes": big1,
            "packages": 3,
            "versions": 4,
            "recycleBinVersions": 1,
        },
        "nuget": {
            "totalBytes": len(nupkg),
            "publishedBytes": len(nupkg),
            "savedBytes": 0,
            "recycleBinBytes": 0,
            "packages": 1,
            "versions": 1,
            "recycleBinVersions": 0,
        },
        "pypi": {
            "totalBytes": python,
            "publishedBytes": python,
            "savedBytes": 0,
            "recycleBinBytes": 0,
            "packages": 1,
            "versions": 1,
            "recycleBinVersions": 0,
        },
    }
    packages = {(p["protocol"], p["name"]): p for p in got["packages"]}
    assert got["count"] == len(got["packages"]) == 5
    totals = [p["totalBytes"] for p in got["packages"]]
    assert totals == sorted(totals, reverse=True)
    assert figures(packages[("npm", "big")]) == (big1 + big2, big2, 0, big1)
    assert packages[("npm", "big")]["versions"] == 2 and packages[("npm", "big")]["recycleBinVersions"] == 1
    assert figures(packages[("npm", "left-pad")]) == (len(saved), 0, len(saved), 0)
    assert figures(packages[("pypi", "demo")]) == (python, python, 0, 0)
    assert figures(packages[("nuget", "contoso.lib")]) == (len(nupkg),) * 2 + (0, 0)
    assert figures(packages[("npm", "small")]) == (small, small, 0, 0)


async def feed_id(api: Api, name: str = "feed") -> str:
    r = await api.http.get(f"{FEEDS}/{name}", headers=api.auth())
    return str(r.json()["id"])


async def test_a_blob_two_versions_hold_counts_for_each_and_once_in_distinct_bytes(up: Api) -> None:
    same = jar("com/example/Main.class")  # the very same jar in two Maven versions: stored once
    poms = {v: pom("com.example", "lib", v) for v in ("1.0", "1.1")}
    for v, p in poms.items():
        files = {f"lib-{v}.jar": same, f"lib-{v}.pom": p}
        responses = await deploy(up.http, maven_basic(up.tokens["alice"]), "com.example", "lib", v, files)
        assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    got = await usage(up)
    poms_size = sum(len(p) for p in poms.values())
    assert got["totalBytes"] == got["publishedBytes"] == 2 * len(same) + poms_size
    assert got["distinctBytes"] == len(same) + poms_size
    (package,) = got["packages"]
    assert (package["protocol"], package["name"], package["versions"]) == ("maven", "com.example:lib", 2)


async def test_paging_and_the_protocol_filter(up: Api) -> None:
    sizes = {f"p{i}": await publish_npm(up, f"p{i}", "1.0.0", code=token_hex(500 * (5 - i))) for i in range(5)}
    await push_nuget(up, build_nupkg("Only.One", "1.0.0"))
    everything = await usage(up)
    names = [p["name"] for p in everything["packages"]]
    page = await usage(up, "&$top=2&$skip=1")
    assert [p["name"] for p in page["packages"]] == names[1:3] and page["count"] == 2
    assert page["totalBytes"] == everything["totalBytes"]  # the totals stay the feed's
    assert (await usage(up, "&$skip=100"))["packages"] == []
    npm_only = await usage(up, "&protocolType=Npm&$top=1000")
    assert [p["name"] for p in npm_only["packages"]] == sorted(sizes, key=lambda n: -sizes[n])
    assert list(npm_only["protocols"]) == ["npm"] and npm_only["protocols"]["npm"]["totalBytes"] == sum(sizes.values())
    nuget = await usage(up, "&protocolType=NuGet")
    assert [p["name"] for p in nuget["packages"]] == ["only.one"]
    assert (await usage(up, "&protocolType=upack"))["packages"] == []


@pytest.mark.parametrize(
    "query",
    ["$top=0", "$top=1001", "$top=abc", "$top=-1", "$top=1.5", "$top=", "$skip=-1", "$skip=x", "protocolType=gem"],
)
async def test_bad_query_values_are_400(feed_api: Api, query: str) -> None:
    r = await feed_api.http.get(f"{USAGE}?{query}", headers=feed_api.auth("bob"))
    assert r.status_code == 400, r.text
    assert query.split("=")[0] in r.json()["message"]


async def test_roles_and_unknown_feeds(feed_api: Api) -> None:
    api = feed_api
    assert (await api.http.get(USAGE)).status_code == 401
    await api.token("dave", "vso.packaging")  # a user with no role in the feed
    r = await api.http.get(USAGE, headers=api.auth("dave"))
    assert r.status_code == 403 and "Reader role" in r.json()["message"]  # as every other feed route answers
    r = await api.http.get(f"{FEEDS}/nope/usage", headers=api.auth())
    assert r.status_code == 404 and "nope" in r.json()["message"]
    for who in ("bob", "carol", "alice", "admin"):
        assert (await api.http.get(USAGE, headers=api.auth(who))).status_code == 200


async def listed_usage(api: Api, name: str = "feed") -> Any:
    r = await api.http.get(FEEDS, headers=api.auth())
    assert r.status_code == 200, r.text
    return next(f for f in r.json()["value"] if f["name"] == name)["usage"]


async def health_usage(api: Api, name: str = "feed") -> Any:
    r = await api.http.get(f"{FEEDS}/{name}/health", headers=api.auth("bob"))
    assert r.status_code == 200, r.text
    return r.json()["usage"]


async def test_listing_and_health_show_the_stored_total_after_a_get_and_after_gc(
    feed_api: Api, clock: MutableClock
) -> None:
    api = feed_api
    await api.create_feed("other")
    assert await listed_usage(api) is None and await health_usage(api) is None
    size = await publish_npm(api, "one", "1.0.0")
    got = await usage(api)
    assert await listed_usage(api) == {"totalBytes": size, "computedAt": got["computedAt"]}
    assert await health_usage(api) == {"totalBytes": size, "computedAt": got["computedAt"]}
    r = await api.http.get(f"{FEEDS}/feed", headers=api.auth())
    assert "usage" not in r.json()  # a single feed's answer reads no usage row

    # the gc job measures every feed, the one nobody asked about too
    assert await listed_usage(api, "other") is None
    clock.advance(hours=1)
    await publish_npm(api, "two", "1.0.0")
    await jobs.run_gc(api.services, dry_run=True)
    assert await listed_usage(api, "other") is None  # a dry run measures nothing
    await jobs.run_gc(api.services)
    assert await listed_usage(api, "other") == {"totalBytes": 0, "computedAt": iso(clock.now)}
    listed = await listed_usage(api)
    assert listed["computedAt"] == iso(clock.now) and listed["totalBytes"] > size
    assert (await health_usage(api))["totalBytes"] == listed["totalBytes"]


async def test_purging_a_feed_removes_its_usage_row_and_gc_sweeps_rows_of_feeds_gone(feed_api: Api) -> None:
    api = feed_api
    await api.create_feed("doomed")
    r = await api.http.get(f"{FEEDS}/doomed/usage", headers=api.auth())
    assert r.status_code == 200, r.text
    doomed = r.json()["feedId"]
    store = api.services.usage
    assert doomed in await store.stored_in_org(ORG)
    assert (await api.http.delete(f"{FEEDS}/doomed", headers=api.auth())).status_code == 204
    await jobs.run_gc(api.services)
    assert doomed in await store.stored_in_org(ORG)  # in the feed recycle bin: its bytes are still held
    r = await api.http.delete(f"/{ORG}/_apis/packaging/feedrecyclebin/{doomed}", headers=api.auth())
    assert r.status_code == 204, r.text
    assert doomed not in await store.stored_in_org(ORG)

    # a row left behind (a measurement racing a purge) goes with the next gc run
    stray = StoredUsage("stray-feed", "2026-01-01T00:00:00Z", 1, 1, 0, 0, 1)
    await UsageStore(api.services.storage.tables).put(ORG, stray)
    assert "stray-feed" in await store.stored_in_org(ORG)
    await jobs.run_gc(api.services)
    assert "stray-feed" not in await store.stored_in_org(ORG)
    assert await listed_usage(api) is not None


async def test_the_feed_list_reads_no_usage_row_per_feed(make_settings: SettingsFactory) -> None:
    settings = make_settings(usage_max_age_seconds=0)
    storage, tables, blobs = counting(await open_storage(settings))
    svc = await build_services(settings, clock=MutableClock(), storage=storage)
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        async with httpx.AsyncClient(transport=in_process(svc), base_url="http://feed.test") as http:
            api = Api(http, svc)
            costs = []
            for n in range(1, 5):
                await api.create_feed(f"feed{n}")
                assert (await http.get(f"{FEEDS}/feed{n}/usage", headers=api.auth())).status_code == 200
                tables.reset()
                r = await http.get(FEEDS, headers=api.auth())
                assert r.status_code == 200 and len(r.json()["value"]) == n
                assert all(f["usage"] is not None for f in r.json()["value"])
                costs.append({k: v for k, v in tables.by_table.items() if k[1] == "feedusage"})
            assert costs == [{("query", "feedusage"): 1}] * 4

            # measuring is one scan of the version rows: no manifest (not even one kept in a blob), no content
            store = svc.packages.store
            digest, _ = await store.put_content(b"wordy package", "application/octet-stream")
            readme = {"readme": "x" * 40_000}
            wordy = PackageVersion("npm", "wordy", "1.0.0", readme, "w.tgz", digest, "", "", 13, "", "")
            await store.commit_version(await feed_id(api, "feed1"), wordy, PackageMeta("npm", "wordy"))
            assert [b async for b in svc.storage.blobs.list_blobs("manifests/")]  # kept in a blob of its own
            tables.reset()
            blobs.reset()
            r = await http.get(f"{FEEDS}/feed1/usage", headers=api.auth())
            assert r.status_code == 200 and r.json()["packages"][0]["totalBytes"] == 13
            assert blobs.total == 0
            assert {k: v for k, v in tables.by_table.items() if k[1] in ("packages", "feedusage")} == {
                ("scan", "packages"): 1,
                ("upsert", "feedusage"): 1,
            }
    finally:
        await svc.close()


async def test_readers_see_nothing_of_the_recycle_bin(up: Api, clock: MutableClock) -> None:
    """The recycle bin is listed from contributor on: a reader (or a collaborator) sees live versions only."""
    kept = await publish_npm(up, "kept", "1.0.0")
    await publish_npm(up, "kept", "1.1.0")
    await publish_npm(up, "secret", "1.0.0")
    for name, version in (("kept", "1.1.0"), ("secret", "1.0.0")):
        r = await up.http.delete(f"{FEEDS}/feed/npm/{name}/versions/{version}", headers=up.auth("alice"))
        assert r.status_code == 200, r.text
    wheel_name, wheel, _ = make_wheel("hidden", "1.0")
    await upload_python(up, "hidden", "1.0", wheel_name, wheel)
    r = await up.http.delete(f"{FEEDS}/feed/pypi/packages/hidden/versions/1.0", headers=up.auth("alice"))
    assert r.status_code in (200, 202, 204), r.text

    full = await usage(up, who="alice")
    assert {p["name"] for p in full["packages"]} == {"kept", "secret", "hidden"}
    assert full["protocols"]["npm"]["recycleBinVersions"] == 2 and full["recycleBinBytes"] > 0
    for who in ("bob", "carol"):
        seen = await usage(up, who=who)
        assert [p["name"] for p in seen["packages"]] == ["kept"], who
        (package,) = seen["packages"]
        assert package["versions"] == 1 and package["totalBytes"] == kept == package["publishedBytes"]
        assert package["recycleBinBytes"] is None and package["recycleBinVersions"] is None
        assert seen["recycleBinBytes"] is None and seen["distinctBytes"] is None
        assert seen["totalBytes"] == kept and seen["versions"] == 1
        assert list(seen["protocols"]) == ["npm"]  # no protocol of binned packages only
        npm = seen["protocols"]["npm"]
        assert npm["packages"] == 1 and npm["recycleBinVersions"] is None and npm["totalBytes"] == kept


async def test_a_worker_scans_a_feed_once_within_the_max_age(make_settings: SettingsFactory) -> None:
    settings = make_settings(usage_max_age_seconds=60)
    storage, tables, _ = counting(await open_storage(settings))
    clock = MutableClock()
    svc = await build_services(settings, clock=clock, storage=storage)
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        async with httpx.AsyncClient(transport=in_process(svc), base_url="http://feed.test") as http:
            api = Api(http, svc)
            await api.create_feed("feed")
            await api.staff("feed")
            scans = []
            for _ in range(4):
                tables.reset()
                r = await http.get(USAGE, headers=api.auth("bob"))
                assert r.status_code == 200, r.text
                scans.append(tables.by_table[("scan", "packages")])
                clock.advance(seconds=25)
            assert scans == [1, 0, 0, 1]  # computed, then served for 60 s, then computed again
            await api.publish("late", "1.0.0", who="alice")
            r = await http.get(USAGE, headers=api.auth("bob"))
            assert r.json()["packages"] == []  # within the max age: the last computation
            clock.advance(seconds=60)
            r = await http.get(USAGE, headers=api.auth("bob"))
            assert [p["name"] for p in r.json()["packages"]] == ["late"]
    finally:
        await svc.close()


def _totals(u: StoredUsage) -> tuple[int, int, int, int, int]:
    return u.total_bytes, u.published_bytes, u.saved_bytes, u.recycle_bin_bytes, u.distinct_bytes


async def test_gc_reads_the_version_rows_once_and_stores_what_a_get_measures(make_settings: SettingsFactory) -> None:
    """The gc run's one scan of the whole ``packages`` table gives both the blob references and every feed's usage,
    after its purges: a version it purges counts nowhere, a feed it purges gets no row, an empty feed a zero one.
    The only other scans of ``packages`` are by feed prefix: the recycle bin's, one per feed left, looking for versions
    due, and the purged feed's, deleting its rows."""
    settings = make_settings(usage_max_age_seconds=0, recycle_bin_days=7, deleted_feed_retention_days=7)
    storage, tables, _ = counting(await open_storage(settings))
    clock = MutableClock()
    svc = await build_services(settings, clock=clock, storage=storage)
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        async with httpx.AsyncClient(transport=in_process(svc), base_url="http://feed.test") as http:
            api = Api(http, svc)
            for name in ("feed", "empty", "purged", "binned"):
                await api.create_feed(name)
            await api.staff("feed")
            ids = {name: await feed_id(api, name) for name in ("feed", "empty", "purged", "binned")}
            await publish_npm(api, "one", "1.0.0")
            await publish_npm(api, "one", "1.1.0", code="x" * 3000)
            await publish_npm(api, "two", "1.0.0")
            wheel_name, wheel, _ = make_wheel("wheely", "1.0")
            await upload_python(api, "wheely", "1.0", wheel_name, wheel)
            await upack_publish(api, "tool", "1.0.0", random_package(), who="admin")
            for feed in ("purged", "binned"):
                assert (await api.publish("left", "1.0.0", feed=feed)).status_code == 201
            r = await http.delete(f"{FEEDS}/feed/npm/one/versions/1.1.0", headers=api.auth("alice"))
            assert r.status_code == 200, r.text
            assert (await http.delete(f"{FEEDS}/purged", headers=api.auth())).status_code == 204
            clock.advance(days=8)  # the deleted version and the deleted feed are past their days
            r = await http.delete(f"{FEEDS}/feed/npm/two/versions/1.0.0", headers=api.auth("alice"))
            assert r.status_code == 200, r.text
            assert (await http.delete(f"{FEEDS}/binned", headers=api.auth())).status_code == 204

            tables.reset()
            report = await jobs.run_gc(svc)
            assert (report.feeds_purged, report.versions_purged) == (1, 1)
            scans = {prefix: n for (table, prefix), n in tables.scans.items() if table == "packages"}
            kept = ("feed", "empty", "binned")
            assert scans == {"": 1, **{f"{ids[name]}|": 1 for name in (*kept, "purged")}}

            stored = await svc.usage.stored_in_org(ORG)
            assert set(stored) == {ids[name] for name in kept}
            assert _totals(stored[ids["empty"]]) == (0, 0, 0, 0, 0)
            assert stored[ids["feed"]].recycle_bin_bytes > 0 and stored[ids["binned"]].total_bytes > 0
            for name in ("feed", "empty"):
                got = await usage(api, who="admin") if name == "feed" else await usage_of(api, name)
                assert stored[ids[name]].computed_at == got["computedAt"]
                assert _totals(stored[ids[name]]) == (
                    got["totalBytes"],
                    got["publishedBytes"],
                    got["savedBytes"],
                    got["recycleBinBytes"],
                    got["distinctBytes"],
                ), name
            binned = await svc.catalog.get_feed_by_id(ORG, ids["binned"], include_deleted=True)
            assert binned is not None  # in the feed recycle bin: no usage route, the same computation
            measured = await svc.usage.measure(binned)
            assert _totals(stored[ids["binned"]]) == _totals(stored_usage(binned.id, measured.usage, "")), "binned"
    finally:
        await svc.close()


async def usage_of(api: Api, name: str) -> dict[str, Any]:
    r = await api.http.get(f"{FEEDS}/{name}/usage?api-version=7.1", headers=api.auth())
    assert r.status_code == 200, r.text
    return dict(r.json())
