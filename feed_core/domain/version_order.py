"""Version numbers in each protocol's own order, and which of a package's versions counts as its newest."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from feed_core.domain import cargo_versions, maven_versions, semver

_MAVEN_PRERELEASE = re.compile(
    r"(?i)(snapshot|alpha|beta|milestone|preview|\brc\d*\b|\bcr\d*\b|[.-]m\d+\b|[.-][ab]\d+\b)"
)


def ascending(protocol: str, numbers: list[str]) -> list[str]:
    """Versions oldest first in the protocol's own order (PEP 440 for Python, Maven's ComparableVersion order for
    Maven, SemVer precedence for Cargo and the rest; unreadable ones first)."""
    if protocol == "maven":
        return sorted(numbers, key=maven_versions.version_key)
    if protocol == "cargo":
        return sorted(numbers, key=cargo_versions.version_key)
    if protocol != "pypi":
        return semver.sort_versions(numbers)

    def key(number: str) -> tuple[int, Version | str]:
        try:
            return 1, Version(number)
        except InvalidVersion:
            return 0, number

    return sorted(numbers, key=key)  # a Version and a str are never compared: the first items differ


def is_prerelease(protocol: str, number: str) -> bool:
    if protocol == "pypi":
        try:
            return Version(number).is_prerelease
        except InvalidVersion:
            return False
    if protocol == "maven":
        return bool(_MAVEN_PRERELEASE.search(number))
    return "-" in number.split("+", 1)[0]  # SemVer, and NuGet's SemVer-like numbers


def newest(protocol: str, numbers: list[str]) -> str | None:
    """The highest release in the protocol's order, else the highest prerelease; ``None`` for no numbers."""
    ordered = ascending(protocol, numbers)
    releases = [n for n in ordered if not is_prerelease(protocol, n)]
    return (releases or ordered)[-1] if ordered else None
