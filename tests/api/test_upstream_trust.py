"""What the feed keeps and says when an upstream turns hostile or fails, against real fixture upstreams on
127.0.0.1 (both backends): saved versions that change upstream, verification failures that store nothing, and
errors that name the upstream without revealing its address to readers and collaborators."""

# ruff: noqa: F811
from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import httpx
import pytest

from feed_core import jobs
from feed_core.domain.clock import iso
from feed_core.storage.packages import CONTENT_PREFIX
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import integrity, make_tarball
from tests.npm_registry_fixture import (  # noqa: F401
    FixtureRegistry,
    dead_url,
    fixture_registry,
    make_fixture_registry,
)
from tests.pypi_index_fixture import FixtureIndex, fixture_index  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
PY_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
PYPI = f"/{ORG}/_packaging/feed/pypi/"


async def feed_on(api: Api, *sources: dict[str, str]) -> None:
    await api.create_feed("feed")
    r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": list(sources)}, headers=api.auth())
    assert r.status_code == 200, r.text
    await api.staff("feed")


@pytest.fixture
async def api(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Api]:
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)
    async with running_api(settings, clock) as running:
        yield running


def npm_source(url: str, name: str = "partner") -> dict[str, str]:
    return {"name": name, "protocol": "npm", "location": url, "upstreamSourceType": "public"}


async def tarball(api: Api, name: str, version: str, who: str = "carol") -> httpx.Response:
    return await api.http.get(f"{api.registry()}{name}/-/{name}-{version}.tgz", headers=api.auth(who))


async def content_blobs(api: Api) -> set[str]:
    return {b.key async for b in api.services.packages.store.blobs.list_blobs(CONTENT_PREFIX)}


# --- a saved version that changes upstream ------------------------------------------------------------------------


