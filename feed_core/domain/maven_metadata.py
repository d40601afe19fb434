"""``maven-metadata.xml``: read (from clients and upstreams), built from what the feed holds, merged and written.

One schema, three uses (a path can be both the G-level file of one group and the A-level file of a coordinate):

- A-level ``{g}/{a}/``: ``groupId``, ``artifactId``, ``versioning/{latest, release, versions/version*,
  lastUpdated}``; ``latest`` is the highest version, ``release`` the highest that is not a snapshot, both
  in Maven's order.
- V-level ``{g}/{a}/{x}-SNAPSHOT/``: ``groupId``, ``artifactId``, ``version``, ``versioning/{snapshot/{timestamp,
  buildNumber}, lastUpdated, snapshotVersions/snapshotVersion*/{classifier, extension, value, updated}}``;
  every ``value`` names files that exist.
- G-level ``{g}/``: ``plugins/plugin*/{name, prefix, artifactId}``.

Reading refuses a DTD or entities (``safe_xml``), another root than ``<metadata>``, more than ``max_entries``
versions, snapshot versions or plugins, and times or build numbers that are not what Maven writes. The
namespace is optional and ignored. Entries the feed could never serve (a version or artifactId that is no
valid path segment, a plugin without prefix) are left out rather than refusing the whole document.

Written documents are ``modelVersion="1.1.0"``, UTF-8, two-space indented, elements in Maven's order: equal
metadata gives equal bytes (and so equal checksums).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from feed_core.domain.maven_layout import (
    METADATA_FILE,
    SEGMENT_MAX,
    ArtifactFile,
    MavenPathError,
    validate_artifact_id,
    validate_group_id,
    validate_version,
)
from feed_core.domain.maven_versions import SnapshotBuild, is_snapshot, snapshot_build, version_key
from feed_core.domain.safe_xml import UnsafeXml, parse_xml

__all__ = [
    "MAX_ENTRIES",
    "Metadata",
    "MetadataError",
    "PluginEntry",
    "SnapshotFile",
    "artifact_metadata",
    "last_updated",
    "merge_metadata",
    "parse_metadata",
    "render_metadata",
    "snapshot_metadata",
    "updated_time",
]

MAX_ENTRIES = 100_000
#: Elements a document may hold per entry (a snapshotVersion is five), plus the fixed ones.
_ELEMENTS_PER_ENTRY = 5
_FIXED_ELEMENTS = 64
_NAME_MAX = 1000
_TIME = re.compile(r"[0-9]{14}")
_TIMESTAMP = re.compile(r"[0-9]{8}\.[0-9]{6}")
_BUILD_NUMBER = re.compile(r"[0-9]{1,9}")
_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{1,200}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MetadataError(ValueError):
    """A metadata document or value this feed does not accept; the message says what is wrong."""


@dataclass(frozen=True)
class PluginEntry:
    name: str
    prefix: str
    artifact_id: str


@dataclass(frozen=True)
class SnapshotFile:
    classifier: str  # "" when none
    extension: str
    value: str  # the build's unique version: 1.0-20240101.120000-3
    updated: str  # yyyyMMddHHmmss


@dataclass(frozen=True)
class Metadata:
    group_id: str = ""
    artifact_id: str = ""
    version: str = ""  # V-level only: the snapshot's base version
    versions: tuple[str, ...] = ()
    latest: str = ""
    release: str = ""
    last_updated: str = ""  # yyyyMMddHHmmss, UTC
    snapshot: SnapshotBuild | None = None
    snapshot_files: tuple[SnapshotFile, ...] = ()
    plugins: tuple[PluginEntry, ...] = ()


# --- times -------------------------------------------------------------------------------------------


def last_updated(iso_time: str) -> str:
    """``yyyyMMddHHmmss`` (UTC) of an ISO 8601 time; a time without zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(iso_time)
    except (TypeError, ValueError):
        raise MetadataError(f"{iso_time!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def updated_time(text: str) -> datetime:
    """The UTC time a ``yyyyMMddHHmmss`` value (``lastUpdated``, ``updated``) names."""
    if not _TIME.fullmatch(text):
        raise MetadataError(f"{text[:40]!r} is not a yyyyMMddHHmmss time")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise MetadataError(f"{text!r} is not a yyyyMMddHHmmss time (no such date or time)") from None


def _timestamp_ok(text: str) -> bool:
    if not _TIMESTAMP.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%Y%m%d.%H%M%S")
    except ValueError:
        return False
    return True


# --- reading -----------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _child(element: Element | None, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Element | None, name: str) -> str:
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""


def _valid(check: Callable[[str], str], text: str) -> bool:
    try:
        check(text)
    except MavenPathError:
        return False
    return True


def _coordinate(check: Callable[[str], str], kind: str, text: str) -> str:
    if text and not _valid(check, text):
        raise MetadataError(f"the {METADATA_FILE} names the {kind} {text[:SEGMENT_MAX]!r}, which is not valid")
    return text


def _time(kind: str, text: str) -> str:
    if text:
        try:
            updated_time(text)
        except MetadataError:
            raise MetadataError(
                f"the {METADATA_FILE} has the {kind} {text[:40]!r}, which is not a yyyyMMddHHmmss time"
            ) from None
    return text


def _bounded(kind: str, items: list[Element], max_entries: int) -> list[Element]:
    if len(items) > max_entries:
        raise MetadataError(f"the {METADATA_FILE} lists more than {max_entries} {kind}")
    return items


def _snapshot(versioning: Element | None, base_version: str) -> SnapshotBuild | None:
    element = _child(versioning, "snapshot")
    timestamp = _text(element, "timestamp")
    number = _text(element, "buildNumber")
    if number and not _BUILD_NUMBER.fullmatch(number):
        raise MetadataError(f"the {METADATA_FILE} has the buildNumber {number[:40]!r}, which is not a build number")
    if not timestamp:
        return None  # a local copy, or no snapshot at all
    if not _timestamp_ok(timestamp):
        raise MetadataError(
            f"the {METADATA_FILE} has the snapshot timestamp {timestamp[:40]!r}, which is not a yyyyMMdd.HHmmss time"
        )
    return SnapshotBuild(base_version, timestamp, int(number or "0"))


def _snapshot_files(versioning: Element | None, max_entries: int) -> tuple[SnapshotFile, ...]:
    entries = _bounded(
        "snapshot versions", _children(_child(versioning, "snapshotVersions"), "snapshotVersion"), max_entries
    )
    files: dict[tuple[str, str], SnapshotFile] = {}
    for entry in entries:
        classifier, extension = _text(entry, "classifier"), _text(entry, "extension")
        value, updated = _text(entry, "value"), _time("snapshotVersion updated", _text(entry, "updated"))
        if not extension or not _valid(validate_version, value) or not _PREFIX.fullmatch(extension):
            continue
        if classifier and not _PREFIX.fullmatch(classifier):
            continue
        files.setdefault((classifier, extension), SnapshotFile(classifier, extension, value, updated))
    return tuple(files.values())


def _plugins(root: Element, max_entries: int) -> tuple[PluginEntry, ...]:
    entries = _bounded("plugins", _children(_child(root, "plugins"), "plugin"), max_entries)
    plugins: dict[str, PluginEntry] = {}
    for entry in entries:
        name, prefix, artifact_id = _text(entry, "name"), _text(entry, "prefix"), _text(entry, "artifactId")
        if not _PREFIX.fullmatch(prefix) or not _valid(validate_artifact_id, artifact_id):
            continue
        if len(name) > _NAME_MAX or _CONTROL.search(name):
            name = ""
        plugins.setdefault(prefix, PluginEntry(name, prefix, artifact_id))
    return tuple(plugins.values())


def parse_metadata(data: bytes, *, max_entries: int = MAX_ENTRIES) -> Metadata:
    """The metadata ``data`` holds; ``MetadataError`` says why it is not usable."""
    try:
        root = parse_xml(data, max_elements=max_entries * _ELEMENTS_PER_ENTRY + _FIXED_ELEMENTS)
    except UnsafeXml as exc:
        if str(exc).startswith("holds more than"):
            raise MetadataError(f"the {METADATA_FILE} holds more than {max_entries} entries") from None
        raise MetadataError(f"the {METADATA_FILE} {exc}") from None
    if _local(root.tag) != "metadata":
        raise MetadataError(f"the {METADATA_FILE} has the root element <{_local(root.tag)[:40]}>, not <metadata>")
    group_id = _coordinate(validate_group_id, "groupId", _text(root, "groupId"))
    artifact_id = _coordinate(validate_artifact_id, "artifactId", _text(root, "artifactId"))
    version = _coordinate(validate_version, "version", _text(root, "version"))
    versioning = _child(root, "versioning")
    listed = _bounded("versions", _children(_child(versioning, "versions"), "version"), max_entries)
    versions = dict.fromkeys(
        text for text in ((v.text or "").strip() for v in listed) if _valid(validate_version, text)
    )
    latest, release = _text(versioning, "latest"), _text(versioning, "release")
    return Metadata(
        group_id=group_id,
        artifact_id=artifact_id,
        version=version,
        versions=tuple(versions),
        latest=latest if _valid(validate_version, latest) else "",
        release=release if _valid(validate_version, release) else "",
        last_updated=_time("lastUpdated", _text(versioning, "lastUpdated")),
        snapshot=_snapshot(versioning, version),
        snapshot_files=_snapshot_files(versioning, max_entries),
        plugins=_plugins(root, max_entries),
    )


# --- writing -----------------------------------------------------------------------------------------


def _element(lines: list[str], depth: int, name: str, value: str) -> None:
    if value:
        lines.append(f"{'  ' * depth}<{name}>{escape(value)}</{name}>")


def render_metadata(m: Metadata) -> bytes:
    """The document for ``m``: empty fields and sections are left out."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<metadata modelVersion="1.1.0">']
    _element(lines, 1, "groupId", m.group_id)
    _element(lines, 1, "artifactId", m.artifact_id)
    _element(lines, 1, "version", m.version)
    if m.latest or m.release or m.snapshot or m.versions or m.last_updated or m.snapshot_files:
        lines.append("  <versioning>")
        _element(lines, 2, "latest", m.latest)
        _element(lines, 2, "release", m.release)
        if m.snapshot is not None:
            lines.append("    <snapshot>")
            _element(lines, 3, "timestamp", m.snapshot.timestamp)
            _element(lines, 3, "buildNumber", str(m.snapshot.build_number))
            lines.append("    </snapshot>")
        if m.versions:
            lines.append("    <versions>")
            for version in m.versions:
                _element(lines, 3, "version", version)
            lines.append("    </versions>")
        _element(lines, 2, "lastUpdated", m.last_updated)
        if m.snapshot_files:
            lines.append("    <snapshotVersions>")
            for file in m.snapshot_files:
                lines.append("      <snapshotVersion>")
                _element(lines, 4, "classifier", file.classifier)
                _element(lines, 4, "extension", file.extension)
                _element(lines, 4, "value", file.value)
                _element(lines, 4, "updated", file.updated)
                lines.append("      </snapshotVersion>")
            lines.append("    </snapshotVersions>")
        lines.append("  </versioning>")
    if m.plugins:
        lines.append("  <plugins>")
        for plugin in m.plugins:
            lines.append("    <plugin>")
            _element(lines, 3, "name", plugin.name)
            _element(lines, 3, "prefix", plugin.prefix)
            _element(lines, 3, "artifactId", plugin.artifact_id)
            lines.append("    </plugin>")
        lines.append("  </plugins>")
    lines.append("</metadata>")
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- building and merging ----------------------------------------------------------------------------


def _highest(candidates: Iterable[str]) -> str:
    present = [version for version in candidates if version]
    return max(present, key=version_key) if present else ""


def artifact_metadata(
    group_id: str,
    artifact_id: str,
    versions: Iterable[str],
    last_updated: str,
    plugins: Iterable[PluginEntry] = (),
) -> Metadata:
    """A-level metadata: ``versions`` in Maven's order, ``latest`` the highest, ``release`` the highest release.

    ``plugins`` are the G-level entries of group ``{group_id}.{artifact_id}``, which shares the path."""
    ordered = tuple(sorted(dict.fromkeys(versions), key=version_key))
    by_prefix: dict[str, PluginEntry] = {}
    for plugin in plugins:
        by_prefix.setdefault(plugin.prefix, plugin)
    releases = [version for version in ordered if not is_snapshot(version)]
    return Metadata(
        group_id=group_id,
        artifact_id=artifact_id,
        versions=ordered,
        latest=ordered[-1] if ordered else "",
        release=releases[-1] if releases else "",
        last_updated=last_updated,
        plugins=tuple(by_prefix.values()),
    )


def merge_metadata(parts: Sequence[Metadata]) -> Metadata:
    """One document for several sources, the first part first (search order).

    The union of ``versions`` (in Maven's order); ``latest`` and ``release`` the highest of all versions and of
    the parts' own; the newest ``lastUpdated``; plugins by prefix, the first part's entry winning; for
    snapshot metadata, the newest build's fields whole (builds are never mixed)."""
    if not parts:
        return Metadata()
    versions = tuple(sorted(dict.fromkeys(v for part in parts for v in part.versions), key=version_key))
    latest = _highest([*versions, *(part.latest for part in parts)])
    release = _highest(
        [v for v in versions if not is_snapshot(v)] + [p.release for p in parts if not is_snapshot(p.release)]
    )
    plugins: dict[str, PluginEntry] = {}
    for part in parts:
        for plugin in part.plugins:
            plugins.setdefault(plugin.prefix, plugin)
    with_snapshot = [part for part in parts if part.snapshot is not None]
    newest = max(with_snapshot, key=lambda part: part.snapshot.order if part.snapshot else ("", 0), default=None)
    return Metadata(
        group_id=next((part.group_id for part in parts if part.group_id), ""),
        artifact_id=next((part.artifact_id for part in parts if part.artifact_id), ""),
        version=next((part.version for part in parts if part.version), ""),
        versions=versions,
        latest=latest,
        release=release,
        last_updated=max((part.last_updated for part in parts), default=""),
        snapshot=newest.snapshot if newest else None,
        snapshot_files=newest.snapshot_files if newest else (),
        plugins=tuple(plugins.values()),
    )


def snapshot_metadata(
    group_id: str, artifact_id: str, base_version: str, files: Iterable[tuple[ArtifactFile, str]]
) -> Metadata:
    """V-level metadata of snapshot ``base_version`` from its stored files and their upload times (ISO).

    ``snapshot`` is the newest build; each ``(classifier, extension)`` gets one ``snapshotVersion``: the newest
    build that holds such a file. Files without a timestamped version (``a-1.0-SNAPSHOT.jar``) are left out."""
    newest: SnapshotBuild | None = None
    chosen: dict[tuple[str, str], tuple[tuple[str, int], SnapshotFile]] = {}
    updated_all = ""
    for file, uploaded in files:
        if (file.group_id, file.artifact_id, file.version) != (group_id, artifact_id, base_version):
            raise MetadataError(f"{file.path} is not a file of {group_id}:{artifact_id}:{base_version}")
        build = snapshot_build(base_version, file.unique_version)
        if build is None:
            continue
        updated = last_updated(uploaded)
        updated_all = max(updated_all, updated)
        if newest is None or build.order > newest.order:
            newest = build
        key = (file.classifier, file.extension)
        entry = SnapshotFile(file.classifier, file.extension, file.unique_version, updated)
        if key not in chosen or (build.order, updated) > (chosen[key][0], chosen[key][1].updated):
            chosen[key] = (build.order, entry)
    return Metadata(
        group_id=group_id,
        artifact_id=artifact_id,
        version=base_version,
        last_updated=updated_all,
        snapshot=newest,
        snapshot_files=tuple(chosen[key][1] for key in sorted(chosen)),
    )
