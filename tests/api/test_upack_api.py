"""The Universal Packages wire (``…/_packaging/{feed}[@view]/upack/``) on both stores: publish by chunks, the
manifest and chunk reads, every refusal (bad hashes, oversize chunks, hostile manifests, missing chunks), roles,
the per-feed chunk table that keeps one feed from learning what another holds, and conflicts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest

import feed_core.service.upack as upack_service
from feed_core import jobs
from feed_core.domain.upack import stored_chunk_hashes
from feed_core.service.upack import MAX_CHUNK_BYTES, MAX_MISSING_LISTED, manifest_key
from feed_core.storage.packages import content_key
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.api.upack_helpers import (
    Package,
    base,
    commit,
    hostile,
    package,
    publish,
    put_chunk,
    query,
    random_package,
)


async def test_publish_then_list_read_the_manifest_and_fetch_every_chunk(feed_api: Api) -> None:
    api = feed_api
    pkg = package({"bin/tool": os.urandom(3000), "README.md": b"hello\n", "empty": b""}, {"bin/tool": 0o755})
    hashes = list(pkg.chunks)
    r = await query(api, hashes)
    assert r.status_code == 200 and r.json() == {"missing": hashes}
    for sha, data in pkg.chunks.items():
        up = await put_chunk(api, data)
        assert up.status_code == 201 and up.json() == {"sha256": sha, "size": len(data)}
    assert (await query(api, hashes)).json() == {"missing": []}
    r = await commit(
        api,
        "my-tool",
        "1.0.0",
        pkg.body,
        headers={"X-Upack-Total-Hash": pkg.manifest.total_hash},
        params={"description": "a tool"},
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "name": "my-tool",
        "version": "1.0.0",
        "totalHash": pkg.manifest.total_hash,
        "size": 3006,
        "files": 3,
    }

    listing = await api.http.get(f"{base()}/packages/my-tool", headers=api.auth("bob"))
    assert listing.status_code == 200, listing.text
    (v,) = listing.json()["versions"]
    assert listing.json()["name"] == "my-tool"
    assert (v["version"], v["totalHash"], v["size"]) == ("1.0.0", pkg.manifest.total_hash, 3006)
    assert v["source"] == "feed"

    url = f"{base()}/packages/my-tool/versions/1.0.0"
    m = await api.http.get(url, headers=api.auth("bob"))
    assert m.status_code == 200 and m.headers["content-type"] == "application/json"
    assert m.content == pkg.manifest.canonical_json
    assert hashlib.sha256(m.content).hexdigest() == pkg.manifest.total_hash == m.headers["x-upack-total-hash"]
    again = await api.http.get(url, headers={**api.auth("bob"), "If-None-Match": m.headers["etag"]})
    assert again.status_code == 304
    for sha, data in pkg.chunks.items():
        c = await api.http.get(f"{url}/chunks/{sha}", headers=api.auth("bob"))
        assert c.status_code == 200 and c.content == data

    detail = await api.http.get(
        "/local/_apis/packaging/feeds/feed/upack/packages/my-tool/versions/1.0.0", headers=api.auth("bob")
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["version"] == "1.0.0" and '"a tool"' in detail.text


async def test_a_second_version_uploads_only_the_chunks_that_changed(feed_api: Api) -> None:
    api = feed_api
    files = {f"f{i}": os.urandom(4000) for i in range(5)}
    first = package(files)
    await publish(api, "pkg", "1.0.0", first)
    files["f2"] = os.urandom(4000)
    second = package(files)
    missing = (await query(api, list(second.chunks))).json()["missing"]
    assert 0 < len(missing) < len(second.chunks) / 3
    assert set(missing) == set(second.chunks) - set(first.chunks)
    await publish(api, "pkg", "1.1.0", second)
    listing = (await api.http.get(f"{base()}/packages/pkg", headers=api.auth("bob"))).json()
    assert [v["version"] for v in listing["versions"]] == ["1.0.0", "1.1.0"]


async def test_a_commit_with_chunks_not_uploaded_names_them_and_succeeds_once_they_are(feed_api: Api) -> None:
    api = feed_api
    pkg = random_package()
    hashes = list(pkg.chunks)
    for sha in hashes[:2]:
        assert (await put_chunk(api, pkg.chunks[sha])).status_code == 201
    r = await commit(api, "resumed", "1.0.0", pkg.body)
    assert r.status_code == 400, r.text
    assert sorted(r.json()["missing"]) == sorted(hashes[2:])
    assert "have not been uploaded" in r.json()["message"]
    for sha in r.json()["missing"]:
        assert (await put_chunk(api, pkg.chunks[sha])).status_code == 201
    assert (await commit(api, "resumed", "1.0.0", pkg.body)).status_code == 201


async def test_chunk_uploads_are_checked(feed_api: Api) -> None:
    api = feed_api
    data = os.urandom(100)
    wrong = await put_chunk(api, data, sha=hashlib.sha256(b"other").hexdigest())
    assert wrong.status_code == 400 and wrong.json()["message"] == "chunk bytes do not match their sha256"
    for bad in ("ABC", "A" * 64, "g" * 64, "0" * 63):
        r = await put_chunk(api, data, sha=bad)
        assert r.status_code == 400 and "64 lower-case hex" in r.json()["message"], r.text
    big = os.urandom(MAX_CHUNK_BYTES + 1)
    r = await put_chunk(api, big)
    assert r.status_code == 413, r.text
    empty = await put_chunk(api, b"")
    assert empty.status_code == 400
    post = await api.http.post(f"{base()}/chunks/{hashlib.sha256(data).hexdigest()}", headers=api.auth("alice"))
    assert post.status_code == 405


async def test_chunk_queries_are_checked(feed_api: Api) -> None:
    api = feed_api
    url = f"{base()}/chunks/query"
    for body in ({"chunks": ["A" * 64]}, {"chunks": "x"}, {"hashes": []}, [], {"chunks": [1]}):
        r = await api.http.post(url, json=body, headers=api.auth("alice"))
        assert r.status_code == 400, (body, r.text)
    r = await api.http.post(url, json={"chunks": ["0" * 64] * 10_001}, headers=api.auth("alice"))
    assert r.status_code == 400 and "at most 10000" in r.json()["message"]
    r = await api.http.post(url, content=b"{not json", headers=api.auth("alice"))
    assert r.status_code == 400
    r = await api.http.get(url, headers=api.auth("alice"))
    assert r.status_code == 405


def _document(**file: object) -> dict[str, object]:
    entry: dict[str, object] = {"path": "a.txt", "size": 3, "mode": 420, "chunks": [{"sha256": "a" * 64, "size": 3}]}
    entry.update(file)
    return {"format": 1, "files": [entry]}


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (_document(path="../escape"), "'..' segment"),
        (_document(path="a/../../b"), "'..' segment"),
        (_document(path="/etc/passwd"), "absolute"),
        (_document(path="C:/x"), "colon"),
        (_document(path="a\\b"), "backslash"),
        (_document(mode=0o120777), "symbolic link"),
        (_document(mode=0o4755), "setuid"),
        (_document(size=4), "add up to 3 bytes"),
        (_document(chunks=[{"sha256": "A" * 64, "size": 3}]), "64 lower-case hex"),
        (_document(extra=1), "unknown key"),
        ({"format": 2, "files": []}, "format must be 1"),
        ({"files": []}, "no 'format'"),
    ],
)
async def test_hostile_manifests_are_refused(feed_api: Api, document: dict[str, object], why: str) -> None:
    r = await commit(feed_api, "pkg", "1.0.0", hostile(document))
    assert r.status_code == 400, r.text
    assert why in r.json()["message"], r.text


async def test_duplicate_paths_and_a_file_under_a_file_are_refused(feed_api: Api) -> None:
    chunk = {"sha256": "a" * 64, "size": 3}
    for paths, why in (
        (["a.txt", "a.txt"], "listed twice"),
        (["A.txt", "a.txt"], "ignoring case"),
        (["a", "a/b"], "also a directory"),
    ):
        files = [{"path": p, "size": 3, "mode": 420, "chunks": [chunk]} for p in paths]
        r = await commit(feed_api, "pkg", "1.0.0", hostile({"format": 1, "files": files}))
        assert r.status_code == 400 and why in r.json()["message"], r.text


async def test_sizes_and_the_total_hash_must_match_what_was_uploaded(feed_api: Api) -> None:
    api = feed_api
    data = os.urandom(500)
    sha = hashlib.sha256(data).hexdigest()
    assert (await put_chunk(api, data)).status_code == 201
    lying = {"format": 1, "files": [{"path": "x", "size": 400, "mode": 420, "chunks": [{"sha256": sha, "size": 400}]}]}
    r = await commit(api, "pkg", "1.0.0", hostile(lying))
    assert r.status_code == 400 and "is 500 bytes, but the manifest gives 400" in r.json()["message"], r.text
    honest = {"format": 1, "files": [{"path": "x", "size": 500, "mode": 420, "chunks": [{"sha256": sha, "size": 500}]}]}
    r = await commit(api, "pkg", "1.0.0", hostile(honest), headers={"X-Upack-Total-Hash": "0" * 64})
    assert r.status_code == 400 and "does not match the manifest" in r.json()["message"], r.text
    r = await commit(api, "pkg", "1.0.0", hostile(honest), headers={"X-Upack-Total-Hash": "nope"})
    assert r.status_code == 400
    # Any spacing and key order: the canonical form is what is stored and what the total hash names.
    spaced = json.dumps(honest, indent=3).encode()
    r = await commit(api, "pkg", "1.0.0", spaced)
    assert r.status_code == 201, r.text
    stored = await api.http.get(f"{base()}/packages/pkg/versions/1.0.0", headers=api.auth("bob"))
    assert stored.content != spaced and json.loads(stored.content) == honest
    assert r.json()["totalHash"] == hashlib.sha256(stored.content).hexdigest()


async def test_malformed_and_huge_manifests_are_refused(feed_api: Api) -> None:
    api = feed_api
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (b"", b"{", b"[]", deep, b'{"format": 1, "files": [' + b"1," * 10 + b"1]}"):
        r = await commit(api, "pkg", "1.0.0", body)
        assert r.status_code == 400, (body[:20], r.text)


async def test_a_manifest_beyond_the_upload_limit_is_413(make_settings: SettingsFactory, clock: MutableClock) -> None:
    async with running_api(make_settings(max_upload_bytes=64 * 1024), clock) as api:
        await api.create_feed("feed")
        r = await commit(api, "pkg", "1.0.0", b" " * (64 * 1024 + 1), who="admin")
        assert r.status_code == 413, r.text


async def test_bad_names_versions_and_paths_are_400_or_404(feed_api: Api) -> None:
    api = feed_api
    body = random_package().body
    for name, version, why in (
        ("My-Tool", "1.0.0", "lower-case"),
        ("-tool", "1.0.0", "invalid package name"),
        ("tool", "1.0", "not a semantic version"),
        ("tool", "1.0.0+build", "build metadata"),
        ("tool", "1.0.0-RC1", "lower-case"),
    ):
        r = await commit(api, name, version, body)
        assert r.status_code == 400 and why in r.json()["message"], r.text
    for path in ("packages/a%2Fb", "packages/%2E%2E/versions/1.0.0", "packages/tool/versions/1.0.0/chunks/a%00"):
        r = await api.http.get(f"{base()}/{path}", headers=api.auth("bob"))
        assert r.status_code == 400 and "invalid path" in r.json()["message"], (path, r.text)
    for path in ("nothing", "packages/tool/other", "packages/tool/versions/1.0.0/chunks", "chunks/a/b"):
        r = await api.http.get(f"{base()}/{path}", headers=api.auth("bob"))
        assert r.status_code in (400, 404, 405), (path, r.text)
    assert (await api.http.get(f"{base()}/packages/tool", headers=api.auth("bob"))).status_code == 404
    assert (await api.http.get(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("bob"))).status_code == 404


async def test_roles(feed_api: Api) -> None:
    api = feed_api
    pkg = random_package()
    data = next(iter(pkg.chunks.values()))
    for who in ("bob", "carol"):
        assert (await query(api, list(pkg.chunks), who=who)).status_code == 403
        assert (await put_chunk(api, data, who=who)).status_code == 403
        assert (await commit(api, "pkg", "1.0.0", pkg.body, who=who)).status_code == 403
    anonymous = await api.http.post(f"{base()}/chunks/query", json={"chunks": []})
    assert anonymous.status_code == 401 and "Basic" in anonymous.headers["www-authenticate"]
    await publish(api, "pkg", "1.0.0", pkg)
    # Uploaded to the feed but in no version: a reader cannot fetch it through any version.
    stray = os.urandom(200)
    assert (await put_chunk(api, stray)).status_code == 201
    stray_sha = hashlib.sha256(stray).hexdigest()
    r = await api.http.get(f"{base()}/packages/pkg/versions/1.0.0/chunks/{stray_sha}", headers=api.auth("bob"))
    assert r.status_code == 404 and "not part of pkg@1.0.0" in r.json()["message"]
    listed = next(iter(pkg.chunks))
    r = await api.http.get(f"{base()}/packages/pkg/versions/1.0.0/chunks/{listed}", headers=api.auth("bob"))
    assert r.status_code == 200
    await api.token("dave", "vso.packaging")
    r = await api.http.get(f"{base()}/packages/pkg", headers=api.auth("dave"))
    assert r.status_code == 403
    # A token's scope caps its owner's role: a contributor's read token (vso.packaging) uploads nothing.
    api.tokens.pop("alice", None)
    await api.token("alice", "vso.packaging")
    other = random_package()
    r = await query(api, list(other.chunks))
    assert r.status_code == 403 and "scope" in r.json()["message"]
    r = await put_chunk(api, next(iter(other.chunks.values())))
    assert r.status_code == 403 and "scope" in r.json()["message"]
    assert (await commit(api, "pkg", "2.0.0", pkg.body)).status_code == 403
    r = await api.http.get(f"{base()}/packages/pkg/versions/1.0.0/chunks/{listed}", headers=api.auth("alice"))
    assert r.status_code == 200


async def test_a_chunk_of_another_version_is_not_served_through_this_one(feed_api: Api) -> None:
    one, two = random_package(), random_package()
    await publish(feed_api, "pkg", "1.0.0", one)
    await publish(feed_api, "pkg", "2.0.0", two)
    sha = next(iter(two.chunks))
    r = await feed_api.http.get(f"{base()}/packages/pkg/versions/1.0.0/chunks/{sha}", headers=feed_api.auth("bob"))
    assert r.status_code == 404 and "not part of pkg@1.0.0" in r.json()["message"]
    r = await feed_api.http.get(f"{base()}/packages/pkg/versions/2.0.0/chunks/{sha}", headers=feed_api.auth("bob"))
    assert r.status_code == 200 and r.content == two.chunks[sha]


async def test_parallel_chunk_reads_on_a_cold_cache_read_the_manifest_once(
    feed_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client fetches 8 chunks at once: with no hashes kept for the version, one load serves all of them."""
    pkg = random_package(files=4, size=4000)
    await publish(feed_api, "pkg", "1.0.0", pkg)
    calls = 0
    real = stored_chunk_hashes

    def counting(canonical: bytes) -> frozenset[str]:
        nonlocal calls
        calls += 1
        return real(canonical)

    monkeypatch.setattr(upack_service, "stored_chunk_hashes", counting)
    service = feed_api.services.upack
    service._manifests.clear()
    service._hashes_kept = 0
    shas = list(pkg.chunks)[:8]
    answers = await asyncio.gather(
        *(
            feed_api.http.get(f"{base()}/packages/pkg/versions/1.0.0/chunks/{sha}", headers=feed_api.auth("bob"))
            for sha in [*shas, "0" * 64]
        )
    )
    assert [a.status_code for a in answers] == [200] * len(shas) + [404]
    assert calls == 1, f"the manifest was read {calls} times for {len(answers)} parallel chunk reads"
    assert not service._loading


