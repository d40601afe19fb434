"""Optimistic-concurrency retries for writes that race on one table partition.

A package write reads the package's rows, decides, and commits conditionally on what it read; when
another writer committed first, the storage port raises ``EtagMismatchError`` (or ``EntityExistsError``
for a row inserted meanwhile) and the whole read-decide-commit attempt runs again. Two measures keep
many concurrent writers of one package (40 publishes of distinct versions at once) from failing:

- writers in the same process take turns per key (:class:`KeyedLock`), one attempt per turn, so they
  never collide with each other at all;
- writers in different processes (other Functions instances) still collide, so attempts back off
  exponentially with full jitter (without holding the turn, so the next writer goes meanwhile) and
  give up only after a time budget, not after a fixed count.

The budget starts when the writer arrives and covers waiting for turns too: a writer queued behind
many others gives up in its own budget, not in the sum of theirs.
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
    attempt: Callable[[], Awaitable[T]],
    give_up: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    turns: KeyedLock | None = None,
    key: Hashable = None,
) -> T:
    """Run ``attempt`` until it returns without a concurrent-write conflict; a ``ConflictError`` with
    ``give_up`` when the budget runs out. Other errors (e.g. the version already exists) propagate.

    With ``turns``, each attempt runs holding ``key``'s turn, waited for within the same budget."""
    deadline = time.monotonic() + policy.budget
    for n in range(policy.max_attempts):
        try:
            if turns is None:
                return await attempt()
            async with turns.hold(key, max_wait=deadline - time.monotonic()):
                return await attempt()
        except TurnTimeoutError:
            break
        except (EtagMismatchError, EntityExistsError):
            ceiling = min(policy.max_delay, policy.first_delay * 2 ** min(n, 20))
            delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
            if time.monotonic() + delay >= deadline:
                break
            await asyncio.sleep(delay)
    raise ConflictError(give_up)


class TurnTimeoutError(Exception):
    """A :meth:`KeyedLock.hold` with a timeout did not get the lock in time."""


class KeyedLock:
    """One asyncio lock per key, forgotten as soon as nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable, max_wait: float | None = None) -> AsyncIterator[None]:
        """Hold ``key``'s lock; ``TurnTimeoutError`` when it is not free within ``max_wait`` seconds."""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(max_wait):
                    await lock.acquire()
            except TimeoutError:
                raise TurnTimeoutError(key) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
