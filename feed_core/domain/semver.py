"""Semantic Versioning 2.0 parsing and ordering, as npm uses it for versions and ``latest``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from feed_core.domain.errors import BadRequestError

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
MAX_VERSION_LENGTH = 256


@functools.total_ordering
@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...]
    build: tuple[str, ...]

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after any of its prereleases; numeric identifiers sort before text ones.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def try_parse_semver(text: str) -> SemVer | None:
    if len(text) > MAX_VERSION_LENGTH:
        return None
    m = _SEMVER.match(text)
    if not m:
        return None
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    build = tuple(m.group(5).split(".")) if m.group(5) else ()
    return SemVer(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre, build)


def parse_semver(text: str) -> SemVer:
    v = try_parse_semver(text)
    if v is None:
        raise BadRequestError(f"invalid version {text[:80]!r}: not a semantic version such as 1.2.3 or 2.0.0-beta.1")
    return v


def highest(versions: list[str], *, include_prerelease: bool = False) -> str | None:
    """The highest version in the list (releases only unless asked), or ``None``."""
    parsed = [(v, p) for v in versions if (p := try_parse_semver(v)) is not None]
    candidates = [vp for vp in parsed if include_prerelease or not vp[1].is_prerelease]
    if not candidates:
        return None
    return max(candidates, key=lambda vp: vp[1])[0]


def sort_versions(versions: list[str]) -> list[str]:
    """Ascending semantic order; strings that are not semver go first, in text order."""

    def key(v: str) -> tuple[int, tuple[Any, ...], str]:
        p = try_parse_semver(v)
        return (1, p._key(), "") if p else (0, (), v)  # each key built once, compared as plain tuples

    return sorted(versions, key=key)
