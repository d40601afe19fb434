"""Feed roles, token scopes, and the rule that a token can only narrow its owner's role."""

from __future__ import annotations

import enum


class Role(enum.IntEnum):
    """Feed roles in increasing power; names are the Azure ``FeedRole`` values."""

    NONE = 0
    READER = 1  # list and download what the feed holds
    COLLABORATOR = 2  # ... and save versions from upstream sources by installing them
    CONTRIBUTOR = 3  # ... and publish, promote, deprecate, unpublish
    ADMINISTRATOR = 4  # ... and feed settings, views, upstreams, permissions, upstream behaviour

    @property
    def api_name(self) -> str:
        return self.name.lower()

    @property
    def display_name(self) -> str:
        return _DISPLAY[self]


_DISPLAY = {
    Role.NONE: "none",
    Role.READER: "Feed Reader",
    Role.COLLABORATOR: "Feed and Upstream Reader (collaborator)",
    Role.CONTRIBUTOR: "Feed Publisher (contributor)",
    Role.ADMINISTRATOR: "Feed Owner (administrator)",
}

_ROLE_ALIASES = {"owner": Role.ADMINISTRATOR, "publisher": Role.CONTRIBUTOR}


def parse_role(text: str) -> Role:
    """Parse an Azure role name case-insensitively (``owner``/``publisher`` accepted as aliases)."""
    key = text.strip().lower()
    if key in _ROLE_ALIASES:
        return _ROLE_ALIASES[key]
    for role in Role:
        if role.api_name == key:
            return role
    raise ValueError(f"unknown role {text!r}; use reader, collaborator, contributor or administrator")


class Scope(enum.Enum):
    """Personal access token scopes (the Azure DevOps packaging scopes)."""

    READ = "vso.packaging"
    WRITE = "vso.packaging_write"
    MANAGE = "vso.packaging_manage"

    @property
    def role_cap(self) -> Role:
        """The most a token of this scope may do, whatever its owner's role.

        A read token may still save from upstream (installing is reading), as Azure build identities do.
        """
        return _SCOPE_CAP[self]


_SCOPE_CAP = {Scope.READ: Role.COLLABORATOR, Scope.WRITE: Role.CONTRIBUTOR, Scope.MANAGE: Role.ADMINISTRATOR}


def parse_scope(text: str) -> Scope:
    key = text.strip().lower()
    for scope in Scope:
        if scope.value == key:
            return scope
    raise ValueError(f"unknown scope {text!r}; use vso.packaging, vso.packaging_write or vso.packaging_manage")


def effective_role(user_role: Role, scope: Scope) -> Role:
    """What a request may do: the user's role narrowed by the token's scope."""
    return min(user_role, scope.role_cap)
