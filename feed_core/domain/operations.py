"""Who may do what: the one table of operations with the least role and token scope each needs.

Every operation a caller can ask for names the least feed role it needs (or that it needs an
organization administrator) and the least token scope. A caller may do it when:

- the operation needs an organization administrator and the caller is one, or else the caller's
  feed role narrowed by the token's scope (``effective_role``) is at least the operation's role;
- and the token's scope is at least the operation's scope.

For feed roles the scope adds nothing: it is the narrowest scope that still allows the role, so the
two columns always agree. Organization-level operations (creating feeds, managing other users'
tokens) have no feed role and need the scope stated.

The services check these rules where they act (``require_role``); this table is the specification
those checks are tested against (``tests/api/test_authorization_matrix.py``), and the README's role
table is checked against it (``tests/unit/test_operations.py``).
"""

# ruff: noqa: S105  (operation names such as "token.list-own" are not secrets)
from __future__ import annotations

import enum
from dataclasses import dataclass

from feed_core.domain.roles import Role, Scope, effective_role


class Operation(enum.Enum):
    """Everything a caller can do, named ``area.action``."""

    FEED_LIST = "feed.list"
    FEED_GET = "feed.get"
    FEED_CREATE = "feed.create"
    FEED_UPDATE = "feed.update"
    FEED_DELETE = "feed.delete"
    FEED_HEALTH = "feed.health"
    FEED_USAGE = "feed.usage"
    FEED_RECYCLE_BIN_LIST = "feed.recycle-bin-list"
    FEED_RESTORE = "feed.restore"
    FEED_PURGE = "feed.purge"
    VIEW_LIST = "view.list"
    VIEW_GET = "view.get"
    VIEW_CREATE = "view.create"
    VIEW_UPDATE = "view.update"
    VIEW_DELETE = "view.delete"
    PERMISSION_GET = "permission.get"
    PERMISSION_SET = "permission.set"
    TOKEN_LIST_OWN = "token.list-own"
    TOKEN_MINT_OWN = "token.mint-own"
    TOKEN_REVOKE_OWN = "token.revoke-own"
    TOKEN_LIST_OTHERS = "token.list-others"
    TOKEN_MINT_OTHERS = "token.mint-others"
    TOKEN_REVOKE_OTHERS = "token.revoke-others"
    UPSTREAMING_GET = "upstreaming.get"
    UPSTREAMING_SET = "upstreaming.set"
    VERSION_GET = "version.get"
    VERSION_PROVENANCE = "version.provenance"
    VERSION_PROMOTE = "version.promote"
    VERSION_DEPRECATE = "version.deprecate"
    VERSION_YANK = "version.yank"
    VERSION_DELETE = "version.delete"
    RECYCLE_BIN_LIST = "recycle-bin.list"
    RECYCLE_BIN_RESTORE = "recycle-bin.restore"
    RECYCLE_BIN_DELETE = "recycle-bin.delete"
    NPM_READ = "npm.read"
    NPM_DOWNLOAD = "npm.download"
    NPM_PUBLISH = "npm.publish"
    NPM_DIST_TAG_ADD = "npm.dist-tag-add"
    NPM_DIST_TAG_RM = "npm.dist-tag-rm"
    NPM_DEPRECATE = "npm.deprecate"
    NPM_UNPUBLISH = "npm.unpublish"
    NPM_SAVE = "npm.save-from-upstream"
    PYPI_READ = "pypi.read"
    PYPI_DOWNLOAD = "pypi.download"
    PYPI_UPLOAD = "pypi.upload"
    PYPI_SAVE = "pypi.save-from-upstream"
    NUGET_READ = "nuget.read"
    NUGET_DOWNLOAD = "nuget.download"
    NUGET_PUSH = "nuget.push"
    NUGET_UNLIST = "nuget.unlist"
    NUGET_SAVE = "nuget.save-from-upstream"

    @property
    def rule(self) -> Rule:
        return RULES[self]


@dataclass(frozen=True)
class Rule:
    """The least a caller needs for one operation."""

    role: Role  # least feed role; Role.NONE: any caller of the organization
    scope: Scope  # least token scope
    org_admin: bool = False  # only an organization administrator

    @property
    def who(self) -> str:
        if self.org_admin:
            return "organization administrator"
        return "any caller" if self.role is Role.NONE else self.role.api_name

    def allows(self, user_role: Role, scope: Scope, *, org_admin: bool) -> bool:
        """Whether a caller with this feed role (before narrowing), token scope and organization
        standing may do the operation."""
        if self.org_admin and not org_admin:
            return False
        return effective_role(user_role, scope) >= self.role and scope.role_cap >= self.scope.role_cap


