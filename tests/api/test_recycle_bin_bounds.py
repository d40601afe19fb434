"""What the recycle bin's requests cost and what a refused or raced change leaves, on both backends: one package
by id and a page of the listing read no manifest blob, a batch restore refused for one lost blob changes nothing,
and a purge whose conditional write loses to a restore from another worker re-reads and keeps the version."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from feed_core.domain.ids import package_guid
from feed_core.domain.models import Caller, PackageMeta, PackageVersion
from feed_core.domain.roles import Scope
from feed_core.service.container import Services, build_services, open_storage
from feed_core.storage.packages import content_key
from feed_core.storage.ports import Storage
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process
from tests.counting_storage import CountingBlobStore, RacingTableStore
from tests.npm_packages import make_tarball

FEED = f"/{ORG}/_apis/packaging/feeds/feed"
BIN = f"{FEED}/RecycleBin/Packages"
ADMIN = Caller("admin", Scope.MANAGE, org_admin=True)


@dataclass
class Counted:
    api: Api
    tables: RacingTableStore
    blobs: CountingBlobStore
    inner: Storage
    clock: MutableClock


@pytest.fixture
async def counted(make_settings: SettingsFactory) -> AsyncIterator[Counted]:
    """The app on storage whose calls are counted (and whose next package write can be raced), with a feed."""
    settings = make_settings()
    inner = await open_storage(settings)
    tables, blobs = RacingTableStore(inner.tables), CountingBlobStore(inner.blobs)
    clock = MutableClock()
    svc = await build_services(settings, clock=clock, storage=Storage(tables, blobs))
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        async with httpx.AsyncClient(transport=in_process(svc), base_url="http://feed.test") as http:
            api = Api(http, svc)
            await api.create_feed("feed")
            yield Counted(api, tables, blobs, inner, clock)
    finally:
        await svc.close()


async def _wordy(api: Api, name: str) -> None:
    """A deleted npm version whose manifest is large enough to be kept in a blob of its own."""
    feed = await api.services.feeds.find(ORG, None, "feed")
    store = api.services.packages.store
    digest, _ = await store.put_content(name.encode(), "application/octet-stream")
    v = PackageVersion("npm", name, "1.0.0", {"readme": "x" * 40_000}, "w.tgz", digest, "", "", 5, "", "")
    await store.commit_version(feed.id, v, PackageMeta("npm", name))
    await store.put_package_id(feed.id, package_guid(feed.id, "npm", name), "npm", name)
    await api.services.packages.unpublish(feed, ADMIN, "npm", name, ["1.0.0"])


async def test_one_package_a_bogus_id_and_a_page_read_no_manifest_blob(counted: Counted) -> None:
    api, blobs, tables = counted.api, counted.blobs, counted.tables
    for name in ("wordy-a", "wordy-b", "wordy-c"):
        await _wordy(api, name)
    assert [b async for b in api.services.storage.blobs.list_blobs("manifests/")]
    listed = (await api.http.get(BIN, headers=api.auth())).json()["value"]
    assert [p["name"] for p in listed] == ["wordy-a", "wordy-b", "wordy-c"]
    package_id = listed[1]["id"]

    for url, status in (
        (f"{BIN}/{package_id}", 200),
        (f"{BIN}/00000000-0000-0000-0000-000000000000", 404),
        (f"{BIN}?%24top=1&packageNameQuery=WORDY", 200),
        (f"{BIN}?%24top=1&%24skip=1", 200),
        (f"{FEED}/npm/RecycleBin/packages/wordy-b/versions/1.0.0", 200),
    ):
        blobs.reset()
        tables.reset()
        r = await api.http.get(url, headers=api.auth())
        assert r.status_code == status, (url, r.text)
        assert blobs.calls["read_all"] == 0 and blobs.calls["read"] == 0, url
        if "?" not in url:  # one package: its partition (and the id row), never a scan of the feed
            assert tables.calls["scan"] == 0, (url, tables.by_table)
    assert (await api.http.get(f"{BIN}/{package_id}", headers=api.auth())).json()["name"] == "wordy-b"
    page = (await api.http.get(f"{BIN}?%24top=1&%24skip=1", headers=api.auth())).json()
    assert [p["name"] for p in page["value"]] == ["wordy-b"] and page["count"] == 1


async def test_a_refused_batch_restore_changes_nothing(counted: Counted) -> None:
    api = counted.api
    for name in ("first", "second"):
        assert (await api.publish(name, "1.0.0")).status_code == 201
        assert (await api.http.delete(f"{FEED}/npm/{name}/versions/1.0.0", headers=api.auth())).status_code == 200
    # the second package's content is gone: restoring both is refused, and the first stays in the recycle bin
    tarball = make_tarball("second", "1.0.0")
    await api.services.storage.blobs.delete(content_key(hashlib.sha256(tarball).hexdigest()))
    body = {
        "operation": "restoreToFeed",
        "packages": [{"id": "first", "version": "1.0.0"}, {"id": "second", "version": "1.0.0"}],
    }
    r = await api.http.post(f"{FEED}/npm/RecycleBin/packagesBatch", json=body, headers=api.auth())
    assert r.status_code == 409 and "no longer in storage" in r.json()["message"], r.text
    listed = (await api.http.get(BIN, headers=api.auth())).json()["value"]
    assert [p["name"] for p in listed] == ["first", "second"]
    assert (await api.http.get(api.registry() + "first", headers=api.auth())).json().get("versions", {}) == {}


async def test_a_purge_whose_write_loses_to_a_restore_re_reads_and_keeps_the_version(
    counted: Counted, make_settings: SettingsFactory
) -> None:
    api, tables, clock = counted.api, counted.tables, counted.clock
    assert (await api.publish("raced", "1.0.0")).status_code == 201
    assert (await api.http.delete(f"{FEED}/npm/raced/versions/1.0.0", headers=api.auth())).status_code == 200
    feed = await api.services.feeds.find(ORG, None, "feed")
    # another worker: its own services on the same storage, so its writes do not wait for this worker's turns
    other: Services = await build_services(make_settings(), clock=clock, storage=counted.inner)
    try:
        clock.advance(days=30)
        due = await api.services.recycle_bin.due(feed)
        assert [v.version for v in due] == ["1.0.0"]

        async def restore_first() -> None:
            clock.advance(days=-1)  # the other worker restores while it still can ...
            await other.recycle_bin.restore(feed, ADMIN, "npm", "raced", ["1.0.0"])
            clock.advance(days=1)  # ... between the purge's read of the rows and its conditional write

        tables.reset()
        tables.before_transact = ("packages", restore_first)
        assert await api.services.recycle_bin.purge_due(feed, due) == 0
        assert tables.before_transact is None  # the restore did run between the read and the write
        assert tables.by_table[("query", "packages")] >= 2  # the write failed on the ETag: the purge read again
    finally:
        await other.upstreams.close()  # the storage is the first worker's: it closes it
    version = await api.services.packages.store.get_version(feed.id, "npm", "raced", "1.0.0")
    assert version is not None and version.deleted is None and version.purged is None
    packument = (await api.http.get(api.registry() + "raced", headers=api.auth())).json()
    assert list(packument["versions"]) == ["1.0.0"]
