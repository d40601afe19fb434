"""Paths of Maven's default repository layout, read from the right, and the coordinates they name.

``{groupId with . as /}/{artifactId}/{version}/{artifactId}-{version}[-{classifier}].{extension}``, each file
with checksum siblings (``.md5``, ``.sha1``, ``.sha256``, ``.sha512``), and ``maven-metadata.xml`` (with its
checksums) in group, artifact and snapshot-version directories.

Every path segment holds only ASCII letters, digits and ``_ . - +`` (``+`` only in versions), is at most
``SEGMENT_MAX`` characters and is not ``.`` or ``..``; a path is at most ``PATH_MAX`` characters. Paths
arrive percent-decoded, so a ``%`` left in one is just a character Maven coordinates never hold.

A file name starts with ``{artifactId}-`` and the directory's version. In a snapshot directory
(``1.0-SNAPSHOT``) the version in the name is either ``1.0-SNAPSHOT`` or a build's unique version
``1.0-{yyyyMMdd.HHmmss}-{buildNumber}``. Then comes ``-{classifier}.{extension}`` or ``.{extension}``; the
classifier runs to the first dot, the extension may hold more (``tar.gz``, ``jar.asc``).

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feed_core.domain.maven_versions import is_snapshot, snapshot_build

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "METADATA_FILE",
    "PATH_MAX",
    "SEGMENT_MAX",
    "ArtifactFile",
    "FileRequest",
    "MavenPathError",
    "MetadataRequest",
    "coordinate_name",
    "file_path",
    "parse_path",
    "read_file_name",
    "split_name",
    "validate_artifact_id",
    "validate_group_id",
    "validate_version",
]

#: Checksum file extension -> ``hashlib`` name.
CHECKSUM_ALGORITHMS: dict[str, str] = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}
METADATA_FILE = "maven-metadata.xml"
SEGMENT_MAX = 200
PATH_MAX = 1024
#: How much of a bad value a message quotes.
_SHOWN = 100

_ID = re.compile(r"[A-Za-z0-9_.\-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9_.\-+]+")
_ALLOWED = "letters, digits and _ . - +"
_CLASSIFIER = re.compile(r"[A-Za-z0-9_\-]+")
_EXTENSION_PART = re.compile(r"[A-Za-z0-9_]+")
_BUILD = re.compile(r"[0-9]{8}\.[0-9]{6}-[0-9]{1,9}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


class MavenPathError(ValueError):
    """A path or coordinate Maven's layout does not allow; the message says what and why."""


def _bad_char(text: str) -> str | None:
    """Why ``text`` holds a character no segment may hold, or ``None``."""
    for char in text:
        if char.isascii() and (char.isalnum() or char in "_.-+"):
            continue
        if char in "/\\":
            return f"{char!r} is a path separator"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"it holds the control character U+{ord(char):04X}"
        return f"it holds {char!r} (only {_ALLOWED} are allowed)"
    return None


def _segment_problem(segment: str) -> str | None:
    """Why ``segment`` cannot be a path segment, or ``None``."""
    if not segment:
        return "empty segments ('//', or a '/' at either end) are not allowed"
    if segment in (".", ".."):
        return f"{segment!r} segments are not allowed"
    if len(segment) > SEGMENT_MAX:
        return f"segment {_shown(segment)} is longer than {SEGMENT_MAX} characters"
    why = _bad_char(segment)
    if why:
        return f"segment {_shown(segment)}: {why}"
    return None


def _check(kind: str, text: str, pattern: re.Pattern[str], dots: bool) -> str:
    def refuse(why: str) -> MavenPathError:
        return MavenPathError(f"{_shown(text)} is not a valid {kind}: {why}")

    if not text:
        raise refuse("it is empty")
    if text in (".", ".."):
        raise refuse("it is a relative path segment")
    if len(text) > SEGMENT_MAX:
        raise refuse(f"it is longer than {SEGMENT_MAX} characters")
    why = _bad_char(text)
    if why:
        raise refuse(why)
    if not pattern.fullmatch(text):
        raise refuse(f"only {_ALLOWED.replace(' +', '')} are allowed")
    if dots and any(part in ("", "..") for part in text.split(".")):
        raise refuse("its dot-separated parts may not be empty")
    return text


