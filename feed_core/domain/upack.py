"""Universal Package rules: names, versions, wildcard selection, and the manifest of a version's files.

**Names** (as Azure Artifacts states them): lower-case letters and digits, with ``-``, ``_`` or ``.``
between them (never two in a row), starting and ending with a letter or digit, at most 256 characters.
**Versions**: SemVer 2.0, lower-case, without build metadata.

**Manifest.** A version is a directory of regular files, each cut into content-defined chunks stored
once by their SHA-256. The manifest is a JSON object::

    {"format": 1,
     "files": [{"path": "bin/tool", "size": 5, "mode": 493,
                "chunks": [{"sha256": "<64 lower-case hex>", "size": 5}]}]}

- ``path``: relative, ``/``-separated, NFC; no empty, ``.`` or ``..`` segment, no backslash, colon,
  control character or other character Windows cannot store, no segment ending in a dot or space, no
  Windows device name (``con``, ``nul``, ``com1``...). Paths are unique ignoring case, and no file's path is
  another's directory, so the directory unpacks the same on every client.
- ``mode``: the permission bits only (``0`` to ``0o777``, as an integer). Symbolic links, devices, pipes,
  directory entries, and setuid/setgid/sticky bits are refused: only regular files travel.
- ``chunks``: in file order; their sizes add up to ``size`` (an empty file has none). A hash listed twice
  must have the same size both times.

Unknown keys are refused (a new field means a new ``format``). ``ManifestLimits`` bounds the files, paths,
chunks and total size.

**Total hash.** The SHA-256 (lower-case hex) of the canonical manifest: files sorted by path, each
object's keys sorted, no whitespace, UTF-8 without escapes (``canonical_json``). It covers every path,
mode and chunk hash, so it names the whole content; a manifest sent with other key order or spacing has
the same total hash. A client sends it with the manifest; the feed recomputes it and checks every chunk
hash as the chunk arrives. The feed stores and serves only the canonical form, never the body it was
sent, so what JSON leaves open (a key given twice: the last one wins here) cannot mean different things
to different readers.

Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.errors import BadRequestError
from feed_core.domain.semver import SemVer, try_parse_semver

MANIFEST_FORMAT = 1
MAX_NAME_LENGTH = 256
MAX_VERSION_LENGTH = 256
_GIB = 1024**3
_MIB = 1024**2

_NAME = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_WILDCARD = re.compile(r"\*|(0|[1-9][0-9]{0,17})\.\*|(0|[1-9][0-9]{0,17})\.(0|[1-9][0-9]{0,17})\.\*")
_WINDOWS_INVALID = frozenset('<>"|?*:')
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul", "conin$", "conout$"]
    + [f"{d}{n}" for d in ("com", "lpt") for n in [*"123456789", "¹", "²", "³"]]
)
_FILE_KEYS = frozenset({"path", "size", "mode", "chunks"})
_CHUNK_KEYS = frozenset({"sha256", "size"})
_TOP_KEYS = frozenset({"format", "files"})


class UpackError(BadRequestError, ValueError):
    """A Universal Package input the feed refuses (400); the message says what is wrong."""


class InvalidPackageName(UpackError):
    pass


class InvalidPackageVersion(UpackError):
    pass


class InvalidManifest(UpackError):
    pass


def _quote(text: str) -> str:
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def check_name(name: str) -> str:
    """The name if it is a valid Universal Package name; otherwise ``InvalidPackageName``."""
    if not name:
        raise InvalidPackageName("a Universal Package name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidPackageName(f"a Universal Package name has at most {MAX_NAME_LENGTH} characters")
    if name != name.lower():
        raise InvalidPackageName(f"invalid package name {_quote(name)}: Universal Package names are lower-case")
    if not _NAME.fullmatch(name):
        raise InvalidPackageName(
            f"invalid package name {_quote(name)}: use letters, digits, and single '-', '_' or '.' between them, "
            "starting and ending with a letter or digit"
        )
    return name


def parse_version(version: str) -> SemVer:
    """The parsed version if it is a valid Universal Package version; otherwise ``InvalidPackageVersion``."""
    parsed = try_parse_semver(version) if len(version) <= MAX_VERSION_LENGTH else None
    if parsed is None:
        raise InvalidPackageVersion(
            f"invalid version {_quote(version)}: not a semantic version such as 1.2.3 or 2.0.0-beta.1"
        )
    if parsed.build:
        raise InvalidPackageVersion(f"invalid version {_quote(version)}: build metadata (+...) is not allowed")
    if version != version.lower():
        raise InvalidPackageVersion(f"invalid version {_quote(version)}: Universal Package versions are lower-case")
    return parsed


def check_version(version: str) -> str:
    parse_version(version)
    return version


def highest_matching(versions: Iterable[str], pattern: str) -> str | None:
    """The version ``pattern`` selects from ``versions``, or ``None`` if none matches.

    ``pattern`` is an exact version, or ``*``, ``1.*`` or ``1.2.*`` for the highest release with that
    prefix. Wildcards never select prereleases; a prerelease is found only by its exact version.
    Strings in ``versions`` that are not valid versions are ignored.
    """
    if "*" not in pattern:
        wanted = parse_version(pattern)
        return next((v for v in versions if try_parse_semver(v) == wanted and "+" not in v), None)
    match = _WILDCARD.fullmatch(pattern)
    if match is None:
        raise InvalidPackageVersion(
            f"invalid version {_quote(pattern)}: a wildcard is *, MAJOR.* or MAJOR.MINOR.* (such as 1.* or 1.2.*)"
        )
    major_text = match.group(1) or match.group(2)
    major = int(major_text) if major_text is not None else None
    minor = int(match.group(3)) if match.group(3) is not None else None
    best: tuple[SemVer, str] | None = None
    for text in versions:
        v = try_parse_semver(text)
        if v is None or v.is_prerelease or v.build:
            continue
        if (major is not None and v.major != major) or (minor is not None and v.minor != minor):
            continue
        if best is None or v > best[0]:
            best = (v, text)
    return best[1] if best else None


@dataclass(frozen=True)
class ManifestLimits:
    """Bounds a manifest must keep; the feed's settings may choose others."""

    max_files: int = 100_000
    max_path_bytes: int = 1024
    max_segment_bytes: int = 255
    max_total_size: int = 16 * _GIB
    max_chunks: int = 500_000
    max_chunk_size: int = 16 * _MIB
    max_manifest_bytes: int = 64 * _MIB


