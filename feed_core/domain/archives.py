"""Reading archives that strangers upload: bounded decompression and the member checks every format shares.

Python wheels and sdists and npm tarballs all go through these before the feed keeps them:

- a decompressing stream is read through :class:`BoundedReader`, so no header, however crafted, makes it
  produce more than a fixed number of bytes (a gzip bomb stops at the limit, it is never inflated whole);
- member paths must stay inside the archive: no absolute paths, drive letters, ``..`` or NUL;
- members are regular files or directories only: symbolic links, hard links, devices and FIFOs are
  refused, since an installer that extracts them can be made to write or read outside its target.

Pure: everything works on bytes already in memory.
"""

from __future__ import annotations

import io
import re
import stat
import tarfile
import zipfile
from typing import Protocol

from feed_core.domain.errors import BadRequestError, PayloadTooLargeError

_TAR_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
}
_ZIP_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def check_member_path(name: str) -> None:
    """Refuse a member path that could land outside the directory it is extracted into."""
    parts = name.replace("\\", "/").split("/")
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise BadRequestError(
            f"the archive holds an unsafe path {name!r} (absolute, or containing '..'): rebuild the package"
        )


def check_tar_member_kind(member: tarfile.TarInfo) -> None:
    """Only regular files and directories; links, devices, FIFOs and unknown entry types are refused."""
    if member.isfile() or member.isdir():
        return
    kind = _TAR_KINDS.get(member.type, f"an entry of type {member.type!r}")
    raise BadRequestError(_not_regular(member.name, kind))


def check_zip_member_kind(info: zipfile.ZipInfo) -> None:
    """The Unix file type in a zip entry's attributes, when set, must be a regular file or directory."""
    kind = _ZIP_KINDS.get(stat.S_IFMT(info.external_attr >> 16))
    if kind is not None:
        raise BadRequestError(_not_regular(info.filename, kind))


def _not_regular(name: str, kind: str) -> str:
    return (
        f"the archive holds {name!r}, {kind}, not a regular file: links and device files are not accepted; "
        "rebuild the package without them"
    )


class Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def tell(self) -> int: ...
    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int: ...
    def close(self) -> None: ...


class BoundedReader:
    """A read-only view of a decompressing stream that refuses to go past ``limit`` bytes of output.

    tarfile reads headers (GNU long names, pax records) and skips member data through this, so no
    crafted header can make it decompress more than the limit.
    """

    def __init__(self, inner: Stream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def _check(self) -> None:
        if self._inner.tell() > self._limit:
            raise PayloadTooLargeError(
                f"the archive looks like a decompression bomb: it expands to more than the {self._limit} bytes "
                "this feed accepts"
            )

    def read(self, size: int = -1, /) -> bytes:
        room = max(self._limit + 1 - self._inner.tell(), 0)  # at most one byte past the limit
        data = self._inner.read(room if size < 0 or size > room else size)
        self._check()
        return data

    def write(self, b: bytes, /) -> int:
        raise io.UnsupportedOperation("read-only")

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, pos: int, whence: int = io.SEEK_SET, /) -> int:
        if whence == io.SEEK_SET and pos > self._limit + 1:
            pos = self._limit + 1
        result = self._inner.seek(pos, whence)
        self._check()
        return result

    def close(self) -> None:
        self._inner.close()
