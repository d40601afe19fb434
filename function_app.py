"""Azure Functions entry (v2 programming model): registers functions and nothing else.

Every HTTP function hands its request to the one ASGI app from ``feed_core.app.create_app()`` through
``func.AsgiMiddleware``; the app routes on the full path, so a function exists only to give the
Functions host a route template per URL prefix. host.json sets ``routePrefix`` to "" so the URLs
keep their Azure Artifacts shapes.

Importing this module does no I/O: ``create_app()`` builds its services from the app settings on the
first request (a bad setting becomes a 500 JSON error naming it), and ``AsgiMiddleware.__init__``
only stores the app. Both live for the life of the worker, so storage clients are reused. That first
request (or timer) runs the worker's one start-up, shared by requests arriving meanwhile; it creates the
tables and the container only when FEED_STORAGE_CREATE is true, which the deployment sets false since it
creates them itself.
"""

import logging

import azure.functions as func

from feed_core import jobs
from feed_core.app import create_app

log = logging.getLogger("feed_core.functions")

METHODS = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")

feed_app = create_app()
# azure-functions 1.26 leaves AsgiMiddleware.__init__ unannotated.
middleware = func.AsgiMiddleware(feed_app)  # type: ignore[no-untyped-call]
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def register_http(name: str, route: str) -> None:
    """Register the HTTP function ``name`` for ``route``, passing every request to the ASGI app."""

    async def forward(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        response: func.HttpResponse = await middleware.handle_async(req, context)
        return response

    forward.__name__ = forward.__qualname__ = name
    app.function_name(name=name)(app.route(route=route, methods=METHODS)(forward))


# Protocol endpoints: /{org}[/{project}]/_packaging/{feed}[@{view}]/npm/registry/...
register_http("npm", "{org}/_packaging/{feed}/npm/{*rest}")
register_http("npm_project", "{org}/{project}/_packaging/{feed}/npm/{*rest}")
register_http("pypi", "{org}/_packaging/{feed}/pypi/{*rest}")
register_http("pypi_project", "{org}/{project}/_packaging/{feed}/pypi/{*rest}")
register_http("nuget", "{org}/_packaging/{feed}/nuget/{*rest}")
register_http("nuget_project", "{org}/{project}/_packaging/{feed}/nuget/{*rest}")
register_http("maven", "{org}/_packaging/{feed}/maven/{*rest}")
register_http("maven_project", "{org}/{project}/_packaging/{feed}/maven/{*rest}")
register_http("cargo", "{org}/_packaging/{feed}/cargo/{*rest}")
register_http("cargo_project", "{org}/{project}/_packaging/{feed}/cargo/{*rest}")
register_http("upack", "{org}/_packaging/{feed}/upack/{*rest}")
register_http("upack_project", "{org}/{project}/_packaging/{feed}/upack/{*rest}")

# Management REST API: /{org}[/{project}]/_apis/...
register_http("rest_api", "{org}/_apis/{*rest}")
register_http("rest_api_project", "{org}/{project}/_apis/{*rest}")

# The web UI: /{org}[/{project}]/_artifacts/... and its static files.
register_http("ui", "{org}/_artifacts/{*rest}")
register_http("ui_project", "{org}/{project}/_artifacts/{*rest}")
register_http("ui_static", "_static/{*rest}")

register_http("health", "_health")

# Timer functions: thin bodies over feed_core.jobs. Schedules come from app settings; run_on_startup
# stays off (it would also fire on every scale-out and deployment); a past-due firing still runs, since a
# late refresh or health check is better than a skipped one, and says so in the log.


@app.function_name(name="refresh_upstreams")
@app.timer_trigger(schedule="%FEED_REFRESH_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
async def refresh_upstreams(timer: func.TimerRequest) -> None:
    """Revalidate upstream metadata of the packages feeds hold; resumes where the last run stopped."""
    if timer.past_due:
        log.warning("refresh_upstreams is running late (past due)")
    services = await feed_app.services()
    await jobs.run_refresh(services, budget_seconds=services.settings.refresh_budget_seconds)


@app.function_name(name="check_upstream_health")
@app.timer_trigger(schedule="%FEED_HEALTH_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
async def check_upstream_health(timer: func.TimerRequest) -> None:
    """Probe every enabled upstream and record its health for the API and the request path."""
    if timer.past_due:
        log.warning("check_upstream_health is running late (past due)")
    await jobs.run_health(await feed_app.services())


@app.function_name(name="collect_garbage")
@app.timer_trigger(schedule="%FEED_GC_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
async def collect_garbage(timer: func.TimerRequest) -> None:
    """Purge deleted feeds past retention; remove blobs nothing references that are older than the grace."""
    if timer.past_due:
        log.warning("collect_garbage is running late (past due)")
    await jobs.run_gc(await feed_app.services())


@app.function_name(name="apply_retention")
@app.timer_trigger(schedule="%FEED_RETENTION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
async def apply_retention(timer: func.TimerRequest) -> None:
    """Move the versions each feed's retention policy no longer keeps to its recycle bin."""
    if timer.past_due:
        log.warning("apply_retention is running late (past due)")
    await jobs.run_retention(await feed_app.services())
