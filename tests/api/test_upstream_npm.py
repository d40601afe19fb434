"""Upstream sources for npm, in-process, against a real fixture registry on 127.0.0.1 (both backends)."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import make_tarball
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
ABBREV = {"Accept": "application/vnd.npm.install-v1+json"}


@pytest.fixture
async def up(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> AsyncIterator[Api]:
    """A feed whose only upstream is the fixture registry; alice contributor, bob reader, carol collaborator."""
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)
    async with running_api(settings, clock) as api:
        http = api.http
        await api.create_feed("feed")
        source = {
            "name": "fixture",
            "protocol": "npm",
            "location": fixture_registry.url,
            "upstreamSourceType": "public",
        }
        r = await http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


def tarball_url(name: str, version: str) -> str:
    return f"{Api.registry()}{name}/-/{name.split('/')[-1]}-{version}.tgz"


async def packument(api: Api, name: str, who: str = "carol", **headers: str) -> httpx.Response:
    return await api.http.get(api.registry() + name.replace("/", "%2f"), headers={**api.auth(who), **headers})


async def test_collaborator_sees_upstream_versions_and_saves_on_download(
    up: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    fixture_registry.add("left-pad", "1.0.0", deps={"tiny": "^1.0.0"})
    fixture_registry.add("left-pad", "1.1.0")
    r = await packument(up, "left-pad", **ABBREV)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert sorted(doc["versions"]) == ["1.0.0", "1.1.0"] and doc["dist-tags"]["latest"] == "1.1.0"
    dist = doc["versions"]["1.0.0"]["dist"]
    assert dist["tarball"] == f"http://feed.test{tarball_url('left-pad', '1.0.0')}"  # rewritten to the feed
    data = make_tarball("left-pad", "1.0.0", extra={"dependencies": {"tiny": "^1.0.0"}})
    assert dist["shasum"] == hashlib.sha1(data).hexdigest()  # noqa: S324 - upstream hashes kept as they are

    r = await up.http.get(tarball_url("left-pad", "1.0.0"), headers=up.auth("carol"))
    assert r.status_code == 200 and r.content == data
    info = await up.http.get(f"{FEEDS}/feed/npm/left-pad/versions/1.0.0?api-version=7.1", headers=up.auth("bob"))
    assert info.status_code == 200, info.text
    body = info.json()
    (hop,) = body["sourceChain"]
    assert hop["name"] == "fixture" and hop["sourceType"] == "public" and hop["location"] == fixture_registry.url
    prov = body["provenance"]
    assert (
        prov["savedBy"] == "carol" and prov["verifiedWith"] == "sha512" and prov["url"].startswith(fixture_registry.url)
    )
    assert prov["fetchedAt"] and prov["upstreamIntegrity"].startswith("sha512-")
    # saving does not touch dist-tags: the upstream's latest still applies
    assert (await packument(up, "left-pad")).json()["dist-tags"]["latest"] == "1.1.0"


async def test_reader_sees_only_saved_versions(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("pub", "1.0.0")
    fixture_registry.add("pub", "2.0.0")
    r = await packument(up, "pub", who="bob")
    assert r.status_code == 404
    assert "collaborator" in r.json()["error"]
    r = await up.http.get(tarball_url("pub", "1.0.0"), headers=up.auth("bob"))
    assert r.status_code == 404
    assert "must install it first" in r.json()["error"]
    assert fixture_registry.count("GET", "/pub-1.0.0.tgz") == 0  # a reader never makes the feed fetch files
    assert (await up.http.get(tarball_url("pub", "1.0.0"), headers=up.auth("carol"))).status_code == 200
    doc = (await packument(up, "pub", who="bob")).json()
    assert list(doc["versions"]) == ["1.0.0"] and doc["dist-tags"] == {"latest": "1.0.0"}
    r = await packument(up, "pub", who="bob")
    assert "1 not yet saved" in r.headers["x-feed-unsaved-versions"]
    assert (await up.http.get(tarball_url("pub", "1.0.0"), headers=up.auth("bob"))).status_code == 200


async def test_saved_versions_survive_the_upstream_going_down_or_away(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("keep", "1.0.0")
    fixture_registry.add("keep", "1.0.1")
    assert (await up.http.get(tarball_url("keep", "1.0.0"), headers=up.auth("carol"))).status_code == 200
    fixture_registry.set_down(True, "503")
    # stale-if-error: the cached document still lists both; the saved one downloads
    doc = (await packument(up, "keep")).json()
    assert sorted(doc["versions"]) == ["1.0.0", "1.0.1"]
    assert (await up.http.get(tarball_url("keep", "1.0.0"), headers=up.auth("bob"))).status_code == 200
    started = time.monotonic()
    r = await up.http.get(tarball_url("keep", "1.0.1"), headers=up.auth("carol"))
    assert r.status_code == 502 and "fixture" in r.json()["error"]
    assert time.monotonic() - started < 5
    # disabled, then removed: saved versions remain
    for sources in (
        [{"name": "fixture", "protocol": "npm", "location": fixture_registry.url, "status": "disabled"}],
        [],
    ):
        r = await up.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources}, headers=up.auth())
        assert r.status_code == 200, r.text
        doc = (await packument(up, "keep", who="bob")).json()
        assert list(doc["versions"]) == ["1.0.0"]
        assert (await up.http.get(tarball_url("keep", "1.0.0"), headers=up.auth("bob"))).status_code == 200


async def test_a_hung_upstream_does_not_hang_the_client(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("slow", "1.0.0")
    fixture_registry.set_down(True, "hang")
    started = time.monotonic()
    r = await packument(up, "slow")
    assert r.status_code == 502
    assert "upstream 'fixture' is unavailable" in r.json()["error"]  # the cause is for administrators
    assert time.monotonic() - started < 4  # the 2 s budget, not the upstream's hang


async def test_tampered_bytes_are_refused_and_nothing_is_stored(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("evil", "1.0.0")
    fixture_registry.tamper("evil", "1.0.0")
    r = await up.http.get(tarball_url("evil", "1.0.0"), headers=up.auth("carol"))
    assert r.status_code == 502
    assert "do not match" in r.json()["error"] and "evil@1.0.0" in r.json()["error"] and "fixture" in r.json()["error"]
    info = await up.http.get(f"{FEEDS}/feed/npm/evil/versions/1.0.0", headers=up.auth("bob"))
    assert info.status_code == 404


async def test_twenty_parallel_first_downloads_make_one_upstream_request(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("burst", "1.0.0")
    fixture_registry.set_delay(0.2)
    results = await asyncio.gather(
        *(up.http.get(tarball_url("burst", "1.0.0"), headers=up.auth("carol")) for _ in range(20))
    )
    assert [r.status_code for r in results] == [200] * 20
    assert len({r.content for r in results}) == 1
    assert fixture_registry.count("GET", "/burst-1.0.0.tgz") == 1
    assert fixture_registry.count("GET", "/burst") == 1  # one metadata fetch too


async def test_dependency_confusion_private_name_is_not_shadowed(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("internal-tool", "99.0.0")  # an attacker's public copy of the private name
    assert (await up.publish("internal-tool", "1.0.0", who="alice")).status_code == 201
    fixture_registry.reset_requests()  # the first publish asked whether the upstream already has 1.0.0
    r = await packument(up, "internal-tool", **ABBREV)
    assert list(r.json()["versions"]) == ["1.0.0"] and r.json()["dist-tags"]["latest"] == "1.0.0"
    assert "x-feed-blocked-versions" not in r.headers  # the public registry is not even asked about the name
    r = await up.http.get(tarball_url("internal-tool", "99.0.0"), headers=up.auth("carol"))
    assert r.status_code == 404
    assert fixture_registry.requests == []

    url = f"{FEEDS}/feed/npm/packages/internal-tool/upstreaming?api-version=7.1"
    assert (await up.http.get(url, headers=up.auth("bob"))).json() == {"versionsFromExternalUpstreams": "auto"}
    allow = {"versionsFromExternalUpstreams": "AllowExternalVersions"}
    assert (await up.http.patch(url, json=allow, headers=up.auth("alice"))).status_code == 403
    assert (await up.http.patch(url, json=allow, headers=up.auth())).status_code == 200
    assert (await up.http.get(url, headers=up.auth("bob"))).json() == {
        "versionsFromExternalUpstreams": "allowExternalVersions"
    }
    r = await packument(up, "internal-tool", **ABBREV)
    assert sorted(r.json()["versions"]) == ["1.0.0", "99.0.0"] and "x-feed-blocked-versions" not in r.headers
    assert (await up.http.get(tarball_url("internal-tool", "99.0.0"), headers=up.auth("carol"))).status_code == 200


async def test_upstreaming_endpoint(up: Api) -> None:
    base = f"{FEEDS}/feed/npm/packages"
    for version in ("6.1-preview.1", "7.0", "7.1", "7.2-preview.1"):
        r = await up.http.patch(
            f"{base}/@scope/future/upstreaming?api-version={version}",
            json={"versionsFromExternalUpstreams": "allowexternalversions"},
            headers=up.auth(),
        )
        assert r.status_code == 200, version
    r = await up.http.get(f"{base}/@scope/future/upstreaming", headers=up.auth("bob"))
    assert r.json() == {"versionsFromExternalUpstreams": "allowExternalVersions"}
    for body in ({"versionsFromExternalUpstreams": "sometimes"}, {}, [1]):
        r = await up.http.patch(f"{base}/x/upstreaming", json=body, headers=up.auth())
        assert r.status_code == 400
    assert (await up.http.get(f"{base}/..%2f/upstreaming", headers=up.auth())).status_code in (400, 404)


async def test_publishing_a_version_an_upstream_has_is_refused(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("taken", "1.0.0")
    r = await up.publish("taken", "1.0.0", who="alice")
    assert r.status_code == 409
    assert "upstream source fixture" in r.json()["error"]
    assert (await up.publish("taken", "1.0.1", who="alice")).status_code == 201
    await up.http.patch(f"{FEEDS}/feed", json={"allowUpstreamNameConflict": True}, headers=up.auth())
    assert (await up.publish("taken", "1.0.0", who="alice")).status_code == 201


async def test_a_deleted_saved_version_is_never_offered_or_saved_again(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("gone", "1.0.0")
    fixture_registry.add("gone", "2.0.0")
    assert (await up.http.get(tarball_url("gone", "1.0.0"), headers=up.auth("carol"))).status_code == 200
    url = f"{FEEDS}/feed/npm/gone/versions/1.0.0?api-version=7.1"
    assert (await up.http.delete(url, headers=up.auth())).status_code == 200
    assert list((await packument(up, "gone")).json()["versions"]) == ["2.0.0"]
    r = await up.http.get(tarball_url("gone", "1.0.0"), headers=up.auth("carol"))
    assert r.status_code == 404 and "reserved" in r.json()["error"]
    assert fixture_registry.count("GET", "/gone-1.0.0.tgz") == 1


async def test_new_upstream_versions_appear_on_demand_and_after_revalidation(
    up: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    fixture_registry.add("fresh", "1.0.0")
    assert list((await packument(up, "fresh")).json()["versions"]) == ["1.0.0"]
    fixture_registry.add("fresh", "1.1.0")
    # within the TTL the cached document is used ...
    assert list((await packument(up, "fresh")).json()["versions"]) == ["1.0.0"]
    # ... but asking for the exact new version refreshes that package at once
    clock.advance(seconds=11)
    r = await up.http.get(tarball_url("fresh", "1.1.0"), headers=up.auth("carol"))
    assert r.status_code == 200
    assert sorted((await packument(up, "fresh")).json()["versions"]) == ["1.0.0", "1.1.0"]
    # on-demand refreshes are rate-limited
    fixture_registry.reset_requests()
    for _ in range(3):
        await up.http.get(tarball_url("fresh", "9.9.9"), headers=up.auth("carol"))
    assert fixture_registry.count("GET", "/fresh") == 0
    # after the TTL: served stale at once, revalidated in the background with validators (304)
    clock.advance(seconds=400)
    fixture_registry.reset_requests()
    assert (await packument(up, "fresh")).status_code == 200
    for _ in range(50):
        if fixture_registry.count("GET", "/fresh"):
            break
        await asyncio.sleep(0.02)
    (_, _, headers), *_ = [r for r in fixture_registry.requests if r[1] == "/fresh"]
    assert "if-none-match" in headers


async def test_client_credentials_are_never_forwarded(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("private-up", "1.0.0")
    await up.http.get(tarball_url("private-up", "1.0.0"), headers=up.auth("carol"))
    assert fixture_registry.requests
    assert all("authorization" not in headers for _, _, headers in fixture_registry.requests)


async def test_custom_upstream_credentials_are_sent_to_that_host_only(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.require_auth("Bearer upstream-secret")
    fixture_registry.add("needs-auth", "1.0.0")
    source = {
        "name": "fixture",
        "protocol": "npm",
        "location": fixture_registry.url,
        "credentials": {"token": "upstream-secret"},
    }
    r = await up.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=up.auth())
    assert r.status_code == 200 and "upstream-secret" not in r.text
    assert (await up.http.get(tarball_url("needs-auth", "1.0.0"), headers=up.auth("carol"))).status_code == 200


async def test_minimum_release_age_holds_back_young_versions(
    up: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    young = (clock.now - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    fixture_registry.add("agey", "1.0.0")
    fixture_registry.add("agey", "1.1.0", published=young)
    r = await up.http.patch(f"{FEEDS}/feed", json={"minimumReleaseAgeHours": 24}, headers=up.auth())
    assert r.status_code == 200, r.text
    r = await packument(up, "agey")
    assert list(r.json()["versions"]) == ["1.0.0"] and r.json()["dist-tags"]["latest"] == "1.0.0"
    assert r.headers["x-feed-held-versions"] == "1 by minimum release age"
    r = await up.http.get(tarball_url("agey", "1.1.0"), headers=up.auth("carol"))
    assert r.status_code == 404 and "minimum release age" in r.json()["error"]
    clock.advance(hours=23)
    assert "1.1.0" in (await packument(up, "agey")).json()["versions"]
    r = await up.http.patch(
        f"{FEEDS}/feed", json={"minimumReleaseAgeHours": 48, "minimumReleaseAgeExemptions": ["ag*"]}, headers=up.auth()
    )
    assert r.status_code == 200, r.text
    assert "1.1.0" in (await packument(up, "agey")).json()["versions"]


def _source(registry: FixtureRegistry, **extra: Any) -> dict[str, Any]:
    return {"name": "fixture", "protocol": "npm", "location": registry.url, **extra}


async def test_per_source_minimum_release_age(up: Api, fixture_registry: FixtureRegistry, clock: MutableClock) -> None:
    young = (clock.now - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    fixture_registry.add("agey2", "1.0.0", published=young)
    r = await up.http.patch(
        f"{FEEDS}/feed",
        json={"upstreamSources": [_source(fixture_registry, minimumReleaseAgeHours=3)]},
        headers=up.auth(),
    )
    assert r.status_code == 200, r.text
    r = await packument(up, "agey2")
    assert r.status_code == 404 and "minimum release age" in r.json()["error"]


async def test_dist_tags_of_an_upstream_package(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("tagged", "1.0.0")
    fixture_registry.add("tagged", "2.0.0-rc.1", tag="next")
    r = await up.http.get(up.registry() + "-/package/tagged/dist-tags", headers=up.auth("carol"))
    assert r.json() == {"latest": "1.0.0", "next": "2.0.0-rc.1"}


async def test_a_version_saved_between_the_two_reads_is_served(
    up: Api, fixture_registry: FixtureRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that misses the held version, then finds it saved by a concurrent request, serves it."""
    fixture_registry.add("racy", "1.0.0")
    assert (await up.http.get(tarball_url("racy", "1.0.0"), headers=up.auth("carol"))).status_code == 200
    store = up.services.packages.store
    real_get_version = store.get_version

    async def miss_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(store, "get_version", real_get_version)
        return None  # as if the concurrent save had not committed yet at the first read

    monkeypatch.setattr(store, "get_version", miss_once)
    r = await up.http.get(tarball_url("racy", "1.0.0"), headers=up.auth("bob"))
    assert r.status_code == 200


