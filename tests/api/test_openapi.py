"""The OpenAPI 3.1 document: valid, committed in step with the code, served (to token holders), covering
every route, and describing what the routes really answer. Schemathesis runs on it in test_schema_fuzz.py."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis

from feed_core.api.openapi import dumps, openapi_document
from feed_core.api.rest import ROUTES
from tests.api.conftest import ORG, Api
from tests.python_packages import make_wheel, upload_form

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "openapi.json"
REFRESH = ".venv/bin/python -m feed_core.api.openapi > docs/openapi.json"
API = f"/{ORG}/_apis"
FEED = f"{API}/packaging/feeds/feed"
METHODS = ("get", "post", "patch", "delete")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(ROUTES)


def test_the_committed_copy_is_the_generated_document(document: dict[str, Any]) -> None:
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == dumps(document), f"docs/openapi.json is out of date: refresh it with  {REFRESH}"


def test_each_route_s_top_says_its_own_default(document: dict[str, Any]) -> None:
    def top(path: str) -> dict[str, Any]:
        params = document["paths"][f"/_apis/packaging/feeds/{{feedId}}/{path}"]["get"]["parameters"]
        return next(p for p in params if p["name"] == "$top")

    for path, default in (("RecycleBin/Packages", 1000), ("usage", 100)):
        found = top(path)
        assert found["schema"]["default"] == default and f"{default} when left out" in found["description"], path


def test_it_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) == len(ROUTES)
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)), ids


def test_every_route_is_documented_with_its_parameters(document: dict[str, Any]) -> None:
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert documented == {(r.method, f"/_apis/{r.path}") for r in ROUTES}
    for path, ops in document["paths"].items():
        in_path = set(re.findall(r"\{(\w+)\}", path))
        for method, op in ops.items():
            params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert params == in_path, (method, path)
            assert all(p["required"] for p in op["parameters"] if p["in"] == "path")
            assert {"400", "401", "404"} <= set(op["responses"]), (method, path)
            assert ("requestBody" in op) == (method in ("post", "patch", "put")), (method, path)
    pats = document["paths"]["/_apis/tokens/pats"]["delete"]["parameters"]
    assert {"name": "authorizationId", "in": "query", "required": True}.items() <= pats[1].items()
    assert document["components"]["securitySchemes"].keys() == {"basic", "bearer"}


def _matches(template: str, path: str) -> bool:
    """Whether a README path (``feeds/{feed}/npm/...``, any words in braces) is the document's ``template``."""
    want, got = template.strip("/").split("/"), path.strip("/").split("/")
    return len(want) == len(got) and all(
        w.lower() == g.lower() or "{" in w or (g.startswith("{") and "{" in w) for w, g in zip(want, got, strict=True)
    )


