"""What a reader is told about upstream versions the feed has not saved, over HTTP (both backends).

npm prints a response's ``npm-notice`` header, so the packument and the 404 of a version carry the reason there;
pip and uv print no header or field of a simple page, so the page carries it in ``X-Feed-Notice`` for people who
ask with curl (README: "Why a version is missing"), and a page with no saved version at all is a 404 saying why.
"""

# ruff: noqa: F811
from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.pypi_index_fixture import FixtureIndex, fixture_index  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
ABBREVIATED = {"Accept": "application/vnd.npm.install-v1+json"}
PEP691 = {"Accept": "application/vnd.pypi.simple.v1+json"}
SIMPLE = f"/{ORG}/_packaging/feed/pypi/simple/"
RULE = "a collaborator (Feed and Upstream Reader) or higher must install"


async def feed_with_upstream(api: Api, source: dict[str, str]) -> Api:
    await api.create_feed("feed")
    r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=api.auth())
    assert r.status_code == 200, r.text
    await api.staff("feed")
    return api


@pytest.fixture
async def npm_feed(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> AsyncIterator[Api]:
    """A feed whose only upstream is the fixture registry (named ``fixture``); bob reader, carol collaborator."""
    async with running_api(make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0), clock) as api:
        yield await feed_with_upstream(api, {"name": "fixture", "protocol": "npm", "location": fixture_registry.url})


@pytest.fixture
async def py_feed(
    make_settings: SettingsFactory, clock: MutableClock, fixture_index: FixtureIndex
) -> AsyncIterator[Api]:
    """A feed whose only upstream is the fixture index (named ``pypi-fixture``); bob reader, carol collaborator."""
    async with running_api(make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0), clock) as api:
        yield await feed_with_upstream(api, {"name": "pypi-fixture", "protocol": "pypi", "location": fixture_index.url})


async def packument(api: Api, name: str, who: str, **headers: str) -> httpx.Response:
    return await api.http.get(api.registry() + name, headers={**api.auth(who), **headers})


def tarball(name: str, version: str) -> str:
    return f"{Api.registry()}{name}/-/{name}-{version}.tgz"


# --- npm -------------------------------------------------------------------------------------------


async def test_a_readers_packument_says_which_versions_a_collaborator_must_save(
    npm_feed: Api, fixture_registry: FixtureRegistry
) -> None:
    for version in ("1.0.0", "2.0.0", "10.0.0", "3.0.0"):
        fixture_registry.add("pub", version)
    saved = await npm_feed.http.get(tarball("pub", "1.0.0"), headers=npm_feed.auth("carol"))
    assert saved.status_code == 200, saved.text

    for form in ({}, ABBREVIATED):
        r = await packument(npm_feed, "pub", "bob", **form)
        assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"], r.text
        assert r.headers["npm-notice"] == (
            "3 versions of pub (newest: 10.0.0, 3.0.0, 2.0.0) are available from upstream fixture but not saved "
            f"in feed feed; {RULE} them first"
        )
        assert r.headers["x-feed-unsaved-versions"] == "3 not yet saved from upstream (needs a collaborator)"
    # a collaborator sees every version and gets no notice
    r = await packument(npm_feed, "pub", "carol")
    assert sorted(r.json()["versions"]) == ["1.0.0", "10.0.0", "2.0.0", "3.0.0"] and "npm-notice" not in r.headers


async def test_the_notice_names_more_than_three_versions_by_their_newest(
    npm_feed: Api, fixture_registry: FixtureRegistry
) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        fixture_registry.add("many", version)
    r = await packument(npm_feed, "many", "carol")  # a collaborator's packument saves nothing
    assert r.status_code == 200 and "npm-notice" not in r.headers
    assert (await npm_feed.http.get(tarball("many", "1.0.0"), headers=npm_feed.auth("carol"))).status_code == 200
    r = await packument(npm_feed, "many", "bob")
    assert r.headers["npm-notice"].startswith(
        "4 versions of many (newest: 1.4.0, 1.3.0, 1.2.0, ...) are available from upstream fixture"
    )


async def test_a_packument_with_a_notice_is_not_kept_in_a_clients_cache(
    npm_feed: Api, fixture_registry: FixtureRegistry
) -> None:
    """npm prints ``npm-notice`` only from an answer it does not store in its cache (a stored one, and a 304
    answered from it, stay silent), so a reader's packument with a notice is ``no-store``; others stay cacheable."""
    fixture_registry.add("grow", "1.0.0")
    fixture_registry.add("grow", "2.0.0")
    assert (await npm_feed.http.get(tarball("grow", "1.0.0"), headers=npm_feed.auth("carol"))).status_code == 200
    for _ in range(2):  # built, then from the page cache
        r = await packument(npm_feed, "grow", "bob")
        assert r.headers["cache-control"] == "no-store" and r.headers["npm-notice"].startswith("1 version of grow")
    r = await packument(npm_feed, "grow", "carol")
    assert r.headers["cache-control"] == "private, no-cache" and "npm-notice" not in r.headers
    fixture_registry.add("kept", "1.0.0")
    assert (await npm_feed.http.get(tarball("kept", "1.0.0"), headers=npm_feed.auth("carol"))).status_code == 200
    r = await packument(npm_feed, "kept", "bob")  # nothing held back from the reader
    assert r.headers["cache-control"] == "private, no-cache" and "npm-notice" not in r.headers


