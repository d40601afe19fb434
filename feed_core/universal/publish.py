"""``universal publish``: a directory to a new version of a Universal Package, uploading only new chunks.

1. Every file is read once, in blocks, and cut into content-defined chunks (``domain.chunking``); only
   the hashes, sizes and where each chunk starts are kept, never a whole file.
2. The feed is asked which of the distinct chunks it lacks; those are read again from their files
   (``os.pread`` at their offset, hash checked: a file changed meanwhile stops the publish) and uploaded,
   ``parallel`` at once.
3. The canonical manifest is committed. If the feed answers that chunks are missing (it forgot them,
   or another publish raced this one) they are uploaded and the commit is tried again.

An interrupted publish resumes by running it again: the feed remembers the chunks it received, and the
query in step 2 leaves them out.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from feed_core.domain.chunking import Chunker, ChunkSizes
from feed_core.domain.upack import (
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

    @property
    def reused_share(self) -> float:
        """The share of the package's bytes the feed already had (1.0 for an empty package)."""
        return 1.0 - self.uploaded_bytes / self.total_bytes if self.total_bytes else 1.0

    def summary(self) -> str:
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
    """The manifest entry of one file and where each of its chunks is, reading it in blocks."""
    chunker = Chunker(sizes)
    refs = []
    read = 0
    fd = _open_regular(f)
    try:
        while block := os.read(fd, BLOCK_SIZE):
            read += len(block)
            refs.extend(chunker.feed(block))
        refs.extend(chunker.finish())
    finally:
        os.close(fd)
    if read != f.size:
        raise UniversalError(f"{f.path} changed while it was being read ({f.size} bytes, then {read}); publish again")
    sources = [ChunkSource(f, c.offset, c.size) for c in refs]
    return manifest_file(f.path, f.mode, refs), sources


def prepare(root: Path, sizes: ChunkSizes | None = None) -> Prepared:
    """Scan and chunk the directory (blocking: run it in a thread)."""
    entries = []
    sources: dict[str, ChunkSource] = {}
    for f in scan(root):
        entry, where = chunk_file(f, sizes)
        entries.append(entry)
        for ref, source in zip(entry.chunks, where, strict=True):
            sources.setdefault(ref.sha256, source)
    try:
        manifest = build_manifest(entries)
    except UpackError as exc:
        raise UniversalError(f"cannot publish this directory: {exc.message}") from None
    return Prepared(manifest, sources)


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


async def upload(client: UpackClient, prepared: Prepared, hashes: list[str], progress: Progress, parallel: int) -> int:
    """Upload these chunks, ``parallel`` at once; the bytes sent."""
    gate = asyncio.Semaphore(parallel)
    sent = 0

    async def one(sha256: str) -> None:
        nonlocal sent
        async with gate:
            data = await asyncio.to_thread(read_chunk, sha256, prepared.sources[sha256])
            await client.put_chunk(sha256, data)
            sent += len(data)
            progress.advance(len(data))

    async with asyncio.TaskGroup() as group:
        for sha256 in hashes:
            group.create_task(one(sha256))
    return sent


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
) -> PublishReport:
    try:
        check_name(name)
        check_version(version)
    except UpackError as exc:
        raise UniversalError(exc.message) from None
    prepared = await asyncio.to_thread(prepare, root, sizes)
    manifest = prepared.manifest
    needed = manifest.chunk_sizes()
    async with UpackClient(location, token, parallel=parallel) as client:
        missing = sorted(await client.missing_chunks(sorted(needed)))
        progress = Progress("publish", sum(needed[h] for h in missing), stream)
        try:
            uploaded = await upload(client, prepared, missing, progress, parallel)
            chunks = len(missing)
            for _ in range(COMMIT_ROUNDS):
                response = await client.commit(name, version, manifest.canonical_json, manifest.total_hash, description)
                if response.status_code != 400:
                    break
                again = response.json()["missing"]
                if not again or not all(isinstance(h, str) and h in needed for h in again):
                    raise UniversalError(f"the feed refused the version: {response.json().get('message', '')}")
                progress.total += sum(needed[h] for h in set(again))
                uploaded += await upload(client, prepared, sorted(set(again)), progress, parallel)
                chunks += len(set(again))
            else:
                raise UniversalError("the feed still reports missing chunks after uploading them; try again")
        except* UniversalError as group:
            raise group.exceptions[0] from None
        finally:
            progress.close()
    return PublishReport(
        name,
        version,
        len(manifest.files),
        manifest.total_size,
        uploaded,
        chunks,
        len(needed),
        manifest.total_hash,
    )
