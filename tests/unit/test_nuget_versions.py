"""NuGet versions, ids and dependency ranges: normalization, precedence, and what is refused."""

from __future__ import annotations

import itertools

import pytest

from feed_core.domain.errors import BadRequestError
from feed_core.domain.nuget_versions import lower_id, parse_range, parse_version, validate_id

# --- versions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalized", "full", "semver2"),
    [
        ("1", "1.0.0", "1.0.0", False),
        ("1.0", "1.0.0", "1.0.0", False),
        ("1.0.0", "1.0.0", "1.0.0", False),
        ("1.0.0.0", "1.0.0", "1.0.0", False),
        ("1.00.01", "1.0.1", "1.0.1", False),
        ("01.002.0003.0000", "1.2.3", "1.2.3", False),
        ("1.0.0.1", "1.0.0.1", "1.0.0.1", False),
        ("1.2.3.4-beta", "1.2.3.4-beta", "1.2.3.4-beta", False),
        ("1.0-Beta", "1.0.0-Beta", "1.0.0-Beta", False),
        ("1.0.0-Beta.1+git", "1.0.0-Beta.1", "1.0.0-Beta.1+git", True),
        ("1.0.0-alpha.1", "1.0.0-alpha.1", "1.0.0-alpha.1", True),
        ("1.0.0+build.7", "1.0.0", "1.0.0+build.7", True),
        ("1.0.0.0+sha.abc-def", "1.0.0", "1.0.0+sha.abc-def", True),
        ("2.0.0-rc-1", "2.0.0-rc-1", "2.0.0-rc-1", False),
        ("2147483647.0.0", "2147483647.0.0", "2147483647.0.0", False),
    ],
)
def test_normalization(text: str, normalized: str, full: str, semver2: bool) -> None:
    version = parse_version(text)
    assert version.normalized == normalized
    assert version.full == full
    assert version.lower == normalized.lower()
    assert version.is_semver2 is semver2
    assert version.original == text
    assert str(version) == full


def test_parts_and_prerelease() -> None:
    version = parse_version("1.2.3.4-Beta.2+meta")
    assert (version.major, version.minor, version.patch, version.revision) == (1, 2, 3, 4)
    assert version.release == ("Beta", "2")
    assert version.metadata == "meta"
    assert version.is_prerelease
    assert not parse_version("1.2.3+meta").is_prerelease


def test_ordering() -> None:
    texts = [
        "0.9",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.0.1",
        "1.0.1-0",
        "1.0.1",
        "1.10.0",
        "2.0",
    ]
    versions = [parse_version(text) for text in texts]
    assert sorted(versions[1::2] + versions[::2]) == versions
    for lower, higher in itertools.pairwise(versions):
        assert lower < higher, (lower, higher)
        assert higher > lower
        assert lower != higher


def test_numeric_labels_sort_before_text_and_numerically() -> None:
    assert parse_version("1.0.0-2") < parse_version("1.0.0-10") < parse_version("1.0.0-a")
    assert parse_version("1.0.0-beta.2") < parse_version("1.0.0-beta.10") < parse_version("1.0.0-beta.x")


def test_labels_beyond_int32_compare_as_text_like_the_client() -> None:
    # Nightly builds use timestamps as labels; the client compares those beyond int32 as text.
    assert parse_version("1.0.0-5") < parse_version("1.0.0-3000000000") < parse_version("1.0.0-a")
    assert parse_version("1.0.0-99999999999") > parse_version("1.0.0-100000000000")
    assert parse_version("1.0.0-20240101123456") < parse_version("1.0.0-20240101123457")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0", "1.0.0"),
        ("1.0.0.0", "1"),
        ("1.00.01", "1.0.1"),
        ("1.0.0-Beta", "1.0.0-beta"),
        ("1.0.0-RC.1", "1.0.0-rc.1"),
        ("1.0.0+one", "1.0.0+two"),
        ("1.0.0", "1.0.0+meta"),
    ],
)
def test_equal_versions(a: str, b: str) -> None:
    assert parse_version(a) == parse_version(b)
    assert hash(parse_version(a)) == hash(parse_version(b))
    assert len({parse_version(a), parse_version(b)}) == 1
    assert not parse_version(a) < parse_version(b)


