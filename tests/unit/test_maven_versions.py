"""Maven version order: the cases of Maven 3.8's ComparableVersionTest, then snapshot versions."""

from __future__ import annotations

import itertools

import pytest

from feed_core.domain.maven_versions import (
    MavenVersion,
    SnapshotBuild,
    canonical_version,
    compare_versions,
    is_snapshot,
    snapshot_build,
    version_key,
)

VERSIONS_QUALIFIER = [
    "1-alpha2snapshot",
    "1-alpha2",
    "1-alpha-123",
    "1-beta-2",
    "1-beta123",
    "1-m2",
    "1-m11",
    "1-rc",
    "1-cr2",
    "1-rc123",
    "1-SNAPSHOT",
    "1",
    "1-sp",
    "1-sp2",
    "1-sp123",
    "1-abc",
    "1-def",
    "1-pom-1",
    "1-1-snapshot",
    "1-1",
    "1-2",
    "1-123",
]

VERSIONS_NUMBER = [
    "2.0",
    "2-1",
    "2.0.a",
    "2.0.0.a",
    "2.0.2",
    "2.0.123",
    "2.1.0",
    "2.1-a",
    "2.1b",
    "2.1-c",
    "2.1-1",
    "2.1.0.1",
    "2.2",
    "2.123",
    "11.a2",
    "11.a11",
    "11.b2",
    "11.b11",
    "11.m2",
    "11.m11",
    "11",
    "11.a",
    "11b",
    "11c",
    "11m",
]


def _checked(version: str) -> MavenVersion:
    """As Maven's test: the canonical form reads back to itself."""
    parsed = MavenVersion(version)
    assert canonical_version(parsed.canonical) == parsed.canonical, version
    return parsed


def _check_order(low: str, high: str) -> None:
    a, b = _checked(low), _checked(high)
    assert a.compare(b) < 0, f"expected {low} < {high}"
    assert b.compare(a) > 0, f"expected {high} > {low}"
    assert compare_versions(low, high) == -1
    assert compare_versions(high, low) == 1
    assert a < b and b > a and a != b


def _check_equal(v1: str, v2: str) -> None:
    a, b = _checked(v1), _checked(v2)
    assert a.compare(b) == 0, f"expected {v1} == {v2}"
    assert b.compare(a) == 0, f"expected {v2} == {v1}"
    assert compare_versions(v1, v2) == 0
    assert hash(a) == hash(b)
    assert a == b and b == a


@pytest.mark.parametrize("versions", [VERSIONS_QUALIFIER, VERSIONS_NUMBER], ids=["qualifier", "number"])
def test_versions_order(versions: list[str]) -> None:
    for i, low in enumerate(versions):
        for high in versions[i + 1 :]:
            _check_order(low, high)


@pytest.mark.parametrize("versions", [VERSIONS_QUALIFIER, VERSIONS_NUMBER], ids=["qualifier", "number"])
def test_sorting_with_the_key_gives_maven_order(versions: list[str]) -> None:
    mixed = versions[1::2] + versions[0::2][::-1]
    assert sorted(mixed, key=version_key) == versions
    descending = versions[::-1]
    assert sorted(descending, key=version_key) == versions


@pytest.mark.parametrize(
    ("v1", "v2"),
    [
        ("1", "1"),
        ("1", "1.0"),
        ("1", "1.0.0"),
        ("1.0", "1.0.0"),
        ("1", "1-0"),
        ("1", "1.0-0"),
        ("1.0", "1.0-0"),
        # no separator between number and character
        ("1a", "1-a"),
        ("1a", "1.0-a"),
        ("1a", "1.0.0-a"),
        ("1.0a", "1-a"),
        ("1.0.0a", "1-a"),
        ("1x", "1-x"),
        ("1x", "1.0-x"),
        ("1x", "1.0.0-x"),
        ("1.0x", "1-x"),
        ("1.0.0x", "1-x"),
        # aliases
        ("1ga", "1"),
        ("1release", "1"),
        ("1final", "1"),
        ("1cr", "1rc"),
        # a, b and m stand for alpha, beta and milestone before a digit
        ("1a1", "1-alpha-1"),
        ("1b2", "1-beta-2"),
        ("1m3", "1-milestone-3"),
        # case insensitive
        ("1X", "1x"),
        ("1A", "1a"),
        ("1B", "1b"),
        ("1M", "1m"),
        ("1Ga", "1"),
        ("1GA", "1"),
        ("1RELEASE", "1"),
        ("1RELeaSE", "1"),
        ("1Final", "1"),
        ("1FinaL", "1"),
        ("1FINAL", "1"),
        ("1Cr", "1Rc"),
        ("1cR", "1rC"),
        ("1m3", "1Milestone3"),
        ("1m3", "1MileStone3"),
        ("1m3", "1MILESTONE3"),
        # locale independent: every letter lower-cases as in English
        ("1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    ],
)
def test_versions_equal(v1: str, v2: str) -> None:
    _check_equal(v1, v2)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("1", "2"),
        ("1.5", "2"),
        ("1", "2.5"),
        ("1.0", "1.1"),
        ("1.1", "1.2"),
        ("1.0.0", "1.1"),
        ("1.0.1", "1.1"),
        ("1.1", "1.2.0"),
        ("1.0-alpha-1", "1.0"),
        ("1.0-alpha-1", "1.0-alpha-2"),
        ("1.0-alpha-1", "1.0-beta-1"),
        ("1.0-beta-1", "1.0-SNAPSHOT"),
        ("1.0-SNAPSHOT", "1.0"),
        ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
        ("1.0", "1.0-1"),
        ("1.0-1", "1.0-2"),
        ("1.0.0", "1.0-1"),
        ("2.0-1", "2.0.1"),
        ("2.0.1-klm", "2.0.1-lmn"),
        ("2.0.1", "2.0.1-xyz"),
        ("2.0.1", "2.0.1-123"),
        ("2.0.1-xyz", "2.0.1-123"),
    ],
)
def test_version_comparing(low: str, high: str) -> None:
    _check_order(low, high)