async def test_one_feed_cannot_learn_which_chunks_another_holds(feed_api: Api) -> None:
    api = feed_api
    await api.create_feed("other")
    await api.staff("other")
    pkg = random_package()
    await publish(api, "pkg", "1.0.0", pkg)
    hashes = list(pkg.chunks)
    r = await query(api, hashes, feed="other")
    assert r.json()["missing"] == hashes
    # Nor by committing a manifest of those chunks without sending them.
    r = await commit(api, "pkg", "1.0.0", pkg.body, feed="other")
    assert r.status_code == 400 and sorted(r.json()["missing"]) == sorted(hashes)
    # Sent again, the bytes are kept once; both feeds then serve them.
    await publish(api, "pkg", "1.0.0", pkg, feed="other")
    for feed in ("feed", "other"):
        for sha, data in pkg.chunks.items():
            c = await api.http.get(f"{base(feed)}/packages/pkg/versions/1.0.0/chunks/{sha}", headers=api.auth("bob"))
            assert c.content == data


@pytest.mark.parametrize("backend", ["embedded"])  # counting tasks needs one backend: 20,000 chunk reads
async def test_a_commit_of_many_unsent_chunks_keeps_few_tasks_and_lists_a_bounded_number(
    feed_api: Api, backend: str
) -> None:
    """Checking a commit's chunks takes a fixed number of tasks, not one per chunk; the answer lists at most
    ``MAX_MISSING_LISTED`` of them and says how many there are."""
    n = MAX_MISSING_LISTED + 5_000
    chunks = [{"sha256": f"{i:064x}", "size": 1} for i in range(n)]
    body = json.dumps({"format": 1, "files": [{"path": "f", "size": n, "mode": 420, "chunks": chunks}]}).encode()
    peak = 0
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, len(asyncio.all_tasks()))
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    try:
        r = await commit(feed_api, "big", "1.0.0", body)
    finally:
        done = True
        await sampler
    assert r.status_code == 400, r.text
    assert r.json()["missing"] == [c["sha256"] for c in chunks[:MAX_MISSING_LISTED]]
    assert f"{n} chunks" in r.json()["message"]
    assert peak < 200, f"{peak} tasks alive at once for one commit"