def test_version_is_not_equal_to_a_string() -> None:
    assert parse_version("1.0.0") != "1.0.0"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        (" 1.0", "whitespace"),
        ("1.0 ", "whitespace"),
        ("1. 0", "whitespace"),
        ("1.0.0.0.0", "at most 4"),
        ("1.2.3.4.5-beta", "at most 4"),
        ("2147483648.0.0", "larger than 2147483647"),
        ("1.99999999999", "larger than"),
        ("1.0.0-", "release labels"),
        ("1.0.0-beta..1", "release labels"),
        ("1.0.0-beta_1", "release labels"),
        ("1.0.0-bêta", "release labels"),
        ("1.0.0+", "release labels"),
        ("1.0.0+a..b", "release labels"),
        ("1.0.0-01", "leading zero"),
        ("v1.0", "start with numbers"),
        ("1..0", "start with numbers"),
        (".1", "start with numbers"),
        ("1.", "start with numbers"),
        ("-1.0", "start with numbers"),
        ("١.٠", "start with numbers"),  # Arabic-Indic digits are digits to Python, not to NuGet
        ("1.0.*", "start with numbers"),
        ("1" * 65, "longer than 64"),
    ],
)
def test_bad_versions(text: str, reason: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_version(text)
    assert reason in info.value.message
    assert info.value.status == 400
    if text:
        assert repr(text[:80])[:-1] in info.value.message


def test_long_bad_version_is_quoted_shortened() -> None:
    with pytest.raises(BadRequestError) as info:
        parse_version("9" * 5000)
    assert len(info.value.message) < 300


def test_numeric_label_zero_is_fine() -> None:
    assert parse_version("1.0.0-0").release == ("0",)
    assert parse_version("1.0.0-0a").release == ("0a",)
    assert parse_version("1.0.0+001").metadata == "001"


# --- ids -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["A", "Contoso.Lib", "my-package", "My_Package", "_private", "a.b-c_d.e", "x" * 100, "Package2", "1Password"],
)
def test_good_ids(text: str) -> None:
    assert validate_id(text) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("x" * 101, "longer than 100"),
        (".lib", "joined by single"),
        ("lib.", "joined by single"),
        ("-lib", "joined by single"),
        ("lib-", "joined by single"),
        ("a..b", "joined by single"),
        ("a.-b", "joined by single"),
        ("a b", "joined by single"),
        ("a/b", "joined by single"),
        ("../etc", "joined by single"),
        ("a\\b", "joined by single"),
        ("paquet-é", "joined by single"),
        ("a\x00", "joined by single"),
        ("a:b", "joined by single"),
    ],
)
def test_bad_ids(text: str, reason: str) -> None:
    with pytest.raises(BadRequestError) as info:
        validate_id(text)
    assert reason in info.value.message


def test_lower_id() -> None:
    assert lower_id("Contoso.Lib") == "contoso.lib"


# --- ranges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("1.0", "[1.0.0, )"),
        (" 1.0 ", "[1.0.0, )"),
        ("[1.0]", "[1.0.0, 1.0.0]"),
        ("[ 1.0 ]", "[1.0.0, 1.0.0]"),
        ("[1.0,1.0]", "[1.0.0, 1.0.0]"),
        ("(1.0,1.0)", "(1.0.0, 1.0.0)"),
        ("(, )", "(, )"),
        ("[ , ]", "(, )"),
        ("(1.0,2.0]", "(1.0.0, 2.0.0]"),
        ("[1.0,2.0)", "[1.0.0, 2.0.0)"),
        ("[1.0, )", "[1.0.0, )"),
        ("[1.0,)", "[1.0.0, )"),
        ("(1.0,)", "(1.0.0, )"),
        ("(, 2.0)", "(, 2.0.0)"),
        ("(,2.0]", "(, 2.0.0]"),
        ("[,2.0]", "(, 2.0.0]"),
        ("[1.0.0-beta.1, 2.0.0+meta)", "[1.0.0-beta.1, 2.0.0)"),
        ("1.0.0.0", "[1.0.0, )"),
        ("1.0.0.1", "[1.0.0.1, )"),
    ],
)
def test_range_normalized(text: str, normalized: str) -> None:
    parsed = parse_range(text)
    assert parsed.normalized == normalized
    assert parsed.original == text
    assert not parsed.is_floating
    assert parse_range(parsed.normalized).normalized == normalized  # the printed form reads back the same


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("1.0", ["1.0", "1.0.1", "99", "1.0.0+meta"], ["0.9", "1.0.0-beta"]),
        ("[1.0]", ["1.0.0", "1.0.0.0"], ["1.0.1", "0.9", "1.0.0-rc"]),
        ("(1.0,2.0]", ["1.0.1", "2.0", "2.0.0-beta"], ["1.0", "2.0.1"]),
        ("[1.0,2.0)", ["1.0", "1.9.9"], ["2.0", "0.1"]),
        ("(, 2.0)", ["0.0.1", "1.99", "2.0.0-rc.1"], ["2.0", "3.0"]),
        ("[1.0.0-Beta, )", ["1.0.0-beta", "1.0.0-BETA.2", "1.0.0"], ["1.0.0-alpha"]),
        ("(, )", ["0.0.0-0", "1.0", "99999.0"], []),
        ("(1.0,1.0)", [], ["1.0", "1.0.0-rc", "1.0.1"]),
    ],
)
def test_range_contains(text: str, inside: list[str], outside: list[str]) -> None:
    parsed = parse_range(text)
    for version in inside:
        assert parsed.contains(parse_version(version)), version
    for version in outside:
        assert not parsed.contains(parse_version(version)), version


