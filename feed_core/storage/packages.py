"""Package versions and per-package state on the two ports.

Row layout: table ``packages``, partition ``<feed id>|<protocol>|<name>``; row ``meta`` holds the
mutable package state (dist-tags, revision), rows ``v:<version>`` hold one version each. Because a
package's rows share one partition, a publish writes the version row and the meta row in one atomic
transaction: that write is the commit point, made only after the content blob is stored. Table
``packageindex`` (partition ``<feed id>|<protocol>``, row = name) lists a feed's packages for search;
``packageids`` (partition = feed id, row = package GUID) maps Azure-style package ids back to names.
Both are written unconditionally, after the commit, through a group commit: concurrent publishes of one
feed share transactions of these rows (``group_commit``), and each returns once its own row is written.

Bytes live in blobs keyed by their sha-256 (``content/sha256/<hex>``), so identical content is kept
once, shared by every feed that holds it. Version manifests too large for a table property go to
``manifests/sha256/<hex>``. A version row references the blobs of its files (and, for Python, of
their core metadata files) and of its manifest; blobs no row references are garbage collected.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from feed_core.domain.models import PackageMeta, PackageVersion
from feed_core.domain.upstream_rules import Origin
from feed_core.domain.usage import VersionFootprint, footprint
from feed_core.storage.bulk import delete_partitions, delete_rows
from feed_core.storage.group_commit import GroupCommit
from feed_core.storage.ports import BlobStore, Entity, EntityExistsError, OpKind, PutOutcome, TableOp, TableStore

PACKAGES, PACKAGE_INDEX, PACKAGE_IDS = "packages", "packageindex", "packageids"
META_ROW = "meta"
_INLINE_LIMIT = 30_000  # characters; Azure string properties hold at most 32K UTF-16 units
#: A version's file list (ASCII JSON) is cut into properties of ``_INLINE_LIMIT`` characters: ``files``, ``files2``,
#: ``files3``… A Maven version holds many files (classifiers, signatures, a snapshot's kept builds), each entry with
#: four digests: a few dozen fill one property. Fifteen stay within Azure's 1 MiB entity.
_FILES_PROPERTIES = ("files", *(f"files{i}" for i in range(2, 16)))
CONTENT_PREFIX, MANIFEST_PREFIX = "content/sha256/", "manifests/sha256/"
_PARSE_SLICE = 500  # index rows parsed between two turns of the event loop
#: An index row's keywords: each cut to this, and as many as fit the property's budget (characters of JSON).
_KEYWORD_CHARS, _KEYWORDS_CHARS = 100, 4000
#: An index row's origins and views (JSON characters each): within one Azure property, and the row within 1 MiB.
_ORIGINS_VIEWS_CHARS = 20_000


def content_key(sha256_hex: str) -> str:
    return f"{CONTENT_PREFIX}{sha256_hex}"


def _partition(feed_id: str, protocol: str, name: str) -> str:
    return f"{feed_id}|{protocol}|{name}"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


#: Where a version came from, in the index: published to the feed itself.
LOCAL_ORIGIN = "local"


@dataclass(frozen=True)
class IndexEntry:
    """A package's row in the feed's index: what listings and searches show without reading the package.

    ``origin``, ``origins`` and ``views`` are ``None`` on rows written before they were recorded (the
    listing then knows only ``latest``). ``origin``: where ``latest`` came from (``LOCAL_ORIGIN`` or an
    upstream source's id). ``origins``: every live version's origin, with the source's name when it was
    saved. ``views``: per release view id, the latest live version in it and where that came from.
    """

    name: str
    latest: str
    description: str
    keywords: list[str]
    modified: str
    publisher: str
    origin: str | None = None
    origins: dict[str, str] | None = None
    views: dict[str, tuple[str, str]] | None = None


class PackageStore:
    def __init__(self, tables: TableStore, blobs: BlobStore) -> None:
        self._t = tables
        self._b = blobs
        # The index and package-id rows of a feed share a partition: concurrent publishes share their writes.
        self._grouped = GroupCommit(tables)

    # reads ---------------------------------------------------------------------------------------
    async def get_meta(self, feed_id: str, protocol: str, name: str) -> PackageMeta | None:
        e = await self._t.get(PACKAGES, _partition(feed_id, protocol, name), META_ROW)
        return None if e is None else _meta_from(protocol, name, e)

    async def get_package(
        self, feed_id: str, protocol: str, name: str, *, light: bool = False
    ) -> tuple[PackageMeta | None, list[PackageVersion]]:
        """The meta row and every version row (deleted ones included) in one partition query. ``light``: a manifest
        kept in a blob of its own is not read (the version's ``manifest`` is then empty)."""
        rows = await self._t.query(PACKAGES, _partition(feed_id, protocol, name))
        meta: PackageMeta | None = None
        versions: list[PackageVersion] = []
        for row in rows:
            if row.row_key == META_ROW:
                meta = _meta_from(protocol, name, row)
            elif row.row_key.startswith("v:"):
                versions.append(await self._version_from(protocol, name, row, light=light))
        return meta, versions

    async def get_version(
        self, feed_id: str, protocol: str, name: str, version: str, *, light: bool = False
    ) -> PackageVersion | None:
        e = await self._t.get(PACKAGES, _partition(feed_id, protocol, name), f"v:{version}")
        return None if e is None else await self._version_from(protocol, name, e, light=light)

    # content -------------------------------------------------------------------------------------
    async def put_content(self, data: bytes, content_type: str) -> tuple[str, PutOutcome]:
        digest = hashlib.sha256(data).hexdigest()
        outcome = await self._b.put_if_absent(content_key(digest), _one(data), content_type)
        return digest, outcome

    @property
    def blobs(self) -> BlobStore:
        return self._b

    # writes --------------------------------------------------------------------------------------
    async def commit_version(self, feed_id: str, version: PackageVersion, meta: PackageMeta) -> list[str]:
        """Insert the version row and write the meta row atomically; their new ETags, in that order.

        ``EntityExistsError`` when the version row exists (published, or deleted and reserved);
        ``EtagMismatchError`` when the meta row changed since it was read (callers retry).
        """
        pk = _partition(feed_id, version.protocol, version.name)
        ops = [
            TableOp(OpKind.INSERT, Entity(pk, f"v:{version.version}", await self._version_props(version))),
            self._meta_op(pk, meta),
        ]
        return await self._t.transact(PACKAGES, ops)

    async def update_version(self, feed_id: str, version: PackageVersion, meta: PackageMeta) -> list[str]:
        """Rewrite a version row (conditional on its etag) together with the meta row; their new ETags."""
        pk = _partition(feed_id, version.protocol, version.name)
        ops = [
            TableOp(
                OpKind.UPDATE, Entity(pk, f"v:{version.version}", await self._version_props(version), version.etag)
            ),
            self._meta_op(pk, meta),
        ]
        return await self._t.transact(PACKAGES, ops)

    async def update_versions(self, feed_id: str, versions: list[PackageVersion], meta: PackageMeta) -> list[str]:
        """Rewrite several version rows and the meta row in one transaction (at most 99 versions); the
        new ETags, the meta row's last."""
        pk = _partition(feed_id, meta.protocol, meta.name)
        ops = [
            TableOp(OpKind.UPDATE, Entity(pk, f"v:{v.version}", await self._version_props(v), v.etag)) for v in versions
        ]
        ops.append(self._meta_op(pk, meta))
        return await self._t.transact(PACKAGES, ops)

    async def update_meta(self, feed_id: str, meta: PackageMeta) -> str:
        """Write the meta row alone; its new ETag."""
        pk = _partition(feed_id, meta.protocol, meta.name)
        return (await self._t.transact(PACKAGES, [self._meta_op(pk, meta)]))[0]

    @staticmethod
    def _meta_op(pk: str, meta: PackageMeta) -> TableOp:
        props: dict[str, Any] = {
            "distTags": json.dumps(meta.dist_tags, separators=(",", ":")),
            "rev": meta.rev,
            "created": meta.created,
            "modified": meta.modified,
        }
        if meta.origins is not None:
            props["origins"] = ",".join(sorted(o.value for o in meta.origins))
        entity = Entity(pk, META_ROW, props, meta.etag)
        return TableOp(OpKind.UPDATE if meta.etag else OpKind.INSERT, entity)

    async def _version_props(self, v: PackageVersion) -> dict[str, Any]:
        manifest = json.dumps(v.manifest, separators=(",", ":"), ensure_ascii=False)
        props: dict[str, Any] = {
            "version": v.version,
            "filename": v.filename,
            "sha256": v.sha256,
            "integrity": v.sha512_integrity,
            "sha1": v.sha1,
            "size": v.size,
            "published": v.published,
            "publisher": v.publisher,
            "deleted": v.deleted,
            "deprecated": v.deprecated,
            "views": ",".join(v.views),
            "sourceChain": json.dumps(v.source_chain, separators=(",", ":")),
            "provenance": json.dumps(v.provenance, separators=(",", ":")) if v.provenance else None,
            **_files_properties(v.files),
            "unlisted": v.unlisted,
            "deletedBy": v.deleted_by,
            "purged": v.purged,
            "filesManifest": v.files_manifest,
        }
        if len(manifest) <= _INLINE_LIMIT:
            props["manifest"] = manifest
        else:
            data = manifest.encode()
            key = f"{MANIFEST_PREFIX}{hashlib.sha256(data).hexdigest()}"
            await self._b.put_if_absent(key, _one(data), "application/json")
            props["manifestBlob"] = key
        return props

    async def _version_from(self, protocol: str, name: str, e: Entity, *, light: bool = False) -> PackageVersion:
        """The version a row holds; ``light``: without reading a manifest kept in a blob (its manifest is empty)."""
        manifest_text = e.get_str("manifest")
        if not manifest_text and not light and (key := e.get_str("manifestBlob")):
            data = await self._b.read_all(key)
            manifest_text = data.decode() if data else "{}"
        views = e.get_str("views")
        return PackageVersion(
            protocol=protocol,
            name=name,
            version=e.get_str("version"),
            manifest=json.loads(manifest_text or "{}"),
            filename=e.get_str("filename"),
            sha256=e.get_str("sha256"),
            sha512_integrity=e.get_str("integrity"),
            sha1=e.get_str("sha1"),
            size=e.get_int("size"),
            published=e.get_str("published"),
            publisher=e.get_str("publisher"),
            deleted=e.get_str("deleted") or None,
            deprecated=e.get_str("deprecated") or None,
            views=views.split(",") if views else [],
            source_chain=json.loads(e.get_str("sourceChain", "[]")),
            provenance=json.loads(e.get_str("provenance", "{}")),
            files=_files_of(e),
            unlisted=e.get_str("unlisted") or None,
            deleted_by=e.get_str("deletedBy") or None,
            purged=e.get_str("purged") or None,
            files_manifest=e.get_str("filesManifest") or None,
            etag=e.etag,
        )

    # maintenance ---------------------------------------------------------------------------------
    async def blob_references(
        self,
        skip: frozenset[tuple[str, str]] = frozenset(),
        footprints: Callable[[str, VersionFootprint | None], None] | None = None,
    ) -> AsyncIterator[tuple[str, str]]:
        """``(feed id, blob key)`` for every blob every version row of every feed references, but the rows ``skip``
        names by ``(partition key, row key)`` (those a dry run of the gc would purge). For a version whose content
        is a list of chunks (``filesManifest``), each chunk that document lists counts too: each document is read
        once, after the scan, however many versions and feeds share it. ``footprints``, when given, is handed
        ``(feed id, footprint)`` of every row not skipped (``None`` for a row it cannot read), so the same scan
        measures storage usage."""
        listing_feeds: dict[str, set[str]] = defaultdict(set)  # a files manifest's key -> the feeds it is in
        async for row in self._t.scan(PACKAGES):
            if row.row_key.startswith("v:") and (row.partition_key, row.row_key) not in skip:
                feed_id = row.partition_key.split("|", 1)[0]
                if footprints is not None:
                    try:
                        fp: VersionFootprint | None = _footprint_of(row)
                    except Exception:  # a row usage cannot read must not stop the collection
                        fp = None
                    footprints(feed_id, fp)
                for key in _referenced_blobs(row):
                    yield feed_id, key
                if (files_manifest := row.get_str("filesManifest")) and not row.get_str("purged"):
                    listing_feeds[files_manifest].add(feed_id)
        for files_manifest, feed_ids in listing_feeds.items():
            for sha in await self._listed_chunks(files_manifest):
                for feed_id in feed_ids:
                    yield feed_id, content_key(sha)

    async def _listed_chunks(self, key: str) -> set[str]:
        """The chunk hashes a stored files manifest lists (it was checked when it was stored)."""
        data = await self._b.read_all(key)
        if data is None:
            return set()
        document = await asyncio.to_thread(json.loads, data) if len(data) > 1_000_000 else json.loads(data)
        return {str(c["sha256"]) for f in document.get("files", ()) for c in f.get("chunks", ())}

    async def binned(self, partition_prefix: str) -> AsyncGenerator[tuple[str, PackageVersion]]:
        """``(feed id, version)`` for every version in a recycle bin (deleted, not purged) whose partition starts
        with ``partition_prefix`` (``"<feed id>|"`` for one feed, ``""`` for all), by partition (protocol, then
        name) as the scan returns them: one scan, since a package whose versions are all deleted has no index row.
        Light views: a manifest kept in a blob of its own is not read (``get_package`` reads one package whole)."""
        async for row in self._t.scan(PACKAGES, partition_prefix):
            if row.row_key.startswith("v:") and row.get_str("deleted") and not row.get_str("purged"):
                feed_id, protocol, name = row.partition_key.split("|", 2)
                yield feed_id, await self._version_from(protocol, name, row, light=True)

    @staticmethod
    def row_of(feed_id: str, version: PackageVersion) -> tuple[str, str]:
        """The ``(partition key, row key)`` of a version's row."""
        return _partition(feed_id, version.protocol, version.name), f"v:{version.version}"

    async def footprints(self, feed_id: str) -> AsyncIterator[VersionFootprint]:
        """What storage usage needs of every version row of a feed (deleted and purged ones included), from one
        partition-prefix scan of its rows: sizes, digests and state, never a manifest or a blob."""
        async for row in self._t.scan(PACKAGES, f"{feed_id}|"):
            if row.row_key.startswith("v:"):
                yield _footprint_of(row)

    async def delete_feed(self, feed_id: str) -> int:
        """Delete every package, version, index and package-id row of a feed; the number of rows."""
        count = await delete_partitions(self._t, PACKAGES, f"{feed_id}|")
        count += await delete_partitions(self._t, PACKAGE_INDEX, f"{feed_id}|")
        ids = await self._t.query(PACKAGE_IDS, feed_id)
        return count + await delete_rows(self._t, PACKAGE_IDS, [(r.partition_key, r.row_key) for r in ids])

    # search index --------------------------------------------------------------------------------
    async def put_index(self, feed_id: str, protocol: str, entry: IndexEntry) -> None:
        await self._grouped.write(
            PACKAGE_INDEX,
            TableOp(
                OpKind.UPSERT,
                Entity(
                    f"{feed_id}|{protocol}",
                    entry.name,
                    _index_props(entry),
                ),
            ),
        )

    async def put_package_id(self, feed_id: str, package_id: str, protocol: str, name: str) -> None:
        """Remember which package a stable package GUID stands for (Azure routes address packages by GUID)."""
        row = Entity(feed_id, package_id, {"protocol": protocol, "name": name})
        await self._grouped.write(PACKAGE_IDS, TableOp(OpKind.UPSERT, row))

    async def claim_name(self, feed_id: str, protocol: str, canonical: str, name: str) -> str:
        """Record that ``name`` holds ``canonical`` in the feed, unless a name already does; the holder's name.

        For protocols whose clients take several spellings as one name (Cargo: case, ``-`` against ``_``): the
        row is inserted only if absent, so of two publishes of twin spellings at once exactly one holds it. It
        shares the package-id table (its keys are no GUIDs) and answers a lookup by id like the package it names.
        """
        row = Entity(feed_id, f"name:{protocol}:{canonical}", {"protocol": protocol, "name": name})
        try:
            await self._t.insert(PACKAGE_IDS, row)
        except EntityExistsError:
            held = await self._t.get(PACKAGE_IDS, feed_id, row.row_key)
            return held.get_str("name") if held is not None else name
        return name

    async def package_by_id(self, feed_id: str, package_id: str) -> tuple[str, str] | None:
        e = await self._t.get(PACKAGE_IDS, feed_id, package_id.lower())
        return None if e is None else (e.get_str("protocol"), e.get_str("name"))

    async def delete_index(self, feed_id: str, protocol: str, name: str) -> None:
        await self._grouped.write(PACKAGE_INDEX, TableOp(OpKind.DELETE, Entity(f"{feed_id}|{protocol}", name)))

    async def list_index(self, feed_id: str, protocol: str, prefix: str = "") -> list[IndexEntry]:
        """The feed's packages of ``protocol`` (those whose name starts with ``prefix``)."""
        rows = await self._t.query(PACKAGE_INDEX, f"{feed_id}|{protocol}", prefix)
        entries: list[IndexEntry] = []
        for start in range(0, len(rows), _PARSE_SLICE):
            if start:
                await asyncio.sleep(0)  # a feed of thousands of packages: let other requests run in between
            entries.extend(_index_entry(e) for e in rows[start : start + _PARSE_SLICE])
        return entries


def _bounded_keywords(keywords: list[str]) -> str:
    """The first keywords (each cut to ``_KEYWORD_CHARS``) whose JSON fits ``_KEYWORDS_CHARS``: a manifest's
    keywords are hostile and unbounded, and an Azure string property holds 32K characters."""
    kept: list[str] = []
    size = 2
    for keyword in keywords[:50]:
        cut = keyword[:_KEYWORD_CHARS]
        size += len(json.dumps(cut)) + 1
        if size > _KEYWORDS_CHARS:
            break
        kept.append(cut)
    return json.dumps(kept)


def _index_props(entry: IndexEntry) -> dict[str, Any]:
    props: dict[str, Any] = {
        "latest": entry.latest,
        "description": entry.description[:2000],
        "keywords": _bounded_keywords(entry.keywords),
        "modified": entry.modified,
        "publisher": entry.publisher,
    }
    if entry.origin is not None and entry.origins is not None and entry.views is not None:
        # A version saved from an upstream carries that source's name; bounded, as names are (100 characters).
        origins = json.dumps({k: v[:100] for k, v in entry.origins.items()}, separators=(",", ":"))
        views = json.dumps({k: list(v) for k, v in entry.views.items()}, separators=(",", ":"))
        # Hundreds of views with long version numbers (or of sources, over time) would not fit one property:
        # such a row records neither, and is listed as a row written before they were recorded.
        if len(origins) <= _ORIGINS_VIEWS_CHARS and len(views) <= _ORIGINS_VIEWS_CHARS:
            props.update(origin=entry.origin, origins=origins, views=views)
    return props


def _index_entry(e: Entity) -> IndexEntry:
    get = e.get_str
    origin, origins, views = get("origin"), _json_object(get("origins")), _json_object(get("views"))
    known = bool(origin) and origins is not None and views is not None  # else written before these were recorded
    return IndexEntry(
        e.row_key,
        get("latest"),
        get("description"),
        json.loads(get("keywords", "[]")),
        get("modified"),
        get("publisher"),
        origin if known else None,
        {str(k): str(v) for k, v in origins.items()} if known and origins is not None else None,
        {k: (str(v[0]), str(v[1])) for k, v in views.items() if isinstance(v, list) and len(v) == 2}
        if known and views is not None
        else None,
    )


def _json_object(text: str) -> dict[str, Any] | None:
    """A JSON object property, or ``None`` when absent (rows written before it) or unreadable."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_list(text: str) -> list[Any]:
    """A JSON array property, or an empty list when absent or unreadable."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _files_properties(files: list[dict[str, Any]]) -> dict[str, str]:
    """A version's file list as row properties (none when it has no files)."""
    if not files:
        return {}
    text = json.dumps(files, separators=(",", ":"))  # ASCII: one character is one UTF-16 unit
    parts = [text[i : i + _INLINE_LIMIT] for i in range(0, len(text), _INLINE_LIMIT)]
    if len(parts) > len(_FILES_PROPERTIES):
        raise ValueError(f"a version's file list of {len(files)} files is too large for one row")
    return dict(zip(_FILES_PROPERTIES, parts, strict=False))


def _files_of(row: Entity) -> list[dict[str, Any]]:
    parts = []
    for name in _FILES_PROPERTIES:
        part = row.get_str(name)
        if not part:
            break
        parts.append(part)
    return json.loads("".join(parts)) if parts else []


def version_blobs(version: PackageVersion) -> list[str]:
    """The content blobs a version row references (its files and their side files; a large manifest's blob is
    written again with the row). A version whose content is a list of chunks names that list's blob: its ``sha256``
    is the list's hash, and the chunks are referenced through it."""
    if version.files_manifest:
        return [version.files_manifest]
    keys = [content_key(version.sha256)] if version.sha256 else []
    for file in version.files:
        keys.extend(content_key(file[k]) for k in ("sha256", "metadata_sha256") if file.get(k))
    return list(dict.fromkeys(keys))


def _referenced_blobs(row: Entity) -> list[str]:
    if row.get_str("purged"):
        return []  # out of the recycle bin for good: the row only keeps the number reserved
    keys = [content_key(sha) for sha in [row.get_str("sha256")] if sha]
    for file in _files_of(row):
        keys.extend(content_key(file[k]) for k in ("sha256", "metadata_sha256") if file.get(k))
    if manifest := row.get_str("manifestBlob"):
        keys.append(manifest)
    if files_manifest := row.get_str("filesManifest"):
        keys.append(files_manifest)  # what that document references (chunks) is added by the gc scan
    return keys


def _meta_from(protocol: str, name: str, e: Entity) -> PackageMeta:
    return PackageMeta(
        protocol=protocol,
        name=name,
        dist_tags=json.loads(e.get_str("distTags", "{}")),
        rev=e.get_int("rev"),
        created=e.get_str("created"),
        modified=e.get_str("modified"),
        etag=e.etag,
        origins=_origins_from(e.properties.get("origins")),
    )


def _origins_from(value: object) -> frozenset[Origin] | None:
    """``None`` for a meta row written before origins were recorded (or one this build cannot read)."""
    if not isinstance(value, str):
        return None
    try:
        return frozenset(Origin(o) for o in value.split(",") if o)
    except ValueError:
        return None


def _footprint_of(row: Entity) -> VersionFootprint:
    """What storage usage needs of a version row (``domain/usage.py``)."""
    _, protocol, name = row.partition_key.split("|", 2)
    return footprint(
        protocol,
        name,
        row.get_str("version") or row.row_key[2:],
        sha256=row.get_str("sha256"),
        size=row.get_int("size"),
        files=_files_of(row),
        provenance=_json_object(row.get_str("provenance")),
        source_chain=_json_list(row.get_str("sourceChain")),
        deleted=row.get_str("deleted") or None,
        purged=row.get_str("purged") or None,
    )
