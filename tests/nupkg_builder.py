"""Build real .nupkg files in memory for tests: a nuspec at the root, the OPC parts nuget.exe writes, content.

``build_nupkg("Contoso.Lib", "1.0.0", dependencies=[("Other", "[1.0, )")])`` gives a package the NuGet
client installs; ``dependencies`` may also map target frameworks to lists (grouped dependencies, the key
``None`` for a group without one). The bytes are deterministic: the same arguments give the same file.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

NUSPEC_NAMESPACE = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"
_DATE = (2020, 1, 1, 0, 0, 0)

# A mapping's keys are target frameworks (str, or None for a group without one); Any keeps dict[str, ...] usable.
Dependencies = Sequence[tuple[str, str | None]] | Mapping[Any, Sequence[tuple[str, str | None]]]


def dependencies_xml(dependencies: Dependencies) -> str:
    """The ``<dependencies>`` element: flat for a sequence, grouped for a mapping of framework -> list."""

    def one(dep_id: str, version: str | None) -> str:
        version_attr = f" version={quoteattr(version)}" if version is not None else ""
        return f"<dependency id={quoteattr(dep_id)}{version_attr} />"

    if isinstance(dependencies, Mapping):
        groups = []
        for framework, deps in dependencies.items():
            attr = f" targetFramework={quoteattr(framework)}" if framework is not None else ""
            groups.append(f"<group{attr}>{''.join(one(i, v) for i, v in deps)}</group>")
        return f"<dependencies>{''.join(groups)}</dependencies>"
    if not dependencies:
        return ""
    return f"<dependencies>{''.join(one(i, v) for i, v in dependencies)}</dependencies>"


def nuspec(
    package_id: str,
    version: str,
    *,
    dependencies: Dependencies = (),
    description: str = "A test package.",
    authors: str = "tests",
    tags: Sequence[str] = (),
    namespace: str | None = NUSPEC_NAMESPACE,
    metadata_extra: str = "",
) -> bytes:
    """A nuspec document; ``metadata_extra`` is raw XML added inside ``<metadata>``."""
    xmlns = f" xmlns={quoteattr(namespace)}" if namespace else ""
    tag_xml = f"<tags>{escape(' '.join(tags))}</tags>" if tags else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"<package{xmlns}>\n"
        "  <metadata>\n"
        f"    <id>{escape(package_id)}</id>\n"
        f"    <version>{escape(version)}</version>\n"
        f"    <authors>{escape(authors)}</authors>\n"
        f"    <description>{escape(description)}</description>\n"
        f"    {tag_xml}{dependencies_xml(dependencies)}{metadata_extra}\n"
        "  </metadata>\n"
        "</package>\n"
    ).encode()


def build_nupkg(
    package_id: str,
    version: str,
    *,
    dependencies: Dependencies = (),
    description: str = "A test package.",
    tags: Sequence[str] = (),
    extra_files: Mapping[str, bytes] | None = None,
    nuspec_xml: bytes | None = None,
    nuspec_name: str | None = None,
    signed: bool = False,
) -> bytes:
    """A .nupkg; ``nuspec_xml`` replaces the generated nuspec, ``nuspec_name`` its name (default ``{id}.nuspec``)."""
    manifest = (
        nuspec_xml
        if nuspec_xml is not None
        else nuspec(package_id, version, dependencies=dependencies, description=description, tags=tags)
    )
    name = nuspec_name or f"{package_id}.nuspec"
    files: dict[str, bytes] = {
        "_rels/.rels": _RELS.replace("{nuspec}", name).encode(),
        name: manifest,
        "[Content_Types].xml": _CONTENT_TYPES.encode(),
        f"content/{package_id}.txt": f"{package_id} {version}\n".encode(),
        **(extra_files or {}),
    }
    if signed:
        files[".signature.p7s"] = b"\x30\x82\x00\x00 not a real signature"
    return zip_bytes(files)


def zip_bytes(files: Mapping[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``files`` (path -> bytes) with fixed timestamps, in the given order."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=_DATE), data, compress_type=compression)
    return raw.getvalue()


_RELS = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/{nuspec}" Id="R1" />'
    "</Relationships>"
)
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />'
    '<Default Extension="nuspec" ContentType="application/octet" />'
    '<Default Extension="txt" ContentType="application/octet" />'
    '<Default Extension="psmdcp" ContentType="application/vnd.openxmlformats-package.core-properties+xml" />'
    "</Types>"
)
