"""One contract suite for the storage ports, run against every backend (embedded and Azurite)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from feed_core.storage.embedded import EmbeddedBlobStore, EmbeddedTableStore
from feed_core.storage.ports import (
    BlobNotFoundError,
    Entity,
    EntityExistsError,
    EntityNotFoundError,
    EtagMismatchError,
    OpKind,
    PutOutcome,
    Storage,
    TableOp,
    Value,
)
from tests.azurite import open_unique_storage

T = "things"  # logical table name used by most tests
#: Every table the suite uses; the fixture creates them, as start-up does (requests never create tables).
TABLES = (T, "left", "right", "elsewhere")


@pytest.fixture(params=["embedded", pytest.param("azurite", marks=pytest.mark.azurite)])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "embedded":
        store = Storage(EmbeddedTableStore(tmp_path / "db.sqlite3"), EmbeddedBlobStore(tmp_path / "blobs"))
    else:
        conn: str = request.getfixturevalue("azurite_connection_string")
        store = await open_unique_storage(conn)
    await store.provision(TABLES)
    try:
        yield store
    finally:
        await store.close()


def is_azure(storage: Storage) -> bool:
    return not isinstance(storage.tables, EmbeddedTableStore)


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


async def test_get_missing_returns_none(storage: Storage) -> None:
    assert await storage.tables.get(T, "p", "missing") is None


async def test_insert_then_get(storage: Storage) -> None:
    etag = await storage.tables.insert(T, Entity("p", "r", {"name": "six", "n": 3}))
    got = await storage.tables.get(T, "p", "r")
    assert got is not None
    assert (got.partition_key, got.row_key) == ("p", "r")
    assert dict(got.properties) == {"name": "six", "n": 3}
    assert etag
    assert got.etag == etag


async def test_insert_twice_conflicts(storage: Storage) -> None:
    await storage.tables.insert(T, Entity("p", "r", {"v": 1}))
    with pytest.raises(EntityExistsError):
        await storage.tables.insert(T, Entity("p", "r", {"v": 2}))
    got = await storage.tables.get(T, "p", "r")
    assert got is not None
    assert got.get_int("v") == 1


async def test_concurrent_inserts_exactly_one_wins(storage: Storage) -> None:
    results = await asyncio.gather(
        *(storage.tables.insert(T, Entity("p", "race", {"who": i})) for i in range(5)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert all(isinstance(r, EntityExistsError) for r in results if not isinstance(r, str))
    got = await storage.tables.get(T, "p", "race")
    assert got is not None
    assert got.etag == winners[0]


async def test_update_with_fresh_etag(storage: Storage) -> None:
    etag = await storage.tables.insert(T, Entity("p", "r", {"v": 1, "gone": "x"}))
    new_etag = await storage.tables.update(T, Entity("p", "r", {"v": 2}, etag))
    assert new_etag
    assert new_etag != etag
    got = await storage.tables.get(T, "p", "r")
    assert got is not None
    assert dict(got.properties) == {"v": 2}  # a replace, not a merge
    assert got.etag == new_etag


async def test_update_with_stale_etag_fails(storage: Storage) -> None:
    stale = await storage.tables.insert(T, Entity("p", "r", {"v": 1}))
    await storage.tables.update(T, Entity("p", "r", {"v": 2}, stale))
    with pytest.raises(EtagMismatchError):
        await storage.tables.update(T, Entity("p", "r", {"v": 3}, stale))
    got = await storage.tables.get(T, "p", "r")
    assert got is not None
    assert got.get_int("v") == 2


async def test_update_without_etag_replaces_existing_only(storage: Storage) -> None:
    await storage.tables.insert(T, Entity("p", "r", {"v": 1}))
    await storage.tables.update(T, Entity("p", "r", {"v": 5}))
    got = await storage.tables.get(T, "p", "r")
    assert got is not None
    assert got.get_int("v") == 5
    with pytest.raises(EntityNotFoundError):
        await storage.tables.update(T, Entity("p", "nothing", {"v": 1}))
    assert await storage.tables.get(T, "p", "nothing") is None


async def test_upsert_inserts_and_replaces(storage: Storage) -> None:
    first = await storage.tables.upsert(T, Entity("p", "r", {"v": 1}))
    second = await storage.tables.upsert(T, Entity("p", "r", {"w": "x"}))
    assert first
    assert second
    assert first != second
    got = await storage.tables.get(T, "p", "r")
    assert got is not None
    assert dict(got.properties) == {"w": "x"}
    assert got.etag == second


async def test_concurrent_read_modify_write_loses_no_update(storage: Storage) -> None:
    await storage.tables.insert(T, Entity("p", "counter", {"n": 0}))

    async def increment() -> int:
        attempts = 0
        while True:
            attempts += 1
            current = await storage.tables.get(T, "p", "counter")
            assert current is not None
            try:
                await storage.tables.update(T, Entity("p", "counter", {"n": current.get_int("n") + 1}, current.etag))
                return attempts
            except EtagMismatchError:
                await asyncio.sleep(0)

    attempts = await asyncio.gather(*(increment() for _ in range(10)))
    got = await storage.tables.get(T, "p", "counter")
    assert got is not None
    assert got.get_int("n") == 10
    assert sum(attempts) >= 10


async def test_delete_with_stale_etag_fails_and_fresh_etag_deletes(storage: Storage) -> None:
    stale = await storage.tables.insert(T, Entity("p", "r", {"v": 1}))
    fresh = await storage.tables.update(T, Entity("p", "r", {"v": 2}, stale))
    with pytest.raises(EtagMismatchError):
        await storage.tables.delete(T, "p", "r", stale)
    assert await storage.tables.get(T, "p", "r") is not None
    await storage.tables.delete(T, "p", "r", fresh)
    assert await storage.tables.get(T, "p", "r") is None


async def test_delete_missing_is_not_an_error(storage: Storage) -> None:
    await storage.tables.delete(T, "p", "never-there")
    etag = await storage.tables.insert(T, Entity("p", "r", {}))
    await storage.tables.delete(T, "p", "r")
    await storage.tables.delete(T, "p", "r")
    assert await storage.tables.get(T, "p", "r") is None
    with pytest.raises(EntityNotFoundError):  # conditional delete of a row that is gone
        await storage.tables.delete(T, "p", "r", etag)


WEIRD_PARTITION = "feed/σ #1?%\\ x"
WEIRD_ROW_KEYS = [
    "a/b",
    "a@c",
    "a#d",
    "a?e",
    "a%f",
    "a%2F",  # must not collide with an escaped "/"
    "a\\g",
    "a h",
    "aé",
    "a\u4e2d",
    "a\U0001f600",
    "a\tb",
    "a",
    "b/x",
    "",
]


async def test_query_by_partition_and_prefix_with_any_characters(storage: Storage) -> None:
    for i, rk in enumerate(WEIRD_ROW_KEYS):
        await storage.tables.insert(T, Entity(WEIRD_PARTITION, rk, {"i": i}))
    await storage.tables.insert(T, Entity(WEIRD_PARTITION + "2", "a/b", {"i": -1}))
    await storage.tables.insert(T, Entity("other", "a/b", {"i": -1}))

    def keys(entities: list[Entity]) -> list[str]:
        return [e.row_key for e in entities]

    everything = await storage.tables.query(T, WEIRD_PARTITION)
    assert keys(everything) == sorted(WEIRD_ROW_KEYS)
    assert all(e.partition_key == WEIRD_PARTITION and e.etag for e in everything)
    assert {e.row_key: e.get_int("i") for e in everything} == {rk: i for i, rk in enumerate(WEIRD_ROW_KEYS)}

    assert keys(await storage.tables.query(T, WEIRD_PARTITION, "a")) == sorted(
        rk for rk in WEIRD_ROW_KEYS if rk.startswith("a")
    )
    assert keys(await storage.tables.query(T, WEIRD_PARTITION, "a%")) == ["a%2F", "a%f"]
    assert keys(await storage.tables.query(T, WEIRD_PARTITION, "a/")) == ["a/b"]
    assert keys(await storage.tables.query(T, WEIRD_PARTITION, "a\\")) == ["a\\g"]
    assert keys(await storage.tables.query(T, WEIRD_PARTITION, "a\u4e2d")) == ["a\u4e2d"]
    assert keys(await storage.tables.query(T, WEIRD_PARTITION, "a\U0001f600")) == ["a\U0001f600"]
    assert keys(await storage.tables.query(T, WEIRD_PARTITION, "zzz")) == []
    assert await storage.tables.query(T, "no-such-partition") == []

    got = await storage.tables.get(T, WEIRD_PARTITION, "a?e")
    assert got is not None
    assert got.row_key == "a?e"
    assert got.partition_key == WEIRD_PARTITION


async def test_property_types_round_trip(storage: Storage) -> None:
    long_text = "x" * 15_000 + "é" * 15_000
    props: dict[str, Value] = {
        "text": long_text,
        "empty": "",
        "small": 7,
        "negative": -5,
        "big": 2**40,
        "max_safe": 2**53,
        "ratio": 1.5,
        "whole": 2.0,
        "yes": True,
        "no": False,
        "nothing": None,
        "etag": 'W/"upstream"',  # an ordinary property, not the row's ETag
    }
    await storage.tables.insert(T, Entity("p", "types", props))
    got = await storage.tables.get(T, "p", "types")
    assert got is not None
    p = got.properties
    assert p["text"] == long_text
    assert p["empty"] == ""
    for name in ("small", "negative", "big", "max_safe"):
        assert type(p[name]) is int, name
        assert p[name] == props[name], name
        assert got.get_int(name) == props[name]
    assert type(p["ratio"]) is float
    assert p["ratio"] == 1.5
    assert type(p["whole"]) is float
    assert p["whole"] == 2.0
    assert p["yes"] is True
    assert p["no"] is False
    assert p["etag"] == 'W/"upstream"'
    assert got.etag != p["etag"]
    assert got.get_bool("yes") is True
    assert got.get_bool("no", True) is False
    # None: absent (Azure) or None (embedded); callers only see the default either way.
    assert p.get("nothing") is None
    assert got.get_str("nothing", "default") == "default"
    assert got.get_int("nothing", 9) == 9
    assert set(p) - {"nothing"} == set(props) - {"nothing"}


async def test_transact_applies_insert_and_update_together(storage: Storage) -> None:
    etag = await storage.tables.insert(T, Entity("p", "existing", {"v": 1}))
    etags = await storage.tables.transact(
        T,
        [
            TableOp(OpKind.INSERT, Entity("p", "new", {"v": 10})),
            TableOp(OpKind.UPDATE, Entity("p", "existing", {"v": 2}, etag)),
            TableOp(OpKind.UPSERT, Entity("p", "upserted", {"v": 3})),
        ],
    )
    assert len(etags) == 3
    assert all(etags)
    new, existing, upserted = await asyncio.gather(
        *(storage.tables.get(T, "p", k) for k in ("new", "existing", "upserted"))
    )
    assert new is not None
    assert new.get_int("v") == 10
    assert new.etag == etags[0]
    assert existing is not None
    assert existing.get_int("v") == 2
    assert existing.etag == etags[1]
    assert upserted is not None
    assert upserted.get_int("v") == 3
    assert upserted.etag == etags[2]


async def test_transact_with_conflict_writes_nothing(storage: Storage) -> None:
    await storage.tables.insert(T, Entity("p", "taken", {"v": 1}))
    with pytest.raises(EntityExistsError):
        await storage.tables.transact(
            T,
            [
                TableOp(OpKind.INSERT, Entity("p", "first", {"v": 1})),
                TableOp(OpKind.INSERT, Entity("p", "taken", {"v": 2})),
            ],
        )
    assert await storage.tables.get(T, "p", "first") is None
    taken = await storage.tables.get(T, "p", "taken")
    assert taken is not None
    assert taken.get_int("v") == 1


async def test_transact_with_stale_etag_writes_nothing(storage: Storage) -> None:
    stale = await storage.tables.insert(T, Entity("p", "r", {"v": 1}))
    await storage.tables.update(T, Entity("p", "r", {"v": 2}, stale))
    with pytest.raises(EtagMismatchError):
        await storage.tables.transact(
            T,
            [
                TableOp(OpKind.UPSERT, Entity("p", "side", {"v": 1})),
                TableOp(OpKind.UPDATE, Entity("p", "r", {"v": 3}, stale)),
            ],
        )
    assert await storage.tables.get(T, "p", "side") is None
    with pytest.raises(EntityNotFoundError):
        await storage.tables.transact(T, [TableOp(OpKind.UPDATE, Entity("p", "missing", {"v": 1}))])


async def test_transact_delete_of_missing_row_is_a_no_op(storage: Storage) -> None:
    etag = await storage.tables.insert(T, Entity("p", "doomed", {}))
    etags = await storage.tables.transact(
        T,
        [
            TableOp(OpKind.INSERT, Entity("p", "a", {"v": 1})),
            TableOp(OpKind.DELETE, Entity("p", "never-there")),
            TableOp(OpKind.DELETE, Entity("p", "doomed", {}, etag)),
        ],
    )
    assert etags[0]
    assert etags[1:] == ["", ""]
    assert [e.row_key for e in await storage.tables.query(T, "p")] == ["a"]


async def test_transact_carries_any_key_and_every_property_type(storage: Storage) -> None:
    """Transactions are encoded apart from single-row writes on Azure: same keys, same types, same rows."""
    keys = [*WEIRD_ROW_KEYS, "it's", "''"]
    props: dict[str, Value] = {
        "text": "é\"'\\\n" + "x" * 20_000,
        "small": -7,
        "big": 2**40,
        "ratio": 1.5,
        "whole": 2.0,
        "yes": True,
        "no": False,
        "nothing": None,
    }
    first = await storage.tables.transact(
        T, [TableOp(OpKind.INSERT, Entity(WEIRD_PARTITION, rk, {**props, "i": i})) for i, rk in enumerate(keys)]
    )
    assert len(first) == len(keys) and all(first)
    # Conditional replace, unconditional replace, insert-or-replace and delete, each on an awkward key.
    etags = await storage.tables.transact(
        T,
        [
            TableOp(OpKind.UPDATE, Entity(WEIRD_PARTITION, "it's", {"i": 100}, first[-2])),
            TableOp(OpKind.UPDATE, Entity(WEIRD_PARTITION, "a/b", {"i": 101})),
            TableOp(OpKind.UPSERT, Entity(WEIRD_PARTITION, "a#d", {"i": 102})),
            TableOp(OpKind.UPSERT, Entity(WEIRD_PARTITION, "new/σ'", {"i": 103})),
            TableOp(OpKind.DELETE, Entity(WEIRD_PARTITION, "''", {}, first[-1])),
            TableOp(OpKind.DELETE, Entity(WEIRD_PARTITION, "a?e")),
        ],
    )
    assert all(etags[:4]) and etags[4:] == ["", ""]
    rows = {e.row_key: e for e in await storage.tables.query(T, WEIRD_PARTITION)}
    assert set(rows) == set(keys) - {"''", "a?e"} | {"new/σ'"}
    assert [rows[k].get_int("i") for k in ("it's", "a/b", "a#d", "new/σ'")] == [100, 101, 102, 103]
    assert [rows[k].etag for k in ("it's", "a/b", "a#d", "new/σ'")] == etags[:4]
    kept = rows["a\U0001f600"]
    assert kept.etag == first[keys.index("a\U0001f600")]
    stored = {k: v for k, v in kept.properties.items() if k != "i" and v is not None}  # None: absent on Azure
    assert stored == {k: v for k, v in props.items() if v is not None}
    assert type(kept.properties["big"]) is int and type(kept.properties["whole"]) is float
    with pytest.raises(EtagMismatchError):  # the etags a transaction returns are the rows' real ones
        await storage.tables.transact(T, [TableOp(OpKind.UPDATE, Entity(WEIRD_PARTITION, "it's", {}, first[-2]))])


async def test_transact_across_partitions_is_rejected(storage: Storage) -> None:
    with pytest.raises(ValueError, match="partition"):
        await storage.tables.transact(
            T,
            [
                TableOp(OpKind.INSERT, Entity("p1", "r", {})),
                TableOp(OpKind.INSERT, Entity("p2", "r", {})),
            ],
        )
    assert await storage.tables.get(T, "p1", "r") is None


async def test_tables_are_separate(storage: Storage) -> None:
    await storage.tables.insert("left", Entity("p", "r", {"side": "left"}))
    assert await storage.tables.get("right", "p", "r") is None
    await storage.tables.insert("right", Entity("p", "r", {"side": "right"}))
    left = await storage.tables.get("left", "p", "r")
    assert left is not None
    assert left.get_str("side") == "left"


# --------------------------------------------------------------------------------------------------
# Blobs
# --------------------------------------------------------------------------------------------------

SMALL = b"hello, feed\n" * 100
LARGE = os.urandom(5 * 1024 * 1024 + 123)  # more than one 4 MiB block


async def test_put_if_absent_keeps_the_first_content(storage: Storage) -> None:
    key = "sha256/ab/abcdef.tgz"
    assert await storage.blobs.put_if_absent(key, chunks_of(SMALL), "application/gzip") is PutOutcome.CREATED
    assert (
        await storage.blobs.put_if_absent(key, chunks_of(b"other bytes"), "application/gzip")
        is PutOutcome.ALREADY_EXISTED
    )
    assert await storage.blobs.read_all(key) == SMALL
    info = await storage.blobs.stat(key)
    assert info is not None
    assert info.key == key
    assert info.size == len(SMALL)


async def test_put_consumes_the_chunks_even_when_the_key_exists(storage: Storage) -> None:
    key = "docs/large.bin"
    assert await storage.blobs.put_if_absent(key, chunks_of(LARGE), "application/octet-stream") is (PutOutcome.CREATED)
    consumed = 0

    async def counting() -> AsyncIterator[bytes]:
        nonlocal consumed
        async for chunk in chunks_of(LARGE[::-1]):
            consumed += len(chunk)
            yield chunk

    outcome = await storage.blobs.put_if_absent(key, counting(), "application/octet-stream")
    assert outcome is PutOutcome.ALREADY_EXISTED
    assert consumed == len(LARGE)
    assert await storage.blobs.read_all(key) == LARGE


@pytest.mark.parametrize("size", ["small", "large"])
async def test_concurrent_puts_exactly_one_created(storage: Storage, size: str) -> None:
    key = f"race/{size}.bin"
    base = SMALL if size == "small" else LARGE
    payloads = [bytes([i]) + base for i in range(4)]
    outcomes = await asyncio.gather(
        *(storage.blobs.put_if_absent(key, chunks_of(p), "application/octet-stream") for p in payloads)
    )
    assert outcomes.count(PutOutcome.CREATED) == 1
    assert outcomes.count(PutOutcome.ALREADY_EXISTED) == 3
    winner = payloads[outcomes.index(PutOutcome.CREATED)]
    assert await storage.blobs.read_all(key) == winner


async def test_read_streams_a_large_blob(storage: Storage) -> None:
    key = "big/five-mib.bin"
    assert await storage.blobs.put_if_absent(key, chunks_of(LARGE), "application/octet-stream") is (PutOutcome.CREATED)
    received = bytearray()
    pieces = 0
    async for chunk in storage.blobs.read(key, chunk_size=256 * 1024):
        assert 0 < len(chunk) <= 256 * 1024
        received += chunk
        pieces += 1
    assert bytes(received) == LARGE
    assert pieces >= len(LARGE) // (256 * 1024)
    info = await storage.blobs.stat(key)
    assert info is not None
    assert info.size == len(LARGE)


async def test_empty_blob(storage: Storage) -> None:
    assert await storage.blobs.put_if_absent("empty/0", chunks_of(b""), "text/plain") is PutOutcome.CREATED
    assert await storage.blobs.read_all("empty/0") == b""
    assert [c async for c in storage.blobs.read("empty/0")] in ([], [b""])
    info = await storage.blobs.stat("empty/0")
    assert info is not None
    assert info.size == 0


async def test_missing_blob(storage: Storage) -> None:
    with pytest.raises(BlobNotFoundError):
        async for _ in storage.blobs.read("missing/blob"):
            pass
    assert await storage.blobs.read_all("missing/blob") is None
    assert await storage.blobs.stat("missing/blob") is None
    await storage.blobs.delete("missing/blob")


async def test_delete_blob(storage: Storage) -> None:
    await storage.blobs.put_if_absent("gone/soon", chunks_of(SMALL), "text/plain")
    await storage.blobs.delete("gone/soon")
    assert await storage.blobs.stat("gone/soon") is None
    assert await storage.blobs.read_all("gone/soon") is None
    assert await storage.blobs.put_if_absent("gone/soon", chunks_of(b"again"), "text/plain") is (PutOutcome.CREATED)
    assert await storage.blobs.read_all("gone/soon") == b"again"


async def test_local_path(storage: Storage) -> None:
    await storage.blobs.put_if_absent("local/one", chunks_of(SMALL), "text/plain")
    path = storage.blobs.local_path("local/one")
    if is_azure(storage):
        assert path is None
    else:
        assert path is not None
        assert Path(path).read_bytes() == SMALL


async def test_download_url(storage: Storage) -> None:
    key = "pkg/six-1.16.0-py2.py3-none-any.whl"
    await storage.blobs.put_if_absent(key, chunks_of(SMALL), "application/zip")
    url = await storage.blobs.download_url(key, "six-1.16.0-py2.py3-none-any.whl", ttl_seconds=300)
    if not is_azure(storage):
        assert url is None
        return
    assert url is not None
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        ok = await client.get(url)
        assert ok.status_code == 200
        assert ok.content == SMALL
        assert "six-1.16.0-py2.py3-none-any.whl" in ok.headers.get("content-disposition", "")

        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        sig = query["sig"]
        query["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
        tampered = urlunsplit(parts._replace(query=urlencode(query)))
        assert (await client.get(tampered)).status_code == 403

        other_key = urlunsplit(parts._replace(path=parts.path.replace("six-1.16.0", "six-9.9.9")))
        assert (await client.get(other_key)).status_code == 403


# --------------------------------------------------------------------------------------------------
# Maintenance: scans, listings and conditional deletes (garbage collection, purging a feed)
# --------------------------------------------------------------------------------------------------


async def test_scan_reads_every_partition_with_the_prefix_across_pages(storage: Storage) -> None:
    partitions = [f"feed|npm|p{i}" for i in range(6)] + ["feed|npm/odd?#", "feedx|npm|a", "other"]
    for pk in partitions:
        await storage.tables.transact(
            T, [TableOp(OpKind.INSERT, Entity(pk, f"r{j:03d}", {"j": j})) for j in range(100)]
        )
    await storage.tables.insert("elsewhere", Entity("feed|npm|p0", "not-this-table"))
    everything = [(e.partition_key, e.row_key) async for e in storage.tables.scan(T)]
    assert sorted(everything) == sorted((pk, f"r{j:03d}") for pk in partitions for j in range(100))
    some = [e async for e in storage.tables.scan(T, "feed|")]
    assert {e.partition_key for e in some} == {pk for pk in partitions if pk.startswith("feed|")}
    assert len(some) == 700 and all(e.get_int("j") == int(e.row_key[1:]) and e.etag for e in some)
    assert [e async for e in storage.tables.scan(T, "nothing-here")] == []


async def test_list_blobs_with_size_and_last_modified(storage: Storage) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)  # the storage service's clock may differ a little
    assert [b async for b in storage.blobs.list_blobs()] == []
    await storage.blobs.put_if_absent("content/sha256/aa", chunks_of(SMALL), "application/octet-stream")
    await storage.blobs.put_if_absent("content/sha256/bb", chunks_of(b""), "application/octet-stream")
    await storage.blobs.put_if_absent("manifests/sha256/cc", chunks_of(b"{}"), "application/json")
    listed = {b.key: b async for b in storage.blobs.list_blobs("content/")}
    assert set(listed) == {"content/sha256/aa", "content/sha256/bb"}
    assert (listed["content/sha256/aa"].size, listed["content/sha256/bb"].size) == (len(SMALL), 0)
    after = datetime.now(UTC) + timedelta(minutes=5)
    assert all(before < b.last_modified < after for b in listed.values())
    assert {b.key async for b in storage.blobs.list_blobs()} == {*listed, "manifests/sha256/cc"}
    assert {b.key async for b in storage.blobs.list_blobs("content/sha256/a")} == {"content/sha256/aa"}
    info = await storage.blobs.stat("content/sha256/aa")
    assert info is not None and info.last_modified == listed["content/sha256/aa"].last_modified


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "large"])
async def test_put_of_an_existing_key_renews_its_last_modified_time(storage: Storage, data: bytes) -> None:
    key = "content/sha256/renewed"
    await storage.blobs.put_if_absent(key, chunks_of(data), "application/octet-stream")
    first = await storage.blobs.stat(key)
    await asyncio.sleep(1.1)  # Azure keeps whole seconds
    outcome = await storage.blobs.put_if_absent(key, chunks_of(data), "application/octet-stream")
    assert outcome is PutOutcome.ALREADY_EXISTED
    second = await storage.blobs.stat(key)
    assert first is not None and second is not None
    assert second.last_modified > first.last_modified
    assert await storage.blobs.read_all(key) == data


async def test_renew_refreshes_the_last_modified_time_of_an_existing_blob(storage: Storage) -> None:
    key = "content/sha256/touched"
    assert await storage.blobs.renew(key) is None  # missing: nothing to renew, nothing created
    assert await storage.blobs.stat(key) is None
    await storage.blobs.put_if_absent(key, chunks_of(SMALL), "application/octet-stream")
    first = await storage.blobs.stat(key)
    await asyncio.sleep(1.1)  # Azure keeps whole seconds
    renewed = await storage.blobs.renew(key)
    assert first is not None and renewed is not None
    assert renewed.size == len(SMALL) and renewed.last_modified > first.last_modified
    assert await storage.blobs.delete_if_older(key, first.last_modified + timedelta(milliseconds=500)) is False
    assert await storage.blobs.read_all(key) == SMALL


async def test_delete_if_older_spares_blobs_modified_after_the_cutoff(storage: Storage) -> None:
    key = "content/sha256/old"
    await storage.blobs.put_if_absent(key, chunks_of(SMALL), "application/octet-stream")
    info = await storage.blobs.stat(key)
    assert info is not None
    assert await storage.blobs.delete_if_older(key, info.last_modified - timedelta(seconds=2)) is False
    assert await storage.blobs.read_all(key) == SMALL
    assert await storage.blobs.delete_if_older(key, info.last_modified + timedelta(seconds=2)) is True
    assert await storage.blobs.stat(key) is None
    assert await storage.blobs.delete_if_older(key, datetime.now(UTC)) is False  # missing: nothing to do


async def test_sweep_removes_only_stale_leftovers_of_interrupted_writes(storage: Storage, tmp_path: Path) -> None:
    await storage.blobs.put_if_absent("content/sha256/kept", chunks_of(SMALL), "application/octet-stream")
    now = datetime.now(UTC)
    if is_azure(storage):  # uncommitted blocks are invisible and expire on their own
        assert await storage.blobs.sweep_interrupted_writes(now) == (0, 0)
        return
    leftovers = tmp_path / "blobs" / ".tmp"
    stale, fresh = leftovers / "tmp-crashed", leftovers / "tmp-in-progress"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 3)
    day_ago = (now - timedelta(days=1)).timestamp()
    os.utime(stale, (day_ago, day_ago))
    cutoff = now - timedelta(hours=1)
    assert {b.key async for b in storage.blobs.list_blobs()} == {"content/sha256/kept"}
    assert await storage.blobs.sweep_interrupted_writes(cutoff, dry_run=True) == (1, 10)
    assert stale.exists()
    assert await storage.blobs.sweep_interrupted_writes(cutoff) == (1, 10)
    assert not stale.exists() and fresh.exists()
    assert await storage.blobs.read_all("content/sha256/kept") == SMALL
