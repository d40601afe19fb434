"""The short-lived lookup cache: least recently used out first, never flushed whole; misses share one load."""

from __future__ import annotations

import asyncio

from feed_core.service.cache import LoadingCache, SingleFlight, TtlCache


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


# --- single-flight loads ----------------------------------------------------------------------------


class Loads:
    """A load that counts its calls and waits until released, so callers pile up behind it."""

    def __init__(self, value: object = "row") -> None:
        self.count = 0
        self.value = value
        self.release = asyncio.Event()
        self.error: Exception | None = None

    async def __call__(self) -> object:
        self.count += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.value


async def _crowd(cache: LoadingCache[str, object], key: str, load: Loads, n: int) -> list[asyncio.Task[object]]:
    tasks = [asyncio.create_task(cache.get(key, load)) for _ in range(n)]
    await asyncio.sleep(0)  # every caller is waiting now
    return tasks


async def test_concurrent_misses_of_one_key_share_one_load_and_the_answer_is_kept() -> None:
    cache: LoadingCache[str, object] = LoadingCache(60)
    load = Loads()
    tasks = await _crowd(cache, "k", load, 20)
    load.release.set()
    assert await asyncio.gather(*tasks) == ["row"] * 20
    assert load.count == 1
    assert await cache.get("k", load) == "row" and load.count == 1  # now a hit


async def test_misses_are_shared_but_not_kept() -> None:
    cache: LoadingCache[str, object] = LoadingCache(60)
    load = Loads(value=None)
    tasks = await _crowd(cache, "unknown-token", load, 10)
    load.release.set()
    assert await asyncio.gather(*tasks) == [None] * 10
    assert load.count == 1 and len(cache) == 0  # a flood of made-up keys fills nothing
    await cache.get("unknown-token", load)
    assert load.count == 2


async def test_a_drop_during_a_load_keeps_its_answer_out_and_later_callers_read_again() -> None:
    cache: LoadingCache[str, object] = LoadingCache(60)
    before = Loads("old")
    early = await _crowd(cache, "k", before, 3)
    cache.drop("k")  # e.g. the token was revoked through this worker meanwhile
    after = Loads("new")
    late = await _crowd(cache, "k", after, 3)
    before.release.set()
    after.release.set()
    assert await asyncio.gather(*early) == ["old"] * 3
    assert await asyncio.gather(*late) == ["new"] * 3  # not the answer read before the drop
    assert cache.peek("k") == "new"


async def test_a_caller_that_gives_up_does_not_cancel_the_load_for_the_others() -> None:
    cache: LoadingCache[str, object] = LoadingCache(60)
    load = Loads()
    first, *others = await _crowd(cache, "k", load, 4)
    first.cancel()
    load.release.set()
    assert await asyncio.gather(*others) == ["row"] * 3
    assert first.cancelled() and load.count == 1


async def test_a_failed_load_reaches_every_waiter_and_is_not_kept() -> None:
    cache: LoadingCache[str, object] = LoadingCache(60)
    load = Loads()
    load.error = OSError("storage down")
    tasks = await _crowd(cache, "k", load, 5)
    load.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results) and load.count == 1
    load.error = None
    assert await cache.get("k", load) == "row" and load.count == 2


async def test_single_flight_forgets_a_key_once_its_load_lands() -> None:
    flights: SingleFlight[str, int] = SingleFlight()

    async def one() -> int:
        return 1

    assert await flights.run("k", one) == 1
    assert len(flights) == 0 and not flights.in_flight("k")
