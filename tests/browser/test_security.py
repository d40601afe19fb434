"""Attacks in a real browser: hostile text from packages, feeds and URLs must not run (XSS), another site must
not change anything through a signed-in user's browser (CSRF), nor frame the pages (clickjacking)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import Watch
from tests.browser.other_site import OtherSite
from tests.browser.pages import HOME, SIGNIN, sign_in, signed_in_as
from tests.browser.seed import custom_npm_source, publish, run_health_job, update_feed
from tests.e2e.conftest import Api, FeedEnv, FeedServer

pytestmark = pytest.mark.browser

#: Each payload, if it ever ran, would set ``window.__pwned`` and open a dialog.
SCRIPT = "<script>window.__pwned='script';alert('script')</script>"
IMG = "<img src=x onerror=\"window.__pwned='img';alert('img')\">"
BREAKOUT = "\"'><svg onload=\"window.__pwned='svg';alert('svg')\">"
JS_URL = "javascript:window.__pwned='link';alert('link')"
HOSTILE = f"{SCRIPT}{IMG}{BREAKOUT}"

#: Finds what escaping should have kept out of the DOM: scripts not from this origin, event-handler
#: attributes, script URLs, and the elements the payloads would create.
INERT_CHECK = """() => {
    const found = [];
    const text = (e, a) => `${e.tagName} ${a.name}=${a.value.slice(0, 60)}`;
    for (const s of document.scripts) {
        if (!s.src || new URL(s.src).origin !== location.origin) found.push('script ' + (s.src || s.text.slice(0, 60)));
    }
    const plain = ['value', 'content', 'aria-label', 'title'];
    for (const e of document.querySelectorAll('*')) {
        for (const a of e.attributes) {
            if (a.name.startsWith('on')) found.push(text(e, a));
            if (/^\\s*(javascript|vbscript|data):/i.test(a.value) && !plain.includes(a.name)) found.push(text(e, a));
        }
    }
    const made = 'img[src="x"], svg[onload], iframe, object, embed, base, meta[http-equiv]';
    for (const e of document.querySelectorAll(made)) found.push(e.outerHTML.slice(0, 80));
    if (window.__pwned !== undefined) found.push('window.__pwned = ' + window.__pwned);
    return found;
}"""


def assert_inert(page: Page, watch: Watch) -> None:
    """Nothing hostile made it into the page as markup, and nothing ran."""
    found: list[str] = page.evaluate(INERT_CHECK)
    assert not found, f"hostile markup on {page.url}: {found}"
    assert not watch.dialogs, watch.dialogs


def assert_security_headers(response: Response | None) -> None:
    assert response is not None
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("script-src") == ["'self'"], csp
    assert directives.get("default-src") == ["'none'"], csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")


# --- XSS -------------------------------------------------------------------------------------------


def test_hostile_feed_and_package_text_is_shown_as_text(page: Page, watch: Watch, api: Api, feed: FeedEnv) -> None:
    update_feed(api, feed.name, description=HOSTILE)
    publish(
        api,
        feed.name,
        "xss-probe",
        "1.0.0",
        description=HOSTILE,
        readme=f"# Hi\n\n{HOSTILE}\n\n[click me]({JS_URL})\n",
        homepage=JS_URL,
        keywords=[SCRIPT, IMG],
        author={"name": IMG, "url": JS_URL},
    )
    page.add_init_script("window.__pwned = undefined")
    landed = sign_in(page, feed.alice_token)
    assert_security_headers(landed)
    expect(page.get_by_text(HOSTILE, exact=True)).to_be_visible()  # the description, as the text it is
    assert_inert(page, watch)
    shown = page.goto(f"{HOME}/feed/{feed.name}")
    assert_security_headers(shown)
    expect(page.locator("table.packages")).to_contain_text("xss-probe")
    assert_inert(page, watch)
    package = f"{HOME}/feed/{feed.name}/npm/xss-probe"
    for tab in ("versions", "blocked", "install", "readme"):
        shown = page.goto(f"{package}?tab={tab}")
        assert shown is not None and shown.status == 200, tab
        assert_security_headers(shown)
        assert_inert(page, watch)
    readme = page.locator(".readme")
    expect(readme.get_by_role("heading", name="Hi")).to_be_visible()  # Markdown is rendered ...
    expect(readme).to_contain_text("<script>")  # ... raw HTML in it is text
    expect(readme.get_by_text("click me")).to_be_visible()  # the link's words stay, its script URL does not


def test_hostile_upstream_names_are_shown_as_text(
    page: Page, watch: Watch, api: Api, feed: FeedEnv, server: FeedServer
) -> None:
    dead = "http://127.0.0.1:9/"  # nothing listens: the health job records both as failing, by name
    update_feed(api, feed.name, upstreamSources=[custom_npm_source(SCRIPT, dead), custom_npm_source(IMG, dead)])
    run_health_job(server)
    landed = sign_in(page, api.server.admin_token)
    assert_security_headers(landed)
    card = page.locator("li.card", has=page.get_by_role("link", name=feed.name, exact=True))
    expect(card).to_contain_text(f"failing: {SCRIPT}, {IMG}")
    assert_inert(page, watch)
    for url in (
        f"{HOME}/feed/{feed.name}",  # the source filter lists the upstreams by name
        f"{HOME}/feed/{feed.name}?source={quote(IMG)}",
        f"{HOME}/feed/{feed.name}/settings/upstreams",
        f"{HOME}/feed/{feed.name}/connect",
    ):
        shown = page.goto(url)
        assert shown is not None and shown.status == 200, url
        assert_security_headers(shown)
        assert_inert(page, watch)
    expect(page.get_by_role("heading", name=SCRIPT, exact=True)).to_have_count(0)  # connect: no source names
    page.goto(f"{HOME}/feed/{feed.name}/settings/upstreams")
    expect(page.get_by_role("heading", name=IMG, exact=True)).to_be_visible()


def test_hostile_urls_are_shown_as_text(page: Page, watch: Watch, feed: FeedEnv, server: FeedServer) -> None:
    # A `next` that stays in this organization is kept, and printed into the form's hidden field.
    landed = sign_in(page, feed.alice_token, path=f"{SIGNIN}?next={quote(f'{HOME}/{BREAKOUT}{SCRIPT}')}")
    assert landed is not None and landed.status == 404
    assert_security_headers(landed)
    assert_inert(page, watch)
    # One that leads elsewhere (another site, a script URL) is replaced by the home page.
    for target in (JS_URL, "//127.0.0.2/", "https://127.0.0.2/", "/\\127.0.0.2/"):
        page.goto(f"{SIGNIN}?next={quote(target)}")
        expect(page).to_have_url(f"{server.base_url}{HOME}")
        assert_inert(page, watch)
    for path in (f"{HOME}/{quote(HOSTILE)}", f"{HOME}/feed/{quote(HOSTILE)}", f"{HOME}?q={quote(HOSTILE)}"):
        shown = page.goto(path)
        assert shown is not None and shown.status < 500, path
        assert_security_headers(shown)
        assert_inert(page, watch)


# --- a second origin -------------------------------------------------------------------------------


def test_another_site_cannot_sign_a_user_out(
    page: Page, feed: FeedEnv, server: FeedServer, other_site: OtherSite
) -> None:
    sign_in(page, feed.alice_token)
    signed_in_as(page, "alice")
    action = f"{server.base_url}{HOME}/signout"
    for path, fields in (("/plain", {}), ("/guessed", {"csrf": "0" * 43})):
        with page.expect_navigation(url=f"{server.base_url}/**") as answer:
            page.goto(other_site.auto_post(path, action, fields))
        # 127.0.0.1 on another port is the same site: the SameSite=Strict cookie comes along, and the form's
        # Origin and missing CSRF token are what stop it.
        assert answer.value.status == 403, answer.value.status
        expect(page.get_by_role("alert")).to_contain_text(f"a form from {other_site.url} cannot change anything here")
        page.goto(HOME)
        signed_in_as(page, "alice")  # still signed in


def test_another_site_cannot_sign_a_user_in_as_someone_else(
    page: Page, feed: FeedEnv, server: FeedServer, other_site: OtherSite
) -> None:
    """Login CSRF: the attacker's own token, posted from their page, must not open a session in the victim's
    browser (the victim would then save their work into the attacker's account)."""
    page.goto(SIGNIN)  # the victim has the sign-in form open in another tab: its nonce cookie is set
    action = f"{server.base_url}{SIGNIN}"
    for path, fields in (
        ("/login", {"token": feed.bob_token, "next": ""}),
        ("/nonce", {"token": feed.bob_token, "nonce": "x"}),
    ):
        with page.expect_navigation(url=f"{server.base_url}/**") as answer:
            page.goto(other_site.auto_post(path, action, fields))
        assert answer.value.status == 403, answer.value.status
        assert not [c for c in page.context.cookies() if c["name"] == "feed_session"]


def test_another_site_cannot_frame_the_pages(
    page: Page, watch: Watch, feed: FeedEnv, server: FeedServer, other_site: OtherSite
) -> None:
    sign_in(page, feed.alice_token)
    other_site.pages["/frame"] = (
        f'<!doctype html><meta charset="utf-8"><title>Frame</title><iframe src="{server.base_url}{HOME}"></iframe>'
    )
    page.goto(other_site.url + "/frame")
    page.wait_for_load_state("load")
    (child,) = [f for f in page.frames if f != page.main_frame]
    assert "Feeds" not in child.content() and feed.name not in child.content()
    assert [v for v in watch.csp_violations if "frame-ancestors 'none'" in v], watch.csp_violations
    watch.csp_violations.clear()  # the one violation this test wants


def test_another_site_cannot_allow_external_versions(
    page: Page, api: Api, feed: FeedEnv, server: FeedServer, other_site: OtherSite
) -> None:
    publish(api, feed.name, "guarded", "1.0.0", token=feed.alice_token)
    sign_in(page, api.server.admin_token)  # an owner, signed in
    action = f"{server.base_url}{HOME}/feed/{feed.name}/npm/guarded/upstreaming"
    with page.expect_navigation(url=f"{server.base_url}/**") as answer:
        page.goto(other_site.auto_post("/allow", action, {"allow": "true"}))
    assert answer.value.status == 403, answer.value.status
    r = api.request("GET", f"/_apis/packaging/feeds/{feed.name}/npm/packages/guarded/upstreaming")
    assert r.status_code == 200, r.text
    assert r.json()["versionsFromExternalUpstreams"].lower() == "auto"
