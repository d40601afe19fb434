"""The Azure backend: Azure Table Storage for tables and Azure Blob Storage for blobs.

Both ports are implemented with the SDKs' async clients (``azure-data-tables`` and
``azure-storage-blob`` over aiohttp). The same code talks to a real storage account and to Azurite.

Construction (:func:`open_azure_storage`):

* with a connection string (``UseDevelopmentStorage=true`` or an explicit one with an account key),
  both clients are built with ``from_connection_string``;
* otherwise from the two account URLs with ``DefaultAzureCredential`` (managed identity, with an
  optional user-assigned client id).

Names and keys:

* A logical table name maps to the physical Azure table ``table_prefix + name`` with every
  non-alphanumeric character removed (``("feed", "package-versions")`` -> ``feedpackageversions``).
  Azure requires 3-63 characters starting with a letter and compares table names case-insensitively,
  so logical names must stay distinct after that mapping. Tables are created by :meth:`AzureTableStore.provision`
  (deployment or start-up), never on first use: a missing table raises ``StorageNotProvisionedError``.
* Azure forbids ``/ \\ # ?`` and control characters in PartitionKey/RowKey. Keys are escaped
  reversibly here: ``%`` and every forbidden character become ``%XX`` (two upper-case hex digits).
  The escaping works character by character and is prefix-free, so a row-key prefix query escapes the
  prefix the same way. Query results are sorted by the unescaped row key, exactly like the embedded
  backend (code point order).
* ``None`` property values are not written (Azure has no null): such a property is absent on read,
  which ``Entity.get_str`` and friends treat the same as ``None``. Integers outside Int32 are written as
  Edm.Int64 and come back as plain ``int``.

Limits inherited from Azure that the embedded backend does not have: a transaction holds at most 100
operations, touches each row at most once and carries at most 4 MiB; an entity is at most 1 MiB with
string properties of at most 64 KiB (32K UTF-16 characters); property names must be valid C#
identifiers.

Transactions (``transact``) are encoded and decoded by :mod:`feed_core.storage.azure_batch` rather than the
SDK's batch code, which costs several times the CPU of a single-row write; they are sent through the same client
pipeline (signing, retries, call counting).

Blobs live in one container, created by :meth:`AzureBlobStore.provision` like the tables. ``put_if_absent``
uploads small objects with a single conditional Put Blob; larger ones are staged as 4 MiB blocks and committed with
``If-None-Match: *``, so a key is never visible half-written and only one concurrent writer wins.
``download_url`` hands out a read-only SAS URL: signed with the account key when the connection string
has one, else with a user delegation key obtained through the token credential.

Azurite: blob SDK 12.31 sends an API version newer than Azurite 3.37 accepts; run Azurite with
``--skipApiVersionCheck`` (as the tests do) or pin a version with ``blob_api_version``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineResponse
from azure.core.rest import HttpRequest
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableEntity,
    UpdateMode,
)
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob import (
    BlobBlock,
    BlobSasPermissions,
    ContentSettings,
    UserDelegationKey,
    generate_blob_sas,
)
from azure.storage.blob.aio import BlobClient, BlobServiceClient, ContainerClient

from feed_core.storage.azure_batch import API_VERSION as BATCH_API_VERSION
from feed_core.storage.azure_batch import BatchFailure, BatchOp, entity_json
from feed_core.storage.azure_batch import decode as batch_decode
from feed_core.storage.azure_batch import encode as batch_encode
from feed_core.storage.calls import Service, StorageCallCounter
from feed_core.storage.ports import (
    BlobInfo,
    BlobNotFoundError,
    Entity,
    EntityExistsError,
    EntityNotFoundError,
    EtagMismatchError,
    OpKind,
    PutOutcome,
    Storage,
    StorageNotProvisionedError,
    TableOp,
    Value,
)

__all__ = [
    "AzureBlobStore",
    "AzureTableStore",
    "escape_key",
    "open_azure_storage",
    "physical_table_name",
    "unescape_key",
]

# Blob transfer sizes: uploads up to this size are one Put Blob, larger ones are staged in blocks of
# this size; downloads fetch ranges of this size (the SDK's default first GET would be 32 MiB).
_BLOCK_SIZE = 4 * 1024 * 1024

_MAX_TRANSACTION_OPS = 100
_BATCH_HEADERS = {
    "x-ms-version": BATCH_API_VERSION,
    "DataServiceVersion": "3.0",
    "MaxDataServiceVersion": "3.0;NetFx",
    "Accept": "application/json",
}

# ---------------------------------------------------------------------------------------------------
# Names and keys
# ---------------------------------------------------------------------------------------------------

_FORBIDDEN_KEY_CHARS = re.compile(r"[%/\\#?\x00-\x1f\x7f-\x9f]")
_ESCAPE_SEQUENCE = re.compile(r"%([0-9A-F]{2})")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_SYSTEM_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp"})


def escape_key(key: str) -> str:
    """Escape a partition or row key for Azure: ``%``, ``/ \\ # ?`` and control characters -> ``%XX``."""
    return _FORBIDDEN_KEY_CHARS.sub(lambda m: f"%{ord(m.group()):02X}", key)