def validate_group_id(text: str) -> str:
    """``text`` when it is a groupId this feed serves (dot-separated parts of letters, digits, ``_`` and ``-``)."""
    _check("groupId", text, _ID, dots=True)
    if len(text) > PATH_MAX // 2:
        raise MavenPathError(f"{_shown(text)} is not a valid groupId: it is longer than {PATH_MAX // 2} characters")
    return text


def validate_artifact_id(text: str) -> str:
    """``text`` when it is an artifactId this feed serves."""
    return _check("artifactId", text, _ID, dots=False)


def validate_version(text: str) -> str:
    """``text`` when it is a version this feed serves (letters, digits and ``_ . - +``)."""
    return _check("version", text, _SEGMENT, dots=False)


def coordinate_name(group_id: str, artifact_id: str) -> str:
    """The package name records keep a coordinate under: ``groupId:artifactId``."""
    return f"{group_id}:{artifact_id}"


def split_name(name: str) -> tuple[str, str]:
    """``(groupId, artifactId)`` of a package name made by ``coordinate_name``."""
    group_id, _, artifact_id = name.rpartition(":")
    return group_id, artifact_id


def file_path(group_id: str, artifact_id: str, version: str, filename: str) -> str:
    """The layout path of ``filename`` in the directory of ``group_id:artifact_id:version``."""
    return f"{group_id.replace('.', '/')}/{artifact_id}/{version}/{filename}"


@dataclass(frozen=True)
class ArtifactFile:
    """A file in a version directory, with what its name says."""

    group_id: str
    artifact_id: str
    version: str  # the directory: 1.0 or 1.0-SNAPSHOT
    filename: str  # artifact-1.0-20240101.120000-3-sources.jar
    unique_version: str  # the version in the file name (a snapshot build's timestamped one)
    classifier: str  # "" when none
    extension: str  # jar, pom, tar.gz, jar.asc, module

    @property
    def name(self) -> str:
        """The coordinate's package name, ``groupId:artifactId``."""
        return f"{self.group_id}:{self.artifact_id}"

    @property
    def path(self) -> str:
        return file_path(self.group_id, self.artifact_id, self.version, self.filename)

    @property
    def is_snapshot(self) -> bool:
        return is_snapshot(self.version)


@dataclass(frozen=True)
class FileRequest:
    file: ArtifactFile
    checksum: str | None  # "sha1" when the request is for <file>.sha1, and so on


def _is_group_part(segment: str) -> bool:
    return bool(_ID.fullmatch(segment)) and "." not in segment


@dataclass(frozen=True)
class MetadataRequest:
    """A ``maven-metadata.xml`` (or a checksum of one); its directory may be read at several levels."""

    directory: tuple[str, ...]  # the path segments before maven-metadata.xml
    checksum: str | None

    @property
    def snapshot(self) -> tuple[str, str, str] | None:
        """``(groupId, artifactId, base version)`` when the directory is a snapshot version's (V-level)."""
        if len(self.directory) < 3 or not is_snapshot(self.directory[-1]):
            return None
        *group, artifact_id, version = self.directory
        if not all(_is_group_part(part) for part in group) or not _ID.fullmatch(artifact_id):
            return None
        return ".".join(group), artifact_id, version

    @property
    def artifact(self) -> tuple[str, str] | None:
        """``(groupId, artifactId)`` read as an artifact directory (A-level); ``None`` when it cannot be one."""
        if len(self.directory) < 2:
            return None
        *group, artifact_id = self.directory
        if not all(_is_group_part(part) for part in group) or not _ID.fullmatch(artifact_id):
            return None
        return ".".join(group), artifact_id

    @property
    def group(self) -> str:
        """The groupId read as a group directory (G-level); ``""`` when a segment holds a dot or ``+``."""
        if all(_is_group_part(part) for part in self.directory):
            return ".".join(self.directory)
        return ""


def _split_checksum(name: str) -> tuple[str, str | None]:
    stem, dot, extension = name.rpartition(".")
    if dot and stem and extension in CHECKSUM_ALGORITHMS:
        return stem, CHECKSUM_ALGORITHMS[extension]
    return name, None


