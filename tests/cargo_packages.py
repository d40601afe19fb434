"""Build `.crate` files and the framed publish bodies cargo sends, for tests.

A crate made here has the layout `cargo package` writes: ``{name}-{version}/Cargo.toml`` (the normalized
manifest), ``Cargo.toml.orig``, ``src/lib.rs``, files only (no directory entries), fixed times and modes, so
the same inputs always give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: The entry time cargo writes into every .crate it packs (it does not keep the files' own times).
CARGO_MTIME = 1153704088


def cargo_toml(name: str, version: str, manifest_extra: str = "") -> bytes:
    """A normalized Cargo.toml; ``manifest_extra`` is appended (keys land in ``[package]`` unless it opens a table)."""
    text = f'[package]\nedition = "2021"\nname = "{name}"\nversion = "{version}"\n'
    if manifest_extra:
        text += manifest_extra if manifest_extra.endswith("\n") else manifest_extra + "\n"
    return text.encode()


def crate_bytes(
    name: str,
    version: str,
    *,
    files: Mapping[str, bytes] | None = None,
    manifest_extra: str = "",
) -> bytes:
    """A valid .crate; ``files`` (paths relative to ``{name}-{version}/``) are added or replace the defaults."""
    top = f"{name}-{version}"
    content: dict[str, bytes] = {
        "Cargo.toml": cargo_toml(name, version, manifest_extra),
        "Cargo.toml.orig": f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'.encode(),
        "src/lib.rs": f"pub fn version() -> &'static str {{\n    {json.dumps(version)}\n}}\n".encode(),
    }
    content.update(files or {})
    return tar_gz((f"{top}/{path}", data) for path, data in sorted(content.items()))


def member(path: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    """A tar entry header (for hostile archives: links, devices, odd paths)."""
    info = tarfile.TarInfo(path)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o644
    info.mtime = CARGO_MTIME
    return info


def tar_gz(entries: Iterable[tuple[str | tarfile.TarInfo, bytes]]) -> bytes:
    """A gzip'd tar of exactly these entries (a path makes a regular file), byte-for-byte reproducible."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for entry, data in entries:
            info = member(entry, data) if isinstance(entry, str) else entry
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return raw.getvalue()


def frame(metadata: bytes, crate: bytes) -> bytes:
    """The publish framing: LE u32 length + metadata JSON, LE u32 length + the .crate."""
    return struct.pack("<I", len(metadata)) + metadata + struct.pack("<I", len(crate)) + crate


def dep(
    name: str,
    version_req: str = "^0.1",
    *,
    kind: str = "normal",
    optional: bool = False,
    default_features: bool = True,
    features: Sequence[str] = (),
    target: str | None = None,
    registry: str | None = None,
    explicit_name_in_toml: str | None = None,
) -> dict[str, Any]:
    """One dependency in the shape cargo puts in publish metadata."""
    return {
        "optional": optional,
        "default_features": default_features,
        "name": name,
        "features": list(features),
        "version_req": version_req,
        "target": target,
        "kind": kind,
        "registry": registry,
        "explicit_name_in_toml": explicit_name_in_toml,
    }


def metadata(
    name: str,
    version: str,
    *,
    deps: Sequence[Mapping[str, Any]] = (),
    features: Mapping[str, list[str]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The publish metadata object with every field cargo sends (missing ones null); ``fields`` override."""
    doc: dict[str, Any] = {
        "name": name,
        "vers": version,
        "deps": [dict(d) for d in deps],
        "features": dict(features or {}),
        "authors": [],
        "description": None,
        "documentation": None,
        "homepage": None,
        "readme": None,
        "readme_file": None,
        "keywords": [],
        "categories": [],
        "license": None,
        "license_file": None,
        "repository": None,
        "badges": {},
        "links": None,
        "rust_version": None,
    }
    doc.update(fields)
    return doc


def publish_body(
    name: str,
    version: str,
    crate: bytes,
    *,
    deps: Sequence[Mapping[str, Any]] = (),
    features: Mapping[str, list[str]] | None = None,
    **fields: Any,
) -> bytes:
    """The body of ``PUT /api/v1/crates/new`` as cargo sends it (deps in publish shape, see :func:`dep`)."""
    doc = metadata(name, version, deps=deps, features=features, **fields)
    return frame(json.dumps(doc).encode(), crate)