def unescape_key(key: str) -> str:
    """Invert :func:`escape_key`."""
    return _ESCAPE_SEQUENCE.sub(lambda m: chr(int(m.group(1), 16)), key)


def physical_table_name(table_prefix: str, table: str) -> str:
    """``table_prefix + table`` without non-alphanumerics; ``ValueError`` if Azure would reject it."""
    name = re.sub(r"[^A-Za-z0-9]", "", table_prefix + table)
    if not _TABLE_NAME.match(name) or name.lower() == "tables":
        raise ValueError(
            f"table {table!r} with prefix {table_prefix!r} maps to {name!r}, which is not a valid Azure "
            "table name (3-63 alphanumerics starting with a letter)"
        )
    return name


def _upper_bound(prefix: str) -> str | None:
    """A string greater than every string starting with ``prefix``, in both code point and UTF-16
    code unit order (the service's order), or ``None`` when there is no usable bound."""
    while prefix:
        code = ord(prefix[-1])
        if code == 0xD7FF:
            # The next code points are surrogates; U+10000 is above U+D7FF in both orders.
            return prefix[:-1] + "\U00010000"
        if code not in (0xFFFF, 0x10FFFF):
            return prefix[:-1] + chr(code + 1)
        prefix = prefix[:-1]
    return None


# ---------------------------------------------------------------------------------------------------
# Entities
# ---------------------------------------------------------------------------------------------------


