"""Private names stay private (issue 9 §3): a name holding a version published in this service is never
sent to an external upstream while its external versions are blocked, not by a read, a download, a
publish or the refresh job. Internal upstreams (feeds of this service) are still asked. Real fixture
upstreams on 127.0.0.1 record every path they are asked for (both backends).
"""

# ruff: noqa: F811
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from feed_core import jobs
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.pypi_index_fixture import FixtureIndex, fixture_index  # noqa: F401
from tests.python_packages import make_wheel, upload_form

FEEDS = f"/{ORG}/_apis/packaging/feeds"
ABBREV = {"Accept": "application/vnd.npm.install-v1+json"}
PYPI = f"/{ORG}/_packaging/feed/pypi/"
PEP691 = {"Accept": "application/vnd.pypi.simple.v1+json"}
ALLOW = {"versionsFromExternalUpstreams": "AllowExternalVersions"}


@pytest.fixture
async def priv(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry, fixture_index: FixtureIndex
) -> AsyncIterator[Api]:
    """Feed ``feed`` with a public npm and a public Python upstream (the fixtures); feed ``up`` without
    upstreams, shared through its @Local view. alice contributes, bob reads, carol collaborates."""
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        await api.create_feed("up")
        sources = [
            {"name": "npm-fixture", "protocol": "npm", "location": fixture_registry.url},
            {"name": "pypi-fixture", "protocol": "pypi", "location": fixture_index.url},
        ]
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources}, headers=api.auth())
        assert r.status_code == 200, r.text
        r = await api.http.patch(f"{FEEDS}/up/views/Local", json={"visibility": "collection"}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        await api.staff("up")
        yield api


def npm_asked(registry: FixtureRegistry, word: str) -> list[str]:
    return [path for _, path, _ in registry.requests if word in path]


def pypi_asked(index: FixtureIndex, word: str) -> list[str]:
    return [path for path in index.requests if word in path]


async def test_npm_reads_downloads_publishes_and_refresh_never_send_a_private_name_out(
    priv: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("@corp/secret", "99.0.0")  # someone squats the private name on the public registry
    assert (await priv.publish("@corp/secret", "1.0.0", who="alice")).status_code == 201
    fixture_registry.reset_requests()  # a brand-new name's first publish asks whether the upstream has it
    reg = priv.registry()
    name = "@corp%2fsecret"
    for who, path, headers in (
        ("carol", name, {}),  # npm view
        ("carol", name, ABBREV),  # npm install
        ("bob", name, {}),
        ("carol", f"{name}/99.0.0", {}),
        ("carol", f"{name}/latest", {}),
        ("carol", f"-/package/{name}/dist-tags", {}),
    ):
        r = await priv.http.get(reg + path, headers={**priv.auth(who), **headers})
        assert r.status_code < 500, (path, r.text)
    doc = (await priv.http.get(reg + name, headers=priv.auth("carol"))).json()
    assert list(doc["versions"]) == ["1.0.0"]
    for number in ("1.0.0", "99.0.0", "2.0.0"):
        r = await priv.http.get(f"{reg}{name}/-/secret-{number}.tgz", headers=priv.auth("carol"))
        assert r.status_code == (200 if number == "1.0.0" else 404), r.text
    assert "upstreams were not asked, as @corp/secret is private here" in r.json()["error"]  # says why, and the fix
    assert (await priv.publish("@corp/secret", "1.0.1", who="alice")).status_code == 201  # no conflict check out
    report = await jobs.run_refresh(priv.services)
    assert report.kept_private == 1 and report.revalidated == 0
    assert npm_asked(fixture_registry, "secret") == []

    # The owner lets external versions in: from then on the upstream is asked, and its versions are offered.
    url = f"{FEEDS}/feed/npm/packages/@corp/secret/upstreaming?api-version=7.1"
    assert (await priv.http.patch(url, json=ALLOW, headers=priv.auth())).status_code == 200
    doc = (await priv.http.get(reg + name, headers=priv.auth("carol"))).json()
    assert sorted(doc["versions"]) == ["1.0.0", "1.0.1", "99.0.0"]  # (the first publish's answer, still fresh)
    report = await jobs.run_refresh(priv.services)
    assert report.kept_private == 0 and report.revalidated == 1
    assert npm_asked(fixture_registry, "secret") == ["/@corp/secret"]


async def test_pypi_pages_downloads_and_refresh_never_send_a_private_name_out(
    priv: Api, fixture_index: FixtureIndex
) -> None:
    fixture_index.add("corp-py", "99.0")
    filename, data, _ = make_wheel("corp-py", "1.0")
    fields, files = upload_form("corp-py", "1.0", filename, data)
    r = await priv.http.post(f"{PYPI}upload/", data=fields, files=files, headers=priv.auth("alice"))
    assert r.status_code == 200, r.text
    fixture_index.requests.clear()
    for who, headers in (("carol", PEP691), ("carol", {}), ("bob", PEP691)):
        r = await priv.http.get(f"{PYPI}simple/corp-py/", headers={**priv.auth(who), **headers})
        assert r.status_code == 200, r.text
    r = await priv.http.get(f"{PYPI}simple/Corp.Py/", headers={**priv.auth("carol"), **PEP691})
    assert r.status_code in (200, 301, 302, 308)  # a non-normalized spelling leaks nothing either
    r = await priv.http.get(f"{PYPI}download/corp-py/99.0/corp_py-99.0-py3-none-any.whl", headers=priv.auth("carol"))
    assert r.status_code == 404, r.text
    r = await priv.http.get(f"{PYPI}download/corp-py/1.0/{filename}", headers=priv.auth("bob"))
    assert r.status_code == 200 and r.content == data
    report = await jobs.run_refresh(priv.services)
    assert report.kept_private == 1
    assert pypi_asked(fixture_index, "corp") == []

    url = f"{FEEDS}/feed/pypi/packages/corp-py/upstreaming?api-version=7.1-preview.1"
    assert (await priv.http.patch(url, json=ALLOW, headers=priv.auth())).status_code == 200
    r = await priv.http.get(f"{PYPI}simple/corp-py/", headers={**priv.auth("carol"), **PEP691})
    assert r.json()["versions"] == ["1.0", "99.0"]  # (the first upload's answer, still fresh)
    assert (await jobs.run_refresh(priv.services)).kept_private == 0
    assert pypi_asked(fixture_index, "corp") == ["/simple/corp-py/"]


async def test_a_name_published_in_an_upstream_feed_is_not_sent_out_but_the_feed_is_asked(
    priv: Api, fixture_registry: FixtureRegistry
) -> None:
    """Feed ``feed`` holds nothing of the name; its internal upstream (feed ``up``) published it."""
    internal = {
        "name": "team",
        "protocol": "npm",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": "up",
        "internalUpstreamViewId": "Local",
    }
    public = {"name": "npm-fixture", "protocol": "npm", "location": fixture_registry.url}
    r = await priv.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [public, internal]}, headers=priv.auth())
    assert r.status_code == 200, r.text
    assert (await priv.publish("team-secret", "1.0.0", who="alice", feed="up")).status_code == 201
    fixture_registry.add("team-secret", "5.0.0")
    r = await priv.http.get(priv.registry() + "team-secret", headers=priv.auth("carol"))
    assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"]  # from the internal upstream
    tarball = priv.registry() + "team-secret/-/team-secret-1.0.0.tgz"
    assert (await priv.http.get(tarball, headers=priv.auth("carol"))).status_code == 200
    assert (await jobs.run_refresh(priv.services)).kept_private == 1
    assert npm_asked(fixture_registry, "team-secret") == []
    # A name nobody here published is still asked of the public upstream (nothing to keep private).
    fixture_registry.add("left-pad", "1.0.0")
    assert (await priv.http.get(priv.registry() + "left-pad", headers=priv.auth("carol"))).status_code == 200
    assert npm_asked(fixture_registry, "left-pad") == ["/left-pad"]


