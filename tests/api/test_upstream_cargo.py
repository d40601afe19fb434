"""Cargo upstreams through the same engine (both backends): the fixture sparse registry (tests/cargo_registry.py) and
another instance of this service over real HTTP, as upstreams of a feed read through its Cargo adapter. Search order,
readers, saving with provenance and the cksum checked, stale-if-error, single-flight, release age by ``pubtime``,
dependency confusion, publish conflicts, hostile index lines, yanks carried by the refresh job, and dependencies on
the upstream's own index rewritten to ``null``."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from feed_core import jobs
from feed_core.upstreams import cargo as cargo_upstream
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.api.test_stream_through import serving
from tests.cargo_packages import crate_bytes, publish_body
from tests.cargo_registry import CargoRegistry, index_dep, index_path

FEEDS = f"/{ORG}/_apis/packaging/feeds"
TIMEOUTS = {"upstream_timeout": 2.0, "upstream_connect_timeout": 1.0, "upstream_download_timeout": 5.0}


def cargo_root(feed: str = "feed") -> str:
    return f"/{ORG}/_packaging/{feed}/cargo"


def index_file(name: str, feed: str = "feed") -> str:
    return f"{cargo_root(feed)}/index/{index_path(name)}"


def download(name: str, version: str, feed: str = "feed") -> str:
    return f"{cargo_root(feed)}/api/v1/crates/{name}/{version}/download"


def source(name: str, registry: CargoRegistry, **extra: Any) -> dict[str, Any]:
    return {"name": name, "protocol": "cargo", "location": registry.index_url, **extra}


def lines(response: httpx.Response) -> dict[str, dict[str, Any]]:
    """An index file's lines by version."""
    assert response.status_code == 200, response.text
    return {x["vers"]: x for x in map(json.loads, response.text.splitlines())}


@pytest.fixture(autouse=True)
def fresh_configs() -> Iterator[None]:
    cargo_upstream.forget_configs()  # the config.json cache is per process: each test starts without one
    yield
    cargo_upstream.forget_configs()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[CargoRegistry]:
    with CargoRegistry(tmp_path / "registry") as served:
        yield served


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[CargoRegistry]:
    with CargoRegistry(tmp_path / "mirror") as served:
        yield served


@pytest.fixture
async def up(make_settings: SettingsFactory, clock: MutableClock, registry: CargoRegistry) -> AsyncIterator[Api]:
    """A feed whose only upstream is the fixture registry; alice contributor, bob reader, carol collaborator."""
    async with running_api(make_settings(**TIMEOUTS), clock) as api:
        await api.create_feed("feed", upstreamSources=[source("crates", registry)])
        await api.staff("feed")
        yield api


async def get(api: Api, url: str, who: str = "carol", **headers: str) -> httpx.Response:
    return await api.http.get(url, headers={**api.auth(who), **headers})


async def version_info(api: Api, name: str, version: str, feed: str = "feed") -> httpx.Response:
    return await api.http.get(f"{FEEDS}/{feed}/cargo/packages/{name}/versions/{version}", headers=api.auth("bob"))


async def publish(api: Api, name: str, version: str, who: str = "alice", feed: str = "feed") -> httpx.Response:
    body = publish_body(name, version, crate_bytes(name, version))
    return await api.http.put(f"{cargo_root(feed)}/api/v1/crates/new", content=body, headers=api.auth(who))


# --- saving ----------------------------------------------------------------------------------------------------


async def test_a_crate_is_saved_on_download_verified_by_cksum_with_provenance(up: Api, registry: CargoRegistry) -> None:
    data = registry.add("Serde_mini", "1.0.0", pubtime="2024-05-01T10:00:00Z", rust_version="1.70")
    registry.add("Serde_mini", "1.1.0")
    got = lines(await get(up, index_file("serde_mini")))
    assert sorted(got) == ["1.0.0", "1.1.0"]
    assert got["1.0.0"]["cksum"] == hashlib.sha256(data).hexdigest() and got["1.0.0"]["name"] == "Serde_mini"
    assert got["1.0.0"]["pubtime"] == "2024-05-01T10:00:00Z" and got["1.0.0"]["rust_version"] == "1.70"
    r = await get(up, download("Serde_mini", "1.0.0"))
    assert r.status_code == 200 and r.content == data
    info = await version_info(up, "serde_mini", "1.0.0")
    assert info.status_code == 200, info.text
    body = info.json()
    (hop,) = body["sourceChain"]
    assert hop["name"] == "crates" and hop["location"] == registry.index_url
    provenance = body["provenance"]
    assert provenance["savedBy"] == "carol" and provenance["verifiedWith"] == "sha256"
    assert provenance["upstreamSha256"] == hashlib.sha256(data).hexdigest()
    assert provenance["url"] == f"{registry.url}crates/Serde_mini/1.0.0/download"  # from config.json's dl
    assert registry.count("/index/config.json") == 1 and registry.count("/Serde_mini/1.0.0/download") == 1
    again = await get(up, download("Serde_mini", "1.0.0"), who="bob")
    assert again.status_code == 200 and again.content == data
    assert registry.count("/Serde_mini/1.0.0/download") == 1  # served from the feed now