def test_mng_5568_order_is_transitive() -> None:
    a, b, c = "6.1.0", "6.1.0rc3", "6.1H.5-beta"  # c: a letter in the middle
    _check_order(b, a)
    _check_order(b, c)
    _check_order(a, c)


def test_mng_6572_long_numbers() -> None:
    a = "20190126.230843"  # looks like a snapshot timestamp
    b = "1234567890.12345"  # 10 digits
    c = "123456789012345.1H.5-beta"  # 15 digits
    d = "12345678901234567890.1H.5-beta"  # 20 digits
    for low, high in [(a, b), (b, c), (a, c), (c, d), (b, d), (a, d)]:
        _check_order(low, high)


@pytest.mark.parametrize("digit", ["1", "0"])
def test_leading_zeroes_do_not_matter(digit: str) -> None:
    versions = ["0" * n + digit for n in range(19)]
    for v1, v2 in itertools.combinations_with_replacement(versions, 2):
        _check_equal(v1, v2)


def test_mng_6964_qualifiers_after_a_zero() -> None:
    a, b, c = "1-0.alpha", "1-0.beta", "1"
    _check_order(a, c)
    _check_order(b, c)
    _check_order(a, b)


@pytest.mark.parametrize(
    ("version", "canonical"),
    [
        ("1.0-alpha-1", "1-alpha-1"),
        ("1.0.0", "1"),
        ("1.0-1", "1-1"),
        ("1-SNAPSHOT", "1-snapshot"),
        ("1.0a1", "1-alpha-1"),
        ("1.0.FINAL", "1"),
        ("2.1.0.RELEASE", "2.1"),
        ("00012.003", "12.3"),
    ],
)
def test_canonical_forms(version: str, canonical: str) -> None:
    assert canonical_version(version) == canonical


def test_release_and_latest_choices_differ_from_string_order() -> None:
    versions = ["1.10", "1.9", "1.10-SNAPSHOT", "1.10-rc1", "1.2"]
    assert sorted(versions, key=version_key) == ["1.2", "1.9", "1.10-rc1", "1.10-SNAPSHOT", "1.10"]
    assert max(versions, key=version_key) == "1.10"


def test_very_long_versions_compare_without_recursion() -> None:
    deep = "1" + "-a1" * 3000  # thousands of nested sub-lists
    deeper = deep + "-1"
    lower = deep + "-a2"  # an alpha of ``deep``
    assert compare_versions(deep, deeper) == -1
    assert compare_versions(deeper, deep) == 1
    assert compare_versions(deep, deep) == 0
    assert compare_versions(lower, deep) == -1
    assert sorted([deeper, deep, lower], key=version_key) == [lower, deep, deeper]


def test_odd_text_orders_without_error() -> None:
    odd = ["", "-", ".", "..", "--1", "1..2", "é", "1-é", "+", "1+build"]
    ordered = sorted(odd, key=version_key)
    assert sorted(ordered, key=version_key) == ordered
    assert compare_versions("", "0") == 0
    assert compare_versions("1..2", "1.0.2") == 0


# --- snapshots -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.0-SNAPSHOT", True),
        ("SNAPSHOT", True),
        ("1.0-alpha-1-SNAPSHOT", True),
        ("1.0", False),
        ("1.0-snapshot", False),  # the resolver only treats the upper-case suffix as a snapshot
        ("1.0SNAPSHOT", False),
        ("1.0-SNAPSHOT.1", False),
        ("1.0-20240101.120000-3", False),
    ],
)
def test_is_snapshot(version: str, expected: bool) -> None:
    assert is_snapshot(version) is expected


def test_snapshot_build_reads_timestamped_versions() -> None:
    build = snapshot_build("1.0-SNAPSHOT", "1.0-20240101.120000-3")
    assert build == SnapshotBuild("1.0-SNAPSHOT", "20240101.120000", 3)
    assert build.unique_version == "1.0-20240101.120000-3"
    assert snapshot_build("SNAPSHOT", "20240101.120000-12") == SnapshotBuild("SNAPSHOT", "20240101.120000", 12)
    later = snapshot_build("1.0-SNAPSHOT", "1.0-20240101.120000-4")
    assert later is not None and later.order > build.order


@pytest.mark.parametrize(
    ("base", "unique"),
    [
        ("1.0-SNAPSHOT", "1.0-SNAPSHOT"),  # not timestamped
        ("1.0", "1.0-20240101.120000-3"),  # not a snapshot directory
        ("1.0-SNAPSHOT", "1.1-20240101.120000-3"),  # another base
        ("1.0-SNAPSHOT", "1.0-2024010.120000-3"),
        ("1.0-SNAPSHOT", "1.0-20240101120000-3"),
        ("1.0-SNAPSHOT", "1.0-20240101.120000"),
        ("1.0-SNAPSHOT", "1.0-20240101.120000-"),
        ("1.0-SNAPSHOT", "1.0-20240101.120000-x"),
        ("1.0-SNAPSHOT", "1.0-20240101.120000-1234567890"),
        ("1.0-SNAPSHOT", "1.0-20240101.120000-٣"),  # a non-ASCII digit
    ],
)
def test_snapshot_build_refuses_what_is_not_a_build(base: str, unique: str) -> None:
    assert snapshot_build(base, unique) is None
