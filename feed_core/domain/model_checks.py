"""Helpers for the checks of pydantic models: an error of a named field raised by a check that spans several,
and the JSON schema of a union told apart by a callable discriminator."""

from __future__ import annotations

from typing import Any

from pydantic import GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError


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
