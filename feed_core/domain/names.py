"""Name rules: organizations, projects, feeds, views, users, and npm package names.

Every name that arrives from a URL or a body passes through here before it reaches storage, which is
what keeps traversal (``..``), encoded slashes and over-long keys out of the store.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from feed_core.domain.errors import BadRequestError, ConflictError

T = TypeVar("T")

_ORG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,48}[A-Za-z0-9])?$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
# Azure feed name rules: <= 64 chars, no whitespace, no leading "_" or ".", no trailing ".",
# none of @ ~ ; { } \ + = < > | / ? : & $ * " # [ ] (and, here, no control characters or "%").
_FEED_FORBIDDEN = set("@~;{}\\+=<>|/?:&$*\"#[]%'")


#: Paths the Azure Functions host keeps for itself when the route prefix is empty.
RESERVED_ORGS = frozenset({"admin", "runtime", "api", "_health"})


def validate_org(name: str) -> str:
    if name.lower() in RESERVED_ORGS:
        raise BadRequestError(f"{name!r} cannot be an organization name: the hosting platform reserves that path")
    if not _ORG.match(name):
        raise BadRequestError(
            f"invalid organization name {name!r}: use 1-50 letters, digits or hyphens, not starting or ending with '-'"
        )
    return name


def validate_project(name: str) -> str:
    if not _PROJECT.match(name):
        raise BadRequestError(
            f"invalid project name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def validate_user(name: str) -> str:
    if not _USER.match(name):
        raise BadRequestError(
            f"invalid user name {name!r}: use 1-128 letters, digits or . _ @ + -, starting with a letter or digit"
        )
    return name


def validate_feed_name(name: str, what: str = "feed") -> str:
    """Check a feed (or view) name against the Azure Artifacts rules."""
    problem = None
    if not name:
        problem = "it is empty"
    elif len(name) > 64:
        problem = "it is longer than 64 characters"
    elif any(c.isspace() or ord(c) < 32 for c in name):
        problem = "it contains whitespace or control characters"
    elif name[0] in "_." or name.endswith("."):
        problem = "it starts with '_' or '.', or ends with '.'"
    elif bad := sorted(set(name) & _FEED_FORBIDDEN):
        problem = f"it contains {' '.join(bad)}"
    if problem:
        raise BadRequestError(f"invalid {what} name {name!r}: {problem}")
    return name


def parse_guid(text: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of ``text`` if it parses as a GUID, else ``None``."""
    if not text.isascii():
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def validate_new_feed_name(name: str, what: str = "feed") -> str:
    """Check a name a feed (or view) is about to take: the Azure rules, and not shaped like a GUID,
    because GUIDs are ids and a name must never be mistaken for another feed's (or view's) id."""
    validate_feed_name(name, what)
    if parse_guid(name) is not None:
        raise BadRequestError(
            f"invalid {what} name {name!r}: it has the form of a GUID, which only {what} ids may have"
        )
    return name


def pick_reference(what: str, ref: str, by_name: T | None, by_id: T | None, key: Callable[[T], str]) -> T | None:
    """The one record a reference (a name or an id) names; 409 when it is one record's name and
    another's id (possible only with names stored before GUID-shaped names were refused)."""
    if by_name is not None and by_id is not None and key(by_name) != key(by_id):
        raise ConflictError(
            f"{what} reference {ref!r} is ambiguous: it is the name of one {what} and the id of another; "
            f"refer to each by its other name or id, and rename the {what} named {ref!r}"
        )
    return by_name if by_name is not None else by_id


# --- npm -------------------------------------------------------------------------------------------

_NPM_PART_READ = re.compile(r"^[A-Za-z0-9-~][A-Za-z0-9-._~]*$")
_NPM_PART_NEW = re.compile(r"^[a-z0-9-][a-z0-9-._]*$")
NPM_NAME_MAX = 214


@dataclass(frozen=True)
class NpmName:
    """A validated npm package name, ``@scope/name`` or ``name``."""

    scope: str | None
    bare: str

    @property
    def full(self) -> str:
        return f"@{self.scope}/{self.bare}" if self.scope else self.bare

    @property
    def escaped(self) -> str:
        """The form npm puts in URLs: only the scope's slash escaped."""
        return f"@{self.scope}%2f{self.bare}" if self.scope else self.bare

    def __str__(self) -> str:
        return self.full


def parse_npm_name(text: str, *, for_publish: bool = False) -> NpmName:
    """Parse ``@scope/name`` or ``name``.

    Reads accept legacy names (capitals, ``~``) that exist on public registries; publishing follows
    the rules npm applies to new packages: lower case, URL-safe, at most 214 characters.
    """
    if len(text) > NPM_NAME_MAX:
        raise BadRequestError(f"invalid package name: longer than {NPM_NAME_MAX} characters")
    part = _NPM_PART_NEW if for_publish else _NPM_PART_READ
    scope: str | None = None
    bare = text
    if text.startswith("@"):
        scope, sep, bare = text[1:].partition("/")
        if not sep or not scope or not part.match(scope) or scope.startswith("."):
            raise BadRequestError(f"invalid package name {text!r}: the scope is not valid")
    if not bare or not part.match(bare) or bare[0] in "._" or bare in {"node_modules", "favicon.ico"}:
        raise BadRequestError(
            f"invalid package name {text!r}: use lower-case letters, digits, '-', '.' or '_', "
            "not starting with '.' or '_'"
        )
    if for_publish and text != text.lower():
        raise BadRequestError(f"invalid package name {text!r}: new packages must be lower case")
    return NpmName(scope, bare)
