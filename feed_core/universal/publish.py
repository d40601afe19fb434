"""``universal publish``: a directory to a new version of a Universal Package, uploading only new chunks.

1. The directory is walked and its paths checked against the manifest rules before anything is read.
2. Every file is read once, in blocks, and cut into content-defined chunks (``domain.chunking``) in a
   thread; only the hashes, sizes and where each chunk starts are kept, never a whole file.
3. Meanwhile, each batch of new chunks is asked about (which of them the feed lacks), and the missing
   ones are read again from their files (``os.pread`` at their offset, hash checked: a file changed
   meanwhile stops the publish) and uploaded, ``parallel`` at once.
4. The canonical manifest is committed. If the feed answers that chunks are missing (it forgot them,
   or another publish raced this one) they are uploaded and the commit is tried again. If it answers that
   the version exists (409) and lists it with this total hash, the commit went through but its answer was
   lost: the publish succeeded.

A version the feed lists as its own already is refused before any upload, unless it has this very content
(the same total hash: a rerun of a publish whose answer was lost), which is reported as published. One the
feed lists as an upstream's (``"source": "upstream"``) is committed at once, before any upload, so that the
feed answers with its own refusal (409: an upstream source has it); if the feed allows the name conflict it
asks for the chunks instead, and the publish goes on as for a new version. A list without ``source`` (an
older feed) counts as the feed's own.

An interrupted publish resumes by running it again: the feed remembers the chunks it received, and the
query in step 3 leaves them out.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from feed_core.concurrency import for_each
from feed_core.domain.chunking import Chunk, Chunker, ChunkSizes
from feed_core.domain.upack import (
    ChunkRef,
    Manifest,
    ManifestFile,
    UpackError,
    build_manifest,
    check_name,
    check_version,
    manifest_file,
)
from feed_core.universal.client import FeedLocation, UniversalError, UpackClient
from feed_core.universal.progress import Progress
from feed_core.universal.tree import LocalFile, scan

BLOCK_SIZE = 1024 * 1024
COMMIT_ROUNDS = 3
#: New chunks found while reading are asked about in batches this large (and at the end).
QUERY_EVERY = 256


@dataclass(frozen=True)
class ChunkSource:
    """Where a chunk's bytes are: the first place it occurs."""

    file: LocalFile
    offset: int
    size: int


@dataclass(frozen=True)
class Prepared:
    manifest: Manifest
    sources: dict[str, ChunkSource]


@dataclass(frozen=True)
class PublishReport:
    name: str
    version: str
    files: int
    total_bytes: int
    uploaded_bytes: int
    uploaded_chunks: int
    chunks: int
    total_hash: str
    #: The feed had this version with this very content already (nothing was sent).
    already_published: bool = False

    @property
    def reused_share(self) -> float:
        """The share of the package's bytes the feed already had (1.0 for an empty package)."""
        return 1.0 - self.uploaded_bytes / self.total_bytes if self.total_bytes else 1.0

    def summary(self) -> str:
        if self.already_published:
            return (
                f"{self.name} {self.version} is already published in the feed with this content "
                f"({self.files} files, {self.total_bytes:,} bytes); nothing was uploaded"
            )
        return (
            f"Published {self.name} {self.version}: {self.files} files, {self.total_bytes:,} bytes, "
            f"{self.uploaded_bytes:,} bytes uploaded ({self.reused_share * 100:.1f}% reused)"
        )


