"""Group commit: unconditional writes to rows of one partition, from concurrent requests, share transactions.

Some rows are written by every publish but live in one partition per feed (the search index, the package
ids). Written one call each, concurrent publishes pay a storage call apiece. Here the first write of a
partition is sent at once, alone; writes that arrive while it is in flight wait for it and then go
together as the next single transaction (at most 100 operations, each row once, as Azure allows). A
lone writer waits for nothing, and every caller returns only when its own row is written.

Only unconditional writes (upserts and deletes without an ETag) are grouped: they cannot conflict with
one another, so a transaction of them fails only as a whole (a missing table, a storage error). Then
each operation is sent again on its own, so a caller sees its own write's error, not another's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from feed_core.storage.ports import OpKind, TableOp, TableStore

log = logging.getLogger(__name__)

MAX_BATCH = 100  # operations in one Azure table transaction


@dataclass
class _Queue:
    waiting: list[tuple[TableOp, asyncio.Future[None]]] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None


class GroupCommit:
    """Unconditional single-row writes to a :class:`TableStore`, grouped per (table, partition)."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables
        self._queues: dict[tuple[str, str], _Queue] = {}

    async def write(self, table: str, op: TableOp) -> None:
        """Apply ``op`` (an UPSERT, or a DELETE without an ETag); returns once it is written."""
        if op.kind not in (OpKind.UPSERT, OpKind.DELETE) or op.entity.etag is not None:
            raise ValueError("only unconditional upserts and deletes are grouped")
        key = (table, op.entity.partition_key)
        queue = self._queues.setdefault(key, _Queue())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_observed)  # an error nobody awaits any more (a cancelled caller) is not logged
        queue.waiting.append((op, done))
        if queue.sender is None:
            queue.sender = asyncio.create_task(self._send(key, queue))
        await asyncio.shield(done)  # a caller that goes away leaves its write to finish for the others

    async def _send(self, key: tuple[str, str], queue: _Queue) -> None:
        """Send what waits, one batch after another, until nothing does."""
        table = key[0]
        batch: list[tuple[TableOp, asyncio.Future[None]]] = []
        try:
            while queue.waiting:
                batch = _take_batch(queue.waiting)
                await self._apply(table, batch)
        except BaseException as exc:  # cancelled (shutting down): no caller is left waiting for ever
            for _, done in [*batch, *queue.waiting]:
                _settle(done, exc)
            queue.waiting.clear()
            raise
        finally:
            queue.sender = None
            if self._queues.get(key) is queue and not queue.waiting:
                del self._queues[key]

    async def _apply(self, table: str, batch: list[tuple[TableOp, asyncio.Future[None]]]) -> None:
        if len(batch) > 1:
            try:
                await self._tables.transact(table, [op for op, _ in batch])
            except Exception:
                log.warning("a grouped write of %d rows to %s failed; writing them one by one", len(batch), table)
            else:
                for _, done in batch:
                    _settle(done, None)
                return
        for op, done in batch:
            try:
                await self._one(table, op)
            except Exception as exc:
                _settle(done, exc)
            else:
                _settle(done, None)

    async def _one(self, table: str, op: TableOp) -> None:
        e = op.entity
        if op.kind is OpKind.UPSERT:
            await self._tables.upsert(table, e)
        else:
            await self._tables.delete(table, e.partition_key, e.row_key)


def _take_batch(
    waiting: list[tuple[TableOp, asyncio.Future[None]]],
) -> list[tuple[TableOp, asyncio.Future[None]]]:
    """The longest head of ``waiting`` that fits one transaction: at most 100 operations, each row once
    (a second write of a row waits for the next batch, so writes of one row land in their order)."""
    rows: set[str] = set()
    count = 0
    for op, _ in waiting[:MAX_BATCH]:
        if op.entity.row_key in rows:
            break
        rows.add(op.entity.row_key)
        count += 1
    batch = waiting[:count]
    del waiting[:count]
    return batch


def _observed(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
