"""An in-process scheduler for ``serve --with-jobs``: the timer functions' schedules, run locally.

Each job runs on its own NCRONTAB schedule; a run that is still going when the next is due is not
started twice (the next firing after it ends is used, as a missed timer would be on Azure).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from feed_core.domain.clock import Clock
from feed_core.domain.schedule import Schedule

log = logging.getLogger("feed_core.scheduler")

Job = Callable[[], Awaitable[object]]


async def run_on_schedule(name: str, schedule: Schedule, job: Job, clock: Clock) -> None:
    """Run ``job`` at every firing of ``schedule`` until cancelled. Failures are logged, not fatal."""
    while True:
        now = clock()
        due = schedule.next_after(now)
        await asyncio.sleep(max(0.0, (due - now).total_seconds()))
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed; it runs again at its next firing", name)
