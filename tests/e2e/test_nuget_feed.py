"""The real NuGet client (NuGet.exe 5.8 on mono, tests/nuget_client.py) against the running feed, no mocks.

One feed server for the module (uvicorn in a subprocess, short upstream budgets, no wait between on-demand
refreshes) and one fixture gallery (tests/nuget_gallery.py) as the public upstream; each test gets a fresh feed
(alice contributor, bob reader, see conftest.py), carol as a collaborator where it needs one, and package ids of its
own. Each NuGet.exe call costs 1-2 s, so the scenarios are few and each does several things.
"""

# ruff: noqa: F811
from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ORG, Api, FeedEnv, FeedServer, running
from tests.nuget_client import NuGetFactory, NuGetResult, nuget  # noqa: F401
from tests.nuget_gallery import NuGetGallery
from tests.nupkg_builder import build_nupkg

pytestmark = pytest.mark.e2e

API_VERSION = {"api-version": "7.1"}


# --- the server, the gallery and the feed's users --------------------------------------------------


@pytest.fixture
def server(upstream_server: FeedServer) -> FeedServer:
    """Overrides conftest's ``server``: ``api`` and ``feed`` use this module's own server."""
    return running(upstream_server)


@pytest.fixture(scope="module")
def gallery() -> Iterator[NuGetGallery]:
    """The module's public gallery; each test stocks ids of its own."""
    with NuGetGallery() as shared:
        yield shared


def index_url(server: FeedServer, feed: str, view: str | None = None) -> str:
    ref = f"{feed}@{view}" if view else feed
    return f"{server.base_url}/{ORG}/_packaging/{ref}/nuget/v3/index.json"


def set_upstreams(api: Api, feed: str, *sources: dict[str, str]) -> None:
    r = api.request(
        "PATCH", f"/_apis/packaging/feeds/{feed}", params=API_VERSION, json={"upstreamSources": list(sources)}
    )
    assert r.status_code == 200, r.text


def gallery_source(location: str) -> dict[str, str]:
    return {"name": "gallery", "protocol": "nuget", "location": location, "upstreamSourceType": "public"}


# --- helpers ---------------------------------------------------------------------------------------


def sha512(data: bytes) -> str:
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def write_nupkg(folder: Path, package_id: str, version: str, **kw: Any) -> Path:
    path = folder / f"{package_id}.{version}.nupkg"
    path.write_bytes(build_nupkg(package_id, version, **kw))
    return path


def installed(out: Path) -> dict[str, bytes]:
    """Folder name (``Id.Version``) -> the .nupkg bytes nuget.exe put there."""
    return {p.parent.name: p.read_bytes() for p in out.glob("*/*.nupkg")}


def failed(result: NuGetResult, *expected: str) -> NuGetResult:
    assert result.returncode != 0, str(result)
    for text in expected:
        assert text in result.output, f"{text!r} not in:\n{result}"
    return result


def version_info(api: Api, feed: str, name: str, version: str) -> httpx.Response:
    return api.request(
        "GET", f"/_apis/packaging/feeds/{feed}/nuget/packages/{name}/versions/{version}", params=API_VERSION
    )


