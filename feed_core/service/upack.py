"""Universal Package use cases: which chunks a feed lacks, storing a chunk, committing a version from its
manifest, and reading a version's manifest and chunks.

A publish is resumable by design: chunks are stored (and remembered per feed in ``upackchunks``) one by one,
and the version is committed last, from a manifest whose every chunk the feed has received. A commit that
finds chunks missing says which; the client sends those and commits again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from feed_core.concurrency import for_each
from feed_core.domain.access import require_role
from feed_core.domain.clock import Clock, iso
from feed_core.domain.errors import BadRequestError, ConflictError, NotFoundError
from feed_core.domain.models import Caller, Feed, PackageVersion, View
from feed_core.domain.roles import Role
from feed_core.domain.semver import try_parse_semver
from feed_core.domain.upack import ManifestLimits, UpackError, parse_manifest, stored_chunk_hashes
from feed_core.domain.visibility import versions_in_view
from feed_core.service.packages import NewVersion, PackageService
from feed_core.service.resolve import Resolver
from feed_core.service.upstream import UpstreamService, enabled_sources
from feed_core.storage.packages import MANIFEST_PREFIX, content_key
from feed_core.storage.ports import BlobStore
from feed_core.storage.upack_chunks import UpackChunkStore

log = logging.getLogger("feed_core.upack")
PROTOCOL = "upack"
#: The largest chunk a feed accepts (the client cuts at most 1 MiB).
MAX_CHUNK_BYTES = 2 * 1024 * 1024
#: The most hashes one query may ask about.
MAX_QUERY_HASHES = 10_000
#: A manifest larger than this is parsed (or searched) in a worker thread.
_PARSE_IN_THREAD_BYTES = 256 * 1024
#: Blob checks in flight at once during a commit.
_STAT_CONCURRENCY = 32
#: Chunk sets of manifests kept for chunk downloads (by blob key: a key's bytes never change): at most this many
#: hashes in all (about 120 bytes each), each set for a few minutes.
_HASHES_KEPT = 1_000_000
_MANIFEST_SECONDS = 300.0
#: The longest description a version keeps.
MAX_DESCRIPTION = 1024
#: The most missing chunks one commit's answer lists (the client sends them and commits again for the rest).
MAX_MISSING_LISTED = 10_000


class MissingChunksError(BadRequestError):
    """A commit named chunks the feed has not received (or whose bytes are gone): the client sends them.
    At most ``MAX_MISSING_LISTED`` are listed; the message gives how many there are in all."""

    def __init__(self, missing: list[str]) -> None:
        listed = missing[:MAX_MISSING_LISTED]
        which = "them" if len(listed) == len(missing) else f"the {len(listed)} listed"
        super().__init__(
            f"{len(missing)} chunks of this package have not been uploaded to the feed: upload {which}, "
            "then commit again"
        )
        self.missing = listed


@dataclass(frozen=True)
class Committed:
    version: PackageVersion
    total_hash: str
    files: int


def manifest_key(total_hash: str) -> str:
    """The blob of a version's canonical manifest: its name is its sha-256, which is the total hash."""
    return f"{MANIFEST_PREFIX}{total_hash}"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class UpackService:
    def __init__(
        self,
        packages: PackageService,
        chunks: UpackChunkStore,
        blobs: BlobStore,
        clock: Clock,
        limits: ManifestLimits,
        resolver: Resolver,
        upstreams: UpstreamService,
    ) -> None:
        self._packages = packages
        self._resolver = resolver
        self._upstreams = upstreams
        self._chunks = chunks
        self._blobs = blobs
        self._clock = clock
        self.limits = limits
        self._manifests: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._hashes_kept = 0
        self._loading: dict[str, asyncio.Future[frozenset[str]]] = {}

    @property
    def chunks(self) -> UpackChunkStore:
        return self._chunks

    # --- publishing -----------------------------------------------------------------------------------

    async def missing_chunks(self, feed: Feed, caller: Caller, hashes: list[str]) -> list[str]:
        """Of ``hashes``, those this feed has not received, in the order asked (each once)."""
        require_role(feed, caller, Role.CONTRIBUTOR, "uploading Universal Package chunks")
        found = await self._chunks.get_many(feed.id, hashes)
        return [sha for sha in dict.fromkeys(hashes) if sha not in found]

    async def put_chunk(self, feed: Feed, caller: Caller, sha256: str, data: bytes) -> int:
        """Store a chunk whose bytes were checked against ``sha256``, and remember that the feed has it."""
        require_role(feed, caller, Role.CONTRIBUTOR, "uploading Universal Package chunks")
        await self._blobs.put_if_absent(content_key(sha256), _one(data), "application/octet-stream")
        await self._chunks.record(feed.id, sha256, len(data), iso(self._clock()))
        return len(data)

    async def publish(
        self,
        feed: Feed,
        view: View,
        caller: Caller,
        name: str,
        version: str,
        body: bytes,
        *,
        declared_total: str | None,
        description: str,
    ) -> Committed:
        require_role(feed, caller, Role.CONTRIBUTOR, "publishing packages")
        if not view.is_local:
            raise BadRequestError(
                f"packages are published to the feed, not to a view: use the feed URL without @{view.name}"
            )
        if len(body) > _PARSE_IN_THREAD_BYTES:
            manifest = await asyncio.to_thread(parse_manifest, body, self.limits)
        else:
            manifest = parse_manifest(body, self.limits)
        total = manifest.total_hash
        if declared_total is not None and declared_total != total:
            raise UpackError(
                f"the total hash {declared_total[:64]!r} does not match the manifest, whose total hash is {total}"
            )
        existing = await self._packages.version(feed, PROTOCOL, name, version)
        if existing is not None:
            state = "was deleted; its number stays reserved" if existing.deleted else "already exists"
            raise ConflictError(f"{name}@{version} {state} in feed {feed.name}: publish a new version")
        await self._packages.refuse_upstream_conflict(feed, PROTOCOL, name, version)  # before any chunk is asked for
        await self._check_chunks(feed, manifest.chunk_sizes())
        key = manifest_key(total)
        await self._blobs.put_if_absent(key, _one(manifest.canonical_json), "application/json")
        _, versions = await self._packages.package(feed, PROTOCOL, name)
        parsed = try_parse_semver(version)
        live = [try_parse_semver(v.version) for v in versions if v.deleted is None]
        newest = parsed is not None and all(other is None or parsed >= other for other in live)
        record = await self._packages.publish(
            feed,
            view,
            caller,
            NewVersion(
                PROTOCOL,
                name,
                version,
                {"description": description[:MAX_DESCRIPTION], "files": len(manifest.files)},
                b"",
                f"{name}-{version}.json",
                total,
                "",
                "",
                {"latest": version} if newest else {},
                files_manifest=key,
                size=manifest.total_size,
            ),
        )
        return Committed(record, total, len(manifest.files))

    async def _check_chunks(self, feed: Feed, sizes: dict[str, int]) -> None:
        """Every chunk must have been sent to this feed, with the size the manifest gives, and its bytes must
        still be stored; their blobs are renewed so that garbage collection spares them until the commit."""
        rows = await self._chunks.get_many(feed.id, list(sizes))
        missing = [sha for sha in sizes if sha not in rows]
        wrong = next((sha for sha, row in rows.items() if row.size != sizes[sha]), None)
        if wrong is not None:
            raise UpackError(
                f"chunk {wrong} is {rows[wrong].size} bytes, but the manifest gives {sizes[wrong]}: the manifest "
                "does not describe the uploaded content"
            )

        async def renew(sha: str) -> None:
            info = await self._blobs.renew(content_key(sha))
            if info is None:
                missing.append(sha)  # received once, collected since: it has to be sent again
            elif info.size != sizes[sha]:
                raise UpackError(f"the stored bytes of chunk {sha} are not {sizes[sha]} bytes")

        await for_each(rows, renew, _STAT_CONCURRENCY)
        if missing:
            raise MissingChunksError(missing)

    # --- reading --------------------------------------------------------------------------------------

    async def versions(self, feed: Feed, view: View, caller: Caller, name: str) -> list[PackageVersion]:
        """The versions the caller may fetch through the view, ascending: the feed's own and saved ones, and for a
        collaborator or higher those its upstream feeds offer (saved when fetched)."""
        where = f"feed {feed.name}@{view.name}"
        if not (view.is_local and enabled_sources(feed, PROTOCOL)):
            found = await self._packages.read(feed, view, PROTOCOL, name)
            if found is None:
                raise NotFoundError(f"Universal Package {name} does not exist in {where}")
            return found.versions
        lookup = await self._resolver.look_up(feed, view, caller, PROTOCOL, name, now=self._clock())
        lookup.require_exists(f"Universal Package {name} does not exist in {where} or its upstream sources")
        res = await self._resolver.resolve(lookup, self._clock())
        versions = res.versions()
        if not versions:
            raise NotFoundError(res.explain_empty(f"Universal Package {name} has no versions in {where}"))
        return versions

    async def version(self, feed: Feed, view: View, caller: Caller, name: str, number: str) -> PackageVersion:
        """A live version the view shows; one an upstream feed offers is saved first, for a collaborator or higher
        (404 otherwise, saying why)."""
        v = await self._packages.version(feed, PROTOCOL, name, number)
        if v is not None and v.deleted is not None:
            raise NotFoundError(f"{name}@{number} was deleted from feed {feed.name}; its number stays reserved")
        if v is not None and v.files_manifest is not None and versions_in_view([v], view):
            return v
        if not (view.is_local and enabled_sources(feed, PROTOCOL)):
            raise NotFoundError(f"{name}@{number} does not exist in feed {feed.name}@{view.name}")
        lookup = await self._resolver.look_up(
            feed, view, caller, PROTOCOL, name, now=self._clock(), want_version=number
        )
        res = await self._resolver.resolve(lookup, self._clock())
        if number in res.held:
            return res.held[number]
        if number not in res.upstream or not res.lookup.can_save:
            raise NotFoundError(res.explain_missing(number))
        source, uv = res.upstream[number]

        async def fetch_and_commit() -> PackageVersion:
            record = await self._upstreams.fetch_for_save(feed, caller, PROTOCOL, name, source, uv)
            saved = await self._packages.commit_saved(feed, record)
            log.info(
                "saved %s@%s into %s from upstream %s for %s", name, number, feed.scope_label, source.name, caller.user
            )
            return saved

        return await self._upstreams.save((feed.id, PROTOCOL, name, number), fetch_and_commit)

    async def manifest_bytes(self, v: PackageVersion) -> bytes:
        data = await self._blobs.read_all(v.files_manifest or "")
        if data is None:
            raise NotFoundError(f"the manifest of {v.name}@{v.version} is missing from storage")
        return data

    async def chunk_in(self, v: PackageVersion, sha256: str) -> bool:
        """Whether the version's manifest lists the chunk. The manifest's hashes are kept a few minutes, and
        loaded once however many chunk reads wait for them."""
        key = v.files_manifest or ""
        cached = self._manifests.get(key)
        if cached is not None and time.monotonic() - cached[0] <= _MANIFEST_SECONDS:
            self._manifests.move_to_end(key)
            return sha256 in cached[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load_hashes(v, key))
            self._loading[key] = loading
            loading.add_done_callback(functools.partial(self._loaded, key))
        return sha256 in await asyncio.shield(loading)  # a reader who goes away does not stop the others' load

    async def _load_hashes(self, v: PackageVersion, key: str) -> frozenset[str]:
        """The chunk hashes of a stored manifest: written canonical by a checked publish, so read by pattern."""
        data = await self.manifest_bytes(v)
        if len(data) > _PARSE_IN_THREAD_BYTES:
            hashes = await asyncio.to_thread(stored_chunk_hashes, data)
        else:
            hashes = stored_chunk_hashes(data)
        if len(hashes) <= _HASHES_KEPT:  # a larger set is read again next time
            self._forget(key)
            self._manifests[key] = (time.monotonic(), hashes)
            self._hashes_kept += len(hashes)
            while self._hashes_kept > _HASHES_KEPT:
                self._forget(next(iter(self._manifests)))
        return hashes

    def _loaded(self, key: str, task: asyncio.Future[frozenset[str]]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # retrieved here too: every reader waiting for it may have gone

    def _forget(self, key: str) -> None:
        dropped = self._manifests.pop(key, None)
        if dropped is not None:
            self._hashes_kept -= len(dropped[1])


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
