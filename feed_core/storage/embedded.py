"""The embedded backend: SQLite for tables and a directory of files for blobs.

It is the default for ``serve``: real and persistent, with nothing to install. SQLite runs on a
single worker thread per store so the event loop never blocks on disk; WAL mode lets the CLI and a
running server share one data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from feed_core.storage.ports import (
    BlobInfo,
    BlobNotFoundError,
    Entity,
    EntityExistsError,
    EntityNotFoundError,
    EtagMismatchError,
    OpKind,
    PutOutcome,
    TableOp,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    tbl TEXT NOT NULL, pk TEXT NOT NULL, rk TEXT NOT NULL, props TEXT NOT NULL, etag TEXT NOT NULL,
    PRIMARY KEY (tbl, pk, rk)
) WITHOUT ROWID;
"""


_SCAN_PAGE = 500  # rows per read of a scan, so a scan never holds a whole table in memory


def _new_etag() -> str:
    return secrets.token_hex(8)


class EmbeddedTableStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-sqlite")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))

    @staticmethod
    def _row(table: str, row: tuple[str, str, str, str]) -> Entity:
        pk, rk, props, etag = row
        del table
        return Entity(pk, rk, json.loads(props), etag)

    async def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        def op(c: sqlite3.Connection) -> Entity | None:
            row = c.execute(
                "SELECT pk, rk, props, etag FROM entities WHERE tbl=? AND pk=? AND rk=?",
                (table, partition_key, row_key),
            ).fetchone()
            return None if row is None else self._row(table, row)

        return await self._run(op)

    async def query(self, table: str, partition_key: str, row_key_prefix: str = "") -> list[Entity]:
        def op(c: sqlite3.Connection) -> list[Entity]:
            if row_key_prefix:
                rows = c.execute(
                    "SELECT pk, rk, props, etag FROM entities WHERE tbl=? AND pk=? AND rk>=? AND rk<? ORDER BY rk",
                    (table, partition_key, row_key_prefix, row_key_prefix + "\U0010ffff"),
                ).fetchall()
            else:
                rows = c.execute(
                    "SELECT pk, rk, props, etag FROM entities WHERE tbl=? AND pk=? ORDER BY rk",
                    (table, partition_key),
                ).fetchall()
            return [self._row(table, r) for r in rows]

        return await self._run(op)

    async def scan(self, table: str, partition_prefix: str = "") -> AsyncIterator[Entity]:
        after = (partition_prefix, "")
        high = partition_prefix + "\U0010ffff"
        while True:

            def page(c: sqlite3.Connection, after: tuple[str, str] = after) -> list[tuple[str, str, str, str]]:
                rows: list[tuple[str, str, str, str]] = c.execute(
                    "SELECT pk, rk, props, etag FROM entities WHERE tbl=? AND pk>=? AND pk<? AND (pk, rk) > (?, ?)"
                    " ORDER BY pk, rk LIMIT ?",
                    (table, partition_prefix, high, *after, _SCAN_PAGE),
                ).fetchall()
                return rows

            rows = await self._run(page)
            for row in rows:
                yield self._row(table, row)
            if len(rows) < _SCAN_PAGE:
                return
            after = (rows[-1][0], rows[-1][1])

    @staticmethod
    def _apply(c: sqlite3.Connection, table: str, op: TableOp) -> str:
        e = op.entity
        props = json.dumps(dict(e.properties), separators=(",", ":"))
        if op.kind is OpKind.DELETE:
            if e.etag is not None:
                cur = c.execute(
                    "DELETE FROM entities WHERE tbl=? AND pk=? AND rk=? AND etag=?",
                    (table, e.partition_key, e.row_key, e.etag),
                )
                if cur.rowcount == 0:
                    raise _missing_or_changed(c, table, e)
            else:
                c.execute("DELETE FROM entities WHERE tbl=? AND pk=? AND rk=?", (table, e.partition_key, e.row_key))
            return ""
        etag = _new_etag()
        if op.kind is OpKind.INSERT:
            try:
                c.execute(
                    "INSERT INTO entities (tbl, pk, rk, props, etag) VALUES (?,?,?,?,?)",
                    (table, e.partition_key, e.row_key, props, etag),
                )
            except sqlite3.IntegrityError as exc:
                raise EntityExistsError(f"{table}/{e.partition_key}/{e.row_key}") from exc
        elif op.kind is OpKind.UPSERT:
            c.execute(
                "INSERT OR REPLACE INTO entities (tbl, pk, rk, props, etag) VALUES (?,?,?,?,?)",
                (table, e.partition_key, e.row_key, props, etag),
            )
        else:  # UPDATE
            if e.etag is not None:
                cur = c.execute(
                    "UPDATE entities SET props=?, etag=? WHERE tbl=? AND pk=? AND rk=? AND etag=?",
                    (props, etag, table, e.partition_key, e.row_key, e.etag),
                )
            else:
                cur = c.execute(
                    "UPDATE entities SET props=?, etag=? WHERE tbl=? AND pk=? AND rk=?",
                    (props, etag, table, e.partition_key, e.row_key),
                )
            if cur.rowcount == 0:
                raise _missing_or_changed(c, table, e)
        return etag

    async def _write(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        def op(c: sqlite3.Connection) -> list[str]:
            c.execute("BEGIN IMMEDIATE")
            try:
                etags = [self._apply(c, table, o) for o in ops]
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            return etags

        return await self._run(op)

    async def insert(self, table: str, entity: Entity) -> str:
        return (await self._write(table, [TableOp(OpKind.INSERT, entity)]))[0]

    async def update(self, table: str, entity: Entity) -> str:
        return (await self._write(table, [TableOp(OpKind.UPDATE, entity)]))[0]

    async def upsert(self, table: str, entity: Entity) -> str:
        return (await self._write(table, [TableOp(OpKind.UPSERT, entity)]))[0]

    async def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        try:
            await self._write(table, [TableOp(OpKind.DELETE, Entity(partition_key, row_key, {}, etag))])
        except EntityNotFoundError:
            if etag is not None:
                raise

    async def provision(self, tables: Sequence[str]) -> None:
        """Open the database and create its schema: every logical table lives in the one ``entities`` table."""
        del tables
        await self._run(lambda c: None)

    async def transact(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        partitions = {o.entity.partition_key for o in ops}
        if len(partitions) > 1:
            raise ValueError("a transaction may only touch one partition")
        # The same limits Azure Tables enforces, so code that passes here also passes there.
        if len(ops) > 100:
            raise ValueError("a transaction may hold at most 100 operations")
        if len({o.entity.row_key for o in ops}) != len(ops):
            raise ValueError("a transaction may touch each row only once")
        return await self._write(table, ops)

    async def close(self) -> None:
        conn = self._conn

        def op() -> None:
            if conn is not None:
                conn.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, op)
        self._conn = None
        self._executor.shutdown(wait=True)


def _missing_or_changed(c: sqlite3.Connection, table: str, e: Entity) -> Exception:
    exists = c.execute(
        "SELECT 1 FROM entities WHERE tbl=? AND pk=? AND rk=?", (table, e.partition_key, e.row_key)
    ).fetchone()
    where = f"{table}/{e.partition_key}/{e.row_key}"
    return EtagMismatchError(where) if exists else EntityNotFoundError(where)


_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class EmbeddedBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._tmp = root / ".tmp"

    def _path(self, key: str) -> Path:
        if not _SAFE_KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe blob key {key!r}")
        return self._root / key

    async def provision(self) -> None:
        """Create the blob directory (writes create what they need as well, at no extra cost)."""
        await asyncio.get_running_loop().run_in_executor(None, lambda: self._tmp.mkdir(parents=True, exist_ok=True))

    async def put_if_absent(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> PutOutcome:
        del content_type
        final = self._path(key)
        loop = asyncio.get_running_loop()

        def open_tmp() -> tuple[int, str]:
            self._tmp.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=self._tmp)

        fd, tmp_name = await loop.run_in_executor(None, open_tmp)
        try:
            with os.fdopen(fd, "wb") as fh:
                async for chunk in chunks:
                    await loop.run_in_executor(None, fh.write, chunk)

            def publish() -> PutOutcome:
                final.parent.mkdir(parents=True, exist_ok=True)
                while True:
                    try:
                        os.link(tmp_name, final)  # atomic, and refuses to replace an existing file
                    except FileExistsError:
                        try:
                            os.utime(final)  # renew it: see BlobStore.put_if_absent
                        except FileNotFoundError:
                            continue  # garbage collection removed it just now: write it after all
                        return PutOutcome.ALREADY_EXISTED
                    return PutOutcome.CREATED

            return await loop.run_in_executor(None, publish)
        finally:
            await loop.run_in_executor(None, _unlink_quietly, tmp_name)

    async def stat(self, key: str) -> BlobInfo | None:
        path = self._path(key)
        try:
            st = await asyncio.get_running_loop().run_in_executor(None, path.stat)
        except FileNotFoundError:
            return None
        return BlobInfo(key, st.st_size, _mtime(st))

    async def renew(self, key: str) -> BlobInfo | None:
        path = self._path(key)

        def touch() -> os.stat_result:
            os.utime(path)
            return path.stat()

        try:
            st = await asyncio.get_running_loop().run_in_executor(None, touch)
        except FileNotFoundError:
            return None
        return BlobInfo(key, st.st_size, _mtime(st))

    async def read(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        path = self._path(key)
        loop = asyncio.get_running_loop()
        try:
            fh = await loop.run_in_executor(None, path.open, "rb")
        except FileNotFoundError as exc:
            raise BlobNotFoundError(key) from exc
        try:
            while chunk := await loop.run_in_executor(None, fh.read, chunk_size):
                yield chunk
        finally:
            fh.close()

    async def read_all(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, _unlink_quietly, str(self._path(key)))

    async def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        # Walk only the directory the prefix names; the temporary directory holds no blobs.
        start = self._root / prefix.rsplit("/", 1)[0] if "/" in prefix else self._root

        def walk() -> list[BlobInfo]:
            found = []
            for directory, dirs, files in os.walk(start):
                if Path(directory) == self._root:
                    dirs[:] = [d for d in dirs if d != self._tmp.name]
                for name in files:
                    path = Path(directory) / name
                    key = path.relative_to(self._root).as_posix()
                    if not key.startswith(prefix):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        st = path.stat()
                        found.append(BlobInfo(key, st.st_size, _mtime(st)))
            return found

        for info in await asyncio.get_running_loop().run_in_executor(None, walk):
            yield info

    async def delete_if_older(self, key: str, cutoff: datetime) -> bool:
        path = self._path(key)
        # Not atomic (a file system has no conditional unlink), but the window between the check and
        # the unlink is microseconds against a grace period of hours.
        return await asyncio.get_running_loop().run_in_executor(None, _unlink_if_older, path, cutoff)

    async def sweep_interrupted_writes(self, cutoff: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        def sweep() -> tuple[int, int]:
            count = size = 0
            if not self._tmp.is_dir():
                return 0, 0
            for path in self._tmp.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    st = path.stat()
                    if _mtime(st) > cutoff:
                        continue
                    if not dry_run:
                        path.unlink()
                    count, size = count + 1, size + st.st_size
            return count, size

        return await asyncio.get_running_loop().run_in_executor(None, sweep)

    async def download_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        del key, filename, ttl_seconds
        return None

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    async def close(self) -> None:
        return None


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, UTC)


def _unlink_if_older(path: Path, cutoff: datetime) -> bool:
    try:
        if _mtime(path.stat()) > cutoff:
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _unlink_quietly(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