def saved(api: Api, feed: str, name: str, version: str) -> dict[str, Any]:
    """The saved version; the feed commits it just after the client has its file, so give it a few seconds."""
    deadline = time.monotonic() + 10
    while (r := version_info(api, feed, name, version)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 200, f"{name} {version} is not saved in {feed}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def search(server: FeedServer, feed: str, token: str, q: str) -> list[dict[str, Any]]:
    """The feed's SearchQueryService over HTTP (nuget.exe 5.8 searches only through v2, which the feed lacks)."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(trust_env=False, timeout=10) as client:
        index = client.get(index_url(server, feed), headers=auth)
        assert index.status_code == 200, index.text
        (url,) = {r["@id"] for r in index.json()["resources"] if r["@type"].startswith("SearchQueryService")}
        r = client.get(url, params={"q": q, "prerelease": "true"}, headers=auth)
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


# --- 1. push, install, duplicates, unlist, a bad push ----------------------------------------------


def test_push_install_duplicate_unlist_and_a_bad_push(
    feed: FeedEnv,
    api: Api,
    nuget: NuGetFactory,
    tmp_path: Path,
) -> None:
    source = index_url(feed.server, feed.name)
    alice = nuget(source, "alice", feed.alice_token)
    dep = write_nupkg(tmp_path, "Team.Dep", "1.0.0")
    app = write_nupkg(tmp_path, "Team.App", "1.0.0", dependencies=[("Team.Dep", "1.0.0")])
    for package in (dep, app):
        pushed = alice.push(package)
        assert "Created" in pushed.output and "Your package was pushed." in pushed.output, str(pushed)

    bob = nuget(source, "bob", feed.bob_token)  # a reader installs what was published
    bob.install("Team.App", "1.0.0")
    assert installed(bob.output_dir) == {"Team.App.1.0.0": app.read_bytes(), "Team.Dep.1.0.0": dep.read_bytes()}

    failed(alice.push(app, check=False), "409 (Conflict)", f"Team.App 1.0.0 already exists in feed {feed.name}")
    skipped = alice.push(app, skip_duplicate=True)
    assert "Conflict" in skipped.stdout and "already exists at feed" in skipped.stdout, str(skipped)

    alice.delete("Team.App", "1.0.0")  # the feed unlists
    unlisted = version_info(api, feed.name, "Team.App", "1.0.0").json()
    assert unlisted["isListed"] is False and unlisted["isDeleted"] is False, unlisted
    assert [d["id"] for d in search(feed.server, feed.name, feed.bob_token, "Team")] == ["Team.Dep"]
    fresh = nuget(source, "bob", feed.bob_token)
    fresh.install("Team.App", "1.0.0")  # an unlisted version is still restored by its exact number
    assert installed(fresh.output_dir)["Team.App.1.0.0"] == app.read_bytes()

    bad = tmp_path / "Broken.Lib.1.0.0.nupkg"
    bad.write_bytes(b"this is not a zip archive")
    failed(alice.push(bad, check=False), "400 (Bad Request)", "WARNING: the upload is not a zip archive")


# --- 2. a reader uses what is there; a collaborator saves from the upstream ------------------------


def test_reader_cannot_push_or_save_and_a_collaborator_saves(
    feed: FeedEnv,
    api: Api,
    nuget: NuGetFactory,
    gallery: NuGetGallery,
    carol: str,
    tmp_path: Path,
) -> None:
    set_upstreams(api, feed.name, gallery_source(gallery.index_url))
    data = gallery.add("Pub.Only", "1.0.0")
    source = index_url(feed.server, feed.name)

    bob = nuget(source, "bob", feed.bob_token)
    failed(
        bob.push(write_nupkg(tmp_path, "Bob.Lib", "1.0.0"), check=False),
        "403 (Forbidden)",
        "needs the Feed Publisher (contributor) role; user bob has the Feed Reader role",
    )
    failed(
        bob.install("Pub.Only", "1.0.0", check=False),
        "Package 'Pub.Only 1.0.0' is not found",
        "is available from upstream gallery but is not saved in feed",
    )
    assert not installed(bob.output_dir)
    assert gallery.count("GET", "/pub.only.1.0.0.nupkg") == 0  # a reader never makes the feed fetch files
    assert version_info(api, feed.name, "Pub.Only", "1.0.0").status_code == 404

    client = nuget(source, "carol", carol)
    client.install("Pub.Only", "1.0.0")
    assert installed(client.output_dir) == {"Pub.Only.1.0.0": data}
    body = saved(api, feed.name, "Pub.Only", "1.0.0")
    (hop,) = body["sourceChain"]
    assert hop["name"] == "gallery" and hop["sourceType"] == "public" and hop["location"] == gallery.index_url, hop
    prov = body["provenance"]
    assert prov["savedBy"] == "carol" and prov["verifiedWith"] == "sha512", prov

    bob_again = nuget(source, "bob", feed.bob_token)
    bob_again.install("Pub.Only", "1.0.0")  # saved now: a reader gets it
    assert installed(bob_again.output_dir) == {"Pub.Only.1.0.0": data}
    assert gallery.count("GET", "/pub.only.1.0.0.nupkg") == 1


# --- 3. saved packages outlive the gallery ---------------------------------------------------------


def test_saved_packages_install_after_the_gallery_stops(
    feed: FeedEnv,
    api: Api,
    nuget: NuGetFactory,
    carol: str,
) -> None:
    source = index_url(feed.server, feed.name)
    with NuGetGallery() as own:
        dep = own.add("Gone.Dep", "1.0.0")
        lib = own.add("Gone.Lib", "2.0.0", dependencies=[("Gone.Dep", "1.0.0")])
        set_upstreams(api, feed.name, gallery_source(own.index_url))
        first = nuget(source, "carol", carol)
        first.install("Gone.Lib", "2.0.0")
        assert installed(first.output_dir) == {"Gone.Lib.2.0.0": lib, "Gone.Dep.1.0.0": dep}
        for name, version in (("Gone.Lib", "2.0.0"), ("Gone.Dep", "1.0.0")):
            assert saved(api, feed.name, name, version)["provenance"]["savedBy"] == "carol"
    # the gallery is stopped: its port refuses connections
    later = nuget(source, "carol", carol)
    later.install("Gone.Lib", "2.0.0")
    assert installed(later.output_dir) == {"Gone.Lib.2.0.0": lib, "Gone.Dep.1.0.0": dep}


# --- 4. dependency confusion ------------------------------------------------------------------------


def test_a_private_id_hides_upstream_versions_until_the_owner_allows_them(
    feed: FeedEnv,
    api: Api,
    nuget: NuGetFactory,
    gallery: NuGetGallery,
    carol: str,
    tmp_path: Path,
) -> None:
    set_upstreams(api, feed.name, gallery_source(gallery.index_url))
    public = gallery.add("Contoso.Lib", "99.0.0")
    source = index_url(feed.server, feed.name)
    alice = nuget(source, "alice", feed.alice_token)
    private = write_nupkg(tmp_path, "Contoso.Lib", "1.0.0", description="ours")
    alice.push(private)

    client = nuget(source, "carol", carol)
    client.install("Contoso.Lib")
    assert installed(client.output_dir) == {"Contoso.Lib.1.0.0": private.read_bytes()}
    assert gallery.count("GET", "/contoso.lib.99.0.0.nupkg") == 0

    r = api.request(
        "PATCH",
        f"/_apis/packaging/feeds/{feed.name}/nuget/packages/Contoso.Lib/upstreaming",
        params=API_VERSION,
        json={"versionsFromExternalUpstreams": "AllowExternalVersions"},
    )
    assert r.status_code == 200, r.text
    allowed = nuget(source, "carol", carol)
    allowed.install("Contoso.Lib")
    assert installed(allowed.output_dir) == {"Contoso.Lib.99.0.0": public}
    (hop,) = saved(api, feed.name, "Contoso.Lib", "99.0.0")["sourceChain"]
    assert hop["name"] == "gallery" and hop["sourceType"] == "public", hop
    assert version_info(api, feed.name, "Contoso.Lib", "1.0.0").json()["sourceChain"] == []  # pushed here

    gallery.add("Contoso.Lib", "98.0.0")  # the upstream has it; a push of the same number is refused
    taken = write_nupkg(tmp_path, "Contoso.Lib", "98.0.0", description="ours too")
    failed(
        alice.push(taken, check=False), "409 (Conflict)", "98.0.0 already exists in the feed's upstream source gallery"
    )


# --- 5. another feed of this server through a view ---------------------------------------------------


def test_internal_upstream_feed_through_a_view(
    feed: FeedEnv,
    api: Api,
    nuget: NuGetFactory,
    tmp_path: Path,
) -> None:
    up = feed
    down = f"{up.name}-down"
    api.create_feed(down)
    r = api.request(
        "PATCH",
        f"/_apis/packaging/Feeds/{up.name}/views/Release",
        params=API_VERSION,
        json={"visibility": "collection"},
    )
    assert r.status_code == 200, r.text
    internal = {
        "name": "up-release",
        "protocol": "nuget",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": up.name,
        "internalUpstreamViewId": "Release",
    }
    set_upstreams(api, down, internal)
    api.set_permissions(up.name, [("carol", "collaborator")])
    api.set_permissions(down, [("carol", "collaborator")])
    carol = api.mint("carol", "vso.packaging")

    alice = nuget(index_url(up.server, up.name), "alice", up.alice_token)
    released = write_nupkg(tmp_path, "Shared.Lib", "1.0.0")
    alice.push(released)
    alice.push(write_nupkg(tmp_path, "Shared.Lib", "2.0.0"))  # stays in @Local
    r = api.request(
        "PATCH",
        f"/_apis/packaging/feeds/{up.name}/nuget/packages/Shared.Lib/versions/1.0.0",
        params=API_VERSION,
        json={"views": {"op": "add", "path": "/views/-", "value": "Release"}},
    )
    assert r.status_code in (200, 202, 204), r.text

    client = nuget(index_url(up.server, down), "carol", carol)
    client.install("Shared.Lib")
    assert installed(client.output_dir) == {"Shared.Lib.1.0.0": released.read_bytes()}
    body = saved(api, down, "Shared.Lib", "1.0.0")
    (hop,) = body["sourceChain"]
    assert hop["sourceType"] == "internal" and hop["name"] == "up-release", hop
    assert body["provenance"]["savedBy"] == "carol" and body["provenance"]["verifiedWith"] == "same-service"
    assert version_info(api, down, "Shared.Lib", "2.0.0").status_code == 404