async def test_saved_versions_keep_their_upstream_publisher(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("authored", "1.0.0", extra={"_npmUser": {"name": "upstream-author", "email": ""}})
    assert (await up.http.get(tarball_url("authored", "1.0.0"), headers=up.auth("carol"))).status_code == 200
    doc = (await packument(up, "authored")).json()
    assert doc["versions"]["1.0.0"]["_npmUser"]["name"] == "upstream-author"
    assert (await up.publish("mine", "1.0.0", who="alice")).status_code == 201
    mine = (await packument(up, "mine")).json()
    assert mine["versions"]["1.0.0"]["_npmUser"]["name"] == "alice"


async def test_deprecate_sends_back_upstream_versions_and_still_works(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    """npm deprecate PUTs back the whole document it read, upstream versions the feed does not hold
    included; only a version neither held nor offered upstream is refused (a publish without a tarball)."""
    fixture_registry.add("mixed", "1.0.0")
    fixture_registry.add("mixed", "1.1.0")
    assert (await up.http.get(tarball_url("mixed", "1.0.0"), headers=up.auth("alice"))).status_code == 200  # saved
    doc = (await up.http.get(up.registry() + "mixed?write=true", headers=up.auth("alice"))).json()
    assert sorted(doc["versions"]) == ["1.0.0", "1.1.0"]
    doc["versions"]["1.0.0"]["deprecated"] = "use 1.1"
    r = await up.http.put(up.registry() + "mixed", json=doc, headers=up.auth("alice"))
    assert r.status_code == 200, r.text
    again = (await up.http.get(up.registry() + "mixed", headers=up.auth("bob"))).json()
    assert again["versions"]["1.0.0"]["deprecated"] == "use 1.1"

    doc["versions"]["6.6.6"] = {**doc["versions"]["1.1.0"], "version": "6.6.6"}
    r = await up.http.put(up.registry() + "mixed", json=doc, headers=up.auth("alice"))
    assert r.status_code == 400 and "mixed@6.6.6 is not in this feed" in r.json()["error"]
