"""Python distributions: project names, versions, and what an uploaded wheel or sdist says about itself.

Everything here is pure: it reads the bytes it is given, in memory, and nothing else. The upload path
calls :func:`inspect_distribution` on the file, then :func:`check_form_fields` on the form that came
with it, before anything is stored.

Archives come from strangers, so every read is bounded: member counts, declared sizes, compression
ratios and the bytes actually decompressed are all checked against limits before they can cost much;
links and device files are refused (see :mod:`feed_core.domain.archives`).
"""

from __future__ import annotations

import email.parser
import email.policy
import gzip
import io
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from feed_core.domain.archives import BoundedReader, check_member_path, check_tar_member_kind, check_zip_member_kind
from feed_core.domain.errors import BadRequestError, PayloadTooLargeError

__all__ = [
    "METADATA_MAX_BYTES",
    "CoreMetadata",
    "DistFile",
    "canonical_version",
    "check_form_fields",
    "inspect_distribution",
    "normalize_name",
    "validate_project_name",
]

NAME_MAX = 100
VERSION_MAX = 100
FILENAME_MAX = 255
#: The largest METADATA / PKG-INFO file accepted (real ones are a few KiB, long READMEs included).
METADATA_MAX_BYTES = 10 * 1024 * 1024
#: Members smaller than this are never judged by their compression ratio (tiny files compress well).
_RATIO_FLOOR = 1024 * 1024

# PEP 508 project names: letters, digits, '.', '_' and '-', starting and ending with a letter or digit.
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_METADATA_VERSION = re.compile(r"^\d+\.\d+$")
_ACCEPTED_KINDS = "upload a wheel (.whl) or a source distribution (.tar.gz or .zip)"

DistKind = Literal["wheel", "sdist"]


# --- names and versions ----------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """The PEP 503 normalized form: runs of ``-``, ``_`` and ``.`` become one ``-``, all lower case."""
    return str(canonicalize_name(name))


