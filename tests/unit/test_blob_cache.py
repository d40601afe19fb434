"""The per-worker cache of small package files: bounded in bytes, only small whole blobs, one read per miss."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from feed_core.domain.errors import NotFoundError
from feed_core.service.blob_cache import BlobCache


def _reader(data: bytes | None, reads: list[int]) -> Callable[[], Awaitable[bytes | None]]:
    async def read() -> bytes | None:
        reads.append(1)
        await asyncio.sleep(0)
        return data

    return read


def test_the_cache_never_holds_more_than_its_bytes_least_recent_out_first() -> None:
    cache = BlobCache(max_bytes=100, max_blob_bytes=60)
    for i in range(10):
        cache.put(f"k{i}", bytes(30))
        assert cache.size_bytes <= 100
    assert len(cache) == 3 and cache.size_bytes == 90
    assert cache.get("k0") is None and cache.get("k9") == bytes(30)
    cache.get("k7")  # used: k8 is now the least recent
    cache.put("k10", bytes(30))
    assert cache.get("k7") is not None and cache.get("k8") is None


def test_a_blob_above_the_threshold_or_the_budget_is_never_kept() -> None:
    cache = BlobCache(max_bytes=1000, max_blob_bytes=60)
    cache.put("big", bytes(61))
    assert cache.get("big") is None and cache.size_bytes == 0
    cache.put("edge", bytes(60))
    assert cache.get("edge") == bytes(60)
    tight = BlobCache(max_bytes=50, max_blob_bytes=60)
    assert not tight.holds(51)
    tight.put("k", bytes(51))
    assert len(tight) == 0


def test_a_budget_of_zero_turns_it_off() -> None:
    cache = BlobCache(max_bytes=0, max_blob_bytes=1024)
    assert not cache.holds(0) and not cache.holds(10)
    cache.put("k", b"x")
    assert len(cache) == 0


async def test_concurrent_misses_share_one_read_and_later_ones_none() -> None:
    cache = BlobCache(max_bytes=1000, max_blob_bytes=100)
    reads: list[int] = []
    got = await asyncio.gather(*(cache.load("k", 5, _reader(b"hello", reads)) for _ in range(8)))
    assert got == [b"hello"] * 8 and len(reads) == 1
    assert await cache.load("k", 5, _reader(b"other", reads)) == b"hello" and len(reads) == 1


async def test_bytes_that_are_not_the_whole_blob_are_not_kept() -> None:
    cache = BlobCache(max_bytes=1000, max_blob_bytes=100)
    reads: list[int] = []
    assert await cache.load("k", 6, _reader(b"hello", reads)) is None
    assert await cache.load("k", 6, _reader(None, reads)) is None
    assert len(cache) == 0 and len(reads) == 2


async def test_a_failed_read_is_shared_and_not_kept() -> None:
    cache = BlobCache(max_bytes=1000, max_blob_bytes=100)

    async def missing() -> bytes:
        raise NotFoundError("the content of x.tgz is missing")

    with pytest.raises(NotFoundError):
        await cache.load("k", 5, missing)
    assert len(cache) == 0