def _open_regular(f: LocalFile) -> int:
    """A read descriptor for ``f``, refusing it if it became a link or another kind of file."""
    try:
        fd = os.open(f.source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UniversalError(f"cannot read {f.path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UniversalError(f"{f.path} is no longer a regular file")
    return fd


def chunk_file(f: LocalFile, sizes: ChunkSizes | None = None) -> tuple[ManifestFile, list[ChunkSource]]:
    """The manifest entry of one file and where each of its chunks is, reading it in blocks (only the
    hashes and sizes are kept, never the bytes)."""
    chunker = Chunker(sizes)
    refs: list[ChunkRef] = []
    sources: list[ChunkSource] = []
    read = 0

    def keep(chunks: list[Chunk]) -> None:
        for c in chunks:
            refs.append(ChunkRef(c.sha256, c.size))
            sources.append(ChunkSource(f, c.offset, c.size))

    fd = _open_regular(f)
    try:
        while block := os.read(fd, BLOCK_SIZE):
            read += len(block)
            keep(chunker.feed(block))
        keep(chunker.finish())
    finally:
        os.close(fd)
    if read != f.size:
        raise UniversalError(f"{f.path} changed while it was being read ({f.size} bytes, then {read}); publish again")
    return manifest_file(f.path, f.mode, refs), sources


def check_paths(files: list[LocalFile]) -> None:
    """The manifest rules that depend on paths and modes only (case clashes, a file that is also a
    directory, the limits), checked before anything is read or sent."""
    try:
        build_manifest([ManifestFile(f.path, 0, f.mode, ()) for f in files])
    except UpackError as exc:
        raise UniversalError(f"cannot publish this directory: {exc.message}") from None


def prepare(root: Path, sizes: ChunkSizes | None = None) -> Prepared:
    """Scan and chunk the directory at once (blocking); ``publish`` does the same while it uploads."""
    files = scan(root)
    check_paths(files)
    entries = []
    sources: dict[str, ChunkSource] = {}
    for f in files:
        entry, where = chunk_file(f, sizes)
        entries.append(entry)
        for ref, source in zip(entry.chunks, where, strict=True):
            sources.setdefault(ref.sha256, source)
    return Prepared(build_manifest(entries), sources)


def read_chunk(sha256: str, source: ChunkSource) -> bytes:
    """The chunk's bytes read again from its file, checked against its hash."""
    fd = _open_regular(source.file)
    try:
        data = os.pread(fd, source.size, source.offset)
    finally:
        os.close(fd)
    if len(data) != source.size or hashlib.sha256(data).hexdigest() != sha256:
        raise UniversalError(f"{source.file.path} changed since it was read; publish again")
    return data


class Uploader:
    """Sends chunks in ``parallel`` worker tasks (never one task per chunk), counting what it sent."""

    def __init__(self, client: UpackClient, sources: dict[str, ChunkSource], progress: Progress, parallel: int) -> None:
        self.client = client
        self.sources = sources
        self.progress = progress
        self.parallel = max(1, parallel)
        self.sent_bytes = 0
        self.sent_chunks = 0

    async def send(self, sha256: str) -> None:
        data = await asyncio.to_thread(read_chunk, sha256, self.sources[sha256])
        await self.client.put_chunk(sha256, data)
        self.sent_bytes += len(data)
        self.sent_chunks += 1
        self.progress.advance(len(data))

    async def send_all(self, hashes: list[str]) -> None:
        await for_each(hashes, self.send, self.parallel)

    def start_workers(self, group: asyncio.TaskGroup) -> asyncio.Queue[str | None]:
        """Start the workers in ``group``; each sends the hashes put in the returned queue until it takes a
        ``None`` (put one per worker to end them). The queue holds at most ``parallel`` hashes, so whoever
        fills it waits for the uploads rather than piling up work."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=self.parallel)

        async def worker() -> None:
            while (sha256 := await queue.get()) is not None:
                await self.send(sha256)

        for _ in range(self.parallel):
            group.create_task(worker())
        return queue


_DONE = None


def _chunk_all(
    files: list[LocalFile],
    sizes: ChunkSizes | None,
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[tuple[ManifestFile, list[ChunkSource]] | None],
    stop: threading.Event,
) -> None:
    """Chunk every file (in a thread), handing each result to the event loop's queue; the end is ``_DONE``.
    ``stop`` ends it early (the publish failed)."""
    try:
        for f in files:
            if stop.is_set():
                return
            loop.call_soon_threadsafe(queue.put_nowait, chunk_file(f, sizes))
    finally:
        loop.call_soon_threadsafe(queue.put_nowait, _DONE)


async def _send_while_chunking(
    files: list[LocalFile], sizes: ChunkSizes | None, uploader: Uploader
) -> list[ManifestFile]:
    """Chunk the files in a thread while the chunks found so far are asked about, in batches of
    ``QUERY_EVERY``, and the missing ones sent; the manifest entries, in file order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[ManifestFile, list[ChunkSource]] | None] = asyncio.Queue()
    entries: list[ManifestFile] = []
    batch: list[str] = []

    async def ask(hashes: list[str]) -> None:
        missing = await uploader.client.missing_chunks(hashes)
        for sha256 in hashes:
            if sha256 in missing:
                await to_send.put(sha256)
            else:
                uploader.progress.advance(uploader.sources[sha256].size)

    stop = threading.Event()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(asyncio.to_thread(_chunk_all, files, sizes, loop, queue, stop))
            to_send = uploader.start_workers(group)
            while (item := await queue.get()) is not _DONE:
                entry, where = item
                entries.append(entry)
                for ref, source in zip(entry.chunks, where, strict=True):
                    if ref.sha256 in uploader.sources:
                        uploader.progress.advance(ref.size)  # a repeat: sent or skipped once already
                        continue
                    uploader.sources[ref.sha256] = source
                    batch.append(ref.sha256)
                if len(batch) >= QUERY_EVERY:
                    await ask(batch)
                    batch = []
            if batch:
                await ask(batch)
            for _ in range(uploader.parallel):
                await to_send.put(None)
    finally:
        stop.set()
    return entries


async def _listed(client: UpackClient, name: str, version: str) -> dict[str, Any] | None:
    """The feed's list entry of the version (its own, or one an upstream of it offers), or ``None``.
    A deleted version is not listed; the commit's 409 says so."""
    try:
        listed = await client.versions(name)
    except UniversalError as exc:
        if exc.status == 404:
            return None
        raise
    return next((entry for entry in listed if entry.get("version") == version), None)


def _exists(client: UpackClient, name: str, version: str) -> UniversalError:
    return UniversalError(
        f"{name} {version} already exists in feed {client.location.feed} with other content; versions cannot be "
        "replaced: publish a new one",
        409,
    )


def _from_upstream(entry: dict[str, Any]) -> bool:
    """Whether the feed lists the version as an upstream's (saved from one, or offered by one). An older
    feed's list has no ``source``: its entries count as the feed's own, as they did."""
    return entry.get("source") == "upstream"


async def _commit_over_upstream(
    client: UpackClient, manifest: Manifest, name: str, version: str, description: str | None
) -> bool:
    """Commit a version the feed lists as an upstream's before sending anything: the feed refuses it (409,
    raised with the feed's own words), or asks for chunks (it allows the name conflict: ``False``, go on as
    for a new version), or takes it (it had every chunk: ``True``)."""
    try:
        response = await client.commit(name, version, manifest.canonical_json, manifest.total_hash, description)
    except UniversalError as exc:
        if exc.status == 409 and await _published_as(client, name, version, manifest.total_hash):
            return True  # the feed had every chunk and took it, but the answer was lost (the retry got the 409)
        if exc.status == 409:
            said = exc.body.get("message") if isinstance(exc.body, dict) else None
            raise UniversalError(said if isinstance(said, str) and said else exc.message, 409) from None
        raise
    return response.status_code != 400


def _manifest_of(files: list[LocalFile], sizes: ChunkSizes | None) -> Manifest:
    """The manifest of the scanned files, read and chunked at once (blocking), nothing sent."""
    return build_manifest([chunk_file(f, sizes)[0] for f in files])


async def _published_as(client: UpackClient, name: str, version: str, total_hash: str) -> bool:
    """Whether the feed lists the version as its own with exactly this content: a publish whose commit
    succeeded, but whose answer was lost (the retry got a 409), or a rerun of one."""
    entry = await _listed(client, name, version)
    return entry is not None and not _from_upstream(entry) and entry.get("totalHash") == total_hash


async def publish(
    location: FeedLocation,
    token: str | None,
    name: str,
    version: str,
    root: Path,
    *,
    description: str | None = None,
    parallel: int = 8,
    sizes: ChunkSizes | None = None,
    stream: TextIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PublishReport:
    try:
        check_name(name)
        check_version(version)
    except UpackError as exc:
        raise UniversalError(exc.message) from None
    if "@" in location.feed:
        raise UniversalError(
            f"publish to the feed itself, not to a view ({location.feed}); promote the version to a view afterwards"
        )
    files = await asyncio.to_thread(scan, root)
    check_paths(files)
    progress = Progress("publish", sum(f.size for f in files), stream)
    already = False
    try:
        async with UpackClient(location, token, parallel=parallel, transport=transport) as client:
            uploader = Uploader(client, {}, progress, parallel)
            entry = await _listed(client, name, version)
            committed = False
            if entry is not None and _from_upstream(entry):
                # The feed's answer decides: refused (409), or it allows the conflict and asks for the chunks.
                manifest = await asyncio.to_thread(_manifest_of, files, sizes)
                committed = await _commit_over_upstream(client, manifest, name, version, description)
                entry = None
            if entry is not None:
                # Refused before any upload, unless it is this very content (a rerun after a lost answer).
                listed_size = entry.get("size")
                if isinstance(listed_size, int) and listed_size != sum(f.size for f in files):
                    raise _exists(client, name, version)
                manifest = await asyncio.to_thread(_manifest_of, files, sizes)
                if entry.get("totalHash") != manifest.total_hash:
                    raise _exists(client, name, version)
                already = True
            elif not committed:
                manifest = build_manifest(await _send_while_chunking(files, sizes, uploader))
                await _commit(client, uploader, manifest, name, version, description)
    except* UniversalError as errors:
        raise errors.exceptions[0] from None
    finally:
        progress.close()
    return PublishReport(
        name,
        version,
        len(manifest.files),
        manifest.total_size,
        uploader.sent_bytes,
        uploader.sent_chunks,
        len(manifest.chunk_sizes()),
        manifest.total_hash,
        already,
    )


async def _commit(
    client: UpackClient, uploader: Uploader, manifest: Manifest, name: str, version: str, description: str | None
) -> None:
    """Commit the version, sending the chunks the feed says it lacks and committing again. The feed lists a
    bounded number at a time, so this goes on while each answer names chunks not sent again yet; answers that
    name only chunks sent again already end it after ``COMMIT_ROUNDS``."""
    needed = manifest.chunk_sizes()
    resent: set[str] = set()
    stalled = 0
    while True:
        try:
            response = await client.commit(name, version, manifest.canonical_json, manifest.total_hash, description)
        except UniversalError as exc:
            if exc.status == 409 and await _published_as(client, name, version, manifest.total_hash):
                return
            raise
        if response.status_code != 400:
            return
        body = response.json()
        again = sorted(set(body["missing"]))
        if not again or not all(isinstance(h, str) and h in needed for h in again):
            raise UniversalError(f"the feed refused the version: {body.get('message', '')}")
        if resent.issuperset(again):
            stalled += 1
            if stalled >= COMMIT_ROUNDS:
                raise UniversalError("the feed still reports missing chunks after uploading them; try again")
        resent.update(again)
        uploader.progress.total += sum(needed[h] for h in again)
        await uploader.send_all(again)
