"""Async work over many items with a fixed number of tasks.

``asyncio.gather(*(work(x) for x in items))`` behind a semaphore bounds the I/O in flight but still creates one
task per item at once: a manifest of 200,000 chunks would mean 200,000 tasks (about a kilobyte each) for one
request. ``for_each`` starts ``workers`` tasks that pull items from one shared iterator instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def for_each(items: Iterable[T], work: Callable[[T], Awaitable[object]], workers: int) -> None:
    """Await ``work(item)`` for every item, at most ``workers`` at once, in at most ``workers`` tasks.

    The first failure cancels the rest and is raised as it is (not wrapped in an exception group)."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:  # one iterator: each item goes to exactly one worker
            await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, workers)):
                group.create_task(worker())
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
