"""Time as the service sees it; tests inject a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time as stored or sent (``Z`` accepted for UTC); ``ValueError`` when it is none."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, the form npm and Azure both print."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
