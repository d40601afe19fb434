"""Tiny time-bounded caches for lookups every request repeats (tokens, feeds), and single-flight loads.

Entries live ``ttl`` seconds, so a change made through another worker is seen within that time;
changes made through this worker invalidate their entry at once. When full, the least recently used
entry makes room: a flood of one-off keys (random tokens, say) then costs only the entries it pushes
out, never the whole cache.

When an entry expires, every request that needs it misses at once. :class:`SingleFlight` lets them
share one storage read: the first starts it, the others wait for its answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        expires, value = hit
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        self._data[key] = (time.monotonic() + self._ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def drop(self, key: K) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class SingleFlight(Generic[K, V]):
    """At most one load per key in flight: concurrent callers of :meth:`run` with the same key share it.

    The load runs as its own task, so a caller that gives up (a client that disconnects) does not
    cancel it for the others. :meth:`forget` detaches the load in flight: callers arriving afterwards
    start a new one (after a write, an answer read before it must not be handed out).
    """

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._flights[key] = task
            task.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(task)

    def _landed(self, key: K, task: asyncio.Task[V]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, so a load nobody waits for any more logs no warning

    def in_flight(self, key: K) -> bool:
        return key in self._flights

    def forget(self, key: K) -> None:
        self._flights.pop(key, None)

    def forget_all(self) -> None:
        self._flights.clear()

    def __len__(self) -> int:
        return len(self._flights)


class LoadingCache(Generic[K, V]):
    """A :class:`TtlCache` that loads misses itself, one load per key at a time.

    ``keep`` says which answers are worth an entry (tokens and feeds cache hits only: a flood of
    made-up keys must not push out real ones; concurrent identical misses still share one read).
    A drop or clear made while a load is in flight keeps that load's answer out of the cache, and
    callers arriving after it read again.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000, keep: Callable[[V], bool] | None = None) -> None:
        self._cache: TtlCache[K, V] = TtlCache(ttl, max_entries)
        self._flights: SingleFlight[K, V] = SingleFlight()
        self._keep = keep
        self._drops = 0  # bumped by every drop and clear; a load started before one does not store its answer

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        drops = self._drops  # now, not when the load's task first runs: a drop may come in between
        return await self._flights.run(key, lambda: self._load(key, load, drops))

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], drops: int) -> V:
        value = await load()
        if drops == self._drops and value is not None and (self._keep is None or self._keep(value)):
            self._cache.put(key, value)
        return value

    def peek(self, key: K) -> V | None:
        return self._cache.get(key)

    def put(self, key: K, value: V) -> None:
        self._cache.put(key, value)

    def drop(self, key: K) -> None:
        self._drops += 1
        self._cache.drop(key)
        self._flights.forget(key)

    def clear(self) -> None:
        self._drops += 1
        self._cache.clear()
        self._flights.forget_all()

    def __len__(self) -> int:
        return len(self._cache)