async def test_a_commit_after_gc_took_a_chunks_bytes_names_it_missing_then_succeeds(feed_api: Api) -> None:
    """The feed's row says it has a chunk, but its blob is gone (collected while no version referenced it):
    the commit says it is missing rather than commit a hole."""
    api = feed_api
    pkg = random_package()
    for data in pkg.chunks.values():
        assert (await put_chunk(api, data)).status_code == 201
    gone = next(iter(pkg.chunks))
    await api.services.storage.blobs.delete(content_key(gone))
    assert (await query(api, list(pkg.chunks))).json()["missing"] == []  # the row still claims it
    r = await commit(api, "pkg", "1.0.0", pkg.body)
    assert r.status_code == 400 and r.json()["missing"] == [gone], r.text
    assert (await put_chunk(api, pkg.chunks[gone])).status_code == 201
    assert (await commit(api, "pkg", "1.0.0", pkg.body)).status_code == 201


async def test_an_odd_description_is_kept_or_refused_never_a_500(feed_api: Api) -> None:
    pkg = random_package()
    r = await query(feed_api, list(pkg.chunks))
    for sha in r.json()["missing"]:
        assert (await put_chunk(feed_api, pkg.chunks[sha])).status_code == 201
    r = await commit(feed_api, "pkg", "1.0.0", pkg.body, params={"description": "a\x00b\ud7ff\x7f" + "x" * 5000})
    assert r.status_code in (201, 400), r.text
    if r.status_code == 201:
        rest = await feed_api.http.get(
            "/local/_apis/packaging/feeds/feed/upack/packages/pkg/versions/1.0.0", headers=feed_api.auth()
        )
        assert rest.status_code == 200, rest.text


