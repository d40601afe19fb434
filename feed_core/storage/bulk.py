"""Deleting many rows on the table port: grouped by partition into transactions of at most 100."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from feed_core.storage.ports import Entity, OpKind, TableOp, TableStore

_PER_TRANSACTION = 100  # Azure's limit, which the embedded store enforces too


async def delete_rows(tables: TableStore, table: str, keys: Iterable[tuple[str, str]]) -> int:
    """Delete the rows named by (partition key, row key); rows already gone are not an error."""
    by_partition: dict[str, list[str]] = defaultdict(list)
    for pk, rk in keys:
        by_partition[pk].append(rk)
    count = 0
    for pk, rows in by_partition.items():
        for start in range(0, len(rows), _PER_TRANSACTION):
            chunk = rows[start : start + _PER_TRANSACTION]
            await tables.transact(table, [TableOp(OpKind.DELETE, Entity(pk, rk)) for rk in chunk])
            count += len(chunk)
    return count


async def delete_partitions(tables: TableStore, table: str, partition_prefix: str) -> int:
    """Delete every row of every partition whose key starts with ``partition_prefix``."""
    keys = [(e.partition_key, e.row_key) async for e in tables.scan(table, partition_prefix)]
    return await delete_rows(tables, table, keys)
