"""Deleting a feed (the feed recycle bin: restore, purge) and the gc job, on both backends."""

# ruff: noqa: F811
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from feed_core import jobs
from feed_core.domain.clock import iso
from feed_core.domain.errors import NotFoundError
from feed_core.domain.models import PackageMeta, PackageVersion
from feed_core.domain.upstream_rules import Behaviour
from feed_core.service.upstream import enabled_sources
from feed_core.storage.health import UpstreamHealth
from feed_core.storage.packages import content_key
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import make_tarball
from tests.npm_registry_fixture import FixtureRegistry, make_fixture_registry  # noqa: F401
from tests.python_packages import make_wheel, upload_form

FEEDS = f"/{ORG}/_apis/packaging/feeds"
BIN = f"/{ORG}/_apis/packaging/feedrecyclebin"
RESTORE = [{"op": "replace", "path": "/isDeleted", "value": False}]


@pytest.fixture
async def ops(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Api]:
    """The API with a gc grace of 0 hours, so the gc job may remove any unreferenced blob at once."""
    async with running_api(make_settings().model_copy(update={"gc_grace_hours": 0}), clock) as api:
        await api.token("alice")
        yield api


async def install_npm(api: Api, feed: str, name: str, version: str) -> bytes | int:
    """The tarball as npm would fetch it, or the failing status code."""
    r = await api.http.get(api.registry(feed) + name, headers=api.auth())
    if r.status_code != 200:
        return r.status_code
    tarball = await api.http.get(r.json()["versions"][version]["dist"]["tarball"], headers=api.auth())
    return tarball.content if tarball.status_code == 200 else tarball.status_code


async def upload_wheel(api: Api, feed: str, name: str) -> tuple[bytes, bytes]:
    _, data, metadata = make_wheel(name, "1.0")
    fields, files = upload_form(name, "1.0", make_wheel(name, "1.0")[0], data)
    r = await api.http.post(f"/{ORG}/_packaging/{feed}/pypi/upload/", data=fields, files=files, headers=api.auth())
    assert r.status_code == 200, r.text
    return data, metadata


def keys_of(*contents: bytes) -> set[str]:
    return {content_key(hashlib.sha256(c).hexdigest()) for c in contents}


async def blob_keys(api: Api) -> set[str]:
    return {b.key async for b in api.services.storage.blobs.list_blobs()}


async def test_a_deleted_feed_is_hidden_keeps_its_name_and_comes_back_whole_when_restored(ops: Api) -> None:
    feed = await ops.create_feed("web")
    await ops.grant("web", "alice", "contributor")
    assert (await ops.publish("lib", "1.0.0", feed="web")).status_code == 201
    tarball = await install_npm(ops, "web", "lib", "1.0.0")
    assert isinstance(tarball, bytes)
    wheel, _ = await upload_wheel(ops, "web", "pylib")

    assert (await ops.http.delete(f"{FEEDS}/web", headers=ops.auth())).status_code == 204
    for url in (f"{FEEDS}/web", f"{FEEDS}/{feed['id']}", f"{FEEDS}/web/views"):
        assert (await ops.http.get(url, headers=ops.auth())).status_code == 404, url
    assert await install_npm(ops, "web", "lib", "1.0.0") == 404
    assert (await ops.http.get(f"/{ORG}/_packaging/web/pypi/simple/pylib/", headers=ops.auth())).status_code == 404
    assert (await ops.publish("lib", "2.0.0", feed="web")).status_code == 404
    assert (await ops.http.get(FEEDS, headers=ops.auth())).json()["count"] == 0
    r = await ops.http.post(FEEDS, json={"name": "web"}, headers=ops.auth())
    assert r.status_code == 409 and "recycle bin" in r.json()["message"] and feed["id"] in r.json()["message"]

    listing = (await ops.http.get(BIN, headers=ops.auth())).json()
    (entry,) = listing["value"]
    assert entry["id"] == feed["id"] and entry["name"] == "web"
    deleted = datetime.fromisoformat(entry["deletedDate"].replace("Z", "+00:00"))
    purge_at = datetime.fromisoformat(entry["scheduledPermanentDeleteDate"].replace("Z", "+00:00"))
    assert purge_at - deleted == timedelta(days=30)
    # Only the feed's administrators see it in the recycle bin, and only they may restore or purge it:
    # to anyone else it does not exist, whether named by id or by name.
    assert (await ops.http.get(BIN, headers=ops.auth("alice"))).json() == {"count": 0, "value": []}
    for ref in (feed["id"], "web", "never-existed"):
        r = await ops.http.patch(f"{BIN}/{ref}", json=RESTORE, headers=ops.auth("alice"))
        assert r.status_code == 404 and "that you administer" in r.json()["message"], ref
        assert (await ops.http.delete(f"{BIN}/{ref}", headers=ops.auth("alice"))).status_code == 404

    for bad in ([], [{"op": "replace", "path": "/isDeleted", "value": True}], {"isDeleted": False}, "x"):
        r = await ops.http.patch(f"{BIN}/{feed['id']}", json=bad, headers=ops.auth())
        assert r.status_code == 400 and "/isDeleted" in r.json()["message"], bad
    patch = {**ops.auth(), "Content-Type": "application/json-patch+json"}  # what Azure's clients send
    r = await ops.http.patch(f"{BIN}/{feed['id']}", content=b"[{not json", headers=patch)
    assert r.status_code == 400
    r = await ops.http.patch(f"{BIN}/{feed['id']}", content=json.dumps(RESTORE).encode(), headers=patch)
    assert r.status_code == 200 and r.json()["deletedDate"] is None
    assert await install_npm(ops, "web", "lib", "1.0.0") == tarball
    simple = await ops.http.get(f"/{ORG}/_packaging/web/pypi/simple/pylib/", headers=ops.auth())
    assert simple.status_code == 200 and hashlib.sha256(wheel).hexdigest() in simple.text
    assert (await ops.publish("lib", "2.0.0", feed="web", who="alice")).status_code == 201
    assert (await ops.http.get(BIN, headers=ops.auth())).json()["count"] == 0
    assert (await ops.http.patch(f"{BIN}/{feed['id']}", json=RESTORE, headers=ops.auth())).status_code == 404
    assert (await ops.http.delete(f"{BIN}/{feed['id']}", headers=ops.auth())).status_code == 404