async def test_a_package_row_from_before_origins_were_recorded_is_still_private(
    priv: Api, fixture_registry: FixtureRegistry
) -> None:
    assert (await priv.publish("old-secret", "1.0.0", who="alice")).status_code == 201
    feed = await priv.services.feeds.find(ORG, None, "feed")
    store = priv.services.packages.store
    meta = await store.get_meta(feed.id, "npm", "old-secret")
    assert meta is not None and meta.origins is not None  # recorded on the row, in the publish transaction
    await store.update_meta(feed.id, replace(meta, origins=None))  # as a row written by an older build
    assert (await store.get_meta(feed.id, "npm", "old-secret")).origins is None  # type: ignore[union-attr]
    fixture_registry.reset_requests()
    r = await priv.http.get(priv.registry() + "old-secret", headers=priv.auth("carol"))
    assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"]
    assert npm_asked(fixture_registry, "old-secret") == []


async def test_allowing_external_versions_asks_again_an_upstream_that_lacked_the_name(
    priv: Api, fixture_registry: FixtureRegistry
) -> None:
    """The publish-time check asked the upstream, which did not have the name then; when it has it later, an
    owner's allowing external versions shows its versions at once, not after the minute a missing name is kept."""
    assert (await priv.publish("corp-late", "1.0.0", who="alice")).status_code == 201
    fixture_registry.add("corp-late", "2.0.0")  # published upstream after the private package
    url = f"{FEEDS}/feed/npm/packages/corp-late/upstreaming?api-version=7.1"
    assert (await priv.http.patch(url, json=ALLOW, headers=priv.auth())).status_code == 200
    doc = (await priv.http.get(priv.registry() + "corp-late", headers=priv.auth("carol"))).json()
    assert sorted(doc["versions"]) == ["1.0.0", "2.0.0"]
    # an answer that carries versions is kept as it is: allowing again asks nothing
    fixture_registry.reset_requests()
    assert (await priv.http.patch(url, json=ALLOW, headers=priv.auth())).status_code == 200
    assert (await priv.http.get(priv.registry() + "corp-late", headers=priv.auth("carol"))).status_code == 200
    assert npm_asked(fixture_registry, "corp-late") == []
