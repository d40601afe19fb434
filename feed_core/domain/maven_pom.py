"""What the feed reads of a deployed POM, and the check that it describes the path it is deployed to.

A POM is read with ``safe_xml`` (no DTD, no entities, bounded depth and size); its root must be ``<project>``
(the namespace is optional and ignored). ``groupId`` and ``version`` missing from the project come from its
``<parent>``, as Maven inherits them. ``packaging`` defaults to ``jar``. ``name`` and ``description`` are kept
for the version's manifest, cut to ``NAME_MAX`` / ``DESCRIPTION_MAX`` characters.

The check compares groupId, artifactId and version with the path's (a snapshot build's POM may name the build's
unique version as well as ``-SNAPSHOT``); a value that still holds a property
reference (``${revision}``) cannot be compared and is not.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.entities import name2codepoint
from xml.etree.ElementTree import Element

from feed_core.domain.maven_layout import ArtifactFile
from feed_core.domain.safe_xml import UnsafeXml, parse_xml

__all__ = ["DESCRIPTION_MAX", "NAME_MAX", "PomError", "PomInfo", "check_pom", "read_pom"]

NAME_MAX = 256
DESCRIPTION_MAX = 4000
_SHOWN = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,8});")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}


class PomError(ValueError):
    """A POM this feed does not accept; the message says what is wrong."""


@dataclass(frozen=True)
class PomInfo:
    group_id: str
    artifact_id: str
    version: str
    packaging: str
    name: str
    description: str


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next((child for child in element if _local(child.tag) == name), None)


def _text(element: Element | None, name: str) -> str:
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""


def _descriptive(text: str, limit: int) -> str:
    text = _CONTROL.sub("", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _character_entities(data: bytes) -> bytes:
    """Maven's own POM reader knows the XHTML character entities without a DTD, and public POMs use them
    (``Laugst&oslash;l``, ``&ndash;``, ``&copy;``): each becomes its character reference. Any other entity stays
    undefined, and the POM is refused."""

    def reference(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode("ascii")
        code = name2codepoint.get(name)
        return f"&#{code};".encode("ascii") if code is not None and name not in _XML_ENTITIES else match.group(0)

    return _NAMED_ENTITY.sub(reference, data) if b"&" in data else data


def _project(data: bytes) -> Element:
    """The ``<project>`` root of a POM; ``PomError`` says why ``data`` is not one."""
    try:
        root = parse_xml(_character_entities(data))
    except UnsafeXml as exc:
        raise PomError(f"the POM {exc}") from None
    if _local(root.tag) != "project":
        raise PomError(f"the POM's root element is <{_local(root.tag)[:40]}>, not <project>")
    return root


def read_pom(data: bytes) -> PomInfo:
    """The coordinates and description ``data`` holds; ``PomError`` says why it is not a POM the feed accepts."""
    root = _project(data)
    parent = _child(root, "parent")
    group_id = _text(root, "groupId") or _text(parent, "groupId")
    artifact_id = _text(root, "artifactId")
    version = _text(root, "version") or _text(parent, "version")
    for kind, value in (("groupId", group_id), ("artifactId", artifact_id), ("version", version)):
        if not value:
            inherited = " (nor its <parent>)" if kind != "artifactId" else ""
            raise PomError(f"the POM names no {kind}: <project>{inherited} has no <{kind}>")
        if _CONTROL.search(value) or len(value) > 1000:
            raise PomError(f"the POM's {kind} {_shown(value)} is not a valid {kind}")
    return PomInfo(
        group_id=group_id,
        artifact_id=artifact_id,
        version=version,
        packaging=_descriptive(_text(root, "packaging"), NAME_MAX) or "jar",
        name=_descriptive(_text(root, "name"), NAME_MAX),
        description=_descriptive(_text(root, "description"), DESCRIPTION_MAX),
    )


@dataclass(frozen=True)
class PomDependency:
    group_id: str
    artifact_id: str
    version: str  # as written: a range, a ${property}, or empty when a parent or BOM manages it
    scope: str
    optional: bool


#: At most this many dependencies are read from one POM.
MAX_POM_DEPENDENCIES = 500


def read_dependencies(data: bytes) -> list[PomDependency]:
    """The dependencies a POM declares for itself (``<project><dependencies>``, not the managed ones), each
    field bounded; ``PomError`` when ``data`` is not a POM the feed accepts."""
    root = _project(data)
    found: list[PomDependency] = []
    for dep in _child(root, "dependencies") or []:
        if _local(dep.tag) != "dependency":
            continue
        group_id, artifact_id = (
            _descriptive(_text(dep, "groupId"), NAME_MAX),
            _descriptive(_text(dep, "artifactId"), NAME_MAX),
        )
        if not group_id or not artifact_id:
            continue
        found.append(
            PomDependency(
                group_id=group_id,
                artifact_id=artifact_id,
                version=_descriptive(_text(dep, "version"), NAME_MAX),
                scope=_descriptive(_text(dep, "scope"), 40) or "compile",
                optional=_text(dep, "optional").lower() == "true",
            )
        )
        if len(found) >= MAX_POM_DEPENDENCIES:
            break
    return found


def check_pom(info: PomInfo, file: ArtifactFile) -> None:
    """``PomError`` unless ``info`` describes the coordinate and version of the path ``file`` came from."""
    for kind, in_pom, in_path in (
        ("groupId", info.group_id, file.group_id),
        ("artifactId", info.artifact_id, file.artifact_id),
        ("version", info.version, file.version),
    ):
        if "${" in in_pom or (kind == "version" and in_pom == file.unique_version):
            continue
        if in_pom != in_path:
            raise PomError(f"the POM's {kind} {_shown(in_pom)} does not match the path's {in_path!r}")
