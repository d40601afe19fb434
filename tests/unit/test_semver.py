import pytest

from feed_core.domain.errors import BadRequestError
from feed_core.domain.semver import highest, parse_semver, sort_versions, try_parse_semver


def test_ordering_follows_semver_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    assert sort_versions(list(reversed(ordered))) == ordered


def test_build_metadata_does_not_affect_order() -> None:
    assert parse_semver("1.0.0+abc") == parse_semver("1.0.0+def")


@pytest.mark.parametrize("text", ["1", "1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0-01", "x.y.z", "1.0.0 ", "1" * 300])
def test_rejects_non_semver(text: str) -> None:
    assert try_parse_semver(text) is None
    with pytest.raises(BadRequestError, match="invalid version"):
        parse_semver(text)


def test_highest_prefers_releases() -> None:
    assert highest(["1.0.0", "2.0.0-beta.1", "1.5.0"]) == "1.5.0"
    assert highest(["2.0.0-beta.1"]) is None
    assert highest(["2.0.0-beta.1", "2.0.0-alpha"], include_prerelease=True) == "2.0.0-beta.1"


def test_non_semver_strings_sort_first() -> None:
    assert sort_versions(["1.0.0", "weird"]) == ["weird", "1.0.0"]
