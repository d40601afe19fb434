"""The body of ``PUT /api/v1/crates/new``: its framing, the metadata cargo sends, and the crate it carries.

The body is ``u32 LE`` metadata length, the metadata JSON, ``u32 LE`` crate length, the `.crate`, and
nothing after. The metadata is read with :func:`~feed_core.domain.bounded_json.loads_bounded`; what the
feed keeps from it (name, version, dependencies, features, links, rust_version and the descriptive
fields search shows) is type-checked and bounded, and the dependencies are mapped to the index shape:
the name the manifest uses (``explicit_name_in_toml``, else the crate) as ``name``, the real crate as
``package`` when renamed, ``version_req`` as ``req``, and this feed's own index URL as ``registry`` null.
Fields the feed does not keep (readme, authors, badges...) are not looked at. Last, the crate must be a
`.crate` whose Cargo.toml agrees on name and version (:func:`~feed_core.domain.cargo_crate.check_crate`).

Pure: no I/O.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.cargo_crate import check_crate
from feed_core.domain.cargo_index import (
    DEP_KINDS,
    MAX_DEPS,
    MAX_STRING,
    IndexLineError,
    dependency_name_ok,
    features_map,
    is_own_registry,
    string_list,
)
from feed_core.domain.cargo_names import CrateNameError, validate_crate_name
from feed_core.domain.cargo_versions import CrateVersionError, validate_crate_version

MAX_METADATA_BYTES = 1 << 20
MAX_DESCRIPTION = 64 * 1024
MAX_URL = 2_048
MAX_TAGS = 100  # keywords, categories
MAX_TAG = 100

_RUST_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){0,2}", re.ASCII)
_LENGTH = struct.Struct("<I")


class PublishError(ValueError):
    """A publish body this feed cannot take; the message says what is wrong."""


@dataclass(frozen=True)
class CratePublish:
    name: str  # as published (original case)
    version: str
    manifest: dict[str, Any]  # the stored manifest; deps index-shaped
    crate: bytes


def split_publish_body(body: bytes) -> tuple[bytes, bytes]:
    """The metadata JSON and the `.crate` of a publish body; ``PublishError`` when the framing is off."""
    meta_len, at = _length(body, 0, "the metadata JSON")
    if meta_len > MAX_METADATA_BYTES:
        raise PublishError(
            f"the publish metadata is {meta_len} bytes, more than the {MAX_METADATA_BYTES} this feed accepts"
        )
    metadata, at = _chunk(body, at, meta_len, "metadata JSON")
    crate_len, at = _length(body, at, "the .crate")
    crate, at = _chunk(body, at, crate_len, ".crate")
    if at != len(body):
        raise PublishError(
            f"the publish body has {len(body) - at} bytes after the .crate; cargo sends the two lengths and "
            "their data and nothing else"
        )
    if not crate_len:
        raise PublishError("the publish body holds an empty .crate")
    return metadata, crate


def _length(body: bytes, at: int, what: str) -> tuple[int, int]:
    if len(body) < at + 4:
        raise PublishError(
            f"the publish body is {len(body)} bytes, too short for the 4-byte length of {what} at byte {at}: "
            "publish with cargo, which sends length-prefixed metadata and crate"
        )
    return _LENGTH.unpack_from(body, at)[0], at + 4


def _chunk(body: bytes, at: int, length: int, what: str) -> tuple[bytes, int]:
    if len(body) - at < length:
        raise PublishError(
            f"the publish body declares {length} bytes of {what} at byte {at} but only {len(body) - at} follow"
        )
    return body[at : at + length], at + length


def read_publish(body: bytes, *, own_index_urls: Sequence[str]) -> CratePublish:
    """Split, parse and check a publish body (see the module docstring).

    Raises ``PublishError`` for the framing and metadata, and ``CrateFileError`` (or its
    ``CrateTooLargeError``) for the crate; all are ``ValueError``.
    """
    raw, crate = split_publish_body(body)
    try:
        doc = loads_bounded(raw)
    except UnsafeJson as exc:
        raise PublishError(f"the publish metadata {exc}") from None
    if not isinstance(doc, dict):
        raise PublishError("the publish metadata is not a JSON object")
    try:
        name = validate_crate_name(_text(doc, "name", MAX_STRING, required=True) or "")
        version = validate_crate_version(_text(doc, "vers", MAX_STRING, required=True) or "")
    except (CrateNameError, CrateVersionError) as exc:
        raise PublishError(str(exc)) from None
    manifest = _manifest(doc, name, own_index_urls)
    check_crate(crate, name, version)
    return CratePublish(name, version, manifest, crate)


def _manifest(doc: Mapping[str, Any], name: str, own_index_urls: Sequence[str]) -> dict[str, Any]:
    deps = doc.get("deps")
    if deps is None:
        deps = []
    if not isinstance(deps, list):
        raise PublishError("the publish metadata's deps is not a list")
    if len(deps) > MAX_DEPS:
        raise PublishError(f"the publish metadata lists {len(deps)} dependencies; at most {MAX_DEPS} are accepted")
    rust_version = _text(doc, "rust_version", 64)
    if rust_version is not None and not _RUST_VERSION.fullmatch(rust_version):
        raise PublishError(f"the publish metadata's rust_version {rust_version!r} is not a version such as 1.70")
    try:
        features = features_map(doc.get("features"), "features")
        keywords = string_list(doc.get("keywords"), "keywords")
        categories = string_list(doc.get("categories"), "categories")
    except IndexLineError as exc:
        raise PublishError(f"the publish metadata's {exc}") from None
    for field, tags in (("keywords", keywords), ("categories", categories)):
        if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG for t in tags):
            raise PublishError(
                f"the publish metadata's {field} has more than {MAX_TAGS} entries or one longer than {MAX_TAG} "
                "characters"
            )
    return {
        "name": name,
        "deps": [_index_dep(d, i, own_index_urls) for i, d in enumerate(deps, start=1)],
        "features": features,
        "links": _text(doc, "links", MAX_STRING),
        "rust_version": rust_version,
        "v": 2,
        "description": _text(doc, "description", MAX_DESCRIPTION),
        "keywords": keywords,
        "categories": categories,
        "license": _text(doc, "license", MAX_STRING),
        "repository": _text(doc, "repository", MAX_URL),
        "homepage": _text(doc, "homepage", MAX_URL),
        "documentation": _text(doc, "documentation", MAX_URL),
    }


def _index_dep(dep: Any, number: int, own_index_urls: Sequence[str]) -> dict[str, Any]:
    """A publish-metadata dependency in the shape of an index line's."""
    if not isinstance(dep, dict):
        raise PublishError(f"the publish metadata's dependency {number} is not a JSON object")
    what = f"the publish metadata's dependency {number}"
    crate = _text(dep, "name", MAX_STRING, required=True, what=what) or ""
    what = f"the publish metadata's dependency {crate[:80]!r}"
    alias = _text(dep, "explicit_name_in_toml", MAX_STRING, what=what)
    for shown in (crate, alias):
        if shown is not None and not dependency_name_ok(shown):
            raise PublishError(f"{what} has {shown[:80]!r}, which is not a crate name")
    kind = _text(dep, "kind", MAX_STRING, what=what) or "normal"
    if kind not in DEP_KINDS:
        raise PublishError(f"{what} has kind {kind[:40]!r}; it must be normal, dev or build")
    registry = _text(dep, "registry", MAX_URL, what=what)
    try:
        features = string_list(dep.get("features"), "features")
    except IndexLineError as exc:
        raise PublishError(f"{what}: {exc}") from None
    return {
        "name": alias if alias is not None else crate,
        "req": _text(dep, "version_req", MAX_STRING, required=True, what=what),
        "features": features,
        "optional": _flag(dep, "optional", False, what),
        "default_features": _flag(dep, "default_features", True, what),
        "target": _text(dep, "target", MAX_STRING, what=what),
        "kind": kind,
        "registry": None if registry is None or is_own_registry(registry, own_index_urls) else registry,
        "package": crate if alias is not None else None,
    }


def _text(
    doc: Mapping[str, Any],
    key: str,
    limit: int,
    *,
    required: bool = False,
    what: str = "the publish metadata",
) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise PublishError(f"{what} has no {key} string" if required else f"{what}'s {key} is not a string")
    if len(value) > limit:
        raise PublishError(f"{what}'s {key} is {len(value)} characters long; at most {limit} are accepted")
    return value


def _flag(doc: Mapping[str, Any], key: str, default: bool, what: str) -> bool:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise PublishError(f"{what}'s {key} is not true or false")
    return value
