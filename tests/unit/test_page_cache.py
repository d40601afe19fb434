"""The built-page cache: least recently used out first, bodies and gzipped copies counted."""

from __future__ import annotations

import random

from feed_core.service.page_cache import PageCache


def body(n: int, fill: bytes = b"x") -> bytes:
    return fill * n


def test_least_recently_used_pages_go_first_when_over_the_byte_limit() -> None:
    cache = PageCache(max_bytes=3000)
    cache.put(("a",), "g", body(1000), {})
    cache.put(("b",), "g", body(1000), {})
    cache.put(("c",), "g", body(1000), {})
    assert cache.get(("a",), "g") is not None  # a is now the most recent
    cache.put(("d",), "g", body(1000), {})
    assert cache.get(("b",), "g") is None
    assert all(cache.get((k,), "g") is not None for k in "acd")
    assert cache.size_bytes == 3000


def test_a_stale_generation_is_a_miss_and_a_replaced_page_is_not_counted_twice() -> None:
    cache = PageCache(max_bytes=10_000)
    cache.put(("a",), "g1", body(1000), {})
    assert cache.get(("a",), "g2") is None
    cache.put(("a",), "g2", body(500), {})
    assert cache.size_bytes == 500 and len(cache) == 1


def test_gzipped_copies_count_and_can_evict() -> None:
    noise = random.Random(1).randbytes(5000)  # noqa: S311 - test data that hardly compresses
    cache = PageCache(max_bytes=20_000)
    first = cache.put(("a",), "g", noise, {})
    cache.put(("b",), "g", noise, {})
    gz = first.gzipped()
    assert cache.size_bytes == 10_000 + len(gz)
    tight = PageCache(max_bytes=12_000)
    first = tight.put(("a",), "g", noise, {})
    tight.put(("b",), "g", noise, {})
    first.gzipped()  # over the budget now: the least recently used page (a itself) goes
    assert tight.size_bytes == 5000 and tight.get(("a",), "g") is None and tight.get(("b",), "g") is not None


def test_entry_limit_still_holds() -> None:
    cache = PageCache(max_bytes=10**9, max_entries=3)
    for i in range(10):
        cache.put((str(i),), "g", body(10), {})
    assert len(cache) == 3 and cache.size_bytes == 30


def test_a_page_over_the_whole_budget_is_returned_but_not_kept() -> None:
    cache = PageCache(max_bytes=100)
    built = cache.put(("a",), "g", body(101), {})
    assert built.body == body(101) and built.gzipped()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_gzip_of_an_evicted_page_is_not_counted() -> None:
    cache = PageCache(max_bytes=2000)
    old = cache.put(("a",), "g", body(1500, b"a"), {})
    cache.put(("b",), "g", body(1500, b"b"), {})
    old.gzipped()
    assert cache.size_bytes == 1500 and len(cache) == 1
