"""Who may do what in a feed: role lookup and the checks every request passes."""

from __future__ import annotations

from feed_core.domain.errors import ForbiddenError
from feed_core.domain.models import Caller, Feed
from feed_core.domain.roles import Role, effective_role


def user_role(feed: Feed, caller: Caller) -> Role:
    """The caller's feed role before the token scope: org administrators own every feed."""
    if caller.org_admin:
        return Role.ADMINISTRATOR
    for perm in feed.permissions:
        if perm.user.lower() == caller.user.lower():
            return perm.role
    return Role.NONE


def caller_role(feed: Feed, caller: Caller) -> Role:
    return effective_role(user_role(feed, caller), caller.scope)


def require_role(feed: Feed, caller: Caller, needed: Role, action: str) -> None:
    """Raise 403 naming the role needed, and why the caller falls short (role or token scope)."""
    have_user = user_role(feed, caller)
    if effective_role(have_user, caller.scope) >= needed:
        return
    if have_user >= needed:
        raise ForbiddenError(
            f"{action} in feed {feed.name} needs the {needed.display_name} role; user {caller.user} has it, "
            f"but the token's scope {caller.scope.value} allows at most {caller.scope.role_cap.display_name}"
        )
    have = "no role" if have_user is Role.NONE else f"the {have_user.display_name} role"
    raise ForbiddenError(
        f"{action} in feed {feed.name} needs the {needed.display_name} role; user {caller.user} has {have}"
    )
