"""Upstream credentials at rest (issue 8, section 7), on both backends: the feed table never holds them in
plaintext, keys rotate with `python -m feed_core credentials rotate`, and a source whose stored credentials
cannot be decrypted stops working alone, with the reason, while every request keeps its answer."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from feed_core import jobs
from feed_core.cli import main
from feed_core.domain.credentials import Credentials, PlaintextCredentials, UnreadableCredentials
from feed_core.settings import Settings
from feed_core.storage.catalog import FEEDS
from feed_core.storage.credential_cipher import key_id, parse_key
from feed_core.storage.ports import Entity
from feed_core.storage.upstream_state import UPSTREAM_META
from tests.api.conftest import ADMIN_TOKEN, CREDENTIALS_KEY, ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry, make_fixture_registry  # noqa: F401

API = f"/{ORG}/_apis/packaging/feeds"
PASSWORD = "at-rest-password-0123456789"
TOKEN = "at-rest-token-9876543210"
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()
KID_A = key_id(parse_key(CREDENTIALS_KEY, "a"))
KID_B = key_id(parse_key(KEY_B, "b"))


def raw_rows(settings: Settings, *, files: bool = True) -> list[str]:
    """Every table row exactly as the store keeps it: SQLite rows and (``files``) the database files' bytes, WAL
    included, or every entity of every Azurite table of this test."""
    if settings.storage == "embedded":
        with closing(sqlite3.connect(settings.data_dir / "feed.sqlite3")) as conn:
            rows = [" ".join(row) for row in conn.execute("SELECT tbl, pk, rk, props FROM entities")]
        if files:
            rows.append(
                b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("feed.sqlite3*"))).decode("latin-1")
            )
        return rows
    service = TableServiceClient.from_connection_string(settings.connection_string)
    rows = []
    for table in service.list_tables():
        if table.name.lower().startswith(settings.table_prefix.lower()):
            client = service.get_table_client(table.name)
            rows += [json.dumps(dict(entity), default=str) for entity in client.list_entities()]
    return rows


def assert_no_plaintext(settings: Settings, *secrets: str, files: bool = True) -> list[str]:
    rows = raw_rows(settings, files=files)
    assert any('"A256GCM"' in row or "A256GCM" in row for row in rows), "no sealed credentials found at all"
    for secret in secrets:
        encoded = base64.b64encode(secret.encode()).decode()
        assert not any(secret in row or encoded in row for row in rows), "a secret is stored in plaintext"
    return rows


def source(name: str, location: str, credentials: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "protocol": "npm", "location": location}
    if credentials is not None:
        out["credentials"] = credentials
    return out


async def feed_sources(api: Api, feed: str = "feed") -> dict[str, dict[str, Any]]:
    r = await api.http.get(f"{API}/{feed}", headers=api.auth())
    assert r.status_code == 200, r.text
    assert PASSWORD not in r.text and TOKEN not in r.text and '"credentials"' not in r.text
    return {s["name"]: s for s in r.json()["upstreamSources"]}


async def stored_credentials(api: Api, feed: str = "feed") -> dict[str, Any]:
    found = await api.services.catalog.find_feed(ORG, None, feed)
    assert found is not None
    return {s.name: s.credentials for s in found.upstream_sources}


async def rewrite_doc(api: Api, feed: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the stored feed document directly on the table port, as someone with access to the table could."""
    found = await api.services.catalog.find_feed(ORG, None, feed)
    assert found is not None
    tables = api.services.storage.tables
    entity = await tables.get(FEEDS, ORG, f"id:{found.id}")
    assert entity is not None
    doc = json.loads(entity.get_str("doc"))
    change(doc)
    await tables.update(FEEDS, Entity(ORG, entity.row_key, {"doc": json.dumps(doc)}, entity.etag))


