"""The real NuGet client through NuGet upstreams that are real servers: another instance of this service (a second
feed server process, reached through its v3 service index with a token), and a v2 gallery (the fixture gallery's
OData endpoint) restored from through the feed's own ``…/nuget/v2``. Also what nuget.exe prints when the feed refuses
a hostile push (tests/api/test_nuget_bad_input.py has every case in-process).
"""

# ruff: noqa: F811
from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ORG, UPSTREAM_SERVER_ENV, Api, FeedEnv, FeedServer, _start_server, _stop, running
from tests.hostile_nupkgs import XXE, ratio_bomb, with_doctype, with_member
from tests.nuget_client import NuGetFactory, nuget  # noqa: F401
from tests.nuget_gallery import NuGetGallery
from tests.nupkg_builder import build_nupkg

pytestmark = pytest.mark.e2e

API_VERSION = {"api-version": "7.1"}


@pytest.fixture
def server(upstream_server: FeedServer) -> FeedServer:
    """Overrides conftest's ``server``: ``api`` and ``feed`` use this module's own server."""
    return running(upstream_server)


def nuget_base(server: FeedServer, feed: str) -> str:
    return f"{server.base_url}/{ORG}/_packaging/{feed}/nuget"


def set_upstreams(api: Api, feed: str, *sources: dict[str, Any]) -> None:
    r = api.request(
        "PATCH", f"/_apis/packaging/feeds/{feed}", params=API_VERSION, json={"upstreamSources": list(sources)}
    )
    assert r.status_code == 200, r.text


def saved(api: Api, feed: str, name: str, version: str) -> dict[str, Any]:
    """The saved version; the feed commits it just after the client has its file, so give it a few seconds."""
    url = f"/_apis/packaging/feeds/{feed}/nuget/packages/{name}/versions/{version}"
    deadline = time.monotonic() + 10
    while (r := api.request("GET", url, params=API_VERSION)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 200, f"{name} {version} is not saved in {feed}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def installed(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in out.glob("*/*.nupkg")}


def sha512(data: bytes) -> str:
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_another_instance_as_the_upstream_then_stopped(
    feed: FeedEnv, api: Api, nuget: NuGetFactory, carol: str, tmp_path: Path
) -> None:
    other = _start_server("embedded", tmp_path / "other", UPSTREAM_SERVER_ENV)
    try:
        remote = Api(other)
        try:
            remote.create_feed("origin")
            remote.set_permissions("origin", [("alice", "contributor"), ("robot", "reader")])
            pusher = remote.mint("alice", "vso.packaging_write")
            reader = remote.mint("robot", "vso.packaging")
        finally:
            remote.close()
        dep = build_nupkg("Far.Dep", "1.0.0")
        app = build_nupkg("Far.App", "2.0.0", dependencies=[("Far.Dep", "1.0.0")])
        with httpx.Client(trust_env=False, timeout=10) as client:
            for data in (dep, app):
                r = client.put(
                    f"{nuget_base(other, 'origin')}/v3/package",
                    files={"package": ("p.nupkg", data, "application/octet-stream")},
                    headers={"X-NuGet-ApiKey": pusher},
                )
                assert r.status_code == 201, r.text
        location = f"{nuget_base(other, 'origin')}/v3/index.json"
        source = {"name": "other-instance", "protocol": "nuget", "location": location, "credentials": {"token": reader}}
        set_upstreams(api, feed.name, source)

        source_url = f"{nuget_base(feed.server, feed.name)}/v3/index.json"
        first = nuget(source_url, "carol", carol)
        first.install("Far.App", "2.0.0")
        assert installed(first.output_dir) == {"Far.App.2.0.0": app, "Far.Dep.1.0.0": dep}
        for name, version in (("Far.App", "2.0.0"), ("Far.Dep", "1.0.0")):
            body = saved(api, feed.name, name, version)
            (hop,) = body["sourceChain"]
            assert hop["name"] == "other-instance" and hop["location"] == location, hop
            assert body["provenance"]["savedBy"] == "carol" and body["provenance"]["verifiedWith"] == "sha512", body
            assert "token" not in str(body) and reader not in str(body)
    finally:
        _stop(other.proc)
    # the other instance is gone: fresh clients (no global packages folder, no HTTP cache) restore from the feed
    later = nuget(source_url, "carol", carol)
    later.install("Far.App", "2.0.0")
    assert installed(later.output_dir) == {"Far.App.2.0.0": app, "Far.Dep.1.0.0": dep}
    bob = nuget(source_url, "bob", feed.bob_token)  # a reader too, now that carol saved them
    bob.install("Far.App", "2.0.0")
    assert installed(bob.output_dir) == {"Far.App.2.0.0": app, "Far.Dep.1.0.0": dep}


def test_a_v2_gallery_upstream_through_the_feeds_v2_endpoint(
    feed: FeedEnv, api: Api, nuget: NuGetFactory, carol: str
) -> None:
    with NuGetGallery() as gallery:
        dep = gallery.add("Gal.Dep", "1.0.0")
        module = gallery.add("Gal.Module", "3.1.0", tags=["PSModule"], dependencies=[("Gal.Dep", "1.0.0")])
        source = {"name": "psgallery", "protocol": "nuget", "location": gallery.v2_url, "upstreamSourceType": "public"}
        set_upstreams(api, feed.name, source)
        client = nuget(f"{nuget_base(feed.server, feed.name)}/v2", "carol", carol)
        client.install("Gal.Module", "3.1.0")
        assert installed(client.output_dir) == {"Gal.Module.3.1.0": module, "Gal.Dep.1.0.0": dep}
        for name, version, data in (("Gal.Module", "3.1.0", module), ("Gal.Dep", "1.0.0", dep)):
            body = saved(api, feed.name, name, version)
            (hop,) = body["sourceChain"]
            assert hop["name"] == "psgallery" and hop["location"] == gallery.v2_url, hop
            assert body["provenance"]["savedBy"] == "carol" and body["provenance"]["verifiedWith"] == "sha512", body
            assert gallery.hash(name, version) == sha512(data)
        assert gallery.count("GET", "/v3/index.json") == 0  # only the v2 endpoint was read


def test_nuget_exe_prints_why_a_hostile_push_is_refused(
    feed: FeedEnv, api: Api, nuget: NuGetFactory, tmp_path: Path
) -> None:
    alice = nuget(f"{nuget_base(feed.server, feed.name)}/v3/index.json", "alice", feed.alice_token)
    cases = {
        "Bomb": (ratio_bomb(), "413 (Request Entity Too Large)", "WARNING: the package looks like a zip bomb"),
        "Trav": (with_member("../evil.txt"), "400 (Bad Request)", "WARNING: the archive holds an unsafe path"),
        "Xml": (with_doctype(XXE), "400 (Bad Request)", "WARNING: the package's .nuspec declares a DTD"),
    }
    for package_id, (data, status, warning) in cases.items():
        path = tmp_path / f"{package_id}.1.0.0.nupkg"
        path.write_bytes(data)
        result = alice.push(path, check=False)
        assert result.returncode != 0 and status in result.output and warning in result.output, str(result)
        r = api.request("GET", f"/_packaging/{feed.name}/nuget/v3/flat2/{package_id.lower()}/index.json")
        assert r.status_code == 404, r.text
