"""``create_app()``: the one ASGI application behind uvicorn, the Azure Functions entries and the tests.

Routing is done on the raw path so that percent-encoded characters (npm's ``@scope%2fname``) reach
the protocol adapters as sent.

Start-up (building the services, creating the storage when FEED_STORAGE_CREATE says so, the organization
and administrator bootstrap) runs once per process: in the ASGI lifespan when the server sends one
(``serve``), else on the first request (Azure Functions, whose import and indexing then do no I/O, and
where missing settings surface as a clear error response). Concurrent first requests share it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response

from feed_core.api import rest
from feed_core.protocols import cargo, maven, npm, nuget, pypi, upack
from feed_core.protocols.http import body_deadline, declared_length, json_response
from feed_core.service.container import Services, build_services
from feed_core.service.stream_through import StreamAborted
from feed_core.settings import Settings, SettingsError
from feed_core.storage.ports import StorageNotProvisionedError
from feed_core.ui import routes as ui_routes

log = logging.getLogger("feed_core")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _CutShortFilter(logging.Filter):
    """Drops two ASGI server reports that say nothing to an operator: the error report (with its traceback) for
    a response the app cut short on purpose (``StreamAborted``; the app logs one warning line for it instead),
    and the warning about an ``Upgrade`` header, which cargo sends on every request (it offers HTTP/2 over
    plain http) and which is simply declined: the request is served over HTTP/1.1."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Unsupported upgrade request.":
            return False
        return not (record.exc_info and isinstance(record.exc_info[1], StreamAborted))


_CUT_SHORT_FILTER = _CutShortFilter()
#: uvicorn reports an exception that ends a started response on this logger.
ASGI_SERVER_LOGGER = "uvicorn.error"


#: Called once start-up is done, with the administrator token it created (``serve`` prints it), if any.
StartedHook = Callable[[Services, str | None], None]