async def test_a_dl_without_markers_gets_crate_version_download_appended(up: Api, registry: CargoRegistry) -> None:
    registry.set_dl(no_marker=True)
    data = registry.add("plain", "0.1.0")
    r = await get(up, download("plain", "0.1.0"))
    assert r.status_code == 200 and r.content == data
    assert registry.count("/api/v1/crates/plain/0.1.0/download") == 1


async def test_bytes_that_fail_the_cksum_are_refused_and_nothing_is_saved(up: Api, registry: CargoRegistry) -> None:
    registry.add("evil", "1.0.0")
    registry.tamper("evil", "1.0.0")
    r = await get(up, download("evil", "1.0.0"))
    assert r.status_code == 502, r.text
    detail = r.json()["errors"][0]["detail"]
    assert "do not match" in detail and "sha256" in detail and "nothing was saved" in detail
    assert (await version_info(up, "evil", "1.0.0")).status_code == 404


async def test_a_crate_that_is_not_the_one_listed_is_refused(up: Api, registry: CargoRegistry) -> None:
    registry.add("liar", "1.0.0", crate=crate_bytes("other", "1.0.0"))  # the cksum matches: the contents lie
    r = await get(up, download("liar", "1.0.0"))
    assert r.status_code == 502 and "was refused" in r.json()["errors"][0]["detail"], r.text
    assert (await version_info(up, "liar", "1.0.0")).status_code == 404


async def test_twenty_parallel_first_downloads_make_one_upstream_request(up: Api, registry: CargoRegistry) -> None:
    data = registry.add("burst", "1.0.0", crate=crate_bytes("burst", "1.0.0", files={"big.bin": b"b" * 300_000}))
    registry.delay = 0.1
    results = await asyncio.gather(*(get(up, download("burst", "1.0.0")) for _ in range(20)))
    assert [r.status_code for r in results] == [200] * 20 and {r.content for r in results} == {data}
    assert registry.count("/burst/1.0.0/download") == 1
    assert registry.count("/index/bu/rs/burst") == 1 and registry.count("/index/config.json") == 1


async def test_a_token_goes_to_a_registry_that_requires_one(up: Api, registry: CargoRegistry) -> None:
    registry.require_token("upstream-secret")
    data = registry.add("private-up", "1.0.0")
    r = await up.http.patch(
        f"{FEEDS}/feed",
        json={"upstreamSources": [source("crates", registry, credentials={"token": "upstream-secret"})]},
        headers=up.auth(),
    )
    assert r.status_code == 200 and "upstream-secret" not in r.text
    r = await get(up, download("private-up", "1.0.0"))
    assert r.status_code == 200 and r.content == data
    sent = [h.get("authorization") for _, _, h in registry.requests]
    assert sent and set(sent) == {"Bearer upstream-secret"}  # never the client's own token
    assert up.tokens["carol"] not in json.dumps(registry.requests)


async def test_a_sparse_plus_location_is_taken_as_cargo_spells_it(up: Api, registry: CargoRegistry) -> None:
    sparse = {"name": "crates", "protocol": "cargo", "location": registry.sparse_url}
    r = await up.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [sparse]}, headers=up.auth())
    assert r.status_code == 200, r.text
    assert r.json()["upstreamSources"][0]["location"] == registry.index_url
    registry.add("spelled", "1.0.0")
    assert sorted(lines(await get(up, index_file("spelled")))) == ["1.0.0"]


# --- what is offered -------------------------------------------------------------------------------------------


