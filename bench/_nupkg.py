"""Deterministic .nupkg files for the NuGet benchmark: a nuspec with flat dependencies, the OPC parts nuget.exe
expects, and some content. A trimmed copy of tests/nupkg_builder.py: the benchmarks run as scripts from bench/
and do not import the test helpers (which pull in pytest)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

_DATE = (2020, 1, 1, 0, 0, 0)
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
    "</Types>"
)


def nuspec(package_id: str, version: str, dependencies: Sequence[tuple[str, str]]) -> bytes:
    deps = "".join(f"<dependency id={quoteattr(i)} version={quoteattr(r)} />" for i, r in dependencies)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">\n'
        "  <metadata>\n"
        f"    <id>{escape(package_id)}</id>\n"
        f"    <version>{escape(version)}</version>\n"
        "    <authors>bench</authors>\n"
        f"    <description>benchmark package {escape(package_id)}</description>\n"
        f"    {f'<dependencies>{deps}</dependencies>' if dependencies else ''}\n"
        "  </metadata>\n"
        "</package>\n"
    ).encode()


def build_nupkg(package_id: str, version: str, dependencies: Sequence[tuple[str, str]], payload: bytes) -> bytes:
    """The same arguments give the same bytes; ``payload`` becomes content/{id}.txt."""
    name = f"{package_id}.nuspec"
    files = {
        "_rels/.rels": _RELS.replace("{nuspec}", name).encode(),
        name: nuspec(package_id, version, dependencies),
        "[Content_Types].xml": _CONTENT_TYPES.encode(),
        f"content/{package_id}.txt": payload,
    }
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=_DATE), data, compress_type=zipfile.ZIP_DEFLATED)
    return raw.getvalue()