async def test_purge_removes_the_feeds_rows_and_gc_only_the_blobs_no_other_feed_holds(ops: Api) -> None:
    a, _ = await ops.create_feed("a"), await ops.create_feed("b")
    shared: set[str] = set()
    for feed in ("a", "b"):
        assert (await ops.publish("shared", "1.0.0", feed=feed)).status_code == 201
        shared |= keys_of(*await upload_wheel(ops, feed, "shared-py"))
    shared |= keys_of(make_tarball("shared", "1.0.0"))
    assert (await ops.publish("only-a", "1.0.0", feed="a")).status_code == 201
    unique = keys_of(make_tarball("only-a", "1.0.0"), *await upload_wheel(ops, "a", "only-a-py"))
    # A manifest too large for a table property lives in a blob of its own.
    store = ops.services.packages.store
    digest, _ = await store.put_content(b"big package", "application/octet-stream")
    big = PackageVersion("npm", "big", "1.0.0", {"readme": "x" * 40_000}, "big-1.0.0.tgz", digest, "", "", 11, "", "")
    await store.commit_version(a["id"], big, PackageMeta("npm", "big"))
    manifests = {k for k in await blob_keys(ops) if k.startswith("manifests/")}
    assert len(manifests) == 1
    unique |= manifests | keys_of(b"big package")
    assert unique | shared <= await blob_keys(ops)

    assert (await ops.http.delete(f"{FEEDS}/a", headers=ops.auth())).status_code == 204
    report = await jobs.run_gc(ops.services)  # within retention: the feed is restorable, nothing goes
    assert (report.feeds_purged, report.blobs_removed) == (0, 0)
    assert (await ops.http.delete(f"{BIN}/{a['id']}", headers=ops.auth())).status_code == 204

    tables = ops.services.storage.tables
    for table, prefix in (("packages", f"{a['id']}|"), ("packageindex", f"{a['id']}|"), ("packageids", a["id"])):
        assert [e async for e in tables.scan(table, prefix)] == [], table
    assert await ops.services.catalog.get_feed_by_id(ORG, a["id"], include_deleted=True) is None
    assert (await ops.http.get(BIN, headers=ops.auth())).json()["count"] == 0
    assert unique <= await blob_keys(ops)  # blobs go through gc: they may be shared
    await ops.create_feed("a")  # the name is free again

    dry = await jobs.run_gc(ops.services, dry_run=True)
    assert dry.blobs_removed == len(unique) and unique <= await blob_keys(ops)
    report = await jobs.run_gc(ops.services)
    assert report.blobs_removed == len(unique) and report.bytes_removed == dry.bytes_removed > 40_000
    left = await blob_keys(ops)
    assert not unique & left and shared <= left
    assert await install_npm(ops, "b", "shared", "1.0.0") == make_tarball("shared", "1.0.0")
    assert (await jobs.run_gc(ops.services)).blobs_removed == 0