async def test_upstreams_are_asked_in_search_order(
    make_settings: SettingsFactory, clock: MutableClock, registry: CargoRegistry, mirror: CargoRegistry
) -> None:
    async with running_api(make_settings(**TIMEOUTS), clock) as api:
        await api.create_feed("feed", upstreamSources=[source("first", registry), source("second", mirror)])
        await api.staff("feed")
        first = registry.add("shared", "1.0.0")
        mirror.add("shared", "1.0.0", crate=crate_bytes("shared", "1.0.0", files={"src/other.rs": b"//\n"}))
        second = mirror.add("shared", "2.0.0")
        got = lines(await get(api, index_file("shared")))
        assert sorted(got) == ["1.0.0", "2.0.0"]
        assert got["1.0.0"]["cksum"] == hashlib.sha256(first).hexdigest()  # the first source's line wins
        for version, data, name in (("1.0.0", first, "first"), ("2.0.0", second, "second")):
            r = await get(api, download("shared", version))
            assert r.status_code == 200 and r.content == data
            info = (await version_info(api, "shared", version)).json()
            assert info["sourceChain"][0]["name"] == name
        assert mirror.count("/shared/1.0.0/download") == 0


async def test_a_build_metadata_twin_from_a_later_upstream_is_not_offered(
    make_settings: SettingsFactory, clock: MutableClock, registry: CargoRegistry, mirror: CargoRegistry
) -> None:
    async with running_api(make_settings(**TIMEOUTS), clock) as api:
        await api.create_feed("feed", upstreamSources=[source("first", registry), source("second", mirror)])
        await api.staff("feed")
        first = registry.add("twinned", "1.0.0")
        evil = crate_bytes("twinned", "1.0.0+evil", files={"src/evil.rs": b"// not the first source's crate\n"})
        mirror.add("twinned", "1.0.0+evil", crate=evil)
        got = lines(await get(api, index_file("twinned")))
        assert list(got) == ["1.0.0"] and got["1.0.0"]["cksum"] == hashlib.sha256(first).hexdigest()
        r = await get(api, download("twinned", "1.0.0+evil"))
        assert r.status_code == 404, r.text
        assert mirror.count("/download") == 0 and registry.count("/download") == 0
        assert (await version_info(api, "twinned", "1.0.0+evil")).status_code == 404
        assert (await get(api, index_file("twinned"), who="bob")).status_code == 404  # nothing was saved


@pytest.mark.parametrize("deleted", [False, True], ids=["held", "deleted"])
async def test_an_upstream_twin_of_a_held_or_deleted_version_is_never_offered(
    up: Api, registry: CargoRegistry, clock: MutableClock, deleted: bool
) -> None:
    assert (await publish(up, "mine", "1.0.0")).status_code == 200
    if deleted:
        r = await up.http.delete(f"{FEEDS}/feed/cargo/packages/mine/versions/1.0.0", headers=up.auth())
        assert r.status_code == 200, r.text
    url = f"{FEEDS}/feed/cargo/packages/mine/upstreaming?api-version=7.1"
    allow = {"versionsFromExternalUpstreams": "AllowExternalVersions"}
    assert (await up.http.patch(url, json=allow, headers=up.auth())).status_code == 200
    registry.add("mine", "1.0.0+x")
    clock.advance(days=1)  # past the metadata TTL: the upstream's index file is read again, twin and all
    r = await get(up, index_file("mine"))
    if deleted:
        assert r.status_code == 404, r.text  # the reserved number's twin is not a version of the crate
    else:
        assert list(lines(r)) == ["1.0.0"]
    r = await get(up, download("mine", "1.0.0+x"))
    assert r.status_code == 404, r.text
    if deleted:
        assert "reserved" in r.json()["errors"][0]["detail"], r.text
    assert registry.count("/download") == 0
    assert (await version_info(up, "mine", "1.0.0+x")).status_code == 404


