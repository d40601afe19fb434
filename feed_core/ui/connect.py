"""Connect to feed: each client's set-up for the feed (or one of its views), and minting a token for it.

A minted token is shown once, in the answer to the form's POST (never through a redirect or a cookie), and is
never logged. It is minted with the session's own token, as the REST API mints with the caller's: it cannot
be broader than that token, nor outlive it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.responses import Response

from feed_core.domain.access import caller_role, require_role
from feed_core.domain.clock import parse_iso
from feed_core.domain.errors import BadRequestError, ForbiddenError
from feed_core.domain.models import Caller, Feed, View
from feed_core.domain.roles import Role, Scope
from feed_core.protocols.http import base_url
from feed_core.ui import connect_snippets as cs
from feed_core.ui.page import Ui, UiRoute

log = logging.getLogger("feed_core.ui")

#: Lifetimes offered (days); the server cuts them to the session token's own end.
LIFETIMES = (7, 30, 90, 365)
MAX_TOKEN_NAME = 100


@dataclass(frozen=True)
class ScopeChoice:
    scope: Scope
    label: str


def scope_choices(caller: Caller) -> list[ScopeChoice]:
    """The scopes the caller may mint: read always, read and write when its own token has write or more."""
    choices = [ScopeChoice(Scope.READ, "Read: install packages (vso.packaging)")]
    if caller.scope.role_cap >= Scope.WRITE.role_cap:
        choices.append(ScopeChoice(Scope.WRITE, "Read and write: publish too (vso.packaging_write)"))
    return choices


async def _feed_and_view(ui: Ui) -> tuple[Feed, View | None]:
    feed = await ui.services.feeds.find(ui.org, ui.project, ui.params["feed"])
    require_role(feed, ui.caller, Role.READER, "connecting to the feed")
    view_ref = ui.query("view")
    return feed, ui.services.feeds.view(feed, view_ref) if view_ref else None


def _protocol(feed: Feed, sent: str) -> str:
    if sent:
        if sent not in cs.PROTOCOLS:
            raise BadRequestError(f"unknown protocol {sent[:40]!r}; use one of {', '.join(cs.PROTOCOLS)}")
        return sent
    used = {s.protocol for s in feed.upstream_sources}
    return next((p for p in cs.PROTOCOLS if p in used), "npm")


def _context(ui: Ui, feed: Feed, view: View | None, protocol: str) -> dict[str, object]:
    urls = cs.endpoints(base_url(ui.services, ui.request), ui.base, feed.name, view.name if view else None)
    name = cs.client_name(feed.name, view.name if view else None)
    return {
        "feed": feed,
        "view": view,
        "protocol": protocol,
        "protocols": cs.PROTOCOLS,
        "labels": cs.LABELS,
        "snippets": cs.snippets(protocol, urls, name),
        "scopes": scope_choices(ui.caller),
        "lifetimes": LIFETIMES,
        "administers": caller_role(feed, ui.caller) >= Role.ADMINISTRATOR,
        "placeholder": cs.PLACEHOLDER,
    }


async def _connect(ui: Ui) -> Response:
    feed, view = await _feed_and_view(ui)
    protocol = _protocol(feed, ui.query("protocol"))
    return ui.page("connect.html", **_context(ui, feed, view, protocol), problem="", values={})


async def _mint(ui: Ui) -> Response:
    fields = await ui.form()
    feed, view = await _feed_and_view(ui)
    protocol = _protocol(feed, ui.query("protocol"))
    values = {k: fields.get(k, "") for k in ("name", "scope", "days")}
    try:
        scope, days, name = _token_request(ui.caller, values)
        valid_to, cut = _valid_to(ui, days)
        minted = await ui.services.identity.mint(
            ui.org, ui.caller, user=None, display_name=name, scope=scope, valid_to=valid_to
        )
    except (BadRequestError, ForbiddenError) as exc:
        context = _context(ui, feed, view, protocol)
        return ui.page("connect.html", exc.status, **context, problem=exc.message, values=values)
    log.info("token %s created for %s through the web UI", minted.token.authorization_id, minted.token.user)
    return ui.page(
        "token_minted.html",
        **_context(ui, feed, view, protocol),
        token=minted.plaintext,
        minted=minted.token,
        cut=cut,
    )


def _token_request(caller: Caller, values: dict[str, str]) -> tuple[Scope, int, str]:
    name = values["name"].strip()
    if not name or len(name) > MAX_TOKEN_NAME or not name.isprintable():
        raise BadRequestError(f"give the token a name (at most {MAX_TOKEN_NAME} printable characters)")
    allowed = {c.scope.value: c.scope for c in scope_choices(caller)}
    scope = allowed.get(values["scope"])
    if scope is None:
        if values["scope"] in {s.value for s in Scope}:
            raise ForbiddenError(
                f"your session's token has the scope {caller.scope.value}, which cannot create a "
                f"{values['scope']} token; sign in with a broader token to do that"
            )
        raise BadRequestError("choose the token's scope: vso.packaging or vso.packaging_write")
    try:
        days = int(values["days"])
    except ValueError:
        raise BadRequestError("choose the token's lifetime in days") from None
    if days not in LIFETIMES:
        raise BadRequestError(f"the lifetime may be {', '.join(str(d) for d in LIFETIMES)} days")
    return scope, days, name


def _valid_to(ui: Ui, days: int) -> tuple[datetime, bool]:
    """When the new token ends, cut to the end of the session's own token (``True`` when cut)."""
    wanted = ui.services.clock() + timedelta(days=days)
    parent = ui.caller.token
    if parent is not None and parent.valid_to:
        limit = parse_iso(parent.valid_to)
        if limit < wanted:
            return limit, True
    return wanted, False


ROUTES = (
    UiRoute("GET", ("feed", "{feed}", "connect"), _connect),
    UiRoute("POST", ("feed", "{feed}", "connect"), _mint),
)