DEFAULT_LIMITS = ManifestLimits()
#: What a feed of this service accepts: chunks no larger than a chunk upload may be, and at most 200,000 of them
#: (16 GiB at the client's 256 KiB average is about 65,000; the rest leaves room for many small files). Every
#: chunk of a commit is a point read and a blob check, so this bounds the work one commit can ask for.
FEED_LIMITS = ManifestLimits(max_chunks=200_000, max_chunk_size=2 * _MIB)


class _SizedHash(Protocol):
    @property
    def sha256(self) -> str: ...

    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class ChunkRef:
    sha256: str
    size: int


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    mode: int
    chunks: tuple[ChunkRef, ...]


def manifest_file(path: str, mode: int, chunks: Iterable[_SizedHash]) -> ManifestFile:
    """A file entry from its chunks (``chunking.Chunk`` or ``ChunkRef``); checked when the manifest is built."""
    refs = tuple(ChunkRef(c.sha256, c.size) for c in chunks)
    return ManifestFile(path, sum(c.size for c in refs), mode, refs)


@dataclass(frozen=True)
class Manifest:
    """A checked manifest; ``files`` are sorted by path."""

    files: tuple[ManifestFile, ...]

    @functools.cached_property
    def canonical_json(self) -> bytes:
        document = {
            "format": MANIFEST_FORMAT,
            "files": [
                {
                    "path": f.path,
                    "size": f.size,
                    "mode": f.mode,
                    "chunks": [{"sha256": c.sha256, "size": c.size} for c in f.chunks],
                }
                for f in self.files
            ],
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @functools.cached_property
    def total_hash(self) -> str:
        return hashlib.sha256(self.canonical_json).hexdigest()

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def chunk_sizes(self) -> dict[str, int]:
        """Every distinct chunk the version needs, by hash, with its size."""
        return {c.sha256: c.size for f in self.files for c in f.chunks}


_STORED_CHUNK = re.compile(rb'"sha256":"([0-9a-f]{64})"')


def stored_chunk_hashes(canonical: bytes) -> frozenset[str]:
    """The chunk hashes of a canonical manifest this service wrote after checking it, found without parsing it.

    Only for those bytes: a checked path holds no quote or colon, so only chunk entries have the form
    ``"sha256":"<hex>"``."""
    return frozenset(match.decode("ascii") for match in _STORED_CHUNK.findall(canonical))


def build_manifest(files: Iterable[ManifestFile], limits: ManifestLimits = DEFAULT_LIMITS) -> Manifest:
    """The canonical manifest of ``files`` (paths brought to NFC, sorted), checked as the feed will check it."""
    normalized = [ManifestFile(unicodedata.normalize("NFC", f.path), f.size, f.mode, f.chunks) for f in files]
    return _checked(normalized, limits)


def parse_manifest(body: bytes, limits: ManifestLimits = DEFAULT_LIMITS) -> Manifest:
    """Read a manifest someone sent; ``InvalidManifest`` says what is wrong with it."""
    if len(body) > limits.max_manifest_bytes:
        raise InvalidManifest(f"the manifest is larger than {limits.max_manifest_bytes} bytes")
    try:
        document = loads_bounded(body)
    except UnsafeJson as exc:
        raise InvalidManifest(f"the manifest {exc}") from None
    if not isinstance(document, dict):
        raise InvalidManifest("the manifest must be a JSON object")
    _no_other_keys(document, _TOP_KEYS, "the manifest")
    if _integer(document.get("format"), "the manifest's format") != MANIFEST_FORMAT:
        raise InvalidManifest(f"the manifest's format must be {MANIFEST_FORMAT}")
    entries = document.get("files")
    if not isinstance(entries, list):
        raise InvalidManifest("the manifest's files must be a list")
    if len(entries) > limits.max_files:
        raise InvalidManifest(f"the manifest lists more than {limits.max_files} files")
    chunk_count = 0
    files = []
    for i, entry in enumerate(entries):
        where = f"file #{i + 1}"
        if not isinstance(entry, dict):
            raise InvalidManifest(f"{where} must be a JSON object")
        _no_other_keys(entry, _FILE_KEYS, where)
        path = entry.get("path")
        if not isinstance(path, str):
            raise InvalidManifest(f"{where} has no path string")
        where = f"file {_quote(path)}"
        chunk_list = entry.get("chunks")
        if not isinstance(chunk_list, list):
            raise InvalidManifest(f"{where}: chunks must be a list")
        chunk_count += len(chunk_list)
        if chunk_count > limits.max_chunks:
            raise InvalidManifest(f"the manifest lists more than {limits.max_chunks} chunks")
        chunks = []
        for chunk in chunk_list:
            if not isinstance(chunk, dict):
                raise InvalidManifest(f"{where}: each chunk must be a JSON object")
            _no_other_keys(chunk, _CHUNK_KEYS, f"{where}: a chunk")
            sha = chunk.get("sha256")
            if not isinstance(sha, str):
                raise InvalidManifest(f"{where}: a chunk has no sha256 string")
            chunks.append(ChunkRef(sha, _integer(chunk.get("size"), f"{where}: a chunk's size")))
        size = _integer(entry.get("size"), f"{where}: size")
        mode = _integer(entry.get("mode"), f"{where}: mode")
        files.append(ManifestFile(path, size, mode, tuple(chunks)))
    return _checked(files, limits)


def _no_other_keys(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    missing = sorted(allowed - obj.keys())
    if missing:
        raise InvalidManifest(f"{where} has no {missing[0]!r}")
    extra = sorted(obj.keys() - allowed)
    if extra:
        raise InvalidManifest(f"{where} has an unknown key {_quote(extra[0])}")


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidManifest(f"{what} must be an integer")
    return value


def _checked(files: list[ManifestFile], limits: ManifestLimits) -> Manifest:
    if len(files) > limits.max_files:
        raise InvalidManifest(f"the manifest lists more than {limits.max_files} files")
    total = 0
    chunk_count = 0
    sizes: dict[str, int] = {}
    seen: dict[str, str] = {}
    directories: dict[str, str] = {}
    for f in files:
        check_path(f.path, limits)
        where = f"file {_quote(f.path)}"
        check_mode(f.mode, where)
        if f.size < 0:
            raise InvalidManifest(f"{where}: size cannot be negative")
        total += f.size
        if total > limits.max_total_size:
            raise InvalidManifest(f"the files add up to more than {limits.max_total_size} bytes")
        chunk_count += len(f.chunks)
        if chunk_count > limits.max_chunks:
            raise InvalidManifest(f"the manifest lists more than {limits.max_chunks} chunks")
        _check_chunks(f, where, sizes, limits)
        key = f.path.casefold()
        if key in seen:
            same = "the same path" if seen[key] == f.path else f"the same path as {_quote(seen[key])} ignoring case"
            raise InvalidManifest(f"{where} is listed twice ({same})")
        seen[key] = f.path
        segments = key.split("/")
        for depth in range(1, len(segments)):
            directories.setdefault("/".join(segments[:depth]), f.path)
    for key, path in seen.items():
        if key in directories:
            raise InvalidManifest(
                f"file {_quote(path)} is also a directory of {_quote(directories[key])}; a path cannot be both"
            )
    return Manifest(tuple(sorted(files, key=lambda f: f.path)))


def _check_chunks(f: ManifestFile, where: str, sizes: dict[str, int], limits: ManifestLimits) -> None:
    covered = 0
    for c in f.chunks:
        if not isinstance(c.sha256, str) or not _SHA256.fullmatch(c.sha256):
            raise InvalidManifest(f"{where}: chunk hash {_quote(str(c.sha256))} is not 64 lower-case hex digits")
        if not 1 <= c.size <= limits.max_chunk_size:
            raise InvalidManifest(f"{where}: a chunk's size must be from 1 to {limits.max_chunk_size} bytes")
        if sizes.setdefault(c.sha256, c.size) != c.size:
            raise InvalidManifest(f"chunk {c.sha256} is listed with two different sizes")
        covered += c.size
    if covered != f.size:
        raise InvalidManifest(f"{where}: its chunks add up to {covered} bytes, not its size of {f.size}")


def check_mode(mode: int, where: str) -> None:
    """Only the permission bits of a regular file; other file types say what they are."""
    if 0 <= mode <= 0o777:
        return
    kinds = {
        stat.S_IFLNK: "a symbolic link",
        stat.S_IFDIR: "a directory entry (directories come from file paths)",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFIFO: "a named pipe",
        stat.S_IFSOCK: "a socket",
    }
    kind = kinds.get(mode & 0o170000) if 0 < mode < 0o1000000 else None  # stat.S_IFMT overflows on huge ints
    if kind:
        raise InvalidManifest(f"{where} is {kind}; a Universal Package holds regular files only")
    if 0 < mode <= 0o7777:
        raise InvalidManifest(f"{where}: setuid, setgid and sticky bits are not allowed (mode {mode:#o})")
    raise InvalidManifest(f"{where}: mode must be permission bits from 0 to 0o777, not {mode}")


def check_path(path: str, limits: ManifestLimits = DEFAULT_LIMITS) -> None:
    """Refuse a file path that could escape the directory, collide, or not unpack on some client."""
    where = f"path {_quote(path)}"
    if not path:
        raise InvalidManifest("a file path cannot be empty")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidManifest(f"{where} is not valid Unicode text") from None
    if len(encoded) > limits.max_path_bytes:
        raise InvalidManifest(f"{where} is longer than {limits.max_path_bytes} bytes")
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        raise InvalidManifest(f"{where} has a control character")
    if "\\" in path:
        raise InvalidManifest(f"{where} has a backslash; paths are separated by '/'")
    if path.startswith("/"):
        raise InvalidManifest(f"{where} is absolute; paths are relative to the package")
    segments = path.split("/")
    if ".." in segments or "." in segments:
        raise InvalidManifest(f"{where} has a '.' or '..' segment")
    if "" in segments:
        raise InvalidManifest(f"{where} has an empty segment (a doubled or trailing '/')")
    if ":" in path:
        raise InvalidManifest(f"{where} has a colon (a Windows drive or data stream)")
    if not unicodedata.is_normalized("NFC", path):
        raise InvalidManifest(f"{where} is not in Unicode normalization form NFC")
    for segment in segments:
        bad = _WINDOWS_INVALID.intersection(segment)
        if bad:
            raise InvalidManifest(f"{where} has {sorted(bad)[0]!r}, which Windows cannot store in a file name")
        if segment[-1] in ". ":
            raise InvalidManifest(f"{where} has a name ending in a dot or a space, which Windows drops")
        if segment.split(".")[0].rstrip(" ").lower() in _WINDOWS_DEVICES:
            raise InvalidManifest(f"{where} uses a Windows device name ({segment.split('.')[0]!r})")
        if len(segment.encode("utf-8")) > limits.max_segment_bytes:
            raise InvalidManifest(f"{where} has a name longer than {limits.max_segment_bytes} bytes")
