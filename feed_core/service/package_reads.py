"""Warm package reads without storage calls: a per-worker cache of meta rows and version rows.

Every write of a package rewrites its meta row in the same transaction (the revision goes up), so
the meta row's ETag names the whole partition's state. Two caches follow from that:

- **The meta row**, kept for ``freshness`` seconds after the read that fetched it started.
  Concurrent requests for one package share one read. A write made on another worker is therefore
  seen within the window (plus the time of one read); a write made through this worker replaces the
  entry at once (:meth:`PackageReads.wrote`).
- **Version rows, keyed by the meta row's ETag**: the whole partition as one query returned it,
  or single rows read by point reads. An entry stays right as long as that ETag is the current one,
  so these need no expiry, only a memory bound (least recently used out first).

``freshness`` 0 turns both off: every read then goes to storage, as without this module.

Values handed out are shared between requests: callers must not change them (writers copy).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace

from feed_core.domain.models import PackageMeta, PackageVersion
from feed_core.service.cache import SingleFlight
from feed_core.storage.packages import PackageStore

#: Memory for cached version rows per worker, estimated from their manifests.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: Meta rows kept per worker (each is small); the least recently used goes first.
DEFAULT_MAX_METAS = 50_000
_ROW_OVERHEAD = 600  # bytes per version row besides its manifest, roughly


@dataclass(frozen=True)
class _MetaEntry:
    read_at: float  # time.monotonic() when the read started (or the write through this worker ended)
    meta: PackageMeta | None


@dataclass(frozen=True)
class _Partition:
    """Every version row of a package as of one meta row."""

    meta: PackageMeta
    versions: list[PackageVersion]
    by_number: dict[str, PackageVersion]
    costs: dict[str, int]  # estimated bytes per version: a partition derived from this one measures only the new


def _cost(version: PackageVersion) -> int:
    return len(json.dumps(version.manifest, separators=(",", ":"))) + _ROW_OVERHEAD


class _Lru:
    """Values with a byte cost, least recently used out first when over ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._bytes = 0
        self._data: OrderedDict[Hashable, tuple[int, object]] = OrderedDict()

    def get(self, key: Hashable) -> object | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        self._data.move_to_end(key)
        return hit[1]

    def pop(self, key: Hashable) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= old[0]

    def put(self, key: Hashable, value: object, cost: int) -> None:
        if cost > self._max // 4:
            return  # one huge package must not flush everything else
        self.pop(key)
        self._data[key] = (cost, value)
        self._bytes += cost
        while self._bytes > self._max:
            _, (dropped, _value) = self._data.popitem(last=False)
            self._bytes -= dropped

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)


