"""Optimistic-concurrency retries for writes that race on one table partition.

A package write reads the package's rows, decides, and commits conditionally on what it read; when
another writer committed first, the storage port raises ``EtagMismatchError`` (or ``EntityExistsError``
for a row inserted meanwhile) and the whole read-decide-commit attempt runs again. Two measures keep
many concurrent writers of one package (40 publishes of distinct versions at once) from failing:

- writers in the same process take turns per key (:class:`KeyedLock`), so they never collide with
  each other at all;
- writers in different processes (other Functions instances) still collide, so attempts back off
  exponentially with full jitter and give up only after a time budget, not after a fixed count.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from feed_core.domain.errors import ConflictError
from feed_core.storage.ports import EntityExistsError, EtagMismatchError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 0.002  # seconds; doubles per attempt up to max_delay, then a random share of it is slept
    max_delay: float = 0.25
    budget: float = 20.0  # seconds of real time before giving up
    max_attempts: int = 1000


DEFAULT_POLICY = RetryPolicy()


async def retry_on_conflict(
    attempt: Callable[[], Awaitable[T]], give_up: str, policy: RetryPolicy = DEFAULT_POLICY
) -> T:
    """Run ``attempt`` until it returns without a concurrent-write conflict; a ``ConflictError`` with
    ``give_up`` when the budget runs out. Other errors (e.g. the version already exists) propagate."""
    deadline = time.monotonic() + policy.budget
    for n in range(policy.max_attempts):
        try:
            return await attempt()
        except (EtagMismatchError, EntityExistsError):
            ceiling = min(policy.max_delay, policy.first_delay * 2 ** min(n, 20))
            delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
            if time.monotonic() + delay >= deadline:
                break
            await asyncio.sleep(delay)
    raise ConflictError(give_up)


class KeyedLock:
    """One asyncio lock per key, forgotten as soon as nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
