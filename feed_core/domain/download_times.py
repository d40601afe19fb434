"""When a download time is written: at most once per version per granularity.

Retention asks "was this version downloaded within the last N days?", a question in whole days. A download
therefore need not write its time each time: it writes only when the stored time is missing or at least one
granularity (a day) old. A version downloaded ten thousand times a day costs one write a day, and every other
download of that day is a read of a time the download path already holds (the version record), a comparison,
and nothing else: the hot path stays free of writes, and the one write it does need can be made after the
response is sent.

The price is that a stored time can be up to one granularity older than the true last download. Retention
allows for that by adding the granularity to its window (``retention.select_for_removal``), so a version really
downloaded within the window is never taken for one that was not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: How often, at most, a version's download time is written; retention's window is in days.
DOWNLOAD_RECORDING_GRANULARITY = timedelta(days=1)


def needs_recording(
    last_recorded: datetime | None, now: datetime, granularity: timedelta = DOWNLOAD_RECORDING_GRANULARITY
) -> bool:
    """Whether a download at ``now`` should write its time, given the time already stored.

    Yes when none is stored, or the stored one is at least ``granularity`` old. Also yes when the stored time is
    more than ``granularity`` in the future (a clock that was set wrong), so a bad time heals at the next download
    instead of holding off every write until the clock catches up.
    """
    if granularity <= timedelta(0):
        raise ValueError("the download recording granularity must be positive")
    if last_recorded is None:
        return True
    age = now - last_recorded
    return age >= granularity or age < -granularity