async def test_gc_purges_a_deleted_feed_once_its_retention_ends(ops: Api, clock: MutableClock) -> None:
    feed = await ops.create_feed("old")
    assert (await ops.publish("lib", "1.0.0", feed="old")).status_code == 201
    assert (await ops.http.delete(f"{FEEDS}/old", headers=ops.auth())).status_code == 204
    clock.advance(days=29)
    assert (await jobs.run_gc(ops.services)).feeds_purged == 0
    assert (await ops.http.get(BIN, headers=ops.auth())).json()["count"] == 1
    clock.advance(days=1, seconds=1)
    dry = await jobs.run_gc(ops.services, dry_run=True)
    assert dry.feeds_purged == 1 and dry.rows_removed == 0 and dry.blobs_removed == 1
    assert (await ops.http.get(BIN, headers=ops.auth())).json()["count"] == 1
    report = await jobs.run_gc(ops.services)
    assert report.feeds_purged == 1 and report.rows_removed > 0 and report.blobs_removed == 1
    assert "removed 1 deleted feeds" in report.summary()
    assert (await ops.http.get(BIN, headers=ops.auth())).json()["count"] == 0
    assert [e async for e in ops.services.storage.tables.scan("packages", f"{feed['id']}|")] == []
    r = await ops.http.patch(f"{BIN}/{feed['id']}", json=RESTORE, headers=ops.auth())
    assert r.status_code == 404


async def test_gc_removes_rows_left_by_feeds_deleted_before_the_recycle_bin(ops: Api) -> None:
    feed = await ops.create_feed("legacy")
    assert (await ops.publish("lib", "1.0.0", feed="legacy")).status_code == 201
    stored = await ops.services.catalog.get_feed_by_id(ORG, feed["id"])
    assert stored is not None
    await ops.services.catalog.delete_feed(stored)  # what DELETE did before: the document only
    report = await jobs.run_gc(ops.services)
    assert report.rows_removed > 0 and report.blobs_removed == 1
    assert [e async for e in ops.services.storage.tables.scan("packages", f"{feed['id']}|")] == []


async def test_gc_removes_health_and_upstream_behaviour_rows_of_feeds_that_are_gone(ops: Api) -> None:
    kept = await ops.create_feed("kept")
    services = ops.services
    for feed_id in (kept["id"], "0f0e0d0c-0000-4000-8000-00000000dead"):  # the second has no document
        await services.health.put(feed_id, UpstreamHealth("some-source", last_checked="2026-11-01T12:00:00Z"))
        await services.upstream_state.set_behaviour(feed_id, "npm", "lib", Behaviour.ALLOW_EXTERNAL)
    report = await jobs.run_gc(services)
    assert report.rows_removed == 2
    tables = services.storage.tables
    assert {e.partition_key async for e in tables.scan("upstreamhealth")} == {kept["id"]}
    assert {e.partition_key async for e in tables.scan("upstreaming")} == {f"{kept['id']}|npm"}


async def test_gc_keeps_the_upstream_documents_feeds_use_and_drops_the_rest(
    ops: Api, make_fixture_registry: Callable[[], FixtureRegistry], clock: MutableClock
) -> None:
    reg = make_fixture_registry()
    reg.add("lib", "1.0.0")
    await ops.create_feed("web")
    source: dict[str, Any] = {"name": "up", "protocol": "npm", "location": reg.url}
    r = await ops.http.patch(f"{FEEDS}/web", json={"upstreamSources": [source]}, headers=ops.auth())
    assert r.status_code == 200, r.text
    assert (await ops.http.get(ops.registry("web") + "lib", headers=ops.auth())).status_code == 200
    docs = {k for k in await blob_keys(ops) if k.startswith("upstream-meta/")}
    assert len(docs) == 1
    assert (await jobs.run_gc(ops.services)).blobs_removed == 0  # the cached answer is in use

    reg.add("lib", "2.0.0", published=iso(clock.now))  # a newer document replaces the cached one: the old is garbage
    web = await ops.services.feeds.find(ORG, None, "web")
    await ops.services.upstreams.revalidate(web, web.upstream_sources[0], "npm", "lib")
    report = await jobs.run_gc(ops.services)
    newer = {k for k in await blob_keys(ops) if k.startswith("upstream-meta/")}
    assert report.blobs_removed == 1 and len(newer) == 1 and not newer & docs

    r = await ops.http.patch(f"{FEEDS}/web", json={"upstreamSources": []}, headers=ops.auth())
    assert r.status_code == 200
    report = await jobs.run_gc(ops.services)
    assert report.cache_entries_dropped == 1 and report.blobs_removed == 1
    assert not {k for k in await blob_keys(ops) if k.startswith("upstream-meta/")}


