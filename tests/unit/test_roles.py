import pytest

from feed_core.domain.access import caller_role, require_role
from feed_core.domain.errors import ForbiddenError
from feed_core.domain.models import Caller, Feed, Permission
from feed_core.domain.roles import Role, Scope, effective_role, parse_role, parse_scope


def _feed(*perms: tuple[str, Role]) -> Feed:
    return Feed(id="f", org="o", project=None, name="feed", permissions=[Permission(u, r) for u, r in perms])


@pytest.mark.parametrize(
    ("role", "scope", "expected"),
    [
        (Role.ADMINISTRATOR, Scope.READ, Role.COLLABORATOR),
        (Role.ADMINISTRATOR, Scope.WRITE, Role.CONTRIBUTOR),
        (Role.ADMINISTRATOR, Scope.MANAGE, Role.ADMINISTRATOR),
        (Role.READER, Scope.MANAGE, Role.READER),
        (Role.CONTRIBUTOR, Scope.READ, Role.COLLABORATOR),
        (Role.NONE, Scope.MANAGE, Role.NONE),
    ],
)
def test_scope_only_narrows(role: Role, scope: Scope, expected: Role) -> None:
    assert effective_role(role, scope) is expected


def test_roles_are_ordered() -> None:
    assert Role.READER < Role.COLLABORATOR < Role.CONTRIBUTOR < Role.ADMINISTRATOR


def test_parse_role_and_scope() -> None:
    assert parse_role("Owner") is Role.ADMINISTRATOR
    assert parse_role("CONTRIBUTOR") is Role.CONTRIBUTOR
    assert parse_scope("vso.packaging_write") is Scope.WRITE
    with pytest.raises(ValueError, match="unknown role"):
        parse_role("superuser")
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scope("vso.code")


def test_org_admin_owns_every_feed() -> None:
    assert caller_role(_feed(), Caller("root", Scope.MANAGE, org_admin=True)) is Role.ADMINISTRATOR


def test_user_names_match_case_insensitively() -> None:
    assert caller_role(_feed(("Alice", Role.CONTRIBUTOR)), Caller("alice", Scope.WRITE)) is Role.CONTRIBUTOR


def test_forbidden_message_names_the_role_needed() -> None:
    with pytest.raises(ForbiddenError) as exc:
        require_role(_feed(("bob", Role.READER)), Caller("bob", Scope.WRITE), Role.CONTRIBUTOR, "publishing packages")
    assert "Feed Publisher (contributor)" in exc.value.message
    assert "Feed Reader" in exc.value.message


def test_forbidden_message_blames_the_token_scope() -> None:
    with pytest.raises(ForbiddenError) as exc:
        require_role(_feed(("al", Role.CONTRIBUTOR)), Caller("al", Scope.READ), Role.CONTRIBUTOR, "publishing packages")
    assert "scope vso.packaging" in exc.value.message


def test_stranger_has_no_role() -> None:
    with pytest.raises(ForbiddenError, match="has no role"):
        require_role(_feed(), Caller("eve", Scope.MANAGE), Role.READER, "reading packages")
