"""The README's screenshots: a server of its own with a small demo (two feeds, one the other's upstream, an
npm registry as a custom upstream, packages published and saved), every main page visited, checked with axe
and photographed at 1280x800, and the feed page once more at phone width.

The pictures go to docs/screenshots/ only with FEED_UPDATE_SCREENSHOTS=1 (``scripts/screenshots`` sets it);
otherwise to a temporary directory, so the suite still runs the pages and axe without touching the docs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, SERVER_ENV, Screenshot
from tests.browser.pages import HOME, SIGNIN, assert_no_horizontal_scroll, axe, sign_in
from tests.browser.seed import (
    custom_npm_source,
    internal_npm_source,
    publish,
    run_health_job,
    save_from_upstream,
    share_view,
    update_feed,
)
from tests.e2e.conftest import Api, FeedServer, _start_server, _stop, running
from tests.npm_registry_fixture import FixtureRegistry

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Demo:
    server: FeedServer
    registry: FixtureRegistry
    feed: str = "web"
    upstream_feed: str = "shared"


@pytest.fixture(scope="module")
def demo_registry() -> Iterator[FixtureRegistry]:
    with FixtureRegistry() as registry:
        yield registry


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_registry: FixtureRegistry) -> Iterator[Demo]:
    srv = _start_server("embedded", tmp_path_factory.mktemp("ui-demo"), {"FEED_STORAGE": "embedded", **SERVER_ENV})
    try:
        seed_demo(Demo(srv, demo_registry))
        yield Demo(srv, demo_registry)
    finally:
        _stop(srv.proc)


def seed_demo(demo: Demo) -> None:
    api = Api(demo.server)
    try:
        api.create_feed(demo.upstream_feed)
        update_feed(api, demo.upstream_feed, description="Components every team may use")
        for version in ("1.0.0", "1.1.0"):
            publish(api, demo.upstream_feed, "date-kit", version, description="Small date helpers")
        share_view(api, demo.upstream_feed)

        api.create_feed(demo.feed)
        api.set_permissions(demo.feed, [("alice", "contributor"), ("bob", "reader")])
        update_feed(
            api,
            demo.feed,
            description="The web team's packages, and what they install from upstreams",
            upstreamSources=[
                internal_npm_source(demo.upstream_feed, demo.upstream_feed),
                custom_npm_source("mirror", demo.registry.url),
            ],
        )
        readme = "# UI kit\n\nButtons, forms and tables for the web team.\n\n```sh\nnpm install @web/ui-kit\n```\n"
        for version in ("2.0.0", "2.1.0"):
            publish(api, demo.feed, "@web/ui-kit", version, description="Buttons, forms and tables", readme=readme)
        publish(api, demo.feed, "@web/icons", "1.4.2", description="The icon set")
        publish(api, demo.feed, "web-config", "1.0.0", description="Shared lint and build settings")
        demo.registry.add("web-config", "9.0.0")  # a public copy of a private name: held back
        demo.registry.add("left-pad", "1.3.0", extra={"description": "Pads strings on the left"})
        save_from_upstream(api, demo.feed, "date-kit", "1.1.0")
        save_from_upstream(api, demo.feed, "left-pad", "1.3.0")
        for feed in (demo.upstream_feed, demo.feed):  # measured, so the home page shows each feed's storage
            assert api.request("GET", f"/_apis/packaging/feeds/{feed}/usage").status_code == 200
    finally:
        api.close()
    run_health_job(demo.server)  # the upstreams' health, as the timer job records it


@pytest.fixture
def server(demo: Demo) -> FeedServer:
    """Overrides conftest's ``server``: the page's context uses the demo's server."""
    return running(demo.server)


def test_main_pages(page: Page, demo: Demo, screenshot: Screenshot) -> None:
    page.goto(SIGNIN)
    axe(page)
    screenshot(page, "signin")

    sign_in(page, demo.server.admin_token)
    expect(page.get_by_role("link", name=demo.feed, exact=True)).to_be_visible()
    page.goto(HOME)  # once more, without the sign-in notice
    axe(page)
    screenshot(page, "home")

    feed = f"{HOME}/feed/{demo.feed}"
    with page.expect_navigation():
        page.get_by_role("link", name=demo.feed, exact=True).click()
    expect(page.locator("table.packages tbody tr")).to_have_count(5)
    axe(page)
    screenshot(page, "feed")

    page.goto(f"{feed}/npm/date-kit")
    expect(page.get_by_role("heading", level=1)).to_contain_text("date-kit")
    page.locator("table.versions tbody tr").first.get_by_text("Provenance").click()
    axe(page)
    screenshot(page, "package-provenance")
    page.goto(f"{feed}/npm/web-config?tab=blocked")
    expect(page.get_by_role("heading", name="Blocked versions")).to_be_visible()
    axe(page)
    screenshot(page, "package-blocked")
    for tab in ("install", "readme"):
        page.goto(f"{feed}/npm/@web%2Fui-kit?tab={tab}")
        axe(page)
    page.goto(f"{feed}/npm/web-config/upstreaming?allow=true")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Allow externally-sourced versions")
    axe(page)
    for action in ("Promote", "Deprecate", "Delete"):  # the confirmation pages, left without confirming
        page.goto(f"{feed}/npm/web-config")
        with page.expect_navigation():
            page.locator("table.versions tbody tr").first.get_by_role("link", name=action).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("web-config")
        axe(page)

    page.goto(f"{feed}/connect?protocol=npm")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Connect to {demo.feed}")
    axe(page)
    screenshot(page, "connect")

    for section in ("views", "permissions", "general", "upstreams"):
        shown = page.goto(f"{feed}/settings/{section}")
        assert shown is not None and shown.status == 200, section
        axe(page)
    expect(page.get_by_role("heading", name=demo.upstream_feed)).to_be_visible()
    screenshot(page, "settings-upstreams")
    for link in ("Change mirror", "Remove mirror"):  # a source's own pages, left without saving
        page.goto(f"{feed}/settings/upstreams")
        with page.expect_navigation():
            page.get_by_role("link", name=link).click()
        axe(page)

    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.goto(HOME)
    assert_no_horizontal_scroll(page)
    page.goto(feed)
    assert_no_horizontal_scroll(page)
    axe(page)
    screenshot(page, "feed-phone")
