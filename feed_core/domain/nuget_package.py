"""NuGet packages: what a pushed ``.nupkg`` must be, and what its ``.nuspec`` says about it.

A push is accepted only when the upload

- is a zip whose central directory is within bounds: at most ``members`` entries (counted on the raw
  bytes before zipfile parses the directory), a declared total size of at most ``uncompressed_bytes``,
  no large member compressed beyond ``ratio``:1 (a zip bomb is refused from its directory, before
  anything is inflated), no duplicate entry names;
- has only regular files and directories at safe paths (see :mod:`feed_core.domain.archives`);
- holds exactly one ``*.nuspec`` at the archive root, of at most ``nuspec_bytes`` (read through a
  bounded read whatever its header declares);
- whose nuspec is XML without a DTD (so without entities: no XXE, no billion laughs), in any of the
  nuspec schema namespaces or none, with a valid id and version and bounded fields, dependency and
  group counts.

Every refusal is a BadRequestError (400) or, where size is the problem, a PayloadTooLargeError (413),
with a message a ``nuget push`` user can act on.

Dependency ranges are read like the NuGet client reads them, floating ranges included (see
:mod:`feed_core.domain.nuget_versions`). A flat ``<dependencies>`` list becomes one group without a
target framework; when a nuspec has ``<group>`` elements, those alone count, as in the client.

Pure: reads the bytes it is given, in memory.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from feed_core.domain.archives import check_member_path, check_zip_member_kind
from feed_core.domain.errors import BadRequestError, PayloadTooLargeError
from feed_core.domain.nuget_versions import (
    NuGetVersion,
    VersionRange,
    lower_id,
    parse_range,
    parse_version,
    validate_id,
)

__all__ = [
    "NUSPEC_JSON_MAX_BYTES",
    "NUSPEC_MAX_BYTES",
    "Dependency",
    "DependencyGroup",
    "Nupkg",
    "NupkgLimits",
    "Nuspec",
    "check_matches",
    "package_hash",
    "parse_nuspec",
    "read_nupkg",
    "v2_dependencies",
]

MiB = 1024 * 1024
#: The largest .nuspec accepted (real ones are a few KiB; long release notes stay far below this).
NUSPEC_MAX_BYTES = 1 * MiB
#: The largest stored form :meth:`Nuspec.from_json` reads back.
NUSPEC_JSON_MAX_BYTES = 4 * MiB
#: Members smaller than this are never judged by their compression ratio (tiny files compress well).
_RATIO_FLOOR = 1 * MiB
#: Most dependencies (over all groups), groups and package types a nuspec may declare.
MAX_DEPENDENCIES = 5000
MAX_GROUPS = 500
MAX_PACKAGE_TYPES = 32
#: XML shape bounds: nuspecs are shallow and small.
_MAX_DEPTH = 32
_MAX_ELEMENTS = 50_000
#: Longest value of each text field, in characters (the public gallery's limits are lower).
_TEXT_MAX = 4000
_FIELD_MAX = {"description": 64 * 1024, "releaseNotes": 256 * 1024}
_FRAMEWORK_MAX = 256
_BAD_FRAMEWORK = re.compile(r"[:|\x00-\x1f\x7f]")
_REPACK = "fix the .nuspec and pack the package again"


@dataclass(frozen=True)
class NupkgLimits:
    uncompressed_bytes: int = 2048 * MiB  # the members' declared sizes, added up
    members: int = 100_000
    ratio: int = 1100  # largest uncompressed:compressed ratio of a member over 1 MiB
    nuspec_bytes: int = NUSPEC_MAX_BYTES


@dataclass(frozen=True)
class Dependency:
    id: str
    range: VersionRange | None  # None: any version


@dataclass(frozen=True)
class DependencyGroup:
    target_framework: str | None  # as written in the nuspec (``net45``, ``.NETStandard2.0``); None: any
    dependencies: tuple[Dependency, ...]


@dataclass(frozen=True)
class Nuspec:
    """The metadata of a package, as its .nuspec states it. Absent optional fields are None."""

    id: str
    version: NuGetVersion
    title: str | None
    description: str
    summary: str | None
    authors: str
    owners: str
    tags: tuple[str, ...]
    project_url: str | None
    license_url: str | None
    license_expression: str | None
    icon_url: str | None
    release_notes: str | None
    copyright: str | None
    require_license_acceptance: bool
    min_client_version: str | None
    language: str | None
    dependency_groups: tuple[DependencyGroup, ...]
    package_types: tuple[str, ...]
    #: Paths inside the package of an embedded license file, icon and readme.
    license_file: str | None = None
    icon_file: str | None = None
    readme_file: str | None = None

    @property
    def lower_id(self) -> str:
        return lower_id(self.id)

    @property
    def is_semver2(self) -> bool:
        """SemVer 2 only: its version is, or a dependency range has a bound that is."""
        return self.version.is_semver2 or any(
            dep.range is not None and dep.range.is_semver2
            for group in self.dependency_groups
            for dep in group.dependencies
        )

    @property
    def is_symbols_package(self) -> bool:
        """A .snupkg: its package type is SymbolsPackage (pushed to the symbol endpoint, never restored)."""
        return any(kind.lower() == "symbolspackage" for kind in self.package_types)

    def to_json(self) -> str:
        """A compact JSON form to store; :meth:`from_json` reads it back to an equal Nuspec."""
        doc: dict[str, Any] = {name: getattr(self, name) for name in _TEXT_FIELDS}
        doc.update(
            version=self.version.original,
            tags=list(self.tags),
            require_license_acceptance=self.require_license_acceptance,
            package_types=list(self.package_types),
            dependency_groups=[
                {
                    "target_framework": group.target_framework,
                    "dependencies": [
                        {"id": dep.id, "range": dep.range.original if dep.range is not None else None}
                        for dep in group.dependencies
                    ],
                }
                for group in self.dependency_groups
            ],
        )
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Nuspec:
        """Read what :meth:`to_json` wrote; ValueError if it is not that (stored data, not user input)."""
        if len(text) > NUSPEC_JSON_MAX_BYTES:
            raise ValueError(f"a stored nuspec is larger than {NUSPEC_JSON_MAX_BYTES} bytes")
        try:
            return _nuspec_from_doc(json.loads(text))
        except (BadRequestError, KeyError, TypeError, AttributeError, RecursionError, json.JSONDecodeError) as exc:
            raise ValueError(f"a stored nuspec is damaged: {exc}") from None


_TEXT_FIELDS = (
    "id",
    "title",
    "description",
    "summary",
    "authors",
    "owners",
    "project_url",
    "license_url",
    "license_expression",
    "icon_url",
    "release_notes",
    "copyright",
    "min_client_version",
    "language",
    "license_file",
    "icon_file",
    "readme_file",
)


def _nuspec_from_doc(doc: dict[str, Any]) -> Nuspec:
    texts = {name: doc[name] for name in _TEXT_FIELDS}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} is not a string")
    if not isinstance(doc["require_license_acceptance"], bool):
        raise TypeError("require_license_acceptance is not a boolean")
    if not isinstance(doc["dependency_groups"], list):
        raise TypeError("dependency_groups is not a list")
    groups = tuple(
        DependencyGroup(
            target_framework=_optional_str(group["target_framework"]),
            dependencies=tuple(
                Dependency(
                    id=_str(dep["id"]),
                    range=parse_range(_str(dep["range"])) if dep["range"] is not None else None,
                )
                for dep in group["dependencies"]
            ),
        )
        for group in doc["dependency_groups"]
    )
    return Nuspec(
        **texts,
        version=parse_version(_str(doc["version"])),
        tags=_strings(doc["tags"]),
        require_license_acceptance=doc["require_license_acceptance"],
        package_types=_strings(doc["package_types"]),
        dependency_groups=groups,
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"{value!r} is not a list")
    return tuple(_str(item) for item in value)


def _optional_str(value: object) -> str | None:
    return None if value is None else _str(value)


# --- the .nuspec XML -------------------------------------------------------------------------------


class _Element:
    """A parsed element: local name, attributes by local name, text, children."""

    __slots__ = ("attrs", "children", "name", "text")

    def __init__(self, name: str, attrs: dict[str, str]) -> None:
        self.name = name
        self.attrs = attrs
        self.children: list[_Element] = []
        self.text: list[str] = []

    def all(self, name: str) -> list[_Element]:
        return [child for child in self.children if child.name == name]

    def value(self) -> str:
        return "".join(self.text).strip()


def _local(name: str) -> str:
    """``namespace-uri local`` (expat with a space separator) -> ``local``."""
    return name.rpartition(" ")[2]


def _parse_xml(xml: bytes) -> _Element:
    """Parse with expat, refusing any DTD before its content is read: no entity is ever declared or expanded."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Element] = []
    root: list[_Element] = []
    count = 0

    def refuse_dtd(*_args: object) -> None:
        raise BadRequestError(
            f"the package's .nuspec declares a DTD (<!DOCTYPE ...>), which this feed refuses: remove it, {_REPACK}"
        )

    def refuse_entity(*_args: object) -> None:
        raise BadRequestError(
            f"the package's .nuspec declares an XML entity, which this feed refuses: remove it, {_REPACK}"
        )

    def refuse_external(*_args: object) -> int:
        raise BadRequestError(
            f"the package's .nuspec refers to an external entity, which this feed refuses: remove it, {_REPACK}"
        )

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > _MAX_ELEMENTS:
            raise BadRequestError(f"the package's .nuspec has more than {_MAX_ELEMENTS} elements: {_REPACK}")
        if len(stack) >= _MAX_DEPTH:
            raise BadRequestError(f"the package's .nuspec nests elements more than {_MAX_DEPTH} deep: {_REPACK}")
        element = _Element(_local(name), {_local(key): value for key, value in attributes.items()})
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text.append(data)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise BadRequestError(
            f"the package's .nuspec is not well-formed XML ({expat.ErrorString(exc.code)} at line {exc.lineno}, "
            f"column {exc.offset}): {_REPACK}"
        ) from None
    except (LookupError, ValueError) as exc:  # an encoding Python lacks, or a multi-byte one expat cannot use
        raise BadRequestError(
            f"the package's .nuspec declares an encoding this feed cannot read ({exc}): save it as UTF-8, {_REPACK}"
        ) from None
    return root[0]


