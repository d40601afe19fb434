"""Storage ports that count their calls, for tests that assert how many storage calls a request costs.

Wrap the ports a backend opened: ``Storage(CountingTableStore(s.tables), CountingBlobStore(s.blobs))``
and build services on that. Every call is counted per method (``calls["get"]``); table calls are also
counted per table (``by_table[("get", "packages")]``), and scans per table and partition prefix
(``scans[("packages", "")]``: a scan of the whole table). ``reset()`` starts counting again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

from feed_core.storage.ports import BlobInfo, BlobStore, Entity, PutOutcome, Storage, TableOp, TableStore


class CountingTableStore:
    def __init__(self, inner: TableStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.by_table: Counter[tuple[str, str]] = Counter()
        self.scans: Counter[tuple[str, str]] = Counter()

    def _count(self, method: str, table: str) -> None:
        self.calls[method] += 1
        self.by_table[(method, table)] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()
        self.by_table.clear()
        self.scans.clear()

    async def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        self._count("get", table)
        return await self.inner.get(table, partition_key, row_key)

    async def query(self, table: str, partition_key: str, row_key_prefix: str = "") -> list[Entity]:
        self._count("query", table)
        return await self.inner.query(table, partition_key, row_key_prefix)

    def scan(self, table: str, partition_prefix: str = "") -> AsyncIterator[Entity]:
        self._count("scan", table)
        self.scans[(table, partition_prefix)] += 1
        return self.inner.scan(table, partition_prefix)

    async def insert(self, table: str, entity: Entity) -> str:
        self._count("insert", table)
        return await self.inner.insert(table, entity)

    async def update(self, table: str, entity: Entity) -> str:
        self._count("update", table)
        return await self.inner.update(table, entity)

    async def upsert(self, table: str, entity: Entity) -> str:
        self._count("upsert", table)
        return await self.inner.upsert(table, entity)

    async def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        self._count("delete", table)
        await self.inner.delete(table, partition_key, row_key, etag)

    async def provision(self, tables: Sequence[str]) -> None:
        await self.inner.provision(tables)  # start-up, not a request: not counted

    async def transact(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        self._count("transact", table)
        return await self.inner.transact(table, ops)

    async def close(self) -> None:
        await self.inner.close()


class CountingBlobStore:
    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()

    async def put_if_absent(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> PutOutcome:
        self.calls["put_if_absent"] += 1
        return await self.inner.put_if_absent(key, chunks, content_type)

    async def stat(self, key: str) -> BlobInfo | None:
        self.calls["stat"] += 1
        return await self.inner.stat(key)

    async def renew(self, key: str) -> BlobInfo | None:
        self.calls["renew"] += 1
        return await self.inner.renew(key)

    def read(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        self.calls["read"] += 1
        return self.inner.read(key, chunk_size)

    async def read_all(self, key: str) -> bytes | None:
        self.calls["read_all"] += 1
        return await self.inner.read_all(key)

    async def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        await self.inner.delete(key)

    def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        self.calls["list_blobs"] += 1
        return self.inner.list_blobs(prefix)

    async def delete_if_older(self, key: str, cutoff: datetime) -> bool:
        self.calls["delete_if_older"] += 1
        return await self.inner.delete_if_older(key, cutoff)

    async def sweep_interrupted_writes(self, cutoff: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        self.calls["sweep_interrupted_writes"] += 1
        return await self.inner.sweep_interrupted_writes(cutoff, dry_run=dry_run)

    async def download_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        self.calls["download_url"] += 1
        return await self.inner.download_url(key, filename, ttl_seconds)

    async def provision(self) -> None:
        await self.inner.provision()  # start-up, not a request: not counted

    def local_path(self, key: str) -> str | None:
        return self.inner.local_path(key)  # no storage call: a path on the local disk, or None

    async def close(self) -> None:
        await self.inner.close()


def counting(storage: Storage) -> tuple[Storage, CountingTableStore, CountingBlobStore]:
    """``storage`` with both ports wrapped, and the two counters."""
    tables, blobs = CountingTableStore(storage.tables), CountingBlobStore(storage.blobs)
    return Storage(tables, blobs), tables, blobs


class RacingTableStore(CountingTableStore):
    """Counts like its parent; ``before_transact`` (when set) runs once, just before the next transaction on its
    table is sent: another writer's change lands between a read and the conditional write that follows it."""

    def __init__(self, inner: TableStore) -> None:
        super().__init__(inner)
        self.before_transact: tuple[str, Callable[[], Awaitable[None]]] | None = None

    async def transact(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        if self.before_transact is not None and self.before_transact[0] == table:
            _, hook = self.before_transact
            self.before_transact = None
            await hook()
        return await super().transact(table, ops)
