"""The public registries the operator configures (``FEED_PUBLIC_SOURCES``), which feed administrators name as
upstream sources. Pure: no I/O. ``feed_core.settings`` reads them; ``feed_core.domain.source_merge`` uses them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from feed_core.domain.source_models import Protocol


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class ConfiguredSource(BaseModel):
    """One entry of ``FEED_PUBLIC_SOURCES``: ``{"protocol": ..., "url": ...}`` (the protocol in any case)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, hide_input_in_errors=True)

    protocol: Annotated[Protocol, BeforeValidator(_lower)]
    url: str = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("an http(s) URL is needed")
        return url


#: The configured public sources by name (matched case-insensitively when a client names one).
PublicSources = Mapping[str, ConfiguredSource]
