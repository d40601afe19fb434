import pytest

from feed_core.domain.errors import BadRequestError
from feed_core.domain.names import parse_npm_name, validate_feed_name, validate_org, validate_user


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