def parse_nuspec(xml: bytes, *, max_bytes: int = NUSPEC_MAX_BYTES) -> Nuspec:
    """Read a .nuspec document (see the module docstring); BadRequestError says what to fix."""
    if len(xml) > max_bytes:
        raise PayloadTooLargeError(_nuspec_too_big(max_bytes))
    root = _parse_xml(xml)
    if root.name != "package":
        raise BadRequestError(f"the package's .nuspec has root element <{root.name}>, not <package>: {_REPACK}")
    metadata_elements = root.all("metadata")
    if len(metadata_elements) != 1:
        raise BadRequestError(
            f"the package's .nuspec must have one <metadata> element (it has {len(metadata_elements)}): {_REPACK}"
        )
    meta = metadata_elements[0]

    package_id = _required(meta, "id")
    try:
        validate_id(package_id)
    except BadRequestError as exc:
        raise BadRequestError(f"the package's .nuspec has an {exc.message}") from None
    version_text = _required(meta, "version")
    try:
        version = parse_version(version_text)
    except BadRequestError as exc:
        raise BadRequestError(f"the package's .nuspec has an {exc.message}") from None

    license_expression = license_file = None
    licenses = meta.all("license")
    if licenses:
        kind = licenses[0].attrs.get("type", "").strip().lower()
        value = _bounded("license", licenses[0].value())
        if kind == "expression":
            license_expression = value or None
        elif kind == "file":
            license_file = value or None
        else:
            raise BadRequestError(
                f"the package's .nuspec has <license type={kind!r}>: the type must be 'expression' or 'file'; {_REPACK}"
            )

    min_client = meta.attrs.get("minClientVersion", "").strip() or None
    if min_client is not None:
        try:
            parse_version(min_client)
        except BadRequestError as exc:
            raise BadRequestError(f"the package's .nuspec has an invalid minClientVersion: {exc.message}") from None

    tags_text = _optional(meta, "tags") or ""
    return Nuspec(
        id=package_id,
        version=version,
        title=_optional(meta, "title"),
        description=_optional(meta, "description") or "",
        summary=_optional(meta, "summary"),
        authors=_optional(meta, "authors") or "",
        owners=_optional(meta, "owners") or "",
        tags=tuple(dict.fromkeys(tags_text.split())),
        project_url=_optional(meta, "projectUrl"),
        license_url=_optional(meta, "licenseUrl"),
        license_expression=license_expression,
        icon_url=_optional(meta, "iconUrl"),
        release_notes=_optional(meta, "releaseNotes"),
        copyright=_optional(meta, "copyright"),
        require_license_acceptance=(_optional(meta, "requireLicenseAcceptance") or "").lower() == "true",
        min_client_version=min_client,
        language=_optional(meta, "language"),
        dependency_groups=_dependency_groups(meta),
        package_types=_package_types(meta),
        license_file=license_file,
        icon_file=_optional(meta, "icon"),
        readme_file=_optional(meta, "readme"),
    )


