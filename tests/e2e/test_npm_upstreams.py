"""Upstream sources with the real npm CLI: the scenarios of tests/api/test_upstream_npm.py, end to end.

The feed server runs under uvicorn in a subprocess (one for this module, with short upstream budgets and no
on-demand refresh delay); the upstream is a real npm registry on 127.0.0.1 (tests/npm_registry_fixture.py).
Every test gets a fresh feed (alice contributor, bob reader, see conftest.py) and carol as a collaborator.

``test_live_npm_registry_as_upstream`` is marked ``live``: it uses the registry ``npm config get registry`` names
on this machine and is deselected by default (pyproject.toml's ``-m 'not live'``); run it with ``-m live``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    NPM,
    Api,
    FeedEnv,
    FeedServer,
    NpmClient,
    NpmFactory,
    NpmResult,
    PackageFactory,
    running,
)
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401

#: npm retries 5xx answers after 10 s and then 60 s by default; keep its retries, but make them quick.
QUICK_RETRIES = ("--fetch-retry-mintimeout=100", "--fetch-retry-maxtimeout=300")
API_VERSION = {"api-version": "7.1"}


# --- the server and the feed's users ---------------------------------------------------------------


@pytest.fixture
def server(upstream_server: FeedServer) -> FeedServer:
    """Overrides conftest's ``server``: ``api``, ``feed`` and ``npm`` use this module's own server."""
    return running(upstream_server)


def set_feed(api: Api, feed: str, **settings: Any) -> dict[str, Any]:
    r = api.request("PATCH", f"/_apis/packaging/feeds/{feed}", params=API_VERSION, json=settings)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def public_source(location: str) -> dict[str, str]:
    return {"name": "fixture", "protocol": "npm", "location": location, "upstreamSourceType": "public"}


@pytest.fixture
def upstream(api: Api, feed: FeedEnv, fixture_registry: FixtureRegistry) -> FixtureRegistry:  # noqa: F811
    """The test's feed with the fixture registry as its only upstream."""
    set_feed(api, feed.name, upstreamSources=[public_source(fixture_registry.url)])
    return fixture_registry


# --- helpers ---------------------------------------------------------------------------------------


def ok(result: NpmResult) -> NpmResult:
    assert result.returncode == 0, str(result)
    return result


def failed(result: NpmResult) -> NpmResult:
    assert result.returncode != 0, str(result)
    return result


