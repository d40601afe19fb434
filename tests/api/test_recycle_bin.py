"""The package recycle bin on both backends: listing, restoring and deleting for good per protocol, the roles, the
purge after FEED_RECYCLE_BIN_DAYS by the gc job, and blobs that are collected once nothing references them."""

# ruff: noqa: F811
from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from feed_core import jobs
from feed_core.domain.models import Caller, PackageMeta, PackageVersion
from feed_core.domain.roles import Scope
from feed_core.storage.packages import content_key
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.api.test_cargo_hosting import cargo, publish, raw
from tests.api.test_upstream_npm import packument, tarball_url, up  # noqa: F401
from tests.cargo_packages import crate_bytes
from tests.maven_packages import basic, deploy, directory, jar, pom, repo
from tests.npm_packages import make_tarball
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.nupkg_builder import build_nupkg
from tests.python_packages import make_wheel, upload_form

FEED = f"/{ORG}/_apis/packaging/feeds/feed"
BIN = f"{FEED}/RecycleBin/Packages"


@pytest.fixture
async def ops(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Api]:
    """A feed with alice (contributor), bob (reader), carol (collaborator) and owen (owner, manage token); a gc
    grace of 0 hours, so the gc job may remove any unreferenced blob at once."""
    async with running_api(make_settings().model_copy(update={"gc_grace_hours": 0}), clock) as api:
        await api.create_feed("feed")
        await api.staff("feed")
        await api.grant("feed", "owen", "administrator")
        await api.token("owen", "vso.packaging_manage")
        yield api


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def blob_keys(api: Api) -> set[str]:
    return {b.key async for b in api.services.storage.blobs.list_blobs()}


def message(r: httpx.Response) -> str:
    return str(r.json()["message"])


# --- one scenario per protocol --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A protocol's version of one scenario: publish it, delete it, install it, and its recycle bin URL."""

    protocol: str
    number: str
    version_url: str  # the version route (DELETE moves it to the recycle bin)
    bin_url: str  # the recycle bin route of the version
    publish: Callable[[Api], Awaitable[int]]  # the status of a publish
    install: Callable[[Api], Awaitable[bytes | int]]  # the bytes, or the status of the failing request
    content: bytes  # the bytes of the version (their blob goes with a permanent delete)
    shown_name: str


async def _npm_publish(api: Api, name: str) -> int:
    return (await api.publish(name, "1.0.0", who="alice")).status_code


async def _npm_install(api: Api, name: str) -> bytes | int:
    r = await api.http.get(api.registry() + name.replace("/", "%2f"), headers=api.auth("bob"))
    if r.status_code != 200 or "1.0.0" not in r.json()["versions"]:
        return r.status_code if r.status_code != 200 else 404
    tarball = await api.http.get(r.json()["versions"]["1.0.0"]["dist"]["tarball"], headers=api.auth("bob"))
    return tarball.content if tarball.status_code == 200 else tarball.status_code


WHEEL_NAME, WHEEL, _ = make_wheel("pylib", "1.0")


async def _pypi_publish(api: Api) -> int:
    fields, files = upload_form("pylib", "1.0", WHEEL_NAME, WHEEL)
    url = f"/{ORG}/_packaging/feed/pypi/upload/"
    return (await api.http.post(url, data=fields, files=files, headers=api.auth("alice"))).status_code


async def _pypi_install(api: Api) -> bytes | int:
    r = await api.http.get(f"/{ORG}/_packaging/feed/pypi/simple/pylib/", headers=api.auth("bob"))
    if r.status_code != 200 or WHEEL_NAME not in r.text:
        return r.status_code if r.status_code != 200 else 404
    got = await api.http.get(f"/{ORG}/_packaging/feed/pypi/download/pylib/1.0/{WHEEL_NAME}", headers=api.auth("bob"))
    return got.content if got.status_code == 200 else got.status_code


NUPKG = build_nupkg("NLib", "1.0.0")


async def _nuget_publish(api: Api) -> int:
    files = {"package": ("package.nupkg", NUPKG, "application/octet-stream")}
    return (await api.http.put(f"/{ORG}/_packaging/feed/nuget/v3/package", files=files, headers=api.auth())).status_code


async def _nuget_install(api: Api) -> bytes | int:
    r = await api.http.get(
        f"/{ORG}/_packaging/feed/nuget/v3/flat2/nlib/1.0.0/nlib.1.0.0.nupkg", headers=api.auth("bob")
    )
    return r.content if r.status_code == 200 else r.status_code