def _bounded(name: str, value: str) -> str:
    limit = _FIELD_MAX.get(name, _TEXT_MAX)
    if len(value) > limit:
        raise BadRequestError(
            f"the package's .nuspec has a <{name}> of {len(value)} characters, more than the {limit} this feed "
            f"accepts: shorten it and pack the package again"
        )
    return value


def _single(meta: _Element, name: str) -> _Element | None:
    found = meta.all(name)
    if len(found) > 1:
        raise BadRequestError(f"the package's .nuspec has more than one <{name}> element: {_REPACK}")
    return found[0] if found else None


def _required(meta: _Element, name: str) -> str:
    element = _single(meta, name)
    value = element.value() if element is not None else ""
    if not value:
        raise BadRequestError(f"the package's .nuspec has no <{name}>: {_REPACK}")
    return value


def _optional(meta: _Element, name: str) -> str | None:
    """A text field: the first element of that name (as the NuGet client reads it), bounded; None if empty."""
    found = meta.all(name)
    return (_bounded(name, found[0].value()) or None) if found else None


def _dependency_groups(meta: _Element) -> tuple[DependencyGroup, ...]:
    containers = meta.all("dependencies")
    group_elements = [group for container in containers for group in container.all("group")]
    if len(group_elements) > MAX_GROUPS:
        raise BadRequestError(
            f"the package's .nuspec has {len(group_elements)} dependency groups, more than the {MAX_GROUPS} "
            "this feed accepts"
        )
    total = 0

    def dependencies(element: _Element) -> tuple[Dependency, ...]:
        nonlocal total
        found = element.all("dependency")
        total += len(found)
        if total > MAX_DEPENDENCIES:
            raise BadRequestError(
                f"the package's .nuspec declares more than the {MAX_DEPENDENCIES} dependencies this feed accepts"
            )
        return tuple(_dependency(dep) for dep in found)

    if group_elements:
        groups = []
        for group in group_elements:
            framework = group.attrs.get("targetFramework", "").strip() or None
            if framework is not None and len(framework) > _FRAMEWORK_MAX:
                raise BadRequestError(
                    f"the package's .nuspec has a targetFramework longer than {_FRAMEWORK_MAX} characters: {_REPACK}"
                )
            if framework is not None and _BAD_FRAMEWORK.search(framework):
                # ':' and '|' separate the fields of the v2 feed's Dependencies string.
                raise BadRequestError(
                    f"the package's .nuspec has an invalid targetFramework {framework[:80]!r} (':', '|' and control "
                    f"characters are not accepted): {_REPACK}"
                )
            groups.append(DependencyGroup(framework, dependencies(group)))
        return tuple(groups)
    flat = tuple(dep for container in containers for dep in dependencies(container))
    return (DependencyGroup(None, flat),) if flat else ()


