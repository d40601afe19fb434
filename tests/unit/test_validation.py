"""Pydantic validation errors as one line naming each bad field by its JSON path."""

from __future__ import annotations

from typing import Annotated, Any, Self

import pytest
from pydantic import BaseModel, ConfigDict, Discriminator, Field, ValidationError, field_validator, model_validator

from feed_core.domain.validation import MAX_LISTED, describe_validation_error, error_path, field_error, union_tag


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "item"
    size: int = 0

    @field_validator("size")
    @classmethod
    def _small(cls, value: int) -> int:
        if value > 10:
            raise ValueError("must be at most 10")
        return value

    @model_validator(mode="after")
    def _sized(self) -> Self:
        if self.kind == "box" and not self.size:
            raise field_error("Item", "size", "a box needs a size")
        return self


class Other(BaseModel):
    kind: str = "other"
    label: str


def _kind(value: Any) -> str | None:
    return ("other thing" if value.get("kind") == "other" else "an item") if isinstance(value, dict) else None


Thing = Annotated[
    Annotated[Item, union_tag("an item")] | Annotated[Other, union_tag("other thing")], Discriminator(_kind)
]


class Body(BaseModel):
    things: list[Thing] = Field(default_factory=list)
    nested: dict[str, list[int]] = Field(default_factory=dict)


def describe(value: Any, prefix: str = "") -> str:
    with pytest.raises(ValidationError) as info:
        Body.model_validate(value)
    return describe_validation_error(info.value, prefix)


def test_paths_skip_union_tags_and_index_lists() -> None:
    assert (
        describe({"things": [{"size": "x"}]})
        == "things[0].size: Input should be a valid integer, unable to parse string as an integer"
    )
    assert describe({"things": [{}, {"kind": "other"}]}) == "things[1].label: Field required"
    assert (
        describe({"nested": {"a": [1, "b"]}})
        == "nested.a[1]: Input should be a valid integer, unable to parse string as an integer"
    )
    assert describe({"things": "x"}, "body") == "body.things: Input should be a valid list"


def test_messages_of_validators_come_without_pydantic_prefixes() -> None:
    assert describe({"things": [{"size": 11}]}) == "things[0].size: must be at most 10"
    # a check across fields still names the field
    assert describe({"things": [{"kind": "box"}]}) == "things[0].size: a box needs a size"


def test_errors_are_joined_deduplicated_and_counted() -> None:
    text = describe({"things": [{"size": 11, "extra": 1}, {"kind": "other"}]})
    assert text == (
        "things[0].size: must be at most 10; things[0].extra: Extra inputs are not permitted; "
        "things[1].label: Field required"
    )
    many = describe({"things": [{"size": 11}] * (MAX_LISTED + 3)})
    assert many.count("must be at most 10") == MAX_LISTED and many.endswith("; and 3 more")


def test_a_value_error_of_the_whole_value_has_no_path() -> None:
    with pytest.raises(ValidationError) as info:
        Body.model_validate("nope")
    assert describe_validation_error(info.value) == "Input should be a valid dictionary or instance of Body"
    assert error_path((0, "a", 2), "list") == "list[0].a[2]"
    assert error_path(()) == ""
