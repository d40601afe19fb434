"""Cargo requests the feed refuses, on both stores: each with a 4xx whose ``errors`` detail says what is wrong, and
nothing stored. Duplicate versions (build metadata ignored, deleted numbers reserved), twin names, bodies over the
limit or badly framed, crates that disagree with their metadata, bad names and versions in URLs, wrong methods."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.api.test_cargo_hosting import cargo, errors, index, index_path, publish, published, raw
from tests.cargo_packages import crate_bytes, frame, metadata, publish_body

NEW = "/api/v1/crates/new"
#: 4 KiB that do not compress.
NOISE = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(128))


async def stored_state(api: Api) -> tuple[set[str], dict[str, list[tuple[str, bool]]]]:
    """Every blob key, and every crate of the feed with its versions (and whether each is deleted)."""
    blobs = {b.key async for b in api.services.packages.store.blobs.list_blobs("content/")}
    feed = await api.services.feeds.find(ORG, None, "feed")
    crates = {}
    for entry in await api.services.packages.store.list_index(feed.id, "cargo"):
        _, versions = await api.services.packages.store.get_package(feed.id, "cargo", entry.name)
        crates[entry.name] = sorted((v.version, v.deleted is not None) for v in versions)
    return blobs, crates


@pytest.fixture
async def held(feed_api: Api) -> Api:
    """The feed with crate My-Crate 1.0.7 published by alice."""
    await published(feed_api, "My-Crate", "1.0.7")
    return feed_api


async def refused(api: Api, body: bytes, status: int = 400) -> str:
    before = await stored_state(api)
    headers = {**raw(api), "Content-Type": "application/octet-stream"}
    r = await api.http.put(cargo() + NEW, content=body, headers=headers)
    assert r.status_code == status, r.text
    assert await stored_state(api) == before
    return errors(r)


# --- versions and names --------------------------------------------------------------------------------------------


async def test_a_version_held_already_is_a_409_build_metadata_ignored(held: Api) -> None:
    api = held
    crate = crate_bytes("My-Crate", "1.0.7")
    detail = await refused(api, publish_body("My-Crate", "1.0.7", crate), 409)
    assert "my-crate@1.0.7 already exists in feed feed; versions are immutable" in detail
    crate = crate_bytes("My-Crate", "1.0.7+linux")
    detail = await refused(api, publish_body("My-Crate", "1.0.7+linux", crate), 409)
    assert "crate My-Crate@1.0.7+linux already exists in feed feed as 1.0.7" in detail
    assert "differ only in build metadata" in detail


async def test_a_deleted_version_keeps_its_number_reserved(held: Api) -> None:
    api = held
    feeds = f"/{ORG}/_apis/packaging/feeds"
    r = await api.http.delete(f"{feeds}/feed/cargo/packages/my-crate/versions/1.0.7", headers=api.auth())
    assert r.status_code == 200, r.text
    detail = await refused(api, publish_body("My-Crate", "1.0.7", crate_bytes("My-Crate", "1.0.7")), 409)
    assert "was deleted from feed feed" in detail and "stays reserved" in detail
    detail = await refused(api, publish_body("My-Crate", "1.0.7+b", crate_bytes("My-Crate", "1.0.7+b")), 409)
    assert "differs only in build metadata from version 1.0.7, which was deleted" in detail


@pytest.mark.parametrize("spelling", ["my_crate", "My_Crate", "my-crate", "MY-CRATE"])
async def test_another_spelling_of_a_held_name_is_a_409_naming_the_held_one(held: Api, spelling: str) -> None:
    detail = await refused(held, publish_body(spelling, "2.0.0", crate_bytes(spelling, "2.0.0")), 409)
    assert f"crate {spelling} is the same name to cargo as crate My-Crate" in detail
    assert "publish it as My-Crate" in detail


# --- bodies --------------------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_a_413(make_settings: SettingsFactory, clock: MutableClock) -> None:
    async with running_api(make_settings(max_upload_bytes=2048), clock) as api:
        await api.create_feed("feed")
        await api.staff("feed")
        big = crate_bytes("big", "1.0.0", files={"data.bin": NOISE})
        body = publish_body("big", "1.0.0", big)
        assert len(body) > 2048
        detail = await refused(api, body, 413)
        assert f"the request body is {len(body)} bytes; this feed accepts at most 2048" in detail

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 1024):
                yield body[i : i + 1024]

        r = await api.http.put(cargo() + NEW, content=chunks(), headers=raw(api))
        assert r.status_code == 413 and "larger than the 2048 bytes this feed accepts" in errors(r)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x05\x00",
        b"\xff\xff\xff\x00{}",
        frame(b"not json", crate_bytes("demo", "1.0.0")),
        frame(b"[]", crate_bytes("demo", "1.0.0")),
        frame(json.dumps(metadata("demo", "1.0.0")).encode(), b"not a crate"),
        frame(json.dumps(metadata("demo", "1.0.0")).encode(), crate_bytes("demo", "1.0.0")) + b"trailing",
        frame(json.dumps(metadata("demo", "1.0.0")).encode(), crate_bytes("other", "1.0.0")),
        frame(json.dumps(metadata("demo", "1.0.0")).encode(), crate_bytes("demo", "1.0.1")),
        frame(json.dumps(metadata("1demo", "1.0.0")).encode(), crate_bytes("1demo", "1.0.0")),
        frame(json.dumps(metadata("demo", "1.0")).encode(), crate_bytes("demo", "1.0")),
    ],
    ids=[
        "empty",
        "short",
        "overlong-length",
        "bad-json",
        "not-object",
        "bad-crate",
        "trailing",
        "other-name",
        "other-version",
        "bad-name",
        "bad-version",
    ],
)
async def test_a_bad_publish_body_is_a_400_saying_what_is_wrong(feed_api: Api, body: bytes) -> None:
    detail = await refused(feed_api, body)
    assert detail and "internal error" not in detail


# --- URLs and methods ----------------------------------------------------------------------------------------------


async def test_bad_names_and_versions_in_urls_are_400s(held: Api) -> None:
    api = held
    for url, why in (
        (f"{cargo()}/api/v1/crates/1bad/1.0.7/download", "must start with an ASCII letter"),
        (f"{cargo()}/api/v1/crates/my-crate/1.0/download", "not a semantic version"),
        (f"{cargo()}/api/v1/crates/my%20crate/1.0.7/download", "may contain only"),
        (f"{cargo()}/api/v1/crates/{'a' * 65}/1.0.7/download", "at most 64"),
    ):
        r = await api.http.get(url, headers=raw(api, "bob"))
        assert r.status_code == 400 and why in errors(r), (url, r.text)
    r = await api.http.delete(f"{cargo()}/api/v1/crates/my-crate/01.0.0/yank", headers=raw(api))
    assert r.status_code == 400 and "leading zeros" in errors(r)


@pytest.mark.parametrize("bad", ["..", ".", "%2e%2e", "a%2fb", "a%5cb", "a%00"])
async def test_traversal_in_any_segment_is_refused(held: Api, bad: str) -> None:
    r = await held.http.get(f"{index()}my/-c/{bad}", headers=raw(held, "bob"))
    assert r.status_code in (400, 404), r.text
    r = await held.http.get(f"{cargo()}/api/v1/crates/{bad}/1.0.7/download", headers=raw(held, "bob"))
    assert r.status_code in (400, 404), r.text
    assert r.json()["errors"][0]["detail"]


async def test_wrong_methods_are_405s_and_unknown_api_paths_404s(held: Api) -> None:
    api = held
    for method, url in (
        ("GET", f"{cargo()}{NEW}"),
        ("PUT", f"{cargo()}/api/v1/crates/my-crate/1.0.7/yank"),
        ("DELETE", f"{cargo()}/api/v1/crates/my-crate/1.0.7/unyank"),
        ("PUT", f"{cargo()}/api/v1/crates/my-crate/1.0.7/download"),
        ("POST", f"{cargo()}/api/v1/crates"),
        ("PUT", f"{index()}config.json"),
        ("DELETE", f"{index()}{index_path('my-crate')}"),
        ("POST", f"{cargo()}/me"),
    ):
        r = await api.http.request(method, url, headers=raw(api))
        assert r.status_code == 405, (method, url, r.text)
    for url in (f"{cargo()}/api/v1/nothing", f"{cargo()}/api/v2/crates", f"{cargo()}/api/v1/crates/my-crate/1.0.7/x"):
        r = await api.http.get(url, headers=raw(api))
        assert r.status_code == 404 and "no such Cargo" in errors(r), url


async def test_missing_or_weak_credentials_store_nothing(held: Api) -> None:
    api = held
    body = publish_body("demo", "1.0.0", crate_bytes("demo", "1.0.0"))
    before = await stored_state(api)
    r = await api.http.put(cargo() + NEW, content=body)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith('Cargo login_url="')
    r = await api.http.put(cargo() + NEW, content=body, headers={"Authorization": "fpat_forged"})
    assert r.status_code == 403 and "the token is not valid" in errors(r)
    r = await api.http.put(cargo() + NEW, content=body, headers={"Authorization": "Basic %%%"})
    assert r.status_code == 403 and "not valid base64" in errors(r)
    r = await publish(api, "demo", "1.0.0", who="bob")
    assert r.status_code == 403
    assert await stored_state(api) == before
