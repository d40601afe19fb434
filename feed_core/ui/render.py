"""Rendering pages: one Jinja2 environment (autoescaping everything), and the headers every UI answer carries."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.responses import HTMLResponse, RedirectResponse, Response

from feed_core.ui.assets import static_url

TEMPLATES = Path(__file__).parent / "templates"

#: No inline script or style anywhere, nothing from other origins, no framing, forms post only to this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Pages show what one signed-in user may see: never kept by a shared cache, nor by the browser's history.
    "Cache-Control": "no-store",
}


def path_segment(text: str) -> str:
    """``text`` as one URL path segment (an npm ``@scope/name`` keeps its ``@`` and has its ``/`` escaped)."""
    return quote(text, safe="@:+!$,;=")


def human_bytes(count: int) -> str:
    """A byte count as people read it: ``512 bytes``, ``1.5 KB``, ``12.3 MB`` (powers of 1024)."""
    if count < 1024:
        return f"{count} byte{'' if count == 1 else 's'}"
    size = float(count)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["static"] = static_url
    env.filters["segment"] = path_segment
    env.filters["bytes"] = human_bytes
    return env


def render(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(context)


def secure(response: Response) -> Response:
    """``response`` with the UI's security headers (those it already has win: a page may loosen caching)."""
    for name, value in SECURITY_HEADERS.items():
        if name not in response.headers:
            response.headers[name] = value
    return response


def html(body: str, status: int = 200) -> Response:
    return secure(HTMLResponse(body, status_code=status))


def redirect(location: str) -> Response:
    """A 303: after a form's POST the browser GETs ``location`` (so reloading does not post again)."""
    response = RedirectResponse(location, status_code=303)
    # Named even with no body, so that every host sends the same headers (the Functions host adds one otherwise).
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return secure(response)
