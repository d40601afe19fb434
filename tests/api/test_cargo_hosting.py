"""Cargo hosting in-process, on both stores: config.json and the token challenge, publish as cargo frames it, index
files (prefix layout, lines, ETag/304/gzip, shown at once after a publish or a yank), downloads (any case, SAS
redirect on Azure), yank/unyank, search, owners, roles and views."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from feed_core.upstreams.cargo import forget_configs
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, running_api
from tests.cargo_packages import crate_bytes, dep, publish_body
from tests.cargo_registry import CargoRegistry

FEEDS = f"/{ORG}/_apis/packaging/feeds"


def cargo(feed: str = "feed", view: str | None = None) -> str:
    """The API base of a feed (``config.json``'s ``api``)."""
    ref = f"{feed}@{view}" if view else feed
    return f"/{ORG}/_packaging/{ref}/cargo"


def index(feed: str = "feed", view: str | None = None) -> str:
    return cargo(feed, view) + "/index/"


def raw(api: Api, who: str = "alice") -> dict[str, str]:
    """The token as cargo sends it: the whole ``Authorization`` value, no scheme."""
    return {"Authorization": ADMIN_TOKEN if who == "admin" else api.tokens[who]}


def index_path(name: str) -> str:
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


async def publish(
    api: Api,
    name: str,
    version: str,
    *,
    who: str = "alice",
    feed: str = "feed",
    view: str | None = None,
    crate: bytes | None = None,
    **fields: Any,
) -> httpx.Response:
    data = crate if crate is not None else crate_bytes(name, version)
    body = publish_body(name, version, data, **fields)
    headers = {**raw(api, who), "Content-Type": "application/octet-stream", "Accept": "application/json"}
    return await api.http.put(f"{cargo(feed, view)}/api/v1/crates/new", content=body, headers=headers)


async def published(api: Api, name: str, version: str, **kwargs: Any) -> None:
    r = await publish(api, name, version, **kwargs)
    assert r.status_code == 200, r.text
    assert r.json() == {"warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}}


async def index_lines(api: Api, name: str, who: str = "bob", **kwargs: Any) -> list[dict[str, Any]]:
    r = await api.http.get(index(**kwargs) + index_path(name), headers=raw(api, who))
    assert r.status_code == 200, r.text
    assert r.text.endswith("\n")
    return [json.loads(line) for line in r.text.splitlines()]


def errors(r: httpx.Response) -> str:
    """The one ``detail`` of a Web API error body (what cargo prints)."""
    body = r.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1, body
    return str(body["errors"][0]["detail"])


# --- config.json and credentials ---------------------------------------------------------------------------------


async def test_config_json_needs_a_token_and_names_the_download_and_api_urls(feed_api: Api) -> None:
    api = feed_api
    r = await api.http.get(index() + "config.json")
    assert r.status_code == 401
    login = f"http://feed.test{cargo()}/me"
    assert r.headers["www-authenticate"] == f'Cargo login_url="{login}"'
    assert "cargo login --registry" in errors(r)
    for spelling in ("cargo", "Cargo"):  # Azure writes Cargo in the index URL
        r = await api.http.get(f"/{ORG}/_packaging/feed/{spelling}/index/config.json", headers=raw(api, "bob"))
        assert r.status_code == 200, r.text
        assert r.json() == {
            "dl": f"http://feed.test{cargo()}/api/v1/crates/{{crate}}/{{version}}/download",
            "api": f"http://feed.test{cargo()}",
            "auth-required": True,
        }
    page = await api.http.get(f"{cargo()}/me")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    assert "cargo login --registry" in page.text and f"sparse+http://feed.test{index()}" in page.text


async def test_the_token_is_taken_raw_bearer_or_basic_and_a_bad_one_is_refused(feed_api: Api) -> None:
    api = feed_api
    url = index() + "config.json"
    token = api.tokens["bob"]
    basic = base64.b64encode(f"PAT:{token}".encode()).decode()
    for value in (token, f"Bearer {token}", f"Basic {basic}", f"  {token}  "):
        r = await api.http.get(url, headers={"Authorization": value})
        assert r.status_code == 200, (value, r.text)
    r = await api.http.get(url, headers={"Authorization": "fpat_forged"})
    assert r.status_code == 401 and "the token is not valid" in errors(r)
    assert r.headers["www-authenticate"].startswith('Cargo login_url="')
    r = await api.http.get(f"{cargo()}/api/v1/crates?q=x", headers={"Authorization": "fpat_forged"})
    assert r.status_code == 403 and "the token is not valid" in errors(r)  # the Web API's convention
    r = await api.http.get(f"{cargo()}/api/v1/crates?q=x")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Cargo ")


async def test_unknown_feeds_and_views_are_404s_once_the_caller_is_known(feed_api: Api) -> None:
    api = feed_api
    r = await api.http.get(index("missing") + "config.json")
    assert r.status_code == 401  # nothing said about the feed to a stranger
    r = await api.http.get(index("missing") + "config.json", headers=raw(api, "bob"))
    assert r.status_code == 404 and "feed 'missing' does not exist" in errors(r)
    r = await api.http.get(index("feed", "Nope") + "config.json", headers=raw(api, "bob"))
    assert r.status_code == 404 and "view 'Nope' does not exist" in errors(r)


# --- publish and the index -----------------------------------------------------------------------------------------


async def test_a_published_crate_has_one_index_line_per_version_mapped_from_its_metadata(
    feed_api: Api, clock: MutableClock
) -> None:
    api = feed_api
    own = f"sparse+http://feed.test{index()}"
    other = "https://example.invalid/other-index"
    deps = [
        dep("serde", "^1.0", features=["derive"], registry=other),
        dep("helper-lib", "^0.1", explicit_name_in_toml="helper", registry=own, optional=True),
        dep("cc", "^1", kind="build", default_features=False, target="cfg(unix)"),
    ]
    crate = crate_bytes("My-Crate", "0.1.0")
    await published(
        api,
        "My-Crate",
        "0.1.0",
        crate=crate,
        deps=deps,
        features={"default": ["helper"], "extra": ["serde/derive"]},
        rust_version="1.70",
        description="a crate",
        links="mylib",
    )
    clock.advance(hours=1)
    await published(api, "My-Crate", "0.2.0-beta.1+build.5")
    lines = await index_lines(api, "my-crate")
    assert [line["vers"] for line in lines] == ["0.1.0", "0.2.0-beta.1+build.5"]
    first = lines[0]
    assert first["name"] == "My-Crate" and first["v"] == 2 and first["yanked"] is False
    assert first["cksum"] == hashlib.sha256(crate).hexdigest()
    assert first["features"] == {"default": ["helper"], "extra": ["serde/derive"]}
    assert first["rust_version"] == "1.70" and first["links"] == "mylib"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["pubtime"]), first["pubtime"]
    assert first["pubtime"] == "2026-11-01T12:00:00Z" and lines[1]["pubtime"] == "2026-11-01T13:00:00Z"
    by_name = {d["name"]: d for d in first["deps"]}
    assert by_name["serde"] == {
        "name": "serde",
        "req": "^1.0",
        "features": ["derive"],
        "optional": False,
        "default_features": True,
        "target": None,
        "kind": "normal",
        "registry": other,
        "package": None,
    }
    assert by_name["helper"]["package"] == "helper-lib" and by_name["helper"]["registry"] is None
    assert by_name["helper"]["optional"] is True
    assert by_name["cc"]["kind"] == "build" and by_name["cc"]["target"] == "cfg(unix)"
    assert by_name["cc"]["default_features"] is False


@pytest.mark.parametrize("name", ["a", "Ab", "abc", "abcd", "Serde_Json"])
async def test_index_files_live_at_the_prefix_path_of_the_lower_cased_name(feed_api: Api, name: str) -> None:
    await published(feed_api, name, "1.0.0")
    lines = await index_lines(feed_api, name)
    assert [(line["name"], line["vers"]) for line in lines] == [(name, "1.0.0")]


async def test_anything_but_the_exact_index_path_is_a_404_saying_why(feed_api: Api) -> None:
    api = feed_api
    await published(api, "serde_json", "1.0.0")
    for path, why in (
        ("se/rd/serde-json", "does not exist"),
        ("Se/rd/Serde_json", "is not the index path of a crate"),
        ("xx/rd/serde_json", "is not the index path of a crate"),
        ("3/s/serde_json", "is not the index path of a crate"),
        ("se/serde_json", "is not the index path of a crate"),
        ("se/rd/no%20such", "may contain only"),
        ("nothing", "is not the index path of a crate"),
    ):
        r = await api.http.get(index() + path, headers=raw(api, "bob"))
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"].startswith("text/plain") and why in r.text, (path, r.text)
    r = await api.http.get(f"{cargo()}/elsewhere", headers=raw(api, "bob"))
    assert r.status_code == 404 and "no such Cargo endpoint" in errors(r)


async def test_racing_publishes_of_build_metadata_twins_keep_exactly_one(feed_api: Api) -> None:
    api = feed_api
    results = await asyncio.gather(*(publish(api, "race", f"1.0.0+b{i}") for i in range(4)))
    statuses = [r.status_code for r in results]
    assert sorted(statuses) == [200, 409, 409, 409], [r.text for r in results]
    winner = f"1.0.0+b{statuses.index(200)}"
    assert [line["vers"] for line in await index_lines(api, "race")] == [winner]
    for r in results:
        if r.status_code == 409:
            assert "publish a new version" in errors(r), r.text


async def test_racing_publishes_of_twin_names_keep_exactly_one(feed_api: Api) -> None:
    api = feed_api
    names = ["race_x", "race-x", "Race_X", "RACE-X"]
    results = await asyncio.gather(*(publish(api, name, "1.0.0") for name in names))
    statuses = [r.status_code for r in results]
    assert sorted(statuses) == [200, 409, 409, 409], [r.text for r in results]
    winner = names[statuses.index(200)]
    for name, r in zip(names, results, strict=True):
        if r.status_code != 409:
            continue
        if name.lower() == winner.lower():  # the same key: the same version of the crate, published already
            assert "already exists" in errors(r), r.text
        else:
            # (in the winner's own case once its version is committed; in lower case while that is under way)
            assert "the same name to cargo" in errors(r) and f"publish it as {winner.lower()}" in errors(r).lower()
    assert [line["name"] for line in await index_lines(api, winner)] == [winner]
    for other in {n.lower() for n in names} - {winner.lower()}:
        r = await api.http.get(index() + index_path(other), headers=raw(api, "bob"))
        assert r.status_code == 404, (other, r.text)


async def test_index_files_revalidate_with_etags_compress_and_change_at_once(feed_api: Api) -> None:
    api = feed_api
    long = "a long description " * 40
    await published(api, "demo", "1.0.0", description=long)
    url = index() + index_path("demo")
    first = await api.http.get(url, headers=raw(api, "bob"))
    etag = first.headers["etag"]
    again = await api.http.get(url, headers={**raw(api, "bob"), "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    await published(api, "demo", "1.1.0", features={f"f{i}": [] for i in range(80)})
    zipped = await api.http.get(url, headers={**raw(api, "bob"), "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["etag"] != etag
    assert [json.loads(line)["vers"] for line in zipped.text.splitlines()] == ["1.0.0", "1.1.0"]
    stale = await api.http.get(url, headers={**raw(api, "bob"), "If-None-Match": etag})
    assert stale.status_code == 200
    head = await api.http.head(url, headers=raw(api, "bob"))
    assert head.status_code == 200 and head.content == b""


async def test_an_unknown_crate_is_a_404_and_a_twin_of_a_held_one_says_which_spelling_to_use(feed_api: Api) -> None:
    api = feed_api
    r = await api.http.get(index() + index_path("nothing"), headers=raw(api, "bob"))
    assert r.status_code == 404 and "crate nothing does not exist in feed@Local" in r.text
    await published(api, "My_Crate", "1.0.0")
    r = await api.http.get(index() + index_path("my-crate"), headers=raw(api, "bob"))
    assert r.status_code == 404 and "the feed holds My_Crate, which is the same name to cargo" in r.text
    # A name with many separators is checked against the feed's crate list (read once for a few seconds by reads;
    # afresh by a publish, so a twin published just now is refused).
    r = await api.http.get(index() + index_path("a-b-c-d-e-f"), headers=raw(api, "bob"))
    assert r.status_code == 404 and "does not exist" in r.text
    await published(api, "a_b_c_d_e_f", "1.0.0")
    twin = await publish(api, "a-b-c-d-e-f", "2.0.0")
    assert twin.status_code == 409 and "a_b_c_d_e_f" in errors(twin)
    r = await api.http.get(index() + index_path("a_b-c_d-e_f"), headers=raw(api, "bob"))
    assert r.status_code == 404 and "the feed holds a_b_c_d_e_f, which is the same name to cargo" in r.text


# --- downloads -----------------------------------------------------------------------------------------------------


async def test_a_crate_downloads_by_its_name_in_any_case(feed_api: Api) -> None:
    api = feed_api
    crate = crate_bytes("Mixed_Case", "1.2.3")
    await published(api, "Mixed_Case", "1.2.3", crate=crate)
    for spelling in ("Mixed_Case", "mixed_case", "MIXED_CASE"):
        r = await api.http.get(f"{cargo()}/api/v1/crates/{spelling}/1.2.3/download", headers=raw(api, "bob"))
        assert r.status_code == 200 and r.content == crate, (spelling, r.text)
        assert hashlib.sha256(r.content).hexdigest() == r.headers["etag"].strip('"')
    head = await api.http.head(f"{cargo()}/api/v1/crates/mixed_case/1.2.3/download", headers=raw(api, "bob"))
    assert head.status_code == 200 and head.headers["content-length"] == str(len(crate))
    missing = await api.http.get(f"{cargo()}/api/v1/crates/mixed_case/9.9.9/download", headers=raw(api, "bob"))
    assert missing.status_code == 404 and "does not exist" in errors(missing)
    twin = await api.http.get(f"{cargo()}/api/v1/crates/mixed-case/1.2.3/download", headers=raw(api, "bob"))
    assert twin.status_code == 404


async def test_on_azure_a_download_is_a_redirect_to_storage(
    make_settings: SettingsFactory, clock: MutableClock, backend: str
) -> None:
    settings = make_settings(download_redirect=True, download_redirect_min_bytes=0)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        await api.staff("feed")
        crate = crate_bytes("big", "1.0.0")
        await published(api, "big", "1.0.0", crate=crate)
        r = await api.http.get(f"{cargo()}/api/v1/crates/big/1.0.0/download", headers=raw(api, "bob"))
        if backend == "azurite":
            assert r.status_code == 302 and "sig=" in r.headers["location"]
            async with httpx.AsyncClient(trust_env=False, timeout=30) as storage:  # Azurite, on 127.0.0.1
                fetched = await storage.get(r.headers["location"])
            assert fetched.status_code == 200 and fetched.content == crate
        else:  # the embedded store has no URL to hand out
            assert r.status_code == 200 and r.content == crate


# --- yank ----------------------------------------------------------------------------------------------------------


async def test_yank_and_unyank_change_only_the_yanked_field(feed_api: Api) -> None:
    api = feed_api
    await published(api, "demo", "1.0.0")
    before = await index_lines(api, "demo")
    url = f"{cargo()}/api/v1/crates/demo/1.0.0"
    r = await api.http.delete(f"{url}/yank", headers=raw(api, "bob"))
    assert r.status_code == 403 and "needs the Feed Publisher (contributor) role" in errors(r)
    r = await api.http.delete(f"{url}/yank", headers=raw(api))
    assert r.status_code == 200 and r.json() == {"ok": True}
    yanked = await index_lines(api, "demo")
    assert yanked == [{**before[0], "yanked": True}]
    r = await api.http.get(f"{url}/download", headers=raw(api, "bob"))
    assert r.status_code == 200  # a lockfile that names it still builds
    r = await api.http.delete(f"{url}/yank", headers=raw(api))
    assert r.status_code == 200 and r.json() == {"ok": True}  # yanking twice changes nothing
    r = await api.http.put(f"{url}/unyank", headers=raw(api))
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert await index_lines(api, "demo") == before
    r = await api.http.delete(f"{cargo()}/api/v1/crates/demo/2.0.0/yank", headers=raw(api))
    assert r.status_code == 404 and "demo 2.0.0 does not exist in feed feed" in errors(r)


# --- search and owners ---------------------------------------------------------------------------------------------


async def test_search_finds_the_feeds_crates_with_their_highest_version(feed_api: Api) -> None:
    api = feed_api
    await published(api, "Json_Tools", "1.0.0", description="Reads JSON")
    await published(api, "Json_Tools", "1.10.0", description="Reads JSON fast")
    await published(api, "Json_Tools", "2.0.0-rc.1")
    await published(api, "yaml-tools", "0.3.0", description="Reads YAML", keywords=["json"])
    await published(api, "other", "1.0.0", description="unrelated")
    r = await api.http.delete(f"{cargo()}/api/v1/crates/json_tools/2.0.0-rc.1/yank", headers=raw(api))
    assert r.status_code == 200
    r = await api.http.get(f"{cargo()}/api/v1/crates", params={"q": "json", "per_page": "10"}, headers=raw(api, "bob"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"] == {"total": 2}
    assert body["crates"] == [
        {"name": "Json_Tools", "max_version": "1.10.0", "description": "Reads JSON fast"},
        {"name": "yaml-tools", "max_version": "0.3.0", "description": "Reads YAML"},
    ]
    r = await api.http.get(f"{cargo()}/api/v1/crates", params={"q": "", "per_page": "1"}, headers=raw(api, "bob"))
    assert r.json()["meta"] == {"total": 3} and len(r.json()["crates"]) == 1
    r = await api.http.get(f"{cargo()}/api/v1/crates", params={"q": "x", "per_page": "ten"}, headers=raw(api, "bob"))
    assert r.status_code == 400 and "per_page must be a whole number" in errors(r)
    r = await api.http.get(f"{cargo(view='Release')}/api/v1/crates", params={"q": "json"}, headers=raw(api, "bob"))
    assert r.json() == {"crates": [], "meta": {"total": 0}}  # nothing promoted yet


async def test_owner_endpoints_say_that_ownership_follows_feed_roles(feed_api: Api) -> None:
    api = feed_api
    await published(api, "demo", "1.0.0")
    url = f"{cargo()}/api/v1/crates/demo/owners"
    for method, body in (("GET", None), ("PUT", {"users": ["bob"]}), ("DELETE", {"users": ["alice"]})):
        r = await api.http.request(method, url, json=body, headers=raw(api))
        assert r.status_code == 400, (method, r.text)
        assert "crate owners are not kept by feed feed" in errors(r) and "follows the feed's roles" in errors(r)


# --- roles and views -----------------------------------------------------------------------------------------------


async def test_readers_read_and_contributors_publish(feed_api: Api) -> None:
    api = feed_api
    r = await publish(api, "demo", "1.0.0", who="bob")
    assert r.status_code == 403 and "publishing crates in feed feed needs the Feed Publisher" in errors(r)
    r = await publish(api, "demo", "1.0.0", who="carol")
    assert r.status_code == 403
    await published(api, "demo", "1.0.0", who="alice")
    assert [line["vers"] for line in await index_lines(api, "demo", who="bob")] == ["1.0.0"]
    read_only = await api.token("alice", "vso.packaging")
    r = await api.http.put(
        f"{cargo()}/api/v1/crates/new",
        content=publish_body("demo", "1.1.0", crate_bytes("demo", "1.1.0")),
        headers={"Authorization": read_only},
    )
    assert r.status_code == 403 and "the token's scope" in errors(r)


async def test_a_view_shows_promoted_versions_and_takes_no_publish(feed_api: Api) -> None:
    api = feed_api
    await published(api, "demo", "1.0.0")
    await published(api, "demo", "1.1.0")
    r = await publish(api, "demo", "1.2.0", view="Release")
    assert r.status_code == 400 and "not through the view @Release" in errors(r)
    r = await api.http.get(index(view="Release") + index_path("demo"), headers=raw(api, "bob"))
    assert r.status_code == 404
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    r = await api.http.patch(
        f"{FEEDS}/feed/cargo/packages/demo/versions/1.0.0", json=promote, headers=api.auth("alice")
    )
    assert r.status_code == 200, r.text
    lines = await index_lines(api, "demo", view="Release")
    assert [line["vers"] for line in lines] == ["1.0.0"]
    r = await api.http.get(f"{cargo(view='Release')}/api/v1/crates/demo/1.1.0/download", headers=raw(api, "bob"))
    assert r.status_code == 404
    r = await api.http.delete(f"{cargo(view='Release')}/api/v1/crates/demo/1.0.0/yank", headers=raw(api))
    assert r.status_code == 400 and "not through the view @Release" in errors(r)


# --- with an upstream registry -------------------------------------------------------------------------------------


@pytest.fixture
async def upstream_api(
    make_settings: SettingsFactory, clock: MutableClock, tmp_path: Path
) -> AsyncIterator[tuple[Api, CargoRegistry]]:
    """A feed whose upstream is the fixture sparse registry; alice contributor, bob reader, carol collaborator."""
    forget_configs()
    with CargoRegistry(tmp_path / "registry") as registry:
        async with running_api(make_settings(upstream_timeout=2.0, upstream_download_timeout=5.0), clock) as api:
            source = {"name": "crates", "protocol": "cargo", "location": registry.index_url}
            await api.create_feed("feed", upstreamSources=[source])
            await api.staff("feed")
            yield api, registry
    forget_configs()


async def test_a_version_saved_from_an_upstream_can_be_yanked_in_the_feed(
    upstream_api: tuple[Api, CargoRegistry],
) -> None:
    api, registry = upstream_api
    data = registry.add("Saved_Crate", "1.0.0")
    r = await api.http.get(f"{cargo()}/api/v1/crates/Saved_Crate/1.0.0/download", headers=raw(api, "carol"))
    assert r.status_code == 200 and r.content == data
    r = await api.http.delete(f"{cargo()}/api/v1/crates/Saved_Crate/1.0.0/yank", headers=raw(api))
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert [(line["vers"], line["yanked"]) for line in await index_lines(api, "saved_crate")] == [("1.0.0", True)]
    r = await api.http.delete(f"{cargo()}/api/v1/crates/Saved_Crate/2.0.0/yank", headers=raw(api))
    assert r.status_code == 404  # an upstream version the feed has not saved is not the feed's to yank


async def test_a_version_an_upstream_offers_under_other_build_metadata_is_a_409(
    upstream_api: tuple[Api, CargoRegistry],
) -> None:
    api, registry = upstream_api
    registry.add("shared", "1.2.0+upstream")
    r = await publish(api, "shared", "1.2.0")
    assert r.status_code == 409
    assert "already exists in the feed's upstream source crates as 1.2.0+upstream" in errors(r)
    await published(api, "shared", "1.3.0")


async def test_a_twin_of_a_held_crate_is_never_saved_from_an_upstream(upstream_api: tuple[Api, CargoRegistry]) -> None:
    api, registry = upstream_api
    await published(api, "Private_Tool", "1.0.0")
    registry.add("private-tool", "9.0.0")
    r = await api.http.get(f"{index()}{index_path('private-tool')}", headers=raw(api, "carol"))
    assert r.status_code == 404 and "the feed holds Private_Tool, which is the same name to cargo" in r.text
    r = await api.http.get(f"{cargo()}/api/v1/crates/private-tool/9.0.0/download", headers=raw(api, "carol"))
    assert r.status_code == 404 and "depend on Private_Tool" in errors(r)
    assert registry.count("/private-tool/9.0.0/download") == 0
