"""Defects found reviewing the web UI, on both storage backends: each test shows one."""

# ruff: noqa: F811
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.conftest import ADMIN_TOKEN, ORG, Api, in_process
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
