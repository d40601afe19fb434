"""The short-lived lookup cache: least recently used out first, never flushed whole."""

from __future__ import annotations

from feed_core.service.cache import TtlCache


def test_a_full_cache_evicts_the_least_recently_used_entry_only() -> None:
    cache: TtlCache[str, int] = TtlCache(60, max_entries=3)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.put(key, value)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("d", 4)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), cache.get("d")) == (1, None, 3, 4)
    assert len(cache) == 3


def test_a_flood_of_new_keys_costs_only_the_entries_it_pushes_out() -> None:
    cache: TtlCache[str, int] = TtlCache(60, max_entries=100)
    cache.put("known", 1)
    for i in range(1000):
        assert cache.get("known") == 1  # in use all along
        cache.put(f"random-{i}", i)
    assert cache.get("known") == 1 and len(cache) == 100
