"""The OpenAPI 3.1 document of the REST API, generated from the route table and its pydantic models.

Served at ``GET /{org}[/{project}]/_apis/openapi.json`` (authenticated, like every ``_apis`` route), with
the caller's own base URL as its server. A copy is committed as ``docs/openapi.json``; refresh it with::

    .venv/bin/python -m feed_core.api.openapi > docs/openapi.json

Request bodies are described as they are validated, answers as they are serialised.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from feed_core.api.models import (
    NAME_PATTERN,
    NPM_NAME_PART_PATTERN,
    PYPI_NAME_PATTERN,
    PYPI_VERSION_PATTERN,
    USER_OR_EMPTY_PATTERN,
)
from feed_core.api.responses import ErrorResponse
from feed_core.api.routing import Route
from feed_core.api.usage_rest import MAX_TOP
from feed_core.domain.cargo_names import MAX_NAME as CARGO_NAME_MAX
from feed_core.domain.maven_layout import PATH_MAX as MAVEN_PATH_MAX
from feed_core.domain.maven_layout import SEGMENT_MAX as MAVEN_SEGMENT_MAX
from feed_core.domain.names import NPM_NAME_MAX
from feed_core.domain.nuget_versions import ID_MAX as NUGET_ID_MAX
from feed_core.domain.nuget_versions import VERSION_MAX as NUGET_VERSION_MAX
from feed_core.domain.python_dist import NAME_MAX as PYPI_NAME_MAX
from feed_core.domain.python_dist import VERSION_MAX as PYPI_VERSION_MAX
from feed_core.domain.usage import PROTOCOLS as USAGE_PROTOCOLS

OPENAPI_VERSION = "3.1.0"
#: Where the committed copy says the API is: a placeholder (the served document names the caller's base URL).
PLACEHOLDER_SERVER = {
    "url": "http://localhost:8080/{organization}",
    "description": "The organization's API root; project-scoped feeds are under /{organization}/{project}",
    "variables": {"organization": {"default": "local"}},
}
#: What any route may answer besides its success: bad input (a path, a name, a body), no or a wrong
#: token, a role or token scope too small, an unknown feed or route, and a conflict (an ambiguous
#: reference, a name taken, a concurrent change).
COMMON_ERRORS = (400, 401, 403, 404, 409)
#: What a route with a body may answer besides: the body arrived too slowly, or is too large.
BODY_ERRORS = (408, 413)
_ERROR_TEXT = {
    400: "The request is not valid: the message names what is wrong",
    401: "No token, or one this organization does not know",
    403: "The caller's role, or the token's scope, does not allow this",
    404: "No such feed, view, package, version or route (or the caller may not know it exists)",
    408: "The request body did not arrive in time",
    409: "A conflict: a name already taken, an ambiguous reference, or a concurrent change",
    412: "If-Match does not match the feed's current ETag",
    413: "The request body is too large",
}
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}

_STRING: dict[str, Any] = {"type": "string"}


def _any_case(words: Iterable[str]) -> str:
    """A pattern matching any of ``words`` in any case (JSON Schema patterns take no flags)."""
    return "^(?:" + "|".join("".join(f"[{ch.lower()}{ch.upper()}]" for ch in w) for w in words) + ")$"


_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NAME_PATTERN}
_NPM_NAME: dict[str, Any] = {**_STRING, "maxLength": NPM_NAME_MAX, "pattern": NPM_NAME_PART_PATTERN}
#: Where a NuGet package's name and version differ from an npm one's.
_NUGET_PARAMETERS: dict[str, dict[str, Any]] = {
    "packageName": {
        "in": "path",
        "description": "The package id (case-insensitive)",
        "schema": {**_STRING, "maxLength": NUGET_ID_MAX, "pattern": r"^[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*$"},
    },
    "packageVersion": {
        "in": "path",
        "description": "The version (1.0 is 1.0.0; build metadata is ignored)",
        "schema": {**_STRING, "maxLength": NUGET_VERSION_MAX},
    },
}
#: Where a Python package's name and version differ from an npm one's.
_PYPI_PARAMETERS: dict[str, dict[str, Any]] = {
    "packageName": {
        "in": "path",
        "description": "The project's name (PEP 508)",
        "schema": {**_STRING, "maxLength": PYPI_NAME_MAX, "pattern": PYPI_NAME_PATTERN},
    },
    "packageVersion": {
        "in": "path",
        "description": "The version (PEP 440)",
        "schema": {**_STRING, "maxLength": PYPI_VERSION_MAX, "pattern": PYPI_VERSION_PATTERN},
    },
}
#: Maven coordinates in a route's path (case-sensitive, as Maven reads them).
_MAVEN_PARAMETERS: dict[str, dict[str, Any]] = {
    "groupId": {
        "in": "path",
        "description": "The groupId, dotted (org.example)",
        "schema": {**_STRING, "maxLength": MAVEN_PATH_MAX // 2, "pattern": r"^[A-Za-z0-9_.\-]+$"},
    },
    "artifactId": {
        "in": "path",
        "description": "The artifactId",
        "schema": {**_STRING, "maxLength": MAVEN_SEGMENT_MAX, "pattern": r"^[A-Za-z0-9_.\-]+$"},
    },
    "packageVersion": {
        "in": "path",
        "description": "The version as deployed (1.0, 1.0-SNAPSHOT)",
        "schema": {**_STRING, "maxLength": MAVEN_SEGMENT_MAX, "pattern": r"^[A-Za-z0-9_.\-+]+$"},
    },
}
#: A crate's name and version in a route's path.
_CARGO_PARAMETERS: dict[str, dict[str, Any]] = {
    "packageName": {
        "in": "path",
        "description": "The crate's name (case-insensitive)",
        "schema": {**_STRING, "maxLength": CARGO_NAME_MAX, "pattern": r"^[A-Za-z][A-Za-z0-9_\-]*$"},
    },
    "packageVersion": {
        "in": "path",
        "description": "The version as published (SemVer, build metadata included)",
        "schema": {**_STRING, "maxLength": 128, "pattern": r"^[0-9A-Za-z.+\-]+$"},
    },
}
_UPACK_PARAMETERS: dict[str, dict[str, Any]] = {
    "packageName": {
        "in": "path",
        "description": "The Universal Package's name (lower case)",
        "schema": {**_STRING, "maxLength": 256, "pattern": r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$"},
    },
    "packageVersion": {
        "in": "path",
        "description": "The version (SemVer 2, lower case, no build metadata)",
        "schema": {**_STRING, "maxLength": 256, "pattern": r"^[0-9a-z.\-]+$"},
    },
}
_PARAMETERS: dict[str, dict[str, Any]] = {
    "feedId": {"in": "path", "description": "The feed's name or id", "schema": _NAME},
    "viewId": {"in": "path", "description": "The view's name or id", "schema": _NAME},
    "packageName": {"in": "path", "description": "The package's name", "schema": _NPM_NAME},
    "packageScope": {"in": "path", "description": "An npm scope, without the @", "schema": _NPM_NAME},
    "unscopedPackageName": {
        "in": "path",
        "description": "The npm package's name within its scope",
        "schema": _NPM_NAME,
    },
    "packageVersion": {"in": "path", "description": "The version number", "schema": {**_STRING, "minLength": 1}},
    "packageId": {"in": "path", "description": "The package's id (see a version's packageId)", "schema": _STRING},
    "packageVersionId": {"in": "path", "description": "The version's id (see a version's id)", "schema": _STRING},
    "api-version": {
        "in": "query",
        "description": "Azure DevOps' API version (any value is accepted), e.g. 7.1",
        "schema": _STRING,
    },
    "user": {
        "in": "query",
        "description": "Another user's tokens (organization administrators)",
        "schema": {**_STRING, "pattern": USER_OR_EMPTY_PATTERN},
    },
    "authorizationId": {
        "in": "query",
        "required": True,
        "description": "The token to revoke (its authorizationId)",
        "schema": {**_STRING, "minLength": 1},
    },
    "showDeleted": {"in": "query", "description": "Show a deleted version too", "schema": {"type": "boolean"}},
    "$top": {
        "in": "query",
        "description": f"How many packages to show (at most {MAX_TOP})",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP},
    },
    "$skip": {
        "in": "query",
        "description": "How many packages to pass over first",
        "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
    },
    "protocolType": {
        "in": "query",
        "description": f"Only packages of this protocol ({', '.join(USAGE_PROTOCOLS)}; any case)",
        "schema": {**_STRING, "pattern": _any_case(USAGE_PROTOCOLS)},
    },
    "packageNameQuery": {
        "in": "query",
        "description": "Only packages whose name contains this (any case)",
        "schema": _STRING,
    },
    "If-Match": {
        "in": "header",
        "description": "Change the feed only if its ETag is still this one (or *)",
        "schema": _STRING,
    },
}
_HEADERS = {
    "ETag": {"description": "The feed's version, for If-Match", "schema": _STRING},
}
_SECURITY_SCHEMES = {
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "Any user name, and a personal access token as the password",
    },
    "bearer": {"type": "http", "scheme": "bearer", "description": "A personal access token"},
}


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON schema without a title on every property (noise in an API document)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def openapi_document(routes: Iterable[Route], server: dict[str, Any] = PLACEHOLDER_SERVER) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (``feed_core.api.rest.ROUTES``)."""
    routes = list(routes)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    wanted += [(r.body, "validation") for r in routes if r.body is not None]
    wanted += [(r.answer, "serialization") for r in routes if r.answer is not None]
    refs, defs = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template="#/components/schemas/{model}", schema_generator=_Schemas
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(f"/_apis/{route.path}", {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Package feed management API",
            "version": "1",
            "description": (
                "Feeds, views, permissions, upstream sources, package versions and personal access tokens, "
                "in Azure DevOps Artifacts' shapes. Every route needs a personal access token."
            ),
        },
        "servers": [server],
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": _SECURITY_SCHEMES},
    }