async def test_readers_get_only_what_a_collaborator_saved(up: Api, registry: CargoRegistry) -> None:
    registry.add("pub", "1.0.0")
    registry.add("pub", "2.0.0")
    r = await get(up, index_file("pub"), who="bob")
    assert r.status_code == 404 and "collaborator" in r.text, r.text
    r = await get(up, download("pub", "1.0.0"), who="bob")
    assert r.status_code == 404 and "collaborator" in r.text, r.text
    assert registry.count("/pub/1.0.0/download") == 0  # a reader never makes the feed download
    assert (await get(up, download("pub", "1.0.0"))).status_code == 200
    assert sorted(lines(await get(up, index_file("pub"), who="bob"))) == ["1.0.0"]
    assert sorted(lines(await get(up, index_file("pub")))) == ["1.0.0", "2.0.0"]


async def test_saved_crates_are_served_while_the_upstream_is_down(
    up: Api, registry: CargoRegistry, clock: MutableClock
) -> None:
    data = registry.add("keep", "1.0.0")
    registry.add("keep", "1.0.1")
    assert (await get(up, download("keep", "1.0.0"))).status_code == 200
    registry.stop()
    clock.advance(hours=2)  # past the metadata TTL: revalidation fails, the last answer is used
    assert sorted(lines(await get(up, index_file("keep")))) == ["1.0.0", "1.0.1"]
    r = await get(up, download("keep", "1.0.0"), who="bob")
    assert r.status_code == 200 and r.content == data
    r = await get(up, download("keep", "1.0.1"))
    assert r.status_code == 502 and "crates" in r.json()["errors"][0]["detail"], r.text
    r = await get(up, index_file("never-seen"))
    assert r.status_code == 502 and "unavailable" in r.text, r.text
    registry.start()
    assert (await get(up, download("keep", "1.0.1"))).status_code == 200


