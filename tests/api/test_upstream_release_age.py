"""Release age fails closed: odd, missing and back-dated publish times, against real fixture upstreams on
127.0.0.1 (npm registry, Python index in PEP 691 JSON and PEP 503 HTML), on both backends."""

# ruff: noqa: F811
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from feed_core import jobs
from feed_core.domain.clock import iso
from feed_core.settings import Settings
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.pypi_index_fixture import FixtureIndex, fixture_index  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
ABBREV = {"Accept": "application/vnd.npm.install-v1+json"}
PY_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
PYPI = f"/{ORG}/_packaging/feed/pypi/simple/"
OLD = "2020-01-01T00:00:00.000Z"
ODD_TIMES: dict[str, object] = {
    "1.1.0": None,  # no time at all
    "1.2.0": 1700000000,  # a number
    "1.3.0": "2026-11-01T00:00:00",  # no time zone: this one made every packument a 500
    "1.4.0": "garbage",
    "1.5.0": "0000-01-01T00:00:00Z",  # year 0
    "1.6.0": "99999-01-01T00:00:00Z",  # year 99999
}
UNKNOWN_NOTE = f"{len(ODD_TIMES)} by minimum release age ({len(ODD_TIMES)} without a usable upstream publish time)"


def npm_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)


async def set_up(api: Api, protocol: str, location: str, **feed: Any) -> None:
    await api.create_feed("feed")
    source = {"name": "fixture", "protocol": protocol, "location": location, "upstreamSourceType": "public"}
    r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source], **feed}, headers=api.auth())
    assert r.status_code == 200, r.text
    await api.staff("feed")


