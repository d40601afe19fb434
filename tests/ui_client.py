"""Driving the web UI over HTTP (an httpx client that keeps cookies): sign in, read a page's CSRF token, post
a form as the page would."""

from __future__ import annotations

import re

import httpx

ORG = "local"


def hidden(html: str, name: str) -> str:
    """The value of the first hidden input ``name`` on the page."""
    m = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert m, f"no hidden field {name} on the page"
    return m.group(1).replace("&#34;", '"').replace("&amp;", "&")


async def sign_in(http: httpx.AsyncClient, token: str, org: str = ORG) -> httpx.Response:
    """Sign in through the form as a browser would; the client then holds the session cookie."""
    form = await http.get(f"/{org}/_artifacts/signin")
    assert form.status_code == 200, form.text
    return await http.post(
        f"/{org}/_artifacts/signin",
        data={"nonce": hidden(form.text, "nonce"), "next": "", "token": token},
        headers={"Origin": str(http.base_url).rstrip("/")},
    )


async def post_form(http: httpx.AsyncClient, page: str, action: str, fields: dict[str, str]) -> httpx.Response:
    """GET ``page``, then post ``fields`` to ``action`` with the CSRF token the page carries."""
    shown = await http.get(page)
    assert shown.status_code == 200, shown.text
    return await http.post(
        action, data={"csrf": hidden(shown.text, "csrf"), **fields}, headers={"Origin": str(http.base_url).rstrip("/")}
    )