def test_every_route_the_readme_names_is_documented(document: dict[str, Any]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = re.findall(r"\b(GET|POST|PATCH|DELETE) [^`\s]*?(_apis/[^`?\s]+)", readme)
    assert len(named) >= 5, named
    for method, path in named:
        assert any(
            _matches(template, "/" + path) and method.lower() in ops for template, ops in document["paths"].items()
        ), (method, path)


async def test_it_is_served_to_token_holders_with_their_base_url(api: Api, document: dict[str, Any]) -> None:
    await api.create_feed("feed")
    await api.staff("feed")
    r = await api.http.get(f"{API}/openapi.json")
    assert r.status_code == 401 and r.headers["www-authenticate"]
    r = await api.http.get("/nobody/_apis/openapi.json", headers=api.auth())
    assert r.status_code == 401
    for url, server in [
        (f"{API}/openapi.json", f"http://feed.test/{ORG}"),
        (f"/{ORG}/proj/_apis/OpenAPI.json", f"http://feed.test/{ORG}/proj"),
    ]:
        r = await api.http.get(url, headers=api.auth("bob"))
        assert r.status_code == 200, r.text
        assert r.json()["servers"] == [{"url": server}]
        assert {k: v for k, v in r.json().items() if k != "servers"} == {
            k: v for k, v in document.items() if k != "servers"
        }


def _fill(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _sample(m.group(1), template), template)


def _sample(name: str, path: str) -> str:
    if name in ("packageId", "packageVersionId"):
        return str(uuid.uuid4())
    pypi = "/pypi/" in path
    return {
        "feedId": "feed",
        "viewId": "Release",
        "packageName": "demo" if pypi else "left-pad",
        "packageScope": "scope",
        "unscopedPackageName": "name",
        "packageVersion": "1.0",
        "groupId": "org.example",
        "artifactId": "demo",
    }[name]


async def test_every_documented_route_is_served(api: Api, document: dict[str, Any]) -> None:
    await api.create_feed("feed")
    # deletions last, so that the feed is there for the rest
    operations = sorted(
        ((m, p) for p, ops in document["paths"].items() for m in ops), key=lambda mp: (mp[0] == "delete", mp)
    )
    for method, template in operations:
        path = _fill(template)
        body = [] if template.endswith(("/permissions", "feedrecyclebin/{feedId}")) else {}
        kwargs: dict[str, Any] = {"json": body} if method in ("post", "patch") else {}
        r = await api.http.request(method.upper(), f"/{ORG}{path}", headers=api.auth(), **kwargs)
        assert r.status_code not in (405, 500), (method, path, r.text)
        assert r.status_code != 404 or "no such API" not in r.json()["message"], (method, path, r.text)


def _validator(document: dict[str, Any], path: str, method: str, status: int) -> jsonschema_rs.Validator:
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for({**schema, "components": document["components"]})


async def test_answers_conform_to_the_document(api: Api, document: dict[str, Any]) -> None:
    """Real answers, upstream sources and health included, against the schemas the document gives them."""
    feed = await api.create_feed(
        "feed", upstreamSources=[{"name": "mirror", "protocol": "npm", "location": "https://registry.example/"}]
    )
    await api.staff("feed")
    assert (await api.publish("left-pad", "1.0.0", who="alice")).status_code in (200, 201)
    filename, data, _ = make_wheel("demo", "1.0")
    fields, files = upload_form("demo", "1.0", filename, data)
    r = await api.http.post(f"/{ORG}/_packaging/feed/pypi/upload/", data=fields, files=files, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    await api.create_feed("gone")
    await api.http.delete(f"{API}/packaging/feeds/gone", headers=api.auth())
    npm = (await api.http.get(f"{FEED}/npm/left-pad/versions/1.0.0", headers=api.auth())).json()
    p = "/_apis/packaging/feeds/{feedId}"
    checks: list[tuple[str, str, str, int, dict[str, Any]]] = [
        ("get", f"{API}/packaging/feeds", "/_apis/packaging/feeds", 200, {}),
        ("get", FEED, p, 200, {}),
        ("get", FEED, p, 200, {"who": "bob"}),
        ("patch", FEED, p, 200, {"json": {"description": "d"}}),
        ("post", f"{API}/packaging/feeds", "/_apis/packaging/feeds", 201, {"json": {"name": "other"}}),
        ("get", f"{FEED}/health", p + "/health", 200, {}),
        ("get", f"{FEED}/views", p + "/views", 200, {}),
        ("get", f"{FEED}/views/Release", p + "/views/{viewId}", 200, {}),
        ("get", f"{FEED}/permissions", p + "/permissions", 200, {}),
        ("get", f"{FEED}/npm/left-pad/versions/1.0.0", p + "/npm/{packageName}/versions/{packageVersion}", 200, {}),
        (
            "get",
            f"{FEED}/pypi/packages/demo/versions/1.0",
            p + "/pypi/packages/{packageName}/versions/{packageVersion}",
            200,
            {},
        ),
        (
            "get",
            f"{FEED}/packages/{npm['packageId']}/versions/{npm['id']}/provenance",
            p + "/packages/{packageId}/versions/{packageVersionId}/provenance",
            200,
            {},
        ),
        ("get", f"{FEED}/npm/packages/left-pad/upstreaming", p + "/npm/packages/{packageName}/upstreaming", 200, {}),
        ("get", f"{API}/tokens/pats", "/_apis/tokens/pats", 200, {}),
        ("post", f"{API}/tokens/pats", "/_apis/tokens/pats", 200, {"json": {"scope": "vso.packaging"}}),
        ("get", f"{API}/packaging/feedrecyclebin", "/_apis/packaging/feedrecyclebin", 200, {}),
        ("get", f"{FEED}/views/nope", p + "/views/{viewId}", 404, {}),
        ("post", f"{API}/packaging/feeds", "/_apis/packaging/feeds", 400, {"json": {"name": 1}}),
        ("patch", FEED, p, 412, {"json": {}, "headers": {"If-Match": '"stale"'}}),
    ]
    for method, url, template, status, options in checks:
        headers = {**api.auth(options.pop("who", "admin")), **options.pop("headers", {})}
        r = await api.http.request(method.upper(), url, headers=headers, **options)
        assert r.status_code == status, (method, url, r.text)
        errors = [e.message for e in _validator(document, template, method, status).iter_errors(r.json())]
        assert not errors, (method, url, errors[:3])
    assert feed["upstreamSources"][0]["name"] == "mirror"
