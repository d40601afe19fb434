"""What the feed keeps of an upstream NuGet version's metadata, in the shape of a registration ``catalogEntry``.

Both kinds of NuGet upstream are read into this one shape (a v2 gallery's entry properties are converted
first), so the feed renders registrations and v2 entries of upstream versions the way it renders its own:

``id`` (as the upstream spells it), ``version`` (full: build metadata kept), ``listed`` (bool), ``published``
(as sent), ``description``, ``summary``, ``title``, ``authors`` (text), ``tags`` (list), ``projectUrl``,
``licenseUrl``, ``iconUrl``, ``licenseExpression``, ``requireLicenseAcceptance``, ``minClientVersion``,
``language``, ``copyright``, ``releaseNotes``, ``dependencyGroups`` (``[{targetFramework?, dependencies:
[{id, range?}]}]``), ``deprecation`` (``{reasons, message?, alternatePackage?: {id, range?}}``) and
``vulnerabilities`` (``[{advisoryUrl, severity}]``).

Descriptive fields that are not of their type or over their limit are left out; dependency groups that are
not well formed make the version refused (a client would restore something else than the package says).
Upstream API addresses (``@id``, ``registration``, ``packageContent``) are never kept. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from feed_core.domain.errors import BadRequestError
from feed_core.domain.nuget_versions import RANGE_MAX, parse_range, validate_id

TEXT_LIMITS = {
    "description": 4000,
    "summary": 4000,
    "title": 256,
    "authors": 4000,
    "licenseExpression": 512,
    "minClientVersion": 64,
    "language": 32,
    "copyright": 4000,
    "releaseNotes": 35000,
}
URL_FIELDS = ("projectUrl", "licenseUrl", "iconUrl")
URL_MAX = 2048
MAX_TAGS_CHARS = 4000
MAX_GROUPS = 200
MAX_DEPENDENCIES = 2000
MAX_DEPRECATION_REASONS = 10
MAX_VULNERABILITIES = 200
#: Year the public gallery gives the ``published`` time of unlisted versions.
UNLISTED_YEAR = "1900"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: object, limit: int) -> str | None:
    if isinstance(value, str) and len(value) <= limit and not _CONTROL.search(value):
        return value
    return None


def _package_id(value: object) -> str | None:
    """A valid NuGet id, else ``None``: the feed renders its own URLs from dependency ids."""
    if not isinstance(value, str):
        return None
    try:
        return validate_id(value)
    except BadRequestError:
        return None


def _range(value: object) -> str | None:
    """A version range NuGet reads, as given, else ``None`` (v2 entries join ranges with ``:`` and ``|``, so
    free text there could add a dependency the package does not have)."""
    text = _text(value, RANGE_MAX)
    if text is None:
        return None
    try:
        parse_range(text)
    except BadRequestError:
        return None
    return text


def _http_url(value: object) -> str | None:
    text = _text(value, URL_MAX)
    return text if text is not None and text.startswith(("http://", "https://")) else None


def _tags(value: object) -> list[str] | None:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        return None
    if sum(len(t) for t in value) > MAX_TAGS_CHARS:
        return None
    return [t for t in value if t and not _CONTROL.search(t)]


def is_unlisted_time(published: object) -> bool:
    """The public gallery marks unlisted versions by a ``published`` time in 1900."""
    return isinstance(published, str) and published.startswith(UNLISTED_YEAR + "-")


def dependency_groups(value: object) -> tuple[list[dict[str, Any]], str | None]:
    """``(groups, None)`` for well-formed ``dependencyGroups``, else ``([], why)``."""
    if value is None:
        return [], None
    if not isinstance(value, list) or len(value) > MAX_GROUPS:
        return [], f"its dependencyGroups is not a list of at most {MAX_GROUPS} groups"
    groups: list[dict[str, Any]] = []
    total = 0
    for i, group in enumerate(value):
        if not isinstance(group, dict):
            return [], f"its dependencyGroups[{i}] is not an object"
        out: dict[str, Any] = {}
        framework = group.get("targetFramework")
        if framework not in (None, ""):
            if _text(framework, 256) is None or any(c in framework for c in ":|"):  # v2 joins them with these
                return [], f"its dependencyGroups[{i}].targetFramework is not a short text"
            out["targetFramework"] = framework
        deps = group.get("dependencies") or []
        if not isinstance(deps, list):
            return [], f"its dependencyGroups[{i}].dependencies is not a list"
        total += len(deps)
        if total > MAX_DEPENDENCIES:
            return [], f"it lists more than {MAX_DEPENDENCIES} dependencies"
        kept = []
        for j, dep in enumerate(deps):
            dep_id = _package_id(dep.get("id")) if isinstance(dep, dict) else None
            if not isinstance(dep, dict) or not dep_id:
                return [], f"its dependencyGroups[{i}].dependencies[{j}] has no valid id"
            entry = {"id": dep_id}
            spec = dep.get("range")
            if spec not in (None, ""):
                if _range(spec) is None:
                    return [], f"its dependencyGroups[{i}].dependencies[{j}].range is not a version range"
                entry["range"] = spec
            kept.append(entry)
        out["dependencies"] = kept
        groups.append(out)
    return groups, None


def _deprecation(value: object) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    reasons = value.get("reasons")
    if not isinstance(reasons, list) or not 0 < len(reasons) <= MAX_DEPRECATION_REASONS:
        return None
    kept_reasons = [r for r in reasons if _text(r, 64)]
    if not kept_reasons:
        return None
    out: dict[str, Any] = {"reasons": kept_reasons}
    message = _text(value.get("message"), TEXT_LIMITS["description"])
    if message:
        out["message"] = message
    alternate = value.get("alternatePackage")
    if isinstance(alternate, dict) and _package_id(alternate.get("id")):
        alt: dict[str, Any] = {"id": alternate["id"]}
        spec = _text(alternate.get("range"), RANGE_MAX)
        if spec:
            alt["range"] = spec
        out["alternatePackage"] = alt
    return out


def _vulnerabilities(value: object) -> list[dict[str, str]] | None:
    if not isinstance(value, list) or len(value) > MAX_VULNERABILITIES:
        return None
    out = []
    for item in value:
        if not isinstance(item, dict):
            continue
        url = _http_url(item.get("advisoryUrl"))
        severity = item.get("severity")
        if isinstance(severity, int) and not isinstance(severity, bool):
            severity = str(severity)
        if url and severity in ("0", "1", "2", "3"):
            out.append({"advisoryUrl": url, "severity": severity})
    return out


def version_manifest(entry: Mapping[str, Any], package_id: str, full_version: str) -> tuple[dict[str, Any], str | None]:
    """The metadata kept of one upstream version (``catalogEntry`` shape), or ``({}, why)`` to refuse it.

    ``package_id``/``full_version``: the identity already checked against the package asked for."""
    groups, problem = dependency_groups(entry.get("dependencyGroups"))
    if problem is not None:
        return {}, problem
    published = entry.get("published")
    listed = entry.get("listed")
    manifest: dict[str, Any] = {
        "id": package_id,
        "version": full_version,
        "listed": listed if isinstance(listed, bool) else not is_unlisted_time(published),
    }
    if _text(published, 64):
        manifest["published"] = published
    for field, limit in TEXT_LIMITS.items():
        value = entry.get(field)
        if field == "authors" and isinstance(value, list) and all(isinstance(a, str) for a in value):
            value = ", ".join(value)
        text = _text(value, limit)
        if text:
            manifest[field] = text
    for field in URL_FIELDS:
        url = _http_url(entry.get(field))
        if url:
            manifest[field] = url
    tags = _tags(entry.get("tags"))
    if tags:
        manifest["tags"] = tags
    if isinstance(entry.get("requireLicenseAcceptance"), bool):
        manifest["requireLicenseAcceptance"] = entry["requireLicenseAcceptance"]
    if groups:
        manifest["dependencyGroups"] = groups
    deprecation = _deprecation(entry.get("deprecation"))
    if deprecation:
        manifest["deprecation"] = deprecation
    vulnerabilities = _vulnerabilities(entry.get("vulnerabilities"))
    if vulnerabilities:
        manifest["vulnerabilities"] = vulnerabilities
    return manifest, None