def validate_project_name(name: str) -> str:
    """Check a project name against PEP 508 and return it unchanged."""
    if not name:
        raise BadRequestError("the project name is empty: give the name from the package's metadata")
    if len(name) > NAME_MAX:
        raise BadRequestError(f"invalid project name: longer than {NAME_MAX} characters")
    if not _NAME.match(name):
        raise BadRequestError(
            f"invalid project name {name!r}: use ASCII letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def canonical_version(text: str) -> str:
    """Parse a PEP 440 version and return its normalized form (``1.0.0-alpha1`` -> ``1.0.0a1``)."""
    if len(text) > VERSION_MAX:
        raise BadRequestError(f"invalid version: longer than {VERSION_MAX} characters")
    try:
        return str(Version(text))
    except InvalidVersion:
        raise BadRequestError(
            f"invalid version {text!r}: it is not a PEP 440 version (for example 1.0, 2.1.3, 1.0rc1 or 1.0.post1)"
        ) from None


# --- what a distribution says about itself ---------------------------------------------------------


@dataclass(frozen=True)
class CoreMetadata:
    """The core metadata fields the feed keeps, as written in the file (empty string or list if absent)."""

    name: str
    version: str
    requires_python: str
    summary: str
    description: str
    description_content_type: str
    author: str
    author_email: str
    license: str
    keywords: str
    home_page: str
    requires_dist: list[str]
    classifiers: list[str]
    project_urls: list[str]
    metadata_version: str


@dataclass(frozen=True)
class DistFile:
    """An uploaded distribution that passed inspection."""

    filename: str
    kind: DistKind
    #: PEP 503 normalized project name.
    name: str
    #: PEP 440 normalized version.
    version: str
    #: The core metadata file exactly as found in the archive (served as ``{file}.metadata``).
    metadata: bytes
    fields: CoreMetadata


def inspect_distribution(
    filename: str,
    data: bytes,
    *,
    max_uncompressed: int = 512 * 1024 * 1024,
    max_ratio: int = 1100,
    max_members: int = 100_000,
) -> DistFile:
    """Check a wheel or sdist and read its core metadata.

    The file name must be a wheel or sdist name, the archive must hold the metadata file where the
    format puts it, and the name and version in the file name must agree with that metadata.
    """
    kind, file_name, file_version = _parse_filename(filename)
    limits = _Limits(max_uncompressed=max_uncompressed, max_ratio=max_ratio, max_members=max_members)
    if kind == "wheel":
        raw = _wheel_metadata(data, file_name, file_version, limits)
    elif filename.endswith(".zip"):
        raw = _zip_sdist_metadata(data, limits)
    else:
        raw = _tar_sdist_metadata(data, limits)
    fields = _parse_metadata(raw, "METADATA" if kind == "wheel" else "PKG-INFO")
    name = normalize_name(fields.name)
    version = canonical_version(fields.version)
    if (name, version) != (file_name, file_version):
        raise BadRequestError(
            f"filename says {file_name} {file_version} but its metadata says {fields.name} {fields.version}: "
            "rebuild the distribution, or rename the file to match its metadata"
        )
    return DistFile(filename=filename, kind=kind, name=name, version=version, metadata=raw, fields=fields)


def check_form_fields(
    dist: DistFile,
    form_name: str,
    form_version: str,
    sha256_digest: str | None,
    actual_sha256: str,
) -> None:
    """Check the upload form against the file it came with.

    A digest is optional (the feed computes its own), but one that is sent must match.
    """
    if not form_name.strip():
        raise BadRequestError("the upload form has no 'name' field: send the project name with the file")
    if normalize_name(form_name.strip()) != dist.name:
        raise BadRequestError(
            f"the upload form says name {form_name!r} but the file {dist.filename!r} is {dist.name!r}: "
            "send the name from the package's metadata"
        )
    if not form_version.strip():
        raise BadRequestError("the upload form has no 'version' field: send the version with the file")
    if canonical_version(form_version.strip()) != dist.version:
        raise BadRequestError(
            f"the upload form says version {form_version!r} but the file {dist.filename!r} is {dist.version!r}: "
            "send the version from the package's metadata"
        )
    if sha256_digest and sha256_digest.strip().lower() != actual_sha256.lower():
        raise BadRequestError(
            "sha256_digest does not match the uploaded file: the upload is corrupt; upload the file again"
        )


# --- file names ------------------------------------------------------------------------------------


def _parse_filename(filename: str) -> tuple[DistKind, str, str]:
    """Return (kind, normalized name, canonical version) from a distribution file name."""
    if not filename:
        raise BadRequestError(f"the upload has no file name: {_ACCEPTED_KINDS}")
    if len(filename) > FILENAME_MAX:
        raise BadRequestError(f"invalid filename: longer than {FILENAME_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise BadRequestError(f"invalid filename {filename!r}: it contains control characters")
    if "/" in filename or "\\" in filename or ".." in filename:
        raise BadRequestError(f"invalid filename {filename!r}: send a plain file name, without directories or '..'")
    kind: DistKind
    try:
        if filename.endswith(".whl"):
            kind = "wheel"
            name, version, _build, _tags = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            kind = "sdist"
            name, version = parse_sdist_filename(filename)
        else:
            raise BadRequestError(
                f"unsupported file {filename!r}: {_ACCEPTED_KINDS}; eggs, installers (.exe, .msi) "
                "and other archive formats are not accepted"
            )
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise BadRequestError(
            f"{exc}: name wheels {{name}}-{{version}}-{{python tag}}-{{abi tag}}-{{platform tag}}.whl "
            "and sdists {name}-{version}.tar.gz"
        ) from None
    validate_project_name(str(name))
    return kind, str(name), canonical_version(str(version))


# --- archives --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    max_uncompressed: int
    max_ratio: int
    max_members: int


def _top_level(name: str) -> str:
    """The first path component of an archive member ('' for the archive root itself)."""
    while name.startswith("./"):
        name = name[2:]
    return name.split("/", 1)[0] if name != "." else ""


def _open_zip(data: bytes, limits: _Limits) -> zipfile.ZipFile:
    """Open a zip and reject it before any member is read if its directory looks dangerous."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise BadRequestError("the file is not a zip archive (or it is damaged): rebuild and upload it again") from None
    try:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise PayloadTooLargeError(
                f"the archive holds {len(members)} files, more than the {limits.max_members} this feed accepts"
            )
        total = 0
        for info in members:
            check_member_path(info.filename)
            check_zip_member_kind(info)
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size / max(info.compress_size, 1) > limits.max_ratio:
                raise PayloadTooLargeError(
                    f"the archive looks like a zip bomb: {info.filename!r} expands {info.file_size} bytes from "
                    f"{info.compress_size} (more than {limits.max_ratio}:1)"
                )
        if total > limits.max_uncompressed:
            raise PayloadTooLargeError(
                f"the archive looks like a zip bomb: it expands to {total} bytes, more than the "
                f"{limits.max_uncompressed} this feed accepts"
            )
    except BaseException:
        archive.close()
        raise
    return archive


def _read_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member, never more than METADATA_MAX_BYTES whatever its header declares."""
    if info.file_size > METADATA_MAX_BYTES:
        raise PayloadTooLargeError(_metadata_too_big(info.filename))
    try:
        with archive.open(info) as stream:
            content = stream.read(METADATA_MAX_BYTES + 1)
    # zipfile raises NotImplementedError for compression methods it lacks, RuntimeError for encrypted members.
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise BadRequestError(
            f"cannot read {info.filename!r} from the archive ({exc}): rebuild and upload it again"
        ) from None
    if len(content) > METADATA_MAX_BYTES:
        raise PayloadTooLargeError(_metadata_too_big(info.filename))
    return content


def _metadata_too_big(member: str) -> str:
    return f"{member!r} is larger than {METADATA_MAX_BYTES // (1024 * 1024)} MiB: shorten the package's description"


def _dist_info_matches(directory: str, name: str, version: str) -> bool:
    stem = directory.removesuffix(".dist-info")
    dir_name, sep, dir_version = stem.rpartition("-")
    if not sep or normalize_name(dir_name) != name:
        return False
    try:
        return str(Version(dir_version)) == version
    except InvalidVersion:
        return False


def _wheel_metadata(data: bytes, name: str, version: str, limits: _Limits) -> bytes:
    with _open_zip(data, limits) as archive:
        infos = archive.infolist()
        dist_infos = sorted({_top_level(i.filename) for i in infos if _top_level(i.filename).endswith(".dist-info")})
        if len(dist_infos) > 1:
            raise BadRequestError(
                f"the wheel has more than one .dist-info directory ({', '.join(dist_infos)}): "
                "installers refuse such wheels; rebuild it"
            )
        found = [
            i
            for i in infos
            if (parts := i.filename.split("/"))
            and len(parts) == 2
            and parts[0] in dist_infos
            and parts[1] == "METADATA"
        ]
        if not found:
            raise BadRequestError(
                f"the wheel has no .dist-info/METADATA (expected {name}-{version}.dist-info/METADATA): rebuild it"
            )
        if len(found) > 1:
            raise BadRequestError("the wheel holds .dist-info/METADATA more than once: rebuild it")
        directory = dist_infos[0]
        if not _dist_info_matches(directory, name, version):
            raise BadRequestError(
                f"the wheel has no .dist-info/METADATA for {name} {version} (it holds {directory}): "
                "rebuild the wheel, or rename the file to match its contents"
            )
        return _read_zip_member(archive, found[0])


def _zip_sdist_metadata(data: bytes, limits: _Limits) -> bytes:
    with _open_zip(data, limits) as archive:
        infos = archive.infolist()
        topdir = _single_top_level({_top_level(i.filename) for i in infos} - {""})
        wanted = f"{topdir}/PKG-INFO"
        found = [i for i in infos if i.filename.removeprefix("./") == wanted]
        if not found:
            raise BadRequestError(_no_pkg_info(wanted))
        if len(found) > 1:
            raise BadRequestError(f"the sdist holds {wanted} more than once: rebuild it")
        return _read_zip_member(archive, found[0])


def _single_top_level(names: set[str]) -> str:
    if len(names) != 1:
        shown = ", ".join(sorted(names)[:5]) or "nothing"
        raise BadRequestError(
            f"an sdist must hold a single top-level directory {{name}}-{{version}}/, but this one holds {shown}: "
            "rebuild it with a standard build backend"
        )
    return next(iter(names))


def _no_pkg_info(wanted: str) -> str:
    return f"the sdist has no PKG-INFO (expected {wanted}): build it with a standard tool such as 'python -m build'"


def _tar_sdist_metadata(data: bytes, limits: _Limits) -> bytes:
    not_tar = "the file is not a gzip-compressed tar (or it is damaged): build the sdist as .tar.gz and upload it again"
    candidates: dict[str, bytes] = {}
    topdirs: set[str] = set()
    try:
        with (
            gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as unzipped,
            tarfile.open(fileobj=BoundedReader(unzipped, limits.max_uncompressed), mode="r:") as archive,
        ):
            total = 0
            for count, member in enumerate(archive, start=1):
                if count > limits.max_members:
                    raise PayloadTooLargeError(
                        f"the sdist holds more than the {limits.max_members} files this feed accepts"
                    )
                total += member.size
                if total > limits.max_uncompressed:
                    raise PayloadTooLargeError(
                        f"the sdist looks like a decompression bomb: its files add up to more than the "
                        f"{limits.max_uncompressed} bytes this feed accepts"
                    )
                check_member_path(member.name)
                check_tar_member_kind(member)
                top = _top_level(member.name)
                if top:
                    topdirs.add(top)
                    _single_top_level(topdirs)  # fail as soon as a second one appears
                path = member.name
                while path.startswith("./"):
                    path = path[2:]
                if path == f"{top}/PKG-INFO":
                    if path in candidates:
                        raise BadRequestError(f"the sdist holds {path} more than once: rebuild it")
                    candidates[path] = _read_tar_member(archive, member)
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        raise BadRequestError(not_tar) from None
    wanted = f"{_single_top_level(topdirs)}/PKG-INFO"
    if wanted not in candidates:
        raise BadRequestError(_no_pkg_info(wanted))
    return candidates[wanted]


def _read_tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if not member.isfile():
        raise BadRequestError(f"{member.name!r} in the sdist is not a regular file: rebuild the sdist")
    if member.size > METADATA_MAX_BYTES:
        raise PayloadTooLargeError(_metadata_too_big(member.name))
    stream = archive.extractfile(member)
    if stream is None:  # pragma: no cover - isfile() members always have data
        raise BadRequestError(f"cannot read {member.name!r} from the sdist: rebuild it")
    with stream:
        content = stream.read(METADATA_MAX_BYTES + 1)
    if len(content) > METADATA_MAX_BYTES:  # pragma: no cover - tarfile stops at the declared size
        raise PayloadTooLargeError(_metadata_too_big(member.name))
    return content


# --- core metadata ---------------------------------------------------------------------------------


def read_core_metadata(raw: bytes) -> CoreMetadata:
    """A stored core metadata file read back (for its long description); ``BadRequestError`` when unreadable."""
    return _parse_metadata(raw, "core")


def _parse_metadata(raw: bytes, what: str) -> CoreMetadata:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(
            f"the package's {what} metadata is not UTF-8 (bad byte at offset {exc.start}): "
            "rebuild it with a current build backend"
        ) from None
    # compat32 is the policy packaging and PyPI use: headers come back exactly as written, unfolded.
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(text)

    def one(field: str, *, required: bool = False) -> str:
        values = message.get_all(field) or []
        if required and not values:
            raise BadRequestError(f"the package's {what} metadata has no {field} field: rebuild the distribution")
        if required and len(values) > 1:
            raise BadRequestError(
                f"the package's {what} metadata has more than one {field} field: rebuild the distribution"
            )
        return str(values[0]).strip() if values else ""

    def many(field: str) -> list[str]:
        return [str(value).strip() for value in message.get_all(field) or []]

    metadata_version = one("Metadata-Version", required=True)
    if not _METADATA_VERSION.match(metadata_version):
        raise BadRequestError(
            f"the package's {what} metadata has an invalid Metadata-Version {metadata_version!r}: "
            "rebuild the distribution"
        )
    name = validate_project_name(one("Name", required=True))
    version = one("Version", required=True)
    canonical_version(version)
    requires_python = one("Requires-Python")
    if requires_python:
        try:
            SpecifierSet(requires_python)
        except InvalidSpecifier:
            raise BadRequestError(
                f"invalid Requires-Python {requires_python!r} in the package's {what}: "
                "use version specifiers such as '>=3.8' or '>=3.9,<4'"
            ) from None

    description_values = message.get_all("Description")
    if description_values:
        description = str(description_values[0])
    else:
        body = message.get_payload()
        description = body if isinstance(body, str) else ""

    return CoreMetadata(
        name=name,
        version=version,
        requires_python=requires_python,
        summary=one("Summary"),
        description=description,
        description_content_type=one("Description-Content-Type"),
        author=one("Author"),
        author_email=one("Author-email"),
        license=one("License"),
        keywords=one("Keywords"),
        home_page=one("Home-page"),
        requires_dist=many("Requires-Dist"),
        classifiers=many("Classifier"),
        project_urls=many("Project-URL"),
        metadata_version=metadata_version,
    )
