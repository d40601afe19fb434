"""Maven version order (Maven 3.8's ``ComparableVersion``) and snapshot versions.

Order
    A version is read, lower-cased, into items: ``.`` and ``-`` separate items, and so does a change between
    digits and letters (``1.0alpha1`` is ``1, 0, alpha, 1``). A ``-`` and a digit/letter change each open a
    sub-list, which orders below a plain number (``1-1 < 1.1``) and above a qualifier (``1-1 > 1-sp``).
    Numbers compare as numbers (leading zeros ignored, no size limit); trailing "null" items (``0``, an
    empty or release qualifier, an empty sub-list) are dropped, so ``1 == 1.0 == 1-0 == 1.0.0``.
    Qualifiers: ``alpha`` (``a`` before a digit) < ``beta`` (``b``) < ``milestone`` (``m``) < ``rc`` = ``cr``
    < ``snapshot`` < the release (empty, ``ga``, ``final``, ``release``) < ``sp``; unknown qualifiers come
    after ``sp``, ordered lexically. Only ASCII digits count as digits.

    The items form a chain (every sub-list is the last item of its parent), so comparing walks them with
    an explicit stack: a version of any length compares without recursion.

Snapshots
    A snapshot version ends with ``-SNAPSHOT`` (or is ``SNAPSHOT``). Files a client deploys into its directory
    carry a *unique* version, ``-SNAPSHOT`` replaced by ``-{yyyyMMdd.HHmmss}-{buildNumber}`` (UTC).

Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, TypeAlias

__all__ = [
    "SNAPSHOT",
    "MavenVersion",
    "SnapshotBuild",
    "canonical_version",
    "compare_versions",
    "is_snapshot",
    "snapshot_build",
    "unique_version",
    "version_key",
]

SNAPSHOT = "SNAPSHOT"
_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
#: The comparable form of the release qualifier: what a missing item compares as.
_RELEASE = str(_QUALIFIERS.index(""))
_TIMESTAMP = re.compile(r"[0-9]{8}\.[0-9]{6}")
#: A build number Maven writes (an int); more digits than this is not a build a client made.
_BUILD_DIGITS = 9

# An item is an int (a number), a str (a qualifier, aliases applied) or a list (a sub-list).
_Item: TypeAlias = "int | str | list[Any]"


def _qualifier(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and text in _SHORT:
        text = _SHORT[text]
    return _ALIASES.get(text, text)


def _comparable_qualifier(value: str) -> str:
    """Known qualifiers by rank, unknown ones after all of them and lexically among themselves."""
    try:
        return str(_QUALIFIERS.index(value))
    except ValueError:
        return f"{len(_QUALIFIERS)}-{value}"


def _is_null(item: _Item) -> bool:
    if isinstance(item, list):
        return not item
    if isinstance(item, int):
        return item == 0
    return item == ""


def _parse_item(is_digit: bool, text: str) -> _Item:
    return int(text) if is_digit else _qualifier(text, followed_by_digit=False)


def _normalize(items: list[_Item]) -> None:
    """Drop trailing null items; a non-null sub-list at the end does not stop the sweep (``1.0-1`` is ``1-1``)."""
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if _is_null(item):
            del items[i]
        elif not isinstance(item, list):
            break


def _parse(version: str) -> list[_Item]:
    text = version.lower()
    items: list[_Item] = []
    current = items
    lists = [items]
    is_digit = False
    start = 0

    def open_list() -> None:
        nonlocal current
        sub: list[_Item] = []
        current.append(sub)
        current = sub
        lists.append(sub)

    for i, char in enumerate(text):
        if char in ".-":
            current.append(0 if i == start else _parse_item(is_digit, text[start:i]))
            start = i + 1
            if char == "-":
                open_list()
        elif "0" <= char <= "9":
            if not is_digit and i > start:
                current.append(_qualifier(text[start:i], followed_by_digit=True))
                start = i
                open_list()
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(_parse_item(True, text[start:i]))
                start = i
                open_list()
            is_digit = False
    if len(text) > start:
        current.append(_parse_item(is_digit, text[start:]))
    while lists:  # innermost first, as Maven does
        _normalize(lists.pop())
    return items


def _compare_leaf(left: int | str, right: _Item | None) -> int:
    """A number or qualifier against any item or a missing one (``None``)."""
    if isinstance(left, int):
        if right is None:
            return 1 if left else 0  # 1.0 == 1, 1.1 > 1
        if isinstance(right, int):
            return (left > right) - (left < right)
        return 1  # 1.1 > 1-sp, 1.1 > 1-1
    mine = _comparable_qualifier(left)
    if right is None:
        return (mine > _RELEASE) - (mine < _RELEASE)  # 1-rc < 1, 1-sp > 1
    if isinstance(right, str):
        theirs = _comparable_qualifier(right)
        return (mine > theirs) - (mine < theirs)
    return -1  # 1.rc < 1.1, 1.rc < 1-1


_Pair: TypeAlias = "tuple[_Item | None, _Item | None, int]"


def _pairs(left: list[_Item], right: list[_Item] | None, sign: int) -> Iterator[_Pair]:
    if right is None:
        for item in left:
            yield item, None, sign
    else:
        for a, b in zip_longest(left, right):
            yield a, b, sign


def _compare(left: list[_Item], right: list[_Item]) -> int:
    """Maven's ListItem comparison, depth first, the first difference deciding."""
    pending: list[Iterator[_Pair]] = [_pairs(left, right, 1)]
    while pending:
        pair = next(pending[-1], None)
        if pair is None:
            pending.pop()
            continue
        a, b, sign = pair
        if a is None:
            if b is None:
                continue
            a, b, sign = b, None, -sign  # the shorter side: compare the other way round
        if isinstance(a, list):
            if b is None or isinstance(b, list):
                pending.append(_pairs(a, b, sign))
                continue
            result = -1 if isinstance(b, int) else 1  # 1-1 < 1.1, 1-1 > 1-sp
        else:
            result = _compare_leaf(a, b)
        if result:
            return sign * result
    return 0


