"""Upstream state kept on the ports: cached upstream metadata and per-package upstream behaviour.

Table ``upstreammeta``: partition ``<protocol>|<source key>``, row = package name; holds the
validators (ETag, Last-Modified), when it was fetched, the blob with the document, and the blob
with the release-age floors of its versions (see ``domain/release_age.py``; absent when none is
needed). Both are content-addressed blobs (``upstream-meta/sha256/<hex>``), since upstream
documents can be megabytes. The source key (``feed_core.service.upstream.source_key``) is a hash of
the location for anonymous upstreams, so feeds that share one share its cache, and the feed and
source ids for upstreams with credentials: nothing derived from a secret is stored.

Table ``upstreaming``: partition ``<feed id>|<protocol>``, row = package name; the package's
``versionsFromExternalUpstreams`` setting (absent = ``auto``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from feed_core.domain.upstream_rules import Behaviour
from feed_core.storage.bulk import delete_partitions
from feed_core.storage.ports import BlobStore, Entity, TableStore

UPSTREAM_META, UPSTREAMING = "upstreammeta", "upstreaming"
DOCUMENT_PREFIX = "upstream-meta/sha256/"


@dataclass(frozen=True)
class CachedDocument:
    """One cached upstream answer as garbage collection sees it."""

    protocol: str
    source_key: str
    name: str
    blob_key: str
    floors_key: str = ""

    @property
    def blob_keys(self) -> set[str]:
        """The blobs this answer references."""
        return {k for k in (self.blob_key, self.floors_key) if k}


@dataclass(frozen=True)
class CachedMeta:
    blob_key: str  # "" when the upstream said the package does not exist
    etag: str | None
    last_modified: str | None
    fetched_at: float  # epoch seconds of the last successful answer (200, 304 or 404)
    floors_key: str = ""  # blob of the release-age floors, "" when there are none


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class UpstreamStateStore:
    def __init__(self, tables: TableStore, blobs: BlobStore) -> None:
        self._t = tables
        self._b = blobs

    async def get_meta(self, protocol: str, source_key: str, name: str) -> CachedMeta | None:
        e = await self._t.get(UPSTREAM_META, f"{protocol}|{source_key}", name)
        if e is None:
            return None
        fetched = e.properties.get("fetchedAt")
        return CachedMeta(
            e.get_str("blobKey"),
            e.get_str("etag") or None,
            e.get_str("lastModified") or None,
            float(fetched) if isinstance(fetched, (int, float)) else 0.0,
            e.get_str("floorsKey"),
        )

    async def put_meta(self, protocol: str, source_key: str, name: str, meta: CachedMeta) -> None:
        await self._t.upsert(
            UPSTREAM_META,
            Entity(
                f"{protocol}|{source_key}",
                name,
                {
                    "blobKey": meta.blob_key,
                    "etag": meta.etag,
                    "lastModified": meta.last_modified,
                    "fetchedAt": meta.fetched_at,
                    "floorsKey": meta.floors_key,
                },
            ),
        )

    async def store_document(self, body: bytes) -> str:
        key = f"{DOCUMENT_PREFIX}{hashlib.sha256(body).hexdigest()}"
        await self._b.put_if_absent(key, _one(body), "application/json")
        return key

    async def read_document(self, key: str) -> bytes | None:
        return await self._b.read_all(key)

    async def store_floors(self, floors: dict[str, str]) -> str:
        """Keep the release-age floors of one package's versions; the blob key ("" when there are none)."""
        return await self.store_document(json.dumps(floors, sort_keys=True).encode()) if floors else ""

    async def read_floors(self, key: str) -> dict[str, str]:
        """The floors kept under ``key``; none when the key is empty or the blob unreadable."""
        body = await self._b.read_all(key) if key else None
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}

    async def cached_documents(self) -> AsyncIterator[CachedDocument]:
        """Every cached upstream answer of every upstream (for garbage collection)."""
        async for row in self._t.scan(UPSTREAM_META):
            protocol, _, skey = row.partition_key.partition("|")
            yield CachedDocument(protocol, skey, row.row_key, row.get_str("blobKey"), row.get_str("floorsKey"))

    async def forget(self, doc: CachedDocument) -> None:
        """Drop one cached answer: the next request for it asks the upstream afresh."""
        await self._t.delete(UPSTREAM_META, f"{doc.protocol}|{doc.source_key}", doc.name)

    async def delete_feed(self, feed_id: str) -> int:
        """Delete a feed's per-package upstream behaviour rows; the number of rows."""
        return await delete_partitions(self._t, UPSTREAMING, f"{feed_id}|")

    async def behaviour_feed_ids(self) -> set[str]:
        """The ids of every feed with upstream behaviour rows (for garbage collection)."""
        return {e.partition_key.split("|", 1)[0] async for e in self._t.scan(UPSTREAMING)}

    async def get_behaviour(self, feed_id: str, protocol: str, name: str) -> Behaviour:
        e = await self._t.get(UPSTREAMING, f"{feed_id}|{protocol}", name)
        if e is None:
            return Behaviour.AUTO
        return Behaviour.ALLOW_EXTERNAL if e.get_str("value") == Behaviour.ALLOW_EXTERNAL.value else Behaviour.AUTO

    async def set_behaviour(self, feed_id: str, protocol: str, name: str, behaviour: Behaviour) -> None:
        if behaviour is Behaviour.AUTO:
            await self._t.delete(UPSTREAMING, f"{feed_id}|{protocol}", name)
        else:
            await self._t.upsert(UPSTREAMING, Entity(f"{feed_id}|{protocol}", name, {"value": behaviour.value}))