@pytest.fixture
async def up(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> AsyncIterator[Api]:
    """npm: a feed with a 24-hour minimum release age on the fixture registry."""
    async with running_api(npm_settings(make_settings), clock) as api:
        await set_up(api, "npm", fixture_registry.url, minimumReleaseAgeHours=24)
        yield api


@pytest.fixture
async def py(make_settings: SettingsFactory, clock: MutableClock, fixture_index: FixtureIndex) -> AsyncIterator[Api]:
    """Python: a feed with a 24-hour minimum release age on the fixture index."""
    async with running_api(npm_settings(make_settings), clock) as api:
        await set_up(api, "pypi", fixture_index.url, minimumReleaseAgeHours=24)
        yield api


async def packument(api: Api, name: str, who: str = "carol", **headers: str) -> httpx.Response:
    return await api.http.get(api.registry() + name, headers={**api.auth(who), **headers})


async def tarball(api: Api, name: str, version: str, who: str = "carol") -> httpx.Response:
    return await api.http.get(f"{api.registry()}{name}/-/{name}-{version}.tgz", headers=api.auth(who))


async def test_odd_npm_publish_times_are_held_never_a_500(
    up: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    fixture_registry.add("odd", "1.0.0", published=OLD)
    for version, value in ODD_TIMES.items():
        fixture_registry.add("odd", version, published=OLD, tag=None)
        fixture_registry.set_time("odd", version, value)
    for headers in ({}, ABBREV):
        r = await packument(up, "odd", **headers)
        assert r.status_code == 200, r.text
        assert list(r.json()["versions"]) == ["1.0.0"]
        assert r.headers["x-feed-held-versions"] == UNKNOWN_NOTE
    r = await tarball(up, "odd", "1.3.0")
    assert r.status_code == 404 and "publish time is missing or unreadable" in r.json()["error"]
    assert fixture_registry.count("GET", "/odd-1.3.0.tgz") == 0  # held: never fetched, never saved
    # readers, and the versions already saved, are served as before
    assert (await tarball(up, "odd", "1.0.0")).status_code == 200
    r = await packument(up, "odd", who="bob")
    assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"]
    assert (await tarball(up, "odd", "1.0.0", who="bob")).status_code == 200
    # the first time the feed saw them is a floor on their age: a day later they are old enough
    clock.advance(hours=24, minutes=1)
    r = await packument(up, "odd")
    assert sorted(r.json()["versions"]) == ["1.0.0", *ODD_TIMES] and "x-feed-held-versions" not in r.headers
    assert (await tarball(up, "odd", "1.3.0")).status_code == 200
    info = await up.http.get(f"{FEEDS}/feed/npm/odd/versions/1.3.0", headers=up.auth("bob"))
    saved = info.json()
    assert saved["publishDate"] == iso(clock.now)  # an unusable upstream time is not stored as the publish time
    assert saved["provenance"]["originalPublished"] == ODD_TIMES["1.3.0"]  # what the upstream said, for the record


async def test_without_a_release_age_odd_times_are_offered_and_never_a_500(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("odd2", "1.0.0")
    fixture_registry.set_time("odd2", "1.0.0", "2026-11-01T00:00:00")
    async with running_api(npm_settings(make_settings), clock) as api:
        await set_up(api, "npm", fixture_registry.url)
        r = await packument(api, "odd2")
        assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"]
        assert (await tarball(api, "odd2", "1.0.0")).status_code == 200
        doc = (await packument(api, "odd2", who="bob")).json()
        assert doc["time"]["1.0.0"] == iso(clock.now)  # the feed's own form, never the upstream's zone-less text


async def test_new_then_back_dated_versions_stay_held(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    # Below the 1 hour an operator may set (an unchecked copy): the test collects at once.
    settings = npm_settings(make_settings).model_copy(update={"gc_grace_hours": 0})
    young = iso(clock.now - timedelta(hours=1))
    fixture_registry.add("bd", "1.0.0", published=OLD)
    fixture_registry.add("bd", "2.0.0", published=young)
    async with running_api(settings, clock) as api:
        await set_up(api, "npm", fixture_registry.url, minimumReleaseAgeHours=24)
        r = await packument(api, "bd")
        assert (
            list(r.json()["versions"]) == ["1.0.0"] and r.headers["x-feed-held-versions"] == "1 by minimum release age"
        )
        assert (await tarball(api, "bd", "1.0.0")).status_code == 200  # held by the feed: the refresh job covers it
        # the upstream back-dates 2.0.0, and lists a new 3.0.0 that claims to be years old
        fixture_registry.set_time("bd", "2.0.0", OLD)
        fixture_registry.add("bd", "3.0.0", published=OLD)
        clock.advance(minutes=1)
        report = await jobs.run_refresh(api.services)
        assert report.revalidated == 1 and not report.failures
        assert (await jobs.run_gc(api.services)).blobs_removed == 1  # the first answer, not the floors kept
    # a restart forgets everything held in memory: the floors are kept with the upstream state
    async with running_api(settings, clock) as api:
        await api.staff("feed")
        r = await packument(api, "bd")
        assert list(r.json()["versions"]) == ["1.0.0"]
        assert r.headers["x-feed-held-versions"] == "2 by minimum release age"
        for version in ("2.0.0", "3.0.0"):
            r = await tarball(api, "bd", version)
            assert r.status_code == 404 and "too recently" in r.json()["error"], r.text
        assert fixture_registry.count("GET", "/bd-2.0.0.tgz") == 0
        clock.advance(hours=24)  # 2.0.0 counts from its first claim, 3.0.0 from the answer before it appeared
        r = await packument(api, "bd")
        assert sorted(r.json()["versions"]) == ["1.0.0", "2.0.0", "3.0.0"]


async def page(api: Api, name: str, who: str = "carol") -> httpx.Response:
    return await api.http.get(f"{PYPI}{name}/", headers={**PY_JSON, **api.auth(who)})


async def test_odd_python_upload_times_are_held_never_a_500(
    py: Api, fixture_index: FixtureIndex, clock: MutableClock
) -> None:
    _, data = fixture_index.add("odd-py", "1.0")
    odd = {"1.1": None, "1.2": 1700000000, "1.3": "2026-11-01T00:00:00", "1.4": "garbage"}
    for version, value in odd.items():
        fixture_index.add("odd-py", version, uploaded=value)
    r = await page(py, "odd-py")
    assert r.status_code == 200, r.text
    assert r.json()["versions"] == ["1.0"]
    assert r.headers["x-feed-held-versions"] == "4 by minimum release age (4 without a usable upstream publish time)"
    html = await py.http.get(f"{PYPI}odd-py/", headers=py.auth("carol"))
    assert html.status_code == 200 and "odd_py-1.3" not in html.text
    (f,) = (await page(py, "odd-py")).json()["files"]
    got = await py.http.get(f["url"].replace("http://feed.test", ""), headers=py.auth("carol"))
    assert got.status_code == 200 and got.content == data
    r = await page(py, "odd-py", who="bob")  # readers, once a version is saved
    assert r.status_code == 200 and r.json()["versions"] == ["1.0"]
    clock.advance(hours=24, minutes=1)
    assert (await page(py, "odd-py")).json()["versions"] == ["1.0", *odd]


async def test_pep_503_pages_carry_no_upload_time_so_their_versions_are_held(
    py: Api, fixture_index: FixtureIndex, clock: MutableClock
) -> None:
    fixture_index.html = True
    fixture_index.add("plain", "1.0")
    r = await page(py, "plain")
    assert r.status_code == 404 and "publish time is missing or unreadable" in r.json()["message"], r.text
    clock.advance(hours=24, minutes=1)
    r = await page(py, "plain")
    assert r.status_code == 200 and r.json()["versions"] == ["1.0"]
