"""The shared optimistic-concurrency retry: conflicts are retried with backoff, everything else is not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from feed_core.domain.errors import ConflictError, NotFoundError
from feed_core.service.retry import KeyedLock, RetryPolicy, retry_on_conflict
from feed_core.storage.ports import EntityExistsError, EtagMismatchError

FAST = RetryPolicy(first_delay=0.0001, max_delay=0.001, budget=0.5)


async def test_conflicts_are_retried_until_the_attempt_succeeds() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if calls < 30:  # more than the old fixed 20 retries
            raise EtagMismatchError("meta") if calls % 2 else EntityExistsError("v:1")
        return "done"

    assert await retry_on_conflict(attempt, "busy", FAST) == "done"
    assert calls == 30


async def test_gives_up_with_a_conflict_when_the_budget_runs_out() -> None:
    async def attempt() -> None:
        raise EtagMismatchError("meta")

    with pytest.raises(ConflictError, match="busy; try again"):
        await retry_on_conflict(attempt, "busy; try again", RetryPolicy(first_delay=0.001, max_delay=0.01, budget=0.05))


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise NotFoundError("gone")

    with pytest.raises(NotFoundError):
        await retry_on_conflict(attempt, "busy", FAST)
    assert calls == 1


async def test_keyed_lock_serializes_one_key_and_forgets_it_afterwards() -> None:
    locks = KeyedLock()
    inside: list[str] = []
    overlaps = 0

    async def work(key: str) -> None:
        nonlocal overlaps
        async with locks.hold(key):
            overlaps += key in inside
            inside.append(key)
            await asyncio.sleep(0.001)
            inside.remove(key)

    await asyncio.gather(*(work(k) for k in ["a", "b"] * 10))
    assert overlaps == 0
    assert len(locks) == 0


async def test_a_writer_backing_off_lets_the_next_one_go_and_queued_writers_keep_their_own_budget() -> None:
    """One writer keeps colliding with another process; writers queued behind it must neither wait for its
    whole budget nor, queued N deep, for N budgets."""
    turns = KeyedLock()
    policy = RetryPolicy(first_delay=0.02, max_delay=0.05, budget=1.0)
    started = time.monotonic()
    finished: dict[str, float] = {}

    async def always_conflicting() -> None:
        await asyncio.sleep(0.005)
        raise EtagMismatchError("another process keeps winning")

    async def quick(name: str) -> None:
        await asyncio.sleep(0.005)
        finished[name] = time.monotonic() - started

    async def writer(name: str, attempt: Callable[[], Awaitable[None]]) -> None:
        try:
            await retry_on_conflict(attempt, "busy", policy, turns=turns, key="pkg")
        finally:
            finished.setdefault(name, time.monotonic() - started)

    stuck = asyncio.create_task(writer("stuck", always_conflicting))
    await asyncio.sleep(0.01)
    await asyncio.gather(*(writer(f"w{i}", lambda i=i: quick(f"w{i}")) for i in range(5)))
    assert max(finished[f"w{i}"] for i in range(5)) < 0.5, finished  # not after the stuck writer's budget
    with pytest.raises(ConflictError):
        await stuck
    assert len(turns) == 0


async def test_a_writer_that_cannot_get_its_turn_in_its_budget_gives_up() -> None:
    turns = KeyedLock()
    release = asyncio.Event()

    async def hog() -> None:
        async with turns.hold("pkg"):
            await release.wait()

    holder = asyncio.create_task(hog())
    await asyncio.sleep(0)
    started = time.monotonic()

    async def attempt() -> None:
        raise AssertionError("never given a turn")

    with pytest.raises(ConflictError, match="busy"):
        await retry_on_conflict(attempt, "busy", RetryPolicy(budget=0.2), turns=turns, key="pkg")
    assert 0.15 < time.monotonic() - started < 1.0
    release.set()
    await holder
    assert len(turns) == 0
