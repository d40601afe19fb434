"""An upstream source's credentials as they travel in memory. Pure: no I/O.

They are secrets: each value is a ``pydantic.SecretStr``, and the ``repr`` and ``str`` of the whole (and so
every log line, traceback and model ``repr`` that contains them) show only which kind they are. Only
:meth:`Credentials.as_json` reveals them, for the request headers and for sealing. The feed table holds them
only sealed (``feed_core.storage.credential_cipher``); the API shows only ``hasCredentials``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator


class Credentials(BaseModel):
    """``token`` (sent as Bearer) or ``username`` + ``password`` (sent as Basic)."""

    model_config = ConfigDict(frozen=True, strict=True, hide_input_in_errors=True)

    token: SecretStr | None = None
    username: SecretStr | None = None
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        token, basic = self.token is not None, (self.username is not None, self.password is not None)
        if basic != ((False, False) if token else (True, True)):
            raise ValueError("credentials are a token, or a username and a password")
        return self

    def __repr__(self) -> str:
        return "Credentials(token=***)" if self.token is not None else "Credentials(username=***, password=***)"

    __str__ = __repr__

    def as_json(self) -> dict[str, str]:
        """The plaintext values: only for the request headers and for sealing them."""
        if self.token is not None:
            return {"token": self.token.get_secret_value()}
        username, password = self.username or SecretStr(""), self.password or SecretStr("")
        return {"username": username.get_secret_value(), "password": password.get_secret_value()}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Self | None:
        """The two shapes :meth:`as_json` writes; ``None`` for anything else."""
        if set(value) not in ({"token"}, {"username", "password"}):
            return None
        try:
            return cls.model_validate(dict(value))
        except ValidationError:
            return None


class PlaintextCredentials(Credentials):
    """Credentials stored in plaintext by a version from before encryption at rest. They work as any
    others; a write of their feed seals them, or, while no key is set, keeps them as they were stored
    (the feed may still be deleted or restored; changing its sources needs a key)."""


@dataclass(frozen=True)
class UnreadableCredentials:
    """Stored credentials that could not be opened (unknown key, altered or malformed).

    The source is unusable until an owner sends its credentials again, and ``reason`` says so; the
    stored form is kept as it is, so a later write of the feed (or a key the operator adds back) does
    not lose it.
    """

    stored: Mapping[str, Any] = field(repr=False)
    reason: str


#: What a source's ``credentials`` holds in memory.
SourceCredentials = Credentials | UnreadableCredentials


def credentials_identity(value: object) -> str:
    """A stable text standing for a source's credentials, for in-memory keys (sources with the same
    location and credentials fail together). Never shown or stored, not even hashed."""
    if isinstance(value, Credentials):
        return json.dumps(value.as_json(), sort_keys=True)
    if isinstance(value, UnreadableCredentials):
        return "unreadable:" + json.dumps(dict(value.stored), sort_keys=True)
    return "null"
