"""What browser tests do on the UI's pages: sign in and out through the forms, check accessibility with
axe-core, measure the layout, take screenshots."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Response, expect

REPO_ROOT = Path(__file__).resolve().parents[2]
ORG = "local"
HOME = f"/{ORG}/_artifacts"
SIGNIN = f"{HOME}/signin"
AXE_JS = REPO_ROOT / "tools" / "node_modules" / "axe-core" / "axe.min.js"
#: The axe findings a page may not have.
BLOCKING_IMPACTS = ("serious", "critical")


def sign_in(page: Page, token: str, *, path: str = SIGNIN) -> Response | None:
    """Sign in through the form at ``path`` (the sign-in page, with a ``next`` maybe) as a person would:
    type the token, press the button. Returns the answer to the form's POST (after its redirect)."""
    page.goto(path)
    page.get_by_label("Personal access token").fill(token)
    with page.expect_navigation() as landed:
        page.get_by_role("button", name="Sign in").click()
    return landed.value


def signed_in_as(page: Page, user: str) -> None:
    expect(page.locator("header .who")).to_have_text(user)


def sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sign in")


@cache
def _axe_source() -> str:
    if not AXE_JS.is_file():
        raise AssertionError(f"axe-core is missing at {AXE_JS}: run `cd tools && npm install` (scripts/test does)")
    return AXE_JS.read_text()


def axe(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is and fail on any serious or critical violation; returns every
    violation (minor and moderate ones are allowed).

    axe is evaluated through the DevTools protocol (``page.evaluate``) rather than added as a ``<script>``
    element: the page's Content-Security-Policy forbids inline script, and evaluating leaves it in force, so
    the page is checked exactly as users get it (no ``bypass_csp``)."""
    page.evaluate(_axe_source())
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
    assert not blocking, f"axe found serious or critical problems on {page.url}:\n" + describe(blocking)
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v.get('impact')}] {v['id']}: {v['help']} ({v.get('helpUrl', '')})")
        for node in v.get("nodes", [])[:5]:
            lines.append(f"    at {json.dumps(node.get('target'))}: {node.get('html', '')[:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


def assert_no_horizontal_scroll(page: Page) -> None:
    """The page is no wider than the viewport (what is wider scrolls inside a ``.table-wrap`` or ``pre``);
    on failure, names the elements that stick out."""
    overflow: int = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        culprits: list[str] = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => !e.closest('.table-wrap, pre'))
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                    || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'))
                .map(e => `${e.tagName.toLowerCase()}${e.className ? '.' + e.className : ''}: `
                    + `${Math.round(e.getBoundingClientRect().right)}px "${(e.textContent || '').trim().slice(0, 50)}"`)
                .slice(-5)"""
        )
        raise AssertionError(f"{page.url} is {overflow}px wider than the {page.viewport_size} viewport: {culprits}")


def focused(page: Page) -> str:
    """The focused element, as ``tag#id.class "text"`` (for keyboard tests and their messages)."""
    found: str = page.evaluate(
        """() => {
            const e = document.activeElement;
            if (!e) return '';
            const id = e.id ? '#' + e.id : '';
            const cls = e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '';
            return `${e.tagName.toLowerCase()}${id}${cls} "${(e.textContent || '').trim().slice(0, 40)}"`;
        }"""
    )
    return found
