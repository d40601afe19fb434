"""NuGet upstreams (v3 and v2 galleries) through the upstream engine, against the fixture gallery on 127.0.0.1.

The feed's NuGet adapter is not part of these tests: they drive the engine as an adapter does (offers, then a
save that streams, verifies and commits), on both backends.
"""

# ruff: noqa: F811
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from feed_core import jobs
from feed_core.domain.errors import UpstreamError
from feed_core.domain.models import Caller, Feed, PackageVersion
from feed_core.domain.roles import Scope
from feed_core.service.upstream import enabled_sources
from feed_core.storage.packages import content_key
from feed_core.upstreams.models import UpstreamVersion
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.nuget_gallery import NuGetGallery, nuget_gallery  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
CAROL = Caller("carol", Scope.READ)


@pytest.fixture
async def api(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Api]:
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)
    async with running_api(settings, clock) as running:
        yield running


async def nuget_feed(api: Api, name: str, location: str) -> Feed:
    await api.create_feed(name)
    source = {"name": "gallery", "protocol": "nuget", "location": location}
    r = await api.http.patch(f"{FEEDS}/{name}", json={"upstreamSources": [source]}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json()["upstreamSources"][0]["protocol"] == "nuget"
    feed = await api.services.catalog.find_feed(ORG, None, name)
    assert feed is not None
    return feed


async def offered(api: Api, feed: Feed, name: str) -> dict[str, UpstreamVersion]:
    (offer,) = await api.services.upstreams.offers(feed, enabled_sources(feed, "nuget"), "nuget", name)
    assert offer.error is None and offer.package is not None, offer.error
    return offer.package.versions


async def save(api: Api, feed: Feed, name: str, uv: UpstreamVersion) -> PackageVersion:
    """What an adapter does when a collaborator downloads an upstream version: stream it while saving it."""
    (source,) = enabled_sources(feed, "nuget")
    upstreams = api.services.upstreams
    plan = upstreams.plan_version_save(CAROL, "nuget", name, source, uv)

    async def commit(record: PackageVersion) -> PackageVersion:
        return await api.services.packages.commit_saved(feed, record)

    flight = upstreams.stream_save((feed.id, "nuget", name, uv.version), plan, commit)
    return await flight.saved()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


async def test_v3_versions_are_offered_and_a_save_is_verified_against_the_catalog_leaf(
    api: Api, nuget_gallery: NuGetGallery
) -> None:
    nuget_gallery.add("Tiny.Lib", "1.0", dependencies=[("Tiny.Dep", "[1.0.0, )")], tags=["PSModule"])
    data = nuget_gallery.add("Tiny.Lib", "2.0.0-beta.1")
    nuget_gallery.set_listed("Tiny.Lib", "1.0", False)
    feed = await nuget_feed(api, "feed", nuget_gallery.index_url)
    versions = await offered(api, feed, "tiny.lib")
    assert sorted(versions) == ["1.0.0", "2.0.0-beta.1"]  # normalized, SemVer 2 included (the 3.6.0 hive)
    old, beta = versions["1.0.0"], versions["2.0.0-beta.1"]
    assert old.manifest["listed"] is False and old.published is None  # unlisted: its 1900 time is not believed
    assert old.manifest["dependencyGroups"] == [{"dependencies": [{"id": "Tiny.Dep", "range": "[1.0.0, )"}]}]
    assert old.manifest["tags"] == ["PSModule"] and old.manifest["id"] == "Tiny.Lib"
    assert beta.published == "2020-01-01T00:00:00+00:00" and beta.integrity == ""  # no hash in a registration
    assert not [r for r in nuget_gallery.requests if "/catalog/" in r.path]  # listing reads no leaf

    saved = await save(api, feed, "tiny.lib", beta)
    assert saved.sha512_integrity == sri(data) and saved.sha256 == hashlib.sha256(data).hexdigest()
    assert saved.provenance["verifiedWith"] == "sha512" and saved.provenance["upstreamIntegrity"] == sri(data)
    assert saved.filename == "tiny.lib.2.0.0-beta.1.nupkg" and saved.manifest["version"] == "2.0.0-beta.1"
    assert await api.services.packages.store.blobs.read_all(content_key(saved.sha256)) == data
    leaves = [r.path for r in nuget_gallery.requests if "/catalog/" in r.path]
    assert leaves == ["/v3/catalog/tiny.lib.2.0.0-beta.1.json"]  # exactly the one leaf of the saved version
    assert not [r for r in nuget_gallery.requests if r.path.endswith("/catalog/index.json")]


async def test_v3_tampered_bytes_are_refused_with_nothing_stored(api: Api, nuget_gallery: NuGetGallery) -> None:
    data = nuget_gallery.add("Evil.Lib", "1.0.0")
    nuget_gallery.tamper("Evil.Lib", "1.0.0")
    feed = await nuget_feed(api, "feed", nuget_gallery.index_url)
    uv = (await offered(api, feed, "evil.lib"))["1.0.0"]
    with pytest.raises(UpstreamError, match="do not match its declared sha512 digest; nothing was saved"):
        await save(api, feed, "evil.lib", uv)
    assert await api.services.packages.version(feed, "nuget", "evil.lib", "1.0.0") is None
    served = nuget_gallery.requests  # what was downloaded is not in the store either
    assert any(r.path.endswith("evil.lib.1.0.0.nupkg") for r in served)
    assert await api.services.packages.store.blobs.stat(content_key(hashlib.sha256(data).hexdigest())) is None


async def test_a_package_that_is_not_the_version_it_is_listed_as_is_refused(
    api: Api, nuget_gallery: NuGetGallery
) -> None:
    nuget_gallery.add("Right.Lib", "1.0.0")
    feed = await nuget_feed(api, "feed", nuget_gallery.index_url)
    uv = (await offered(api, feed, "right.lib"))["1.0.0"]
    other = nuget_gallery.add("Other.Lib", "1.0.0")
    # The upstream declares the other package's bytes (and hash) for this version: the hash matches, the nuspec not.
    lying = UpstreamVersion(
        version=uv.version,
        manifest=uv.manifest,
        file_url=uv.file_url.replace("right.lib", "other.lib"),
        filename=uv.filename,
        integrity=sri(other),
        sha1="",
        published=uv.published,
    )
    with pytest.raises(UpstreamError, match=re.escape("holds Other.Lib 1.0.0, not right.lib 1.0.0")):
        await save(api, feed, "right.lib", lying)
    assert await api.services.packages.version(feed, "nuget", "right.lib", "1.0.0") is None


async def test_v2_gallery_offers_verifies_and_saves(api: Api, nuget_gallery: NuGetGallery) -> None:
    data = nuget_gallery.add("PS.Module", "1.2", tags=["PSModule", "PSIncludes_Cmdlet"])
    nuget_gallery.add("PS.Module", "1.3.0")
    nuget_gallery.tamper("PS.Module", "1.3.0")
    feed = await nuget_feed(api, "feed", nuget_gallery.v2_url.rstrip("/"))
    versions = await offered(api, feed, "ps.module")
    assert sorted(versions) == ["1.2.0", "1.3.0"]
    uv = versions["1.2.0"]
    assert uv.integrity == sri(data) and uv.file_url.endswith("/api/v2/package/PS.Module/1.2.0")
    assert uv.manifest["tags"] == ["PSModule", "PSIncludes_Cmdlet"] and uv.published == "2020-01-01T00:00:00Z"
    saved = await save(api, feed, "ps.module", uv)
    assert saved.provenance["verifiedWith"] == "sha512" and saved.size == len(data)
    with pytest.raises(UpstreamError, match="do not match"):
        await save(api, feed, "ps.module", versions["1.3.0"])
    assert await api.services.packages.version(feed, "nuget", "ps.module", "1.3.0") is None
    paths = [r.path for r in nuget_gallery.requests]
    assert "/api/v2/FindPackagesById()" in paths and not [p for p in paths if "Search()" in p or "/v3/" in p]


async def test_health_and_refresh_jobs_cover_nuget_sources(api: Api, nuget_gallery: NuGetGallery) -> None:
    data = nuget_gallery.add("Job.Lib", "1.0.0")
    feed = await nuget_feed(api, "feed", nuget_gallery.index_url)
    await save(api, feed, "job.lib", (await offered(api, feed, "job.lib"))["1.0.0"])
    report = await jobs.run_health(api.services)
    assert report.upstreams == 1 and not report.failed
    nuget_gallery.set_down(True)
    report = await jobs.run_health(api.services)
    assert report.failed and "503" in report.failed[0]
    nuget_gallery.set_down(False)
    refreshed = await jobs.run_refresh(api.services)
    assert refreshed.revalidated == 1 and not refreshed.failures and not refreshed.flagged_removed
    assert sri(data)  # the saved bytes stay what they were


async def test_an_upstream_without_a_declared_hash_is_not_saved(api: Api, nuget_gallery: NuGetGallery) -> None:
    nuget_gallery.add("Bare.Lib", "1.0.0")
    nuget_gallery.add("Other.Lib", "1.0.0")
    feed = await nuget_feed(api, "feed", nuget_gallery.index_url)
    uv = (await offered(api, feed, "bare.lib"))["1.0.0"]
    # A leaf that is not this version's (another id) is refused; a listing with no leaf at all declares nothing.
    with pytest.raises(UpstreamError, match=re.escape("is not about bare.lib 1.0.0")):
        await save(api, feed, "bare.lib", _with(uv, digests_url=uv.digests_url.replace("bare.lib", "other.lib")))
    with pytest.raises(UpstreamError, match=re.escape("declares no hash for bare.lib@1.0.0")):
        await save(api, feed, "bare.lib", _with(uv, digests_url=""))
    assert await api.services.packages.version(feed, "nuget", "bare.lib", "1.0.0") is None


def _with(uv: UpstreamVersion, **changes: Any) -> UpstreamVersion:
    return replace(uv, **changes)


async def test_another_feed_as_a_nuget_upstream(api: Api, nuget_gallery: NuGetGallery) -> None:
    """An internal NuGet source reads the other feed's saved and published versions through its view."""
    data = nuget_gallery.add("Team.Lib", "3.0.0")
    team = await nuget_feed(api, "team", nuget_gallery.index_url)
    await save(api, team, "team.lib", (await offered(api, team, "team.lib"))["3.0.0"])
    r = await api.http.patch(f"{FEEDS}/team/views/Local", json={"visibility": "collection"}, headers=api.auth())
    assert r.status_code == 200, r.text
    await api.create_feed("app")
    source = {
        "name": "team",
        "protocol": "nuget",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": "team",
        "internalUpstreamViewId": "Local",
    }
    r = await api.http.patch(f"{FEEDS}/app", json={"upstreamSources": [source]}, headers=api.auth())
    assert r.status_code == 200, r.text
    app = await api.services.catalog.find_feed(ORG, None, "app")
    assert app is not None
    uv = (await offered(api, app, "team.lib"))["3.0.0"]
    (internal,) = enabled_sources(app, "nuget")

    async def fetch_and_commit() -> PackageVersion:
        record = await api.services.upstreams.fetch_for_save(app, CAROL, "nuget", "team.lib", internal, uv)
        return await api.services.packages.commit_saved(app, record)

    saved = await api.services.upstreams.save((app.id, "nuget", "team.lib", "3.0.0"), fetch_and_commit)
    assert saved.provenance["verifiedWith"] == "same-service" and saved.sha512_integrity == sri(data)
    assert [hop["sourceType"] for hop in saved.source_chain] == ["internal", "public"]


async def test_a_public_nuget_source_is_a_setting(
    make_settings: SettingsFactory, clock: MutableClock, nuget_gallery: NuGetGallery
) -> None:
    data = nuget_gallery.add("Public.Lib", "1.0.0")
    settings = make_settings(public_sources={"nuget-public": {"protocol": "NuGet", "url": nuget_gallery.index_url}})
    async with running_api(settings, clock) as api:
        created = await api.create_feed("feed", upstreamSources=[{"name": "nuget-public", "protocol": "nuget"}])
        (source,) = created["upstreamSources"]
        assert source["upstreamSourceType"] == "public" and source["location"] == nuget_gallery.index_url
        feed = await api.services.catalog.find_feed(ORG, None, "feed")
        assert feed is not None
        saved = await save(api, feed, "public.lib", (await offered(api, feed, "public.lib"))["1.0.0"])
        assert saved.source_chain[0]["name"] == "nuget-public" and saved.sha512_integrity == sri(data)
