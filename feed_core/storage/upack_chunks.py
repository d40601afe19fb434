"""The chunks each feed has received for its Universal Packages.

Table ``upackchunks``: partition = feed id, row = the chunk's sha-256 (lower-case hex); properties ``size``
and ``uploaded`` (ISO time). A row says "this feed was sent these bytes": a publish may then reference the
chunk, and the bytes themselves are the shared content blob ``content/sha256/<hex>``. Asking which chunks are
missing reads these rows, never the blob store, so one feed cannot learn what another holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from feed_core.concurrency import for_each
from feed_core.storage.bulk import delete_partitions, delete_rows
from feed_core.storage.ports import (
    Entity,
    EntityNotFoundError,
    EtagMismatchError,
    OpKind,
    TableOp,
    TableStore,
)

UPACK_CHUNKS = "upackchunks"
#: How long a chunk no version references is kept (its row, and so its bytes): an interrupted publish can resume
#: within this time without sending it again.
UNREFERENCED_CHUNK_DAYS = 3.0
#: Point reads in flight at once while answering one query.
_READ_CONCURRENCY = 32
#: Rows in one table transaction (Azure's limit).
_PER_TRANSACTION = 100


@dataclass(frozen=True)
class ChunkRow:
    sha256: str
    size: int
    uploaded: str
    #: As read: a delete conditional on it spares a row renewed since.
    etag: str | None = field(default=None, compare=False)


def _row(e: Entity) -> ChunkRow:
    return ChunkRow(e.row_key, e.get_int("size"), e.get_str("uploaded"), e.etag)


class UpackChunkStore:
    def __init__(self, tables: TableStore) -> None:
        self._t = tables

    async def get(self, feed_id: str, sha256: str) -> ChunkRow | None:
        e = await self._t.get(UPACK_CHUNKS, feed_id, sha256)
        return None if e is None else _row(e)

    async def get_many(self, feed_id: str, hashes: Sequence[str]) -> dict[str, ChunkRow]:
        """The rows of those ``hashes`` the feed has, by hash: point reads by a fixed number of workers."""
        found: dict[str, ChunkRow] = {}

        async def read(sha: str) -> None:
            row = await self.get(feed_id, sha)
            if row is not None:
                found[sha] = row

        await for_each(dict.fromkeys(hashes), read, _READ_CONCURRENCY)
        return found

    async def record(self, feed_id: str, sha256: str, size: int, uploaded: str) -> None:
        """Remember that the feed received the chunk (again: the time is renewed)."""
        await self._t.upsert(UPACK_CHUNKS, Entity(feed_id, sha256, {"size": size, "uploaded": uploaded}))

    async def rows(self, feed_id: str) -> list[ChunkRow]:
        return [_row(e) for e in await self._t.query(UPACK_CHUNKS, feed_id)]

    async def scan(self) -> AsyncIterator[tuple[str, ChunkRow]]:
        """``(feed id, row)`` for every chunk row of every feed (garbage collection)."""
        async for e in self._t.scan(UPACK_CHUNKS):
            yield e.partition_key, _row(e)

    async def delete(self, feed_id: str, hashes: Sequence[str]) -> int:
        return await delete_rows(self._t, UPACK_CHUNKS, [(feed_id, sha) for sha in hashes])

    async def delete_unchanged(self, feed_id: str, rows: Sequence[ChunkRow]) -> list[str]:
        """Delete these rows (as scanned, with their etags) unless one was renewed since (the chunk was sent
        again); the hashes of the rows kept. A transaction per 100 rows; one that finds a row changed or gone
        is done again row by row."""
        kept: list[str] = []
        for start in range(0, len(rows), _PER_TRANSACTION):
            batch = rows[start : start + _PER_TRANSACTION]
            ops = [TableOp(OpKind.DELETE, Entity(feed_id, row.sha256, {}, row.etag)) for row in batch]
            try:
                await self._t.transact(UPACK_CHUNKS, ops)
                continue
            except (EtagMismatchError, EntityNotFoundError):
                pass
            for row in batch:
                try:
                    await self._t.delete(UPACK_CHUNKS, feed_id, row.sha256, row.etag)
                except EtagMismatchError:
                    kept.append(row.sha256)
                except EntityNotFoundError:
                    pass  # deleted meanwhile
        return kept

    async def delete_feed(self, feed_id: str) -> int:
        return await delete_partitions(self._t, UPACK_CHUNKS, feed_id)