async def test_release_age_counts_from_pubtime(up: Api, registry: CargoRegistry, clock: MutableClock) -> None:
    young = (clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    registry.add("agey", "1.0.0")
    registry.add("agey", "1.1.0", pubtime=young)
    r = await up.http.patch(f"{FEEDS}/feed", json={"minimumReleaseAgeHours": 24}, headers=up.auth())
    assert r.status_code == 200, r.text
    assert sorted(lines(await get(up, index_file("agey")))) == ["1.0.0"]
    r = await get(up, download("agey", "1.1.0"))
    assert r.status_code == 404 and "minimum release age" in r.text, r.text
    assert registry.count("/agey/1.1.0/download") == 0
    clock.advance(hours=23)
    assert sorted(lines(await get(up, index_file("agey")))) == ["1.0.0", "1.1.0"]
    assert (await get(up, download("agey", "1.1.0"))).status_code == 200


async def test_a_saved_crate_keeps_the_upstreams_pubtime_or_its_absence(
    up: Api, registry: CargoRegistry, clock: MutableClock
) -> None:
    registry.add("nopub", "1.0.0", pubtime=None)
    registry.add("withpub", "1.0.0", pubtime="2024-05-01T10:00:00Z")
    assert "pubtime" not in lines(await get(up, index_file("nopub")))["1.0.0"]
    clock.advance(hours=3)  # the save is later than anything the upstream said
    for name in ("nopub", "withpub"):
        assert (await get(up, download(name, "1.0.0"))).status_code == 200
    clock.advance(hours=3)
    for who in ("bob", "carol"):  # the saved version (bob) and the merged view (carol) alike
        assert "pubtime" not in lines(await get(up, index_file("nopub"), who=who))["1.0.0"], who
        assert lines(await get(up, index_file("withpub"), who=who))["1.0.0"]["pubtime"] == "2024-05-01T10:00:00Z"


async def test_a_private_crate_is_not_shadowed_by_a_public_one(up: Api, registry: CargoRegistry) -> None:
    registry.add("internal-tool", "99.0.0")  # someone's public copy of the private name
    assert (await publish(up, "internal-tool", "1.0.0")).status_code == 200
    registry.reset_requests()
    assert sorted(lines(await get(up, index_file("internal-tool")))) == ["1.0.0"]
    r = await get(up, download("internal-tool", "99.0.0"))
    assert r.status_code == 404, r.text
    assert registry.requests == []  # the public registry is not even asked about the name
    url = f"{FEEDS}/feed/cargo/packages/internal-tool/upstreaming?api-version=7.1"
    assert (await up.http.get(url, headers=up.auth("bob"))).json() == {"versionsFromExternalUpstreams": "auto"}
    allow = {"versionsFromExternalUpstreams": "AllowExternalVersions"}
    assert (await up.http.patch(url, json=allow, headers=up.auth("alice"))).status_code == 403
    assert (await up.http.patch(url, json=allow, headers=up.auth())).status_code == 200
    assert sorted(lines(await get(up, index_file("internal-tool")))) == ["1.0.0", "99.0.0"]
    assert (await get(up, download("internal-tool", "99.0.0"))).status_code == 200


async def test_publishing_a_version_an_upstream_has_is_a_conflict(up: Api, registry: CargoRegistry) -> None:
    registry.add("taken", "1.0.0")
    r = await publish(up, "taken", "1.0.0")
    assert r.status_code == 409 and "crates" in r.json()["errors"][0]["detail"], r.text
    assert (await publish(up, "taken", "1.0.1")).status_code == 200


async def test_hostile_index_lines_are_refused_one_by_one(up: Api, registry: CargoRegistry) -> None:
    good = registry.add("mixed", "1.0.0")
    kept = registry.lines("mixed")[0]
    hostile = [
        {**kept, "vers": "1.0.1", "cksum": "../../etc/passwd"},
        {**kept, "vers": "1.0.2", "name": "other-crate"},
        {**kept, "vers": "1.0.3", "deps": [{"name": 5}]},
        {**kept, "vers": "1.0.0+twin"},
    ]
    body = b"".join(json.dumps(x).encode() + b"\n" for x in [kept, *hostile]) + b"{broken\n" + b"[1,2]\n"
    registry.write_index("mixed", body)
    got = lines(await get(up, index_file("mixed")))
    assert list(got) == ["1.0.0"] and got["1.0.0"]["cksum"] == hashlib.sha256(good).hexdigest()
    for version in ("1.0.1", "1.0.2", "1.0.3", "1.0.0+twin"):
        assert (await get(up, download("mixed", version))).status_code == 404, version
    assert registry.count("/download") == 0


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Sign in</body></html>\n", b"\x1f\x8b\x08\x00binary", b"[" * 100_000 + b"\n"],
    ids=["html", "binary", "deep"],
)
async def test_a_file_that_is_no_index_file_is_refused_whole(up: Api, registry: CargoRegistry, body: bytes) -> None:
    registry.write_index("weird", body)
    r = await get(up, index_file("weird"))
    assert r.status_code == 502 and "crates" in r.text and "Sign in" not in r.text, r.text


async def test_dependencies_on_the_upstream_itself_point_at_the_feed(up: Api, registry: CargoRegistry) -> None:
    elsewhere = "sparse+https://elsewhere.test/index/"
    deps = [
        index_dep("base", "^1", registry=registry.sparse_url),
        index_dep("base2", "^1", registry=registry.index_url.rstrip("/")),
        index_dep("far", "^2", registry=elsewhere),
        index_dep("alias", "^1", package="real-name"),
    ]
    registry.add("app-lib", "1.0.0", deps=deps)
    (line,) = lines(await get(up, index_file("app-lib"))).values()
    registries = {d["name"]: d["registry"] for d in line["deps"]}
    assert registries == {"base": None, "base2": None, "far": elsewhere, "alias": None}
    assert next(d for d in line["deps"] if d["name"] == "alias")["package"] == "real-name"
    assert (await get(up, download("app-lib", "1.0.0"))).status_code == 200
    (line,) = lines(await get(up, index_file("app-lib"), who="bob")).values()  # the saved version says the same
    assert {d["name"]: d["registry"] for d in line["deps"]} == registries


# --- yanks -----------------------------------------------------------------------------------------------------


async def test_upstream_yanks_reach_saved_versions_through_the_refresh_job(up: Api, registry: CargoRegistry) -> None:
    registry.add("yanky", "1.0.0")
    registry.add("yanky", "1.1.0", yanked=True)
    assert lines(await get(up, index_file("yanky")))["1.1.0"]["yanked"] is True
    for version in ("1.0.0", "1.1.0"):  # a yanked version still downloads by its exact number
        assert (await get(up, download("yanky", version))).status_code == 200
    saved = lines(await get(up, index_file("yanky"), who="bob"))
    assert (saved["1.0.0"]["yanked"], saved["1.1.0"]["yanked"]) == (False, True)  # kept as the upstream had it
    registry.yank("yanky", "1.0.0")
    registry.unyank("yanky", "1.1.0")
    report = await jobs.run_refresh(up.services)
    assert report.yanked == ["feed/yanky@1.0.0"] and report.unyanked == ["feed/yanky@1.1.0"], report.summary()
    saved = lines(await get(up, index_file("yanky"), who="bob"))
    assert (saved["1.0.0"]["yanked"], saved["1.1.0"]["yanked"]) == (True, False)
    # the feed's own decision stands until the upstream changes its mind again
    r = await up.http.put(f"{cargo_root()}/api/v1/crates/yanky/1.0.0/unyank", headers=up.auth("alice"))
    assert r.status_code == 200, r.text
    report = await jobs.run_refresh(up.services)
    assert report.yanked == [] and report.unyanked == []
    assert lines(await get(up, index_file("yanky"), who="bob"))["1.0.0"]["yanked"] is False


async def test_health_and_refresh_jobs_cover_cargo_upstreams(up: Api, registry: CargoRegistry) -> None:
    registry.add("jobbed", "1.0.0")
    assert (await get(up, download("jobbed", "1.0.0"))).status_code == 200
    report = await jobs.run_health(up.services)
    assert report.upstreams == 1 and not report.failed, report.summary()
    registry.remove("jobbed", "1.0.0")
    registry.add("jobbed", "2.0.0")
    refreshed = await jobs.run_refresh(up.services)
    assert refreshed.flagged_removed == ["feed/jobbed@1.0.0"], refreshed.summary()
    registry.write("index/config.json", b"<html>not a registry</html>")
    report = await jobs.run_health(up.services)
    assert report.failed and "config.json" in report.failed[0], report.summary()


# --- another instance of this service, and another feed ----------------------------------------------------


async def test_another_instance_of_this_service_as_an_upstream(
    make_settings: SettingsFactory, clock: MutableClock, tmp_path: Path
) -> None:
    other_settings = make_settings(data_dir=tmp_path / "other-data")
    async with serving(other_settings, clock) as other, running_api(make_settings(**TIMEOUTS), clock) as api:
        await other.create_feed("team")
        token = await other.token("builder", "vso.packaging")
        await other.grant("team", "builder", "reader")
        body = publish_body("team-lib", "1.2.0", crate_bytes("team-lib", "1.2.0"), deps=[])
        r = await other.http.put(f"{cargo_root('team')}/api/v1/crates/new", content=body, headers=other.auth())
        assert r.status_code == 200, r.text
        location = str(other.http.base_url).rstrip("/") + f"{cargo_root('team')}/index/"
        upstream = {"name": "team", "protocol": "cargo", "location": location, "credentials": {"token": token}}
        await api.create_feed("feed", upstreamSources=[upstream])
        await api.staff("feed")
        got = lines(await get(api, index_file("team-lib")))
        assert list(got) == ["1.2.0"]
        r = await get(api, download("team-lib", "1.2.0"))
        assert r.status_code == 200 and r.content == crate_bytes("team-lib", "1.2.0")
        info = (await version_info(api, "team-lib", "1.2.0")).json()
        assert info["sourceChain"][0]["name"] == "team" and info["provenance"]["verifiedWith"] == "sha256"
        assert info["provenance"]["url"].startswith(location.rsplit("/index/", 1)[0] + "/api/v1/crates/")
        assert not (await jobs.run_health(api.services)).failed


async def test_another_feed_through_a_view_as_an_upstream(up: Api) -> None:
    await up.create_feed("team")
    r = await up.http.put(
        f"{cargo_root('team')}/api/v1/crates/new",
        content=publish_body("team-core", "0.3.0", crate_bytes("team-core", "0.3.0")),
        headers=up.auth(),
    )
    assert r.status_code == 200, r.text
    r = await up.http.delete(f"{cargo_root('team')}/api/v1/crates/team-core/0.3.0/yank", headers=up.auth())
    assert r.status_code == 200, r.text
    await up.follow_internal_upstream("feed", "team", ("cargo",))
    got = lines(await get(up, index_file("team-core")))
    assert got["0.3.0"]["yanked"] is True
    r = await get(up, download("team-core", "0.3.0"))
    assert r.status_code == 200 and r.content == crate_bytes("team-core", "0.3.0")
    info = (await version_info(up, "team-core", "0.3.0")).json()
    assert info["provenance"]["verifiedWith"] == "same-service"
    assert lines(await get(up, index_file("team-core"), who="bob"))["0.3.0"]["yanked"] is True
