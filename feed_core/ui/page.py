"""What a page handler gets: the request, the signed-in session, and helpers to read forms and answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.errors import BadRequestError, ForbiddenError, UnauthorizedError
from feed_core.domain.models import Caller, Feed
from feed_core.protocols.http import base_url, read_body
from feed_core.service.container import Services
from feed_core.service.sessions import OpenSession, SessionService
from feed_core.ui.render import html, path_segment, redirect, render

SESSION_COOKIE = "feed_session"
NOTICE_COOKIE = "feed_notice"
#: A UI form is a few fields: anything larger is refused before it is parsed.
FORM_LIMIT = 64 * 1024
MAX_FIELDS = 200


@dataclass
class Ui:
    """One request to one page. ``session`` is ``None`` only on the pages that need no sign-in."""

    services: Services
    request: Request
    org: str
    project: str | None
    session: OpenSession | None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def caller(self) -> Caller:
        if self.session is None:
            raise UnauthorizedError("sign in to see this page")
        return self.session.caller

    @property
    def base(self) -> str:
        """``/{org}`` or ``/{org}/{project}``: where this scope's pages live."""
        scope = path_segment(self.org)
        return f"/{scope}/{path_segment(self.project)}" if self.project else f"/{scope}"

    @property
    def cookie_path(self) -> str:
        """Where the session cookie is sent: this organization's pages only (each organization signs in on its
        own, so a page of another one neither sees nor ends this one's session)."""
        return f"/{path_segment(self.org)}/"

    @property
    def secure(self) -> bool:
        """Whether browsers reach us over https (the session cookie is then ``Secure``)."""
        return base_url(self.services, self.request).startswith("https://")

    def url(self, *parts: str, **query: str | int | None) -> str:
        """A UI path of this scope: ``ui.url("feed", name)`` is ``/{org}/_artifacts/feed/{name}``."""
        path = "/".join([self.base, "_artifacts", *(path_segment(p) for p in parts)])
        shown = {k: str(v) for k, v in query.items() if v not in (None, "")}
        return f"{path}?{urlencode(shown)}" if shown else path

    def feed_url(self, feed: Feed, *parts: str, **query: str | int | None) -> str:
        return self.url("feed", feed.name, *parts, **query)

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)[:500]

    def page(self, template: str, http_status: int = 200, /, **context: Any) -> Response:
        """The page ``template`` with ``context``, plus what every page shows (who is signed in, the notice
        left by the last action, the CSRF token its forms carry)."""
        notice = unquote(self.request.cookies.get(NOTICE_COOKIE, ""))[:300] or None
        common = {
            "ui": self,
            "user": self.session.caller.user if self.session else None,
            "csrf": self.session.csrf if self.session else "",
            "notice": notice,
        }
        response = html(render(template, {**common, **context}), http_status)
        if notice:
            response.delete_cookie(NOTICE_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    def done(self, location: str, notice: str) -> Response:
        """After an action: back to ``location``, which then shows ``notice`` once."""
        response = redirect(location)
        response.set_cookie(
            NOTICE_COOKIE,
            quote(notice[:300]),
            max_age=60,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )
        return response

    async def form(self) -> dict[str, str]:
        """The posted form, after checking that it came from one of our pages: its CSRF token matches the
        session's (and a browser's ``Origin``, when sent, is ours). A 403 otherwise, a 400 for a malformed
        form. A field sent twice keeps its first value; :meth:`form_pairs` has every field as sent."""
        return dict(reversed(await self.form_pairs()))

    async def form_pairs(self) -> list[tuple[str, str]]:
        if self.session is None:
            raise UnauthorizedError("sign in first")
        pairs = await read_form(self.request)
        self.check_origin()
        sent = next((v for k, v in pairs if k == "csrf"), None)
        if not SessionService.csrf_matches(self.session, sent):
            raise ForbiddenError("the form is stale or did not come from this site (its CSRF token does not match)")
        return pairs

    def check_origin(self) -> None:
        """A browser names the page a POST comes from; one from another site is refused whatever it carries."""
        origin = self.request.headers.get("origin")
        if origin and origin != "null" and origin.rstrip("/") != base_url(self.services, self.request):
            raise ForbiddenError(f"a form from {origin[:100]} cannot change anything here")


async def read_form(request: Request) -> list[tuple[str, str]]:
    """A URL-encoded form body, bounded in size and field count; a 400 for anything else."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, FORM_LIMIT)
    if kind != "application/x-www-form-urlencoded" and (body or kind):
        raise BadRequestError("send the form as application/x-www-form-urlencoded")
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError("the form is not valid UTF-8 URL-encoded text, or has too many fields") from None


Handler = Callable[[Ui], Awaitable[Response]]


@dataclass(frozen=True)
class UiRoute:
    """One page or action: ``pattern`` is the path after ``_artifacts/``, ``{name}`` capturing one segment."""

    method: str
    pattern: tuple[str, ...]
    handler: Handler
    #: The sign-in pages are the only ones shown without a session.
    public: bool = False

    @property
    def literals(self) -> int:
        """How many segments are fixed words: of two routes matching a path, the one with more wins."""
        return sum(not p.startswith("{") for p in self.pattern)

    def match(self, segs: list[str]) -> dict[str, str] | None:
        if len(segs) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.pattern, segs, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = unquote(got)
            elif want != got.lower():
                return None
        return params
