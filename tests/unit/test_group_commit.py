"""Group commit: a lone write goes at once; writes that arrive meanwhile share the next transaction; a failed
transaction is retried write by write, so each caller sees only its own error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from feed_core.storage.embedded import EmbeddedTableStore
from feed_core.storage.group_commit import GroupCommit
from feed_core.storage.ports import Entity, EntityExistsError, OpKind, TableOp
from tests.counting_storage import CountingTableStore


class GatedTables(CountingTableStore):
    """Counts calls; each write waits at ``gate`` while it is closed."""

    def __init__(self, inner: EmbeddedTableStore) -> None:
        super().__init__(inner)
        self.gate = asyncio.Event()
        self.gate.set()
        self.batches: list[list[str]] = []
        self.fail_batches = False

    async def upsert(self, table: str, entity: Entity) -> str:
        await self.gate.wait()
        if entity.properties.get("bad"):
            raise EntityExistsError(entity.row_key)  # any error of this one row
        return await super().upsert(table, entity)

    async def transact(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        await self.gate.wait()
        self.batches.append([o.entity.row_key for o in ops])
        if self.fail_batches or any(o.entity.properties.get("bad") for o in ops):
            self._count("transact", table)
            raise EntityExistsError("the whole batch")
        return await super().transact(table, ops)


@pytest.fixture
async def tables(tmp_path: Path) -> GatedTables:
    store = EmbeddedTableStore(tmp_path / "t.sqlite3")
    await store.provision(["idx"])
    return GatedTables(store)


def _upsert(row: str, **props: object) -> TableOp:
    return TableOp(OpKind.UPSERT, Entity("feed|npm", row, {"v": row, **props}))  # type: ignore[dict-item]


async def _rows(tables: GatedTables) -> dict[str, object]:
    return {e.row_key: e.properties.get("v") for e in await tables.inner.query("idx", "feed|npm")}


async def test_a_lone_write_goes_at_once_as_a_single_row_write(tables: GatedTables) -> None:
    await GroupCommit(tables).write("idx", _upsert("a"))
    assert tables.calls == {"upsert": 1}
    assert await _rows(tables) == {"a": "a"}


async def test_writes_arriving_while_one_is_in_flight_share_the_next_transaction(tables: GatedTables) -> None:
    group = GroupCommit(tables)
    tables.gate.clear()
    first = asyncio.create_task(group.write("idx", _upsert("a")))
    await asyncio.sleep(0.01)  # "a" is in flight, held at the gate
    later = [asyncio.create_task(group.write("idx", _upsert(r))) for r in ("b", "c", "d")]
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in [first, *later])  # nobody answers before its row is written
    tables.gate.set()
    await asyncio.gather(first, *later)
    assert tables.calls == {"upsert": 1, "transact": 1}
    assert tables.batches == [["b", "c", "d"]]
    assert await _rows(tables) == {"a": "a", "b": "b", "c": "c", "d": "d"}


async def test_a_row_written_twice_goes_in_two_batches_in_order_and_a_batch_holds_100(tables: GatedTables) -> None:
    group = GroupCommit(tables)
    tables.gate.clear()
    first = asyncio.create_task(group.write("idx", _upsert("x")))
    await asyncio.sleep(0.01)
    rows = [f"r{i:03d}" for i in range(120)]
    later = [asyncio.create_task(group.write("idx", _upsert(r))) for r in rows]
    again = asyncio.create_task(group.write("idx", TableOp(OpKind.UPSERT, Entity("feed|npm", "r000", {"v": "2nd"}))))
    await asyncio.sleep(0.01)
    tables.gate.set()
    await asyncio.gather(first, *later, again)
    assert [len(b) for b in tables.batches] == [100, 21]
    assert tables.batches[1][-1] == "r000"
    assert (await _rows(tables))["r000"] == "2nd"
    # A row's second write ends the batch before it: it lands after the first, in the next one.
    tables.batches.clear()
    tables.gate.clear()
    first = asyncio.create_task(group.write("idx", _upsert("x")))
    await asyncio.sleep(0.01)
    writes = [_upsert("p"), _upsert("q"), TableOp(OpKind.UPSERT, Entity("feed|npm", "p", {"v": "p2"})), _upsert("s")]
    later = [asyncio.create_task(group.write("idx", op)) for op in writes]
    await asyncio.sleep(0.01)
    tables.gate.set()
    await asyncio.gather(first, *later)
    assert tables.batches == [["p", "q"], ["p", "s"]]
    assert (await _rows(tables))["p"] == "p2"


async def test_a_failed_batch_is_written_row_by_row_and_only_the_bad_row_fails(tables: GatedTables) -> None:
    group = GroupCommit(tables)
    tables.gate.clear()
    first = asyncio.create_task(group.write("idx", _upsert("a")))
    await asyncio.sleep(0.01)
    good = [asyncio.create_task(group.write("idx", _upsert(r))) for r in ("b", "c")]
    bad = asyncio.create_task(group.write("idx", _upsert("z", bad=True)))
    await asyncio.sleep(0.01)
    tables.gate.set()
    await asyncio.gather(first, *good)
    with pytest.raises(EntityExistsError, match="z"):
        await bad
    assert tables.batches == [["b", "c", "z"]]
    assert await _rows(tables) == {"a": "a", "b": "b", "c": "c"}


async def test_a_caller_that_goes_away_does_not_cancel_the_write(tables: GatedTables) -> None:
    group = GroupCommit(tables)
    tables.gate.clear()
    waiter = asyncio.create_task(group.write("idx", _upsert("a")))
    await asyncio.sleep(0.01)
    waiter.cancel()
    tables.gate.set()
    for _ in range(20):
        await asyncio.sleep(0.01)
        if await _rows(tables):
            break
    assert await _rows(tables) == {"a": "a"}


async def test_conditional_writes_are_not_grouped(tables: GatedTables) -> None:
    with pytest.raises(ValueError, match="unconditional"):
        await GroupCommit(tables).write("idx", TableOp(OpKind.INSERT, Entity("p", "r")))
    with pytest.raises(ValueError, match="unconditional"):
        await GroupCommit(tables).write("idx", TableOp(OpKind.DELETE, Entity("p", "r", {}, 'W/"1"')))
