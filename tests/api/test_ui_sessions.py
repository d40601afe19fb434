"""The web UI's sign-in, sessions, CSRF checks, static files and security headers, on both storage backends."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from feed_core.ui.render import CONTENT_SECURITY_POLICY
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, in_process
from tests.ui_client import hidden, post_form, sign_in

HOME = f"/{ORG}/_artifacts"
SIGNIN = f"{HOME}/signin"


@pytest.fixture
async def browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A second client on the same app, with its own cookie jar (a browser)."""
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as http:
        yield http


async def test_pages_need_a_session_and_come_back_after_sign_in(api: Api, browser: httpx.AsyncClient) -> None:
    await api.create_feed("team")
    r = await browser.get(f"{HOME}/?x=1")
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{SIGNIN}?next=")
    form = await browser.get(r.headers["location"])
    assert form.status_code == 200
    assert 'type="password"' in form.text
    nonce = hidden(form.text, "nonce")
    r = await browser.post(SIGNIN, data={"nonce": nonce, "next": f"{HOME}/", "token": ADMIN_TOKEN})
    assert r.status_code == 303
    assert r.headers["location"] == f"{HOME}/"
    cookie = r.headers["set-cookie"]
    assert "feed_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test below
    home = await browser.get(HOME)
    assert home.status_code == 200
    assert "team" in home.text
    assert "Signed in as admin" in home.text  # the notice shows once
    assert "Signed in as admin" not in (await browser.get(HOME)).text


async def test_session_cookie_is_secure_over_https(api: Api) -> None:
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="https://feed.test") as http:
        r = await sign_in(http, ADMIN_TOKEN)
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"]


async def test_wrong_tokens_do_not_sign_in(api: Api, browser: httpx.AsyncClient) -> None:
    for token, status in (("fpat_not-a-token", 401), ("", 400), ("x" * 600, 400)):
        r = await sign_in(browser, token)
        assert r.status_code == status, token[:20]
        assert "feed_session" not in r.headers.get("set-cookie", "")
    assert "does not sign in here" in (await sign_in(browser, "fpat_unknown")).text


async def test_sign_in_form_needs_its_own_nonce(api: Api, browser: httpx.AsyncClient) -> None:
    """Login CSRF: another site cannot sign a browser in to an account of its choosing."""
    await browser.get(SIGNIN)
    r = await browser.post(SIGNIN, data={"nonce": "forged", "token": ADMIN_TOKEN})
    assert r.status_code == 403
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as fresh:
        r = await fresh.post(SIGNIN, data={"nonce": "x", "token": ADMIN_TOKEN})
        assert r.status_code == 403


async def test_next_never_leaves_the_organization(api: Api) -> None:
    for target in ("https://evil.test/", "//evil.test/x", "/other/_artifacts", "/local/\\evil", "/local//x"):
        async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as browser:
            form = await browser.get(SIGNIN)
            fields = {"nonce": hidden(form.text, "nonce"), "next": target, "token": ADMIN_TOKEN}
            r = await browser.post(SIGNIN, data=fields)
            assert r.headers["location"] == HOME, target


async def test_state_changes_need_the_csrf_token(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_TOKEN)
    r = await browser.post(f"{HOME}/signout", data={"csrf": "wrong"})
    assert r.status_code == 403
    assert "CSRF" in r.text
    r = await browser.post(f"{HOME}/signout", data={})
    assert r.status_code == 403
    # the right token from another site's page is refused too
    page = await browser.get(HOME)
    r = await browser.post(
        f"{HOME}/signout", data={"csrf": hidden(page.text, "csrf")}, headers={"Origin": "https://evil.test"}
    )
    assert r.status_code == 403
    assert (await browser.get(HOME)).status_code == 200  # still signed in


async def test_sign_out_revokes_the_session(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_TOKEN)
    stolen = browser.cookies["feed_session"]
    r = await post_form(browser, HOME, f"{HOME}/signout", {})
    assert r.status_code == 303
    assert r.headers["location"] == SIGNIN
    assert (await browser.get(HOME)).status_code == 303
    async with httpx.AsyncClient(
        transport=in_process(api.services), base_url="http://feed.test", cookies={"feed_session": stolen}
    ) as replay:
        assert (await replay.get(HOME)).status_code == 303


async def test_revoking_the_token_ends_its_sessions(api: Api, browser: httpx.AsyncClient, clock: MutableClock) -> None:
    await api.create_feed("team")
    await api.grant("team", "dan", "reader")
    token = await api.token("dan", "vso.packaging")
    await sign_in(browser, token)
    assert (await browser.get(HOME)).status_code == 200
    listed = await api.http.get(f"/{ORG}/_apis/tokens/pats?user=dan", headers=api.auth())
    auth_id = listed.json()["patTokens"][0]["authorizationId"]
    r = await api.http.delete(f"/{ORG}/_apis/tokens/pats?authorizationId={auth_id}&user=dan", headers=api.auth())
    assert r.status_code == 204
    clock.advance(seconds=api.services.settings.cache_seconds + 1)  # past the token cache
    assert (await browser.get(HOME)).status_code == 303