def depend_on(client: NpmClient, dependencies: dict[str, str]) -> None:
    manifest = {"name": "e2e-project", "version": "1.0.0", "private": True, "dependencies": dependencies}
    (client.project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")


def installed_version(client: NpmClient, name: str) -> str:
    manifest = json.loads((client.project / "node_modules" / name / "package.json").read_text())
    assert manifest["name"] == name
    version: str = manifest["version"]
    return version


def lockfile(client: NpmClient) -> dict[str, Any]:
    lock: dict[str, Any] = json.loads((client.project / "package-lock.json").read_text())
    return lock


def versions_seen(client: NpmClient, name: str) -> list[str]:
    result = ok(client.run("view", name, "versions", "--json"))
    value = json.loads(result.stdout)
    return [value] if isinstance(value, str) else list(value)


def version_info(api: Api, feed: str, name: str, version: str) -> httpx.Response:
    return api.request("GET", f"/_apis/packaging/feeds/{feed}/npm/{name}/versions/{version}", params=API_VERSION)


def saved(api: Api, feed: str, name: str, version: str) -> dict[str, Any]:
    """The saved version. A client has its file once it is verified; the feed commits it just after, so a check
    right after an install gives it a few seconds."""
    deadline = time.monotonic() + 10
    while (r := version_info(api, feed, name, version)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 200, f"{name}@{version} is not saved in {feed}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def upstream_dist(registry: FixtureRegistry, name: str, version: str) -> dict[str, str]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        r = client.get(registry.url + name)
    assert r.status_code == 200, r.text
    dist: dict[str, str] = r.json()["versions"][version]["dist"]
    return dist


def feed_notes(api: Api, feed: FeedEnv, name: str, token: str) -> dict[str, str]:
    """The X-Feed-* headers of a packument: why versions are missing from it."""
    r = api.npm_get(feed.name, name, token=token)
    assert r.status_code == 200, r.text
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("x-feed-")}


def tgz(name: str, version: str) -> str:
    return f"/{name}-{version}.tgz"


# --- 1. transitive install saves every package with provenance ------------------------------------


@pytest.mark.e2e
def test_collaborator_installs_a_dependency_chain_and_saves_it(
    feed: FeedEnv, api: Api, npm: NpmFactory, upstream: FixtureRegistry, carol: str
) -> None:
    upstream.add("chain-c", "1.0.0")
    upstream.add("chain-b", "1.0.0", deps={"chain-c": "^1.0.0"})
    upstream.add("chain-a", "1.0.0", deps={"chain-b": "^1.0.0"})

    client = npm(carol, name="carol")
    ok(client.run("install", "chain-a"))
    names = ("chain-a", "chain-b", "chain-c")
    for name in names:
        assert installed_version(client, name) == "1.0.0"
    script = "console.log([" + ",".join(f'require("{n}")' for n in names) + "].join(' '))"
    assert ok(client.node(script)).stdout.strip() == "chain-a@1.0.0 chain-b@1.0.0 chain-c@1.0.0"

    lock = lockfile(client)
    for name in names:
        assert upstream.count("GET", tgz(name, "1.0.0")) == 1
        body = saved(api, feed.name, name, "1.0.0")
        (hop,) = body["sourceChain"]
        assert hop["name"] == "fixture" and hop["sourceType"] == "public" and hop["location"] == upstream.url
        prov = body["provenance"]
        assert prov["savedBy"] == "carol" and prov["verifiedWith"] == "sha512", prov
        assert prov["url"] == f"{upstream.url}{name}/-/{name}-1.0.0.tgz"
        declared = upstream_dist(upstream, name, "1.0.0")
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["integrity"] == declared["integrity"] == prov["upstreamIntegrity"]
        assert entry["resolved"] == f"{feed.registry}{name}/-/{name}-1.0.0.tgz"  # through the feed, not upstream


# --- 2. a reader gets only what a collaborator saved ------------------------------------------------


@pytest.mark.e2e
def test_reader_needs_a_collaborator_to_save_first(
    feed: FeedEnv, api: Api, npm: NpmFactory, upstream: FixtureRegistry, carol: str
) -> None:
    upstream.add("pub-only", "1.0.0")
    upstream.add("pub-only", "2.0.0")

    bob = npm(feed.bob_token, name="bob")
    denied = failed(bob.run("install", "pub-only@1.0.0"))
    assert "E404" in denied.output or "404" in denied.output, str(denied)
    assert "a collaborator (Feed and Upstream Reader) or higher must install it first" in denied.output, str(denied)
    assert not (bob.project / "node_modules" / "pub-only").exists()
    assert upstream.count("GET", "/pub-only-1.0.0.tgz") == 0  # a reader never makes the feed fetch files

    ok(npm(carol, name="carol").run("install", "pub-only@1.0.0"))

    bob_again = npm(feed.bob_token, name="bob-clean")
    ok(bob_again.run("install", "pub-only"))
    assert installed_version(bob_again, "pub-only") == "1.0.0"  # the saved one, not the upstream's latest
    assert versions_seen(bob_again, "pub-only") == ["1.0.0"]
    assert feed_notes(api, feed, "pub-only", feed.bob_token) == {
        "x-feed-unsaved-versions": "1 not yet saved from upstream (needs a collaborator)"
    }
    assert upstream.count("GET", "/pub-only-1.0.0.tgz") == 1


@pytest.mark.e2e
def test_reader_is_told_why_a_version_is_missing(
    feed: FeedEnv, npm: NpmFactory, upstream: FixtureRegistry, carol: str
) -> None:
    """The version is not in a reader's packument, so npm alone would say a bare ETARGET: the feed's
    ``npm-notice`` header is printed with it. A lockfile naming the version gets the reason from the tarball's 404."""
    upstream.add("told", "1.0.0")
    upstream.add("told", "2.0.0")
    ok(npm(carol, name="carol").run("install", "told@1.0.0"))
    rule = "a collaborator (Feed and Upstream Reader) or higher must install it first"

    bob = npm(feed.bob_token, name="bob")
    result = failed(bob.run("install", "told@2.0.0"))
    assert "ETARGET" in result.stderr, str(result)
    notice = (
        f"npm notice 1 version of told (2.0.0) is available from upstream fixture but not saved in feed {feed.name}"
    )
    assert f"{notice}; {rule}" in result.stderr, str(result)
    assert not (bob.project / "node_modules").exists(), str(result)

    # a lockfile made where 2.0.0 was reachable: npm ci fetches the tarball straight away
    ci = npm(feed.bob_token, name="bob-ci")
    depend_on(ci, {"told": "2.0.0"})
    entry = {
        "version": "2.0.0",
        "resolved": f"{feed.registry}told/-/told-2.0.0.tgz",
        "integrity": upstream_dist(upstream, "told", "2.0.0")["integrity"],
    }
    lock = {
        "name": "e2e-project",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": "e2e-project", "version": "1.0.0"}, "node_modules/told": entry},
    }
    (ci.project / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    result = failed(ci.run("ci"))
    reason = f"told@2.0.0 is available from upstream fixture but is not saved in feed {feed.name} yet; {rule}"
    assert f"npm notice {reason}" in result.stderr, str(result)
    assert "404" in result.stderr, str(result)
    assert not (ci.project / "node_modules" / "told").exists(), str(result)
    assert upstream.count("GET", tgz("told", "2.0.0")) == 0


# --- 3. dependency confusion -----------------------------------------------------------------------


@pytest.mark.e2e
def test_private_name_is_not_shadowed_by_a_public_copy(
    feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory, upstream: FixtureRegistry, carol: str
) -> None:
    upstream.add("corp-util", "99.0.0")  # an attacker's public copy of a private name
    alice = npm(feed.alice_token, name="alice")
    # npm refuses to tag 1.0.0 latest implicitly, as the feed already offers 99.0.0 from upstream: name the tag.
    ok(alice.run("publish", str(package("corp-util", "1.0.0", value="private corp-util")), "--tag", "latest"))

    first = npm(carol, name="carol")
    depend_on(first, {"corp-util": "*"})
    ok(first.run("install"))
    assert installed_version(first, "corp-util") == "1.0.0"
    assert ok(first.node('console.log(require("corp-util"))')).stdout.strip() == "private corp-util"
    assert versions_seen(first, "corp-util") == ["1.0.0"]
    assert feed_notes(api, feed, "corp-util", carol) == {}  # the public registry is not asked about a private name
    pinned = failed(npm(carol, name="carol-pinned").run("install", "corp-util@99.0.0", *QUICK_RETRIES))
    assert "ETARGET" in pinned.output or "404" in pinned.output, str(pinned)
    assert upstream.count("GET", "/corp-util-99.0.0.tgz") == 0

    url = f"/_apis/packaging/feeds/{feed.name}/npm/packages/corp-util/upstreaming"
    allow = {"versionsFromExternalUpstreams": "AllowExternalVersions"}
    assert api.request("PATCH", url, params=API_VERSION, json=allow, token=feed.alice_token).status_code == 403
    r = api.request("PATCH", url, params=API_VERSION, json=allow)  # the organization administrator owns the feed
    assert r.status_code == 200, r.text

    fresh = npm(carol, name="carol-fresh")  # clean cache, no lockfile
    assert versions_seen(fresh, "corp-util") == ["1.0.0", "99.0.0"]
    # The feed's own dist-tags win over the upstream's, so `latest` stays the private 1.0.0 and npm would still
    # pick it for "*" (npm prefers `latest` whenever it satisfies the range); ask for the public line instead.
    assert ok(fresh.run("view", "corp-util", "dist-tags.latest")).stdout.strip() == "1.0.0"
    depend_on(fresh, {"corp-util": "^99.0.0"})
    ok(fresh.run("install"))
    assert installed_version(fresh, "corp-util") == "99.0.0"
    assert feed_notes(api, feed, "corp-util", carol) == {}
    assert ok(fresh.node('console.log(require("corp-util"))')).stdout.strip() == "corp-util@99.0.0"
    assert upstream.count("GET", "/corp-util-99.0.0.tgz") == 1


# --- 4. publishing a version an upstream has -------------------------------------------------------


@pytest.mark.e2e
def test_publishing_a_version_an_upstream_has_is_refused(
    feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory, upstream: FixtureRegistry
) -> None:
    upstream.add("taken-name", "1.0.0")
    alice = npm(feed.alice_token, name="alice")
    # npm itself refuses first: the packument a contributor reads already lists the upstream's 1.0.0 ...
    client_side = failed(alice.run("publish", str(package("taken-name", "1.0.0"))))
    assert "cannot publish over the previously published versions: 1.0.0" in client_side.output, str(client_side)
    # ... and with --force the PUT reaches the feed, which refuses it naming the upstream.
    refused = failed(alice.run("publish", str(package("taken-name", "1.0.0")), "--force"))
    assert "409" in refused.output and "upstream" in refused.output, str(refused)
    assert "upstream source fixture" in refused.output, str(refused)
    assert version_info(api, feed.name, "taken-name", "1.0.0").status_code == 404

    published = ok(alice.run("publish", str(package("taken-name", "1.0.1"))))
    assert "+ taken-name@1.0.1" in published.stdout, str(published)
    assert saved(api, feed.name, "taken-name", "1.0.1")["sourceChain"] == []


# --- 5. the upstream goes down ---------------------------------------------------------------------


@pytest.mark.e2e
def test_saved_versions_install_while_the_upstream_is_down(
    feed: FeedEnv, npm: NpmFactory, upstream: FixtureRegistry, carol: str
) -> None:
    upstream.add("keep-me", "1.0.0")
    upstream.add("keep-me", "2.0.0")
    ok(npm(carol, name="carol").run("install", "keep-me@1.0.0"))

    upstream.set_down(True)  # connections are closed at once
    for token, who in ((feed.bob_token, "bob"), (carol, "carol")):
        client = npm(token, name=f"{who}-down")
        ok(client.run("install", "keep-me@1.0.0"))
        assert installed_version(client, "keep-me") == "1.0.0"
        assert ok(client.node('console.log(require("keep-me"))')).stdout.strip() == "keep-me@1.0.0"

    unsaved = npm(carol, name="carol-unsaved")
    assert versions_seen(unsaved, "keep-me") == ["1.0.0", "2.0.0"]  # the cached upstream document still lists it
    started = time.monotonic()
    result = failed(unsaved.run("install", "keep-me@2.0.0", *QUICK_RETRIES))
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the failing install took {elapsed:.1f} s"
    assert "502" in result.output and "upstream 'fixture' is unavailable" in result.output, str(result)
    assert not (unsaved.project / "node_modules" / "keep-me").exists()


# --- 6. tampered upstream bytes --------------------------------------------------------------------


@pytest.mark.e2e
def test_tampered_upstream_bytes_are_refused(
    feed: FeedEnv, api: Api, npm: NpmFactory, upstream: FixtureRegistry, carol: str
) -> None:
    upstream.add("evil-pkg", "1.0.0")
    upstream.tamper("evil-pkg", "1.0.0")
    client = npm(carol, name="carol")
    result = failed(client.run("install", "evil-pkg", *QUICK_RETRIES))
    assert "502" in result.output and "do not match" in result.output, str(result)
    assert upstream.count("GET", "/evil-pkg-1.0.0.tgz") >= 1
    assert not (client.project / "node_modules" / "evil-pkg").exists()
    r = version_info(api, feed.name, "evil-pkg", "1.0.0")
    assert r.status_code == 404, r.text


# --- 7. a burst of first installs ------------------------------------------------------------------


@pytest.mark.e2e
def test_parallel_first_installs_fetch_the_file_once(
    feed: FeedEnv, npm: NpmFactory, upstream: FixtureRegistry, carol: str
) -> None:
    upstream.add("burst-pkg", "1.0.0")
    upstream.set_delay(0.3)
    clients = [npm(carol, name=f"carol-{i}") for i in range(10)]
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = list(pool.map(lambda c: c.run("install", "burst-pkg"), clients))
    for client, result in zip(clients, results, strict=True):
        ok(result)
        assert installed_version(client, "burst-pkg") == "1.0.0"
    integrities = {lockfile(c)["packages"]["node_modules/burst-pkg"]["integrity"] for c in clients}
    assert len(integrities) == 1
    assert upstream.count("GET", "/burst-pkg-1.0.0.tgz") == 1


# --- 8. minimum release age ------------------------------------------------------------------------


@pytest.mark.e2e
def test_minimum_release_age_holds_back_young_versions(
    feed: FeedEnv, api: Api, npm: NpmFactory, upstream: FixtureRegistry, carol: str
) -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    upstream.add("agey-pkg", "1.0.0")
    upstream.add("agey-pkg", "1.1.0", published=an_hour_ago)
    set_feed(api, feed.name, minimumReleaseAgeHours=24)

    client = npm(carol, name="carol")
    ok(client.run("install", "agey-pkg"))
    assert installed_version(client, "agey-pkg") == "1.0.0"
    assert versions_seen(client, "agey-pkg") == ["1.0.0"]
    assert feed_notes(api, feed, "agey-pkg", carol) == {"x-feed-held-versions": "1 by minimum release age"}
    young = failed(npm(carol, name="carol-young").run("install", "agey-pkg@1.1.0", *QUICK_RETRIES))
    assert "ETARGET" in young.output or "404" in young.output, str(young)
    assert upstream.count("GET", "/agey-pkg-1.1.0.tgz") == 0

    set_feed(api, feed.name, minimumReleaseAgeExemptions=["agey-pkg"])
    exempt = npm(carol, name="carol-exempt")
    assert versions_seen(exempt, "agey-pkg") == ["1.0.0", "1.1.0"]
    ok(exempt.run("install", "agey-pkg"))
    assert installed_version(exempt, "agey-pkg") == "1.1.0"


# --- 9. another feed of this server as the upstream ------------------------------------------------


@pytest.mark.e2e
def test_internal_upstream_feed(
    feed: FeedEnv,
    api: Api,
    npm: NpmFactory,
    package: PackageFactory,
    fixture_registry: FixtureRegistry,  # noqa: F811
) -> None:
    up = feed  # alice publishes here; it also has the fixture registry as its upstream
    set_feed(api, up.name, upstreamSources=[public_source(fixture_registry.url)])
    down = f"{up.name}-down"
    api.create_feed(down)
    internal = {
        "name": "up-local",
        "protocol": "npm",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": up.name,
        "internalUpstreamViewId": "Local",
    }
    # The view must be shared before another feed may use it.
    r = api.request("PATCH", f"/_apis/packaging/feeds/{down}", params=API_VERSION, json={"upstreamSources": [internal]})
    assert r.status_code == 400 and "visibility" in r.text, r.text
    r = api.request(
        "PATCH", f"/_apis/packaging/Feeds/{up.name}/views/Local", params=API_VERSION, json={"visibility": "collection"}
    )
    assert r.status_code == 200, r.text
    set_feed(api, down, upstreamSources=[internal])
    api.set_permissions(up.name, [("carol", "collaborator")])
    api.set_permissions(down, [("alice", "contributor"), ("carol", "collaborator")])
    carol = api.mint("carol", "vso.packaging")
    down_registry = up.server.npm_registry(down)

    ok(npm(up.alice_token, name="alice").run("publish", str(package("team-lib", "1.0.0", value="team"))))
    client = npm(carol, registry=down_registry, name="carol-down")
    ok(client.run("install", "team-lib"))
    assert installed_version(client, "team-lib") == "1.0.0"
    assert ok(client.node('console.log(require("team-lib"))')).stdout.strip() == "team"
    body = saved(api, down, "team-lib", "1.0.0")
    (hop,) = body["sourceChain"]
    assert hop["sourceType"] == "internal" and hop["name"] == "up-local", hop
    assert body["provenance"]["savedBy"] == "carol" and body["provenance"]["verifiedWith"] == "same-service"
    assert lockfile(client)["packages"]["node_modules/team-lib"]["resolved"].startswith(down_registry)

    # A public version saved into `up` stays external when `down` relays it: `down`'s own private
    # relay-name keeps it out (upstream behaviour), though it came through an internal source.
    fixture_registry.add("relay-name", "2.0.0")
    ok(npm(carol, name="carol-up").run("install", "relay-name@2.0.0"))
    relayed = saved(api, up.name, "relay-name", "2.0.0")["sourceChain"]
    assert [h["sourceType"] for h in relayed] == ["public"]
    before_private = npm(carol, registry=down_registry, name="carol-peek")
    assert versions_seen(before_private, "relay-name") == ["2.0.0"]  # nothing private yet: offered
    alice_down = npm(up.alice_token, registry=down_registry, name="alice-down")
    ok(alice_down.run("publish", str(package("relay-name", "1.0.0", value="private relay")), "--tag", "latest"))
    down_client = npm(carol, registry=down_registry, name="carol-relay")
    assert versions_seen(down_client, "relay-name") == ["1.0.0"]
    blocked = failed(down_client.run("install", "relay-name@2.0.0", *QUICK_RETRIES))
    assert "ETARGET" in blocked.output or "404" in blocked.output, str(blocked)
    assert version_info(api, down, "relay-name", "2.0.0").status_code == 404


# --- 10. the live public registry (deselected by default) -------------------------------------------


def machine_registry() -> str:
    """The registry this machine's own npm configuration names (not the tests' isolated userconfig)."""
    result = subprocess.run(
        [NPM, "config", "get", "registry"],
        cwd=Path.home(),
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1].strip()
    assert url.startswith(("https://", "http://")), url
    return url if url.endswith("/") else url + "/"


@pytest.mark.e2e
@pytest.mark.live
def test_live_npm_registry_as_upstream(feed: FeedEnv, api: Api, npm: NpmFactory, carol: str) -> None:
    registry = machine_registry()
    set_feed(api, feed.name, upstreamSources=[{**public_source(registry), "name": "live"}])
    client = npm(carol, name="carol")
    ok(client.run("install", "is-number@7.0.0"))
    assert installed_version(client, "is-number") == "7.0.0"
    assert ok(client.node('console.log(require("is-number")(42), require("is-number")("x"))')).stdout.strip() == (
        "true false"
    )
    body = saved(api, feed.name, "is-number", "7.0.0")
    (hop,) = body["sourceChain"]
    assert hop["sourceType"] == "public" and hop["location"] == registry
    prov = body["provenance"]
    assert prov["savedBy"] == "carol" and prov["verifiedWith"] == "sha512", prov
    assert prov["url"].startswith(registry.rstrip("/")), prov
    entry = lockfile(client)["packages"]["node_modules/is-number"]
    assert entry["integrity"] == prov["upstreamIntegrity"]
    assert entry["resolved"].startswith(feed.registry)
