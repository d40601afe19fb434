"""``for_each``: many items, a fixed number of tasks."""

from __future__ import annotations

import asyncio

import pytest

from feed_core.concurrency import for_each


async def test_every_item_is_done_once_by_at_most_the_given_number_of_tasks() -> None:
    done: list[int] = []
    running = 0
    most = 0
    tasks_before = len(asyncio.all_tasks())
    most_tasks = 0

    async def work(item: int) -> None:
        nonlocal running, most, most_tasks
        running += 1
        most = max(most, running)
        most_tasks = max(most_tasks, len(asyncio.all_tasks()) - tasks_before)
        await asyncio.sleep(0)
        done.append(item)
        running -= 1

    await for_each(range(10_000), work, 8)
    assert sorted(done) == list(range(10_000))
    assert most == 8 and most_tasks == 8


async def test_the_first_failure_is_raised_as_it_is_and_stops_the_rest() -> None:
    started: list[int] = []

    async def work(item: int) -> None:
        started.append(item)
        await asyncio.sleep(0)
        if item == 3:
            raise ValueError("item 3 is bad")

    with pytest.raises(ValueError, match="item 3 is bad"):
        await for_each(range(1_000), work, 4)
    assert len(started) < 20
