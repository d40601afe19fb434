"""describe_validation_error: JSON paths, what was expected, bounded, and never the rejected values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictStr, Tag, ValidationError

from feed_core.api.models import FeedCreateRequest, PermissionsPatch, RestorePatch, TokenCreateRequest
from feed_core.domain.validation import MAX_ERROR_TEXT, MAX_ERRORS, describe_validation_error


class _Public(BaseModel):
    kind: Literal["public"]
    location: StrictStr
    password: StrictStr = Field(max_length=8)


class _Internal(BaseModel):
    kind: Literal["internal"]
    feed: StrictStr


def _kind(value: Any) -> str | None:
    """The tag of a source, named like the real union's (``PublicSource``), not like its ``kind``."""
    return (
        {"public": "PublicSource", "internal": "InternalSource"}.get(value.get("kind"))
        if isinstance(value, dict)
        else None
    )


class _Feed(BaseModel):
    model_config = ConfigDict(strict=True)

    sources: list[
        Annotated[
            Annotated[_Public, Tag("PublicSource")] | Annotated[_Internal, Tag("InternalSource")], Discriminator(_kind)
        ]
    ]
    count: int | str = 0


def message(model: type[BaseModel], body: Any, prefix: str = "") -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return describe_validation_error(caught.value, prefix)


def test_paths_use_the_json_names_and_indexes() -> None:
    text = message(FeedCreateRequest, {"name": 5, "upstreamEnabled": "yes", "minimumReleaseAgeExemptions": ["a", 5]})
    assert text == (
        "name: Input should be a valid string; upstreamEnabled: Input should be a valid boolean; "
        "minimumReleaseAgeExemptions[1]: Input should be a valid string"
    )


def test_a_missing_field_and_a_body_of_the_wrong_kind() -> None:
    assert message(FeedCreateRequest, {}) == "name: Field required"
    assert message(FeedCreateRequest, [1]) == "the request body: Input should be an object"
    assert message(PermissionsPatch, {"role": "reader"}) == "the request body: Input should be a valid list"
    assert message(PermissionsPatch, [{"role": "boss", "identityDescriptor": "bob"}]).startswith(
        "[0].role: unknown role"
    )


def test_union_tags_and_member_labels_are_not_part_of_the_path() -> None:
    text = message(_Feed, {"sources": [{"kind": "public", "location": 1, "password": "x"}], "count": 1.5})
    assert text.startswith("sources[0].location: Input should be a valid string; count: ")
    assert "Public" not in text and "str" not in text.split(": ")[0]


class _Flags(BaseModel):
    public: StrictStr
    internal: StrictStr = ""


def test_the_real_union_tags_are_skipped_and_keys_named_like_kinds_are_kept() -> None:
    source = {"name": "a", "protocol": "npm", "location": "https://h.example/", "credentials": {"token": 5}}
    text = message(FeedCreateRequest, {"name": "x", "upstreamSources": [source]})
    assert text.startswith("upstreamSources[0].credentials.token: must be a non-empty string")
    source["credentials"] = {"username": "u", "password": 5}
    text = message(FeedCreateRequest, {"name": "x", "upstreamSources": [source]})
    assert text.startswith("upstreamSources[0].credentials.password: must be a non-empty string")
    text = message(FeedCreateRequest, {"name": "x", "upstreamSources": [{"internalUpstreamFeedId": "f"}]})
    assert text.startswith("upstreamSources[0].protocol: Field required")
    assert message(_Flags, {"public": 1, "internal": 2}) == (
        "public: Input should be a valid string; internal: Input should be a valid string"
    )


def test_a_prefix_names_the_root() -> None:
    assert message(_Feed, {"sources": [{"kind": "internal"}]}, "FEED_X") == "FEED_X.sources[0].feed: Field required"


def test_values_are_never_echoed() -> None:
    secret = "hunter2-very-secret"
    text = message(_Feed, {"sources": [{"kind": "public", "location": "https://h.example/", "password": secret}]})
    assert text.startswith("sources[0].password: String should have at most 8 characters")
    assert secret not in text
    assert "2099" not in message(TokenCreateRequest, {"validTo": "2099-13-45T99:00:00Z"})


def test_many_errors_are_counted_and_each_is_bounded() -> None:
    text = message(FeedCreateRequest, {"name": 1, "minimumReleaseAgeExemptions": list(range(10))})
    parts = text.split("; ")
    assert len(parts) == MAX_ERRORS + 1 and parts[-1] == f"and {11 - MAX_ERRORS} more"
    long = message(PermissionsPatch, [{"role": "x" * 1000, "identityDescriptor": "bob"}])
    assert len(long) <= MAX_ERROR_TEXT and long.endswith("...")


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (PermissionsPatch, [{"role": "reader", "identityDescriptor": ["hidden-input"]}]),
        (RestorePatch, [{"op": "replace", "path": "/isDeleted", "value": "hidden-input"}]),
        (FeedCreateRequest, {"name": ["hidden-input"]}),
    ],
)
def test_request_models_hide_their_input_in_the_error_text(model: type[BaseModel], body: Any) -> None:
    """A list body's model is the outermost one too: its settings decide what ``str(error)`` quotes."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert "hidden-input" not in str(caught.value) and "input_value" not in str(caught.value)
