"""The recycle bin's timing: how long a deleted version (or feed) can be restored, and when it is purged.

As in Azure Artifacts, a deleted package version, whether deleted by hand or by retention, stays in the feed's
recycle bin for 30 days, and a deleted feed in the organization's feed recycle bin for the same time. Until then it
can be restored; from then on it is due for purging (its number stays reserved either way). The number of days is
a setting here. The boundary is exact: a version deleted at ``t`` can be restored strictly before
``t + days`` and is due for purging from that moment on, so the two never overlap and never leave a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_RECYCLE_BIN_DAYS = 30
#: Ten years: a bound that keeps ``deleted + days`` far from the end of the calendar and typos obvious.
MAX_RECYCLE_BIN_DAYS = 3650


def purge_at(deleted_at: datetime, days: int) -> datetime:
    """The moment a version deleted at ``deleted_at`` is due for purging (Azure's "scheduled permanent deletion")."""
    return deleted_at + timedelta(days=days)


def purge_due(deleted_at: datetime, now: datetime, days: int) -> bool:
    """Whether the deleted item has been in the recycle bin for ``days`` or more."""
    return now >= purge_at(deleted_at, days)


def restorable(deleted_at: datetime, now: datetime, days: int) -> bool:
    """Whether the deleted item can still be restored: exactly when its purge is not yet due."""
    return not purge_due(deleted_at, now, days)


@dataclass(frozen=True)
class RecycleBinPolicy:
    """How many days deleted versions and feeds stay restorable (30 by default, as in Azure Artifacts)."""

    days: int = DEFAULT_RECYCLE_BIN_DAYS

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int):
            raise ValueError(f"the recycle bin's days must be a whole number, not {self.days!r}")
        if not 1 <= self.days <= MAX_RECYCLE_BIN_DAYS:
            raise ValueError(f"the recycle bin's days must be between 1 and {MAX_RECYCLE_BIN_DAYS}, not {self.days}")

    def purge_at(self, deleted_at: datetime) -> datetime:
        return purge_at(deleted_at, self.days)

    def purge_due(self, deleted_at: datetime, now: datetime) -> bool:
        return purge_due(deleted_at, now, self.days)

    def restorable(self, deleted_at: datetime, now: datetime) -> bool:
        return restorable(deleted_at, now, self.days)
