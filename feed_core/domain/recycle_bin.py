"""The recycle bin's timing: how long a deleted version (or feed) can be restored, and when it is purged.

As in Azure Artifacts, a deleted package version, whether deleted by hand or by retention, stays in the feed's
recycle bin for 30 days, and a deleted feed in the organization's feed recycle bin for the same time. Until then it
can be restored; from then on it is due for purging (its number stays reserved either way). The number of days is
a setting here. The boundary is exact: a version deleted at ``t`` can be restored strictly before
``t + days`` and is due for purging from that moment on, so the two never overlap and never leave a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feed_core.domain.models import PackageVersion
from feed_core.domain.version_order import ascending, is_prerelease, newest

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


def latest_after_restore(
    protocol: str, dist_tags: dict[str, str], live: list[str], restored: set[str]
) -> dict[str, str]:
    """The dist-tags once ``restored`` versions are live again (``live``: every live version, the restored ones
    included). Deleting a version re-pointed ``latest`` at the highest one left, so a restore undoes that when it
    can tell: ``latest`` goes to the newest live version (in the protocol's order, releases before prereleases)
    when it is missing, or when that newest version is a restored release and ``latest`` points below it. A
    ``latest`` someone set to an older version while the newer one was deleted is moved too, which is what the
    newest release being back means; other tags stay as they are (those of the restored versions were dropped
    at the delete and are not recreated)."""
    tags = dict(dist_tags)
    best = newest(protocol, live)
    if best is None:
        return tags
    current = tags.get("latest")
    stale = current is None or current not in live
    overtaken = (
        best in restored
        and not is_prerelease(protocol, best)
        and ascending(protocol, [current or "", best])[-1] == best
    )
    if stale or overtaken:
        tags["latest"] = best
    return tags


def purged(version: PackageVersion, now: str) -> PackageVersion:
    """``version`` as a purged row keeps it: its number (reserved for good), when it was published and deleted, and
    its description; no files, digests or manifest (nor a Universal Package's list of chunks), so that nothing
    references its blobs any more."""
    description = version.manifest.get("description")
    return replace(
        version,
        manifest={"description": description[:1000]} if isinstance(description, str) else {},
        sha256="",
        sha512_integrity="",
        sha1="",
        files=[],
        files_manifest=None,
        purged=now,
    )
