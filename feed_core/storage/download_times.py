"""When each package version was last downloaded, as retention needs it: to the day.

Row layout: table ``downloads``, partition ``<feed id>|<protocol>|<name>`` (the package's partition in
``packages``), row key = the version, property ``day`` = the last download's UTC day (``YYYY-MM-DD``). Rows are
written from ``service/download_times.py``, which coalesces downloads so that a version costs at most one write
a day per worker; a write never moves a stored day back (a read, then a conditional write). One more row,
partition ``_recording`` row ``since``, says when recording began (written once, insert-if-absent): before it
nothing is known, and retention counts a version with no recorded download from then, not from the beginning
of time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from feed_core.domain.clock import iso, parse_iso
from feed_core.storage.bulk import delete_partitions
from feed_core.storage.ports import Entity, EntityExistsError, EntityNotFoundError, EtagMismatchError, TableStore

DOWNLOADS = "downloads"
_MARK_PARTITION, _MARK_ROW = "_recording", "since"
_TRIES = 5


def _partition(feed_id: str, protocol: str, name: str) -> str:
    return f"{feed_id}|{protocol}|{name}"


def day_start(day: date) -> datetime:
    """The first moment (UTC) of ``day``: what a stored day stands for."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class DownloadTimesStore:
    def __init__(self, tables: TableStore) -> None:
        self._t = tables

    async def put(self, feed_id: str, protocol: str, name: str, version: str, day: date) -> bool:
        """Record ``day`` as the version's last download unless a later day is stored: several workers flush at
        their own pace, and one holding yesterday must not move back a day another wrote. A read, then an insert
        or a write conditional on the row's etag, again when another writer got there between (a few tries).
        Whether ``day`` was written."""
        pk = _partition(feed_id, protocol, name)
        for _ in range(_TRIES):
            row = await self._t.get(DOWNLOADS, pk, version)
            props = {"day": day.isoformat()}
            try:
                if row is None:
                    await self._t.insert(DOWNLOADS, Entity(pk, version, props))
                    return True
                try:
                    stored = date.fromisoformat(row.get_str("day"))
                except ValueError:
                    stored = None  # an unreadable day is replaced
                if stored is not None and stored >= day:
                    return False
                await self._t.update(DOWNLOADS, Entity(pk, version, props, etag=row.etag))
                return True
            except (EntityExistsError, EtagMismatchError, EntityNotFoundError):
                continue  # another writer changed the row between the read and the write: read it again
        raise EtagMismatchError(f"the download day of {name} {version} kept changing; not written")

    async def package(self, feed_id: str, protocol: str, name: str) -> dict[str, datetime]:
        """Each version of the package with a recorded download, and the start of the day it was last seen."""
        found: dict[str, datetime] = {}
        for row in await self._t.query(DOWNLOADS, _partition(feed_id, protocol, name)):
            try:
                found[row.row_key] = day_start(date.fromisoformat(row.get_str("day")))
            except ValueError:
                continue  # an unreadable day says nothing; the version counts as not downloaded
        return found

    async def recording_since(self) -> datetime | None:
        """When download times began to be recorded, or ``None`` when nothing marked it yet."""
        row = await self._t.get(DOWNLOADS, _MARK_PARTITION, _MARK_ROW)
        if row is None:
            return None
        try:
            return parse_iso(row.get_str("at"))
        except ValueError:
            return None

    async def mark_recording_started(self, moment: datetime) -> datetime:
        """Record that recording began at ``moment`` unless an earlier call did; the moment that holds."""
        try:
            await self._t.insert(DOWNLOADS, Entity(_MARK_PARTITION, _MARK_ROW, {"at": iso(moment)}))
        except EntityExistsError:
            held = await self.recording_since()
            return held if held is not None else moment
        return moment

    async def delete_versions(self, feed_id: str, protocol: str, name: str, versions: list[str]) -> None:
        """Delete the download rows of these versions (purged ones: never downloaded again)."""
        pk = _partition(feed_id, protocol, name)
        for version in versions:
            await self._t.delete(DOWNLOADS, pk, version)

    async def delete_feed(self, feed_id: str) -> int:
        """Delete the download rows of every package of a feed (its purge); the number of rows."""
        return await delete_partitions(self._t, DOWNLOADS, f"{feed_id}|")
