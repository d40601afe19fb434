"""Setting up what the browser tests look at, through the REST API and the npm registry over HTTP (the same
calls a client makes): feeds, upstream sources, packages, versions saved from an upstream."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.e2e.conftest import REPO_ROOT, UPSTREAM_SERVER_ENV, Api, FeedEnv, FeedServer, clean_env
from tests.npm_packages import publish_body

API_VERSION = {"api-version": "7.1"}


def update_feed(api: Api, feed: str, **settings: Any) -> dict[str, Any]:
    """PATCH the feed's settings (camelCase names, as the REST API takes them)."""
    r = api.request("PATCH", f"/_apis/packaging/feeds/{feed}", params=API_VERSION, json=settings)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def custom_npm_source(name: str, location: str) -> dict[str, str]:
    """An npm registry by URL (a custom source: the REST API spells it ``public`` with a location). It is external:
    its versions of a name the feed has its own versions of are held back unless the package allows them."""
    return {"name": name, "protocol": "npm", "location": location, "upstreamSourceType": "public"}


def internal_npm_source(name: str, upstream_feed: str, view: str = "Local") -> dict[str, str]:
    return {
        "name": name,
        "protocol": "npm",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": upstream_feed,
        "internalUpstreamViewId": view,
    }


def share_view(api: Api, feed: str, view: str = "Local") -> None:
    """Make ``feed@view`` visible to the whole organization, so that other feeds can use it as an upstream."""
    r = api.request("PATCH", f"/_apis/packaging/feeds/{feed}/views/{view}", json={"visibility": "collection"})
    assert r.status_code == 200, r.text


def publish(api: Api, feed: str, name: str, version: str, *, token: str | None = None, **manifest: Any) -> None:
    """``npm publish`` as it goes over the wire; ``manifest`` adds package.json fields (description, readme...)."""
    url = f"{api.server.npm_registry(feed)}{name.replace('/', '%2f')}"
    r = api.request("PUT", url, json=publish_body(name, version, extra=manifest or None), token=token)
    assert r.status_code in (200, 201), r.text


def upstream_feed(api: Api, feed: FeedEnv, source: str, packages: dict[str, str]) -> str:
    """A second feed with ``packages`` (name -> version) published, its Local view shared, made ``feed``'s
    upstream source named ``source``."""
    name = f"{feed.name}-up"
    api.create_feed(name)
    for package, version in packages.items():
        publish(api, name, package, version, description=f"{package} from the shared feed")
    share_view(api, name)
    update_feed(api, feed.name, upstreamSources=[internal_npm_source(source, name)])
    return name


def save_from_upstream(api: Api, feed: str, name: str, version: str, *, token: str | None = None) -> None:
    """Install ``name@version`` through ``feed`` as npm would (its packument, then its tarball), which saves it
    from the upstream that offers it."""
    packument = api.npm_get(feed, name.replace("/", "%2f"), token=token)
    assert packument.status_code == 200, packument.text
    tarball = packument.json()["versions"][version]["dist"]["tarball"]
    r = api.request("GET", tarball, token=token)
    assert r.status_code == 200, f"{tarball}: {r.status_code} {r.text[:300]}"


def run_health_job(server: FeedServer) -> None:
    """Probe every enabled upstream of the server once and record its health, as the timer job does (on an
    embedded-store server: the job works on the server's data directory)."""
    assert server.backend == "embedded", "the health job runs here on the embedded store only"
    env = {**clean_env(), **UPSTREAM_SERVER_ENV, "FEED_UPSTREAM_ALLOWED_NETWORKS": "127.0.0.0/8,::1"}
    data = server.log_path.parent / "data"
    done = subprocess.run(
        [sys.executable, "-m", "feed_core", "jobs", "health", "--data-dir", str(data)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # It exits with 1 when an upstream failed, which some tests want.
    assert done.returncode in (0, 1) and "upstreams checked" in done.stdout, f"{done.stdout}\n{done.stderr}"
