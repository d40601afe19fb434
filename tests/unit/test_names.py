import pytest

from feed_core.domain.errors import BadRequestError, ConflictError
from feed_core.domain.names import (
    parse_guid,
    parse_npm_name,
    pick_reference,
    validate_feed_name,
    validate_new_feed_name,
    validate_org,
    validate_user,
)


@pytest.mark.parametrize("name", ["myfeed", "My.Feed-1", "a", "x" * 64, "feed_with_underscore"])
def test_valid_feed_names(name: str) -> None:
    assert validate_feed_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("x" * 65, "longer than 64"),
        ("has space", "whitespace"),
        ("_hidden", "starts with"),
        (".dot", "starts with"),
        ("trailing.", "ends with"),
        ("a@b", "contains @"),
        ("a/b", "contains /"),
        ("a\\b", "contains \\"),
        ("..", "starts with"),
        ("a%2fb", "contains %"),
        ("tab\tname", "whitespace"),
    ],
)
def test_invalid_feed_names_say_why(name: str, why: str) -> None:
    with pytest.raises(BadRequestError, match="invalid feed name") as exc:
        validate_feed_name(name)
    assert why in exc.value.message


@pytest.mark.parametrize("name", ["-x", "x-", "a" * 51, "a_b", ""])
def test_invalid_org(name: str) -> None:
    with pytest.raises(BadRequestError):
        validate_org(name)


def test_user_names() -> None:
    assert validate_user("alice@example.com") == "alice@example.com"
    with pytest.raises(BadRequestError):
        validate_user("../etc")


@pytest.mark.parametrize(
    ("text", "scope", "bare"),
    [("lodash", None, "lodash"), ("@team/dep", "team", "dep"), ("a.b-c_d", None, "a.b-c_d"), ("@a/b.c", "a", "b.c")],
)
def test_npm_names(text: str, scope: str | None, bare: str) -> None:
    name = parse_npm_name(text, for_publish=True)
    assert (name.scope, name.bare, name.full) == (scope, bare, text)


def test_npm_escaped_form() -> None:
    assert parse_npm_name("@team/dep").escaped == "@team%2fdep"


def test_legacy_names_readable_but_not_publishable() -> None:
    assert parse_npm_name("JSONStream").full == "JSONStream"
    with pytest.raises(BadRequestError, match="lower-case"):
        parse_npm_name("JSONStream", for_publish=True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "..",
        ".hidden",
        "_under",
        "a/b",
        "@scope",
        "@/x",
        "@s/",
        "a b",
        "a%2fb",
        "node_modules",
        "x" * 215,
        "@s/../x",
    ],
)
def test_invalid_npm_names(text: str) -> None:
    with pytest.raises(BadRequestError, match="invalid package name"):
        parse_npm_name(text, for_publish=True)


@pytest.mark.parametrize(
    "text",
    ["0f8fad5b-d9cb-469f-a165-70867728950e", "0F8FAD5BD9CB469FA16570867728950E", "0f8fad5bd9cb-469f-a165-70867728950e"],
)
def test_guid_shaped_names_are_refused_and_parse_to_the_canonical_id(text: str) -> None:
    assert parse_guid(text) == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert validate_feed_name(text) == text  # still a valid reference
    with pytest.raises(BadRequestError, match="GUID"):
        validate_new_feed_name(text, "view")


def test_a_reference_that_is_one_records_name_and_anothers_id_is_a_conflict() -> None:
    assert pick_reference("feed", "r", "a", None, str) == "a"
    assert pick_reference("feed", "r", None, "b", str) == "b"
    assert pick_reference("feed", "r", "a", "a", str) == "a"
    with pytest.raises(ConflictError, match="ambiguous"):
        pick_reference("feed", "r", "a", "b", str)
