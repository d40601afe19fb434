"""Sparse index files: writing the lines this feed serves and reading the ones upstream registries send.

One line per version, a compact JSON object (``name``, ``vers``, ``deps``, ``cksum``, ``features``,
``features2`` when the source had it, ``yanked``, ``links``, ``v``, ``rust_version`` and ``pubtime``
when known). A dependency's ``registry`` is ``null`` when it is the registry serving the line, so a
line taken from an upstream has the upstream's own index URL replaced by ``null``: cargo then looks the
dependency up through this feed, which is what source replacement needs.

Upstream index files are hostile input. Each line is checked on its own (its name is the crate asked
for, its version is valid and not held already ignoring build metadata, its cksum is a sha256, its
deps and features are well-formed and bounded); a bad line is refused and reported, the others are
kept. Only a file that is not UTF-8 text or holds no JSON line at all is refused whole.

Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.cargo_names import MAX_NAME
from feed_core.domain.cargo_versions import MAX_VERSION, CrateVersionError, validate_crate_version, without_build

#: One index line (big crates with thousands of features stay well below this).
MAX_LINE_BYTES = 1 << 20
MAX_DEPS = 2_000
MAX_FEATURES = 20_000
MAX_FEATURE_VALUES = 100_000  # all the values of a features map added up
MAX_STRING = 1_024  # a requirement, target, feature name or value, registry URL, links, rust_version
DEP_KINDS = ("normal", "dev", "build")
#: Index schema versions cargo understands; lines with others are kept as they are (cargo skips them).
MAX_SCHEMA = 1_000

_NOT_IN_NAMES = re.compile(r"[\s\x00-\x1f\x7f/\\\"'.:]")
_CKSUM = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


class IndexLineError(ValueError):
    """An index file (or line) this feed cannot read; the message says what is wrong."""


@dataclass(frozen=True)
class ParsedLine:
    name: str  # as the line spells it
    version: str
    cksum: str  # lower-case hex sha256 of the .crate
    yanked: bool
    pubtime: str | None  # "yyyy-mm-ddThh:mm:ssZ"
    manifest: dict[str, Any]  # name, deps (index-shaped), features, features2?, links, rust_version, v


# --- writing ----------------------------------------------------------------------------------------


def index_pubtime(iso: str | None) -> str | None:
    """An ISO 8601 time (fractions and offsets allowed) as the index writes it: UTC, whole seconds, ``Z``.

    ``None`` for ``None`` or text that is not a time with a date, hours, minutes and a zone.
    """
    if not iso or len(iso) > 64:
        return None
    try:
        moment = datetime.fromisoformat(iso)
        if moment.tzinfo is None:
            return None
        utc = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def index_line(
    name: str,
    version: str,
    cksum: str,
    manifest: Mapping[str, Any],
    yanked: bool,
    pubtime: str | None,
) -> dict[str, Any]:
    """The JSON object of one index line for a stored version (``manifest`` in the stored shape)."""
    line: dict[str, Any] = {
        "name": manifest.get("name") or name,
        "vers": version,
        "deps": list(manifest.get("deps") or []),
        "cksum": cksum,
        "features": dict(manifest.get("features") or {}),
    }
    if manifest.get("features2") is not None:
        line["features2"] = manifest["features2"]
    line["yanked"] = bool(yanked)
    line["links"] = manifest.get("links")
    line["v"] = manifest.get("v") or 2
    if manifest.get("rust_version"):
        line["rust_version"] = manifest["rust_version"]
    written = index_pubtime(pubtime)
    if written is not None:
        line["pubtime"] = written
    return line


def render_index(lines: Iterable[dict[str, Any]]) -> bytes:
    """An index file: one compact JSON object per line, each followed by ``\\n``."""
    return b"".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for line in lines)


def registry_key(url: str) -> str:
    """What two spellings of one index URL share: no ``sparse+``, no trailing ``/``, case-folded."""
    url = url.strip()
    if url[:7].lower() == "sparse+":
        url = url[7:]
    return url.rstrip("/").casefold()


def is_own_registry(url: str, own_locations: Sequence[str]) -> bool:
    """Whether a dependency's ``registry`` URL names one of ``own_locations`` (then it is written ``null``)."""
    key = registry_key(url)
    return any(key == registry_key(own) for own in own_locations if own)


