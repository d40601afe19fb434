"""Azure Functions entry (v2 programming model): registers functions and nothing else.

Every HTTP function hands its request to the one ASGI app from ``feed_core.app.create_app()`` through
``func.AsgiMiddleware``; the app routes on the full path, so a function exists only to give the
Functions host a route template per URL prefix. host.json sets ``routePrefix`` to "" so the URLs
keep their Azure Artifacts shapes.

Importing this module does no I/O: ``create_app()`` builds its services from the app settings on the
first request (a bad setting becomes a 500 JSON error naming it), and ``AsgiMiddleware.__init__``
only stores the app. Both live for the life of the worker, so storage clients are reused.
"""

import azure.functions as func

from feed_core.app import create_app

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

# Management REST API: /{org}[/{project}]/_apis/...
register_http("rest_api", "{org}/_apis/{*rest}")
register_http("rest_api_project", "{org}/{project}/_apis/{*rest}")

register_http("health", "_health")

# Timer functions (upstream metadata refresh, upstream health checks) are registered here by a later
# issue: thin bodies calling feed_core.jobs, schedules from %FEED_*_SCHEDULE% app settings, run_on_startup
# off, past_due checked (STYLE.md §2.10).