class PackageReads:
    def __init__(
        self,
        store: PackageStore,
        freshness: float,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_metas: int = DEFAULT_MAX_METAS,
    ) -> None:
        self._store = store
        self._freshness = freshness
        self._max_metas = max_metas
        self._metas: OrderedDict[str, _MetaEntry] = OrderedDict()
        self._rows = _Lru(max_bytes)  # (pk, meta etag) -> _Partition; (pk, meta etag, number) -> version or None
        self._meta_reads: SingleFlight[str, _MetaEntry] = SingleFlight()
        self._package_reads: SingleFlight[tuple[str, str], tuple[PackageMeta | None, list[PackageVersion]]] = (
            SingleFlight()
        )
        self._version_reads: SingleFlight[tuple[str, str, str], PackageVersion | None] = SingleFlight()

    @property
    def enabled(self) -> bool:
        return self._freshness > 0

    # reads ---------------------------------------------------------------------------------------
    async def meta(self, feed_id: str, protocol: str, name: str) -> PackageMeta | None:
        """The package's meta row, at most ``freshness`` seconds old (``None``: no such package)."""
        if not self.enabled:
            return await self._store.get_meta(feed_id, protocol, name)
        pk = _pk(feed_id, protocol, name)
        entry = self._metas.get(pk)
        if entry is not None and time.monotonic() - entry.read_at < self._freshness:
            self._metas.move_to_end(pk)
            return entry.meta

        async def load() -> _MetaEntry:
            started = time.monotonic()
            meta = await self._store.get_meta(feed_id, protocol, name)
            return self._remember(pk, started, meta)

        return (await self._meta_reads.run(pk, load)).meta

    async def package(self, feed_id: str, protocol: str, name: str) -> tuple[PackageMeta | None, list[PackageVersion]]:
        """The meta row and every version row (deleted ones included), as ``PackageStore.get_package``."""
        if not self.enabled:
            return await self._store.get_package(feed_id, protocol, name)
        pk = _pk(feed_id, protocol, name)

        async def load() -> tuple[PackageMeta | None, list[PackageVersion]]:
            started = time.monotonic()
            read, versions = await self._store.get_package(feed_id, protocol, name)
            self._remember(pk, started, read)
            if read is None:
                return None, []  # as when the meta row says so: a version row is written with its meta row
            if read.etag:
                self._keep_partition(pk, read, versions)
            return read, versions

        if not self._fresh(pk) and not self._meta_reads.in_flight(pk):
            return await self._package_reads.run((pk, ""), load)  # one query brings the meta row too
        meta = await self.meta(feed_id, protocol, name)
        if meta is None or not meta.etag:
            return None, []
        cached = self._rows.get((pk, meta.etag))
        if isinstance(cached, _Partition):
            return cached.meta, cached.versions
        return await self._package_reads.run((pk, meta.etag), load)

    async def version(self, feed_id: str, protocol: str, name: str, number: str) -> PackageVersion | None:
        """One version row (deleted ones included), as ``PackageStore.get_version``."""
        if not self.enabled:
            return await self._store.get_version(feed_id, protocol, name, number)
        pk = _pk(feed_id, protocol, name)
        if not self._fresh(pk):
            # Both rows at once, and the version row not kept: read alongside, it may be older than
            # the meta row's ETag it would be kept under.
            meta, found = await asyncio.gather(
                self.meta(feed_id, protocol, name), self._store.get_version(feed_id, protocol, name, number)
            )
            return found if meta is not None else None
        meta = await self.meta(feed_id, protocol, name)
        if meta is None or not meta.etag:
            return None  # a version row is written together with its package's meta row
        cached = self._rows.get((pk, meta.etag))
        if isinstance(cached, _Partition):
            return cached.by_number.get(number)
        key = (pk, meta.etag, number)
        row = self._rows.get(key)
        if row is not None:
            return row if isinstance(row, PackageVersion) else None

        async def load() -> PackageVersion | None:
            found = await self._store.get_version(feed_id, protocol, name, number)
            # Read after the meta row, so at least as new as what that ETag names.
            self._rows.put(key, found if found is not None else _MISSING, _cost(found) if found else _ROW_OVERHEAD)
            return found

        return await self._version_reads.run(key, load)

    def _fresh(self, pk: str) -> bool:
        entry = self._metas.get(pk)
        return entry is not None and time.monotonic() - entry.read_at < self._freshness

    # writes through this worker ------------------------------------------------------------------
    def wrote(
        self,
        feed_id: str,
        before: PackageMeta | None,
        after: PackageMeta,
        changed: list[PackageVersion],
        everything: list[PackageVersion] | None = None,
    ) -> None:
        """A write through this worker committed ``after`` (its ETag the new one) over ``before``,
        changing or adding ``changed`` (with their new ETags); ``everything`` when the writer knows
        every version row now. Later reads on this worker see the write at once."""
        if not self.enabled:
            return
        pk = _pk(feed_id, after.protocol, after.name)
        self._meta_reads.forget(pk)
        self._package_reads.forget((pk, ""))
        if not after.etag:
            self._metas.pop(pk, None)  # the backend did not say the new ETag: read it next time
            return
        self._remember(pk, time.monotonic(), after)
        base_key = (pk, before.etag if before is not None else None)
        base = self._rows.get(base_key) if base_key[1] else None
        costs: dict[str, int] = {}
        if isinstance(base, _Partition):
            self._rows.pop(base_key)  # an older state: never served again
            if everything is None:
                by_number = dict(base.by_number)
                by_number.update((v.version, v) for v in changed)
                everything = sorted(by_number.values(), key=lambda v: f"v:{v.version}")  # row key order
            costs = {n: c for n, c in base.costs.items() if n not in {v.version for v in changed}}
        elif everything is None and before is None:
            everything = list(changed)
        if everything is not None:
            self._keep_partition(pk, after, everything, costs)

    def forget(self, feed_id: str, protocol: str, name: str) -> None:
        """Read the package from storage next time (after a write whose outcome is not known)."""
        pk = _pk(feed_id, protocol, name)
        self._metas.pop(pk, None)
        self._meta_reads.forget(pk)
        self._package_reads.forget((pk, ""))

    def cached_partition(self, feed_id: str, meta: PackageMeta) -> list[PackageVersion] | None:
        """Every version row as of ``meta`` when this worker holds them, without a read."""
        if not self.enabled or not meta.etag:
            return None
        found = self._rows.get((_pk(feed_id, meta.protocol, meta.name), meta.etag))
        return found.versions if isinstance(found, _Partition) else None

    # internals -----------------------------------------------------------------------------------
    def _remember(self, pk: str, started: float, meta: PackageMeta | None) -> _MetaEntry:
        """Keep ``meta`` unless a read started later (or a write through this worker) is already kept."""
        entry = _MetaEntry(started, meta)
        current = self._metas.get(pk)
        if current is not None and current.read_at > started:
            return entry
        self._metas[pk] = entry
        self._metas.move_to_end(pk)
        while len(self._metas) > self._max_metas:
            self._metas.popitem(last=False)
        return entry

    def _keep_partition(
        self, pk: str, meta: PackageMeta, versions: list[PackageVersion], known: dict[str, int] | None = None
    ) -> None:
        """Keep every version row as of ``meta``; ``known``: costs already measured, by version."""
        assert meta.etag
        costs = {v.version: (known or {}).get(v.version) or _cost(v) for v in versions}
        partition = _Partition(meta, versions, {v.version: v for v in versions}, costs)
        self._rows.put((pk, meta.etag), partition, sum(costs.values()) + _ROW_OVERHEAD)

    def stats(self) -> dict[str, int]:
        return {"metas": len(self._metas), "rows": len(self._rows), "bytes": self._rows.bytes}


_MISSING = object()  # a point read that found no row


def _pk(feed_id: str, protocol: str, name: str) -> str:
    return f"{feed_id}|{protocol}|{name}"


def with_etag(version: PackageVersion, etag: str) -> PackageVersion:
    return replace(version, etag=etag or None)