def parse_path(path: str) -> FileRequest | MetadataRequest:
    """What ``path`` (relative to the repository root, percent-decoded) asks for; ``MavenPathError`` says why not."""

    def refuse(why: str) -> MavenPathError:
        return MavenPathError(f"{_shown(path)} is not a Maven repository path: {why}")

    if not path:
        raise refuse("it is empty")
    if len(path) > PATH_MAX:
        raise refuse(f"it is longer than {PATH_MAX} characters")
    segments = path.split("/")
    if len(segments) > 1 and segments[-1] == "" and all(segments[:-1]):
        raise refuse("it ends with '/' (directory listings are not served)")
    for segment in segments:
        why = _segment_problem(segment)
        if why:
            raise refuse(why)

    name, checksum = _split_checksum(segments[-1])
    if checksum is not None and _split_checksum(name)[1] is not None:
        # Checksum files are answered, never stored: a file of this name cannot exist, here or upstream.
        raise refuse(f"{_shown(segments[-1])} is a checksum of a checksum file")
    if name == METADATA_FILE:
        if len(segments) < 2:
            raise refuse(f"{METADATA_FILE} at the repository root belongs to no group")
        directory = tuple(segments[:-1])
        if not all(_is_group_part(part) for part in directory[:-2]):
            raise refuse("a groupId directory may only hold letters, digits, '_' and '-' (a dot is a '/')")
        request = MetadataRequest(directory, checksum)
        if request.snapshot is None and request.artifact is None and not request.group:
            raise refuse("its directory is neither a group, an artifact nor a snapshot version")
        return request

    if len(segments) < 4:
        raise refuse("a file path is {groupId as directories}/{artifactId}/{version}/{file name}")
    *group, artifact_id, version, _ = segments
    for part in group:
        if not _is_group_part(part):
            raise refuse(f"groupId directory {_shown(part)} may only hold letters, digits, '_' and '-'")
    try:
        validate_artifact_id(artifact_id)
        validate_version(version)
    except MavenPathError as exc:
        raise refuse(str(exc)) from None
    try:
        file = read_file_name(".".join(group), artifact_id, version, name)
    except MavenPathError as exc:
        raise refuse(str(exc)) from None
    return FileRequest(file, checksum)


def read_file_name(group_id: str, artifact_id: str, version: str, filename: str) -> ArtifactFile:
    """What file ``filename`` in the directory of ``group_id:artifact_id:version`` is; ``MavenPathError`` if none."""
    prefix = f"{artifact_id}-"
    if not filename.startswith(prefix):
        raise MavenPathError(f"file name {_shown(filename)} does not start with {prefix!r}")
    rest = filename[len(prefix) :]
    named = _named_version(version, rest)
    if named is None:
        if is_snapshot(version):
            expected = f"{version!r} or a build's {version[: -len('SNAPSHOT')] + 'yyyyMMdd.HHmmss-N'!r}"
        else:
            expected = repr(version)
        raise MavenPathError(
            f"the version in file name {_shown(filename)} is not the directory's: expected {expected} after {prefix!r}"
        )
    tail = rest[len(named) :]
    classifier = ""
    if tail.startswith("-"):
        classifier, dot, extension = tail[1:].partition(".")
        if not _CLASSIFIER.fullmatch(classifier):
            raise MavenPathError(f"file name {_shown(filename)} has no valid classifier after {named!r}")
        if not dot:
            raise MavenPathError(f"file name {_shown(filename)} has no extension")
    else:
        extension = tail[1:]
    if not extension:
        raise MavenPathError(f"file name {_shown(filename)} has no extension")
    parts = extension.split(".")
    if not all(_EXTENSION_PART.fullmatch(part) for part in parts):
        raise MavenPathError(
            f"file name {_shown(filename)} has the extension {extension!r}, whose dot-separated parts must be "
            "letters, digits and '_'"
        )
    if parts[0].isdigit():
        raise MavenPathError(
            f"the version in file name {_shown(filename)} is not the directory's {version!r} "
            f"(it continues with {'.' + parts[0]!r})"
        )
    return ArtifactFile(group_id, artifact_id, version, filename, named, classifier, extension)


def _named_version(version: str, rest: str) -> str | None:
    """The directory's version (or, in a snapshot directory, a build's) at the start of ``rest``, if followed by
    ``.`` or ``-``."""
    candidates = [version]
    if is_snapshot(version):
        match = _BUILD.match(rest[len(version) - len("SNAPSHOT") :])
        if rest.startswith(version[: -len("SNAPSHOT")]) and match:
            unique = version[: -len("SNAPSHOT")] + match.group(0)
            if snapshot_build(version, unique) is not None:
                candidates.append(unique)
    for candidate in candidates:
        if rest.startswith(candidate) and rest[len(candidate) : len(candidate) + 1] in (".", "-"):
            return candidate
    return None