def rotate(settings: Settings, monkeypatch: pytest.MonkeyPatch, key: str, old_keys: str) -> int:
    """`python -m feed_core credentials rotate` on the same store as ``settings``."""
    env = {
        "FEED_ORGANIZATION": ORG,
        "FEED_ADMIN_TOKEN": ADMIN_TOKEN,
        "FEED_CREDENTIALS_KEY": key,
        "FEED_CREDENTIALS_OLD_KEYS": old_keys,
        "FEED_STORAGE": settings.storage,
        "FEED_DATA_DIR": str(settings.data_dir),
        "FEED_STORAGE_CONNECTION_STRING": settings.connection_string,
        "FEED_TABLE_PREFIX": settings.table_prefix,
        "FEED_BLOB_CONTAINER": settings.blob_container,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(["credentials", "rotate"])


async def packument(api: Api, name: str) -> Any:
    return await api.http.get(api.registry() + name, headers=api.auth())


# --- nothing in plaintext -------------------------------------------------------------------------------------


async def test_the_feed_table_never_holds_the_plaintext(make_settings: SettingsFactory, clock: MutableClock) -> None:
    settings = make_settings()
    async with running_api(settings, clock) as api:
        basic = source("basic", "https://npm.corp.example/", {"username": "build", "password": PASSWORD})
        await api.create_feed("feed", upstreamSources=[basic])
        r = await api.http.patch(
            f"{API}/feed",
            json={"upstreamSources": [basic, source("bearer", "https://other.corp.example/", {"token": TOKEN})]},
            headers=api.auth(),
        )
        assert r.status_code == 200, r.text
        assert {n: s["hasCredentials"] for n, s in (await feed_sources(api)).items()} == {"basic": True, "bearer": True}
        assert await stored_credentials(api) == {
            "basic": Credentials(username="build", password=PASSWORD),
            "bearer": Credentials(token=TOKEN),
        }
        rows = assert_no_plaintext(settings, PASSWORD, TOKEN, f"build:{PASSWORD}")
        assert any(KID_A in row for row in rows)


async def test_without_a_key_credentials_are_refused_with_the_fix(make_settings: SettingsFactory) -> None:
    settings = make_settings(credentials_key="")
    async with running_api(settings) as api:
        creds = source("corp", "https://npm.corp.example/", {"token": TOKEN})
        r = await api.http.post(API, json={"name": "feed", "upstreamSources": [creds]}, headers=api.auth())
        assert r.status_code == 400 and "FEED_CREDENTIALS_KEY" in r.json()["message"], r.text
        assert (await api.http.get(f"{API}/feed", headers=api.auth())).status_code == 404
        # everything else works without a key
        await api.create_feed("feed", upstreamSources=[source("open", "https://npm.corp.example/", None)])
        r = await api.http.patch(f"{API}/feed", json={"upstreamSources": [creds]}, headers=api.auth())
        assert r.status_code == 400 and "FEED_CREDENTIALS_KEY" in r.json()["message"], r.text
        assert TOKEN not in r.text
        assert list(await feed_sources(api)) == ["open"]
        assert not any(TOKEN in row for row in raw_rows(settings))


# --- rotation ---------------------------------------------------------------------------------------------------


async def test_rotation_re_encrypts_with_the_new_key_and_the_old_one_can_go(
    make_settings: SettingsFactory,
    clock: MutableClock,
    fixture_registry: FixtureRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixture_registry.require_auth(f"Bearer {TOKEN}")
    fixture_registry.add("before-rotation", "1.0.0")
    fixture_registry.add("after-rotation", "1.0.0")
    key_a = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0)
    async with running_api(key_a, clock) as api:
        await api.create_feed("feed", upstreamSources=[source("fixture", fixture_registry.url, {"token": TOKEN})])
        assert (await packument(api, "before-rotation")).status_code == 200
    assert any(KID_A in row for row in assert_no_plaintext(key_a, TOKEN))

    # B is the key now, A only decrypts: everything still works before the rewrite
    async with running_api(
        key_a.model_copy(update={"credentials_key": KEY_B, "credentials_old_keys": (CREDENTIALS_KEY,)})
    ) as api:
        assert await stored_credentials(api) == {"fixture": Credentials(token=TOKEN)}

    assert await asyncio.to_thread(rotate, key_a, monkeypatch, KEY_B, CREDENTIALS_KEY) == 0
    rows = assert_no_plaintext(key_a, TOKEN)
    assert any(KID_B in row for row in rows) and not any(KID_A in row for row in rows)

    # A is gone: the credentials still decrypt, and still reach the upstream
    async with running_api(key_a.model_copy(update={"credentials_key": KEY_B}), clock) as api:
        assert await stored_credentials(api) == {"fixture": Credentials(token=TOKEN)}
        assert (await feed_sources(api))["fixture"]["status"] == "unknown"  # usable, not checked by the health job
        r = await packument(api, "after-rotation")
        assert r.status_code == 200 and "1.0.0" in r.json()["versions"], r.text


async def test_a_forgotten_old_key_fails_only_that_source_with_the_reason(
    make_settings: SettingsFactory,
    clock: MutableClock,
    fixture_registry: FixtureRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixture_registry.require_auth(f"Bearer {TOKEN}")
    fixture_registry.add("needs-key", "1.0.0")
    key_a = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0)
    async with running_api(key_a, clock) as api:
        await api.create_feed("feed", upstreamSources=[source("fixture", fixture_registry.url, {"token": TOKEN})])
    fixture_registry.reset_requests()

    key_b_only = key_a.model_copy(update={"credentials_key": KEY_B})
    async with running_api(key_b_only, clock) as api:
        (creds,) = (await stored_credentials(api)).values()
        assert isinstance(creds, UnreadableCredentials) and TOKEN not in repr(creds)
        src = (await feed_sources(api))["fixture"]
        assert src["hasCredentials"] is True and src["status"] == "failed"
        reason = src["statusDetails"][0]["reason"]
        assert KID_A in reason and "FEED_CREDENTIALS_OLD_KEYS" in reason
        r = await packument(api, "needs-key")
        assert r.status_code == 502 and KID_A in r.text, r.text  # the upstream's failure, explained
        report = await jobs.run_health(api.services)
        assert len(report.failed) == 1 and KID_A in report.failed[0]
        # an unrelated change of the feed keeps the sealed value as it was
        r = await api.http.patch(f"{API}/feed", json={"description": "still here"}, headers=api.auth())
        assert r.status_code == 200, r.text
    assert not fixture_registry.requests, "the upstream was asked without the credentials"

    # rotating cannot re-encrypt what it cannot read: it says so and exits 1
    assert await asyncio.to_thread(rotate, key_a, monkeypatch, KEY_B, "") == 1
    # given the key back, the source works again
    async with running_api(key_b_only.model_copy(update={"credentials_old_keys": (CREDENTIALS_KEY,)}), clock) as api:
        assert (await packument(api, "needs-key")).status_code == 200


async def test_the_upstream_cache_of_a_source_with_credentials_holds_nothing_derived_from_them(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    """An unsalted hash of location + password as a partition key would allow guessing the password offline."""
    fixture_registry.require_auth(f"Basic {base64.b64encode(f'build:{PASSWORD}'.encode()).decode()}")
    fixture_registry.add("cached", "1.0.0")
    settings = make_settings()
    async with running_api(settings, clock) as api:
        creds = {"username": "build", "password": PASSWORD}
        feed = await api.create_feed("feed", upstreamSources=[source("fixture", fixture_registry.url, creds)])
        assert (await packument(api, "cached")).status_code == 200
        (src,) = feed["upstreamSources"]
        rows = [row async for row in api.services.storage.tables.scan(UPSTREAM_META)]
        assert [row.partition_key for row in rows] == [f"npm|{feed['id'].lower()}.{src['id'].lower()}"]
        old_form = json.dumps({"password": PASSWORD, "username": "build"}, sort_keys=True)
        guessable = hashlib.sha256(f"{fixture_registry.url}|{old_form}".encode()).hexdigest()[:32]
        assert not any(guessable in row for row in raw_rows(settings))
        assert (await jobs.run_gc(api.services)).cache_entries_dropped == 0
    # Credentials that no longer decrypt still name the same cache: gc keeps it while the source exists.
    async with running_api(settings.model_copy(update={"credentials_key": KEY_B}), clock) as api:
        (stored,) = (await stored_credentials(api)).values()
        assert isinstance(stored, UnreadableCredentials)
        assert (await jobs.run_gc(api.services)).cache_entries_dropped == 0
        r = await api.http.patch(f"{API}/feed", json={"upstreamSources": []}, headers=api.auth())
        assert r.status_code == 200, r.text
        assert (await jobs.run_gc(api.services)).cache_entries_dropped == 1


# --- tampering, legacy plaintext ----------------------------------------------------------------------------------


async def test_altered_or_moved_ciphertext_fails_that_source_not_the_request(
    make_settings: SettingsFactory, clock: MutableClock, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    one, two = make_fixture_registry(), make_fixture_registry()
    for registry in (one, two):
        registry.require_auth(f"Bearer {TOKEN}")
    settings = make_settings(cache_seconds=0, upstream_timeout=2.0, upstream_connect_timeout=1.0)
    async with running_api(settings, clock) as api:
        sources = [source("one", one.url, {"token": TOKEN}), source("two", two.url, {"token": TOKEN})]
        await api.create_feed("feed", upstreamSources=sources)
        assert (await api.publish("local-pkg", "1.0.0")).status_code in (200, 201)

        def alter(doc: dict[str, Any]) -> None:
            first, second = doc["upstreamSources"]
            sealed = base64.b64decode(first["credentials"]["ct"])
            first["credentials"]["ct"] = base64.b64encode(bytes([sealed[0] ^ 1]) + sealed[1:]).decode()
            second["credentials"] = dict(first["credentials"])  # a sealed value moved to another source

        await rewrite_doc(api, "feed", alter)
        one.reset_requests()
        two.reset_requests()
        by_name = await feed_sources(api)
        for name in ("one", "two"):
            assert by_name[name]["status"] == "failed" and by_name[name]["hasCredentials"] is True
            assert "do not decrypt" in by_name[name]["statusDetails"][0]["reason"]
        health = (await api.http.get(f"{API}/feed/health", headers=api.auth())).json()
        assert [u["status"] for u in health["upstreams"]] == ["failed", "failed"]
        # what the feed holds itself is still served; what it does not is a 502 naming the cause
        assert (await packument(api, "local-pkg")).status_code == 200
        r = await packument(api, "elsewhere")
        assert r.status_code == 502 and "do not decrypt" in r.text, r.text
        assert not one.requests and not two.requests

        # an administrator sends the credentials again: fixed
        r = await api.http.patch(
            f"{API}/feed",
            json={"upstreamSources": [{**by_name["one"], "credentials": {"token": TOKEN}}, by_name["two"]]},
            headers=api.auth(),
        )
        assert r.status_code == 200, r.text
        assert (await stored_credentials(api))["one"] == Credentials(token=TOKEN)


async def test_plaintext_from_before_encryption_is_used_then_encrypted_on_the_next_write(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.require_auth(f"Bearer {TOKEN}")
    fixture_registry.add("legacy", "1.0.0")
    settings = make_settings(cache_seconds=0, upstream_timeout=2.0, upstream_connect_timeout=1.0)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed", upstreamSources=[source("fixture", fixture_registry.url, None)])

        def legacy(doc: dict[str, Any]) -> None:
            doc["upstreamSources"][0]["credentials"] = {"token": TOKEN}

        await rewrite_doc(api, "feed", legacy)
        assert any(TOKEN in row for row in raw_rows(settings))
        assert (await feed_sources(api))["fixture"]["hasCredentials"] is True
        assert (await packument(api, "legacy")).status_code == 200
        r = await api.http.patch(f"{API}/feed", json={"description": "any write"}, headers=api.auth())
        assert r.status_code == 200, r.text
        # the rows (SQLite may keep the replaced page's old bytes in its files until they are reused)
        assert_no_plaintext(settings, TOKEN, files=False)
        assert await stored_credentials(api) == {"fixture": Credentials(token=TOKEN)}


async def test_without_a_key_a_feed_holding_legacy_plaintext_can_still_be_deleted_restored_and_purged(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    """Only writes that change the sources need the key; the others keep the stored form as it was."""
    settings = make_settings(credentials_key="")
    bin_url = f"/{ORG}/_apis/packaging/feedrecyclebin"
    restore = [{"op": "replace", "path": "/isDeleted", "value": False}]
    async with running_api(settings, clock) as api:
        for name in ("feed", "other"):
            await api.create_feed(name, upstreamSources=[source("corp", "https://npm.corp.example/", None)])

            def legacy(doc: dict[str, Any]) -> None:
                doc["upstreamSources"][0]["credentials"] = {"token": TOKEN}

            await rewrite_doc(api, name, legacy)
        feed_id = (await api.http.get(f"{API}/feed", headers=api.auth())).json()["id"]

        assert (await api.http.delete(f"{API}/feed", headers=api.auth())).status_code == 204
        r = await api.http.patch(f"{bin_url}/{feed_id}", json=restore, headers=api.auth())
        assert r.status_code == 200, r.text
        r = await api.http.patch(f"{API}/feed", json={"description": "no key needed"}, headers=api.auth())
        assert r.status_code == 200, r.text
        assert await stored_credentials(api) == {"corp": PlaintextCredentials(token=TOKEN)}  # as stored, usable
        # a change of the sources still needs the key
        sources = (await feed_sources(api))["corp"]
        r = await api.http.patch(
            f"{API}/feed", json={"upstreamSources": [{**sources, "name": "renamed"}]}, headers=api.auth()
        )
        assert r.status_code == 400 and "FEED_CREDENTIALS_KEY" in r.json()["message"], r.text
        assert (await api.http.delete(f"{API}/feed", headers=api.auth())).status_code == 204
        assert (await api.http.delete(f"{bin_url}/{feed_id}", headers=api.auth())).status_code == 204
        assert [f.name for f in await api.services.catalog.all_feeds(include_deleted=True)] == ["other"]
