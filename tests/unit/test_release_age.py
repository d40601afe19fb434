"""Release age alone: which publish times count, the floors the feed keeps, and the effective time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feed_core.domain.clock import iso
from feed_core.domain.release_age import effective_time, next_floors, normalized_time, parse_time

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
OLD = "2020-01-01T00:00:00.000Z"
RECENT = iso(NOW - timedelta(hours=1))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-01-01T00:00:00.000Z", datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020-01-01T02:00:00+02:00", datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020-01-01T00:00:00.123456Z", datetime(2020, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_times_with_a_zone_count(raw: str, expected: datetime) -> None:
    assert parse_time(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        1700000000,  # a number
        1700000000.5,
        True,
        ["2020-01-01T00:00:00Z"],
        "2020-01-01T00:00:00",  # no time zone
        "2020-01-01",  # a date alone has no zone either
        "yesterday",
        "garbage garbage garbage",
        "0000-01-01T00:00:00Z",  # year 0
        "99999-01-01T00:00:00Z",  # year 99999
        "9999-12-31T23:59:59-05:00",  # beyond year 9999 once in UTC
        "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC
        "2020-13-45T99:00:00Z",
        "2020-01-01T00:00:00Z" + "0" * 1000,
    ],
)
def test_anything_else_is_unknown_and_never_raises(raw: object) -> None:
    assert parse_time(raw) is None
    assert normalized_time(raw) is None
    assert effective_time(raw, None) is None


def test_normalized_time_is_the_feeds_own_form() -> None:
    assert normalized_time("2020-01-01T02:00:00+02:00") == "2020-01-01T00:00:00.000Z"


def test_a_first_answer_is_trusted_where_it_gives_a_time() -> None:
    floors = next_floors(previous=None, current={"1.0.0": OLD, "1.1.0": RECENT}, floors={}, previous_at=None, now=NOW)
    assert floors == {}  # nothing to add to what the upstream says
    assert effective_time(OLD, floors.get("1.0.0")) == parse_time(OLD)


def test_no_usable_time_counts_from_when_the_feed_first_saw_it() -> None:
    current: dict[str, object] = {"1.0.0": None, "1.1.0": 1700000000, "1.2.0": "2020-01-01T00:00:00"}
    floors = next_floors(previous=None, current=current, floors={}, previous_at=None, now=NOW)
    assert floors == {v: iso(NOW) for v in current}
    later = NOW + timedelta(days=3)
    again = next_floors(previous=current, current=current, floors=floors, previous_at=NOW, now=later)
    assert again == floors  # the first sighting stays the floor: the age grows from it
    assert effective_time(None, again["1.0.0"]) == NOW


def test_new_then_back_dated_stays_new() -> None:
    first = next_floors(previous=None, current={"6.6.6": RECENT}, floors={}, previous_at=None, now=NOW)
    back_dated = {"6.6.6": OLD}
    later = NOW + timedelta(minutes=10)
    floors = next_floors(previous={"6.6.6": RECENT}, current=back_dated, floors=first, previous_at=NOW, now=later)
    assert floors == {"6.6.6": RECENT}
    assert effective_time(OLD, floors["6.6.6"]) == parse_time(RECENT)
    # and it keeps that floor on every later answer that repeats the back-dated time
    again = next_floors(previous=back_dated, current=back_dated, floors=floors, previous_at=later, now=later)
    assert again == floors


def test_a_version_that_appears_later_is_not_older_than_the_answer_before_it() -> None:
    previous_at = NOW - timedelta(minutes=5)
    floors = next_floors(
        previous={"1.0.0": OLD},
        current={"1.0.0": OLD, "6.6.6": OLD, "1.1.0": iso(NOW - timedelta(minutes=1))},
        floors={},
        previous_at=previous_at,
        now=NOW,
    )
    assert floors == {"6.6.6": iso(previous_at)}  # back-dated on arrival; 1.1.0's own time is later
    assert effective_time(OLD, floors["6.6.6"]) == previous_at


def test_a_time_moved_later_needs_no_floor_and_dropped_versions_drop_out() -> None:
    floors = next_floors(
        previous={"1.0.0": OLD, "2.0.0": None},
        current={"1.0.0": RECENT},
        floors={"2.0.0": iso(NOW)},
        previous_at=NOW,
        now=NOW,
    )
    assert floors == {}
    assert effective_time(RECENT, None) == parse_time(RECENT)


def test_a_time_that_disappears_keeps_the_one_it_had() -> None:
    floors = next_floors(previous={"1.0.0": OLD}, current={"1.0.0": None}, floors={}, previous_at=NOW, now=NOW)
    assert floors == {"1.0.0": OLD}
    assert effective_time(None, floors["1.0.0"]) == parse_time(OLD)
