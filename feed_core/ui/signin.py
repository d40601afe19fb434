"""Signing in with a personal access token, and signing out.

The sign-in form is guarded against login CSRF by a double submit: its GET sets a random value in a
SameSite=Strict cookie and the same value in a hidden field, and the POST must carry both. After it, the
browser holds only the session cookie (HttpOnly, SameSite=Strict, Secure over https); the token itself is
never stored in the browser.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from starlette.responses import Response

from feed_core.domain.errors import FeedError, ForbiddenError
from feed_core.ui.page import SESSION_COOKIE, Ui, UiRoute, read_form

log = logging.getLogger("feed_core.ui")

SIGNIN_COOKIE = "feed_signin"
MAX_TOKEN_LENGTH = 512


def safe_next(ui: Ui, target: str) -> str:
    """Where to go after signing in: a page of this organization, never another site."""
    home = ui.url()
    prefix = f"/{home.split('/')[1]}/"
    if (
        target.startswith(prefix)
        and "//" not in target
        and "\\" not in target
        and target.isascii()
        and target.isprintable()
    ):
        return target
    return home


async def _form(ui: Ui) -> Response:
    if ui.session is not None:
        return ui.done(safe_next(ui, ui.query("next")), f"You are signed in as {ui.session.caller.user}.")
    return _show(ui, 200, "")


def _show(ui: Ui, status: int, problem: str) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = ui.page("signin.html", status, next=safe_next(ui, ui.query("next")), nonce=nonce, problem=problem)
    response.set_cookie(
        SIGNIN_COOKIE, nonce, max_age=3600, path=ui.cookie_path, httponly=True, samesite="strict", secure=ui.secure
    )
    return response


async def _sign_in(ui: Ui) -> Response:
    fields = dict(reversed(await read_form(ui.request)))
    ui.check_origin()
    nonce = ui.request.cookies.get(SIGNIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(nonce.encode(), fields.get("nonce", "").encode("utf-8", "replace")):
        raise ForbiddenError("the sign-in form is stale or did not come from this site; load it again")
    token = fields.get("token", "").strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return _show(ui, 400, "Paste a personal access token.")
    try:
        opened = await ui.services.sessions.sign_in(ui.org, token)
    except FeedError as exc:
        log.info("a UI sign-in to %s failed: %s", ui.org, exc.message)
        return _show(ui, 401, f"That token does not sign in here: {exc.message}.")
    earlier = ui.request.cookies.get(SESSION_COOKIE, "")
    if earlier:  # signing in again (say, with another token) ends the session this browser had
        await ui.services.sessions.sign_out(earlier)
    log.info("%s signed in to the UI of %s", opened.caller.user, ui.org)
    response = ui.done(safe_next(ui, fields.get("next", "")), f"Signed in as {opened.caller.user}.")
    response.set_cookie(
        SESSION_COOKIE,
        opened.key,
        max_age=int(ui.services.sessions.lifetime.total_seconds()),
        path=ui.cookie_path,
        httponly=True,
        samesite="strict",
        secure=ui.secure,
    )
    response.delete_cookie(SIGNIN_COOKIE, path=ui.cookie_path, httponly=True, samesite="strict")
    return response


async def _sign_out(ui: Ui) -> Response:
    await ui.form()  # the CSRF check: another site cannot sign a user out either
    assert ui.session is not None
    await ui.services.sessions.sign_out(ui.session.key)
    log.info("%s signed out of the UI of %s", ui.session.caller.user, ui.org)
    response = ui.done(ui.url("signin"), "Signed out.")
    response.delete_cookie(SESSION_COOKIE, path=ui.cookie_path, httponly=True, samesite="strict")
    return response


ROUTES = (
    UiRoute("GET", ("signin",), _form, public=True),
    UiRoute("POST", ("signin",), _sign_in, public=True),
    UiRoute("POST", ("signout",), _sign_out),
)
