"""An upstream source's credentials as they travel in memory. Pure: no I/O.

They are secrets: their ``repr`` (and so every log line, traceback and dataclass ``repr`` that
contains them) shows only which kind they are. The feed table holds them only sealed
(``feed_core.storage.credential_cipher``); the API shows only ``hasCredentials``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Credentials:
    """``token`` (sent as Bearer) or ``username`` + ``password`` (sent as Basic)."""

    token: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return "Credentials(token=***)" if self.token is not None else "Credentials(username=***, password=***)"

    def as_json(self) -> dict[str, str]:
        if self.token is not None:
            return {"token": self.token}
        return {"username": self.username or "", "password": self.password or ""}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Credentials | None:
        """The two shapes :meth:`as_json` writes; ``None`` for anything else."""
        if set(value) == {"token"} and isinstance(value["token"], str):
            return cls(token=value["token"])
        if (
            set(value) == {"username", "password"}
            and isinstance(value["username"], str)
            and isinstance(value["password"], str)
        ):
            return cls(username=value["username"], password=value["password"])
        return None


@dataclass(frozen=True, repr=False)
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
