"""NuGet upstreams follow the same rules as npm and Python, through the feed's own NuGet v3 endpoints (flat
container, registrations, search, .nupkg downloads), against the fixture gallery on 127.0.0.1, on both backends:
minimum release age, freshness and stale-if-error, single-flight, unlisted and deprecated state, and readers
seeing only saved versions."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.nuget_gallery import NuGetGallery, nuget_gallery  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
V3 = f"/{ORG}/_packaging/feed/nuget/v3/"
TTL = 300.0


@pytest.fixture
async def up(make_settings: SettingsFactory, clock: MutableClock, nuget_gallery: NuGetGallery) -> AsyncIterator[Api]:
    """A feed whose only upstream is the fixture gallery (v3); alice contributor, bob reader, carol collaborator."""
    settings = make_settings(
        upstream_timeout=2.0,
        upstream_connect_timeout=1.0,
        upstream_download_timeout=5.0,
        upstream_ttl_seconds=TTL,
    )
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        source = {"name": "gallery", "protocol": "nuget", "location": nuget_gallery.index_url}
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


async def get(api: Api, path: str, who: str = "carol", **params: Any) -> httpx.Response:
    return await api.http.get(V3 + path, params=params, headers=api.auth(who))


async def registration(api: Api, name: str, who: str = "carol") -> httpx.Response:
    return await get(api, f"registrations-semver2/{name}/index.json", who)


def entries(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """version -> catalogEntry of an inline registration index."""
    return {item["catalogEntry"]["version"]: item["catalogEntry"] for page in doc["items"] for item in page["items"]}


async def flat_versions(api: Api, name: str, who: str = "carol") -> list[str]:
    r = await get(api, f"flat2/{name}/index.json", who)
    assert r.status_code == 200, r.text
    return list(r.json()["versions"])


async def nupkg(api: Api, name: str, version: str, who: str = "carol") -> httpx.Response:
    return await get(api, f"flat2/{name}/{version}/{name}.{version}.nupkg", who)


async def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.01)


def registration_fetches(gallery: NuGetGallery, name: str) -> int:
    return sum(1 for r in gallery.requests if r.method == "GET" and "/registration" in r.path and f"/{name}/" in r.path)


async def test_minimum_release_age_holds_young_versions_until_the_clock_passes_them(
    up: Api, nuget_gallery: NuGetGallery, clock: MutableClock
) -> None:
    young = (clock.now - timedelta(hours=2)).isoformat()
    nuget_gallery.add("Agey.Lib", "1.0.0")
    nuget_gallery.add("Agey.Lib", "1.1.0", published=young)
    r = await up.http.patch(f"{FEEDS}/feed", json={"minimumReleaseAgeHours": 24}, headers=up.auth())
    assert r.status_code == 200, r.text
    assert await flat_versions(up, "agey.lib") == ["1.0.0"]
    r = await registration(up, "agey.lib")
    assert r.status_code == 200 and list(entries(r.json())) == ["1.0.0"]
    assert r.headers["x-feed-held-versions"] == "1 by minimum release age"
    r = await nupkg(up, "agey.lib", "1.1.0")
    assert r.status_code == 404 and "minimum release age" in r.json()["message"]
    assert nuget_gallery.count("GET", "agey.lib.1.1.0.nupkg") == 0
    clock.advance(hours=23)
    assert await flat_versions(up, "agey.lib") == ["1.0.0", "1.1.0"]
    r = await nupkg(up, "agey.lib", "1.1.0")
    assert r.status_code == 200, r.text
    info = await up.http.get(f"{FEEDS}/feed/nuget/packages/agey.lib/versions/1.1.0", headers=up.auth("bob"))
    assert info.status_code == 200, info.text


async def test_an_unlisted_version_counts_its_age_from_when_the_feed_first_saw_it(
    up: Api, nuget_gallery: NuGetGallery, clock: MutableClock
) -> None:
    nuget_gallery.add("Hidden.Lib", "1.0.0")
    nuget_gallery.add("Hidden.Lib", "2.0.0", listed=False)  # the gallery shows 1900 as its published time
    r = await up.http.patch(f"{FEEDS}/feed", json={"minimumReleaseAgeHours": 24}, headers=up.auth())
    assert r.status_code == 200, r.text
    assert await flat_versions(up, "hidden.lib") == ["1.0.0"]  # 1900 is not believed: first seen now
    r = await nupkg(up, "hidden.lib", "2.0.0")
    assert r.status_code == 404 and "minimum release age" in r.json()["message"]
    assert registration_fetches(nuget_gallery, "hidden.lib") == 1
    clock.advance(hours=23)
    assert await flat_versions(up, "hidden.lib") == ["1.0.0"]
    # the stale document is fetched again (in the background); that keeps when 2.0.0 was first seen
    await until(lambda: registration_fetches(nuget_gallery, "hidden.lib") == 2)
    await asyncio.sleep(0.1)
    clock.advance(hours=2)
    assert await flat_versions(up, "hidden.lib") == ["1.0.0", "2.0.0"]
    assert (await nupkg(up, "hidden.lib", "2.0.0")).status_code == 200


async def test_fresh_metadata_is_not_asked_again_and_a_down_gallery_is_served_from_the_cache(
    up: Api, nuget_gallery: NuGetGallery, clock: MutableClock
) -> None:
    data = nuget_gallery.add("Keep.Lib", "1.0.0")
    nuget_gallery.add("Keep.Lib", "1.0.1")
    assert sorted(entries((await registration(up, "keep.lib")).json())) == ["1.0.0", "1.0.1"]
    asked = len(nuget_gallery.requests)
    assert asked > 0
    assert (await nupkg(up, "keep.lib", "1.0.0")).content == data
    clock.advance(seconds=TTL / 2)
    assert sorted(entries((await registration(up, "keep.lib")).json())) == ["1.0.0", "1.0.1"]
    assert await flat_versions(up, "keep.lib") == ["1.0.0", "1.0.1"]
    metadata = [r.path for r in nuget_gallery.requests[asked:] if not r.path.endswith(".nupkg")]
    assert [p for p in metadata if "/catalog/" not in p] == []  # within the window: the gallery is not asked again

    nuget_gallery.set_down(True)
    clock.advance(seconds=TTL * 2)
    before = len(nuget_gallery.requests)
    r = await registration(up, "keep.lib")
    assert r.status_code == 200 and sorted(entries(r.json())) == ["1.0.0", "1.0.1"]  # stale-if-error
    await until(lambda: len(nuget_gallery.requests) > before)  # it tries to revalidate (in the background)
    await asyncio.sleep(0.1)  # and that attempt fails
    r = await registration(up, "keep.lib")
    assert r.status_code == 200 and sorted(entries(r.json())) == ["1.0.0", "1.0.1"]
    assert await flat_versions(up, "keep.lib", who="bob") == ["1.0.0"]
    r = await nupkg(up, "keep.lib", "1.0.0", who="bob")
    assert r.status_code == 200 and r.content == data
    r = await nupkg(up, "keep.lib", "1.0.1")
    assert r.status_code == 502 and "gallery" in r.json()["message"]

    nuget_gallery.stop()  # gone altogether: still the cached document and the saved bytes
    clock.advance(seconds=TTL * 2)
    r = await registration(up, "keep.lib")
    assert r.status_code == 200 and sorted(entries(r.json())) == ["1.0.0", "1.0.1"]
    assert (await nupkg(up, "keep.lib", "1.0.0", who="bob")).content == data


async def test_concurrent_cold_registrations_make_one_gallery_fetch(up: Api, nuget_gallery: NuGetGallery) -> None:
    nuget_gallery.add("Cold.Lib", "1.0.0")
    nuget_gallery.add("Cold.Lib", "1.1.0")
    results = await asyncio.gather(*(registration(up, "cold.lib") for _ in range(10)))
    assert [r.status_code for r in results] == [200] * 10
    assert all(sorted(entries(r.json())) == ["1.0.0", "1.1.0"] for r in results)
    assert registration_fetches(nuget_gallery, "cold.lib") == 1


async def test_concurrent_first_downloads_make_one_nupkg_fetch_and_one_saved_version(
    up: Api, nuget_gallery: NuGetGallery
) -> None:
    data = nuget_gallery.add("Burst.Lib", "1.0.0")
    nuget_gallery.add("Burst.Lib", "2.0.0")
    assert await flat_versions(up, "burst.lib") == ["1.0.0", "2.0.0"]
    results = await asyncio.gather(*(nupkg(up, "burst.lib", "1.0.0") for _ in range(10)))
    assert [r.status_code for r in results] == [200] * 10
    assert {r.content for r in results} == {data}
    assert nuget_gallery.count("GET", "/burst.lib.1.0.0.nupkg") == 1
    assert await flat_versions(up, "burst.lib", who="bob") == ["1.0.0"]  # one saved version, and only that one
    r = await up.http.get(f"{FEEDS}/feed/nuget/packages/burst.lib/versions/1.0.0", headers=up.auth("bob"))
    assert r.status_code == 200, r.text


async def test_unlisted_state_is_carried_over_and_search_never_shows_it(up: Api, nuget_gallery: NuGetGallery) -> None:
    nuget_gallery.add("Quiet.Lib", "1.0.0")
    nuget_gallery.add("Quiet.Lib", "2.0.0")
    nuget_gallery.set_listed("Quiet.Lib", "2.0.0", False)
    shown = entries((await registration(up, "quiet.lib")).json())
    assert shown["1.0.0"]["listed"] is True and shown["2.0.0"]["listed"] is False
    leaf = await get(up, "registrations-semver2/quiet.lib/2.0.0.json")
    assert leaf.status_code == 200 and leaf.json()["listed"] is False
    for version in ("1.0.0", "2.0.0"):
        assert (await nupkg(up, "quiet.lib", version)).status_code == 200
    shown = entries((await registration(up, "quiet.lib", who="bob")).json())
    assert shown["1.0.0"]["listed"] is True and shown["2.0.0"]["listed"] is False  # saved, still unlisted
    leaf = await get(up, "registrations-semver2/quiet.lib/2.0.0.json", who="bob")
    assert leaf.json()["listed"] is False
    r = await get(up, "query", who="bob", q="quiet")
    assert r.status_code == 200, r.text
    (hit,) = r.json()["data"]
    assert [v["version"] for v in hit["versions"]] == ["1.0.0"] and hit["version"] == "1.0.0"
    r = await get(up, "autocomplete", who="bob", id="quiet.lib")
    assert r.json()["data"] == ["1.0.0"]


async def test_deprecation_is_carried_over_before_and_after_saving(up: Api, nuget_gallery: NuGetGallery) -> None:
    nuget_gallery.add("Old.Lib", "1.0.0")
    nuget_gallery.deprecate(
        "Old.Lib", "1.0.0", reasons=["Legacy", "CriticalBugs"], message="use New.Lib", alternate=("New.Lib", "*")
    )
    expected = {
        "reasons": ["Legacy", "CriticalBugs"],
        "message": "use New.Lib",
        "alternatePackage": {"id": "New.Lib", "range": "*"},
    }
    entry = entries((await registration(up, "old.lib")).json())["1.0.0"]
    assert entry["deprecation"] == expected
    assert (await nupkg(up, "old.lib", "1.0.0")).status_code == 200
    entry = entries((await registration(up, "old.lib", who="bob")).json())["1.0.0"]
    assert entry["deprecation"] == expected
    r = await get(up, "catalog/old.lib/1.0.0.json", who="bob")
    assert r.status_code == 200 and r.json()["deprecation"] == expected


async def test_readers_see_only_saved_versions(up: Api, nuget_gallery: NuGetGallery) -> None:
    nuget_gallery.add("Pub.Lib", "1.0.0")
    nuget_gallery.add("Pub.Lib", "2.0.0")
    r = await registration(up, "pub.lib", who="bob")
    assert r.status_code == 404 and "collaborator" in r.json()["message"]
    r = await nupkg(up, "pub.lib", "1.0.0", who="bob")
    assert r.status_code == 404 and "must install it first" in r.json()["message"]
    assert nuget_gallery.count("GET", "/pub.lib.1.0.0.nupkg") == 0  # a reader never makes the feed fetch files
    assert (await nupkg(up, "pub.lib", "1.0.0")).status_code == 200
    r = await registration(up, "pub.lib", who="bob")
    assert r.status_code == 200 and list(entries(r.json())) == ["1.0.0"]
    assert "1 not yet saved" in r.headers["x-feed-unsaved-versions"]
    assert await flat_versions(up, "pub.lib", who="bob") == ["1.0.0"]
    r = await nupkg(up, "pub.lib", "2.0.0", who="bob")
    assert r.status_code == 404 and "must install it first" in r.json()["message"]
    assert (await nupkg(up, "pub.lib", "1.0.0", who="bob")).status_code == 200
    assert sorted(entries((await registration(up, "pub.lib")).json())) == ["1.0.0", "2.0.0"]