def least_scope(role: Role) -> Scope:
    """The narrowest token scope that still lets a user act with ``role``."""
    return min((s for s in Scope if s.role_cap >= role), key=lambda s: s.role_cap)


_ANYONE = Rule(Role.NONE, Scope.READ)
_READER = Rule(Role.READER, Scope.READ)
_COLLABORATOR = Rule(Role.COLLABORATOR, Scope.READ)
_CONTRIBUTOR = Rule(Role.CONTRIBUTOR, Scope.WRITE)
_ADMINISTRATOR = Rule(Role.ADMINISTRATOR, Scope.MANAGE)

RULES: dict[Operation, Rule] = {
    Operation.FEED_LIST: _READER,  # lists the feeds the caller can read
    Operation.FEED_GET: _READER,
    Operation.FEED_CREATE: Rule(Role.NONE, Scope.WRITE, org_admin=True),
    Operation.FEED_UPDATE: _ADMINISTRATOR,
    Operation.FEED_DELETE: _ADMINISTRATOR,
    Operation.FEED_HEALTH: _READER,
    Operation.FEED_USAGE: _READER,
    Operation.FEED_RECYCLE_BIN_LIST: _ADMINISTRATOR,  # lists the deleted feeds the caller administers
    Operation.FEED_RESTORE: _ADMINISTRATOR,
    Operation.FEED_PURGE: _ADMINISTRATOR,
    Operation.VIEW_LIST: _READER,
    Operation.VIEW_GET: _READER,
    Operation.VIEW_CREATE: _ADMINISTRATOR,
    Operation.VIEW_UPDATE: _ADMINISTRATOR,
    Operation.VIEW_DELETE: _ADMINISTRATOR,
    Operation.PERMISSION_GET: _ADMINISTRATOR,
    Operation.PERMISSION_SET: _ADMINISTRATOR,
    # A token never mints, nor revokes, a token of a broader scope than its own (IdentityService).
    Operation.TOKEN_LIST_OWN: _ANYONE,
    Operation.TOKEN_MINT_OWN: _ANYONE,
    Operation.TOKEN_REVOKE_OWN: _ANYONE,
    Operation.TOKEN_LIST_OTHERS: Rule(Role.NONE, Scope.MANAGE, org_admin=True),
    Operation.TOKEN_MINT_OTHERS: Rule(Role.NONE, Scope.MANAGE, org_admin=True),
    Operation.TOKEN_REVOKE_OTHERS: Rule(Role.NONE, Scope.MANAGE, org_admin=True),
    Operation.UPSTREAMING_GET: _READER,
    Operation.UPSTREAMING_SET: _ADMINISTRATOR,
    Operation.VERSION_GET: _READER,
    Operation.VERSION_PROVENANCE: _READER,
    Operation.VERSION_PROMOTE: _CONTRIBUTOR,
    Operation.VERSION_DEPRECATE: _CONTRIBUTOR,
    Operation.VERSION_YANK: _CONTRIBUTOR,
    Operation.VERSION_DELETE: _CONTRIBUTOR,
    # As in Azure Artifacts: contributors see what was deleted, owners restore it or delete it for good.
    Operation.RECYCLE_BIN_LIST: _CONTRIBUTOR,
    Operation.RECYCLE_BIN_RESTORE: _ADMINISTRATOR,
    Operation.RECYCLE_BIN_DELETE: _ADMINISTRATOR,
    Operation.NPM_READ: _READER,
    Operation.NPM_DOWNLOAD: _READER,
    Operation.NPM_PUBLISH: _CONTRIBUTOR,
    Operation.NPM_DIST_TAG_ADD: _CONTRIBUTOR,
    Operation.NPM_DIST_TAG_RM: _CONTRIBUTOR,
    Operation.NPM_DEPRECATE: _CONTRIBUTOR,
    Operation.NPM_UNPUBLISH: _CONTRIBUTOR,
    # Installing is reading: a read token may save from upstreams (as Azure build identities do).
    Operation.NPM_SAVE: _COLLABORATOR,
    Operation.PYPI_READ: _READER,
    Operation.PYPI_DOWNLOAD: _READER,
    Operation.PYPI_UPLOAD: _CONTRIBUTOR,
    Operation.PYPI_SAVE: _COLLABORATOR,
    Operation.NUGET_READ: _READER,
    Operation.NUGET_DOWNLOAD: _READER,
    Operation.NUGET_PUSH: _CONTRIBUTOR,
    Operation.NUGET_UNLIST: _CONTRIBUTOR,  # nuget delete unlists; relisting needs the same role
    Operation.NUGET_SAVE: _COLLABORATOR,
}
