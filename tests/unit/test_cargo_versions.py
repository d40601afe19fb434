"""Crate versions: strict SemVer 2.0, uniqueness ignoring build metadata, precedence order."""

from __future__ import annotations

import pytest

from feed_core.domain.cargo_versions import (
    MAX_VERSION,
    CrateVersionError,
    validate_crate_version,
    version_key,
    without_build,
)


@pytest.mark.parametrize(
    "version",
    [
        "0.0.0",
        "1.2.3",
        "10.20.30",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-0.3.7",
        "1.0.0-x.7.z.92",
        "1.0.0-x-y-z.--",
        "1.0.0-alpha+001",
        "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85",
        "1.0.0+21AF26D3----117B344092BD",
        "1.0.0-0A.is.legal",
        "99999999999999999999.0.0",
    ],
)
def test_strict_semver_versions_are_valid(version: str) -> None:
    assert validate_crate_version(version) == version


@pytest.mark.parametrize(
    ("version", "why"),
    [
        ("1", "all three parts"),
        ("1.2", "all three parts"),
        ("01.2.3", "leading zeros"),
        ("1.02.3", "leading zeros"),
        ("1.2.03", "leading zeros"),
        ("1.2.3-01", "not a semantic version"),
        ("1.2.3-", "not a semantic version"),
        ("1.2.3+", "not a semantic version"),
        ("1.2.3-a..b", "not a semantic version"),
        ("1.2.3+a..b", "not a semantic version"),
        ("v1.2.3", "not a semantic version"),
        ("=1.2.3", "not a semantic version"),
        (" 1.2.3", "not a semantic version"),
        ("1.2.3\n", "not a semantic version"),
        ("1.2.3.4", "not a semantic version"),
        ("1.2.3-béta", "not a semantic version"),
        ("١.2.3", "not a semantic version"),  # an Arabic-Indic digit is not a digit here
        ("1.2.3-a_b", "not a semantic version"),
        ("", "not a semantic version"),
        ("1.0.0-" + "a" * MAX_VERSION, f"at most {MAX_VERSION}"),
    ],
)
def test_invalid_versions_say_why(version: str, why: str) -> None:
    with pytest.raises(CrateVersionError, match=why):
        validate_crate_version(version)


def test_the_longest_allowed_version_is_valid() -> None:
    version = "1.0.0-" + "a" * (MAX_VERSION - 6)
    assert validate_crate_version(version) == version


def test_build_metadata_is_dropped_for_uniqueness() -> None:
    assert without_build("1.0.7+x") == without_build("1.0.7") == "1.0.7"
    assert without_build("1.0.7-rc.1+a+b") == "1.0.7-rc.1"


def test_precedence_is_semver_order() -> None:
    ordered = [
        "0.9.99",
        "1.0.0-0",
        "1.0.0-2",
        "1.0.0-11",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.2.0",
        "1.10.0",
        "2.0.0",
        "10.0.0",
    ]
    shuffled = ordered[1::2] + ordered[::-2]
    assert sorted(shuffled, key=version_key) == ordered


def test_build_metadata_only_breaks_ties() -> None:
    assert version_key("1.0.0+zzz") < version_key("1.0.1")
    assert version_key("1.0.0") < version_key("1.0.0+a") < version_key("1.0.0+b")


def test_invalid_strings_sort_first_and_do_not_raise() -> None:
    assert sorted(["1.0.0", "junk", "0.1.0"], key=version_key) == ["junk", "0.1.0", "1.0.0"]
