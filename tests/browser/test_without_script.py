"""The pages work with JavaScript turned off (progressive enhancement): signing in, filtering a feed, an owner's
action through its confirmation page, and ordering upstream sources with the Up and Down buttons. Only the
copy buttons need script, and without it they are not shown at all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESKTOP
from tests.browser.pages import HOME, sign_in, signed_in_as
from tests.browser.seed import custom_npm_source, internal_npm_source, publish, update_feed, upstream_feed
from tests.e2e.conftest import Api, FeedEnv, FeedServer

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser, server: FeedServer) -> Iterator[Page]:
    """Overrides conftest's ``page``: a tab with JavaScript disabled."""
    context = browser.new_context(base_url=server.base_url, viewport=DESKTOP, java_script_enabled=False)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_everything_but_copying_works_without_script(page: Page, api: Api, feed: FeedEnv) -> None:
    shared = upstream_feed(api, feed, "shared-npm", {"shared-kit": "1.0.0"})
    mirror = custom_npm_source("mirror", "http://127.0.0.1:9/")  # nothing listens there; never asked here
    update_feed(api, feed.name, upstreamSources=[internal_npm_source("shared-npm", shared), mirror])
    publish(api, feed.name, "plain-kit", "1.0.0", token=feed.alice_token)

    sign_in(page, api.server.admin_token)
    signed_in_as(page, "admin")
    page.goto(f"{HOME}/feed/{feed.name}")
    page.get_by_label("Search").fill("plain")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator("table.packages tbody tr")).to_have_count(1)

    with page.expect_navigation():
        page.get_by_role("link", name="plain-kit", exact=True).click()
    with page.expect_navigation():
        page.get_by_role("link", name="Allow externally-sourced versions").first.click()
    with page.expect_navigation():
        page.get_by_role("button", name="Allow", exact=True).click()
    expect(page.locator(".upstreaming")).to_contain_text("allowed")

    page.goto(f"{HOME}/feed/{feed.name}/npm/plain-kit?tab=install")
    expect(page.locator("pre").first).to_be_visible()  # the install command, to select and copy by hand
    expect(page.get_by_role("button", name="Copy")).to_have_count(0)  # hidden: it would need script

    page.goto(f"{HOME}/feed/{feed.name}/settings/upstreams")
    names = page.locator("ol.sources > li h3")
    expect(names).to_have_text(["shared-npm", "mirror"])
    with page.expect_navigation():
        page.get_by_role("button", name="move mirror up").click()
    expect(names).to_have_text(["mirror", "shared-npm"])
