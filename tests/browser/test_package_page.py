"""A package's page in Chromium: where a saved version came from (its provenance), the owner allowing
externally-sourced versions so that the real npm can install a version that was blocked, and what a reader
does not get to see. The core flows run on both storage backends."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import BACKENDS
from tests.browser.pages import HOME, axe, sign_in
from tests.browser.seed import custom_npm_source, publish, save_from_upstream, update_feed, upstream_feed
from tests.e2e.conftest import Api, FeedEnv, NpmClient
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401

pytestmark = pytest.mark.browser

#: npm retries a failed fetch after 10 s and then 60 s by default: keep the retries, make them quick.
QUICK_RETRIES = ("--fetch-retry-mintimeout=100", "--fetch-retry-maxtimeout=300")


def package_url(feed: str, name: str, **query: str) -> str:
    segment = name.replace("/", "%2F")
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{HOME}/feed/{feed}/npm/{segment}" + (f"?{tail}" if tail else "")


def version_row(page: Page, version: str) -> Locator:
    number = page.locator("th", has_text=re.compile(rf"^{re.escape(version)}\b"))
    return page.locator("table.versions tbody tr").filter(has=number)


@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_a_version_saved_from_an_upstream_feed_shows_its_provenance(page: Page, api: Api, feed: FeedEnv) -> None:
    upstream_feed(api, feed, "shared-npm", {"shared-kit": "1.2.0"})
    save_from_upstream(api, feed.name, "shared-kit", "1.2.0", token=feed.alice_token)

    sign_in(page, feed.bob_token)  # a reader: from the feeds, to the feed, to the package
    with page.expect_navigation():
        page.get_by_role("link", name=feed.name, exact=True).click()
    with page.expect_navigation():
        page.get_by_role("link", name="shared-kit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("shared-kit")
    row = version_row(page, "1.2.0")
    expect(row).to_contain_text("shared-npm")  # the source chain
    expect(row).to_contain_text("alice")  # who saved it
    expect(row.locator("code.hash").first).to_contain_text("sha512")
    row.get_by_text("Provenance").click()  # a <details>: opens without script
    facts = row.locator("dl")
    expect(facts).to_be_visible()
    expect(facts).to_contain_text("Saved by")
    expect(facts).to_contain_text("alice")
    expect(facts).to_contain_text("Verified with")
    axe(page)


@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_owner_allows_external_versions_and_npm_installs_the_blocked_one(
    page: Page,
    api: Api,
    feed: FeedEnv,
    tmp_path: Path,
    fixture_registry: FixtureRegistry,  # noqa: F811
) -> None:
    update_feed(api, feed.name, upstreamSources=[custom_npm_source("mirror", fixture_registry.url)])
    # A public copy of a private name, already there when the private package is published. (One that appears
    # later is seen once the feed's negative cache entry for the name, taken at publish time, expires.)
    fixture_registry.add("corp-util", "2.0.0")
    publish(api, feed.name, "corp-util", "1.0.0", token=feed.alice_token, description="The private corp-util")

    before = NpmClient(tmp_path / "npm-before", feed.registry, feed.alice_token, "bearer")
    blocked = before.run("install", "corp-util@2.0.0", *QUICK_RETRIES)
    assert blocked.returncode != 0, str(blocked)
    assert "ETARGET" in blocked.output or "404" in blocked.output, str(blocked)
    assert fixture_registry.count("GET", "/corp-util-2.0.0.tgz") == 0

    sign_in(page, api.server.admin_token)  # the organization's administrator owns every feed
    page.goto(package_url(feed.name, "corp-util", tab="blocked"))
    expect(page.get_by_role("heading", name="Blocked versions")).to_be_visible()
    expect(page.locator("main")).to_contain_text("dependency confusion")
    axe(page)
    page.get_by_role("link", name="Allow externally-sourced versions").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Allow externally-sourced versions of corp-util?")
    axe(page)
    page.get_by_role("button", name="Allow", exact=True).click()
    expect(page.get_by_role("status")).to_be_visible()  # the notice of what was done
    expect(page.locator(".upstreaming")).to_contain_text("allowed")

    after = NpmClient(tmp_path / "npm-after", feed.registry, feed.alice_token, "bearer")
    installed = after.run("install", "corp-util@2.0.0", *QUICK_RETRIES)
    assert installed.returncode == 0, str(installed)
    manifest = json.loads((after.project / "node_modules" / "corp-util" / "package.json").read_text())
    assert manifest["version"] == "2.0.0"
    assert fixture_registry.count("GET", "/corp-util-2.0.0.tgz") == 1

    page.goto(package_url(feed.name, "corp-util"))
    expect(version_row(page, "2.0.0")).to_contain_text("mirror")
    expect(version_row(page, "1.0.0")).to_contain_text("this feed")


def test_a_reader_sees_no_owner_controls(page: Page, api: Api, feed: FeedEnv) -> None:
    publish(api, feed.name, "read-only", "1.0.0", token=feed.alice_token)
    sign_in(page, feed.bob_token)
    for url in (
        f"{HOME}/feed/{feed.name}",
        package_url(feed.name, "read-only"),
        package_url(feed.name, "read-only", tab="blocked"),
    ):
        page.goto(url)
        main = page.locator("main")
        expect(main).not_to_contain_text("Allow externally-sourced versions")
        for words in ("Feed settings", "Promote", "Deprecate", "Delete", "Unlist", "Yank"):
            expect(page.get_by_role("link", name=words)).to_have_count(0)
        # The only form that posts is the header's sign-out.
        assert page.locator("form[method=post]").count() == 1, url
    # Asking for an owner's page directly is refused with a page saying so.
    refused = page.goto(package_url(feed.name, "read-only") + "/upstreaming?allow=true")
    assert refused is not None and refused.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    refused = page.goto(f"{HOME}/feed/{feed.name}/settings")
    assert refused is not None and refused.status == 403
