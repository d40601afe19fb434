"""The local directory side of the client: which files a publish takes, and where a download may write.

Publishing takes regular files only. A symbolic link, device, pipe or socket anywhere under the directory
stops the publish with its path (a package must unpack the same everywhere, and a link could point outside
the directory). Downloading writes only below its target: manifest paths are already checked
(``domain.upack.check_path``), and every directory on the way is checked not to be a symbolic link, so an
existing link in the target cannot send a file elsewhere.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from feed_core.domain.upack import InvalidManifest, check_path
from feed_core.universal.client import UniversalError

_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, '/'-separated
    source: Path
    size: int
    mode: int  # permission bits only
    mtime_ns: int


def scan(root: Path) -> list[LocalFile]:
    """Every regular file under ``root``, sorted by path; refuses anything else with a clear message."""
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        raise UniversalError(f"--path {str(root)!r} does not exist") from None
    if stat.S_ISREG(top.st_mode):
        return [_entry(root.name, root, top)]
    if not stat.S_ISDIR(top.st_mode):
        raise UniversalError(f"--path {str(root)!r} is {_KINDS.get(stat.S_IFMT(top.st_mode), 'not a directory')}")
    found: list[LocalFile] = []
    pending = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                info = entry.stat(follow_symlinks=False)
                kind = stat.S_IFMT(info.st_mode)
                if kind == stat.S_IFDIR:
                    pending.append((Path(entry.path), rel + "/"))
                elif kind == stat.S_IFREG:
                    found.append(_entry(rel, Path(entry.path), info))
                else:
                    raise UniversalError(
                        f"{rel} is {_KINDS.get(kind, 'not a regular file')}: a Universal Package holds regular "
                        "files only (copy the file it stands for into the directory, or remove it)"
                    )
    found.sort(key=lambda f: f.path)
    for f in found:
        try:
            check_path(f.path)
        except InvalidManifest as exc:
            raise UniversalError(f"cannot publish {f.path}: {exc.message}") from None
    return found


def _entry(rel: str, source: Path, info: os.stat_result) -> LocalFile:
    mode = stat.S_IMODE(info.st_mode) & 0o777  # setuid, setgid and sticky bits do not travel
    return LocalFile(rel, source, info.st_size, mode, info.st_mtime_ns)


def target_of(root: Path, path: str) -> Path:
    """Where a manifest path is written under ``root``, making its directories; never outside ``root``.

    ``path`` has passed ``check_path`` (relative, no ``.``/``..``). A directory on the way that exists as
    a symbolic link or as a file is refused rather than followed or replaced.
    """
    check_path(path)
    current = root
    parts = path.split("/")
    for part in parts[:-1]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            current.mkdir()
            continue
        if not stat.S_ISDIR(info.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
            raise UniversalError(f"cannot write {path}: {current} is {what}")
    target = current / parts[-1]
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return target
    if stat.S_ISDIR(info.st_mode):
        raise UniversalError(f"cannot write {path}: {target} is a directory")
    return target  # an existing file or link is replaced (by rename), never written through
