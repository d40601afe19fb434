"""PyPI-style upstreams through the same engine, against a real fixture index on 127.0.0.1 (both backends)."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from feed_core import jobs
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.pypi_index_fixture import FixtureIndex, fixture_index  # noqa: F401
from tests.python_packages import make_wheel, upload_form

FEEDS = f"/{ORG}/_apis/packaging/feeds"
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
BASE = f"/{ORG}/_packaging/feed/pypi/"


@pytest.fixture
async def py(make_settings: SettingsFactory, clock: MutableClock, fixture_index: FixtureIndex) -> AsyncIterator[Api]:
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        source = {"name": "pypi-fixture", "protocol": "pypi", "location": fixture_index.url}
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


async def page(api: Api, name: str, who: str = "carol") -> dict:  # type: ignore[type-arg]
    r = await api.http.get(f"{BASE}simple/{name}/", headers={**JSON, **api.auth(who)})
    assert r.status_code == 200, r.text
    return dict(r.json())


def local(url: str) -> str:
    return url.replace("http://feed.test", "")


async def test_upstream_files_are_listed_saved_on_download_and_verified(py: Api, fixture_index: FixtureIndex) -> None:
    filename, data = fixture_index.add("Up-Lib", "1.0")
    doc = await page(py, "up-lib")
    (f,) = doc["files"]
    assert f["hashes"]["sha256"] == hashlib.sha256(data).hexdigest() and f["url"].startswith("http://feed.test/")
    # metadata is fetched and verified without saving the version
    meta = await py.http.get(local(f["url"]) + ".metadata", headers=py.auth("carol"))
    assert meta.status_code == 200 and hashlib.sha256(meta.content).hexdigest() == f["core-metadata"]["sha256"]
    info = f"{FEEDS}/feed/pypi/packages/up-lib/versions/1.0"
    assert (await py.http.get(info, headers=py.auth("carol"))).status_code == 404
    got = await py.http.get(local(f["url"]), headers=py.auth("carol"))
    assert got.status_code == 200 and got.content == data
    saved = (await py.http.get(info, headers=py.auth("bob"))).json()
    assert saved["sourceChain"][0]["name"] == "pypi-fixture" and saved["provenance"]["verifiedWith"] == "sha256"
    # readers now see it; the index root (its project list) was never requested
    assert [x["filename"] for x in (await page(py, "up-lib", who="bob"))["files"]] == [filename]
    assert "/simple/" not in fixture_index.requests


async def test_readers_need_a_collaborator_first(py: Api, fixture_index: FixtureIndex) -> None:
    fixture_index.add("shy", "1.0")
    r = await py.http.get(f"{BASE}simple/shy/", headers={**JSON, **py.auth("bob")})
    assert r.status_code == 404 and "collaborator" in r.json()["message"]


async def test_tampered_files_are_refused(py: Api, fixture_index: FixtureIndex) -> None:
    filename, _ = fixture_index.add("evilpy", "1.0")
    fixture_index.tampered.add(filename)
    (f,) = (await page(py, "evilpy"))["files"]
    r = await py.http.get(local(f["url"]), headers=py.auth("carol"))
    assert r.status_code == 502 and "do not match" in r.json()["message"]


async def test_private_names_are_not_shadowed(py: Api, fixture_index: FixtureIndex) -> None:
    fixture_index.add("corp-tool", "99.0")
    name, data, _ = make_wheel("corp-tool", "1.0")
    fields, files = upload_form("corp-tool", "1.0", name, data)
    r = await py.http.post(f"{BASE}upload/", data=fields, files=files, headers=py.auth("alice"))
    assert r.status_code == 200, r.text
    fixture_index.requests.clear()  # the first upload asked whether the upstream already has 1.0
    r = await py.http.get(f"{BASE}simple/corp-tool/", headers={**JSON, **py.auth("carol")})
    assert r.json()["versions"] == ["1.0"] and "x-feed-blocked-versions" not in r.headers
    assert not [path for path in fixture_index.requests if "corp-tool" in path]  # a private name stays private
    url = f"{FEEDS}/feed/pypi/packages/Corp_Tool/upstreaming?api-version=7.1-preview.1"
    assert (
        await py.http.patch(url, json={"versionsFromExternalUpstreams": "AllowExternalVersions"}, headers=py.auth())
    ).status_code == 200
    assert sorted((await page(py, "corp-tool"))["versions"]) == ["1.0", "99.0"]


async def test_uploading_a_version_the_upstream_has_is_refused(py: Api, fixture_index: FixtureIndex) -> None:
    fixture_index.add("taken-py", "2.0")
    name, data, _ = make_wheel("taken-py", "2.0")
    fields, files = upload_form("taken-py", "2.0", name, data)
    r = await py.http.post(f"{BASE}upload/", data=fields, files=files, headers=py.auth("alice"))
    assert r.status_code == 409 and "pypi-fixture" in r.json()["message"]


async def test_saved_files_install_while_the_upstream_is_down(py: Api, fixture_index: FixtureIndex) -> None:
    _, data = fixture_index.add("sturdy", "1.0")
    (f,) = (await page(py, "sturdy"))["files"]
    assert (await py.http.get(local(f["url"]), headers=py.auth("carol"))).status_code == 200
    fixture_index.down = True
    assert (await page(py, "sturdy", who="bob"))["versions"] == ["1.0"]
    r = await py.http.get(local(f["url"]), headers=py.auth("bob"))
    assert r.status_code == 200 and r.content == data


async def test_single_flight_and_release_age(py: Api, fixture_index: FixtureIndex, clock: MutableClock) -> None:
    fixture_index.add("burst-py", "1.0")
    young = (clock.now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    fixture_index.add("burst-py", "1.1", uploaded=young)
    (f,) = [x for x in (await page(py, "burst-py"))["files"] if "1.0" in x["filename"]]
    results = await asyncio.gather(*(py.http.get(local(f["url"]), headers=py.auth("carol")) for _ in range(10)))
    assert {r.status_code for r in results} == {200}
    assert fixture_index.count(f["filename"]) == 1
    r = await py.http.patch(f"{FEEDS}/feed", json={"minimumReleaseAgeHours": 24}, headers=py.auth())
    assert r.status_code == 200
    r = await py.http.get(f"{BASE}simple/burst-py/", headers={**JSON, **py.auth("carol")})
    assert r.json()["versions"] == ["1.0"] and r.headers["x-feed-held-versions"] == "1 by minimum release age"


async def test_health_and_refresh_jobs_cover_python_upstreams(py: Api, fixture_index: FixtureIndex) -> None:
    fixture_index.add("jobbed", "1.0")
    (f,) = (await page(py, "jobbed"))["files"]
    assert (await py.http.get(local(f["url"]), headers=py.auth("carol"))).status_code == 200
    report = await jobs.run_health(py.services)
    assert report.upstreams == 1 and not report.failed
    fixture_index.projects["jobbed"].clear()
    refreshed = await jobs.run_refresh(py.services)
    assert refreshed.flagged_removed == ["feed/jobbed@1.0"]


async def test_another_feed_as_a_python_upstream(make_settings: SettingsFactory, clock: MutableClock) -> None:
    async with running_api(make_settings(), clock) as api:
        await api.create_feed("team")
        await api.create_feed("app")
        assert (
            await api.http.patch(f"{FEEDS}/team/views/Local", json={"visibility": "collection"}, headers=api.auth())
        ).status_code == 200
        source = {
            "name": "team",
            "protocol": "pypi",
            "upstreamSourceType": "internal",
            "internalUpstreamFeedId": "team",
            "internalUpstreamViewId": "Local",
        }
        assert (
            await api.http.patch(f"{FEEDS}/app", json={"upstreamSources": [source]}, headers=api.auth())
        ).status_code == 200
        filename, data, _ = make_wheel("team-lib", "3.0")
        fields, files = upload_form("team-lib", "3.0", filename, data)
        r = await api.http.post(f"/{ORG}/_packaging/team/pypi/upload/", data=fields, files=files, headers=api.auth())
        assert r.status_code == 200
        doc = (
            await api.http.get(f"/{ORG}/_packaging/app/pypi/simple/team-lib/", headers={**JSON, **api.auth()})
        ).json()
        (f,) = doc["files"]
        got = await api.http.get(local(f["url"]), headers=api.auth())
        assert got.status_code == 200 and got.content == data
        info = (await api.http.get(f"{FEEDS}/app/pypi/packages/team-lib/versions/3.0", headers=api.auth())).json()
        assert info["sourceChain"][0]["sourceType"] == "internal"
        assert info["provenance"]["verifiedWith"] == "same-service"
