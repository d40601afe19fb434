"""Connect to feed in Chromium: a reader creates a token on the page, copies it and the npm set-up with the copy
buttons, and the real npm installs from the feed with exactly what was copied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import HOME, axe, sign_in
from tests.browser.seed import publish
from tests.e2e.conftest import Api, FeedEnv, FeedServer, NpmClient

pytestmark = pytest.mark.browser


def copy(page: Page, block_id: str) -> str:
    """Press the copy button of the copyable block ``block_id``; what the clipboard then holds."""
    page.locator(f'button[data-copy="{block_id}"]').click()
    expect(page.locator(f'button[data-copy="{block_id}"]')).to_have_text("Copied")
    text: str = page.evaluate("() => navigator.clipboard.readText()")
    return text


def test_a_reader_creates_a_token_and_npm_installs_with_what_the_page_gave(
    page: Page, api: Api, feed: FeedEnv, server: FeedServer, tmp_path: Path
) -> None:
    publish(api, feed.name, "connect-me", "1.0.0", token=feed.alice_token)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    sign_in(page, feed.bob_token)
    page.goto(f"{HOME}/feed/{feed.name}/connect?protocol=npm")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Connect to {feed.name}")
    expect(page.get_by_role("link", name="settings")).to_have_count(0)  # a reader administers nothing
    axe(page)

    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Token created")
    axe(page)
    token = copy(page, "new-token").strip()
    project_rc = copy(page, "snippet-npmrc")
    user_rc = copy(page, "snippet-npmrc-user")
    assert token and token not in project_rc  # the project file never holds the token
    assert "${FEED_TOKEN}" in user_rc

    # A client whose own configuration points nowhere: only the copied lines lead it to the feed.
    client = NpmClient(tmp_path / "npm", "http://127.0.0.1:9/", None, "none")
    (client.project / ".npmrc").write_text(project_rc)
    with client.userconfig.open("a") as rc:
        rc.write(user_rc.replace("${FEED_TOKEN}", token))
    result = client.run("install", "connect-me")
    assert result.returncode == 0, str(result)
    manifest = json.loads((client.project / "node_modules" / "connect-me" / "package.json").read_text())
    assert manifest["version"] == "1.0.0"
