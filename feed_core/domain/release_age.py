"""Release age: when an upstream version was published, as far as the feed can tell, and whether it
is old enough to offer.

- **A publish time counts** only as an ISO-8601 text with a time zone (``...Z``, ``...+02:00``) in
  years 1 to 9999. A missing time, a number, a time without a zone or anything else is *unknown*:
  the feed cannot tell when the version was published, and never fails because of it.
- **What the feed saw is a floor.** Per upstream version the feed keeps a *floor*, a moment before
  which it will not count the version as published, when the upstream's word is not enough:
  a version that appears in a later answer was not there at the previous one; a version whose
  time changes between answers keeps the time it claimed first (new, then back-dated, stays new);
  a version without a usable time counts from when the feed first saw it. A floor earlier than
  the time the upstream claims says nothing more, so it is not kept.
- **Fail closed.** Where a minimum release age applies, a version is offered only when its
  effective time (the later of its claimed time and its floor) is known and older than the cutoff.
  Everything else is held back, with a reason.

Pure functions: the engine stores the floors next to its cached upstream answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from feed_core.domain.clock import iso

UNKNOWN_TIME = (
    "its upstream publish time is missing or unreadable, so the feed counts its age from when it first saw it"
)


def parse_time(value: object) -> datetime | None:
    """An aware UTC time, or ``None`` when ``value`` is not a publish time the feed can trust."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    try:
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # the offset pushes it out of years 1..9999
        return None


def normalized_time(value: object) -> str | None:
    """The time in the feed's own form (``2024-05-01T10:00:00.000Z``), or ``None`` when unusable."""
    moment = parse_time(value)
    return iso(moment) if moment is not None else None


def next_floors(
    *,
    previous: Mapping[str, object] | None,
    current: Mapping[str, object],
    floors: Mapping[str, str],
    previous_at: datetime | None,
    now: datetime,
) -> dict[str, str]:
    """The floors to keep after a new upstream answer, per version (ISO times).

    ``previous``/``current``: version -> claimed publish time in the previous and the new answer
    (``previous`` is ``None`` when the feed holds no earlier answer); ``floors``: what was kept so
    far; ``previous_at``: when the previous answer was received. Versions no longer listed drop out.
    """
    out: dict[str, str] = {}
    for version, raw in current.items():
        claimed = parse_time(raw)
        candidates = [parse_time(floors.get(version))]
        if previous is not None and version not in previous:
            candidates.append(previous_at or now)  # new since the last answer: not public before it
        elif previous is not None:
            before = parse_time(previous[version])
            if before is not None and before != claimed:
                candidates.append(before)  # the time changed: never earlier than what it said first
        if claimed is None and not any(candidates):
            candidates.append(now)  # no usable time and nothing known: it counts from now
        floor = max((c for c in candidates if c is not None), default=None)
        if floor is not None and (claimed is None or floor > claimed):
            out[version] = iso(floor)
    return out


def effective_time(claimed: object, floor: str | None) -> datetime | None:
    """When the feed counts the version as published: the later of its claimed time and its floor;
    ``None`` when neither is known."""
    known = [t for t in (parse_time(claimed), parse_time(floor)) if t is not None]
    return max(known, default=None)