def _dependency(element: _Element) -> Dependency:
    dep_id = element.attrs.get("id", "").strip()
    try:
        validate_id(dep_id)
    except BadRequestError as exc:
        raise BadRequestError(f"the package's .nuspec has a dependency with an {exc.message}") from None
    version = element.attrs.get("version", "").strip()
    if not version:
        return Dependency(dep_id, None)
    try:
        return Dependency(dep_id, parse_range(version))
    except BadRequestError as exc:
        raise BadRequestError(f"the package's .nuspec has a dependency on {dep_id} with an {exc.message}") from None


def _package_types(meta: _Element) -> tuple[str, ...]:
    names = [
        kind.attrs.get("name", "").strip()
        for container in meta.all("packageTypes")
        for kind in container.all("packageType")
    ]
    if len(names) > MAX_PACKAGE_TYPES:
        raise BadRequestError(
            f"the package's .nuspec declares more than the {MAX_PACKAGE_TYPES} package types this feed accepts"
        )
    for name in names:
        if not name or len(name) > 100:
            raise BadRequestError(f"the package's .nuspec has a <packageType> without a valid name: {_REPACK}")
    return tuple(dict.fromkeys(names))


# --- the .nupkg zip --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nupkg:
    """What the feed learns from a package that passed :func:`read_nupkg`."""

    nuspec: Nuspec
    nuspec_bytes: bytes  # the .nuspec file exactly as found in the package
    nuspec_path: str
    is_signed: bool  # holds a package signature (.signature.p7s at the root)