Refs = dict[tuple[Any, JsonSchemaMode], dict[str, Any]]


def _operation(route: Route, refs: Refs) -> dict[str, Any]:
    params = [name.strip("@{}") for name in route.path.split("/") if "{" in name]
    op: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": [_tag(route.path)],
        "parameters": [
            *({"name": p, "required": True, **_parameter(route, p)} for p in params),
            *({"name": q, **_query_parameter(route, q)} for q in ("api-version", *route.query, *route.request_headers)),
        ],
    }
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    success: dict[str, Any] = {"description": _STATUS_TEXT[route.status]}
    if route.answer is not None:
        success["content"] = {"application/json": {"schema": refs[(route.answer, "serialization")]}}
    elif route.path == "openapi.json":
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    if route.response_headers:
        success["headers"] = {h: _HEADERS[h] for h in route.response_headers}
    error = {"application/json": {"schema": refs[(ErrorResponse, "serialization")]}}
    codes = sorted({*COMMON_ERRORS, *(BODY_ERRORS if route.body else ()), *route.errors})
    op["responses"] = {
        str(route.status): success,
        **{str(code): {"description": _ERROR_TEXT[code], "content": error} for code in codes},
    }
    return op


def _query_parameter(route: Route, name: str) -> dict[str, Any]:
    """A query parameter (or request header); ``$top`` says the route's own default."""
    found = _PARAMETERS[name]
    if name != "$top":
        return found
    return {
        **found,
        "description": f"How many packages to show (at most {MAX_TOP}; {route.top_default} when left out)",
        "schema": {**found["schema"], "default": route.top_default},
    }


