"""What the feed believes from an npm upstream's documents: hostile bodies, lying names, unverifiable and
foreign files, huge documents (in-process against a real fixture registry on 127.0.0.1, both backends)."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import make_tarball
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
TTL = 300.0


@pytest.fixture
async def up(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> AsyncIterator[Api]:
    """A feed whose only upstream (a public one) is the fixture registry; carol collaborator, bob reader."""
    settings = make_settings(
        upstream_timeout=5.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0, upstream_ttl_seconds=TTL
    )
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        source = {"name": "fixture", "protocol": "npm", "location": fixture_registry.url}
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


def tarball_url(name: str, version: str) -> str:
    return f"{Api.registry()}{name}/-/{name.split('/')[-1]}-{version}.tgz"


async def packument(api: Api, name: str, who: str = "carol", **headers: str) -> httpx.Response:
    return await api.http.get(api.registry() + name, headers={**api.auth(who), **headers})


async def saved(api: Api, name: str, version: str) -> bool:
    r = await api.http.get(f"{FEEDS}/feed/npm/{name}/versions/{version}", headers=api.auth("bob"))
    return r.status_code == 200


HOSTILE = {
    "nested 100k deep": b'{"name":"hostile","versions":{"1.0.0":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "nested 70 deep": b'{"name":"hostile","x":' + b"[" * 70 + b"]" * 70 + b"}",
    "a 5000-digit number": b'{"name":"hostile","versions":{},"n":' + b"7" * 5000 + b"}",
    "NaN": b'{"name":"hostile","versions":{},"n":NaN}',
    "not JSON": b"<html><body>502 Bad Gateway</body></html>",
    "a JSON array": b"[1, 2, 3]",
    "versions of the wrong type": b'{"name":"hostile","versions":[1,2]}',
    "another package's name": b'{"name":"other","versions":{}}',
    "a lone surrogate": b'{"name":"hostile","versions":{},"description":"\\ud800"}',
    "not UTF-8": b'{"name":"hostile","description":"\xff\xfe"}',
}


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_a_hostile_document_is_a_failed_upstream_with_a_reason_and_is_not_refetched(
    up: Api, fixture_registry: FixtureRegistry, clock: MutableClock, kind: str
) -> None:
    fixture_registry.serve_raw("/hostile", HOSTILE[kind])
    r = await packument(up, "hostile")
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert "fixture" in error and "hostile" in error, error
    assert fixture_registry.count("GET", "/hostile") == 1
    # Asked again (even after the refresh interval), the refused document is not fetched again within the TTL.
    for _ in range(3):
        clock.advance(seconds=30)
        again = await packument(up, "hostile")
        assert again.status_code == 502 and again.json()["error"] == error
        assert (await up.http.get(tarball_url("hostile", "1.0.0"), headers=up.auth("carol"))).status_code in (
            404,
            502,
        )
    assert fixture_registry.count("GET", "/hostile") == 1
    # After the TTL it is asked again: a fixed upstream is used.
    fixture_registry.serve_raw("/hostile", None)
    fixture_registry.add("hostile", "1.0.0")
    clock.advance(seconds=TTL)
    fixed = await packument(up, "hostile")
    assert fixed.status_code == 200 and list(fixed.json()["versions"]) == ["1.0.0"]


async def test_a_hostile_document_after_a_good_one_keeps_the_good_one(
    up: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    fixture_registry.add("turns", "1.0.0")
    assert (await packument(up, "turns")).status_code == 200
    fixture_registry.serve_raw("/turns", HOSTILE["nested 100k deep"])
    clock.advance(seconds=TTL + 1)
    r = await packument(up, "turns")  # stale: served while revalidating in the background
    assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"]
    await asyncio.sleep(0.3)
    r = await packument(up, "turns")
    assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"]


async def test_versions_whose_name_key_or_file_disagree_are_never_offered_or_saved(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("victim", "1.0.0")
    fixture_registry.add("victim", "2.0.0")
    fixture_registry.add("victim", "3.0.0")
    fixture_registry.add("other", "9.9.9")
    doc = fixture_registry.document("victim")
    good = doc["versions"]["1.0.0"]
    doc["versions"]["2.0.0"]["name"] = "other"  # a version's name disagrees
    doc["versions"]["3.0.0"]["dist"] = fixture_registry.document("other")["versions"]["9.9.9"]["dist"]
    for key in ("__proto__", "../../etc", "latest", "1.0"):  # keys that are no versions
        doc["versions"][key] = {**good, "version": key}
    doc["versions"]["4.0.0"] = {**good, "version": "1.0.0"}  # an entry that says it is another version
    doc["dist-tags"] = {"latest": "3.0.0", "next": "__proto__"}
    fixture_registry.serve_raw("/victim", json.dumps(doc).encode())

    r = await packument(up, "victim")
    assert r.status_code == 200, r.text
    assert list(r.json()["versions"]) == ["1.0.0"]
    for version in ("2.0.0", "3.0.0", "4.0.0"):
        got = await up.http.get(tarball_url("victim", version), headers=up.auth("carol"))
        assert got.status_code == 404, got.text
        assert "refused" in got.json()["error"] and "fixture" in got.json()["error"]
        assert not await saved(up, "victim", version)
        one = await up.http.get(f"{Api.registry()}victim/{version}", headers=up.auth("carol"))
        assert one.status_code == 404
    assert fixture_registry.count("GET", "/other-9.9.9.tgz") == 0  # the other package's file was never fetched
    assert (await up.http.get(tarball_url("victim", "1.0.0"), headers=up.auth("carol"))).status_code == 200


async def test_a_tarball_whose_package_json_names_another_package_is_not_saved(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("claims", "1.0.0", tarball=make_tarball("someone-else", "1.0.0"))
    fixture_registry.add("claims", "2.0.0", tarball=make_tarball("claims", "2.0.1"))
    for version, named in (("1.0.0", "someone-else"), ("2.0.0", "2.0.1")):
        r = await up.http.get(tarball_url("claims", version), headers=up.auth("carol"))
        assert r.status_code == 502, r.text
        error = r.json()["error"]
        assert "fixture" in error and named in error and "nothing was saved" in error, error
        assert not await saved(up, "claims", version)


@pytest.mark.parametrize("dist", [{}, {"integrity": "md5-AAAA"}, {"integrity": 5, "shasum": ["x"]}])
async def test_a_file_without_a_declared_hash_is_not_saved(
    up: Api, fixture_registry: FixtureRegistry, dist: dict[str, Any]
) -> None:
    fixture_registry.add("unsigned", "1.0.0")
    doc = fixture_registry.document("unsigned")
    doc["versions"]["1.0.0"]["dist"] = {"tarball": doc["versions"]["1.0.0"]["dist"]["tarball"], **dist}
    fixture_registry.serve_raw("/unsigned", json.dumps(doc).encode())
    r = await up.http.get(tarball_url("unsigned", "1.0.0"), headers=up.auth("carol"))
    assert r.status_code == 502, r.text
    assert "upstream 'fixture'" in r.json()["error"] and "declares no hash" in r.json()["error"]
    assert fixture_registry.count("GET", "/unsigned-1.0.0.tgz") == 0
    assert not await saved(up, "unsigned", "1.0.0")


async def test_a_page_is_built_once_for_every_host(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("hosts", "1.0.0")
    bodies = {}
    for host in ("a.test", "b.test:8080", "a.test"):
        r = await packument(up, "hosts", Host=host)
        assert r.status_code == 200
        bodies[host] = r
        tarball = r.json()["versions"]["1.0.0"]["dist"]["tarball"]
        assert tarball == f"http://{host}{tarball_url('hosts', '1.0.0')}"
    assert bodies["a.test"].headers["etag"] != bodies["b.test:8080"].headers["etag"]
    assert len(up.services.pages) == 1
    # the ETag a client holds is honoured per host
    r = await packument(up, "hosts", Host="b.test:8080", **{"If-None-Match": bodies["b.test:8080"].headers["etag"]})
    assert r.status_code == 304


async def test_a_huge_document_does_not_stall_unrelated_requests(up: Api, fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("huge", "0.0.1")
    doc = fixture_registry.document("huge")
    entry = doc["versions"]["0.0.1"]
    for i in range(20_000):
        number = f"1.{i}.0"
        doc["versions"][number] = {
            **entry,
            "version": number,
            "dist": {**entry["dist"], "tarball": entry["dist"]["tarball"].replace("huge-0.0.1", f"huge-{number}")},
            "padding": "p" * 1500,
            "deps": {f"d{j}": "1" for j in range(20)},
        }
    body = json.dumps(doc).encode()
    fixture_registry.serve_raw("/huge", body)
    assert len(body) > 40_000_000

    big = asyncio.create_task(packument(up, "huge"))
    while fixture_registry.count("GET", "/huge") == 0:
        await asyncio.sleep(0.01)
    worst = 0.0
    while not big.done():
        started = time.monotonic()
        r = await up.http.get(f"{FEEDS}/feed", headers=up.auth("bob"))
        worst = max(worst, time.monotonic() - started)
        assert r.status_code == 200
        await asyncio.sleep(0.02)
    r = await big
    assert r.status_code == 200 and len(r.json()["versions"]) == 20_001
    # Read in one C call and built on the event loop, the document stalled every request for seconds; read
    # and built in slices off the loop, a small request waits a few switch intervals (on a busy machine too).
    assert worst < 1.5, f"an unrelated request took {worst:.2f} s while a huge document was read"
