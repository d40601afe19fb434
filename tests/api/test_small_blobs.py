"""Small package files are sent by the worker, from its memory once read; large ones are still redirected to
storage on Azure. Storage calls counted at the ports, on both backends."""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

import httpx

from feed_core.service.blob_cache import BlobCache
from tests.api.conftest import SettingsFactory
from tests.api.test_warm_reads import Worker, worker
from tests.npm_packages import make_tarball, publish_body

THRESHOLD = 8192
SMALL = make_tarball("small", "1.0.0")
BIG = make_tarball("big", "1.0.0", code=f"module.exports = {secrets.token_hex(20_000)!r};\n")


async def _publish(w: Worker, name: str, tarball: bytes) -> None:
    api = w.api
    body = publish_body(name, "1.0.0", tarball=tarball)
    r = await api.http.put(api.registry() + name, json=body, headers=api.auth("alice"))
    assert r.status_code == 201, r.text


async def _set_up(w: Worker) -> None:
    await w.api.create_feed("feed")
    await w.api.staff("feed")
    await _publish(w, "small", SMALL)
    await _publish(w, "big", BIG)


async def _download(w: Worker, name: str, method: str = "GET", **headers: str) -> httpx.Response:
    api = w.api
    url = f"{api.registry()}{name}/-/{name}-1.0.0.tgz"
    return await api.http.request(method, url, headers={**api.auth("bob"), **headers})


def test_the_fixture_files_straddle_the_threshold() -> None:
    assert len(SMALL) < THRESHOLD <= len(BIG)


async def test_on_azure_a_small_file_is_sent_by_the_worker_and_a_large_one_redirected(
    make_settings: SettingsFactory, backend: str
) -> None:
    settings = make_settings(download_redirect=True, download_redirect_min_bytes=THRESHOLD, cache_seconds=60)
    async with worker(settings) as w:
        await _set_up(w)
        w.reset()
        small = await _download(w, "small")
        assert small.status_code == 200 and small.content == SMALL
        assert small.headers["content-length"] == str(len(SMALL))
        assert w.blobs.calls == {"read_all": 1}  # no SAS URL made for it either
        w.reset()
        again = await _download(w, "small")
        assert again.status_code == 200 and again.content == SMALL
        assert w.calls == 0, (w.tables.calls, w.blobs.calls)
        big = await _download(w, "big")
        if backend == "azurite":
            assert big.status_code == 302
            assert settings.blob_container in big.headers["location"] and "sig=" in big.headers["location"]
            assert big.headers["cache-control"] == "no-store"
            assert urlsplit(big.headers["location"]).hostname == "127.0.0.1"
            async with httpx.AsyncClient(trust_env=False, timeout=30) as storage:  # Azurite, on 127.0.0.1
                fetched = await storage.get(big.headers["location"])  # no Authorization: the SAS is the credential
            assert fetched.status_code == 200 and fetched.content == BIG
        else:  # the embedded store has no URL to hand out: it streams
            assert big.status_code == 200 and big.content == BIG
        assert len(w.api.services.blobs) == 1  # the large file is never kept


async def test_a_second_download_of_a_small_file_makes_no_storage_call(make_settings: SettingsFactory) -> None:
    settings = make_settings(cache_seconds=60, read_freshness_seconds=60)
    async with worker(settings) as w:
        await _set_up(w)
        assert (await _download(w, "small")).content == SMALL
        w.reset()
        for _ in range(5):
            r = await _download(w, "small")
            assert r.status_code == 200 and r.content == SMALL
            assert r.headers["etag"] == f'"{hashlib.sha256(SMALL).hexdigest()}"'
        assert w.calls == 0, (w.tables.calls, w.blobs.calls)


async def test_head_and_if_none_match_answer_as_before_from_memory_or_not(make_settings: SettingsFactory) -> None:
    settings = make_settings(cache_seconds=60, read_freshness_seconds=60)
    async with worker(settings) as w:
        await _set_up(w)
        w.reset()
        # Before the file is read: HEAD and 304 read no bytes (the version row tells the size).
        head = await _download(w, "small", "HEAD")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(SMALL))
        etag = head.headers["etag"]
        assert (await _download(w, "small", **{"If-None-Match": etag})).status_code == 304
        assert w.blobs.total == 0, w.blobs.calls
        full = await _download(w, "small")
        assert full.headers["etag"] == etag and "immutable" in full.headers["cache-control"]
        assert full.headers["content-disposition"] == 'attachment; filename="small-1.0.0.tgz"'
        # Once kept: the same answers, still with no storage call.
        w.reset()
        head = await _download(w, "small", "HEAD")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(SMALL))
        assert head.headers["etag"] == etag and head.content == b""
        assert (await _download(w, "small", **{"If-None-Match": etag})).status_code == 304
        assert (await _download(w, "small", **{"If-None-Match": '"other"'})).content == SMALL
        assert w.calls == 0, (w.tables.calls, w.blobs.calls)


async def test_with_the_cache_off_every_download_reads_storage(make_settings: SettingsFactory) -> None:
    settings = make_settings(blob_cache_bytes=0, cache_seconds=60, read_freshness_seconds=60)
    async with worker(settings) as w:
        await _set_up(w)
        w.reset()
        for _ in range(3):
            assert (await _download(w, "small")).content == SMALL
        assert w.blobs.calls == {"read": 3}
        assert len(w.api.services.blobs) == 0


async def test_the_cache_holds_at_most_its_bytes_and_only_files_below_the_threshold(
    make_settings: SettingsFactory,
) -> None:
    budget = 3 * len(SMALL)
    settings = make_settings(blob_cache_bytes=budget, download_redirect_min_bytes=THRESHOLD, cache_seconds=60)
    async with worker(settings) as w:
        await _set_up(w)
        names = [f"small{i}" for i in range(6)]
        tarballs = {n: make_tarball(n, "1.0.0") for n in names}
        for n in names:
            await _publish(w, n, tarballs[n])
        cache: BlobCache = w.api.services.blobs
        for n in [*names, "big"]:
            r = await _download(w, n)
            assert r.status_code == 200 and r.content == (tarballs[n] if n != "big" else BIG)
            assert cache.size_bytes <= budget
        assert 0 < len(cache) <= 3 and cache.size_bytes <= budget
        w.reset()
        assert (await _download(w, names[-1])).content == tarballs[names[-1]]  # the most recent: kept
        assert (await _download(w, "big")).content == BIG  # never kept
        assert w.blobs.calls["read"] == 1 and w.blobs.calls["read_all"] == 0  # the large file streamed


async def test_package_files_are_never_sniffed_by_a_browser(make_settings: SettingsFactory, backend: str) -> None:
    """A hostile package file must not be guessed into an HTML page on the feed's origin."""
    async with worker(make_settings(download_redirect=False)) as w:
        await _set_up(w)
        for name in ("small", "big"):
            r = await _download(w, name)
            assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
