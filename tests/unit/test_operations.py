"""The operations table: complete, consistent with scope narrowing, and what the README says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feed_core.domain.operations import RULES, Operation, Rule, least_scope
from feed_core.domain.roles import Role, Scope

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_roles_table() -> dict[str, tuple[str, str]]:
    """operation -> (role, scope) from the table under the README's **Roles.** bullet."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("- **Roles.**"))
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[start + 1 :]:
        if line.startswith("- "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.strip().startswith("|") else []
        if len(cells) != 3 or cells[0] in ("role", "---"):
            continue
        role, scope, ops = cells
        for op in re.findall(r"`([a-z-]+\.[a-z-]+)`", ops):
            assert op not in rows, f"README names {op} twice"
            rows[op] = (role, scope.strip("`"))
    return rows


def test_readme_role_table_matches_the_operations_table_both_ways() -> None:
    documented = readme_roles_table()
    specified = {op.value: (op.rule.who, op.rule.scope.value) for op in Operation}
    assert sorted(set(specified) - set(documented)) == [], "operations missing from the README's role table"
    assert sorted(set(documented) - set(specified)) == [], "the README's role table names unknown operations"
    wrong = {op: (documented[op], specified[op]) for op in specified if documented[op] != specified[op]}
    assert wrong == {}, "README (role, scope) vs feed_core/domain/operations.py"


def test_every_operation_has_a_rule() -> None:
    assert set(RULES) == set(Operation)


@pytest.mark.parametrize("op", [op for op in Operation if not op.rule.org_admin], ids=lambda op: op.value)
def test_feed_role_rules_state_the_narrowest_scope_that_allows_the_role(op: Operation) -> None:
    assert op.rule.scope is least_scope(op.rule.role)


def test_least_scope() -> None:
    assert least_scope(Role.NONE) is Scope.READ
    assert least_scope(Role.COLLABORATOR) is Scope.READ
    assert least_scope(Role.CONTRIBUTOR) is Scope.WRITE
    assert least_scope(Role.ADMINISTRATOR) is Scope.MANAGE


def test_rule_narrows_the_role_by_the_scope() -> None:
    rule = Rule(Role.CONTRIBUTOR, Scope.WRITE)
    assert rule.allows(Role.CONTRIBUTOR, Scope.WRITE, org_admin=False)
    assert rule.allows(Role.ADMINISTRATOR, Scope.MANAGE, org_admin=False)
    assert not rule.allows(Role.ADMINISTRATOR, Scope.READ, org_admin=False)
    assert not rule.allows(Role.COLLABORATOR, Scope.MANAGE, org_admin=False)


def test_org_admin_rules_need_the_org_admin_and_the_scope() -> None:
    rule = Operation.TOKEN_LIST_OTHERS.rule
    assert rule.allows(Role.ADMINISTRATOR, Scope.MANAGE, org_admin=True)
    assert not rule.allows(Role.ADMINISTRATOR, Scope.WRITE, org_admin=True)
    assert not rule.allows(Role.ADMINISTRATOR, Scope.MANAGE, org_admin=False)