def _canonical(items: list[_Item]) -> str:
    out: list[str] = []
    node: list[_Item] | None = items
    while node is not None:
        length = 0  # of this list's own text: a separator goes only after something
        sub: list[_Item] | None = None
        for item in node:
            if isinstance(item, list):
                if length:
                    out.append("-")
                sub = item
            else:
                text = str(item)
                if length:
                    out.append(".")
                    length += 1
                out.append(text)
                length += len(text)
        node = sub
    return "".join(out)


@functools.total_ordering
class MavenVersion:
    """A version as Maven orders it; equal when Maven's canonical forms are equal (as ``ComparableVersion``)."""

    __slots__ = ("_items", "canonical", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._items = _parse(text)
        self.canonical = _canonical(self._items)

    def compare(self, other: MavenVersion) -> int:
        return _compare(self._items, other._items)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, MavenVersion):
            return NotImplemented
        return self.compare(other) < 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MavenVersion):
            return NotImplemented
        return self.canonical == other.canonical

    def __hash__(self) -> int:
        return hash(self.canonical)

    def __repr__(self) -> str:
        return f"MavenVersion({self.text!r})"


def version_key(version: str) -> MavenVersion:
    """Sort key in Maven's order: ``sorted(versions, key=version_key)``."""
    return MavenVersion(version)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is lower than, equal to or higher than ``b`` in Maven's order."""
    result = MavenVersion(a).compare(MavenVersion(b))
    return (result > 0) - (result < 0)


def canonical_version(version: str) -> str:
    """Maven's canonical text of ``version`` (``1.0-alpha-1`` is ``1-alpha-1``)."""
    return MavenVersion(version).canonical


def is_snapshot(version: str) -> bool:
    """A snapshot directory version: ``…-SNAPSHOT`` or ``SNAPSHOT`` (the case as Maven writes it)."""
    return version == SNAPSHOT or version.endswith("-" + SNAPSHOT)


@dataclass(frozen=True)
class SnapshotBuild:
    """One deployed build of a snapshot: ``1.0-SNAPSHOT`` built at ``20240101.120000``, build 3."""

    base_version: str
    timestamp: str  # yyyyMMdd.HHmmss, UTC
    build_number: int

    @property
    def unique_version(self) -> str:
        """``1.0-20240101.120000-3``: the version in the build's file names."""
        return unique_version(self.base_version, self.timestamp, self.build_number)

    @property
    def order(self) -> tuple[str, int]:
        """Newer builds sort higher."""
        return self.timestamp, self.build_number


def _stem(base_version: str) -> str:
    """What precedes the timestamp: ``1.0-`` for ``1.0-SNAPSHOT``, nothing for ``SNAPSHOT``."""
    return base_version[: -len(SNAPSHOT)]


def unique_version(base_version: str, timestamp: str, build_number: int) -> str:
    return f"{_stem(base_version)}{timestamp}-{build_number}"


def snapshot_build(base_version: str, unique_version: str) -> SnapshotBuild | None:
    """The build ``unique_version`` names in snapshot ``base_version``; ``None`` when it is not timestamped."""
    if not is_snapshot(base_version):
        return None
    stem = _stem(base_version)
    if not unique_version.startswith(stem):
        return None
    timestamp, dash, number = unique_version[len(stem) :].partition("-")
    if (
        not dash
        or not _TIMESTAMP.fullmatch(timestamp)
        or not number.isascii()
        or not number.isdigit()
        or len(number) > _BUILD_DIGITS
    ):
        return None
    return SnapshotBuild(base_version, timestamp, int(number))
