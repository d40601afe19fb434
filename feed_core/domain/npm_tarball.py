"""npm package tarballs: what a published ``.tgz`` must be before the feed keeps it.

npm installs a tarball by extracting it with the first path segment of every entry stripped (npm packs
everything under ``package/``, but the top directory may have any name) and then reads the
``package.json`` that lands at the top as the package's manifest. So a tarball is accepted only when:

- it is a gzip-compressed tar that reads to its end. Decompression is streamed and stops at
  ``unpacked_bytes``: a gzip bomb is refused at the limit, never inflated whole;
- it has at most ``entries`` entries, none declaring more than ``entry_bytes``, all regular files or
  directories at safe paths (see :mod:`feed_core.domain.archives`);
- exactly one entry is ``<top>/package.json``: a JSON object of at most ``PACKAGE_JSON_MAX_BYTES``;
- that package.json names the package and version being published (:func:`check_matches`), so what
  the registry says about a version is what npm installs.

Pure: reads the bytes it is given, in memory.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feed_core.domain import semver
from feed_core.domain.archives import BoundedReader, check_member_path, check_tar_member_kind
from feed_core.domain.errors import BadRequestError, PayloadTooLargeError

MiB = 1024 * 1024
#: The package.json inside a tarball (real ones are a few KiB; a readme embedded in it is allowed for).
PACKAGE_JSON_MAX_BYTES = 8 * MiB
#: Scripts npm runs when a package is installed.
INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


@dataclass(frozen=True)
class TarballLimits:
    unpacked_bytes: int = 512 * MiB  # the whole tar stream, headers included
    entries: int = 100_000
    entry_bytes: int = 256 * MiB


@dataclass(frozen=True)
class NpmTarball:
    """What the feed learns from a tarball that passed :func:`read_tarball`."""

    package_json: dict[str, Any]
    file_count: int
    unpacked_size: int  # sum of the files' sizes, as npm reports it in dist.unpackedSize
    has_binding_gyp: bool  # a top-level binding.gyp: npm runs ``node-gyp rebuild`` on install

    @property
    def has_install_script(self) -> bool:
        """Whether npm would run a script when installing this tarball, whatever the manifest claims."""
        gyp = self.has_binding_gyp and self.package_json.get("gypfile") is not False
        return declares_install_script(self.package_json) or gyp


def declares_install_script(manifest: Mapping[str, Any]) -> bool:
    scripts = manifest.get("scripts")
    return isinstance(scripts, dict) and any(s in scripts for s in INSTALL_SCRIPTS)


def read_tarball(data: bytes, limits: TarballLimits | None = None) -> NpmTarball:
    """Check a tarball (see the module docstring) and read its package.json."""
    limits = limits or TarballLimits()
    found: bytes | None = None
    files = unpacked = 0
    gyp = False
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as unzipped:
            stream = BoundedReader(unzipped, limits.unpacked_bytes)
            with tarfile.open(fileobj=stream, mode="r:") as archive:
                for count, member in enumerate(archive, start=1):
                    if count > limits.entries:
                        raise PayloadTooLargeError(
                            f"the tarball holds more than the {limits.entries} entries this feed accepts"
                        )
                    check_member_path(member.name)
                    check_tar_member_kind(member)
                    if member.size > limits.entry_bytes:
                        raise PayloadTooLargeError(
                            f"{member.name!r} in the tarball is {member.size} bytes, more than the "
                            f"{limits.entry_bytes} this feed accepts for one file"
                        )
                    if not member.isfile():
                        continue
                    files += 1
                    unpacked += member.size
                    if unpacked > limits.unpacked_bytes:
                        raise PayloadTooLargeError(
                            f"the tarball looks like a decompression bomb: its files add up to more than the "
                            f"{limits.unpacked_bytes} bytes this feed accepts"
                        )
                    inside = _installed_path(member.name)
                    gyp = gyp or inside == "binding.gyp"
                    if inside == "package.json":
                        if found is not None:
                            raise BadRequestError(
                                "the tarball holds package.json more than once at its top: npm would install "
                                "whichever comes last; repack it with `npm pack`"
                            )
                        found = _read_member(archive, member)
            while stream.read(1024 * 1024):  # to the end, so a truncated or corrupt gzip stream shows
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        raise BadRequestError(
            "the attachment is not a readable gzip-compressed tarball (.tgz): it is damaged or of another format; "
            "publish the file `npm pack` makes"
        ) from None
    if found is None:
        raise BadRequestError("the tarball has no package/package.json: publish the file `npm pack` makes")
    return NpmTarball(_parse_package_json(found), files, unpacked, gyp)


def check_matches(tarball: NpmTarball, name: str, version: str) -> None:
    """The tarball's package.json must name the package and version the publish names.

    npm publishes the version cleaned (``v1.2.3`` becomes ``1.2.3``), so the tarball's own spelling
    is compared the same way; build metadata does not count, as for npm."""
    pj = tarball.package_json
    found_name = pj.get("name")
    if not isinstance(found_name, str) or found_name.strip() != name:
        raise BadRequestError(
            f"the tarball's package.json names package {_shown(found_name)} but the publish is for {name!r}: "
            "publish the tarball `npm pack` makes from this package"
        )
    found_version = pj.get("version")
    ours = semver.try_parse_semver(version)
    theirs = semver.try_parse_semver(found_version.strip().lstrip("=v")) if isinstance(found_version, str) else None
    if ours is None or theirs is None or ours != theirs:
        raise BadRequestError(
            f"the tarball's package.json says version {_shown(found_version)} but the publish is for {version!r}: "
            "publish the tarball `npm pack` makes from this version"
        )


def _installed_path(entry: str) -> str:
    """Where npm puts an entry: its path with the first segment (the top directory) removed."""
    return "/".join(p for p in entry.split("/")[1:] if p not in ("", "."))


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > PACKAGE_JSON_MAX_BYTES:
        raise PayloadTooLargeError(
            f"the tarball's package.json is {member.size} bytes, more than the {PACKAGE_JSON_MAX_BYTES} "
            "this feed accepts"
        )
    stream = archive.extractfile(member)
    if stream is None:  # pragma: no cover - regular files always have data
        raise BadRequestError("cannot read package.json from the tarball: repack it with `npm pack`")
    with stream:
        return stream.read(PACKAGE_JSON_MAX_BYTES + 1)


def _parse_package_json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        raise BadRequestError("the tarball's package.json is not a JSON object: repack it with `npm pack`")
    return doc


def _shown(value: object) -> str:
    return repr(value[:100]) if isinstance(value, str) else "(none)" if value is None else "(not a string)"
