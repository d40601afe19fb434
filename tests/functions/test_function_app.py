"""The Azure Functions wiring, proved in-process (the Functions host cannot run on these machines).

Each request is built as the host would hand it to the Python worker (``func.HttpRequest`` with the URL,
lower-cased headers, query params and the route values of the matching route template), given to the
registered function through ``get_user_function()``, and its ``func.HttpResponse`` is encoded the way the
worker does before the host sees it. The same scenario is then replayed over plain ASGI
(``httpx.ASGITransport``) against a second app with its own data directory, and the two must agree.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
import httpx
import pytest
from azure.functions.http import HttpResponseConverter

import function_app
from feed_core.app import create_app
from feed_core.settings import SETTINGS, Settings
from feed_core.ui.assets import static_url
from tests.cargo_packages import crate_bytes, publish_body
from tests.nupkg_builder import build_nupkg

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://localhost:7071"
TOKEN = "functions-test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
ABBREVIATED = "application/vnd.npm.install-v1+json"
REGISTRY = "/local/_packaging/f1/npm/registry"

METHODS = {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"}
EXPECTED_ROUTES = {
    "npm": "{org}/_packaging/{feed}/npm/{*rest}",
    "npm_project": "{org}/{project}/_packaging/{feed}/npm/{*rest}",
    "pypi": "{org}/_packaging/{feed}/pypi/{*rest}",
    "pypi_project": "{org}/{project}/_packaging/{feed}/pypi/{*rest}",
    "nuget": "{org}/_packaging/{feed}/nuget/{*rest}",
    "nuget_project": "{org}/{project}/_packaging/{feed}/nuget/{*rest}",
    "maven": "{org}/_packaging/{feed}/maven/{*rest}",
    "maven_project": "{org}/{project}/_packaging/{feed}/maven/{*rest}",
    "cargo": "{org}/_packaging/{feed}/cargo/{*rest}",
    "cargo_project": "{org}/{project}/_packaging/{feed}/cargo/{*rest}",
    "upack": "{org}/_packaging/{feed}/upack/{*rest}",
    "upack_project": "{org}/{project}/_packaging/{feed}/upack/{*rest}",
    "rest_api": "{org}/_apis/{*rest}",
    "rest_api_project": "{org}/{project}/_apis/{*rest}",
    "ui": "{org}/_artifacts/{*rest}",
    "ui_project": "{org}/{project}/_artifacts/{*rest}",
    "ui_static": "_static/{*rest}",
    "health": "_health",
}

# get_functions() builds the function list once per FunctionApp; a second call raises
# "does not have a unique function name" (TOOLING.md §5), so every test shares this one.
FUNCTIONS: dict[str, func.Function] = {str(f.get_function_name()): f for f in function_app.app.get_functions()}


# --- invoking the registered functions the way the host and worker do -----------------------------


class InvocationContext(func.Context):
    """The few context fields AsgiMiddleware copies into the ASGI scope."""

    def __init__(self, function_name: str) -> None:
        self._function_name = function_name

    @property
    def invocation_id(self) -> str:
        return "00000000-0000-0000-0000-000000000001"

    @property
    def thread_local_storage(self) -> Any:
        return None

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return str(ROOT)

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = []
    for seg in template.split("/"):
        m = re.fullmatch(r"\{(\*?)(\w+)\}", seg)
        if m is None:
            parts.append(re.escape(seg))
        else:
            parts.append(f"(?P<{m[2]}>.*)" if m[1] else f"(?P<{m[2]}>[^/]+)")
    return re.compile("/".join(parts), re.IGNORECASE)


def http_trigger(fn: func.Function) -> dict[str, Any]:
    """The function's trigger binding, as the host reads it from the indexed metadata."""
    (trigger,) = [b for b in json.loads(fn.get_function_json())["bindings"] if b["direction"] == "IN"]
    assert isinstance(trigger, dict)
    return trigger


ROUTES = {
    name: (_template_pattern(route), sum("{" not in s for s in route.split("/")))
    for name, route in ((name, http_trigger(fn)["route"]) for name, fn in FUNCTIONS.items() if fn.is_http_function())
}


def _aspnet_path(path: str) -> str:
    """ASP.NET Core's request path: percent-decoded once, except ``%2F`` which stays encoded."""
    return "".join(p if p.lower() == "%2f" else unquote(p) for p in re.split(r"(%2[fF])", path))