@pytest.mark.parametrize("backend", ["embedded"])  # file times can be set back only on a local disk
async def test_gc_removes_only_garbage_older_than_the_grace_and_never_bytes_a_publish_reuses(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings(), clock) as api:  # the default grace: 24 hours
        assert api.services.settings.gc_grace_hours == 24
        await api.create_feed("web")
        store, blobs = api.services.packages.store, api.services.storage.blobs

        def age(key: str, hours: float) -> None:
            path = blobs.local_path(key)
            assert path is not None
            then = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
            os.utime(path, (then, then))

        # A crash between storing the bytes and committing the version leaves them unreferenced.
        young, _ = await store.put_content(b"refused just now", "application/octet-stream")
        old, _ = await store.put_content(b"crashed yesterday", "application/octet-stream")
        age(content_key(old), 25)
        # The same bytes are published again after a day: the publish renews them.
        reused = make_tarball("lib", "1.0.0")
        digest, _ = await store.put_content(reused, "application/octet-stream")
        age(content_key(digest), 48)
        assert (await api.publish("lib", "1.0.0", feed="web")).status_code == 201
        leftovers = api.services.settings.data_dir / "blobs" / ".tmp"
        (leftovers / "interrupted").write_bytes(b"12345")
        os.utime(leftovers / "interrupted", (0, 0))
        (leftovers / "in-progress").write_bytes(b"123")

        report = await jobs.run_gc(api.services)
        assert (report.blobs_removed, report.bytes_removed) == (1, len(b"crashed yesterday"))
        assert (report.temp_files_removed, report.temp_bytes_removed) == (1, 5)
        left = await blob_keys(api)
        assert content_key(young) in left and content_key(old) not in left
        assert await install_npm(api, "web", "lib", "1.0.0") == reused
        assert sorted(p.name for p in leftovers.iterdir()) == ["in-progress"]


async def test_a_restore_racing_a_purge_keeps_the_feed(ops: Api) -> None:
    """The purge read the deleted feed, then the feed was restored: the purge must not remove it."""
    feed = await ops.create_feed("racy")
    assert (await ops.publish("lib", "1.0.0", feed="racy")).status_code == 201
    assert (await ops.http.delete(f"{FEEDS}/racy", headers=ops.auth())).status_code == 204
    admin = await ops.services.identity.authenticate(ORG, ADMIN_TOKEN)
    read_by_purge = await ops.services.feeds.find_deleted(ORG, None, feed["id"], admin)
    assert (await ops.http.patch(f"{BIN}/{feed['id']}", json=RESTORE, headers=ops.auth())).status_code == 200
    with pytest.raises(NotFoundError, match="not in the feed recycle bin"):
        await ops.services.cleanup.purge(read_by_purge, admin)
    assert (await ops.http.get(f"{FEEDS}/racy", headers=ops.auth())).status_code == 200
    assert await install_npm(ops, "racy", "lib", "1.0.0") == make_tarball("lib", "1.0.0")


async def test_a_claimed_purge_cannot_be_restored_and_gc_finishes_it(ops: Api) -> None:
    feed = await ops.create_feed("claimed")
    assert (await ops.publish("lib", "1.0.0", feed="claimed")).status_code == 201
    assert (await ops.http.delete(f"{FEEDS}/claimed", headers=ops.auth())).status_code == 204
    # What a purge cut short right after claiming the feed leaves behind.
    stored = await ops.services.catalog.get_feed_by_id(ORG, feed["id"], include_deleted=True)
    assert stored is not None
    stored.purging = "2026-11-01T12:00:00Z"
    await ops.services.catalog.update_feed(stored)

    r = await ops.http.patch(f"{BIN}/{feed['id']}", json=RESTORE, headers=ops.auth())
    assert r.status_code == 409 and "being permanently deleted" in r.json()["message"]
    report = await jobs.run_gc(ops.services)  # well within retention, yet the claimed purge is finished
    assert report.feeds_purged == 1 and report.rows_removed > 0
    assert await ops.services.catalog.get_feed_by_id(ORG, feed["id"], include_deleted=True) is None
    assert [e async for e in ops.services.storage.tables.scan("packages", f"{feed['id']}|")] == []


