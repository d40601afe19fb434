"""Review probes (branch review-b): server defects in the Universal Packages wire. Tests named ``probe_`` FAIL on
3ae0dc6 where a defect is claimed; ``guard_`` tests pass and pin behaviour the suite does not cover."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

import feed_core.service.upack as upack_service
from tests.api.conftest import Api
from tests.api.upack_helpers import base, commit, publish, put_chunk, query, random_package


async def test_probe_a_commit_holds_one_task_per_chunk_at_once(feed_api: Api, backend: str) -> None:
    """A contributor's commit of a manifest naming N never-sent chunks makes ``get_many``/``_check_chunks`` create
    N tasks at once (the semaphore bounds I/O, not tasks): up to 500,000 per request at the default limits
    (~1 KB+ each), plus N point reads and an N-hash 400 body."""
    if backend != "embedded":
        pytest.skip("one backend is enough to count tasks")
    n = 20_000
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
    assert r.status_code == 400 and len(r.json()["missing"]) == n
    assert peak < 1_000, f"{peak} tasks alive at once for one commit"


async def test_probe_cold_chunk_reads_parse_the_manifest_once(feed_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """``chunk_in`` has no single flight: parallel chunk GETs on a cold cache (the client fetches 8 at once) each
    read and parse the whole manifest (up to 64 MiB, hundreds of MB parsed) in a thread."""
    pkg = random_package(files=4, size=4000)
    await publish(feed_api, "pkg", "1.0.0", pkg)
    calls = 0
    real = upack_service.parse_manifest

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(upack_service, "parse_manifest", counting)
    upack_service_obj = feed_api.services.upack
    upack_service_obj._manifests.clear()
    upack_service_obj._hashes_kept = 0
    shas = list(pkg.chunks)[:8]
    answers = await asyncio.gather(
        *(
            feed_api.http.get(f"{base()}/packages/pkg/versions/1.0.0/chunks/{sha}", headers=feed_api.auth("bob"))
            for sha in shas
        )
    )
    assert all(a.status_code == 200 for a in answers)
    assert calls == 1, f"the manifest was parsed {calls} times for {len(shas)} parallel chunk reads"


async def test_guard_a_read_scoped_token_cannot_upload_even_for_a_contributor(feed_api: Api) -> None:
    """Token scope caps the role (vso.packaging -> at most collaborator): not covered by test_roles."""
    api = feed_api
    api.tokens.pop("alice", None)
    await api.token("alice", "vso.packaging")
    pkg = random_package()
    data = next(iter(pkg.chunks.values()))
    assert (await query(api, list(pkg.chunks))).status_code == 403
    r = await put_chunk(api, data)
    assert r.status_code == 403 and "scope" in r.json()["message"]
    assert (await commit(api, "pkg", "1.0.0", pkg.body)).status_code == 403


async def test_guard_a_nul_or_odd_description_is_not_a_500(feed_api: Api) -> None:
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


async def test_guard_a_chunk_of_another_version_is_not_served_through_this_one(feed_api: Api) -> None:
    one, two = random_package(), random_package()
    await publish(feed_api, "pkg", "1.0.0", one)
    await publish(feed_api, "pkg", "2.0.0", two)
    sha = next(iter(two.chunks))
    r = await feed_api.http.get(f"{base()}/packages/pkg/versions/1.0.0/chunks/{sha}", headers=feed_api.auth("bob"))
    assert r.status_code == 404
    assert hashlib.sha256(two.chunks[sha]).hexdigest() == sha


async def test_guard_a_commit_after_gc_took_a_chunks_bytes_names_it_missing_then_succeeds(feed_api: Api) -> None:
    """The resume path the suite leaves untested on the server: the feed's row says it has a chunk, its blob is
    gone (collected while no version referenced it); the commit must say 'missing', not commit a hole."""
    from feed_core.storage.packages import content_key

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
