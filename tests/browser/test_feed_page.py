"""Browsing a feed in Chromium: from the organization's feeds to a feed's packages, searched and filtered by
where they came from (published here, or saved from an upstream feed), on both storage backends."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BACKENDS, PHONE
from tests.browser.pages import HOME, assert_no_horizontal_scroll, axe, sign_in
from tests.browser.seed import publish, save_from_upstream, upstream_feed
from tests.e2e.conftest import Api, FeedEnv

pytestmark = pytest.mark.browser


def show(page: Page) -> None:
    """Submit the filter form and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()


def package_rows(page: Page) -> list[str]:
    """The package names of the table's rows, in order."""
    return [n.strip() for n in page.locator("table.packages tbody tr th[scope=row]").all_inner_texts()]


@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_browse_a_feed_and_filter_it_by_source(page: Page, api: Api, feed: FeedEnv) -> None:
    upstream_feed(api, feed, "shared-npm", {"shared-kit": "1.2.0", "never-saved": "1.0.0"})
    publish(api, feed.name, "own-kit", "2.0.0", token=feed.alice_token, description="Our own kit")
    publish(api, feed.name, "@team/own-tool", "0.3.0", token=feed.alice_token, description="A scoped tool")
    save_from_upstream(api, feed.name, "shared-kit", "1.2.0", token=feed.alice_token)

    sign_in(page, feed.bob_token)  # a reader browses
    with page.expect_navigation():
        page.get_by_role("link", name=feed.name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(feed.name)
    # What the feed holds: published here or saved; never an upstream's unsaved package.
    assert package_rows(page) == ["@team/own-tool", "own-kit", "shared-kit"]
    shared = page.locator("table.packages tbody tr", has_text="shared-kit")
    expect(shared).to_contain_text("1.2.0")
    expect(shared).to_contain_text("shared-npm")
    expect(page.locator("table.packages tbody tr", has_text="own-kit")).to_contain_text("this feed")
    axe(page)

    page.get_by_label("Source").select_option("shared-npm")
    show(page)
    expect(page).to_have_url(re.compile(r"[?&]source=shared-npm(&|$)"))
    assert package_rows(page) == ["shared-kit"]
    expect(page.get_by_label("Source")).to_have_value("shared-npm")  # the form shows the filter in use

    page.get_by_label("Source").select_option(label="This feed (published here)")
    show(page)
    assert package_rows(page) == ["@team/own-tool", "own-kit"]

    page.get_by_label("Search").fill("tool")
    show(page)
    assert package_rows(page) == ["@team/own-tool"]
    with page.expect_navigation():
        page.get_by_role("link", name="Clear").click()
    assert package_rows(page) == ["@team/own-tool", "own-kit", "shared-kit"]

    page.get_by_label("Search").fill("no-such-thing")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # the search form submits from the keyboard
    expect(page.get_by_role("status")).to_contain_text("No package matches")
    axe(page)


def test_the_feed_page_fits_a_phone(page: Page, api: Api, feed: FeedEnv) -> None:
    for n in range(3):
        publish(api, feed.name, f"phone-check-{n}", "1.0.0", description="A description long enough to wrap " * 3)
    publish(api, feed.name, "@a-rather-long-scope-name/and-a-rather-long-package-name", "10.20.30-beta.4")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    sign_in(page, feed.alice_token, path=f"/local/_artifacts/signin?next={HOME}/feed/{feed.name}")
    expect(page.get_by_role("heading", level=1)).to_have_text(feed.name)
    assert_no_horizontal_scroll(page)
    axe(page)


def test_an_unknown_feed_or_bad_filter_is_an_error_page(page: Page, feed: FeedEnv) -> None:
    sign_in(page, feed.alice_token)
    missing = page.goto(f"{HOME}/feed/no-such-feed-{uuid.uuid4().hex[:6]}")
    assert missing is not None and missing.status == 404
    bad = page.goto(f"{HOME}/feed/{feed.name}?page=zero")
    assert bad is not None and bad.status == 400
    expect(page.get_by_role("alert")).to_contain_text("page must be")
    axe(page)
