from datetime import UTC, datetime

import pytest

from feed_core.domain.schedule import Schedule

T = datetime(2026, 11, 21, 10, 7, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 */15 * * * *", datetime(2026, 11, 21, 10, 15, 0, tzinfo=UTC)),
        ("0 */5 * * * *", datetime(2026, 11, 21, 10, 10, 0, tzinfo=UTC)),
        ("*/10 * * * * *", datetime(2026, 11, 21, 10, 7, 40, tzinfo=UTC)),
        ("0 0 3 * * *", datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)),
        ("0 30 9 * * 1-5", datetime(2026, 11, 23, 9, 30, 0, tzinfo=UTC)),  # next weekday
        ("0 0 0 1 1 *", datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)),
        ("15,45 7 10 * * *", datetime(2026, 11, 21, 10, 7, 45, tzinfo=UTC)),
    ],
)
def test_next_after(text: str, expected: datetime) -> None:
    assert Schedule.parse(text).next_after(T) == expected


@pytest.mark.parametrize("text", ["* * * * *", "61 * * * * *", "0 */0 * * * *", "a * * * * *", "0 5-2 * * * *"])
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        Schedule.parse(text)


async def test_run_on_schedule_fires_and_survives_a_failing_run() -> None:
    import asyncio

    from feed_core.domain.clock import system_clock
    from feed_core.scheduler import run_on_schedule

    calls: list[int] = []

    async def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    task = asyncio.create_task(run_on_schedule("t", Schedule.parse("* * * * * *"), job, system_clock))
    for _ in range(60):
        if len(calls) >= 2:
            break
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(calls) >= 2