# --- reading upstream files -------------------------------------------------------------------------


def parse_index_file(
    body: bytes,
    requested_name: str,
    *,
    own_locations: Sequence[str],
    max_lines: int = 50_000,
) -> tuple[list[ParsedLine], dict[str, str]]:
    """The good lines of an upstream index file, in file order, and the refused ones (key -> why).

    A refused line is keyed by its version when that is valid, not a kept line's and not a key already,
    else by ``"line N"`` (1-based). The first line of a version wins: later lines with the same version, or the
    same version with other build metadata, are refused.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise IndexLineError("the index file is not UTF-8 text") from None
    raw_lines = text.split("\n")
    if len(raw_lines) > max_lines + 1 and sum(1 for r in raw_lines if r.strip()) > max_lines:
        raise IndexLineError(f"the index file has more than {max_lines} lines")
    wanted = requested_name.lower()
    own = frozenset(registry_key(url) for url in own_locations if url)
    kept: list[ParsedLine] = []
    refusals: list[tuple[int, Any, str]] = []  # line number, the line's "vers", why
    held: set[str] = set()  # versions without build metadata
    any_json = False
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        doc: Any = None
        try:
            if len(raw.encode()) > MAX_LINE_BYTES:
                raise IndexLineError(f"the line is longer than {MAX_LINE_BYTES} bytes")
            try:
                doc = loads_bounded(raw.encode())
            except UnsafeJson as exc:
                raise IndexLineError(f"the line {exc}") from None
            any_json = True
            line = _parse_line(doc, wanted, own)
            unique = without_build(line.version)
            if unique in held:
                raise IndexLineError(
                    f"version {line.version} repeats a version listed earlier in the file (build metadata ignored)"
                )
            held.add(unique)
            kept.append(line)
        except IndexLineError as exc:
            refusals.append((number, doc.get("vers") if isinstance(doc, dict) else None, str(exc)))
    if refusals and not kept and not any_json:
        raise IndexLineError("the index file holds no JSON lines; " + refusals[0][2])
    return kept, _refused(refusals, {line.version for line in kept})


def _refused(refusals: list[tuple[int, Any, str]], kept: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, version, why in refusals:
        key = f"line {number}"
        if isinstance(version, str) and len(version) <= MAX_VERSION and version not in kept and version not in out:
            with contextlib.suppress(CrateVersionError):
                key = validate_crate_version(version)
        out[key] = why
    return out


def _parse_line(doc: Any, wanted: str, own: frozenset[str]) -> ParsedLine:
    if not isinstance(doc, dict):
        raise IndexLineError("the line is not a JSON object")
    name = _str(doc, "name", required=True)
    if name.lower() != wanted:
        raise IndexLineError(f"the line is for crate {name[:80]!r}, not {wanted!r}")
    version = _str(doc, "vers", required=True)
    try:
        validate_crate_version(version)
    except CrateVersionError as exc:
        raise IndexLineError(str(exc)) from None
    cksum = _str(doc, "cksum", required=True)
    if not _CKSUM.fullmatch(cksum):
        raise IndexLineError(f"version {version}: cksum is not a sha256 (64 hex digits)")
    yanked = doc.get("yanked", False)
    if yanked is None:
        yanked = False
    if not isinstance(yanked, bool):
        raise IndexLineError(f"version {version}: yanked is not true or false")
    deps = doc.get("deps")
    if not isinstance(deps, list):
        raise IndexLineError(f"version {version}: deps is not a list")
    if len(deps) > MAX_DEPS:
        raise IndexLineError(f"version {version}: more than {MAX_DEPS} dependencies")
    schema = doc.get("v", 1)
    if schema is None:
        schema = 1
    if not isinstance(schema, int) or isinstance(schema, bool) or not 1 <= schema <= MAX_SCHEMA:
        raise IndexLineError(f"version {version}: v is not a schema version number")
    pubtime_text = _opt_str(doc, "pubtime")
    pubtime = index_pubtime(pubtime_text)
    if pubtime_text is not None and pubtime is None:
        raise IndexLineError(f"version {version}: pubtime {pubtime_text[:40]!r} is not a UTC time")
    try:
        manifest: dict[str, Any] = {
            "name": name,
            "deps": [_index_dep(d, own) for d in deps],
            "features": features_map(doc.get("features", {}), "features"),
        }
        if doc.get("features2") is not None:
            manifest["features2"] = features_map(doc["features2"], "features2")
        manifest["links"] = _opt_str(doc, "links")
        manifest["rust_version"] = _opt_str(doc, "rust_version")
        manifest["v"] = schema
    except IndexLineError as exc:
        raise IndexLineError(f"version {version}: {exc}") from None
    return ParsedLine(name, version, cksum.lower(), yanked, pubtime, manifest)


def _index_dep(dep: Any, own: frozenset[str]) -> dict[str, Any]:
    if not isinstance(dep, dict):
        raise IndexLineError("a dependency is not a JSON object")
    name = _str(dep, "name", required=True)
    _check_name(name, "dependency name")
    package = _opt_str(dep, "package")
    if package is not None:
        _check_name(package, f"dependency {name}: package")
    kind = _opt_str(dep, "kind") or "normal"
    if kind not in DEP_KINDS:
        raise IndexLineError(f"dependency {name}: kind {kind[:40]!r} is not normal, dev or build")
    registry = _opt_str(dep, "registry")
    return {
        "name": name,
        "req": _str(dep, "req", required=True),
        "features": string_list(dep.get("features", []), f"dependency {name}: features"),
        "optional": _bool(dep, "optional", False),
        "default_features": _bool(dep, "default_features", True),
        "target": _opt_str(dep, "target"),
        "kind": kind,
        "registry": None if registry is None or registry_key(registry) in own else registry,
        "package": package,
    }


def _check_name(name: str, what: str) -> None:
    """A dependency's name: other registries may allow names this one does not, so only the shape is checked."""
    if not dependency_name_ok(name):
        raise IndexLineError(f"{what} {name[:80]!r} is not a crate name")