def read_nupkg(data: bytes, limits: NupkgLimits | None = None) -> Nupkg:
    """Check a .nupkg (see the module docstring) and read its nuspec."""
    limits = limits or NupkgLimits()
    archive = _open_zip(data, limits)
    with archive:
        infos = archive.infolist()
        at_root = [i for i in infos if "/" not in i.filename and "\\" not in i.filename]
        nuspecs = [i for i in at_root if i.filename.lower().endswith(".nuspec")]
        if not nuspecs:
            elsewhere = [i.filename for i in infos if i.filename.lower().endswith(".nuspec")]
            where = f" (only {elsewhere[0]!r}, inside a folder)" if elsewhere else ""
            raise BadRequestError(
                f"the package has no .nuspec at the root of the archive{where}: build it with 'nuget pack' "
                "or 'dotnet pack'"
            )
        if len(nuspecs) > 1:
            names = ", ".join(repr(i.filename) for i in nuspecs[:5])
            raise BadRequestError(
                f"the package holds {len(nuspecs)} .nuspec files at its root ({names}); a package has exactly one"
            )
        info = nuspecs[0]
        raw = _read_member(archive, info, limits.nuspec_bytes)
        signed = any(i.filename == ".signature.p7s" for i in at_root)
    return Nupkg(
        nuspec=parse_nuspec(raw, max_bytes=limits.nuspec_bytes),
        nuspec_bytes=raw,
        nuspec_path=info.filename,
        is_signed=signed,
    )


def _open_zip(data: bytes, limits: NupkgLimits) -> zipfile.ZipFile:
    """Open the zip and judge its central directory before any member is inflated."""
    _check_entry_count(data, limits.members)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise BadRequestError(
            "the upload is not a zip archive (or it is damaged): a .nupkg is a zip; build it with 'nuget pack' "
            "or 'dotnet pack' and push it again"
        ) from None
    try:
        members = archive.infolist()
        if len(members) > limits.members:
            raise PayloadTooLargeError(
                f"the package holds {len(members)} files, more than the {limits.members} this feed accepts"
            )
        total = 0
        seen: set[str] = set()
        for info in members:
            check_member_path(info.filename)
            check_zip_member_kind(info)
            if info.filename in seen:
                raise BadRequestError(f"the package holds {info.filename!r} twice: rebuild it")
            seen.add(info.filename)
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size / max(info.compress_size, 1) > limits.ratio:
                raise PayloadTooLargeError(
                    f"the package looks like a zip bomb: {info.filename!r} expands {info.file_size} bytes from "
                    f"{info.compress_size} (more than {limits.ratio}:1)"
                )
        if total > limits.uncompressed_bytes:
            raise PayloadTooLargeError(
                f"the package looks like a zip bomb: its files add up to {total} bytes, more than the "
                f"{limits.uncompressed_bytes} this feed accepts"
            )
    except BaseException:
        archive.close()
        raise
    return archive


