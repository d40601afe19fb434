"""Signing in and out in Chromium, the keyboard, accessibility and the phone-width layout of the pages every
user sees first (sign-in, the organization's feeds, error pages)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BACKENDS, PHONE
from tests.browser.pages import HOME, SIGNIN, assert_no_horizontal_scroll, axe, focused, sign_in, sign_out, signed_in_as
from tests.browser.seed import update_feed
from tests.e2e.conftest import Api, FeedEnv, FeedServer

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_sign_in_comes_back_to_the_page_asked_for_and_sign_out_ends_the_session(
    page: Page, server: FeedServer, feed: FeedEnv
) -> None:
    page.goto(f"{HOME}?from=bookmark")
    expect(page).to_have_url(f"{server.base_url}{SIGNIN}?next=%2F{'local'}%2F_artifacts%3Ffrom%3Dbookmark")
    page.get_by_label("Personal access token").fill(feed.alice_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base_url}{HOME}?from=bookmark")
    signed_in_as(page, "alice")
    expect(page.get_by_role("status")).to_have_text("Signed in as alice.")
    expect(page.get_by_role("link", name=feed.name, exact=True)).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "feed_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    sign_out(page)
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    assert not [c for c in page.context.cookies() if c["name"] == "feed_session"]
    page.goto(HOME)
    expect(page).to_have_url(f"{server.base_url}{SIGNIN}?next=%2Flocal%2F_artifacts")


def test_a_wrong_token_shows_why_and_signs_nobody_in(page: Page, server: FeedServer) -> None:
    landed = sign_in(page, "fpat_this-is-not-a-token")
    assert landed is not None and landed.status == 401
    expect(page.get_by_role("alert")).to_contain_text("That token does not sign in here")
    expect(page.get_by_label("Personal access token")).to_have_value("")
    assert not [c for c in page.context.cookies() if c["name"] == "feed_session"]
    page.goto(HOME)
    expect(page).to_have_url(f"{server.base_url}{SIGNIN}?next=%2Flocal%2F_artifacts")


def test_a_stolen_session_cookie_stops_working_after_sign_out(page: Page, feed: FeedEnv) -> None:
    sign_in(page, feed.bob_token)
    signed_in_as(page, "bob")
    copied = page.context.cookies()
    thief = page.context.browser.new_context(base_url=feed.server.base_url)  # type: ignore[union-attr]
    try:
        thief.add_cookies(copied)  # type: ignore[arg-type]
        other = thief.new_page()
        other.goto(HOME)
        signed_in_as(other, "bob")
        sign_out(page)
        other.goto(HOME)
        expect(other.get_by_role("heading", level=1)).to_have_text("Sign in to local")
    finally:
        thief.close()


def test_the_keyboard_alone_signs_in(page: Page, feed: FeedEnv) -> None:
    page.goto(SIGNIN)
    # The token field has focus as the page opens (autofocus); before it in the tab order come only the skip
    # link, first, and the site link.
    field = page.get_by_label("Personal access token")
    expect(field).to_be_focused()
    page.keyboard.press("Shift+Tab")
    assert focused(page).startswith("a.brand"), focused(page)
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused link shows no outline"  # visible focus
    page.keyboard.press("Shift+Tab")
    assert focused(page).startswith('a.skip "Skip to content"'), focused(page)
    page.keyboard.press("Shift+Tab")
    assert focused(page).startswith("body "), focused(page)  # nothing before the skip link
    page.keyboard.press("Tab")
    assert focused(page).startswith('a.skip "Skip to content"'), focused(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(field).to_be_focused()
    page.keyboard.type(feed.alice_token)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    signed_in_as(page, "alice")

    # On a page without a field to start in, the first Tab reaches the skip link, which takes the focus past
    # the header.
    page.reload()
    page.keyboard.press("Tab")
    assert focused(page).startswith('a.skip "Skip to content"'), focused(page)
    expect(page.get_by_role("link", name="Skip to content")).to_be_visible()  # shown when focused
    page.keyboard.press("Enter")
    assert focused(page).startswith("main#main"), focused(page)
    # The sign-out button is reachable and works from the keyboard.
    page.get_by_role("button", name="Sign out").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Signed out.")


def test_sign_in_home_and_error_pages_pass_axe(page: Page, feed: FeedEnv) -> None:
    page.goto(SIGNIN)
    axe(page)
    sign_in(page, "fpat_wrong")  # the page with its error message
    axe(page)
    sign_in(page, feed.alice_token)
    axe(page)
    missing = page.goto(f"{HOME}/no-such-page/at-all")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    axe(page)


def test_home_fits_a_phone(page: Page, api: Api, feed: FeedEnv) -> None:
    # Long words (a URL, a hash) in what users write must wrap rather than widen the page.
    long_words = "Mirror of https://packages.corp.invalid/" + "x" * 40 + "/registry/ " + "f" * 64
    update_feed(api, feed.name, description=long_words)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    sign_in(page, feed.alice_token)
    expect(page.get_by_role("link", name=feed.name, exact=True)).to_be_visible()
    assert_no_horizontal_scroll(page)
    page.goto(SIGNIN)
    assert_no_horizontal_scroll(page)