def route_for(path: str) -> tuple[str, dict[str, str]]:
    """The function the host routes ``path`` to, with its route values: of the templates that match,
    the one with the most literal segments wins (ASP.NET Core route precedence)."""
    candidates = []
    for name, (pattern, literals) in ROUTES.items():
        m = pattern.fullmatch(_aspnet_path(path).lstrip("/"))
        if m is not None:
            candidates.append((literals, name, m.groupdict()))
    assert candidates, f"no function is routed for {path}"
    _, name, values = max(candidates)
    return name, values


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    function: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def media_type(self) -> str | None:
        ct = self.headers.get("content-type")
        return ct.split(";")[0].strip() if ct else None


Send = Callable[..., Awaitable[Reply]]


def functions_request(method: str, path: str, headers: dict[str, str] | None, body: bytes) -> func.HttpRequest:
    url = urlsplit(path)
    _, route_params = route_for(url.path)
    sent = {"host": "localhost:7071", "user-agent": "npm/11.0.0 node/v20"}
    sent.update({k.lower(): v for k, v in (headers or {}).items()})
    if body:
        sent["content-length"] = str(len(body))
    return func.HttpRequest(
        method=method,
        url=BASE + path,
        headers=sent,
        params=dict(parse_qsl(url.query)),
        route_params=route_params,
        body=body,
    )