async def test_sessions_end_when_idle_and_at_their_age_limit(
    api: Api, browser: httpx.AsyncClient, clock: MutableClock
) -> None:
    settings = api.services.settings
    await sign_in(browser, ADMIN_TOKEN)
    clock.advance(minutes=settings.ui_session_idle_minutes - 1)
    assert (await browser.get(HOME)).status_code == 200
    clock.advance(minutes=settings.ui_session_idle_minutes + 1)
    assert (await browser.get(HOME)).status_code == 303
    await sign_in(browser, ADMIN_TOKEN)
    steps = int(settings.ui_session_max_hours * 60 / (settings.ui_session_idle_minutes / 2)) + 1
    for _ in range(steps):  # busy all along, never idle
        clock.advance(minutes=settings.ui_session_idle_minutes / 2)
        r = await browser.get(HOME)
        if r.status_code == 303:
            break
    else:
        pytest.fail("the session outlived its age limit")


async def test_a_session_is_for_its_organization_only(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_TOKEN)
    r = await browser.get("/elsewhere/_artifacts")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/elsewhere/_artifacts/signin")


async def test_pages_carry_the_security_headers(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_TOKEN)
    for path in (HOME, SIGNIN, f"{HOME}/no/such/page"):
        r = await browser.get(path)
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store"
    assert (await browser.get(f"{HOME}/no/such/page")).status_code == 404
    page = (await browser.get(HOME)).text
    assert "<script>" not in page and " on" + "click=" not in page  # no inline script anywhere
    assert re.search(r'<script src="/_static/app\.[0-9a-f]{12}\.js" defer></script>', page)


async def test_static_files_are_hashed_and_kept_for_a_year(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_TOKEN)
    page = (await browser.get(HOME)).text
    css = re.search(r'href="(/_static/app\.[0-9a-f]{12}\.css)"', page)
    assert css
    r = await browser.get(css.group(1))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/css")
    assert "immutable" in r.headers["cache-control"] and "max-age=31536000" in r.headers["cache-control"]
    again = await browser.get(css.group(1), headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    for stale in ("/_static/app.000000000000.css", "/_static/../feed_core/app.py", "/_static/app.css"):
        assert (await browser.get(stale)).status_code == 404, stale


async def test_bad_forms_are_400_not_500(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_TOKEN)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = await browser.post(f"{HOME}/signout", content=b"\xff\xfe=\xff", headers=form)
    assert r.status_code == 400
    r = await browser.post(f"{HOME}/signout", json={"csrf": "x"})
    assert r.status_code == 400
    r = await browser.post(
        f"{HOME}/signout", content=b"a=" + b"x" * 70_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413
    r = await browser.post(
        f"{HOME}/signout",
        content="&".join(f"f{i}=1" for i in range(500)).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400


async def test_unknown_organization_and_org_root(api: Api, browser: httpx.AsyncClient) -> None:
    page = {"Accept": "text/html,application/xhtml+xml"}
    for root in (f"/{ORG}", f"/{ORG.upper()}", "/"):
        r = await browser.get(root, headers=page)
        assert r.status_code == 303 and r.headers["location"] == HOME, root
    assert (await browser.get("/")).json() == {"status": "ok"}  # what health probes ask
    assert (await browser.get("/nowhere", headers=page)).status_code == 404  # no hint of which organizations exist
    assert (await browser.get("/bad org!/_artifacts")).status_code == 404


async def test_the_gc_job_removes_ended_sessions_only(
    api: Api, browser: httpx.AsyncClient, clock: MutableClock
) -> None:
    from feed_core import jobs

    await sign_in(browser, ADMIN_TOKEN)
    clock.advance(minutes=api.services.settings.ui_session_idle_minutes + 1)
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as other:
        await sign_in(other, ADMIN_TOKEN)
        assert (await jobs.run_gc(api.services, dry_run=True)).sessions_removed == 1
        report = await jobs.run_gc(api.services)
        assert report.sessions_removed == 1
        assert "1 ended web UI sessions" in report.summary()
        assert (await jobs.run_gc(api.services)).sessions_removed == 0
        assert (await other.get(HOME)).status_code == 200  # the live one is kept


async def test_signing_in_again_ends_the_earlier_session(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_TOKEN)
    first = browser.cookies["feed_session"]
    assert (await browser.get(SIGNIN)).status_code == 303  # signed in already: the form sends the browser on
    # The sign-in form posted again from this browser (another tab opened before the first sign-in):
    browser.cookies.set("feed_signin", "tab-nonce", domain="feed.test", path="/")
    r = await browser.post(SIGNIN, data={"nonce": "tab-nonce", "next": "", "token": ADMIN_TOKEN})
    assert r.status_code == 303
    assert browser.cookies["feed_session"] != first
    assert (await browser.get(HOME)).status_code == 200
    async with httpx.AsyncClient(
        transport=in_process(api.services), base_url="http://feed.test", cookies={"feed_session": first}
    ) as replay:
        assert (await replay.get(HOME)).status_code == 303  # the earlier session is gone


async def test_sign_in_forms_of_two_organizations_do_not_overwrite_each_other(browser: httpx.AsyncClient) -> None:
    here = await browser.get(SIGNIN)
    await browser.get("/elsewhere/_artifacts/signin")  # another organization's form, opened in another tab
    r = await browser.post(SIGNIN, data={"nonce": hidden(here.text, "nonce"), "next": "", "token": ADMIN_TOKEN})
    assert r.status_code == 303, r.text
