"""How Cargo answers look on the wire: the token cargo sends, the challenge that makes it send one, error bodies
(``{"errors": [{"detail": …}]}``, which cargo prints), ``config.json`` and the login page's text."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from feed_core.domain.errors import FeedError
from feed_core.protocols.http import json_response, token_from_header

TEXT = "text/plain; charset=utf-8"
#: A crate file or an index file is data served from the feed's origin: never a page a browser should run.
SAFE = {"X-Content-Type-Options": "nosniff"}


def cargo_token(value: str | None) -> str | None:
    """The token in an ``Authorization`` header. cargo sends the token as it was given to ``cargo login``, with
    no scheme; ``Bearer <pat>`` and ``Basic base64(user:pat)`` (Azure's documented form) are read as the other
    protocols read them."""
    if not value or not value.strip():
        return None
    kind, sep, _ = value.strip().partition(" ")
    if sep and kind.lower() in ("bearer", "basic"):
        return token_from_header(value)
    return value.strip()


def challenge(login_url: str) -> str:
    """The ``WWW-Authenticate`` value cargo reads: with it cargo sends its token and points at the login page."""
    return f'Cargo login_url="{login_url}"'


def api_error(exc: FeedError) -> Response:
    return json_response({"errors": [{"detail": exc.message}]}, status=exc.status)


def text_error(exc: FeedError) -> Response:
    """For index files: cargo prints the body of a failed index fetch as it is."""
    return text(exc.message, exc.status)


def text(message: str, status: int = 200) -> Response:
    return Response(message + "\n", status_code=status, media_type=TEXT, headers=SAFE)


def config_document(api_url: str) -> dict[str, Any]:
    """``config.json``: downloads and the Web API under ``api_url`` (``…/_packaging/{feed}[@view]/cargo``), and
    a token on every request."""
    return {"dl": f"{api_url}/api/v1/crates/{{crate}}/{{version}}/download", "api": api_url, "auth-required": True}


def login_text(index_url: str, api_url: str) -> str:
    scope_api = api_url.split("/_packaging/", 1)[0] + "/_apis/tokens/pats"
    return (
        "This Cargo registry needs a personal access token.\n"
        f"Create one with `python -m feed_core token create` on the server, or POST {scope_api}\n"
        "(an administrator's token can create one for another user), then give it to cargo:\n"
        "  cargo login --registry <name>        (and paste the token)\n"
        "with this in .cargo/config.toml:\n"
        "  [registries.<name>]\n"
        f'  index = "sparse+{index_url}"\n'
        '  credential-provider = "cargo:token"'
    )
