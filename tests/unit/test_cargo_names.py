"""Crate names: which are valid, when two clash, and the index paths cargo asks for."""

from __future__ import annotations

import pytest

from feed_core.domain.cargo_names import (
    MAX_NAME,
    CrateNameError,
    canonical_name,
    index_path,
    name_from_index_path,
    validate_crate_name,
)


@pytest.mark.parametrize(
    "name", ["a", "serde", "Serde_Json", "foo-bar", "x1", "a" * MAX_NAME, "std", "core", "nul", "con", "a__-"]
)
def test_valid_names_come_back_unchanged(name: str) -> None:
    assert validate_crate_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("1abc", "must start with an ASCII letter"),
        ("-abc", "must start with an ASCII letter"),
        ("_abc", "must start with an ASCII letter"),
        ("a" * (MAX_NAME + 1), "65 characters long; at most 64"),
        ("café", "not ASCII"),
        ("ａbc", "not ASCII"),  # fullwidth letter
        ("a.b", "only ASCII letters, digits"),
        ("a b", "only ASCII letters, digits"),
        ("a/b", "only ASCII letters, digits"),
        ("../etc", "must start with an ASCII letter"),
        ("abc\n", "only ASCII letters, digits"),
        ("abc\x00", "only ASCII letters, digits"),
    ],
)
def test_invalid_names_say_why(name: str, why: str) -> None:
    with pytest.raises(CrateNameError, match=why):
        validate_crate_name(name)


def test_a_very_long_name_is_shown_shortened() -> None:
    with pytest.raises(CrateNameError) as caught:
        validate_crate_name("a" * 10_000)
    assert len(str(caught.value)) < 200


def test_names_clash_ignoring_case_and_dash_or_underscore() -> None:
    assert canonical_name("Foo_Bar") == canonical_name("foo-bar") == "foo-bar"
    assert canonical_name("foobar") != canonical_name("foo-bar")


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("a", "1/a"),
        ("AB", "2/ab"),
        ("abc", "3/a/abc"),
        ("Cargo", "ca/rg/cargo"),
        ("abcd", "ab/cd/abcd"),
        ("serde_json", "se/rd/serde_json"),
        ("a-b_c", "a-/b_/a-b_c"),
    ],
)
def test_index_paths_follow_the_length_tiers_lower_cased(name: str, path: str) -> None:
    assert index_path(name) == path
    assert name_from_index_path(path) == name.lower()


@pytest.mark.parametrize(
    "path",
    [
        "3/b/abc",  # wrong first letter
        "ab/ce/abcd",
        "2/abc",
        "1/ab",
        "abcd",
        "ab/cd/ABCD",  # only the lower-case path exists
        "AB/CD/abcd",
        "ab/cd/../abcd",
        "/ab/cd/abcd",
        "ab/cd/abcd/",
        "x/ab/cd/abcd",
        "ab/cd/ab.d",
        "",
    ],
)
def test_paths_that_are_not_a_crate_s_index_path_are_refused(path: str) -> None:
    with pytest.raises(CrateNameError):
        name_from_index_path(path)