def test_range_semver2() -> None:
    assert not parse_range("[1.0, 2.0)").is_semver2
    assert not parse_range("1.0.0-beta").is_semver2
    assert parse_range("[1.0.0-beta.1, )").is_semver2
    assert parse_range("(, 2.0.0+meta]").is_semver2
    assert parse_range("[1.0, 2.0-rc.1)").is_semver2


@pytest.mark.parametrize(
    ("text", "normalized", "inside", "outside"),
    [
        ("*", "[0.0.0, )", "0.0.0", "0.0.0-beta"),
        ("1.*", "[1.0.0, )", "1.0.0", "0.9"),
        ("1.2.*", "[1.2.0, )", "1.2.5", "1.1"),
        ("1.2.3.*", "[1.2.3, )", "1.2.3.4", "1.2.2"),
        ("1.0.0-beta*", "[1.0.0-beta, )", "1.0.0-beta.2", "1.0.0-alpha"),
        ("1.0.0-*", "[1.0.0-0, )", "1.0.0-alpha", "0.9"),
        ("1.0.0-beta.*", "[1.0.0-beta.0, )", "1.0.0-beta.1", "1.0.0-beta"),
        ("*-*", "[0.0.0-0, )", "0.0.0-alpha", None),
        ("[1.0.*, 2.0)", "[1.0.0, 2.0.0)", "1.5", "2.0"),
        ("(1.*, 2.0]", "(1.0.0, 2.0.0]", "2.0", "1.0"),
    ],
)
def test_floating_ranges_are_read_as_their_floor(text: str, normalized: str, inside: str, outside: str | None) -> None:
    parsed = parse_range(text)
    assert parsed.is_floating
    assert parsed.floating == text.strip("[()]").split(",")[0].strip()
    assert parsed.normalized == normalized
    assert "*" not in parsed.normalized
    assert parsed.contains(parse_version(inside))
    if outside is not None:
        assert not parsed.contains(parse_version(outside))


@pytest.mark.parametrize("text", ["*", "1.*", "[1.0.*, 2.0)", "1.0.0-beta*"])
def test_floating_ranges_can_be_refused(text: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_range(text, allow_floating=False)
    assert "floating versions ('*') are not accepted" in info.value.message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("(1.0)", "square brackets"),
        ("[1.0)", "square brackets"),
        ("[]", "empty"),
        ("[,]", "both bounds are empty"),
        ("(,)", "both bounds are empty"),
        ("[1.0,2.0,3.0]", "more than one comma"),
        ("[1.0,1.0)", "bounds are equal"),
        ("(1.0,1.0]", "bounds are equal"),
        ("[1.0", "does not close"),
        ("1.0]", "no opening bracket"),
        ("1.0,2.0", "no opening bracket"),
        ("[2.0,1.0]", "lower bound is above"),
        ("[1.0, 2.*)", "only a lower bound may float"),
        ("[1.0.0-beta, x)", "invalid version 'x'"),
        ("[banana]", "invalid version 'banana'"),
        ("1.*.2", "floating version"),
        ("**", "floating version"),
        ("1.0.0-be*ta", "floating version"),
        ("[" + "1" * 200 + "]", "longer than"),
    ],
)
def test_bad_ranges(text: str, reason: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_range(text)
    assert reason in info.value.message
    assert len(info.value.message) < 400
