"""NCRONTAB schedules (six fields: second minute hour day month day-of-week), as Azure Functions
timers use them, so ``serve --with-jobs`` runs the jobs on the same schedule as the cloud."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = ("second", "minute", "hour", "day", "month", "day-of-week")


def _field(text: str, low: int, high: int, what: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"the {what} field has a step below 1")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(body)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ValueError(f"the {what} field {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    fields: tuple[frozenset[int], ...]

    @classmethod
    def parse(cls, text: str) -> Schedule:
        parts = text.split()
        if len(parts) != 6:
            raise ValueError(
                f"{text!r} is not an NCRONTAB schedule: it needs six fields (second minute hour day month dow)"
            )
        try:
            fields = tuple(_field(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _RANGES, _NAMES, strict=True))
        except ValueError as exc:
            raise ValueError(f"invalid schedule {text!r}: {exc}") from None
        return cls(fields)

    def matches(self, moment: datetime) -> bool:
        second, minute, hour, day, month, dow = self.fields
        weekday = (moment.weekday() + 1) % 7  # NCRONTAB: 0 = Sunday
        return (
            moment.second in second
            and moment.minute in minute
            and moment.hour in hour
            and moment.day in day
            and moment.month in month
            and weekday in dow
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first matching second strictly after ``moment`` (searched up to a year ahead)."""
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = candidate + timedelta(days=366)
        while candidate < limit:
            if not (candidate.month in self.fields[4] and candidate.day in self.fields[3]):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if candidate.hour not in self.fields[2]:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if candidate.minute not in self.fields[1]:
                candidate = (candidate + timedelta(minutes=1)).replace(second=0)
                continue
            if self.matches(candidate):
                return candidate
            candidate += timedelta(seconds=1)
        raise ValueError("the schedule never fires")
