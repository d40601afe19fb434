"""The REST API's routing: a route table entry (``Route``), and one request to one route (``Call``), which reads
the body as the route's model and answers with the route's model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from feed_core.api.responses import ErrorResponse, dump
from feed_core.domain.errors import BadRequestError, FeedError
from feed_core.domain.models import Caller, Feed
from feed_core.domain.validation import describe_validation_error
from feed_core.protocols.http import base_url, json_response, parse_json, read_body
from feed_core.service.container import Services

BODY_LIMIT = 1024 * 1024

M = TypeVar("M", bound=BaseModel)


def render_error(exc: FeedError) -> Response:
    """Azure DevOps error body: clients show ``message``."""
    name = type(exc).__name__
    body = ErrorResponse(
        id_="1", inner_exception=None, message=exc.message, type_name=name, type_key=name, error_code=0, event_id=3000
    )
    return json_response(dump(body), status=exc.status)


# --- routing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One operation: ``path`` is under ``_apis/``, in OpenAPI's template form (``{name}`` is one path
    segment, ``@{name}`` one that starts with ``@``)."""

    method: str
    path: str
    handler: Callable[[Call], Awaitable[Response]]
    summary: str
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status: int = 200
    query: tuple[str, ...] = ()
    request_headers: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()  # beyond the ones every route may answer (see openapi.COMMON_ERRORS)
    top_default: int = 100  # how many a route with a ``$top`` query parameter shows when it is left out

    def match(self, segs: list[str]) -> dict[str, str] | None:
        """The path parameters when ``segs`` is this route's path, else ``None``."""
        template = self.path.split("/")
        if len(template) != len(segs):
            return None
        params: dict[str, str] = {}
        for want, got in zip(template, segs, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want.startswith("@{"):
                if not got.startswith("@") or len(got) < 2:
                    return None
                params[want[2:-1]] = got[1:]
            elif want.lower() != got.lower():
                return None
        return params


@dataclass
class Call:
    """One request to one route, with what its handler needs."""

    services: Services
    request: Request
    org: str
    project: str | None
    caller: Caller
    route: Route
    params: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return base_url(self.services, self.request)

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def flag(self, name: str) -> bool:
        """A boolean query parameter (``true`` or ``false``, any case; absent is false); a 400 otherwise."""
        value = self.query(name)
        if value is None or value.lower() == "false":
            return False
        if value.lower() == "true":
            return True
        raise BadRequestError(f"{name} must be true or false, not {value[:40]!r}")

    async def feed(self) -> Feed:
        return await self.services.feeds.find(self.org, self.project, self.params["feedId"])

    async def body(self, model: type[M]) -> M:
        """The request body as ``model`` (the route's); a 400 naming each bad field otherwise."""
        if model is not self.route.body:
            raise TypeError(f"{self.route.method} {self.route.path} declares {self.route.body}, not {model}")
        raw = parse_json(await read_body(self.request, BODY_LIMIT))
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise BadRequestError(describe_validation_error(exc)) from None

    def answer(self, model: BaseModel, headers: dict[str, str] | None = None) -> Response:
        """The route's answer (its declared model and status)."""
        if self.route.answer is None or not isinstance(model, self.route.answer):
            raise TypeError(f"{self.route.method} {self.route.path} declares {self.route.answer}, not {model}")
        return json_response(dump(model), self.route.status, headers)

    def empty(self) -> Response:
        return Response(status_code=self.route.status)