class FeedApp:
    """The ASGI callable. ``services`` may be injected (tests); otherwise built from ``settings``
    (or the environment) by the one start-up. ``mint_admin_token``: on first start, create the
    administrator's token when FEED_ADMIN_TOKEN is empty and hand it to ``on_started``."""

    def __init__(
        self,
        settings: Settings | None = None,
        services: Services | None = None,
        *,
        with_jobs: bool = False,
        mint_admin_token: bool = False,
        on_started: StartedHook | None = None,
    ) -> None:
        self._settings = settings
        self._services = services
        self._lock = asyncio.Lock()
        logging.getLogger(ASGI_SERVER_LOGGER).addFilter(_CUT_SHORT_FILTER)  # once: the same filter is not added twice
        self._with_jobs = with_jobs
        self._mint_admin_token = mint_admin_token
        self._on_started = on_started
        self._jobs: list[asyncio.Task[None]] = []

    async def services(self) -> Services:
        """The services, after the start-up (run here if it has not run yet)."""
        if self._services is None:
            async with self._lock:
                if self._services is None:
                    self._services = await self._start()
        return self._services

    async def _start(self) -> Services:
        settings = self._settings or Settings.from_env()
        services = await build_services(settings)  # creates the tables and container when the settings say so
        try:
            minted = await services.identity.bootstrap(
                settings.organization,
                settings.admin_user,
                settings.admin_token,
                mint_if_missing=self._mint_admin_token,
            )
        except BaseException:
            await services.close()
            raise
        if self._on_started is not None:
            self._on_started(services, minted)
        return services

    async def close(self) -> None:
        if self._services is not None:
            await self._services.close()
            self._services = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._route(request)
        try:
            await response(scope, receive, send)
        except StreamAborted as cut:
            # Raised on so that the server closes the connection short of the body's end: no client may take
            # it for a complete file. The cause was logged where it was found.
            log.warning("%s %s: %s", request.method, request.url.path, cut)
            raise

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.services()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": f"start-up failed: {exc}"})
                    return
                if self._with_jobs:
                    await self._start_jobs()
                # What is loaded by now (modules, pydantic's validators) lives as long as the process: moved out
                # of the collector's generations, full collections stop scanning it on every request burst.
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._jobs:
                    task.cancel()
                await asyncio.gather(*self._jobs, return_exceptions=True)
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_jobs(self) -> None:
        """``serve --with-jobs``: the refresh, health, gc and retention jobs on their timer schedules, in this
        process."""
        from feed_core import jobs
        from feed_core.domain.schedule import Schedule
        from feed_core.scheduler import run_on_schedule

        services = await self.services()
        settings = services.settings

        async def refresh() -> None:
            await jobs.run_refresh(services, budget_seconds=settings.refresh_budget_seconds)

        async def health() -> None:
            await jobs.run_health(services)

        async def gc() -> None:
            await jobs.run_gc(services)

        async def retention() -> None:
            await jobs.run_retention(services)

        self._jobs = [
            asyncio.create_task(
                run_on_schedule("refresh", Schedule.parse(settings.refresh_schedule), refresh, services.clock)
            ),
            asyncio.create_task(
                run_on_schedule("health", Schedule.parse(settings.health_schedule), health, services.clock)
            ),
            asyncio.create_task(run_on_schedule("gc", Schedule.parse(settings.gc_schedule), gc, services.clock)),
            asyncio.create_task(
                run_on_schedule("retention", Schedule.parse(settings.retention_schedule), retention, services.clock)
            ),
        ]
        log.info(
            "jobs scheduled: refresh %r, health %r, gc %r, retention %r",
            settings.refresh_schedule,
            settings.health_schedule,
            settings.gc_schedule,
            settings.retention_schedule,
        )

    async def _route(self, request: Request) -> Response:
        path = _raw_path(request.scope)
        segs = path.split("/")[1:]
        browsing = request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")
        if segs == ["_health"] or (segs == [""] and not browsing):
            return json_response({"status": "ok"})
        if segs[0] == "_static":  # the UI's files: no storage, no start-up
            return ui_routes.static(path, request)
        try:
            services = await self.services()
        except SettingsError as exc:
            log.error("invalid settings: %s", exc)
            return json_response({"error": f"the server is misconfigured: {exc}"}, status=500)
        except StorageNotProvisionedError as exc:
            log.error("start-up failed: %s", exc)
            return json_response({"error": f"the server cannot start: {exc}"}, status=503)
        request = Request(
            request.scope,
            body_deadline(request.receive, services.settings.body_read_timeout_seconds, declared_length(request)),
        )
        for i in (1, 2):
            if len(segs) > i and segs[i] == "_artifacts":  # the web UI
                project = unquote(segs[1]) if i == 2 else None
                return await ui_routes.handle(services, request, unquote(segs[0]), project, "/".join(segs[i + 1 :]))
        if browsing and len(segs) == 1 and unquote(segs[0]).lower() in ("", services.settings.organization.lower()):
            # A browser at / or at the organization of this server lands on its feeds. Other names stay 404s: the
            # server does not say which organizations exist.
            return ui_routes.org_root(services.settings.organization)
        if len(segs) >= 3:
            for i in (1, 2):
                if len(segs) > i and segs[i] == "_packaging" and len(segs) >= i + 4:
                    org = unquote(segs[0])
                    project = unquote(segs[1]) if i == 2 else None
                    feed = unquote(segs[i + 1])
                    if segs[i + 2].lower() == "npm" and segs[i + 3] == "registry":
                        rest_raw = "/".join(segs[i + 4 :])
                        return await npm.handle(services, request, org, project, feed, rest_raw)
                    if segs[i + 2].lower() == "pypi":
                        return await pypi.handle(services, request, org, project, feed, "/".join(segs[i + 3 :]))
                    if segs[i + 2].lower() == "nuget":
                        return await nuget.handle(services, request, org, project, feed, "/".join(segs[i + 3 :]))
                    if segs[i + 2].lower() == "maven":  # …/maven/v1/{path}: maven.handle checks the v1
                        return await maven.handle(services, request, org, project, feed, "/".join(segs[i + 3 :]))
                    if segs[i + 2].lower() == "cargo":  # Azure spells it Cargo: …/Cargo/index/
                        return await cargo.handle(services, request, org, project, feed, "/".join(segs[i + 3 :]))
                    if segs[i + 2].lower() == "upack":
                        return await upack.handle(services, request, org, project, feed, "/".join(segs[i + 3 :]))
                if len(segs) > i and segs[i] == "_apis":
                    org = unquote(segs[0])
                    project = unquote(segs[1]) if i == 2 else None
                    return await rest.handle(services, request, org, project, unquote("/".join(segs[i + 1 :])))
        return json_response({"error": f"not found: {request.url.path}"}, status=404)


def _raw_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded).

    Azure Functions' ``AsgiMiddleware`` passes the already-decoded path as ``raw_path`` too; encode
    it again so the adapters decode exactly once on every host. (The Functions host itself keeps
    only ``%2F`` distinct, which is all npm's ``@scope%2fname`` needs.)
    """
    path: str = scope["path"]
    raw = scope.get("raw_path")
    if not raw or raw == path.encode():
        return quote(path, safe="/!$&'()*+,;=:@~")
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    with_jobs: bool = False,
    mint_admin_token: bool = False,
    on_started: StartedHook | None = None,
) -> FeedApp:
    return FeedApp(settings, services, with_jobs=with_jobs, mint_admin_token=mint_admin_token, on_started=on_started)
