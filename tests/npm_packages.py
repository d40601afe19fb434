"""Build real npm tarballs and the publish bodies npm sends, for tests."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from typing import Any


def make_tarball(
    name: str,
    version: str,
    *,
    extra: dict[str, Any] | None = None,
    code: str = "",
    entries: list[tarfile.TarInfo] | None = None,
) -> bytes:
    """A tarball as `npm pack` makes it; ``entries`` (links, devices, ...) are added after its files."""
    manifest = {"name": name, "version": version, "main": "index.js", **(extra or {})}
    files = {
        "package/package.json": json.dumps(manifest).encode(),
        "package/index.js": (code or f"module.exports = {json.dumps(name + '@' + version)};\n").encode(),
    }
    members = []
    for path, data in files.items():
        info = tarfile.TarInfo(path)
        info.size = len(data)
        members.append((info, data))
    return tgz([*members, *((e, b"") for e in entries or [])])


def tgz(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A gzip-compressed tar of exactly these entries, byte-for-byte reproducible."""
    raw = io.BytesIO()
    # mtime=0 in the gzip header too, so the same inputs always give the same bytes.
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for info, data in members:
            info.mtime = 499162500
            tar.addfile(info, io.BytesIO(data) if data else None)
    return raw.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def publish_body(
    name: str,
    version: str,
    *,
    extra: dict[str, Any] | None = None,
    tarball: bytes | None = None,
    tag: str = "latest",
) -> dict[str, Any]:
    data = tarball if tarball is not None else make_tarball(name, version, extra=extra)
    manifest = {
        "name": name,
        "version": version,
        "main": "index.js",
        **(extra or {}),
        "_id": f"{name}@{version}",
        "_nodeVersion": "20.0.0",
        "_npmVersion": "11.0.0",
        "dist": {
            "integrity": integrity(data),
            "shasum": hashlib.sha1(data).hexdigest(),  # noqa: S324 - npm's shasum
            "tarball": f"http://example.invalid/{name}/-/{name.split('/')[-1]}-{version}.tgz",
        },
    }
    return {
        "_id": name,
        "name": name,
        "description": (extra or {}).get("description", ""),
        "dist-tags": {tag: version},
        "versions": {version: manifest},
        "access": None,
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }
