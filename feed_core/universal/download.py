"""``universal download``: a version (exact or wildcard) of a Universal Package into a directory.

The manifest is checked as the feed checks one (``parse_manifest``: a hostile feed cannot name a path
outside the target, a link or a device) and its total hash must be the one the version list gives. Each
file is first written to a short temporary name (``.upack-<hex>.part``) next to its target, sized in advance;
every distinct chunk is fetched once (``parallel`` at once), its SHA-256 checked, and written wherever it occurs.
Only when all chunks are in are the files given their modes, less the umask (as unpacking an archive does), and
renamed into place; on any failure the temporary files are removed. Files already in the target that the package
does not list are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from feed_core.concurrency import for_each
from feed_core.domain.upack import Manifest, UpackError, check_name, highest_matching, parse_manifest
from feed_core.universal.client import FeedLocation, UniversalError, UpackClient
from feed_core.universal.progress import Progress
from feed_core.universal.tree import target_of

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class DownloadReport:
    name: str
    version: str
    files: int
    total_bytes: int
    fetched_bytes: int
    path: Path

    def summary(self) -> str:
        return (
            f"Downloaded {self.name} {self.version} to {self.path}: {self.files} files, {self.total_bytes:,} bytes "
            f"({self.fetched_bytes:,} bytes fetched)"
        )


@dataclass(frozen=True)
class _Staged:
    target: Path
    temp: Path
    mode: int


def choose_version(entries: list[dict[str, object]], name: str, pattern: str) -> tuple[str, str | None]:
    """The version ``pattern`` selects and the total hash the list gives for it."""
    try:
        chosen = highest_matching([str(e["version"]) for e in entries], pattern)
    except UpackError as exc:
        raise UniversalError(exc.message) from None
    if chosen is None:
        raise UniversalError(f"no version of {name} matches {pattern!r}", 404)
    total = next((e.get("totalHash") for e in entries if e["version"] == chosen), None)
    return chosen, total if isinstance(total, str) else None


def check_manifest(body: bytes, expected_total: str | None) -> Manifest:
    try:
        manifest = parse_manifest(body)
    except UpackError as exc:
        raise UniversalError(f"the feed sent a manifest this client refuses: {exc.message}") from None
    if expected_total is not None and manifest.total_hash != expected_total:
        raise UniversalError(
            f"the manifest's total hash {manifest.total_hash} is not the version's {expected_total}; nothing written"
        )
    return manifest


def stage(root: Path, manifest: Manifest) -> list[_Staged]:
    """A sized temporary file next to each target (blocking)."""
    staged: list[_Staged] = []
    root.mkdir(parents=True, exist_ok=True)
    try:
        for f in manifest.files:
            target = target_of(root, f.path)
            temp = target.with_name(f".upack-{secrets.token_hex(8)}.part")  # short: any target name fits
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            staged.append(_Staged(target, temp, f.mode))
            try:
                os.ftruncate(fd, f.size)
            finally:
                os.close(fd)
    except BaseException:
        discard(staged)
        raise
    return staged


def discard(staged: list[_Staged]) -> None:
    for s in staged:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(s.temp)


def write_at(places: list[tuple[Path, int]], data: bytes) -> None:
    for temp, offset in places:
        fd = os.open(temp, os.O_WRONLY | _NOFOLLOW)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where there is one, so that it is never changed even briefly)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def settle(staged: list[_Staged], umask: int) -> None:
    """Give each file its mode less the umask (as unpacking an archive does) and move it into place."""
    for s in staged:
        os.chmod(s.temp, s.mode & ~umask)
        os.replace(s.temp, s.target)


async def download(
    location: FeedLocation,
    token: str | None,
    name: str,
    pattern: str,
    root: Path,
    *,
    parallel: int = 8,
    stream: TextIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DownloadReport:
    try:
        check_name(name)
    except UpackError as exc:
        raise UniversalError(exc.message) from None
    async with UpackClient(location, token, parallel=parallel, transport=transport) as client:
        chosen, total_hash = choose_version(await client.versions(name), name, pattern)
        if total_hash is None:
            raise UniversalError(f"the feed's version list gives no total hash for {name} {chosen}")
        manifest = check_manifest(await client.manifest(name, chosen), total_hash)
        umask = current_umask()
        staged = await asyncio.to_thread(stage, root, manifest)
        places: dict[str, list[tuple[Path, int]]] = defaultdict(list)
        for f, s in zip(manifest.files, staged, strict=True):
            offset = 0
            for c in f.chunks:
                places[c.sha256].append((s.temp, offset))
                offset += c.size
        sizes = manifest.chunk_sizes()
        progress = Progress("download", sum(sizes.values()), stream)

        async def one(sha256: str) -> None:
            data = await client.chunk(name, chosen, sha256, sizes[sha256])
            await asyncio.to_thread(write_at, places[sha256], data)
            progress.advance(len(data))

        try:
            await for_each(sizes, one, parallel)  # ``parallel`` tasks, however many chunks
            await asyncio.to_thread(settle, staged, umask)
        except* UniversalError as errors:
            raise errors.exceptions[0] from None
        finally:
            progress.close()
            await asyncio.to_thread(discard, staged)
    return DownloadReport(name, chosen, len(manifest.files), manifest.total_size, sum(sizes.values()), root)
