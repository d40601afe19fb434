"""Package use cases that every protocol shares: publish, read, unpublish, deprecate, promote, tag.

Policy lives here, not in the protocol adapters: versions are immutable, a deleted version keeps its
number reserved, and every write of a package is one atomic transaction on its partition, retried
when another writer got there first.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from feed_core.domain import semver
from feed_core.domain.access import require_role
from feed_core.domain.clock import Clock, iso
from feed_core.domain.errors import BadRequestError, ConflictError, FeedError, NotFoundError
from feed_core.domain.ids import package_guid
from feed_core.domain.models import Caller, Feed, PackageMeta, PackageVersion, View
from feed_core.domain.roles import Role
from feed_core.domain.upstream_rules import changed_digests, origin_of
from feed_core.domain.version_order import newest
from feed_core.domain.visibility import latest_after_removal, tags_in_view, versions_in_view
from feed_core.service.package_reads import PackageReads, with_etag
from feed_core.service.retry import KeyedLock, retry_on_conflict
from feed_core.storage.packages import LOCAL_ORIGIN, IndexEntry, PackageStore

_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,99}$")
T = TypeVar("T")
#: Who ``deleted_by`` names for a version the retention job moved to the recycle bin.
RETENTION = "retention"
#: Versions one edit changes at most (with the meta row, within a table transaction's 100 rows).
_EDIT_BATCH = 90


class _NothingToRemove(Exception):
    """Raised inside an edit to leave the package unwritten: retention found nothing (left) to remove."""


def validate_tag(tag: str) -> str:
    if not _TAG.match(tag) or semver.try_parse_semver(tag) is not None:
        raise BadRequestError(
            f"invalid dist-tag {tag[:100]!r}: start with a letter; letters, digits, '.', '_' or '-' only"
        )
    return tag


def saved_digests(v: PackageVersion) -> dict[str, str]:
    """What the upstream declared for a saved version when it was saved, keyed like ``declared_digests``."""
    if v.files:
        return {str(f["filename"]): str(f.get("sha256", "")) for f in v.files}
    digests = {
        "integrity": str(v.provenance.get("upstreamIntegrity") or ""),
        "shasum": str(v.provenance.get("upstreamShasum") or ""),
    }
    if v.provenance.get("upstreamSha256"):
        digests["sha256"] = str(v.provenance["upstreamSha256"])
    return digests


@dataclass
class PackageView:
    """A package as one view shows it."""

    meta: PackageMeta
    versions: list[PackageVersion]  # visible in the view, ascending semver order
    dist_tags: dict[str, str]

    def version(self, number: str) -> PackageVersion | None:
        return next((v for v in self.versions if v.version == number), None)


@dataclass(frozen=True)
class NewVersion:
    """What a protocol adapter hands over to publish one version."""

    protocol: str
    name: str
    version: str
    manifest: dict[str, object]
    content: bytes
    filename: str
    sha256: str
    sha512_integrity: str
    sha1: str
    tags: dict[str, str]
    #: What makes two version numbers the same version to the protocol's clients (Cargo ignores build metadata),
    #: when that is more than equal text: a publish racing another one's twin is refused by the commit's retry.
    same_version: Callable[[str], str] | None = None
    #: The version's bytes are already stored as many pieces (a Universal Package's chunks): ``content`` is not
    #: stored, the row references this document listing them (``PackageVersion.files_manifest``) and takes
    #: ``size`` as the package's size.
    files_manifest: str | None = None
    size: int | None = None


#: Given (feed id, protocol, name, the package's new index row or ``None``): called after each index write.
IndexListener = Callable[[str, str, str, IndexEntry | None], None]
#: Given (feed, protocol, name, version): the name of an enabled upstream that has that version, if any.
UpstreamConflictCheck = Callable[[Feed, str, str, str], Awaitable[str | None]]


@dataclass(frozen=True)
class NewFile:
    """One file of a multi-file version (a Python wheel or sdist), with what the protocol extracted."""

    protocol: str
    name: str  # normalized
    version: str  # canonical
    manifest: dict[str, Any]  # version-level metadata (from the first file)
    file: dict[str, Any]  # filename, sha256, size and protocol details
    content: bytes
    side_blobs: tuple[bytes, ...] = ()  # e.g. the core metadata file, stored by its sha-256 too
    integrity: str = ""  # SRI (sha512-...) of the file, for the version record when this file creates it
    #: A file of a mutable version (a Maven snapshot): other bytes under its name replace the stored file instead
    #: of being refused, and no upstream is asked about the version (upstreams never serve mutable versions).
    replaceable: bool = False
    #: This file's ``manifest`` replaces the version's (a Maven POM, which may arrive after other files).
    sets_manifest: bool = False
    #: Given the version's files with this one added: the files to keep (retention of a snapshot's builds).
    retain: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None


def _new_meta(protocol: str, name: str, now: str) -> PackageMeta:
    return PackageMeta(protocol, name, {}, 0, now, now, origins=frozenset())


def _with_origin(meta: PackageMeta, record: PackageVersion) -> PackageMeta:
    """The meta row, written in the same transaction as a new version, adds that version's origin. A
    row from before origins were recorded stays unknown (``None``): its versions tell, when read."""
    if meta.origins is None:
        return meta
    return replace(meta, origins=meta.origins | {origin_of(record.source_chain)})


class PackageService:
    def __init__(self, store: PackageStore, clock: Clock, reads: PackageReads | None = None) -> None:
        self._store = store
        self._clock = clock
        self._reads = reads or PackageReads(store, 0)
        self.upstream_conflict: UpstreamConflictCheck | None = None
        self._writers = KeyedLock()
        #: Told of every index row this worker writes (``None``: the package's row was deleted), once written.
        self.index_listeners: list[IndexListener] = []

    @property
    def store(self) -> PackageStore:
        return self._store

    @property
    def reads(self) -> PackageReads:
        return self._reads

    async def _write(
        self, feed: Feed, protocol: str, name: str, attempt: Callable[[], Awaitable[T]], give_up: str
    ) -> T:
        """Run one read-decide-commit ``attempt`` on a package until no concurrent writer spoils it.
        Writers of one package in this process take turns, one attempt each; other processes are waited
        out by backoff. One budget covers both."""
        return await retry_on_conflict(attempt, give_up, turns=self._writers, key=(feed.id, protocol, name))

    async def claim_name(self, feed: Feed, caller: Caller, protocol: str, canonical: str, name: str) -> str:
        """Make ``name`` the one spelling of ``canonical`` in the feed unless another already is; that spelling's
        name (``name`` itself when the claim is, or already was, its own). A publish calls it before committing."""
        require_role(feed, caller, Role.CONTRIBUTOR, "publishing packages")
        return await self._store.claim_name(feed.id, protocol, canonical, name)

    async def meta(self, feed: Feed, protocol: str, name: str) -> PackageMeta | None:
        """The package's meta row, through this worker's read cache (see ``package_reads``)."""
        return await self._reads.meta(feed.id, protocol, name)

    async def package(self, feed: Feed, protocol: str, name: str) -> tuple[PackageMeta | None, list[PackageVersion]]:
        """The meta row and every version row (deleted ones included), through the read cache: shared
        values, not to be changed."""
        return await self._reads.package(feed.id, protocol, name)

    async def version(self, feed: Feed, protocol: str, name: str, number: str) -> PackageVersion | None:
        """One version row (deleted or not, in any view), through the read cache: for downloads."""
        return await self._reads.version(feed.id, protocol, name, number)

    async def read(self, feed: Feed, view: View, protocol: str, name: str) -> PackageView | None:
        """The package in the view, or ``None`` when the view shows no version of it."""
        meta, versions = await self._reads.package(feed.id, protocol, name)
        if meta is None:
            return None
        visible = versions_in_view(versions, view)
        if not visible:
            return None
        order = {v: i for i, v in enumerate(semver.sort_versions([v.version for v in visible]))}
        visible.sort(key=lambda v: order[v.version])
        return PackageView(meta, visible, tags_in_view(meta.dist_tags, [v.version for v in visible]))

    async def read_version(
        self, feed: Feed, view: View, protocol: str, name: str, number: str
    ) -> PackageVersion | None:
        """One version if the view shows it: a point read (or none, within the read cache's window)."""
        version = await self._reads.version(feed.id, protocol, name, number)
        if version is None or not versions_in_view([version], view):
            return None
        return version

    async def publish(self, feed: Feed, view: View, caller: Caller, new: NewVersion) -> PackageVersion:
        require_role(feed, caller, Role.CONTRIBUTOR, "publishing packages")
        if not view.is_local:
            raise BadRequestError(
                f"packages are published to the feed, not to a view: use the feed URL without @{view.name}"
            )
        for tag in new.tags:
            validate_tag(tag)
        if await self._checked_version(feed, new.protocol, new.name, new.version) is not None:
            # Refused on what storage says now (deleted since, or not), for the message.
            existing = await self._store.get_version(feed.id, new.protocol, new.name, new.version)
            if existing is not None:
                raise _exists_error(feed, existing)
        await self.refuse_upstream_conflict(feed, new.protocol, new.name, new.version)
        # Content first; the version row written afterwards is the commit point.
        if new.files_manifest is None:
            await self._store.put_content(new.content, "application/octet-stream")
        now = iso(self._clock())
        record = PackageVersion(
            protocol=new.protocol,
            name=new.name,
            version=new.version,
            manifest=dict(new.manifest),
            filename=new.filename,
            sha256=new.sha256,
            sha512_integrity=new.sha512_integrity,
            sha1=new.sha1,
            size=len(new.content) if new.size is None else new.size,
            published=now,
            publisher=caller.user,
            files_manifest=new.files_manifest,
        )

        attempts = 0

        async def attempt() -> None:
            nonlocal attempts
            attempts += 1
            # The first attempt goes by the check above; the commit refuses a version inserted since.
            meta, existing = await self._current(feed, new.protocol, new.name, new.version, first=attempts == 1)
            if existing is not None:
                raise _exists_error(feed, existing)
            if new.same_version is not None:
                await self._refuse_twin(feed, new, new.same_version, fresh=attempts > 1)
            updated = meta or _new_meta(new.protocol, new.name, now)
            updated = replace(updated, rev=updated.rev + 1, modified=now, dist_tags={**updated.dist_tags, **new.tags})
            if "latest" not in updated.dist_tags:
                updated.dist_tags["latest"] = new.version
            await self._commit(feed, meta, record, _with_origin(updated, record), new=True)

        busy = f"{new.name}@{new.version} is being published concurrently; try again"
        await self._write(feed, new.protocol, new.name, attempt, busy)
        return record

    async def refuse_upstream_conflict(self, feed: Feed, protocol: str, name: str, version: str) -> None:
        """A publish of a version an enabled upstream already has is refused (409), unless the feed allows it.
        ``publish`` checks it; an adapter that has work to ask of its client first may check it earlier too."""
        if self.upstream_conflict is not None and not feed.allow_upstream_name_conflict:
            source = await self.upstream_conflict(feed, protocol, name, version)
            if source is not None:
                raise ConflictError(
                    f"{name}@{version} already exists in the feed's upstream source {source}; publish a "
                    "different version (an owner can set allowUpstreamNameConflict on the feed to override)"
                )

    async def add_file(
        self,
        feed: Feed,
        view: View,
        caller: Caller,
        new: NewFile,
    ) -> tuple[PackageVersion, bool]:
        """Add one file to a version (creating the version with its first file). Returns the version and
        whether the file was new: re-sending a byte-identical file is accepted and changes nothing,
        a different file under an existing name is a conflict, and a deleted version stays reserved."""
        require_role(feed, caller, Role.CONTRIBUTOR, "publishing packages")
        if not view.is_local:
            raise BadRequestError(f"packages are published to the feed, not to a view: drop @{view.name} from the URL")
        # Everything that refuses the file is decided before its bytes are stored (and decided again
        # at the commit, in case another upload got there meanwhile).
        existing = checked = await self._checked_version(feed, new.protocol, new.name, new.version)
        if existing is not None and _holds_file(feed, existing, new):
            return existing, False
        asks_upstreams = not new.replaceable and not feed.allow_upstream_name_conflict
        if existing is None and self.upstream_conflict is not None and asks_upstreams:
            source = await self.upstream_conflict(feed, new.protocol, new.name, new.version)
            if source is not None:
                raise ConflictError(
                    f"{new.name} {new.version} already exists in the feed's upstream source {source}; upload a "
                    "different version (an owner can set allowUpstreamNameConflict on the feed to override)"
                )
        await asyncio.gather(
            *(self._store.put_content(blob, "application/octet-stream") for blob in (new.content, *new.side_blobs))
        )
        now = iso(self._clock())
        entry = {**new.file, "uploaded": now, "uploader": caller.user}
        attempts = 0

        async def attempt() -> tuple[PackageVersion, bool]:
            nonlocal attempts
            attempts += 1
            # Cached rows first: what they refuse stays refused (versions and files are never removed),
            # and the commit is conditional on the rows they name.
            meta, fresh = await self._current(feed, new.protocol, new.name, new.version, first=attempts == 1)
            existing = checked if attempts == 1 else fresh
            updated = meta or _new_meta(new.protocol, new.name, now)
            updated = replace(updated, rev=updated.rev + 1, modified=now)
            if existing is None:
                record = PackageVersion(
                    protocol=new.protocol,
                    name=new.name,
                    version=new.version,
                    manifest=dict(new.manifest),
                    filename=entry["filename"],
                    sha256=entry["sha256"],
                    sha512_integrity=new.integrity,
                    sha1="",
                    size=int(entry["size"]),
                    published=now,
                    publisher=caller.user,
                    files=[entry],
                )
                await self._commit(feed, meta, record, _with_origin(updated, record), new=True)
                return record, True
            if _holds_file(feed, existing, new):
                return existing, False
            files = [*(f for f in existing.files if f["filename"] != entry["filename"]), entry]
            record = _with_files(existing, new.retain(files) if new.retain else files)
            if new.sets_manifest:
                record.manifest = dict(new.manifest)
            await self._commit(feed, meta, record, updated, new=False)
            return record, True

        busy = f"{new.name} {new.version} is being published concurrently; try again"
        return await self._write(feed, new.protocol, new.name, attempt, busy)

    async def set_yanked(
        self, feed: Feed, caller: Caller, protocol: str, name: str, number: str, reason: str | None
    ) -> None:
        """Yank (``reason`` a string, possibly empty) or unyank (``None``) every file of a version."""
        require_role(feed, caller, Role.CONTRIBUTOR, "yanking packages")

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            del meta
            v = next((v for v in versions if v.version == number and v.deleted is None), None)
            if v is None:
                raise NotFoundError(f"{name} {number} does not exist in feed {feed.name}")
            v.files = [
                {**f, "yanked": reason} if reason is not None else {k: x for k, x in f.items() if k != "yanked"}
                for f in v.files
            ]
            return [v]

        await self._edit(feed, protocol, name, change)

    async def set_listed(self, feed: Feed, caller: Caller, protocol: str, name: str, number: str, listed: bool) -> None:
        """List or unlist a version (NuGet's ``delete`` and relist). An unlisted version stays installable by its
        exact number; listing an already listed version (or unlisting an unlisted one) changes nothing."""
        require_role(feed, caller, Role.CONTRIBUTOR, "listing and unlisting packages")
        now = iso(self._clock())

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            del meta
            v = next((v for v in versions if v.version == number and v.deleted is None), None)
            if v is None:
                raise NotFoundError(f"{name} {number} does not exist in feed {feed.name}")
            if (v.unlisted is None) == listed:
                return []
            v.unlisted = None if listed else now
            return [v]

        await self._edit(feed, protocol, name, change)

    async def set_manifest_fields(
        self, feed: Feed, caller: Caller, protocol: str, name: str, number: str, fields: dict[str, Any]
    ) -> None:
        """Set fields of a live version's manifest (Maven: the plugin prefix a deploy's group metadata names)."""
        require_role(feed, caller, Role.CONTRIBUTOR, "publishing packages")

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            del meta
            v = next((v for v in versions if v.version == number and v.deleted is None), None)
            if v is None:
                raise NotFoundError(f"{name} {number} does not exist in feed {feed.name}")
            if all(v.manifest.get(k) == x for k, x in fields.items()):
                return []
            v.manifest = {**v.manifest, **fields}
            return [v]

        await self._edit(feed, protocol, name, change)

    async def commit_saved(self, feed: Feed, record: PackageVersion) -> PackageVersion:
        """Commit a version saved from an upstream. Its content is already stored; dist-tags are not
        touched (the upstream's tags keep applying). Returns the stored version, which may be one a
        concurrent save or publish committed first."""

        attempts = 0

        async def attempt() -> tuple[PackageVersion, bool]:
            nonlocal attempts
            attempts += 1
            if attempts == 1:  # the cached rows first, as for a publish
                existing = await self._reads.version(feed.id, record.protocol, record.name, record.version)
                meta = await self._reads.meta(feed.id, record.protocol, record.name)
            else:
                meta, existing = await self._current(feed, record.protocol, record.name, record.version)
            now = iso(self._clock())
            updated = meta or _new_meta(record.protocol, record.name, now)
            updated = replace(updated, rev=updated.rev + 1, modified=now)
            if existing is None:
                await self._commit(feed, meta, record, _with_origin(updated, record), new=True)
                return record, True
            if existing.deleted:
                raise _exists_error(feed, existing)
            have = {f["filename"] for f in existing.files}
            extra = [f for f in record.files if f["filename"] not in have]
            if not extra:
                return existing, False
            # Another file of a saved version; a version saved before its manifest was known (a Maven version whose
            # POM came after another of its files) takes the one this file brings.
            merged = replace(existing, files=[*existing.files, *extra], manifest=existing.manifest or record.manifest)
            await self._commit(feed, meta, merged, updated, new=False)
            return merged, True

        busy = f"{record.name}@{record.version} is being saved concurrently; try again"
        saved, _ = await self._write(feed, record.protocol, record.name, attempt, busy)
        return saved

    async def _refuse_twin(self, feed: Feed, new: NewVersion, same: Callable[[str], str], *, fresh: bool) -> None:
        """A version committed since the adapter checked (a concurrent publish) that is ``new``'s twin refuses it.
        A first attempt reads this worker's cache (its own writes, which took their turns first, are in it); a
        retry, after another worker's commit, reads storage."""
        read = self._store.get_package if fresh else self._reads.package
        _, versions = await read(feed.id, new.protocol, new.name)
        twin = next((v for v in versions if v.version != new.version and same(v.version) == same(new.version)), None)
        if twin is not None:
            raise ConflictError(
                f"{new.name}@{new.version} is the same version as {twin.version}, which feed {feed.name} "
                f"{'held' if twin.deleted else 'holds'} (published meanwhile); publish a new version"
            )

    async def _checked_version(self, feed: Feed, protocol: str, name: str, number: str) -> PackageVersion | None:
        """The version row a publish checks first, from the package's rows as this worker holds them
        (one query when it holds none): the commit's index update then needs no read either."""
        _, versions = await self._reads.package(feed.id, protocol, name)
        return next((v for v in versions if v.version == number), None)

    async def _current(
        self, feed: Feed, protocol: str, name: str, number: str, *, first: bool = False
    ) -> tuple[PackageMeta | None, PackageVersion | None]:
        """What a write decides on. A first attempt takes the meta row from this worker's read cache
        (which its own earlier writes keep current) and leaves the version row to the caller, who
        checked it just before: the commit is conditional on both rows, so a stale answer costs one
        retry. A retry reads both from storage, together."""
        if first:
            return await self._reads.meta(feed.id, protocol, name), None
        meta_read = self._store.get_meta(feed.id, protocol, name)
        return await asyncio.gather(meta_read, self._store.get_version(feed.id, protocol, name, number))

    async def _commit(
        self, feed: Feed, before: PackageMeta | None, record: PackageVersion, meta: PackageMeta, *, new: bool
    ) -> None:
        """Insert (``new``) or rewrite one version row with the meta row, then tell the read cache and the index."""
        write = self._store.commit_version if new else self._store.update_version
        version_etag, meta_etag = await write(feed.id, record, meta)
        after = replace(meta, etag=meta_etag or None)
        self._reads.wrote(feed.id, before, after, [with_etag(record, version_etag)])
        await self._reindex(feed, record.protocol, record.name, after, hint=record, created=before is None)

    async def _reindex(
        self,
        feed: Feed,
        protocol: str,
        name: str,
        meta: PackageMeta,
        versions: list[PackageVersion] | None = None,
        *,
        hint: PackageVersion | None = None,
        created: bool = False,
    ) -> None:
        """Bring the search index and the package-id map up to date with a write that just committed
        ``meta``, still in the writer's turn (so this worker's index writes land in commit order). The
        package-id row never changes once written, so only the write that ``created`` the package (there
        was no meta row before it) writes it.

        The row (see ``IndexEntry``) comes from ``versions`` (every version row, when the writer knows them),
        else this worker's cached rows, else ``hint`` alone when the write ``created`` the package; only
        when none of these tells is the whole partition read. Both writes are unconditional: they raise no
        conflict that would make the caller retry a commit that already happened."""
        if versions is None:
            versions = self._reads.cached_partition(feed.id, meta)
        if versions is None and created and hint is not None:
            versions = [hint]  # a package's first write holds its only version
        if versions is None:
            current, versions = await self._store.get_package(feed.id, protocol, name)
            meta = current or meta
        writes: list[Awaitable[None]] = []
        if created:
            writes.append(self._store.put_package_id(feed.id, package_guid(feed.id, protocol, name), protocol, name))
        entry = index_entry(meta, versions)
        if entry is None:
            await asyncio.gather(*writes, self._store.delete_index(feed.id, protocol, name))
        else:
            await asyncio.gather(*writes, self._store.put_index(feed.id, protocol, entry))
        for listener in self.index_listeners:
            listener(feed.id, protocol, name, entry)

    async def reindex(self, feed: Feed, protocol: str, name: str) -> None:
        """Write the package's index row afresh from its rows in storage (a row written before the index recorded
        views and origins), in the package's writer turn like any write."""

        async def attempt() -> None:
            meta, versions = await self._store.get_package(feed.id, protocol, name)
            if meta is None:
                await self._store.delete_index(feed.id, protocol, name)
                for listener in self.index_listeners:
                    listener(feed.id, protocol, name, None)
                return
            await self._reindex(feed, protocol, name, meta, versions)

        await self._write(feed, protocol, name, attempt, f"{name} is being changed concurrently; try again")

    async def _edit(
        self,
        feed: Feed,
        protocol: str,
        name: str,
        change: Callable[[PackageMeta, list[PackageVersion]], list[PackageVersion]],
        after_read: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Read the package, let ``change`` mutate meta and return the versions it changed, write
        them atomically; retried on concurrent writes. ``after_read`` runs after each read of the rows, before
        ``change`` (what it reads is then at least as new as the rows)."""

        async def attempt() -> None:
            meta, versions = await self._store.get_package(feed.id, protocol, name)
            if meta is None or not versions:
                raise NotFoundError(f"package {name} does not exist in feed {feed.name}")
            if after_read is not None:
                await after_read()
            before = replace(meta)
            changed = change(meta, versions)
            meta.rev += 1
            meta.modified = iso(self._clock())
            if len(changed) > 90:
                raise BadRequestError("at most 90 versions can be changed at once")
            etags = await self._store.update_versions(feed.id, changed, meta)
            after = replace(meta, etag=etags[-1] or None)
            written = {v.version: with_etag(v, etag) for v, etag in zip(changed, etags, strict=False)}
            everything = [written.get(v.version, v) for v in versions]
            self._reads.wrote(feed.id, before, after, list(written.values()), everything)
            await self._reindex(feed, protocol, name, after, everything)

        await self._write(feed, protocol, name, attempt, f"{name} is being changed concurrently; try again")

    async def edit(
        self,
        feed: Feed,
        protocol: str,
        name: str,
        change: Callable[[PackageMeta, list[PackageVersion]], list[PackageVersion]],
    ) -> None:
        """One atomic change of a package's rows for other services (the recycle bin), as ``_edit`` makes it: the
        caller checks roles; ``change`` may be called again on fresh rows when another writer got there first."""
        await self._edit(feed, protocol, name, change)

    async def unpublish(self, feed: Feed, caller: Caller, protocol: str, name: str, numbers: list[str]) -> None:
        """Delete versions; their numbers stay reserved and can never be published again."""
        require_role(feed, caller, Role.CONTRIBUTOR, "unpublishing packages")
        now = iso(self._clock())

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            live = {v.version for v in versions if v.deleted is None}
            missing = [n for n in numbers if n not in live]
            if missing:
                raise NotFoundError(f"{name}@{missing[0]} does not exist in feed {feed.name}")
            return _move_to_recycle_bin(meta, versions, numbers, now, caller.user)

        await self._edit(feed, protocol, name, change)

    async def remove_by_retention(
        self,
        feed: Feed,
        protocol: str,
        name: str,
        choose: Callable[[PackageMeta, list[PackageVersion]], list[str]],
        after_read: Callable[[], Awaitable[None]] | None = None,
    ) -> list[str]:
        """Move the versions ``choose`` picks to the recycle bin as the retention job (``deleted_by`` is
        ``RETENTION``; no role: the job acts for the feed's policy). ``choose`` sees the package's current rows on
        every attempt, so a version promoted or tagged since the job looked is not taken; ``after_read`` runs
        after each read of the rows, before ``choose`` (the job reads the feed again there: a view made since is
        known to ``choose`` whenever a version's row names it). The same atomic edit as an unpublish, ``latest``
        moved the same way; many versions go in several edits. The numbers removed."""
        removed: list[str] = []
        batch: list[str] = []  # what the last attempt of the current edit picked

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            picked = choose(meta, versions)[:_EDIT_BATCH]
            if not picked:
                raise _NothingToRemove
            batch[:] = picked
            return _move_to_recycle_bin(meta, versions, picked, iso(self._clock()), RETENTION)

        while True:
            batch.clear()
            try:
                await self._edit(feed, protocol, name, change, after_read)
            except _NothingToRemove:
                return removed
            removed.extend(batch)
            if len(batch) < _EDIT_BATCH:
                return removed

    async def mark_upstream_listing(
        self, feed: Feed, protocol: str, name: str, listed: dict[str, set[str]]
    ) -> tuple[list[str], list[str]]:
        """Flag saved versions their upstream no longer lists (kept installable; the flag shows in the
        version's provenance and the API), and clear the flag when the upstream lists them again.

        ``listed``: upstream source id -> the versions that upstream lists now. Returns (flagged, restored).
        """
        now = iso(self._clock())

        def plan(versions: list[PackageVersion]) -> tuple[list[PackageVersion], list[str], list[str]]:
            changed, flagged, restored = [], [], []
            for v in versions:
                sid = str(v.source_chain[0].get("id")) if v.source_chain else ""
                if v.deleted or sid not in listed:
                    continue
                gone = v.version not in listed[sid]
                marked = bool(v.provenance.get("upstreamRemoved"))
                if gone and not marked:
                    v.provenance = {
                        **v.provenance,
                        "upstreamRemoved": now,
                        "upstreamRemovedReason": "the upstream no longer lists this version",
                    }
                    changed.append(v)
                    flagged.append(v.version)
                elif not gone and marked:
                    v.provenance = {k: x for k, x in v.provenance.items() if not k.startswith("upstreamRemoved")}
                    changed.append(v)
                    restored.append(v.version)
            return changed, flagged, restored

        _, current = await self._reads.package(feed.id, protocol, name)
        if not plan([replace(v) for v in current])[0]:  # on copies: the cached rows are shared
            return [], []
        outcome: tuple[list[str], list[str]] = ([], [])

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            nonlocal outcome
            del meta
            changed, flagged, restored = plan(versions)
            outcome = (flagged, restored)
            return changed

        await self._edit(feed, protocol, name, change)
        return outcome

    async def mark_upstream_yanks(
        self, feed: Feed, protocol: str, name: str, yanked: dict[str, dict[str, bool]]
    ) -> tuple[list[str], list[str]]:
        """Carry an upstream's later yanks and unyanks (Cargo) to the versions saved from it: a saved version is
        yanked (``unlisted``) or unyanked when its upstream's flag changes from the one last seen
        (``provenance["upstreamYanked"]``, set at the save), so that the feed's own yank or unyank of it stands
        until the upstream changes its mind.

        ``yanked``: upstream source id -> version -> whether that upstream has it yanked now (versions it does not
        list are left alone). Returns (yanked, unyanked).
        """
        now = iso(self._clock())

        def plan(versions: list[PackageVersion]) -> tuple[list[PackageVersion], list[str], list[str]]:
            changed, flagged, restored = [], [], []
            for v in versions:
                sid = str(v.source_chain[0].get("id")) if v.source_chain else ""
                upstream = yanked.get(sid, {}).get(v.version)
                if v.deleted or upstream is None:
                    continue
                seen = v.provenance.get("upstreamYanked")
                if (seen if isinstance(seen, bool) else v.unlisted is not None) == upstream:
                    continue
                v.provenance = {**v.provenance, "upstreamYanked": upstream}
                if upstream and v.unlisted is None:
                    v.unlisted = now
                    flagged.append(v.version)
                elif not upstream and v.unlisted is not None:
                    v.unlisted = None
                    restored.append(v.version)
                changed.append(v)
            return changed[:90], flagged, restored  # at most 90 per write: the rest on the next run

        _, current = await self._reads.package(feed.id, protocol, name)
        if not plan([replace(v) for v in current])[0]:  # on copies: the cached rows are shared
            return [], []
        outcome: tuple[list[str], list[str]] = ([], [])

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            nonlocal outcome
            del meta
            changed, flagged, restored = plan(versions)
            kept = {v.version for v in changed}
            outcome = ([n for n in flagged if n in kept], [n for n in restored if n in kept])
            return changed

        await self._edit(feed, protocol, name, change)
        return outcome

    async def mark_upstream_changes(
        self, feed: Feed, protocol: str, name: str, declared: Callable[[str, str], dict[str, str] | None]
    ) -> list[str]:
        """Flag saved versions whose upstream now declares other digests for them (same name and
        version, other bytes), and clear the flag when it declares the saved ones again. The saved
        bytes are kept and served either way; the flag and the newly declared digests show in the
        version's provenance and the API (``upstreamChangedDate``).

        ``declared(source id, version)``: what that upstream declares now (``declared_digests``), or
        ``None`` when it was not asked or does not list the version.
        Returns the versions flagged by this call.
        """
        now = iso(self._clock())

        def plan(versions: list[PackageVersion]) -> tuple[list[PackageVersion], list[str]]:
            changed, flagged = [], []
            for v in versions:
                sid = str(v.source_chain[0].get("id")) if v.source_chain else ""
                offered = None if v.deleted else declared(sid, v.version)
                if offered is None:
                    continue
                new = changed_digests(saved_digests(v), offered)
                if new and v.provenance.get("upstreamChangedDigests") != new:
                    v.provenance = {**v.provenance, "upstreamChanged": now, "upstreamChangedDigests": new}
                    flagged.append(v.version)
                elif not new and v.provenance.get("upstreamChanged"):
                    v.provenance = {k: x for k, x in v.provenance.items() if not k.startswith("upstreamChanged")}
                else:
                    continue
                changed.append(v)
            return changed[:90], flagged[:90]  # at most 90 per write: the rest on the next run

        _, current = await self._reads.package(feed.id, protocol, name)
        if not plan([replace(v) for v in current])[0]:  # on copies: the cached rows are shared
            return []
        outcome: list[str] = []

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            nonlocal outcome
            del meta
            changed, outcome = plan(versions)
            return changed

        await self._edit(feed, protocol, name, change)
        return outcome

    async def deprecate(self, feed: Feed, caller: Caller, protocol: str, name: str, messages: dict[str, str]) -> None:
        """Set (or with ``""`` clear) the deprecation message of versions."""
        require_role(feed, caller, Role.CONTRIBUTOR, "deprecating packages")

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            del meta
            by_no = {v.version: v for v in versions if v.deleted is None}
            out = []
            for n, msg in messages.items():
                v = by_no.get(n)
                if v is None:
                    raise NotFoundError(f"{name}@{n} does not exist in feed {feed.name}")
                if len(msg) > 1024:
                    raise BadRequestError("a deprecation message may be at most 1024 characters")
                if (v.deprecated or "") != msg:
                    v.deprecated = msg or None
                    out.append(v)
            return out

        await self._edit(feed, protocol, name, change)

    async def promote(self, feed: Feed, caller: Caller, protocol: str, name: str, number: str, view: View) -> None:
        require_role(feed, caller, Role.CONTRIBUTOR, "promoting packages")
        if view.is_local:
            raise BadRequestError("every version is already in the @Local view; promote to a release view")

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            del meta
            v = next((v for v in versions if v.version == number and v.deleted is None), None)
            if v is None:
                raise NotFoundError(f"{name}@{number} does not exist in feed {feed.name}")
            if view.id in v.views:
                return []
            v.views = [*v.views, view.id]
            return [v]

        await self._edit(feed, protocol, name, change)

    async def set_tag(self, feed: Feed, caller: Caller, protocol: str, name: str, tag: str, number: str | None) -> None:
        """Point ``tag`` at a version, or remove it when ``number`` is ``None``."""
        require_role(feed, caller, Role.CONTRIBUTOR, "changing dist-tags")
        validate_tag(tag)
        if number is None and tag == "latest":
            raise BadRequestError("the latest tag cannot be removed")

        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            if number is None:
                if tag not in meta.dist_tags:
                    raise NotFoundError(f"{name} has no dist-tag {tag!r}")
                del meta.dist_tags[tag]
            else:
                if not any(v.version == number and v.deleted is None for v in versions):
                    raise NotFoundError(f"{name}@{number} does not exist in feed {feed.name}")
                meta.dist_tags[tag] = number
            return []

        await self._edit(feed, protocol, name, change)

    async def search(self, feed: Feed, protocol: str, text: str) -> list[IndexEntry]:
        terms = [t for t in text.lower().split() if t]
        entries = await self._store.list_index(feed.id, protocol)

        def matches(e: IndexEntry) -> bool:
            hay = " ".join([e.name, e.description, *e.keywords]).lower()
            return all(t in hay for t in terms)

        return [e for e in entries if matches(e)]


def _move_to_recycle_bin(
    meta: PackageMeta, versions: list[PackageVersion], numbers: list[str], now: str, by: str
) -> list[PackageVersion]:
    """Mark the live versions ``numbers`` deleted at ``now`` by ``by``, move ``latest`` off them; the rows changed."""
    by_no = {v.version: v for v in versions if v.deleted is None}
    for n in numbers:
        by_no[n].deleted = now
        by_no[n].deleted_by = by
    remaining = [v.version for v in versions if v.deleted is None]
    meta.dist_tags = latest_after_removal(meta.dist_tags, semver.sort_versions(remaining), set(numbers))
    return [by_no[n] for n in numbers]


def _latest(meta: PackageMeta, live: list[PackageVersion]) -> PackageVersion | None:
    """The version a listing shows among ``live`` ones: the ``latest`` tag's when it is one of them, else the
    newest release in the protocol's order (else the newest prerelease); ``None`` when there is none."""
    if not live:
        return None
    tagged = meta.dist_tags.get("latest")
    number = tagged if any(v.version == tagged for v in live) else newest(meta.protocol, [v.version for v in live])
    return next((v for v in live if v.version == number), live[-1])


def origin_key(version: PackageVersion) -> str:
    """Where a version came from, as the index records it: the upstream source it was saved through (its id),
    or ``LOCAL_ORIGIN`` for a version published to the feed."""
    return str(version.source_chain[0].get("id") or "?") if version.source_chain else LOCAL_ORIGIN


def index_entry(meta: PackageMeta, versions: list[PackageVersion]) -> IndexEntry | None:
    """The package's index row, from its meta row and every version row; ``None`` when no version is live.
    Deleted versions count nowhere: not for the latest, the origins nor the views."""
    live = [v for v in versions if v.deleted is None]
    latest = _latest(meta, live)
    if latest is None:
        return None
    origins: dict[str, str] = {}
    in_views: dict[str, list[PackageVersion]] = {}
    for v in live:
        origins.setdefault(origin_key(v), str(v.source_chain[0].get("name") or "") if v.source_chain else "")
        for view_id in v.views:
            in_views.setdefault(view_id, []).append(v)
    views = {}
    for view_id, shown in in_views.items():
        best = _latest(meta, shown)
        assert best is not None  # shown is never empty
        views[view_id] = (best.version, origin_key(best))
    desc = latest.manifest.get("description")
    keywords = latest.manifest.get("keywords")
    return IndexEntry(
        meta.name,
        latest.version,
        desc if isinstance(desc, str) else "",
        [k for k in keywords if isinstance(k, str)] if isinstance(keywords, list) else [],
        meta.modified,
        latest.publisher,
        origin=origin_key(latest),
        origins=origins,
        views=views,
    )


def _holds_file(feed: Feed, existing: PackageVersion, new: NewFile) -> bool:
    """Whether ``existing`` already holds exactly this file (a no-op re-upload). A deleted version, or
    another file under the same name, is a conflict: versions stay reserved and files are immutable. So is a new
    file for a version saved from an upstream: its files come from there only (an upload would shadow them)."""
    if existing.deleted:
        raise _exists_error(feed, existing)
    same = next((f for f in existing.files if f["filename"] == new.file["filename"]), None)
    if same is None and existing.source_chain:
        source = existing.source_chain[0].get("name") or "an upstream source"
        raise ConflictError(
            f"{new.name} {new.version} was saved from upstream {source}: its files come from there only, and "
            f"{new.file['filename']} cannot be uploaded into it; upload a different version"
        )
    if same is None:
        return False
    if same["sha256"] == new.file["sha256"]:
        return True
    if new.replaceable:
        return False
    raise ConflictError(
        f"File already exists: {new.file['filename']} is already in {new.name} {new.version} "
        "with different content; files are immutable: upload a new version"
    )


def _with_files(existing: PackageVersion, files: list[dict[str, Any]]) -> PackageVersion:
    """``existing`` with these files, its single-file fields describing the first of them."""
    first = files[0] if files else {}
    return replace(
        existing,
        files=files,
        filename=str(first.get("filename", existing.filename)),
        sha256=str(first.get("sha256", existing.sha256)),
        size=int(first.get("size", existing.size)),
    )


def _exists_error(feed: Feed, existing: PackageVersion) -> FeedError:
    if existing.deleted:
        return ConflictError(
            f"{existing.name}@{existing.version} was deleted from feed {feed.name} on {existing.deleted[:10]}; "
            "its version number stays reserved: publish a new version"
        )
    return ConflictError(
        f"{existing.name}@{existing.version} already exists in feed {feed.name}; versions are immutable: "
        "publish a new version"
    )
