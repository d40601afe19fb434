"""`.crate` files: what a crate archive must be before the feed keeps it or serves it to cargo.

A `.crate` is a gzip-compressed tar that cargo unpacks into ``{name}-{version}/``. It is accepted when:

- it decompresses and reads to its end, the tar closed by its end-of-archive block (a truncated or
  padded-with-garbage tar is refused, not read as shorter);
- decompression stays within ``max_unpacked`` bytes (streamed through
  :class:`~feed_core.domain.archives.BoundedReader`: a gzip bomb stops at the limit) and the entries number
  at most ``max_entries``;
- every entry is a regular file or directory (no links, devices or FIFOs) at a safe path
  (:func:`~feed_core.domain.archives.check_member_path`) inside one top directory, and no path repeats;
- ``{top}/Cargo.toml`` is there once, is TOML, and its ``[package]`` names the crate and gives its version
  as a string (a version inherited from a workspace is refused: ``cargo package`` writes it out), and the
  top directory is ``{name}-{version}``.

Nothing is extracted: the archive is read from memory and only Cargo.toml is kept.

Pure: no I/O.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tomllib
import zlib
from dataclasses import dataclass
from typing import Any

from feed_core.domain.archives import BoundedReader, Stream, check_member_path, check_tar_member_kind
from feed_core.domain.errors import FeedError, PayloadTooLargeError

MiB = 1 << 20
#: The public registry's own unpacked-size limit; crates with large generated sources come close.
MAX_UNPACKED = 512 * MiB
MAX_ENTRIES = 100_000
#: Crates that unpack to at most this are unpacked in memory at once before their entries are walked.
IN_MEMORY_UNPACKED = 64 * MiB
#: Cargo.toml inside a crate (normalized ones of crates with thousands of features are a few hundred KiB).
MAX_CARGO_TOML = 8 * MiB

_REBUILD = "package it again with `cargo package`"


class CrateFileError(ValueError):
    """Not a `.crate` this feed accepts; the message says what is wrong."""


class CrateTooLargeError(CrateFileError):
    """A `.crate` past a size or count limit (a 413 where the wire has one)."""


@dataclass(frozen=True)
class CrateManifest:
    name: str
    version: str


def read_crate(data: bytes, *, max_unpacked: int = MAX_UNPACKED, max_entries: int = MAX_ENTRIES) -> CrateManifest:
    """Check a `.crate` (see the module docstring) and return the name and version its Cargo.toml gives."""
    try:
        unpacked = _unpack_in_memory(data, min(max_unpacked, IN_MEMORY_UNPACKED))
        with (
            io.BytesIO(unpacked) if unpacked is not None else gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
        ) as unzipped:
            stream = _TailReader(BoundedReader(unzipped, max_unpacked))
            with tarfile.open(fileobj=stream, mode="r:") as archive:
                top, toml = _walk(archive, max_unpacked, max_entries)
                end = archive.offset
            if not stream.zeros_at(end):
                raise CrateFileError(
                    f"the .crate's tar archive is truncated or damaged after its last entry; {_REBUILD}"
                )
            while stream.read(MiB):  # to the end of the gzip stream, so a damaged one shows
                pass
    except PayloadTooLargeError as exc:
        raise CrateTooLargeError(exc.message) from None
    except FeedError as exc:
        raise CrateFileError(exc.message) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        raise CrateFileError(f"the .crate is not a readable gzip-compressed tar archive; {_REBUILD}") from None
    if top is None:
        raise CrateFileError(f"the .crate is empty; {_REBUILD}")
    if toml is None:
        raise CrateFileError(f"the .crate has no {top}/Cargo.toml; {_REBUILD}")
    name, version = _package(toml)
    if top != f"{name}-{version}":
        raise CrateFileError(
            f"the .crate's files are under {top!r}, but its Cargo.toml is for {name} {version}, so cargo would "
            f"look for them under {name}-{version}/; {_REBUILD}"
        )
    return CrateManifest(name, version)


def _unpack_in_memory(data: bytes, limit: int) -> bytes | None:
    """The whole tar, when the gzip stream is one member that unpacks cleanly to at most ``limit`` bytes: read from
    memory, the tar's entries are walked several times faster than through a decompressing stream. ``None`` for
    anything else (larger, truncated, damaged, several members): the streamed reading handles and explains those."""
    unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        unpacked = unzip.decompress(data, limit + 1)
    except zlib.error:
        return None
    if len(unpacked) > limit or unzip.unconsumed_tail or not unzip.eof or unzip.unused_data:
        return None
    return unpacked


def check_crate(
    data: bytes,
    name: str,
    version: str,
    *,
    max_unpacked: int = MAX_UNPACKED,
    max_entries: int = MAX_ENTRIES,
) -> CrateManifest:
    """:func:`read_crate`, and its Cargo.toml must name exactly this crate and version."""
    found = read_crate(data, max_unpacked=max_unpacked, max_entries=max_entries)
    if found.name != name:
        raise CrateFileError(
            f"the .crate's Cargo.toml names crate {found.name!r}, not {name[:80]!r}; publish the file "
            "`cargo package` makes for this crate"
        )
    if found.version != version:
        raise CrateFileError(
            f"the .crate's Cargo.toml gives version {found.version!r}, not {version[:80]!r}; publish the file "
            "`cargo package` makes for this version"
        )
    return found


def _walk(archive: tarfile.TarFile, max_unpacked: int, max_entries: int) -> tuple[str | None, bytes | None]:
    """Every entry checked; the top directory and the bytes of its Cargo.toml."""
    top: str | None = None
    toml: bytes | None = None
    seen: set[str] = set()
    unpacked = 0
    for count, member in enumerate(archive, start=1):
        if count > max_entries:
            raise CrateTooLargeError(f"the .crate holds more than the {max_entries} entries this feed accepts")
        check_member_path(member.name)
        check_tar_member_kind(member)
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if not parts:
            raise CrateFileError(f"the .crate holds an entry with no name ({member.name!r}); {_REBUILD}")
        if top is None:
            top = parts[0]
        if parts[0] != top or (len(parts) == 1 and not member.isdir()):
            raise CrateFileError(
                f"the .crate holds {member.name[:200]!r} outside its top directory {top + '/'!r}: every file of a "
                f"crate is under {{name}}-{{version}}/; {_REBUILD}"
            )
        path = "/".join(parts)
        if path in seen and not member.isdir():
            raise CrateFileError(f"the .crate holds {path[:200]!r} more than once; {_REBUILD}")
        seen.add(path)
        if not member.isfile():
            continue
        unpacked += member.size
        if unpacked > max_unpacked:
            raise CrateTooLargeError(
                f"the .crate's files add up to more than the {max_unpacked} bytes this feed accepts unpacked "
                "(a decompression bomb, or far too big a crate)"
            )
        if len(parts) == 2 and parts[1] == "Cargo.toml":
            toml = _read_member(archive, member)
    return top, toml


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > MAX_CARGO_TOML:
        raise CrateTooLargeError(
            f"the .crate's Cargo.toml is {member.size} bytes, more than the {MAX_CARGO_TOML} this feed accepts"
        )
    stream = archive.extractfile(member)
    if stream is None:  # pragma: no cover - regular files always have data
        raise CrateFileError(f"cannot read Cargo.toml from the .crate; {_REBUILD}")
    with stream:
        data = stream.read(MAX_CARGO_TOML + 1)
    if len(data) != member.size:
        raise CrateFileError(f"the .crate ends inside its Cargo.toml; {_REBUILD}")
    return data


def _package(raw: bytes) -> tuple[str, str]:
    """The ``[package]`` name and version of a Cargo.toml."""
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CrateFileError(f"the .crate's Cargo.toml is not UTF-8 text; {_REBUILD}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CrateFileError(f"the .crate's Cargo.toml is not valid TOML ({exc}); {_REBUILD}") from None
    except RecursionError:
        raise CrateFileError(f"the .crate's Cargo.toml nests too deeply to read; {_REBUILD}") from None
    package: Any = doc.get("package", doc.get("project"))  # [project]: the name very old crates used
    if not isinstance(package, dict):
        raise CrateFileError(f"the .crate's Cargo.toml has no [package] table; {_REBUILD}")
    name = package.get("name")
    if not isinstance(name, str) or not name:
        raise CrateFileError(f"the .crate's Cargo.toml has no package name; {_REBUILD}")
    version = package.get("version")
    if isinstance(version, dict) and "workspace" in version:
        raise CrateFileError(
            "the .crate's Cargo.toml inherits its version from a workspace (version.workspace = true), so it "
            f"does not say which version it is; {_REBUILD}, which writes the version in"
        )
    if not isinstance(version, str) or not version:
        raise CrateFileError(f"the .crate's Cargo.toml has no package version; {_REBUILD}")
    return name, version


class _TailReader:
    """Passes reads through and remembers the last bytes read, so the block after the last tar entry can be seen.

    tarfile ends quietly at a short or unreadable header after the first entry; reading that block here
    tells a proper end-of-archive (zeros) from a truncated or garbled archive.
    """

    _KEEP = 4096

    def __init__(self, inner: Stream) -> None:
        self._inner = inner
        self._tail = b""
        self._tail_end = 0

    def read(self, size: int = -1, /) -> bytes:
        start = self._inner.tell()
        data = self._inner.read(size)
        if start != self._tail_end:
            self._tail = b""
        self._tail = (self._tail + data)[-self._KEEP :]
        self._tail_end = start + len(data)
        return data

    def write(self, b: bytes, /) -> int:
        raise io.UnsupportedOperation("read-only")

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        return self._inner.seek(offset, whence)

    def close(self) -> None:
        self._inner.close()

    def zeros_at(self, offset: int) -> bool:
        """Whether the 512 bytes at ``offset`` were read and are all zero (a tar end-of-archive block)."""
        start = offset - (self._tail_end - len(self._tail))
        block = self._tail[start : start + tarfile.BLOCKSIZE] if start >= 0 else b""
        return len(block) == tarfile.BLOCKSIZE and not block.strip(b"\x00")