def _nuspec_too_big(limit: int) -> str:
    return f"the package's .nuspec is larger than {limit} bytes: shorten its description and release notes"


_END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"
_END_SIZE = 22


def _central_directory(data: bytes) -> tuple[int, int] | None:
    """(start, size) of the central directory, located the way zipfile locates it; None when there is none."""
    if data[-_END_SIZE:].startswith(_END_OF_CENTRAL_DIRECTORY) and data[-2:] == b"\0\0":
        end = len(data) - _END_SIZE
    else:  # an archive comment follows the end record
        end = data.rfind(_END_OF_CENTRAL_DIRECTORY, max(len(data) - 65536 - _END_SIZE, 0))
        if end < 0 or len(data) - end < _END_SIZE:
            return None
    (size,) = struct.unpack_from("<I", data, end + 12)
    zip64 = end - 76  # a ZIP64 end record (56 bytes) and its locator (20 bytes) precede the classic one
    if zip64 >= 0 and data.startswith(b"PK\x06\x07", end - 20) and data.startswith(b"PK\x06\x06", zip64):
        (size,) = struct.unpack_from("<Q", data, zip64 + 40)
        end = zip64
    return end - size, size


def _check_entry_count(data: bytes, limit: int) -> None:
    """Count the central directory's entries without building anything, before zipfile makes an object of each:
    a 100 MB push of empty entries would otherwise cost gigabytes before the member count is known."""
    found = _central_directory(data)
    if found is None:
        return  # zipfile reports what is wrong
    start, size = found
    position, end, count = start, min(start + size, len(data)), 0
    while position >= 0 and position + 46 <= end and data.startswith(b"PK\x01\x02", position):
        count += 1
        if count > limit:
            raise PayloadTooLargeError(f"the package holds more than the {limit} files this feed accepts")
        name, extra, comment = struct.unpack_from("<HHH", data, position + 28)
        position += 46 + name + extra + comment


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read one member, never more than ``limit`` bytes whatever its header declares."""
    too_big = _nuspec_too_big(limit)
    if info.file_size > limit:
        raise PayloadTooLargeError(too_big)
    try:
        with archive.open(info) as stream:
            content = stream.read(limit + 1)
    # zipfile raises NotImplementedError for compression methods it lacks, RuntimeError for encrypted members.
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise BadRequestError(
            f"cannot read {info.filename!r} from the package ({exc}): rebuild it and push it again"
        ) from None
    if len(content) > limit:  # pragma: no cover - zipfile stops at the declared size
        raise PayloadTooLargeError(too_big)
    return content


def check_matches(nupkg: Nupkg, package_id: str, version: str) -> None:
    """A push to a URL naming an id and version must carry that package (ids ignore case, versions normalize)."""
    spec = nupkg.nuspec
    if lower_id(package_id) != spec.lower_id or parse_version(version) != spec.version:
        raise BadRequestError(
            f"the URL names {package_id} {version} but the package's .nuspec says {spec.id} {spec.version.full}: "
            "push the package to its own id and version"
        )


# --- small derived values --------------------------------------------------------------------------


def package_hash(data: bytes) -> str:
    """The package's SHA-512 in base64, as registrations (``packageHash``) and v2 feeds (``PackageHash``) carry it."""
    return base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def v2_dependencies(groups: tuple[DependencyGroup, ...]) -> str:
    """The v2 feed's ``Dependencies`` string: ``Id:Range:TargetFramework`` joined by ``|``.

    A group without dependencies is written ``::TargetFramework`` so clients still see the framework.
    """
    parts: list[str] = []
    for group in groups:
        framework = group.target_framework or ""
        if not group.dependencies and framework:
            parts.append(f"::{framework}")
        for dep in group.dependencies:
            parts.append(f"{dep.id}:{dep.range.normalized if dep.range is not None else ''}:{framework}")
    return "|".join(parts)
