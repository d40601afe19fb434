"""The last storage usage computed per feed, so listings show a feed's total without scanning its rows.

Table ``feedusage``: partition = organization (lower case), row = feed id; the feed's figures and when they were
computed (``computedAt``). One partition query gives every feed of an organization, as the feed list needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from feed_core.domain.usage import FeedUsage
from feed_core.storage.ports import Entity, TableStore, Value

FEED_USAGE = "feedusage"


@dataclass(frozen=True)
class StoredUsage:
    """A feed's usage totals as last computed (ISO time)."""

    feed_id: str
    computed_at: str
    total_bytes: int
    published_bytes: int
    saved_bytes: int
    recycle_bin_bytes: int
    distinct_bytes: int


def stored_usage(feed_id: str, usage: FeedUsage, computed_at: str) -> StoredUsage:
    t = usage.total
    return StoredUsage(
        feed_id=feed_id,
        computed_at=computed_at,
        total_bytes=t.total_bytes,
        published_bytes=t.published_bytes,
        saved_bytes=t.saved_bytes,
        recycle_bin_bytes=t.recycle_bin_bytes,
        distinct_bytes=usage.distinct_bytes,
    )


def _from(e: Entity) -> StoredUsage:
    return StoredUsage(
        feed_id=e.row_key,
        computed_at=e.get_str("computedAt"),
        total_bytes=e.get_int("totalBytes"),
        published_bytes=e.get_int("publishedBytes"),
        saved_bytes=e.get_int("savedBytes"),
        recycle_bin_bytes=e.get_int("recycleBinBytes"),
        distinct_bytes=e.get_int("distinctBytes"),
    )


class UsageStore:
    def __init__(self, tables: TableStore) -> None:
        self._t = tables

    async def put(self, org: str, usage: StoredUsage) -> None:
        props: dict[str, Value] = {
            "computedAt": usage.computed_at,
            "totalBytes": usage.total_bytes,
            "publishedBytes": usage.published_bytes,
            "savedBytes": usage.saved_bytes,
            "recycleBinBytes": usage.recycle_bin_bytes,
            "distinctBytes": usage.distinct_bytes,
        }
        await self._t.upsert(FEED_USAGE, Entity(org.lower(), usage.feed_id, props))

    async def get(self, org: str, feed_id: str) -> StoredUsage | None:
        e = await self._t.get(FEED_USAGE, org.lower(), feed_id)
        return None if e is None else _from(e)

    async def of_org(self, org: str) -> dict[str, StoredUsage]:
        """Every feed's stored usage in the organization, by feed id: one partition query."""
        return {e.row_key: _from(e) for e in await self._t.query(FEED_USAGE, org.lower())}

    async def delete(self, org: str, feed_id: str) -> None:
        await self._t.delete(FEED_USAGE, org.lower(), feed_id)

    async def all_keys(self) -> AsyncIterator[tuple[str, str]]:
        """``(organization, feed id)`` of every stored row (for removing those of feeds that are gone)."""
        async for e in self._t.scan(FEED_USAGE):
            yield e.partition_key, e.row_key