async def test_a_saved_npm_version_that_changes_upstream_keeps_its_bytes_and_is_flagged(
    api: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    await feed_on(api, npm_source(fixture_registry.url))
    fixture_registry.add("chg", "1.0.0")
    saved = await tarball(api, "chg", "1.0.0")
    assert saved.status_code == 200
    info_url = f"{FEEDS}/feed/npm/chg/versions/1.0.0"
    assert (await api.http.get(info_url, headers=api.auth("bob"))).json()["upstreamChangedDate"] is None
    other = make_tarball("chg", "1.0.0", code="/* other bytes under the same name and version */")
    fixture_registry.add("chg", "1.0.0", tarball=other)

    report = await jobs.run_refresh(api.services)
    assert report.flagged_changed == ["feed/chg@1.0.0"] and "1 as changed upstream" in report.summary()
    info = (await api.http.get(info_url, headers=api.auth("bob"))).json()
    assert info["upstreamChangedDate"] == iso(clock.now)
    sha1 = hashlib.sha1(other).hexdigest()  # noqa: S324 - npm's shasum
    assert info["provenance"]["upstreamChangedDigests"] == {"integrity": integrity(other), "shasum": sha1}
    assert info["provenance"]["upstreamIntegrity"] == integrity(saved.content)  # what was verified stays
    provenance_url = f"{FEEDS}/feed/packages/{info['packageId']}/versions/{info['id']}/provenance"
    provenance = (await api.http.get(provenance_url, headers=api.auth("bob"))).json()["provenance"]["data"]
    assert provenance["upstreamChanged"] == iso(clock.now) and integrity(other) in provenance["upstreamChangedDigests"]
    # the saved bytes are what every client keeps getting
    for who in ("bob", "carol"):
        r = await tarball(api, "chg", "1.0.0", who=who)
        assert r.status_code == 200 and r.content == saved.content
    assert (await jobs.run_refresh(api.services)).flagged_changed == []  # flagged once
    # the upstream declares the saved bytes again: the flag is cleared
    fixture_registry.add("chg", "1.0.0", tarball=saved.content)
    await jobs.run_refresh(api.services)
    assert (await api.http.get(info_url, headers=api.auth("bob"))).json()["upstreamChangedDate"] is None


async def test_a_saved_python_file_that_changes_upstream_is_flagged(api: Api, fixture_index: FixtureIndex) -> None:
    await feed_on(api, {"name": "partner", "protocol": "pypi", "location": fixture_index.url})
    filename, data = fixture_index.add("chg-py", "1.0")
    (f,) = (await api.http.get(f"{PYPI}simple/chg-py/", headers={**PY_JSON, **api.auth("carol")})).json()["files"]
    file_path = urlsplit(f["url"]).path
    assert (await api.http.get(file_path, headers=api.auth("carol"))).status_code == 200
    fixture_index.projects["chg-py"].clear()
    _, other = fixture_index.add("chg-py", "1.0", code="VALUE = 2\n")  # same file name, other bytes

    report = await jobs.run_refresh(api.services)
    assert report.flagged_changed == ["feed/chg-py@1.0"]
    info = (await api.http.get(f"{FEEDS}/feed/pypi/packages/chg-py/versions/1.0", headers=api.auth("bob"))).json()
    assert info["upstreamChangedDate"] and filename in info["provenance"]["upstreamChangedDigests"]
    r = await api.http.get(file_path, headers=api.auth("bob"))
    assert r.status_code == 200 and r.content == data and r.content != other


# --- failed verification stores nothing -----------------------------------------------------------------------------


async def test_a_python_file_whose_metadata_fails_verification_is_not_stored(
    api: Api, fixture_index: FixtureIndex
) -> None:
    await feed_on(api, {"name": "partner", "protocol": "pypi", "location": fixture_index.url})
    filename, _ = fixture_index.add("meta-bad", "1.0")
    fixture_index.tampered_metadata.add(filename)
    (f,) = (await api.http.get(f"{PYPI}simple/meta-bad/", headers={**PY_JSON, **api.auth("carol")})).json()["files"]
    before = await content_blobs(api)
    r = await api.http.get(urlsplit(f["url"]).path, headers=api.auth("carol"))
    assert r.status_code == 502 and "do not match" in r.json()["message"] and "nothing was saved" in r.json()["message"]
    assert fixture_index.count(filename) == 1  # the file itself was fetched and matched its hash ...
    assert await content_blobs(api) == before  # ... yet neither it nor its metadata file was kept
    info = await api.http.get(f"{FEEDS}/feed/pypi/packages/meta-bad/versions/1.0", headers=api.auth("bob"))
    assert info.status_code == 404


async def test_an_npm_tarball_that_fails_verification_is_not_stored(
    api: Api, fixture_registry: FixtureRegistry
) -> None:
    await feed_on(api, npm_source(fixture_registry.url))
    fixture_registry.add("evil", "1.0.0")
    fixture_registry.tamper("evil", "1.0.0")
    before = await content_blobs(api)
    r = await tarball(api, "evil", "1.0.0")
    assert r.status_code == 502 and "do not match" in r.json()["error"]
    assert await content_blobs(api) == before


# --- what errors reveal ---------------------------------------------------------------------------------------------


def revealing(url: str) -> list[str]:
    """What must not reach readers and collaborators: the upstream's address and port."""
    host = urlsplit(url)
    return [host.netloc, str(host.port), "127.0.0.1"]


def assert_hidden(response: httpx.Response, url: str) -> None:
    shown = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in revealing(url):
        assert secret not in shown, (secret, shown)


async def test_errors_name_the_upstream_and_only_administrators_see_why(
    api: Api, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    dead = dead_url()
    down = make_fixture_registry()
    down.set_down(True, "503")
    tampering = make_fixture_registry()
    tampering.add("bent", "1.0.0")
    tampering.tamper("bent", "1.0.0")
    await feed_on(api, npm_source(dead, "partner"), npm_source(down.url, "mirror"), npm_source(tampering.url, "bent"))
    assert (await api.publish("held-pkg", "1.0.0")).status_code in (200, 201)
    await jobs.run_health(api.services)

    for who in ("bob", "carol"):
        r = await api.http.get(api.registry() + "missing-pkg", headers=api.auth(who))
        assert r.status_code == 502
        assert "upstream 'partner' is unavailable" in r.json()["error"] and "'mirror'" in r.json()["error"]
        for url in (dead, down.url):
            assert_hidden(r, url)
        r = await api.http.get(api.registry() + "held-pkg", headers=api.auth(who))  # notes headers
        # a private name: its external upstreams are not even asked, so none of them failed for it
        assert r.status_code == 200 and "x-feed-upstream-errors" not in r.headers
        r2 = await api.http.get(api.registry() + "held-pkg/9.9.9", headers=api.auth(who))
        assert r2.status_code == 404
        for url in (dead, down.url, tampering.url):
            assert_hidden(r, url)
            assert_hidden(r2, url)
        for path in ("feed/health", "feed", ""):
            r = await api.http.get(f"{FEEDS}/{path}".rstrip("/"), headers=api.auth(who))
            assert r.status_code == 200
            assert "is unavailable" in r.text and "could not connect" not in r.text and "answered" not in r.text
    r = await tarball(api, "bent", "1.0.0")  # a collaborator's failed save
    assert r.status_code == 502 and "upstream bent sent bytes" in r.json()["error"]
    assert_hidden(r, tampering.url)

    # administrators see the causes, addresses and status codes included, in the health view
    health = (await api.http.get(f"{FEEDS}/feed/health", headers=api.auth())).json()
    reasons = {u["name"]: u["statusDetails"][0]["reason"] for u in health["upstreams"] if u["statusDetails"]}
    assert urlsplit(dead).netloc in reasons["partner"] and "could not connect" in reasons["partner"]
    assert urlsplit(down.url).netloc in reasons["mirror"] and "503" in reasons["mirror"]
    feed = (await api.http.get(f"{FEEDS}/feed", headers=api.auth())).json()
    assert urlsplit(dead).netloc in feed["upstreamSources"][0]["statusDetails"][0]["reason"]
    r = await api.http.get(api.registry() + "missing-pkg", headers=api.auth())
    assert r.status_code == 502 and urlsplit(dead).netloc in r.json()["error"]
