"""The UI's routing: ``/{org}[/{project}]/_artifacts/...`` to a page handler, with the session resumed from
its cookie; and ``/_static/...`` to the hashed static files.

Each page module lists its routes in ``ROUTES``; this module only joins them, resumes the session, and turns
errors into pages (a missing or ended session into the sign-in page)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.errors import FeedError, NotFoundError, UnauthorizedError
from feed_core.domain.names import validate_org, validate_project
from feed_core.service.container import Services
from feed_core.storage.ports import StorageNotProvisionedError
from feed_core.ui import assets, connect, feed_page, home, package_actions, package_page, settings, signin
from feed_core.ui.page import SESSION_COOKIE, Ui, UiRoute
from feed_core.ui.render import html, redirect, render, secure

log = logging.getLogger("feed_core.ui")

ROUTES: tuple[UiRoute, ...] = (
    *signin.ROUTES,
    *home.ROUTES,
    *feed_page.ROUTES,
    *connect.ROUTES,
    *settings.ROUTES,
    *package_page.ROUTES,
    *package_actions.ROUTES,
)


async def handle(services: Services, request: Request, org: str, project: str | None, rest: str) -> Response:
    """One request under ``_artifacts/``; ``rest`` is the path after it, still percent-encoded."""
    ui = Ui(services, request, org, project, None)
    try:
        try:
            validate_org(org)
            if project is not None:
                validate_project(project)
        except (ValueError, FeedError):
            raise NotFoundError("there is no such organization or project") from None
        segs = [s for s in rest.split("/") if s]
        method = "GET" if request.method == "HEAD" else request.method
        matched = [(route, params) for route in ROUTES if (params := route.match(segs)) is not None]
        matched.sort(key=lambda m: -m[0].literals)  # a fixed word beats a {name}: settings/x before {protocol}/x
        chosen = next(((r, p) for r, p in matched if r.method == method), None)
        if chosen is None:
            if matched:
                response = error_page(ui, 405, f"this page takes {', '.join(r.method for r, _ in matched)}")
                response.headers["Allow"] = ", ".join(r.method for r, _ in matched)
                return response
            raise NotFoundError("there is no such page")
        route, ui.params = chosen
        key = request.cookies.get(SESSION_COOKIE, "")
        if key:
            ui.session = await services.sessions.resume(org, key)
        if ui.session is None and not route.public:
            return sign_in_first(ui, rest)
        return await route.handler(ui)
    except UnauthorizedError:
        return sign_in_first(ui, rest)
    except FeedError as exc:
        return error_page(ui, exc.status, exc.message)
    except StorageNotProvisionedError as exc:
        log.error("storage is not provisioned: %s", exc)
        return error_page(ui, 503, "the server's storage is not set up")
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_page(ui, 500, "something went wrong; the server log has the details")


def sign_in_first(ui: Ui, rest: str) -> Response:
    """To the sign-in page, coming back here after it (a GET; a form posted without a session starts over).
    ``rest`` is the path after ``_artifacts/`` as sent, still percent-encoded: the decoded path would turn an npm
    ``@scope%2Fname`` into two segments."""
    here = "/".join([ui.base, "_artifacts", rest]).rstrip("/") if ui.request.method in ("GET", "HEAD") else ""
    query = ui.request.url.query
    target = f"{here}?{query}" if here and query else here
    response = redirect(ui.url("signin", next=target or None))
    if ui.request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path=ui.cookie_path, httponly=True, samesite="strict")
    return response


def error_page(ui: Ui, status: int, message: str) -> Response:
    try:
        return ui.page("error.html", status, status=status, message=message)
    except Exception:  # the error page itself failed (say, storage went away while rendering): plain text
        log.exception("the error page failed")
        return html(render("plain_error.html", {"status": status, "message": message}), status)


def static(path: str, request: Request) -> Response:
    """``/_static/{name}.{hash}.{ext}``: the file for a year when the hash is current; a 404 otherwise."""
    found = assets.find(path)
    if found is None:
        return secure(Response("no such file\n", 404, media_type="text/plain"))
    headers = {"ETag": found.etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == found.etag:
        return secure(Response(status_code=304, headers=headers))
    return secure(Response(found.body, 200, headers=headers, media_type=found.content_type))


def org_root(org: str) -> Response:
    """``/{org}``: the organization's feeds."""
    return redirect(f"/{quote(org, safe='')}/_artifacts")