async def test_the_404_of_an_unsaved_version_carries_the_reason_in_the_notice(
    npm_feed: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("pub", "1.0.0")
    fixture_registry.add("pub", "2.0.0")
    assert (await npm_feed.http.get(tarball("pub", "1.0.0"), headers=npm_feed.auth("carol"))).status_code == 200
    reason = f"pub@2.0.0 is available from upstream fixture but is not saved in feed feed yet; {RULE} it first"
    for url in (tarball("pub", "2.0.0"), f"{Api.registry()}pub/2.0.0"):
        r = await npm_feed.http.get(url, headers=npm_feed.auth("bob"))
        assert r.status_code == 404 and r.json()["error"] == reason and r.headers["npm-notice"] == reason, url
    assert fixture_registry.count("GET", "/pub-2.0.0.tgz") == 0
    # a version no source has: the notice says so too
    r = await npm_feed.http.get(tarball("pub", "9.0.0"), headers=npm_feed.auth("bob"))
    assert r.status_code == 404 and r.headers["npm-notice"].startswith("pub@9.0.0 does not exist in feed@Local")
    # other 404s carry no notice: npm prints their body
    r = await packument(npm_feed, "nothing-anywhere", "bob")
    assert r.status_code == 404 and "npm-notice" not in r.headers


async def test_notices_are_one_bounded_line_of_ascii(npm_feed: Api, fixture_registry: FixtureRegistry) -> None:
    source = {"name": "fïxture ✓ " + "x" * 50, "protocol": "npm", "location": fixture_registry.url}
    r = await npm_feed.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=npm_feed.auth())
    assert r.status_code == 200, r.text
    name = "a" * 200
    for version in ("1.0.0", "2.0.0"):
        fixture_registry.add(name, version)
    assert (await npm_feed.http.get(tarball(name, "1.0.0"), headers=npm_feed.auth("carol"))).status_code == 200
    for url in (npm_feed.registry() + name, tarball(name, "2.0.0")):
        r = await npm_feed.http.get(url, headers=npm_feed.auth("bob"))
        notice = r.headers["npm-notice"]
        assert notice.isascii() and notice.isprintable() and len(notice) <= 400, notice
        assert "f?xture ? xxx" in notice, notice


# --- Python ----------------------------------------------------------------------------------------


async def test_a_readers_simple_page_says_which_versions_a_collaborator_must_save(
    py_feed: Api, fixture_index: FixtureIndex
) -> None:
    for version in ("1.0", "2.0", "10.0"):
        fixture_index.add("shy-py", version)
    page = await py_feed.http.get(f"{SIMPLE}shy-py/", headers={**PEP691, **py_feed.auth("carol")})
    first = next(f for f in page.json()["files"] if f["filename"].startswith("shy_py-1.0-"))
    saved = await py_feed.http.get(first["url"].removeprefix("http://feed.test"), headers=py_feed.auth("carol"))
    assert saved.status_code == 200, saved.text

    notice = (
        "2 versions of shy-py (newest: 10.0, 2.0) are available from upstream pypi-fixture but not saved in feed "
        f"feed; {RULE} them first"
    )
    for accept in (PEP691, {"Accept": "text/html"}):
        r = await py_feed.http.get(f"{SIMPLE}shy-py/", headers={**accept, **py_feed.auth("bob")})
        assert r.status_code == 200 and r.headers["x-feed-notice"] == notice, r.headers
        assert "shy_py-1.0-" in r.text and "shy_py-2.0-" not in r.text
    r = await py_feed.http.get(f"{SIMPLE}shy-py/", headers={**PEP691, **py_feed.auth("carol")})
    assert r.json()["versions"] == ["1.0", "10.0", "2.0"] and "x-feed-notice" not in r.headers


async def test_a_page_with_nothing_saved_is_a_404_saying_why(py_feed: Api, fixture_index: FixtureIndex) -> None:
    fixture_index.add("never-py", "1.0")
    for accept in (PEP691, {"Accept": "text/html"}):
        r = await py_feed.http.get(f"{SIMPLE}never-py/", headers={**accept, **py_feed.auth("bob")})
        assert r.status_code == 404
        assert r.json()["message"] == (
            f"never-py@1.0 is available from upstream pypi-fixture but is not saved in feed feed yet; {RULE} it first"
        )