async def test_a_version_is_written_once_and_a_deleted_one_stays_reserved(feed_api: Api) -> None:
    api = feed_api
    pkg = random_package()
    await publish(api, "pkg", "1.0.0", pkg)
    r = await commit(api, "pkg", "1.0.0", random_package().body)
    assert r.status_code == 409 and "already exists" in r.json()["message"]
    rest = "/local/_apis/packaging/feeds/feed/upack/packages/pkg/versions/1.0.0"
    assert (await api.http.delete(rest, headers=api.auth("bob"))).status_code == 403
    assert (await api.http.delete(rest, headers=api.auth("alice"))).status_code == 200
    r = await commit(api, "pkg", "1.0.0", pkg.body)
    assert r.status_code == 409 and "reserved" in r.json()["message"]
    gone = await api.http.get(f"{base()}/packages/pkg/versions/1.0.0", headers=api.auth("bob"))
    assert gone.status_code == 404
    assert (await api.http.get(f"{base()}/packages/pkg", headers=api.auth("bob"))).status_code == 404


async def test_views_show_what_was_promoted(feed_api: Api) -> None:
    api = feed_api
    pkg = random_package()
    await publish(api, "pkg", "1.0.0", pkg)
    await publish(api, "pkg", "2.0.0", random_package())
    release = base(view="Release")
    sha = next(iter(pkg.chunks))
    assert (await api.http.get(f"{release}/packages/pkg", headers=api.auth("bob"))).status_code == 404
    r = await api.http.get(f"{release}/packages/pkg/versions/1.0.0/chunks/{sha}", headers=api.auth("bob"))
    assert r.status_code == 404
    rest = "/local/_apis/packaging/feeds/feed/upack/packages/pkg/versions/1.0.0"
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    assert (await api.http.patch(rest, json=promote, headers=api.auth("bob"))).status_code == 403
    r = await api.http.patch(rest, json=promote, headers=api.auth("alice"))
    assert r.status_code in (200, 202, 204), r.text
    listing = await api.http.get(f"{release}/packages/pkg", headers=api.auth("bob"))
    assert [v["version"] for v in listing.json()["versions"]] == ["1.0.0"]
    r = await api.http.get(f"{release}/packages/pkg/versions/1.0.0/chunks/{sha}", headers=api.auth("bob"))
    assert r.status_code == 200 and r.content == pkg.chunks[sha]
    r = await commit(api, "pkg", "3.0.0", pkg.body, feed="feed@Release")
    assert r.status_code == 400 and "not to a view" in r.json()["message"]
    r = await query(api, [sha], feed="feed@Release")
    assert r.status_code == 400 and "not to a view" in r.json()["message"]
    r = await put_chunk(api, pkg.chunks[sha], feed="feed@Release")
    assert r.status_code == 400 and "not to a view" in r.json()["message"]