G, A = "org.example", "lib"
JAR = jar("org/example/Lib.class")


async def _maven_publish(api: Api) -> int:
    files = {f"{A}-1.0.pom": pom(G, A, "1.0"), f"{A}-1.0.jar": JAR}
    answers = await deploy(api.http, basic(api.tokens["alice"]), G, A, "1.0", files)
    return max(r.status_code for r in answers)


async def _maven_install(api: Api) -> bytes | int:
    r = await api.http.get(repo() + directory(G, A, "1.0") + f"{A}-1.0.jar", headers=basic(api.tokens["bob"]))
    return r.content if r.status_code == 200 else r.status_code


CRATE = crate_bytes("my_crate", "1.0.0")


async def _cargo_publish(api: Api) -> int:
    return (await publish(api, "my_crate", "1.0.0", crate=CRATE)).status_code


async def _cargo_install(api: Api) -> bytes | int:
    r = await api.http.get(f"{cargo()}/api/v1/crates/my_crate/1.0.0/download", headers=raw(api, "bob"))
    return r.content if r.status_code == 200 else r.status_code


CASES = {
    "npm": Case(
        "npm",
        "1.0.0",
        f"{FEED}/npm/lib/versions/1.0.0",
        f"{FEED}/npm/RecycleBin/packages/lib/versions/1.0.0",
        lambda api: _npm_publish(api, "lib"),
        lambda api: _npm_install(api, "lib"),
        make_tarball("lib", "1.0.0"),
        "lib",
    ),
    "npm-scoped": Case(
        "npm",
        "1.0.0",
        f"{FEED}/npm/@scope/lib/versions/1.0.0",
        f"{FEED}/npm/RecycleBin/packages/@scope/lib/versions/1.0.0",
        lambda api: _npm_publish(api, "@scope/lib"),
        lambda api: _npm_install(api, "@scope/lib"),
        make_tarball("@scope/lib", "1.0.0"),
        "@scope/lib",
    ),
    "pypi": Case(
        "pypi",
        "1.0",
        f"{FEED}/pypi/packages/PyLib/versions/1.0",
        f"{FEED}/pypi/RecycleBin/packages/PyLIB/versions/1.00",  # PEP 503 and PEP 440 spellings are the same
        _pypi_publish,
        _pypi_install,
        WHEEL,
        "pylib",
    ),
    "nuget": Case(
        "nuget",
        "1.0.0",
        f"{FEED}/nuget/packages/NLib/versions/1.0.0",
        f"{FEED}/nuget/RecycleBin/packages/NLIB/versions/1.0.0",
        _nuget_publish,
        _nuget_install,
        NUPKG,
        "nlib",
    ),
    "maven": Case(
        "maven",
        "1.0",
        f"{FEED}/maven/groups/{G}/artifacts/{A}/versions/1.0",
        f"{FEED}/maven/RecycleBin/groups/{G}/artifacts/{A}/versions/1.0",
        _maven_publish,
        _maven_install,
        JAR,
        f"{G}:{A}",
    ),
    "cargo": Case(
        "cargo",
        "1.0.0",
        f"{FEED}/cargo/packages/my_crate/versions/1.0.0",
        f"{FEED}/cargo/RecycleBin/packages/My_Crate/versions/1.0.0",
        _cargo_publish,
        _cargo_install,
        CRATE,
        "my_crate",
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_a_deleted_version_is_listed_restored_installable_then_deleted_for_good(ops: Api, case: Case) -> None:
    api = ops
    assert await case.publish(api) in (200, 201)
    installed = await case.install(api)
    assert installed == case.content
    r = await api.http.delete(case.version_url, headers=api.auth("alice"))
    assert r.status_code in (200, 202), r.text
    assert await case.install(api) == 404

    listing = await api.http.get(BIN, headers=api.auth("alice"))
    assert listing.status_code == 200, listing.text
    (package,) = listing.json()["value"]
    assert (package["name"], package["normalizedName"]) == (case.shown_name, case.shown_name)
    assert package["protocolType"].lower() == case.protocol
    (version,) = package["versions"]
    assert version["version"] == case.number and version["isDeleted"]
    deleted = datetime.fromisoformat(version["deletedDate"].replace("Z", "+00:00"))
    purge_at = datetime.fromisoformat(version["scheduledPermanentDeleteDate"].replace("Z", "+00:00"))
    assert purge_at - deleted == timedelta(days=30)
    one = await api.http.get(f"{BIN}/{package['id']}", headers=api.auth("alice"))
    assert one.status_code == 200 and one.json()["versions"][0]["version"] == case.number

    shown = await api.http.get(case.bin_url, headers=api.auth("alice"))
    assert shown.status_code == 200, shown.text
    deleted_key = "unpublishedDate" if case.protocol == "npm" else "deletedDate"  # as npm's version route says
    assert shown.json()["version"] == case.number and shown.json()[deleted_key] == version["deletedDate"]
    assert ("deletedDate" in shown.json()) == (case.protocol != "npm")
    if case.protocol == "maven":
        assert (shown.json()["groupId"], shown.json()["artifactId"]) == (G, A)
    else:
        assert shown.json()["name"] == case.shown_name

    # contributors see the recycle bin but only owners restore; the body must say what it means
    for who in ("bob", "carol", "alice"):
        r = await api.http.patch(case.bin_url, json={"deleted": False}, headers=api.auth(who))
        assert r.status_code == 403 and "(administrator)" in message(r), (who, r.text)
    bodies: list[object] = [{"deleted": True}, {}, {"deleted": "false"}, [], "x"]
    for bad in bodies:
        r = await api.http.patch(case.bin_url, json=bad, headers=api.auth("owen"))
        assert r.status_code == 400, (bad, r.text)
    r = await api.http.patch(case.bin_url, json={"deleted": False}, headers=api.auth("owen"))
    assert r.status_code == 200, r.text
    assert await case.install(api) == installed
    assert (await api.http.get(BIN, headers=api.auth("alice"))).json() == {"count": 0, "value": []}
    r = await api.http.patch(case.bin_url, json={"deleted": False}, headers=api.auth("owen"))
    assert r.status_code == 404 and "not in the recycle bin" in message(r)
    r = await api.http.delete(case.bin_url, headers=api.auth("owen"))
    assert r.status_code == 404 and "not in the recycle bin" in message(r)

    # deleted again, then for good: the number stays reserved and the bytes go with the next gc
    assert (await api.http.delete(case.version_url, headers=api.auth("alice"))).status_code in (200, 202)
    assert (await api.http.delete(case.bin_url, headers=api.auth("alice"))).status_code == 403
    r = await api.http.delete(case.bin_url, headers=api.auth("owen"))
    assert r.status_code == (202 if case.protocol == "maven" else 200), r.text
    assert (await api.http.get(BIN, headers=api.auth("alice"))).json()["count"] == 0
    r = await api.http.patch(case.bin_url, json={"deleted": False}, headers=api.auth("owen"))
    assert r.status_code == 404 and "permanently deleted" in message(r) and "cannot be restored" in message(r)
    assert (await api.http.get(case.bin_url, headers=api.auth("alice"))).status_code == 404
    assert await case.publish(api) == 409
    shown = await api.http.get(f"{case.version_url}?showDeleted=true", headers=api.auth("alice"))
    assert shown.status_code == 200 and shown.json()["isDeleted"] and shown.json()["storageId"] == ""

    key = content_key(sha(case.content))
    assert key in await blob_keys(api)
    report = await jobs.run_gc(api.services)
    assert report.blobs_removed >= 1
    assert key not in await blob_keys(api)
    assert await case.install(api) == 404


async def test_restore_puts_latest_back_and_readers_do_not_see_the_recycle_bin(ops: Api) -> None:
    api = ops
    for version in ("1.0.0", "1.1.0", "2.0.0-beta.1"):
        assert (await api.publish("tagged", version, who="alice")).status_code == 201
    latest = (await packument(api, "tagged", who="bob")).json()["dist-tags"]["latest"]
    assert latest == "2.0.0-beta.1"  # npm's publish moved it (publish_body tags latest)
    for version in ("2.0.0-beta.1", "1.1.0"):
        r = await api.http.delete(f"{FEED}/npm/tagged/versions/{version}", headers=api.auth("alice"))
        assert r.status_code == 200
    assert (await packument(api, "tagged", who="bob")).json()["dist-tags"]["latest"] == "1.0.0"
    for who in ("bob", "carol"):
        r = await api.http.get(BIN, headers=api.auth(who))
        assert r.status_code == 403 and "(contributor)" in message(r), who
    r = await api.http.patch(
        f"{FEED}/npm/RecycleBin/packages/tagged/versions/1.1.0", json={"deleted": False}, headers=api.auth("owen")
    )
    assert r.status_code == 200, r.text
    doc = (await packument(api, "tagged", who="bob")).json()
    assert doc["dist-tags"]["latest"] == "1.1.0" and sorted(doc["versions"]) == ["1.0.0", "1.1.0"]
    r = await api.http.patch(
        f"{FEED}/npm/RecycleBin/packages/tagged/versions/2.0.0-beta.1", json={"deleted": False}, headers=api.auth()
    )
    assert r.status_code == 200, r.text
    # a prerelease does not take latest back from a release
    assert (await packument(api, "tagged", who="bob")).json()["dist-tags"]["latest"] == "1.1.0"


async def test_every_package_restored_lands_back_in_the_index(ops: Api) -> None:
    api = ops
    assert (await api.publish("solo", "1.0.0", who="alice")).status_code == 201
    assert (await api.http.delete(f"{FEED}/npm/solo/versions/1.0.0", headers=api.auth("alice"))).status_code == 200
    search = f"{api.registry()}-/v1/search?text=solo"
    assert (await api.http.get(search, headers=api.auth("bob"))).json()["objects"] == []
    url = f"{FEED}/npm/RecycleBin/packages/solo/versions/1.0.0"
    assert (await api.http.patch(url, json={"deleted": False}, headers=api.auth("owen"))).status_code == 200
    found = (await api.http.get(search, headers=api.auth("bob"))).json()["objects"]
    assert [o["package"]["name"] for o in found] == ["solo"]
    assert (await packument(api, "solo", who="bob")).json()["dist-tags"]["latest"] == "1.0.0"


async def test_unknown_packages_versions_and_bad_queries(ops: Api) -> None:
    api = ops
    assert (await api.publish("live", "1.0.0", who="alice")).status_code == 201
    for url, why in (
        (f"{FEED}/npm/RecycleBin/packages/nope/versions/1.0.0", "does not exist"),
        (f"{FEED}/npm/RecycleBin/packages/live/versions/9.9.9", "does not exist"),
        (f"{FEED}/npm/RecycleBin/packages/live/versions/1.0.0", "it was not deleted"),
    ):
        for method, who in (("GET", "alice"), ("DELETE", "owen")):
            r = await api.http.request(method, url, headers=api.auth(who))
            assert r.status_code == 404 and why in message(r), (method, url, r.text)
        r = await api.http.patch(url, json={"deleted": False}, headers=api.auth("owen"))
        assert r.status_code == 404 and why in message(r)
    assert (await api.http.get(f"{BIN}/not-an-id", headers=api.auth("alice"))).status_code == 404
    r = await api.http.get(f"/{ORG}/_apis/packaging/feeds/other/RecycleBin/Packages", headers=api.auth())
    assert r.status_code == 404
    for query in ("protocolType=rubygems", "$top=-1", "$skip=x", "$top=1e3"):
        r = await api.http.get(f"{BIN}?{query}", headers=api.auth("alice"))
        assert r.status_code == 400, (query, r.text)
    for bad in ("1crate", "my.crate"):
        r = await api.http.get(f"{FEED}/cargo/RecycleBin/packages/{bad}/versions/1.0.0", headers=api.auth("alice"))
        assert r.status_code == 400


async def test_listing_filters_and_pages(ops: Api) -> None:
    api = ops
    for name in ("alpha", "beta", "gamma"):
        assert (await api.publish(name, "1.0.0", who="alice")).status_code == 201
        r = await api.http.delete(f"{FEED}/npm/{name}/versions/1.0.0", headers=api.auth("alice"))
        assert r.status_code == 200
    assert await _pypi_publish(api) == 200
    assert (await api.http.delete(CASES["pypi"].version_url, headers=api.auth("alice"))).status_code == 200

    async def names(query: str) -> list[str]:
        r = await api.http.get(f"{BIN}?{query}", headers=api.auth("alice"))
        assert r.status_code == 200, r.text
        assert r.json()["count"] == len(r.json()["value"])
        return [p["name"] for p in r.json()["value"]]

    assert await names("") == ["alpha", "beta", "gamma", "pylib"]
    assert await names("protocolType=Npm") == ["alpha", "beta", "gamma"]
    assert await names("protocolType=PyPi") == ["pylib"]
    assert await names("protocolType=NuGet") == []
    assert await names("packageNameQuery=MM") == ["gamma"]
    assert await names("%24top=2&%24skip=1") == ["beta", "gamma"]


async def test_batches_check_every_version_first_then_restore_or_delete(ops: Api) -> None:
    api = ops
    for version in ("1.0.0", "1.0.1", "1.0.2"):
        assert (await api.publish("many", version, who="alice")).status_code == 201
        r = await api.http.delete(f"{FEED}/npm/many/versions/{version}", headers=api.auth("alice"))
        assert r.status_code == 200
    batch = f"{FEED}/npm/RecycleBin/packagesBatch"
    restore = {
        "operation": "restoreToFeed",
        "packages": [{"id": "many", "version": "1.0.0"}, {"id": "many", "version": "1.0.9"}],
    }
    r = await api.http.post(batch, json=restore, headers=api.auth("owen"))
    assert r.status_code == 404 and "1.0.9" in message(r)
    assert (await api.http.get(BIN, headers=api.auth("alice"))).json()["value"][0]["versions"].__len__() == 3
    assert (
        await api.http.post(batch, json={**restore, "packages": restore["packages"][:1]}, headers=api.auth("alice"))
    ).status_code == 403
    r = await api.http.post(batch, json={**restore, "packages": restore["packages"][:1]}, headers=api.auth("owen"))
    assert r.status_code == 202, r.text
    assert list((await packument(api, "many", who="bob")).json()["versions"]) == ["1.0.0"]
    delete = {"operation": "permanentDelete", "packages": [{"id": "many", "version": "1.0.1"}]}
    assert (await api.http.post(batch, json=delete, headers=api.auth("owen"))).status_code == 202
    versions = (await api.http.get(BIN, headers=api.auth("alice"))).json()["value"][0]["versions"]
    assert [v["version"] for v in versions] == ["1.0.2"]
    for bad in (
        {"operation": "delete", "packages": [{"id": "many", "version": "1.0.2"}]},
        {"operation": "permanentDelete", "packages": []},
        {"operation": "permanentDelete", "packages": [{"version": "1.0.2"}]},
        {"operation": "permanentDelete"},
    ):
        r = await api.http.post(batch, json=bad, headers=api.auth("owen"))
        assert r.status_code == 400, (bad, r.text)

    assert await _maven_publish(api) in (200, 201)
    assert (await api.http.delete(CASES["maven"].version_url, headers=api.auth("alice"))).status_code == 202
    maven = f"{FEED}/maven/RecycleBin/packagesBatch"
    body = {"operation": "restoreToFeed", "packages": [{"group": G, "artifact": A, "version": "1.0"}]}
    r = await api.http.post(maven, json={**body, "packages": [{"id": "x", "version": "1.0"}]}, headers=api.auth())
    assert r.status_code == 400 and "group and artifact" in message(r)
    assert (await api.http.post(maven, json=body, headers=api.auth("owen"))).status_code == 202
    assert await _maven_install(api) == JAR


async def test_emptying_the_recycle_bin_deletes_every_version_in_it_for_good(ops: Api, clock: MutableClock) -> None:
    api = ops
    for name in ("one", "two"):
        assert (await api.publish(name, "1.0.0", who="alice")).status_code == 201
        assert (
            await api.http.delete(f"{FEED}/npm/{name}/versions/1.0.0", headers=api.auth("alice"))
        ).status_code == 200
    assert (await api.publish("kept", "1.0.0", who="alice")).status_code == 201
    assert (await api.http.delete(BIN, headers=api.auth("alice"))).status_code == 403
    r = await api.http.delete(BIN, headers=api.auth("owen"))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and r.json()["url"].endswith("/RecycleBin/Packages") and r.json()["id"]
    # hidden at once (gc purges them): neither listed, nor shown, nor restorable
    assert (await api.http.get(BIN, headers=api.auth("alice"))).json()["count"] == 0
    url = f"{FEED}/npm/RecycleBin/packages/one/versions/1.0.0"
    r = await api.http.get(url, headers=api.auth("alice"))
    assert r.status_code == 404 and "being deleted permanently" in message(r)
    assert (await api.http.patch(url, json={"deleted": False}, headers=api.auth("owen"))).status_code == 404
    # a version deleted after the request is in the recycle bin as usual
    clock.advance(seconds=1)
    assert (await api.http.delete(f"{FEED}/npm/kept/versions/1.0.0", headers=api.auth("alice"))).status_code == 200
    assert [p["name"] for p in (await api.http.get(BIN, headers=api.auth("alice"))).json()["value"]] == ["kept"]
    assert (await jobs.run_gc(api.services)).versions_purged == 2
    assert (
        await api.http.patch(
            f"{FEED}/npm/RecycleBin/packages/kept/versions/1.0.0", json={"deleted": False}, headers=api.auth("owen")
        )
    ).status_code == 200
    left = await blob_keys(api)
    assert content_key(sha(make_tarball("one", "1.0.0"))) not in left
    assert content_key(sha(make_tarball("kept", "1.0.0"))) in left
    assert (await api.publish("one", "1.0.0", who="alice")).status_code == 409


async def test_gc_purges_versions_after_the_recycle_bin_days(ops: Api, clock: MutableClock) -> None:
    api = ops
    assert (await api.publish("old", "1.0.0", who="alice")).status_code == 201
    assert (await api.publish("old", "1.1.0", who="alice")).status_code == 201
    assert (await api.http.delete(f"{FEED}/npm/old/versions/1.0.0", headers=api.auth("alice"))).status_code == 200
    clock.advance(days=10)
    assert (await api.http.delete(f"{FEED}/npm/old/versions/1.1.0", headers=api.auth("alice"))).status_code == 200
    key = content_key(sha(make_tarball("old", "1.0.0")))
    clock.advance(days=19)
    report = await jobs.run_gc(api.services)
    assert report.versions_purged == 0 and key in await blob_keys(api)
    clock.advance(days=1)  # 30 days after the first delete: due, and no longer restorable
    url = f"{FEED}/npm/RecycleBin/packages/old/versions/1.0.0"
    r = await api.http.patch(url, json={"deleted": False}, headers=api.auth("owen"))
    assert r.status_code == 409 and "30 days" in message(r)
    dry = await jobs.run_gc(api.services, dry_run=True)
    assert dry.versions_purged == 1 and dry.blobs_removed == 1 and key in await blob_keys(api)
    assert "1 package versions past the recycle bin's days" in dry.summary()
    versions = (await api.http.get(BIN, headers=api.auth("alice"))).json()["value"][0]["versions"]
    assert [v["version"] for v in versions] == ["1.0.0", "1.1.0"]
    report = await jobs.run_gc(api.services)
    assert report.versions_purged == 1 and report.blobs_removed == 1
    assert "removed" in report.summary() and "1 package versions" in report.summary()
    assert key not in await blob_keys(api)
    versions = (await api.http.get(BIN, headers=api.auth("alice"))).json()["value"][0]["versions"]
    assert [v["version"] for v in versions] == ["1.1.0"]
    r = await api.http.patch(url, json={"deleted": False}, headers=api.auth("owen"))
    assert r.status_code == 404 and "permanently deleted" in message(r)
    assert (await api.publish("old", "1.0.0", who="alice")).status_code == 409
    assert (await jobs.run_gc(api.services)).versions_purged == 0
    # the other version is still restorable, and installable once restored
    r = await api.http.patch(
        f"{FEED}/npm/RecycleBin/packages/old/versions/1.1.0", json={"deleted": False}, headers=api.auth("owen")
    )
    assert r.status_code == 200
    tarball = (await packument(api, "old", who="bob")).json()["versions"]["1.1.0"]["dist"]["tarball"]
    assert (await api.http.get(tarball, headers=api.auth("bob"))).content == make_tarball("old", "1.1.0")


async def test_a_restore_whose_blob_is_gone_is_refused(ops: Api) -> None:
    api = ops
    assert (await api.publish("lost", "1.0.0", who="alice")).status_code == 201
    assert (await api.http.delete(f"{FEED}/npm/lost/versions/1.0.0", headers=api.auth("alice"))).status_code == 200
    await api.services.storage.blobs.delete(content_key(sha(make_tarball("lost", "1.0.0"))))
    url = f"{FEED}/npm/RecycleBin/packages/lost/versions/1.0.0"
    r = await api.http.patch(url, json={"deleted": False}, headers=api.auth("owen"))
    assert r.status_code == 409 and "no longer in storage" in message(r)
    assert (await api.http.get(BIN, headers=api.auth("alice"))).json()["count"] == 1


async def test_a_blob_two_versions_share_stays_until_neither_references_it(ops: Api) -> None:
    api = ops
    feed = await api.services.feeds.find(ORG, None, "feed")
    store = api.services.packages.store
    digest, _ = await store.put_content(b"shared bytes", "application/octet-stream")
    meta = PackageMeta("npm", "twins")
    for number, manifest in (("1.0.0", {"readme": "x" * 40_000}), ("1.0.1", {})):
        v = PackageVersion("npm", "twins", number, manifest, f"twins-{number}.tgz", digest, "", "", 12, "", "")
        meta = PackageMeta("npm", "twins", etag=(await store.commit_version(feed.id, v, meta))[1])
    manifests = {k for k in await blob_keys(api) if k.startswith("manifests/")}
    assert len(manifests) == 1
    caller = Caller("admin", Scope.MANAGE, org_admin=True)
    await api.services.packages.unpublish(feed, caller, "npm", "twins", ["1.0.0", "1.0.1"])
    await api.services.recycle_bin.delete(feed, caller, "npm", "twins", ["1.0.0"])
    await jobs.run_gc(api.services)
    left = await blob_keys(api)
    assert content_key(digest) in left and not manifests & left  # the large manifest went with its version
    await api.services.recycle_bin.delete(feed, caller, "npm", "twins", ["1.0.1"])
    await jobs.run_gc(api.services)
    assert content_key(digest) not in await blob_keys(api)


async def test_a_version_deleted_for_good_is_never_saved_from_the_upstream_again(
    up: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("gone", "1.0.0")
    assert (await up.http.get(tarball_url("gone", "1.0.0"), headers=up.auth("carol"))).status_code == 200
    assert (await up.http.delete(f"{FEED}/npm/gone/versions/1.0.0", headers=up.auth())).status_code == 200
    url = f"{FEED}/npm/RecycleBin/packages/gone/versions/1.0.0"
    assert (await up.http.delete(url, headers=up.auth())).status_code == 200
    r = await up.http.get(tarball_url("gone", "1.0.0"), headers=up.auth("carol"))
    assert r.status_code == 404 and "reserved" in r.json()["error"]
    assert "1.0.0" not in (await packument(up, "gone")).json().get("versions", {})
    assert fixture_registry.count("GET", "/gone-1.0.0.tgz") == 1


async def test_a_restore_that_writes_first_keeps_its_version_from_a_racing_purge(ops: Api, clock: MutableClock) -> None:
    api = ops
    assert (await api.publish("raced", "1.0.0", who="alice")).status_code == 201
    assert (await api.http.delete(f"{FEED}/npm/raced/versions/1.0.0", headers=api.auth("alice"))).status_code == 200
    feed = await api.services.feeds.find(ORG, None, "feed")
    clock.advance(days=30)
    due = await api.services.recycle_bin.due(feed)  # the gc job has read what is due ...
    assert [v.version for v in due] == ["1.0.0"]
    clock.advance(days=-1)  # ... and a restore (while it still could) writes before the purge does
    caller = Caller("admin", Scope.MANAGE, org_admin=True)
    await api.services.recycle_bin.restore(feed, caller, "npm", "raced", ["1.0.0"])
    clock.advance(days=1)
    assert await api.services.recycle_bin.purge_due(feed, due) == 0
    assert (await jobs.run_gc(api.services)).versions_purged == 0
    tarball = (await packument(api, "raced", who="bob")).json()["versions"]["1.0.0"]["dist"]["tarball"]
    assert (await api.http.get(tarball, headers=api.auth("bob"))).content == make_tarball("raced", "1.0.0")


async def test_the_recycle_bin_keeps_versions_for_the_days_the_setting_says(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings(recycle_bin_days=7), clock) as api:
        await api.create_feed("feed")
        assert (await api.publish("week", "1.0.0")).status_code == 201
        assert (await api.http.delete(f"{FEED}/npm/week/versions/1.0.0", headers=api.auth())).status_code == 200
        (version,) = (await api.http.get(BIN, headers=api.auth())).json()["value"][0]["versions"]
        deleted = datetime.fromisoformat(version["deletedDate"].replace("Z", "+00:00"))
        purge_at = datetime.fromisoformat(version["scheduledPermanentDeleteDate"].replace("Z", "+00:00"))
        assert purge_at - deleted == timedelta(days=7)
        clock.advance(days=7)
        assert (await jobs.run_gc(api.services)).versions_purged == 1
