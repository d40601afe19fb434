"""Pydantic validation errors as one line a client can act on: ``upstreamSources[0].location: <what is wrong>``.

Shared by the REST layer and every non-REST caller (CLI, tests) of the request models, so a bad body reads
the same everywhere. Messages never carry the rejected input (it may be a secret).

A discriminated union puts the tag of the member it chose into an error's ``loc``
(``upstreamSources.0.custom source.location``). Tags made with :func:`union_tag` are left out of the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import GetJsonSchemaHandler, Tag, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

#: Most errors listed in one message; the rest are counted.
MAX_LISTED = 10
#: The prefixes pydantic puts before the message of a ``ValueError``/``AssertionError`` raised in a validator.
_PREFIXES = ("Value error, ", "Assertion failed, ")
_TAGS: set[str] = set()


def union_tag(name: str) -> Tag:
    """A ``pydantic.Tag`` for a member of a discriminated union whose name paths leave out.

    Pick names no field has (a space in them is enough): a segment equal to a tag is always skipped.
    """
    _TAGS.add(name)
    return Tag(name)


class AnyOf:
    """``Annotated`` metadata for a union whose members' JSON schemas overlap while a callable discriminator tells
    them apart: its schema says ``anyOf`` (a value may fit several) rather than pydantic's ``oneOf`` (exactly one),
    so the OpenAPI document does not call a body invalid that the service accepts."""

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema: dict[str, Any] = handler(schema)
        if "oneOf" in json_schema:
            json_schema["anyOf"] = json_schema.pop("oneOf")
        return json_schema


def field_error(title: str, field: str, message: str) -> ValidationError:
    """An error of ``field`` (its alias) for a model validator to raise when the check spans several fields:
    pydantic puts it under the model's own path, as if the field's validator had raised ``message``."""
    error = InitErrorDetails(type=PydanticCustomError("value_error", message), loc=(field,), input=None)
    return ValidationError.from_exception_data(title, [error])


def error_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """``("upstreamSources", 0, "custom source", "location")`` as ``upstreamSources[0].location``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in _TAGS:
            path = f"{path}.{part}" if path else str(part)
    return path


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """Each error as ``path: message``, joined by ``"; "``; ``prefix`` names where the validated value sits
    (``upstreamSources`` for a list of sources). An error of the value itself has no path: just its message."""
    lines = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        message = error["msg"]
        for noise in _PREFIXES:
            message = message.removeprefix(noise)
        path = error_path(error["loc"], prefix)
        lines.append(f"{path}: {message}" if path else message)
    unique = list(dict.fromkeys(lines))
    more = len(unique) - MAX_LISTED
    return "; ".join(unique[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