@pytest.mark.parametrize("backend", ["embedded"])  # file times can be set back only on a local disk
async def test_gc_spares_old_bytes_that_an_internal_save_or_a_side_file_hit_is_about_to_use(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings(), clock) as api:  # the default grace: 24 hours
        blobs, services = api.services.storage.blobs, api.services

        def age(key: str) -> None:
            path = blobs.local_path(key)
            assert path is not None
            then = (datetime.now(UTC) - timedelta(hours=48)).timestamp()
            os.utime(path, (then, then))

        await api.create_feed("up")
        await api.create_feed("down")
        r = await api.http.patch(f"{FEEDS}/up/views/Local", json={"visibility": "collection"}, headers=api.auth())
        assert r.status_code == 200
        internal = {
            "name": "team",
            "protocol": "npm",
            "upstreamSourceType": "internal",
            "internalUpstreamFeedId": "up",
            "internalUpstreamViewId": "Local",
        }
        r = await api.http.patch(f"{FEEDS}/down", json={"upstreamSources": [internal]}, headers=api.auth())
        assert r.status_code == 200, r.text
        assert (await api.publish("lib", "1.0.0", feed="up")).status_code == 201
        tarball = make_tarball("lib", "1.0.0")
        (key,) = keys_of(tarball)
        age(key)

        # down starts saving lib from up (the bytes are already stored: nothing is copied) ...
        down = await services.feeds.find(ORG, None, "down")
        (offer,) = await services.upstreams.offers(down, enabled_sources(down, "npm"), "npm", "lib")
        assert offer.package is not None
        admin = await services.identity.authenticate(ORG, ADMIN_TOKEN)
        saved = await services.upstreams.fetch_for_save(
            down, admin, "npm", "lib", offer.source, offer.package.versions["1.0.0"]
        )
        # ... meanwhile up is deleted and purged, and gc runs before down commits its row.
        assert (await api.http.delete(f"{FEEDS}/up", headers=api.auth())).status_code == 204
        up = await services.feeds.find_deleted(ORG, None, "up", admin)
        await services.cleanup.purge(up, admin)

        # A cached side file (a core metadata file no version references yet) is used again.
        side, _ = await services.packages.store.put_content(b"Metadata-Version: 2.1\n", "text/plain")
        age(content_key(side))
        public = {"name": "pypi", "protocol": "pypi", "location": "http://127.0.0.1:9/simple/"}
        await services.upstreams.cache_side_file(public, "a .metadata file", "http://127.0.0.1:9/x", side)

        report = await jobs.run_gc(services)
        assert report.blobs_removed == 0, report.summary()
        assert content_key(side) in await blob_keys(api)
        await services.packages.store.commit_version(down.id, saved, PackageMeta("npm", "lib"))
        assert await install_npm(api, "down", "lib", "1.0.0") == tarball


async def test_a_recycle_bin_reference_that_is_one_feeds_name_and_anothers_id_is_a_conflict(ops: Api) -> None:
    """Possible only with names stored before GUID-shaped names were refused: never a silent pick."""
    target = await ops.create_feed("target")
    assert (await ops.http.delete(f"{FEEDS}/target", headers=ops.auth())).status_code == 204
    await ops.create_feed("legacy")
    legacy = await ops.services.feeds.find(ORG, None, "legacy")
    await ops.services.catalog.delete_feed(legacy)
    legacy.name = target["id"]  # the name an old version let through
    legacy.deleted = "2026-11-01T12:00:00Z"
    await ops.services.catalog.create_feed(legacy)
    r = await ops.http.patch(f"{BIN}/{target['id']}", json=RESTORE, headers=ops.auth())
    assert r.status_code == 409 and "ambiguous" in r.json()["message"]
    assert (await ops.http.delete(f"{BIN}/{target['id']}", headers=ops.auth())).status_code == 409
    r = await ops.http.patch(f"{BIN}/{legacy.id}", json=RESTORE, headers=ops.auth())
    assert r.status_code == 200 and r.json()["name"] == target["id"]
