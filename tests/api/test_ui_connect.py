"""The Connect to feed page: each client's set-up with this server's absolute URLs, and minting a token from it
(scoped no broader than the session's token, shown once, never logged), on both storage backends."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.api.conftest import ADMIN_TOKEN, ORG, Api, in_process
from tests.ui_client import hidden, post_form, sign_in

FEED = f"/{ORG}/_artifacts/feed/feed"
CONNECT = f"{FEED}/connect"
BASE = "http://feed.test"


@asynccontextmanager
async def browser(api: Api, token: str = ADMIN_TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in with ``token``."""
    async with httpx.AsyncClient(transport=in_process(api.services), base_url=BASE) as http:
        r = await sign_in(http, token)
        assert r.status_code == 303, r.text
        yield http


def text(r: httpx.Response) -> str:
    """The page as the browser shows it (entities decoded)."""
    return html.unescape(r.text)


async def page(http: httpx.AsyncClient, url: str) -> str:
    r = await http.get(url)
    assert r.status_code == 200, r.text
    return text(r)


async def test_snippets_have_the_feeds_absolute_urls_for_each_protocol(feed_api: Api) -> None:
    async with browser(feed_api, feed_api.tokens["bob"]) as http:  # a reader may connect
        npm = await page(http, CONNECT)  # npm first while the feed has no upstreams
        assert f"registry={BASE}/{ORG}/_packaging/feed/npm/registry/" in npm
        assert f"//feed.test/{ORG}/_packaging/feed/npm/registry/:_authToken=${{FEED_TOKEN}}" in npm
        assert 'aria-current="page">npm<' in npm
        assert 'data-copy="snippet-npmrc"' in npm
        assert f"{FEED}/settings" not in npm  # the settings are for administrators

        root = f"{BASE}/{ORG}/_packaging/feed@Release"
        pypi = await page(http, f"{CONNECT}?protocol=pypi&view=Release")
        assert (
            f'--index-url "http://__token__:$FEED_TOKEN@feed.test/{ORG}/_packaging/feed@Release/pypi/simple/"' in pypi
        )
        assert "[[tool.uv.index]]" in pypi and f'url = "{root}/pypi/simple/"' in pypi
        assert f"repository = {root}/pypi/upload/" in pypi and "username = __token__" in pypi  # .pypirc
        assert "UV_INDEX_FEED_RELEASE_PASSWORD" in pypi

        nuget = await page(http, f"{CONNECT}?protocol=nuget&view=Release")
        assert f'<add key="feed-Release" value="{root}/nuget/v3/index.json" />' in nuget
        assert "<packageSourceCredentials>" in nuget and "ClearTextPassword" in nuget

        maven = await page(http, f"{CONNECT}?protocol=maven&view=Release")
        assert f"<repository><id>feed-Release</id><url>{root}/maven/v1</url></repository>" in maven
        assert "<distributionManagement>" in maven and "<server>" in maven
        assert f"url '{root}/maven/v1'" in maven  # gradle

        cargo = await page(http, f"{CONNECT}?protocol=cargo&view=Release")
        assert "[registries.feed-Release]" in cargo
        assert f'index = "sparse+{root}/cargo/index/"' in cargo
        assert 'credential-provider = "cargo:token"' in cargo
        assert "cargo login --registry feed-Release" in cargo

        upack = await page(http, f"{CONNECT}?protocol=upack&view=Release")
        assert "AZURE_DEVOPS_EXT_PAT" in upack
        assert f"universal publish --organization {root.split('/_packaging/')[0]} --feed feed@Release" in upack
        assert "universal download --organization" in upack and "--version '1.*'" in upack

        assert (await http.get(f"{CONNECT}?view=Nope")).status_code == 404
        assert (await http.get(f"{CONNECT}?protocol=gopher")).status_code == 400
        assert (await http.get(f"/{ORG}/_artifacts/feed/missing/connect")).status_code == 404