def dependency_name_ok(name: str) -> bool:
    """At most ``MAX_NAME`` characters, no whitespace, control characters, quotes or path separators."""
    return 0 < len(name) <= MAX_NAME and not _NOT_IN_NAMES.search(name)


def features_map(value: Any, field: str) -> dict[str, list[str]]:
    """A features mapping (name -> list of strings), bounded; ``IndexLineError`` names ``field`` when it is not."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IndexLineError(f"{field} is not a JSON object")
    if len(value) > MAX_FEATURES:
        raise IndexLineError(f"{field} has more than {MAX_FEATURES} features")
    out: dict[str, list[str]] = {}
    total = 0
    for key, items in value.items():
        if len(key) > MAX_STRING:
            raise IndexLineError(f"{field} has a feature name longer than {MAX_STRING} characters")
        out[key] = string_list(items, f"{field} {key[:40]!r}")
        total += len(out[key])
        if total > MAX_FEATURE_VALUES:
            raise IndexLineError(f"{field} lists more than {MAX_FEATURE_VALUES} values")
    return out


def string_list(value: Any, what: str) -> list[str]:
    """A list of bounded strings (``None`` is empty); ``IndexLineError`` names ``what`` when it is not."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IndexLineError(f"{what} is not a list of strings")
    if any(len(v) > MAX_STRING for v in value):
        raise IndexLineError(f"{what} holds a string longer than {MAX_STRING} characters")
    return list(value)


def _str(doc: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or (required and not value):
        raise IndexLineError(f"{key} is missing or not a string")
    if len(value) > MAX_STRING:
        raise IndexLineError(f"{key} is longer than {MAX_STRING} characters")
    return value


def _opt_str(doc: Mapping[str, Any], key: str) -> str | None:
    if doc.get(key) is None:
        return None
    return _str(doc, key, required=False)


def _bool(doc: Mapping[str, Any], key: str, default: bool) -> bool:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise IndexLineError(f"{key} is not true or false")
    return value