async def via_functions(method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> Reply:
    name, _ = route_for(urlsplit(path).path)
    req = functions_request(method, path, headers, body)
    resp = await FUNCTIONS[name].get_user_function()(req, InvocationContext(name))
    assert isinstance(resp, func.HttpResponse)
    # What the worker sends the host: the converter adds a Content-Type when the response has none.
    HttpResponseConverter.encode(resp, expected_type=None)
    return Reply(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.get_body(), name)


def via_asgi(client: httpx.AsyncClient) -> Send:
    async def send(method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> Reply:
        r = await client.request(
            method, path, headers={"user-agent": "npm/11.0.0 node/v20", **(headers or {})}, content=body
        )
        return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    return send


# --- fixtures ----------------------------------------------------------------------------------------


def _clean_feed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def functions_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Path]:
    """Settings for the module-level FeedApp, which reads them on its first request; its services are
    dropped before and after so each test starts from its own data directory."""
    _clean_feed_env(monkeypatch)
    data_dir = tmp_path / "functions-data"
    monkeypatch.setenv("FEED_STORAGE", "embedded")
    monkeypatch.setenv("FEED_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FEED_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("FEED_UPSTREAM_ALLOWED_NETWORKS", "127.0.0.0/8,::1")  # the fixture upstreams' network
    await function_app.feed_app.close()
    yield data_dir
    await function_app.feed_app.close()


@pytest.fixture
async def asgi_send(tmp_path: Path) -> AsyncIterator[Send]:
    settings = Settings.from_env(
        {"FEED_STORAGE": "embedded", "FEED_DATA_DIR": str(tmp_path / "asgi-data"), "FEED_ADMIN_TOKEN": TOKEN}
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield via_asgi(client)
    await app.close()


# --- npm test packages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    tgz: bytes = field(repr=False)

    @property
    def filename(self) -> str:
        return f"{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    @property
    def url_name(self) -> str:
        """How npm writes the name in a registry URL: a scoped name with its slash encoded."""
        return self.name.replace("/", "%2f")

    def publish_body(self) -> bytes:
        """The JSON body `npm publish` PUTs to the registry."""
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(self.tgz).digest()).decode()
        shasum = hashlib.sha1(self.tgz).hexdigest()  # noqa: S324 - npm's legacy shasum
        manifest = {
            "name": self.name,
            "version": self.version,
            "description": f"{self.name} for the Functions tests",
            "main": "index.js",
            "license": "MIT",
            "_id": f"{self.name}@{self.version}",
            "dist": {"integrity": integrity, "shasum": shasum, "tarball": f"{BASE}{REGISTRY}/{self.name}/-/x.tgz"},
        }
        return json.dumps(
            {
                "_id": self.name,
                "name": self.name,
                "description": manifest["description"],
                "dist-tags": {"latest": self.version},
                "versions": {self.version: manifest},
                "access": None,
                "_attachments": {
                    f"{self.name}-{self.version}.tgz": {
                        "content_type": "application/octet-stream",
                        "data": base64.b64encode(self.tgz).decode(),
                        "length": len(self.tgz),
                    }
                },
            }
        ).encode()


def npm_package(name: str, version: str) -> NpmPackage:
    """A real npm tarball (package/package.json + package/index.js), byte-for-byte reproducible."""
    files = {
        "package/package.json": json.dumps({"name": name, "version": version, "main": "index.js"}).encode(),
        "package/index.js": b"module.exports = 42;\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return NpmPackage(name, version, gzip.compress(raw.getvalue(), mtime=0))


PLAIN = npm_package("functions-demo", "1.0.0")
SCOPED = npm_package("@fx/functions-demo", "2.1.0")


# --- comparing the two hosts -------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


def normalise(value: Any) -> Any:
    """Blank what legitimately differs between two stores: ids, timestamps, revisions, base URLs."""
    if isinstance(value, dict):
        return {k: ("<rev>" if k == "_rev" else normalise(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return _TIME.sub("<time>", _UUID.sub("<id>", value.replace(BASE, "<base>")))
    return value


@dataclass(frozen=True)
class Step:
    label: str
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    etag_from: str | None = None  # send If-None-Match with the ETag of that earlier step's reply


SCENARIO = [
    Step("health", "GET", "/_health", 200),
    Step(
        "create feed",
        "POST",
        "/local/_apis/packaging/feeds?api-version=7.1",
        201,
        JSON_AUTH,
        json.dumps({"name": "f1"}).encode(),
    ),
    Step("get feed", "GET", "/local/_apis/packaging/feeds/f1?api-version=7.1", 200, AUTH),
    Step(
        "publish",
        "PUT",
        f"{REGISTRY}/{PLAIN.url_name}",
        201,
        JSON_AUTH,
        PLAIN.publish_body(),
    ),
    Step("packument (abbreviated)", "GET", f"{REGISTRY}/{PLAIN.url_name}", 200, {**AUTH, "Accept": ABBREVIATED}),
    Step("packument (full)", "GET", f"{REGISTRY}/{PLAIN.url_name}", 200, {**AUTH, "Accept": "application/json"}),
    Step(
        "packument not modified",
        "GET",
        f"{REGISTRY}/{PLAIN.url_name}",
        304,
        {**AUTH, "Accept": "application/json"},
        etag_from="packument (full)",
    ),
    Step("tarball", "GET", f"{REGISTRY}/{PLAIN.name}/-/{PLAIN.filename}", 200, AUTH),
    Step("tarball not modified", "GET", f"{REGISTRY}/{PLAIN.name}/-/{PLAIN.filename}", 304, AUTH, etag_from="tarball"),
    Step(
        "publish scoped",
        "PUT",
        f"{REGISTRY}/{SCOPED.url_name}",
        201,
        JSON_AUTH,
        SCOPED.publish_body(),
    ),
    Step("scoped packument", "GET", f"{REGISTRY}/{SCOPED.url_name}", 200, {**AUTH, "Accept": ABBREVIATED}),
    Step("scoped version", "GET", f"{REGISTRY}/{SCOPED.url_name}/latest", 200, AUTH),
    Step("scoped tarball", "GET", f"{REGISTRY}/{SCOPED.name}/-/{SCOPED.filename}", 200, AUTH),
    Step("whoami", "GET", f"{REGISTRY}/-/whoami", 200, AUTH),
    Step("whoami without credentials", "GET", f"{REGISTRY}/-/whoami", 401),
    Step("unknown feed", "GET", f"/local/_packaging/nope/npm/registry/{PLAIN.url_name}", 404, AUTH),
    Step("unknown feed in the REST API", "GET", "/local/_apis/packaging/feeds/nope?api-version=7.1", 404, AUTH),
    Step("web UI page without a session", "GET", "/local/_artifacts/feed/f1?q=x", 303),
    Step("web UI stylesheet", "GET", static_url("app.css"), 200),
]


async def run_scenario(send: Send) -> dict[str, Reply]:
    replies: dict[str, Reply] = {}
    for step in SCENARIO:
        headers = dict(step.headers)
        if step.etag_from is not None:
            headers["If-None-Match"] = replies[step.etag_from].headers["etag"]
        reply = await send(step.method, step.path, headers=headers, body=step.body)
        assert reply.status == step.status, f"{step.label}: {reply.status} {reply.body[:300]!r}"
        replies[step.label] = reply
    return replies


# --- tests -------------------------------------------------------------------------------------------


def test_the_registered_functions_are_anonymous_http_triggers_for_each_url_prefix() -> None:
    http_functions = {name: fn for name, fn in FUNCTIONS.items() if fn.is_http_function()}
    assert set(http_functions) == set(EXPECTED_ROUTES)
    timers = {"refresh_upstreams", "check_upstream_health", "collect_garbage", "apply_retention"}
    assert set(FUNCTIONS) - set(http_functions) == timers
    for name, fn in http_functions.items():
        bindings = json.loads(fn.get_function_json())["bindings"]
        trigger = http_trigger(fn)
        assert trigger["type"] == "httpTrigger", name
        assert trigger["name"] == "req", name
        assert trigger["authLevel"].lower() == "anonymous", name
        assert trigger["route"] == EXPECTED_ROUTES[name], name
        assert set(trigger["methods"]) == METHODS, name
        assert [b for b in bindings if b["direction"] == "OUT"] == [
            {"direction": "OUT", "type": "http", "name": "$return"}
        ], name
        assert getattr(fn.get_trigger(), "auth_level", None) == func.AuthLevel.ANONYMOUS, name
        assert fn.is_http_function(), name


def test_requests_are_routed_to_the_function_of_their_url_prefix() -> None:
    assert route_for("/local/_packaging/f1/npm/registry/@fx%2fdemo") == (
        "npm",
        {"org": "local", "feed": "f1", "rest": "registry/@fx%2fdemo"},
    )
    assert route_for("/local/p1/_packaging/f1@Release/npm/registry/-/whoami") == (
        "npm_project",
        {"org": "local", "project": "p1", "feed": "f1@Release", "rest": "registry/-/whoami"},
    )
    assert route_for("/local/_apis/packaging/feeds") == ("rest_api", {"org": "local", "rest": "packaging/feeds"})
    assert route_for("/local/p1/_apis/packaging/feeds") == (
        "rest_api_project",
        {"org": "local", "project": "p1", "rest": "packaging/feeds"},
    )
    assert route_for("/local/p1/_packaging/f1/Cargo/index/se/rd/serde") == (
        "cargo_project",
        {"org": "local", "project": "p1", "feed": "f1", "rest": "index/se/rd/serde"},
    )
    assert route_for("/local/_packaging/f1@Release/upack/packages/tool/versions/1.0.0") == (
        "upack",
        {"org": "local", "feed": "f1@Release", "rest": "packages/tool/versions/1.0.0"},
    )
    assert route_for("/_health") == ("health", {})
    assert route_for("/local/_artifacts/feed/f1") == ("ui", {"org": "local", "rest": "feed/f1"})
    assert route_for("/local/p1/_artifacts/feed/f1/npm/%40s%2Fa") == (
        "ui_project",
        {"org": "local", "project": "p1", "rest": "feed/f1/npm/@s%2Fa"},
    )
    assert route_for("/_static/app.0123456789ab.css") == ("ui_static", {"rest": "app.0123456789ab.css"})


async def test_functions_entry_and_asgi_answer_the_npm_and_api_scenario_alike(
    functions_env: Path, asgi_send: Send
) -> None:
    via_fn = await run_scenario(via_functions)
    via_asgi_ = await run_scenario(asgi_send)

    for step in SCENARIO:
        fn, direct = via_fn[step.label], via_asgi_[step.label]
        label = step.label
        assert set(fn.headers) == set(direct.headers), label
        assert fn.media_type == direct.media_type, label
        assert ("etag" in fn.headers) == ("etag" in direct.headers), label
        assert fn.headers.get("www-authenticate") == direct.headers.get("www-authenticate"), label
        assert fn.headers.get("cache-control") == direct.headers.get("cache-control"), label
        if fn.media_type is not None and "json" in fn.media_type and fn.body:
            assert normalise(fn.json()) == normalise(direct.json()), label
        elif step.status != 304:
            assert fn.body == direct.body, label

    # Which function served what, and the bodies the steps are about.
    assert {via_fn[s.label].function for s in SCENARIO if "/_apis/" in s.path} == {"rest_api"}
    assert {via_fn[s.label].function for s in SCENARIO if "/_packaging/" in s.path} == {"npm"}
    assert via_fn["health"].function == "health"
    assert via_fn["web UI page without a session"].function == "ui"
    assert via_fn["web UI page without a session"].headers["location"].startswith("/local/_artifacts/signin?next=")
    assert via_fn["web UI stylesheet"].function == "ui_static"
    assert via_fn["web UI stylesheet"].media_type == "text/css"
    assert via_fn["get feed"].json()["name"] == "f1"
    assert via_fn["get feed"].headers["etag"]
    assert via_fn["packument (abbreviated)"].media_type == ABBREVIATED
    assert via_fn["packument (full)"].json()["versions"][PLAIN.version]["dist"]["tarball"] == (
        f"{BASE}{REGISTRY}/{PLAIN.name}/-/{PLAIN.filename}"
    )
    assert via_fn["tarball"].body == PLAIN.tgz
    assert via_fn["tarball"].media_type == "application/octet-stream"
    assert via_fn["scoped packument"].json()["name"] == SCOPED.name
    assert via_fn["scoped version"].json()["version"] == SCOPED.version
    assert via_fn["scoped tarball"].body == SCOPED.tgz
    assert via_fn["whoami"].json() == {"username": "admin"}
    assert via_fn["whoami without credentials"].headers["www-authenticate"].startswith("Basic")
    assert "nope" in via_fn["unknown feed"].json()["error"]
    assert functions_env.is_dir()  # the module-level app built its store from the environment


async def test_a_percent_encoded_percent_reaches_the_app_as_sent(functions_env: Path, asgi_send: Send) -> None:
    for send in (via_functions, asgi_send):
        await send("POST", "/local/_apis/packaging/feeds", headers=JSON_AUTH, body=b'{"name":"f1"}')
        await send("PUT", f"{REGISTRY}/{SCOPED.url_name}", headers=JSON_AUTH, body=SCOPED.publish_body())
    # %2540 is a literal "%40", not "@": ASGI answers 400 (no such package name); Functions must too.
    double_encoded = f"{REGISTRY}/%2540fx%252ffunctions-demo"
    direct = await asgi_send("GET", double_encoded, headers=AUTH)
    fn = await via_functions("GET", double_encoded, headers=AUTH)
    assert direct.status == 400
    assert fn.status == direct.status


async def test_a_304_carries_the_content_type_of_the_200_it_revalidates(functions_env: Path) -> None:
    await via_functions("POST", "/local/_apis/packaging/feeds", headers=JSON_AUTH, body=b'{"name":"f1"}')
    await via_functions("PUT", f"{REGISTRY}/{PLAIN.url_name}", headers=JSON_AUTH, body=PLAIN.publish_body())
    ok = await via_functions("GET", f"{REGISTRY}/{PLAIN.url_name}", headers={**AUTH, "Accept": ABBREVIATED})
    again = await via_functions(
        "GET",
        f"{REGISTRY}/{PLAIN.url_name}",
        headers={**AUTH, "Accept": ABBREVIATED, "If-None-Match": ok.headers["etag"]},
    )
    assert again.status == 304
    assert again.media_type == ok.media_type


async def test_project_scoped_api_goes_through_rest_api_project(functions_env: Path) -> None:
    created = await via_functions(
        "POST",
        "/local/proj1/_apis/packaging/feeds?api-version=7.1",
        headers=JSON_AUTH,
        body=b'{"name":"pf"}',
    )
    assert (created.status, created.function) == (201, "rest_api_project"), created.body
    assert created.json()["project"]["name"] == "proj1"
    assert created.json()["url"].startswith(f"{BASE}/local/proj1/_apis/packaging/Feeds/")

    listed = await via_functions("GET", "/local/proj1/_apis/packaging/feeds?api-version=7.1", headers=AUTH)
    assert (listed.status, listed.function) == (200, "rest_api_project")
    assert [f["name"] for f in listed.json()["value"]] == ["pf"]

    whoami = await via_functions("GET", "/local/proj1/_packaging/pf/npm/registry/-/whoami", headers=AUTH)
    assert (whoami.status, whoami.function) == (200, "npm_project")
    assert whoami.json() == {"username": "admin"}

    org_level = await via_functions("GET", "/local/_apis/packaging/feeds/pf?api-version=7.1", headers=AUTH)
    assert (org_level.status, org_level.function) == (404, "rest_api")


async def test_nuget_goes_through_its_own_functions(functions_env: Path) -> None:
    """A push as nuget.exe sends it (multipart, API key), then the service index, the version list and the bytes."""
    await via_functions("POST", "/local/_apis/packaging/feeds", headers=JSON_AUTH, body=b'{"name":"f1"}')
    await via_functions("POST", "/local/proj1/_apis/packaging/feeds", headers=JSON_AUTH, body=b'{"name":"pf"}')
    data = build_nupkg("Functions.Demo", "1.0")
    for v3 in ("/local/_packaging/f1/nuget/v3/", "/local/proj1/_packaging/pf/nuget/v3/"):
        form = httpx.Request("PUT", BASE, files={"package": ("package.nupkg", data, "application/octet-stream")})
        headers = {"X-NuGet-ApiKey": TOKEN, "Content-Type": form.headers["content-type"]}
        pushed = await via_functions("PUT", v3 + "package", headers=headers, body=form.read())
        function = "nuget_project" if "proj1" in v3 else "nuget"
        assert (pushed.status, pushed.function) == (201, function), pushed.body
        index = await via_functions("GET", v3 + "index.json", headers=AUTH)
        ids = {r["@type"]: r["@id"] for r in index.json()["resources"]}
        assert ids["PackageBaseAddress/3.0.0"] == f"{BASE}{v3}flat2/"
        listing = await via_functions("GET", v3 + "flat2/functions.demo/index.json", headers=AUTH)
        assert (listing.status, listing.json()) == (200, {"versions": ["1.0.0"]})
        nupkg = await via_functions("GET", v3 + "flat2/functions.demo/1.0.0/functions.demo.1.0.0.nupkg", headers=AUTH)
        assert nupkg.status == 200 and nupkg.body == data
        anonymous = await via_functions("GET", v3 + "index.json")
        assert (anonymous.status, anonymous.headers["www-authenticate"]) == (401, 'Basic realm="package feed"')


async def test_cargo_goes_through_its_own_functions(functions_env: Path) -> None:
    """config.json's challenge, then a publish as cargo frames it, the index file and the .crate, with the raw token."""
    await via_functions("POST", "/local/_apis/packaging/feeds", headers=JSON_AUTH, body=b'{"name":"f1"}')
    base = "/local/_packaging/f1/cargo"
    anonymous = await via_functions("GET", base + "/index/config.json")
    assert anonymous.status == 401 and anonymous.function == "cargo"
    assert anonymous.headers["www-authenticate"] == f'Cargo login_url="{BASE}{base}/me"'
    raw = {"Authorization": TOKEN}
    config = await via_functions("GET", "/local/_packaging/f1/Cargo/index/config.json", headers=raw)
    assert config.status == 200 and config.json()["dl"] == f"{BASE}{base}/api/v1/crates/{{crate}}/{{version}}/download"
    crate = crate_bytes("fn_demo", "1.0.0")
    headers = {**raw, "Content-Type": "application/octet-stream"}
    published = await via_functions(
        "PUT", base + "/api/v1/crates/new", headers=headers, body=publish_body("fn_demo", "1.0.0", crate)
    )
    assert published.status == 200, published.body
    line = await via_functions("GET", base + "/index/fn/_d/fn_demo", headers=raw)
    assert line.status == 200 and json.loads(line.body)["cksum"] == hashlib.sha256(crate).hexdigest()
    download = await via_functions("GET", base + "/api/v1/crates/Fn_Demo/1.0.0/download", headers=raw)
    assert download.status == 200 and download.body == crate


_IMPORT_PROBE = textwrap.dedent(
    """
    import asyncio, json, os, sys

    writes = []

    def audit(event, args):
        if event.startswith(("socket.", "sqlite3.")) or event in ("os.mkdir", "os.makedirs", "shutil.rmtree"):
            writes.append([event, repr(args)[:200]])
        elif event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and set(mode) & set("wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            ):
                writes.append([event, repr(args)[:200]])

    sys.addaudithook(audit)
    import function_app
    import_io = list(writes)
    data_dir_created = os.path.exists(os.environ["FEED_DATA_DIR"])

    sys.path.insert(0, os.getcwd())
    from tests.functions.test_function_app import via_functions

    async def main():
        api = await via_functions("GET", "/local/_apis/packaging/feeds?api-version=7.1", headers={})
        health = await via_functions("GET", "/_health")
        return api, health

    api, health = asyncio.run(main())
    print(json.dumps({
        "import_io": import_io,
        "data_dir_created": data_dir_created,
        "api": [api.status, api.headers.get("content-type"), api.body.decode()],
        "health": health.status,
    }))
    """
)


def test_importing_function_app_does_no_io_and_bad_settings_become_a_clear_500(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    data_dir = tmp_path / "never-created"
    env.update(
        FEED_STORAGE="azure",  # and no connection string nor service URLs: an invalid configuration
        FEED_DATA_DIR=str(data_dir),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["import_io"] == []
    assert out["data_dir_created"] is False
    assert not data_dir.exists()

    status, content_type, body = out["api"]
    assert status == 500
    assert content_type.startswith("application/json")
    assert "FEED_STORAGE_CONNECTION_STRING" in json.loads(body)["error"]
    assert "Traceback" not in body
    assert "Traceback" not in proc.stderr
    assert out["health"] == 200
