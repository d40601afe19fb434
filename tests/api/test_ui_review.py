"""Defects found reviewing the web UI, on both storage backends: each test shows one."""

# ruff: noqa: F811
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from feed_core.service.package_list import PackageListService
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, SettingsFactory, in_process
from tests.api.test_publish_costs import worker
from tests.api.test_ui_package import signed_in, upstreamed  # noqa: F401
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.ui_client import hidden, sign_in

PAGES = f"/{ORG}/_artifacts"


async def test_a_page_number_in_other_unicode_digits_is_a_400(feed_api: Api) -> None:
    """``"²".isdigit()`` holds but ``int("²")`` fails: the versions tab answered a 500."""
    assert (await feed_api.publish("pkg", "1.0.0", who="alice")).status_code == 201
    async with httpx.AsyncClient(transport=in_process(feed_api.services), base_url="http://feed.test") as http:
        assert (await sign_in(http, ADMIN_TOKEN)).status_code == 303
        r = await http.get(f"{PAGES}/feed/feed/npm/pkg?page=%C2%B2")
        assert r.status_code == 400, r.text


async def test_a_package_with_long_keywords_is_published_and_listed(feed_api: Api) -> None:
    """An index row keeps every keyword in one property: a manifest (published, or saved from an upstream) with
    long keywords exceeded Azure's 64 KiB property limit, so the publish answered a 500 after its commit and the
    package was missing from the feed page and searches."""
    keywords = [f"k{i}-" + "x" * 1500 for i in range(50)]
    r = await feed_api.publish("wordy", "1.0.0", who="alice", extra={"keywords": keywords, "description": "d"})
    assert r.status_code == 201, r.text
    async with httpx.AsyncClient(transport=in_process(feed_api.services), base_url="http://feed.test") as http:
        assert (await sign_in(http, ADMIN_TOKEN)).status_code == 303
        page = await http.get(f"{PAGES}/feed/feed?q=k7-xxx")
        assert page.status_code == 200 and ">wordy</a>" in page.text


async def test_signing_in_from_a_scoped_npm_package_page_comes_back_to_it(feed_api: Api) -> None:
    """The sign-in page's ``next`` was the decoded path: ``@scope%2Fname`` came back as ``@scope/name``, one
    segment too many, and signing in led to a 404 page instead of the package."""
    assert (await feed_api.publish("@team/lib", "1.0.0", who="alice")).status_code == 201
    async with httpx.AsyncClient(transport=in_process(feed_api.services), base_url="http://feed.test") as http:
        asked = await http.get(f"{PAGES}/feed/feed/npm/@team%2Flib?tab=install")
        assert asked.status_code == 303
        target = parse_qs(urlsplit(asked.headers["location"]).query)["next"][0]
        form = await http.get(asked.headers["location"])
        signed = await http.post(
            f"{PAGES}/signin",
            data={"nonce": hidden(form.text, "nonce"), "next": target, "token": ADMIN_TOKEN},
            headers={"Origin": "http://feed.test"},
        )
        assert signed.status_code == 303
        back = await http.get(signed.headers["location"])
        assert back.status_code == 200, back.text
        assert "npm install @team/lib@1.0.0" in back.text


async def test_a_version_an_upstream_dates_near_year_9999_is_listed_as_held_back(
    upstreamed: Api, fixture_registry: FixtureRegistry
) -> None:
    """A hostile upstream's publish time is trusted as "too new"; adding the release age to 9999-12-31 passed
    the last date Python holds and the blocked tab answered a 500."""
    fixture_registry.add("future", "1.0.0", published="2020-01-01T00:00:00.000Z")
    fixture_registry.add("future", "2.0.0", published="9999-12-31T12:00:00.000Z")
    async with signed_in(upstreamed, "carol") as carol:
        blocked = await carol.get(f"{PAGES}/feed/feed/npm/future?tab=blocked")
        assert blocked.status_code == 200, blocked.text
        assert '<th scope="row">2.0.0</th>' in blocked.text


async def test_the_home_page_counts_every_feed_without_evicting_the_others(make_settings: SettingsFactory) -> None:
    """The home page counted each feed's packages through its full listing, kept under the same bound as the
    feed pages' listings: once the organization's feeds held more packages than a worker keeps, each visit
    evicted the feed read before it and read every feed's whole index again (a full scan of the organization
    per visit)."""
    async with worker(make_settings(cache_seconds=60)) as w:
        for feed in ("a", "b"):
            await w.api.create_feed(feed)
            for name in ("one", "two"):
                assert (await w.api.publish(name, "1.0.0", feed=feed)).status_code == 201
        w.api.services.package_list = PackageListService(w.api.services.packages, 60, max_packages=3)
        async with httpx.AsyncClient(transport=in_process(w.api.services), base_url="http://feed.test") as http:
            assert (await sign_in(http, ADMIN_TOKEN)).status_code == 303
            assert (await http.get(PAGES)).status_code == 200
            w.reset()
            for _ in range(3):
                home = await http.get(PAGES)
                assert home.status_code == 200 and "npm (2)" in home.text
        assert w.tables.by_table[("query", "packageindex")] == 0


async def test_visiting_another_organizations_pages_keeps_this_ones_session(api: Api) -> None:
    """One session cookie (path ``/``) served every organization, and a page of another one deleted it as a
    session that no longer works: following a link to another organization signed the user out of theirs."""
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as http:
        assert (await sign_in(http, ADMIN_TOKEN)).status_code == 303
        assert (await http.get(PAGES)).status_code == 200
        elsewhere = await http.get("/elsewhere/_artifacts")
        assert elsewhere.status_code == 303 and elsewhere.headers["location"].startswith("/elsewhere/_artifacts/signin")
        back = await http.get(PAGES)
        assert back.status_code == 200, back.headers.get("location")
