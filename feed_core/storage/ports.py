"""The two storage ports every backend implements, kept deliberately small.

Everything the service stores (feeds, versions, tokens, provenance) is written once on top of these
two ports; a backend only has to move entities and bytes. Keys may hold any printable character:
backends that forbid some (Azure Tables forbids ``/ \\ # ?``) escape them internally.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

#: A property value an entity may carry. Larger documents go into blobs.
Value = str | int | float | bool | None


@dataclass(frozen=True)
class Entity:
    """One table row: a partition key, a row key, properties, and the ETag it was read with."""

    partition_key: str
    row_key: str
    properties: Mapping[str, Value] = field(default_factory=dict)
    etag: str | None = None

    def get_str(self, name: str, default: str = "") -> str:
        value = self.properties.get(name)
        return value if isinstance(value, str) else default

    def get_int(self, name: str, default: int = 0) -> int:
        value = self.properties.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.properties.get(name)
        return value if isinstance(value, bool) else default


class EntityExistsError(Exception):
    """An insert found a row with the same keys already there."""


class EntityNotFoundError(Exception):
    """An update or delete named a row that does not exist."""


class EtagMismatchError(Exception):
    """A conditional write found the row changed since it was read."""


class StorageNotProvisionedError(Exception):
    """A table or the blob container does not exist. Request paths never create them (each create is a
    storage call, and most would fail because the thing exists): deployment or ``serve``'s start-up does."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} does not exist: create the storage with the deployment (infra/), or start the server once "
            "with FEED_STORAGE_CREATE=true"
        )


class OpKind(enum.Enum):
    INSERT = "insert"  # fails with EntityExistsError if present
    UPDATE = "update"  # replace; conditional on the entity's etag when it has one
    UPSERT = "upsert"  # insert or replace, unconditionally
    DELETE = "delete"  # conditional on the entity's etag when it has one


@dataclass(frozen=True)
class TableOp:
    kind: OpKind
    entity: Entity


class TableStore(Protocol):
    """Entities addressed by (partition key, row key) in named tables.

    Missing rows are reported as ``None`` by reads; writes raise the errors above.
    """

    async def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        """Return the row, or ``None`` when it does not exist."""
        ...

    async def query(self, table: str, partition_key: str, row_key_prefix: str = "") -> list[Entity]:
        """Every row of one partition whose row key starts with the prefix, ordered by row key."""
        ...

    def scan(self, table: str, partition_prefix: str = "") -> AsyncIterator[Entity]:
        """Every row of every partition whose key starts with the prefix, in no promised order.

        For maintenance (garbage collection, purging a feed), which must see rows that no index
        lists; request paths address partitions with :meth:`query` instead.
        """
        ...

    async def insert(self, table: str, entity: Entity) -> str:
        """Insert if absent and return the new ETag; ``EntityExistsError`` when the keys are taken."""
        ...

    async def update(self, table: str, entity: Entity) -> str:
        """Replace the row. With ``entity.etag`` set, only if unchanged since (else ``EtagMismatchError``)."""
        ...

    async def upsert(self, table: str, entity: Entity) -> str:
        """Insert or replace unconditionally and return the new ETag."""
        ...

    async def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        """Delete the row (conditional on ``etag`` when given). Deleting a missing row is not an error."""
        ...

    async def transact(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        """Apply writes to rows of ONE partition atomically: all of them, or none.

        Returns the new ETag of each op (``""`` for deletes). Raises the error of the first op that
        could not be applied; then nothing was written.
        """
        ...

    async def provision(self, tables: Sequence[str]) -> None:
        """Create these tables where missing (idempotent). Start-up only: the other methods never create
        a table, and raise :class:`StorageNotProvisionedError` on one that is missing."""
        ...

    async def close(self) -> None: ...


class PutOutcome(enum.Enum):
    CREATED = "created"
    ALREADY_EXISTED = "already_existed"


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    #: When the blob was written, or last renewed by a ``put_if_absent`` of the same key.
    last_modified: datetime


class BlobStore(Protocol):
    """Immutable byte objects by key. Keys are written once (put-if-absent)."""

    async def put_if_absent(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> PutOutcome:
        """Store the bytes under ``key`` unless the key already holds something.

        The bytes are consumed either way; a key is never visible half-written. When the key exists,
        its last-modified time is renewed: a writer about to reference reused bytes is then as safe
        from :meth:`delete_if_older` (garbage collection) as one that wrote them afresh.
        """
        ...

    async def stat(self, key: str) -> BlobInfo | None:
        """Size of the blob, or ``None`` when it does not exist."""
        ...

    async def renew(self, key: str) -> BlobInfo | None:
        """Renew the blob's last-modified time, as a ``put_if_absent`` of existing bytes does, and return
        its info; ``None`` when it does not exist. A writer about to reference bytes it did not write
        calls this first, so that :meth:`delete_if_older` (garbage collection) spares them."""
        ...

    def read(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """Stream the blob's bytes; ``BlobNotFoundError`` when missing (raised on first iteration)."""
        ...

    async def read_all(self, key: str) -> bytes | None:
        """The whole blob (for small documents), or ``None`` when missing."""
        ...

    async def delete(self, key: str) -> None:
        """Delete the blob; a missing key is not an error."""
        ...

    def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        """Every blob whose key starts with ``prefix``, with its size and last-modified time, in no
        promised order. Writes in progress are not blobs yet and are not listed."""
        ...

    async def delete_if_older(self, key: str, cutoff: datetime) -> bool:
        """Delete the blob only if it was last modified at or before ``cutoff``; True when deleted.

        A missing key, or one written or renewed after ``cutoff``, is left alone (False).
        """
        ...

    async def sweep_interrupted_writes(self, cutoff: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        """Remove what writes that never finished (a crash mid-upload) left behind and that was last
        touched at or before ``cutoff``; ``(count, bytes)`` removed, or that would be with ``dry_run``."""
        ...

    async def download_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        """A short-lived URL a client may fetch the bytes from directly, or ``None`` if the
        backend cannot hand one out (then the server streams the bytes itself)."""
        ...

    def local_path(self, key: str) -> str | None:
        """A file path holding the bytes when the backend is a local disk, else ``None``."""
        ...

    async def provision(self) -> None:
        """Create the place blobs live (a container, a directory) where missing (idempotent). Start-up only:
        the other methods raise :class:`StorageNotProvisionedError` when it is missing."""
        ...

    async def close(self) -> None: ...


class BlobNotFoundError(Exception):
    """A blob that should exist is missing."""


@dataclass(frozen=True)
class Storage:
    """The pair of ports a running service uses."""

    tables: TableStore
    blobs: BlobStore

    async def provision(self, tables: Sequence[str]) -> None:
        """Create the tables and the blob container where missing, at once (start-up; idempotent)."""
        await asyncio.gather(self.tables.provision(tables), self.blobs.provision())

    async def close(self) -> None:
        await self.tables.close()
        await self.blobs.close()