def _parameter(route: Route, name: str) -> dict[str, Any]:
    if "/pypi/" in route.path and name in _PYPI_PARAMETERS:
        return _PYPI_PARAMETERS[name]
    if "/nuget/" in route.path and name in _NUGET_PARAMETERS:
        return _NUGET_PARAMETERS[name]
    if "/maven/" in route.path and name in _MAVEN_PARAMETERS:
        return _MAVEN_PARAMETERS[name]
    if "/cargo/" in route.path and name in _CARGO_PARAMETERS:
        return _CARGO_PARAMETERS[name]
    if "/upack/" in route.path and name in _UPACK_PARAMETERS:
        return _UPACK_PARAMETERS[name]
    return _PARAMETERS[name]


def _operation_id(route: Route) -> str:
    """The handler's name, plus the protocol and whether the npm name is scoped where routes share a handler."""
    name = to_camel(route.handler.__name__.strip("_"))
    segs = route.path.split("/")
    if len(segs) > 3 and segs[3] in ("npm", "pypi", "nuget", "maven", "cargo", "upack"):
        name += segs[3].capitalize() + ("Scoped" if "@{" in route.path else "")
    return name


def _tag(path: str) -> str:
    segs = path.split("/")
    if segs[0] != "packaging":
        return segs[0]
    if segs[1] == "feedrecyclebin":
        return "feed recycle bin"
    if "RecycleBin" in segs:
        return "package recycle bin"
    if len(segs) < 4:
        return "feeds"
    return {"views": "views", "permissions": "permissions"}.get(segs[3], "packages" if len(segs) > 4 else "feeds")


def dumps(document: dict[str, Any]) -> str:
    """The committed form: indented, keys sorted, one newline at the end."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    from feed_core.api.rest import ROUTES  # here: rest imports this module

    sys.stdout.write(dumps(openapi_document(ROUTES)))


if __name__ == "__main__":
    main()