async def test_upstreaming_behaviour_of_a_universal_package(feed_api: Api) -> None:
    api = feed_api
    url = "/local/_apis/packaging/feeds/feed/upack/packages/pkg/upstreaming"
    r = await api.http.get(url, headers=api.auth("bob"))
    assert r.status_code == 200 and r.json() == {"versionsFromExternalUpstreams": "auto"}
    r = await api.http.patch(url, json={"versionsFromExternalUpstreams": "allowExternalVersions"}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert (await api.http.get(url, headers=api.auth("bob"))).json()["versionsFromExternalUpstreams"] == (
        "allowExternalVersions"
    )
    bad = await api.http.get("/local/_apis/packaging/feeds/feed/upack/packages/Bad/upstreaming", headers=api.auth())
    assert bad.status_code == 400


async def _blob_keys(api: Api) -> set[str]:
    return {b.key async for b in api.services.storage.blobs.list_blobs("")}


def _keys(pkg: Package) -> set[str]:
    return {content_key(sha) for sha in pkg.chunks}


async def test_gc_keeps_the_chunks_of_live_versions_and_removes_the_rest(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings().model_copy(update={"gc_grace_hours": 0}), clock) as api:
        await api.token("alice")
        for feed in ("feed", "other"):
            await api.create_feed(feed)
            await api.grant(feed, "alice", "contributor")
        live, deleted, purged, elsewhere = (random_package() for _ in range(4))
        await publish(api, "live", "1.0.0", live)
        await publish(api, "deleted", "1.0.0", deleted)
        await publish(api, "purged", "1.0.0", purged)
        await publish(api, "elsewhere", "1.0.0", elsewhere, feed="other")
        stray = os.urandom(300)
        assert (await put_chunk(api, stray)).status_code == 201
        stray_key = content_key(hashlib.sha256(stray).hexdigest())
        rest = "/local/_apis/packaging/feeds/feed/upack/packages"
        assert (await api.http.delete(f"{rest}/deleted/versions/1.0.0", headers=api.auth())).status_code == 200
        assert (await api.http.delete(f"{rest}/purged/versions/1.0.0", headers=api.auth())).status_code == 200
        # Out of the recycle bin for good: the row only keeps the number.
        binned = "/local/_apis/packaging/feeds/feed/upack/RecycleBin/packages/purged/versions/1.0.0"
        assert (await api.http.get(binned, headers=api.auth())).status_code == 200
        assert (await api.http.delete(binned, headers=api.auth())).status_code == 200

        report = await jobs.run_gc(api.services)
        left = await _blob_keys(api)
        # The purged version's chunks stay while the feed's rows of them are recent (a publish may reuse them).
        assert _keys(live) | _keys(deleted) | _keys(elsewhere) | _keys(purged) | {stray_key} <= left
        assert manifest_key(purged.manifest.total_hash) not in left
        assert manifest_key(live.manifest.total_hash) in left
        assert report.chunk_rows_removed == 0

        clock.advance(days=4)
        other = await api.services.feeds.find("local", None, "other")
        assert (await api.http.delete("/local/_apis/packaging/feeds/other", headers=api.auth())).status_code == 204
        purge = await api.http.delete(f"/local/_apis/packaging/feedrecyclebin/{other.id}", headers=api.auth())
        assert purge.status_code == 204
        assert await api.services.upack.chunks.rows(other.id) == []
        dry = await jobs.run_gc(api.services, dry_run=True)
        assert dry.chunk_rows_removed == len(purged.chunks) + 1 and stray_key in await _blob_keys(api)
        report = await jobs.run_gc(api.services)
        assert report.chunk_rows_removed == len(purged.chunks) + 1
        assert "Universal Package chunks" in report.summary()
        left = await _blob_keys(api)
        assert _keys(live) | _keys(deleted) <= left
        assert not (_keys(elsewhere) | _keys(purged) | {stray_key}) & left
        missing = (await query(api, [*live.chunks, *purged.chunks])).json()["missing"]
        assert missing == list(purged.chunks)
        for sha, data in live.chunks.items():
            r = await api.http.get(f"{base()}/packages/live/versions/1.0.0/chunks/{sha}", headers=api.auth())
            assert r.content == data


async def test_gc_reads_a_manifest_once_however_many_versions_share_it(
    make_settings: SettingsFactory, clock: MutableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same content published as two versions and in two feeds: one manifest blob, read once per gc run,
    and its chunks count for both feeds."""
    async with running_api(make_settings().model_copy(update={"gc_grace_hours": 0}), clock) as api:
        await api.token("alice")
        for feed in ("feed", "other"):
            await api.create_feed(feed)
            await api.grant(feed, "alice", "contributor")
        pkg = random_package()
        await publish(api, "pkg", "1.0.0", pkg)
        await publish(api, "pkg", "1.0.1", pkg)
        await publish(api, "same", "2.0.0", pkg, feed="other")
        reads: list[str] = []
        store = api.services.packages.store
        real = store._listed_chunks

        async def counting(key: str) -> set[str]:
            reads.append(key)
            return await real(key)

        monkeypatch.setattr(store, "_listed_chunks", counting)
        clock.advance(days=4)  # the chunk rows are stale: only the versions keep them
        report = await jobs.run_gc(api.services)
        assert reads == [manifest_key(pkg.manifest.total_hash)]
        assert report.chunk_rows_removed == 0 and _keys(pkg) <= await _blob_keys(api)
        for feed in ("feed", "other"):
            assert (await query(api, list(pkg.chunks), feed=feed)).json()["missing"] == []


async def test_a_deleted_version_is_restored_from_the_recycle_bin(feed_api: Api) -> None:
    api = feed_api
    pkg = random_package()
    await publish(api, "pkg", "1.0.0", pkg)
    rest = "/local/_apis/packaging/feeds/feed/upack"
    assert (await api.http.delete(f"{rest}/packages/pkg/versions/1.0.0", headers=api.auth("alice"))).status_code == 200
    listed = await api.http.get("/local/_apis/packaging/feeds/feed/RecycleBin/Packages", headers=api.auth())
    assert listed.status_code == 200 and "pkg" in listed.text, listed.text
    binned = f"{rest}/RecycleBin/packages/pkg/versions/1.0.0"
    r = await api.http.patch(binned, json={"deleted": False}, headers=api.auth())
    assert r.status_code in (200, 202, 204), r.text
    m = await api.http.get(f"{base()}/packages/pkg/versions/1.0.0", headers=api.auth("bob"))
    assert m.status_code == 200 and m.content == pkg.manifest.canonical_json


async def test_a_manifest_download_is_recorded_for_retention_and_a_head_or_chunk_read_is_not(feed_api: Api) -> None:
    api = feed_api
    pkg = random_package()
    await publish(api, "tool", "1.0.0", pkg)
    feed = await api.services.feeds.find(ORG, None, "feed")
    store = api.services.downloads.store
    head = await api.http.head(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("bob"))
    assert head.status_code == 200
    sha = next(iter(pkg.chunks))
    chunk = await api.http.get(f"{base()}/packages/tool/versions/1.0.0/chunks/{sha}", headers=api.auth("bob"))
    assert chunk.status_code == 200
    await api.services.downloads.flush()
    assert set(await store.package(feed.id, "upack", "tool")) == set()
    got = await api.http.get(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("bob"))
    assert got.status_code == 200
    await api.services.downloads.flush()
    assert set(await store.package(feed.id, "upack", "tool")) == {"1.0.0"}