async def test_project_feed_and_public_url(feed_api: Api) -> None:
    r = await feed_api.http.post(
        f"/{ORG}/proj/_apis/packaging/feeds?api-version=7.1", json={"name": "pf"}, headers=feed_api.auth()
    )
    assert r.status_code == 201, r.text
    async with browser(feed_api) as http:
        shown = await page(http, f"/{ORG}/proj/_artifacts/feed/pf/connect?protocol=npm")
        assert f'href="/{ORG}/proj/_artifacts/feed/pf/settings"' in shown
        assert f"registry={BASE}/{ORG}/proj/_packaging/pf/npm/registry/" in shown


async def test_members_only(feed_api: Api) -> None:
    await feed_api.token("eve", "vso.packaging")  # no role in the feed
    async with browser(feed_api, feed_api.tokens["eve"]) as http:
        r = await http.get(CONNECT)
        assert r.status_code == 403
        assert "role" in r.text


def minted_token(r: httpx.Response) -> str:
    m = re.search(r'<pre id="new-token"[^>]*><code>([^<]+)</code>', r.text)
    assert m, r.text
    return html.unescape(m.group(1))


async def test_a_reader_session_mints_read_tokens_only(feed_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    api = feed_api
    assert (await api.publish("left-pad", "1.0.0")).status_code in (200, 201)
    caplog.set_level(logging.DEBUG)
    async with browser(api, api.tokens["bob"]) as http:
        shown = await page(http, CONNECT)
        assert 'value="vso.packaging"' in shown and 'value="vso.packaging_write"' not in shown
        r = await post_form(http, CONNECT, CONNECT, {"name": "ci", "scope": "vso.packaging_write", "days": "30"})
        assert r.status_code == 403
        assert "cannot create a vso.packaging_write token" in text(r)
        assert 'value="ci"' in r.text  # the form keeps what was typed
        r = await post_form(http, CONNECT, CONNECT, {"name": "", "scope": "vso.packaging", "days": "30"})
        assert r.status_code == 400
        r = await post_form(http, CONNECT, CONNECT, {"name": "ci", "scope": "vso.packaging", "days": "9999"})
        assert r.status_code == 400

        r = await post_form(
            http, CONNECT, f"{CONNECT}?protocol=npm", {"name": "ci", "scope": "vso.packaging", "days": "30"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        assert "set-cookie" not in r.headers or "fpat" not in r.headers["set-cookie"]
        token = minted_token(r)
        assert "Copy the token now" in r.text and "vso.packaging" in r.text
    # the new token reads the feed through npm, and cannot publish
    auth = {"Authorization": f"Bearer {token}"}
    got = await api.http.get(f"{api.registry()}left-pad", headers=auth)
    assert got.status_code == 200, got.text
    api.tokens["bob-ci"] = token
    assert (await api.publish("other", "1.0.0", who="bob-ci")).status_code == 403
    assert token not in caplog.text


async def test_a_write_session_mints_write_tokens_that_publish(feed_api: Api) -> None:
    api = feed_api
    async with browser(api, api.tokens["alice"]) as http:
        shown = await page(http, CONNECT)
        assert 'value="vso.packaging_write"' in shown
        r = await post_form(http, CONNECT, CONNECT, {"name": "release", "scope": "vso.packaging_write", "days": "7"})
        assert r.status_code == 200, r.text
        api.tokens["alice-ci"] = minted_token(r)
    r = await api.publish("made-with-ui-token", "1.0.0", who="alice-ci")
    assert r.status_code in (200, 201), r.text


async def test_minting_needs_the_csrf_token(feed_api: Api) -> None:
    async with browser(feed_api) as http:
        r = await http.post(CONNECT, data={"name": "x", "scope": "vso.packaging", "days": "7"})
        assert r.status_code == 403
        r = await http.post(CONNECT, data={"csrf": "forged", "name": "x", "scope": "vso.packaging", "days": "7"})
        assert r.status_code == 403
        assert "new-token" not in r.text
        page_html = (await http.get(CONNECT)).text
        r = await http.post(
            CONNECT,
            data={"csrf": hidden(page_html, "csrf"), "name": "x", "scope": "vso.packaging", "days": "7"},
            headers={"Origin": "https://evil.test"},
        )
        assert r.status_code == 403
