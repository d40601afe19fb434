"""A feed's settings in Chromium: the owner adds upstream sources and puts them in order (with the Up and Down
buttons, and by dragging), and another web site cannot change them through the owner's browser."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BACKENDS
from tests.browser.other_site import OtherSite
from tests.browser.pages import HOME, axe, sign_in
from tests.browser.seed import share_view
from tests.e2e.conftest import Api, FeedEnv, FeedServer
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401

pytestmark = pytest.mark.browser


def source_names(api: Api, feed: str) -> list[str]:
    """The feed's upstream sources, in the order it asks them, as the REST API reports them."""
    r = api.request("GET", f"/_apis/packaging/feeds/{feed}", params={"api-version": "7.1"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return [s["name"] for s in body.get("upstreamSources") or []]


def shown_names(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("ol.sources > li h3").all_inner_texts()]


@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_owner_adds_upstreams_and_puts_them_in_order(
    page: Page,
    api: Api,
    feed: FeedEnv,
    fixture_registry: FixtureRegistry,  # noqa: F811
) -> None:
    other = f"{feed.name}-other"
    api.create_feed(other)
    share_view(api, other)

    sign_in(page, api.server.admin_token)
    page.goto(f"{HOME}/feed/{feed.name}/settings")
    page.get_by_role("link", name="Upstream sources").first.click()
    expect(page.get_by_role("heading", name="Upstream sources")).to_be_visible()
    axe(page)

    page.get_by_label("Name", exact=True).fill("mirror")
    page.locator("#custom-protocol").select_option("npm")
    page.get_by_role("textbox", name="URL").fill(fixture_registry.url)
    page.locator("form", has=page.locator("#custom-name")).get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert shown_names(page) == ["mirror"]

    page.get_by_label("Feed and view").select_option(f"{other}@Local")
    page.locator("#internal-protocol").select_option("npm")
    page.locator("form", has=page.locator("#internal-upstream")).get_by_role("button", name="Add").click()
    expect(page.locator("ol.sources > li")).to_have_count(2)
    assert shown_names(page) == ["mirror", f"{other}@Local"]
    assert source_names(api, feed.name) == ["mirror", f"{other}@Local"]
    axe(page)

    # With the buttons (they work without script too) ...
    page.get_by_role("button", name="move mirror down").click()
    expect(page.locator("ol.sources > li h3").first).to_have_text(f"{other}@Local")
    assert source_names(api, feed.name) == [f"{other}@Local", "mirror"]

    # ... and by dragging one below the other.
    items = page.locator("ol.sources > li")
    with page.expect_navigation():  # dropping posts the new order
        items.nth(0).locator("h3").drag_to(items.nth(1).locator("dl"))  # onto the lower half of the second
    expect(page.locator("ol.sources > li h3").first).to_have_text("mirror")
    assert source_names(api, feed.name) == ["mirror", f"{other}@Local"]

    # Removing one asks first, on a page of its own.
    page.get_by_role("link", name="Remove mirror").click()
    expect(page.get_by_role("heading", name="Remove")).to_contain_text("mirror")
    axe(page)
    page.get_by_role("button", name="Yes, remove it").click()
    expect(page.locator("ol.sources > li")).to_have_count(1)
    assert source_names(api, feed.name) == [f"{other}@Local"]


def test_another_site_cannot_add_an_upstream(
    page: Page,
    api: Api,
    feed: FeedEnv,
    server: FeedServer,
    other_site: OtherSite,
) -> None:
    sign_in(page, api.server.admin_token)
    settings = f"{server.base_url}{HOME}/feed/{feed.name}/settings/upstreams"
    page.goto(settings)  # the owner has the page open: nothing on it reaches the other site
    fields = {"action": "add-custom", "name": "evil", "protocol": "npm", "location": "http://127.0.0.2:9/"}
    for path, extra in (("/plain", {}), ("/guessed", {"csrf": "0" * 43})):
        with page.expect_navigation(url=f"{server.base_url}/**") as answer:
            page.goto(other_site.auto_post(path, settings, {**fields, **extra}))
        assert answer.value.status == 403, answer.value.status
    assert source_names(api, feed.name) == []


def test_a_reader_gets_no_settings(page: Page, feed: FeedEnv) -> None:
    sign_in(page, feed.bob_token)
    for section in ("", "/upstreams", "/views", "/permissions", "/general"):
        refused = page.goto(f"{HOME}/feed/{feed.name}/settings{section}")
        assert refused is not None and refused.status == 403, section
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        expect(page.locator("form[method=post]")).to_have_count(1)  # only the header's sign-out