def _to_azure(entity: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {
        "PartitionKey": escape_key(entity.partition_key),
        "RowKey": escape_key(entity.row_key),
    }
    for name, value in entity.properties.items():
        if name in _SYSTEM_PROPERTIES:
            raise ValueError(f"property name {name!r} is reserved by Azure Tables")
        if value is None:
            continue  # Azure has no null: absent on read, which Entity.get_* treats like None
        if isinstance(value, (bool, str, float)):
            out[name] = value
        elif isinstance(value, int):
            if -(2**31) <= value < 2**31:
                out[name] = value
            elif -(2**63) <= value < 2**63:
                out[name] = EntityProperty(value, EdmType.INT64)
            else:
                raise ValueError(f"property {name!r}: integer {value} does not fit in 64 bits")
        else:
            raise TypeError(f"property {name!r}: unsupported type {type(value).__name__}")
    return out


def _from_azure_value(value: Any) -> Value:
    if isinstance(value, EntityProperty):
        if value.edm_type in (EdmType.INT64, EdmType.INT32, "Edm.Int64", "Edm.Int32"):
            return int(value.value)
        value = value.value
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # UUID and anything else another writer may have stored


def _from_azure(raw: TableEntity) -> Entity:
    props: dict[str, Value] = {}
    for name, value in raw.items():
        if name in _SYSTEM_PROPERTIES or name.startswith("odata.") or "@odata." in name:
            continue
        props[name] = _from_azure_value(value)
    etag = raw.metadata.get("etag")
    return Entity(
        unescape_key(str(raw["PartitionKey"])),
        unescape_key(str(raw["RowKey"])),
        props,
        str(etag) if etag is not None else None,
    )


def _where(table: str, entity: Entity) -> str:
    return f"{table}/{entity.partition_key}/{entity.row_key}"


def _etag_of(metadata: Mapping[str, Any]) -> str:
    etag = metadata.get("etag")
    return "" if etag is None else str(etag)


def _error_code(exc: HttpResponseError) -> str:
    """The service's error code (``TableNotFound``, ``ContainerNotFound``, ...), or ``""``."""
    code = getattr(exc, "error_code", None)  # set by the SDKs' error decoding; absent from their stubs
    text = str(getattr(code, "value", code) or "")
    if not text and exc.response is not None:  # e.g. a failed insert: the code is only in this header
        headers = getattr(exc.response, "headers", None) or {}
        text = str(headers.get("x-ms-error-code", ""))
    return text


def _is_missing_table(exc: HttpResponseError) -> bool:
    return exc.status_code == 404 and _error_code(exc) == "TableNotFound"


def _is_missing_container(exc: HttpResponseError) -> bool:
    return exc.status_code == 404 and _error_code(exc) == "ContainerNotFound"


def _map_error(exc: HttpResponseError, where: str) -> Exception:
    """Map a single-entity write failure onto the port's errors (the exception itself if unknown)."""
    if isinstance(exc, ResourceExistsError) or exc.status_code == 409:
        return EntityExistsError(where)
    if isinstance(exc, ResourceModifiedError) or exc.status_code == 412:
        return EtagMismatchError(where)
    if isinstance(exc, ResourceNotFoundError) or exc.status_code == 404:
        return EntityNotFoundError(where)
    return exc


def _map_batch_failure(failure: BatchFailure, where: str) -> Exception:
    """The port's error for the operation a transaction failed on."""
    if failure.code == "EntityAlreadyExists" or failure.status == 409:
        return EntityExistsError(where)
    if failure.code == "UpdateConditionNotSatisfied" or failure.status == 412:
        return EtagMismatchError(where)
    if failure.code == "ResourceNotFound" or failure.status == 404:
        return EntityNotFoundError(where)
    return HttpResponseError(message=f"{where}: HTTP {failure.status} {failure.code}: {failure.message[:500]}")


class AzureTableStore:
    """:class:`~feed_core.storage.ports.TableStore` on Azure Table Storage (or Azurite)."""

    def __init__(self, service: TableServiceClient, table_prefix: str = "") -> None:
        self._service = service
        self._prefix = table_prefix
        self._clients: dict[str, TableClient] = {}

    async def _table(self, table: str) -> TableClient:
        """The client of the physical table (building it sends nothing)."""
        client = self._clients.get(table)
        if client is None:
            client = self._service.get_table_client(physical_table_name(self._prefix, table))
            self._clients[table] = client
        return client

    def _missing(self, table: str) -> StorageNotProvisionedError:
        return StorageNotProvisionedError(f"the Azure table {physical_table_name(self._prefix, table)!r} ({table})")

    async def provision(self, tables: Sequence[str]) -> None:
        """Create every table at once; one that exists already (409) is fine."""

        async def create(table: str) -> None:
            with contextlib.suppress(ResourceExistsError):
                await self._service.create_table(physical_table_name(self._prefix, table))

        await asyncio.gather(*(create(t) for t in dict.fromkeys(tables)))

    async def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        client = await self._table(table)
        try:
            raw = await client.get_entity(escape_key(partition_key), escape_key(row_key))
        except ResourceNotFoundError as exc:
            if _is_missing_table(exc):
                raise self._missing(table) from exc
            return None
        return _from_azure(raw)

    async def query(self, table: str, partition_key: str, row_key_prefix: str = "") -> list[Entity]:
        client = await self._table(table)
        parameters: dict[str, Any] = {"pk": escape_key(partition_key)}
        query_filter = "PartitionKey eq @pk"
        if row_key_prefix:
            low = escape_key(row_key_prefix)
            parameters["lo"] = low
            query_filter += " and RowKey ge @lo"
            high = _upper_bound(low)
            if high is not None:
                parameters["hi"] = high
                query_filter += " and RowKey lt @hi"
        try:
            entities = [_from_azure(raw) async for raw in client.query_entities(query_filter, parameters=parameters)]
        except ResourceNotFoundError as exc:
            if _is_missing_table(exc):
                raise self._missing(table) from exc
            raise
        # The range is only a coarse filter (orders differ past the BMP): check the prefix exactly.
        result = [e for e in entities if e.row_key.startswith(row_key_prefix)]
        result.sort(key=lambda e: e.row_key)
        return result

    async def scan(self, table: str, partition_prefix: str = "") -> AsyncIterator[Entity]:
        client = await self._table(table)
        low = escape_key(partition_prefix)
        high = _upper_bound(low)
        if not low:
            pages = client.list_entities()
        elif high is None:
            pages = client.query_entities("PartitionKey ge @lo", parameters={"lo": low})
        else:
            pages = client.query_entities(
                "PartitionKey ge @lo and PartitionKey lt @hi", parameters={"lo": low, "hi": high}
            )
        try:
            async for raw in pages:
                entity = _from_azure(raw)
                if entity.partition_key.startswith(partition_prefix):  # the range is coarse, as in query()
                    yield entity
        except ResourceNotFoundError as exc:
            if _is_missing_table(exc):
                raise self._missing(table) from exc
            raise

    async def insert(self, table: str, entity: Entity) -> str:
        client = await self._table(table)
        try:
            metadata = await client.create_entity(_to_azure(entity))
        except HttpResponseError as exc:
            raise self._write_error(exc, table, _where(table, entity)) from exc
        return _etag_of(metadata)

    async def update(self, table: str, entity: Entity) -> str:
        client = await self._table(table)
        try:
            if entity.etag is not None:
                metadata = await client.update_entity(
                    _to_azure(entity),
                    mode=UpdateMode.REPLACE,
                    etag=entity.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            else:  # If-Match: * -> replace an existing row, 404 when there is none
                metadata = await client.update_entity(_to_azure(entity), mode=UpdateMode.REPLACE)
        except HttpResponseError as exc:
            raise self._write_error(exc, table, _where(table, entity)) from exc
        return _etag_of(metadata)

    async def upsert(self, table: str, entity: Entity) -> str:
        client = await self._table(table)
        try:
            metadata = await client.upsert_entity(_to_azure(entity), mode=UpdateMode.REPLACE)
        except HttpResponseError as exc:
            raise self._write_error(exc, table, _where(table, entity)) from exc
        return _etag_of(metadata)

    async def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        client = await self._table(table)
        where = f"{table}/{partition_key}/{row_key}"
        answers: list[tuple[int, str]] = []

        def record(response: PipelineResponse[Any, Any]) -> None:
            answer = response.http_response
            answers.append((answer.status_code, answer.headers.get("x-ms-error-code", "")))

        conditional: dict[str, Any] = (
            {} if etag is None else {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        )
        try:
            await client.delete_entity(
                escape_key(partition_key), escape_key(row_key), raw_response_hook=record, **conditional
            )
        except HttpResponseError as exc:
            raise self._write_error(exc, table, where) from exc
        # The SDK swallows 404, for a missing table as well as a missing row.
        if answers and answers[-1][0] == 404:
            if answers[-1][1] == "TableNotFound":
                raise self._missing(table)
            if etag is not None:  # a conditional delete of a missing row is an error in the port
                raise EntityNotFoundError(where)

    def _write_error(self, exc: HttpResponseError, table: str, where: str) -> Exception:
        return self._missing(table) if _is_missing_table(exc) else _map_error(exc, where)

    @staticmethod
    def _operation(op: TableOp) -> BatchOp:
        e = op.entity
        pk, rk = escape_key(e.partition_key), escape_key(e.row_key)
        if op.kind is OpKind.DELETE:
            return BatchOp("DELETE", pk, rk, None, e.etag or "*")
        raw = _to_azure(e)
        int64 = frozenset(k for k, v in raw.items() if isinstance(v, EntityProperty))
        body = entity_json({k: v.value if isinstance(v, EntityProperty) else v for k, v in raw.items()}, int64)
        if op.kind is OpKind.INSERT:
            return BatchOp("POST", pk, rk, body)
        if op.kind is OpKind.UPSERT:
            return BatchOp("PUT", pk, rk, body)  # no condition: insert or replace
        return BatchOp("PUT", pk, rk, body, e.etag or "*")  # replace an existing row (conditionally)

    async def _submit(self, client: TableClient, ops: list[BatchOp]) -> list[str] | BatchFailure:
        """Send one transaction through the client's pipeline (signed, retried and counted like every call)."""
        # The SDK's own batch code addresses the service and sends through the client this way.
        base = f"{client.scheme}://{client._primary_hostname}"
        content_type, body = batch_encode(f"{base}/{client.table_name}", ops)
        request = HttpRequest("POST", f"{base}/$batch", headers={**_BATCH_HEADERS, "Content-Type": content_type})
        request.set_bytes_body(body)
        response = await client._client.send_request(request, stream=True)
        await response.read()
        if response.status_code != 202:
            raise HttpResponseError(
                message=f"the transaction was refused with HTTP {response.status_code}: {response.text()[:500]}",
                response=response,
            )
        return batch_decode(response.headers.get("Content-Type", ""), response.content, len(ops))

    async def transact(self, table: str, ops: Sequence[TableOp]) -> list[str]:
        if not ops:
            return []
        if len({o.entity.partition_key for o in ops}) > 1:
            raise ValueError("a transaction may only touch one partition")
        if len(ops) > _MAX_TRANSACTION_OPS:
            raise ValueError(f"an Azure transaction holds at most {_MAX_TRANSACTION_OPS} operations")
        if len({o.entity.row_key for o in ops}) < len(ops):
            raise ValueError("an Azure transaction may touch each row only once")
        client = await self._table(table)
        active = list(range(len(ops)))  # indexes of ops still sent
        etags = [""] * len(ops)
        while active:
            try:
                outcome = await self._submit(client, [self._operation(ops[i]) for i in active])
            except HttpResponseError as exc:
                raise self._write_error(exc, table, f"{table}/{ops[0].entity.partition_key}") from exc
            if isinstance(outcome, BatchFailure):
                if outcome.code == "TableNotFound":
                    raise self._missing(table)
                op = ops[active[outcome.index]]
                error = _map_batch_failure(outcome, _where(table, op.entity))
                if isinstance(error, EntityNotFoundError) and op.kind is OpKind.DELETE and op.entity.etag is None:
                    # Deleting a missing row is a no-op in the port, but fails an Azure batch: drop
                    # it and resend the rest (nothing was written by the failed attempt).
                    del active[outcome.index]
                    continue
                raise error
            for i, etag in zip(active, outcome, strict=True):
                if ops[i].kind is not OpKind.DELETE:
                    etags[i] = etag
            break
        return etags

    async def close(self) -> None:
        self._clients.clear()
        await self._service.close()


# ---------------------------------------------------------------------------------------------------
# Blobs
# ---------------------------------------------------------------------------------------------------


def _content_disposition(filename: str) -> str:
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class AzureBlobStore:
    """:class:`~feed_core.storage.ports.BlobStore` on one Azure Blob Storage container (or Azurite).

    ``credential`` is the token credential the service client uses (``None`` with a connection string);
    the store closes it in :meth:`close`.
    """

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        credential: DefaultAzureCredential | None = None,
    ) -> None:
        self._service = service
        self._container_name = container
        self._container: ContainerClient = service.get_container_client(container)
        self._credential = credential
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_key_expiry: datetime | None = None

    def _blob(self, key: str) -> BlobClient:
        if not key:
            raise ValueError("empty blob key")
        return self._container.get_blob_client(key)

    def _missing(self, exc: ResourceNotFoundError) -> Exception:
        """The port's error for a missing container; ``exc`` itself for a missing blob."""
        if _is_missing_container(exc):
            return StorageNotProvisionedError(f"the blob container {self._container_name!r}")
        return exc

    async def provision(self) -> None:
        """Create the container; one that exists already (409) is fine."""
        with contextlib.suppress(ResourceExistsError):
            await self._container.create_container()

    async def put_if_absent(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> PutOutcome:
        blob = self._blob(key)
        settings = ContentSettings(content_type=content_type)
        source = aiter(chunks)
        pending = bytearray()

        async def fill() -> bool:
            """Read until a block is buffered; True when the source is exhausted."""
            while len(pending) < _BLOCK_SIZE:
                try:
                    chunk = await anext(source)
                except StopAsyncIteration:
                    return True
                pending.extend(chunk)
            return False

        async def drain() -> None:
            async for _ in source:
                pass

        exhausted = await fill()
        if exhausted:  # small object: one conditional Put Blob
            while True:
                try:
                    await blob.upload_blob(bytes(pending), overwrite=False, content_settings=settings)
                except ResourceNotFoundError as exc:
                    raise self._missing(exc) from exc
                except (ResourceExistsError, ResourceModifiedError):
                    if await self._renew(blob):
                        return PutOutcome.ALREADY_EXISTED
                    continue  # garbage collection removed it just now: write it after all
                return PutOutcome.CREATED

        # Large object: skip the upload when the key is taken (content-addressed keys often are).
        if await self._renew(blob):
            await drain()
            return PutOutcome.ALREADY_EXISTED
        # Block ids are unique per upload (and of equal length), so concurrent writers of the same
        # key never commit each other's blocks.
        upload_id = uuid.uuid4().hex
        block_ids: list[str] = []
        while True:
            while len(pending) >= _BLOCK_SIZE or (exhausted and pending):
                piece = bytes(pending[:_BLOCK_SIZE])
                del pending[:_BLOCK_SIZE]
                block_id = f"{upload_id}-{len(block_ids):06d}"  # the SDK base64-encodes it
                try:
                    await blob.stage_block(block_id, io.BytesIO(piece), length=len(piece))
                except ResourceNotFoundError as exc:
                    raise self._missing(exc) from exc
                block_ids.append(block_id)
            if exhausted:
                break
            exhausted = await fill()
        try:
            await blob.commit_block_list(
                [BlobBlock(block_id=b) for b in block_ids],
                content_settings=settings,
                match_condition=MatchConditions.IfMissing,  # If-None-Match: * (an etag is a TypeError)
            )
        except (ResourceExistsError, ResourceModifiedError):
            return PutOutcome.ALREADY_EXISTED
        return PutOutcome.CREATED

    async def _renew(self, blob: BlobClient) -> bool:
        """Renew an existing blob's Last-Modified (setting metadata does; see BlobStore.put_if_absent).
        False when the blob does not exist."""
        try:
            await blob.set_blob_metadata({})
        except ResourceNotFoundError as exc:
            if _is_missing_container(exc):
                raise self._missing(exc) from exc
            return False
        return True

    async def stat(self, key: str) -> BlobInfo | None:
        try:
            props = await self._blob(key).get_blob_properties()
        except ResourceNotFoundError as exc:
            if _is_missing_container(exc):
                raise self._missing(exc) from exc
            return None
        return BlobInfo(key, int(props.size), props.last_modified)

    async def renew(self, key: str) -> BlobInfo | None:
        if not await self._renew(self._blob(key)):
            return None
        return await self.stat(key)

    async def read(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        try:
            downloader = await self._blob(key).download_blob()
        except ResourceNotFoundError as exc:
            if _is_missing_container(exc):
                raise self._missing(exc) from exc
            raise BlobNotFoundError(key) from exc
        async for chunk in downloader.chunks():
            if len(chunk) <= chunk_size:
                yield chunk
                continue
            view = memoryview(chunk)
            for start in range(0, len(chunk), chunk_size):
                yield bytes(view[start : start + chunk_size])

    async def read_all(self, key: str) -> bytes | None:
        try:
            downloader = await self._blob(key).download_blob()
            return await downloader.readall()
        except ResourceNotFoundError as exc:
            if _is_missing_container(exc):
                raise self._missing(exc) from exc
            return None

    async def delete(self, key: str) -> None:
        try:
            await self._blob(key).delete_blob()
        except ResourceNotFoundError as exc:
            if _is_missing_container(exc):
                raise self._missing(exc) from exc

    async def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        try:
            async for props in self._container.list_blobs(name_starts_with=prefix or None):
                yield BlobInfo(props.name, int(props.size), props.last_modified)
        except ResourceNotFoundError as exc:
            raise self._missing(exc) from exc

    async def delete_if_older(self, key: str, cutoff: datetime) -> bool:
        try:
            await self._blob(key).delete_blob(if_unmodified_since=cutoff)
        except ResourceNotFoundError as exc:
            if _is_missing_container(exc):
                raise self._missing(exc) from exc
            return False
        except ResourceModifiedError:
            return False
        except HttpResponseError as exc:
            if exc.status_code == 412:  # renewed after the cutoff
                return False
            raise
        return True

    async def sweep_interrupted_writes(self, cutoff: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        # An interrupted upload leaves only uncommitted blocks, which are invisible and which the
        # service itself discards after seven days.
        del cutoff, dry_run
        return 0, 0

    async def download_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        blob = self._blob(key)
        now = datetime.now(UTC)
        start = now - timedelta(minutes=5)  # tolerate clock skew between us and the service
        expiry = now + timedelta(seconds=ttl_seconds)
        common: dict[str, Any] = {
            "permission": BlobSasPermissions(read=True),
            "start": start,
            "expiry": expiry,
            "content_disposition": _content_disposition(filename),
        }
        account_key = getattr(self._service.credential, "account_key", None)
        if isinstance(account_key, str) and account_key:
            sas = generate_blob_sas(
                self._service.account_name or "", self._container_name, key, account_key=account_key, **common
            )
        elif self._credential is not None:
            delegation_key = await self._user_delegation_key(start, expiry)
            sas = generate_blob_sas(
                self._service.account_name or "",
                self._container_name,
                key,
                user_delegation_key=delegation_key,
                **common,
            )
        else:
            return None  # e.g. a SAS connection string: the server streams the bytes itself
        return f"{blob.url}?{sas}"

    async def _user_delegation_key(self, start: datetime, expiry: datetime) -> UserDelegationKey:
        """A user delegation key valid for [start, expiry], reused while it lasts (max 7 days)."""
        if (
            self._delegation_key is not None
            and self._delegation_key_expiry is not None
            and self._delegation_key_expiry >= expiry
        ):
            return self._delegation_key
        key_expiry = max(expiry, start + timedelta(hours=6))
        self._delegation_key = await self._service.get_user_delegation_key(start, key_expiry)
        self._delegation_key_expiry = key_expiry
        return self._delegation_key

    def local_path(self, key: str) -> str | None:
        del key
        return None

    async def close(self) -> None:
        try:
            await self._service.close()
        finally:
            if self._credential is not None:
                await self._credential.close()


# ---------------------------------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------------------------------


def client_transport_options(proxy: str | None) -> dict[str, Any]:
    """Options for both storage clients. ``use_env_settings=False``: the SDK's HTTP transport otherwise
    looks up the proxy variables and ``.netrc`` on every call, about half of each call's CPU; a proxy is
    configured explicitly instead (FEED_STORAGE_PROXY)."""
    options: dict[str, Any] = {"use_env_settings": False}
    if proxy:
        options["proxies"] = {"http": proxy, "https": proxy}
    return options


def _counting(counter: StorageCallCounter | None, service: Service) -> dict[str, Any]:
    """Client options that run the counter's policy on every attempt. Both SDKs call a client's
    ``raw_request_hook`` from a policy placed after their retry policy, and the table clients that
    ``get_table_client`` makes keep it (they would not keep ``per_retry_policies``)."""
    if counter is None:
        return {}
    return {"raw_request_hook": counter.policy(service).on_request}


async def open_azure_storage(
    *,
    connection_string: str | None,
    table_url: str | None,
    blob_url: str | None,
    client_id: str | None,
    table_prefix: str,
    container: str,
    blob_api_version: str | None = None,
    proxy: str | None = None,
    call_counter: StorageCallCounter | None = None,
) -> Storage:
    """Build the Azure storage pair.

    With ``connection_string`` (``UseDevelopmentStorage=true`` included) it alone is used; otherwise
    ``table_url`` and ``blob_url`` are account endpoints reached with ``DefaultAzureCredential``
    (``client_id`` selects a user-assigned managed identity). Nothing is contacted until first use.
    ``blob_api_version`` pins the blob API version (only needed for old emulators). ``proxy``: the one
    proxy storage calls go through. ``call_counter`` counts every request both clients send.
    """
    api_version = blob_api_version or None
    client_options = client_transport_options(proxy)
    table_options = {**client_options, **_counting(call_counter, "table")}
    blob_options: dict[str, Any] = {
        "max_single_get_size": _BLOCK_SIZE,
        "max_chunk_get_size": _BLOCK_SIZE,
        **client_options,
        **_counting(call_counter, "blob"),
    }
    if api_version:
        blob_options["api_version"] = api_version
    if connection_string:
        table_service = TableServiceClient.from_connection_string(connection_string, **table_options)
        blob_service = BlobServiceClient.from_connection_string(connection_string, **blob_options)
        return Storage(AzureTableStore(table_service, table_prefix), AzureBlobStore(blob_service, container))
    if not table_url or not blob_url:
        raise ValueError("Azure storage needs a connection string, or both a table URL and a blob URL")
    credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    table_service = TableServiceClient(endpoint=table_url, credential=credential, **table_options)
    blob_service = BlobServiceClient(account_url=blob_url, credential=credential, **blob_options)
    # The blob store owns (and closes) the credential shared by both clients.
    return Storage(
        AzureTableStore(table_service, table_prefix),
        AzureBlobStore(blob_service, container, credential=credential),
    )
