"""The real mvn (tests/maven_client.py) through a feed whose Maven upstream is a real repository server: the seed
repository (.cache/maven-seed, every plugin and public library the builds use) served by tests/maven_repo.py on
127.0.0.1, the way a public registry would serve it. Every repository goes to the feed (a mirror of ``*``).

The module has its own feed server (short upstream budgets); each test has its own feed and its own upstream
server, which it may stop. The live test builds the same project through the public Maven registry, its URL read
from mvn's own configuration at run time; it is deselected unless ``-m live``.
"""

# ruff: noqa: F811
from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ORG, Api, FeedEnv, FeedServer, own_embedded_server, running
from tests.maven_client import (
    PUBLIC_DEPENDENCIES,
    Dep,
    MavenFactory,
    central_url,
    feed_maven_url,
    guard_allowances,
    library_project,
    main_class,
    maven,  # noqa: F401
    maven_seed,  # noqa: F401
    public_project,
)
from tests.maven_repo import MavenRepo

pytestmark = pytest.mark.e2e

API_VERSION = {"api-version": "7.1"}


@pytest.fixture
def server(upstream_server: FeedServer) -> FeedServer:
    """Overrides conftest's ``server``: ``api`` and ``feed`` use this module's own server."""
    return running(upstream_server)


@pytest.fixture
def seed(maven_seed: Path) -> Iterator[MavenRepo]:
    """The seed repository served for this test alone (so that the test may stop it)."""
    with MavenRepo(maven_seed) as served:
        yield served


def set_upstreams(api: Api, feed: str, *sources: dict[str, Any]) -> None:
    r = api.request(
        "PATCH", f"/_apis/packaging/feeds/{feed}", params=API_VERSION, json={"upstreamSources": list(sources)}
    )
    assert r.status_code == 200, r.text


def maven_source(name: str, location: str) -> dict[str, str]:
    return {"name": name, "protocol": "maven", "location": location, "upstreamSourceType": "public"}


def xml_texts(data: bytes, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>([^<]*)</{tag}>", data.decode())


def test_public_build_reader_then_collaborator_then_the_upstream_stopped(
    server: FeedServer, feed: FeedEnv, api: Api, carol: str, maven: MavenFactory, seed: MavenRepo, tmp_path: Path
) -> None:
    set_upstreams(api, feed.name, maven_source("central", seed.url))
    repo = feed_maven_url(server.base_url, ORG, feed.name)
    project = public_project(tmp_path / "app")

    # A reader may not save from upstreams: with nothing saved yet, the build fails on its first plugin, cleanly.
    bob = maven(repo, feed.bob_token, name="bob")
    refused = bob.package(project, check=False)
    assert refused.returncode == 1, refused
    assert "maven-resources-plugin:3.3.1" in refused.errors() and "could not be resolved" in refused.errors(), refused
    assert not [p for m, p in seed.requests if p.endswith(".jar")], "a reader's build made the feed fetch files"

    # A collaborator's build resolves every plugin and library through the feed, which saves them; its test runs.
    built = maven(repo, carol, name="carol").package(project)
    assert "Tests run: 1, Failures: 0, Errors: 0" in built.output, built
    fetched = {p for m, p in seed.requests if m == "GET" and p.endswith(".jar")}
    assert {"/" + d.path() for d in PUBLIC_DEPENDENCIES} <= fetched

    # With the upstream gone, the reader builds the same project from an empty local repository: every file was saved.
    seed.stop()
    rebuilt = maven(repo, feed.bob_token, name="bob-again").package(project)
    assert "Tests run: 1, Failures: 0, Errors: 0" in rebuilt.output, rebuilt
    assert (project / "target" / "public-app-1.0.jar").is_file()


def test_a_private_coordinate_is_not_shadowed_by_a_higher_public_version(
    server: FeedServer, feed: FeedEnv, api: Api, carol: str, maven: MavenFactory, seed: MavenRepo, tmp_path: Path
) -> None:
    group = f"e2e.corp{uuid.uuid4().hex[:8]}"
    private = Dep(group, "util", "1.0")
    with MavenRepo(tmp_path / "public") as public:
        public.add_artifact(group, "util", "9.0", jar=b"not a jar: it must never be fetched")
        set_upstreams(api, feed.name, maven_source("central", seed.url), maven_source("public", public.url))
        repo = feed_maven_url(server.base_url, ORG, feed.name)
        alice = maven(repo, feed.alice_token, name="alice")
        alice.deploy(library_project(tmp_path / "util", group, "util", "1.0", message="private util", deploy_to=repo))
        public.requests.clear()  # before the deploy the coordinate was not private yet: the feed could ask upstreams

        # A project asking for any version from 1.0 up gets the private one: the feed lists no public version.
        wanted = Dep(group, "util", "[1.0,)")
        app = library_project(tmp_path / "app", group, "app", "1.0", message="app", calls=[wanted])
        consumer = maven(repo, carol, name="carol")
        consumer.package(app)
        assert consumer.java(app, main_class(group, "app"), consumer.local_file(private, "util-1.0.jar")) == (
            "app < private util"
        )
        assert not consumer.local_file(Dep(group, "util", "9.0"), "util-9.0.jar").exists()
        g = group.replace(".", "/")
        listing = httpx.get(f"{repo}/{g}/util/maven-metadata.xml", auth=("x", carol), timeout=30, trust_env=False)
        assert xml_texts(listing.content, "version") == ["1.0"], listing.text
        assert xml_texts(listing.content, "release") == ["1.0"], listing.text
        assert not [p for _, p in public.requests if f"/{g}/" in p], "a private coordinate was asked upstream"


@pytest.mark.live
def test_live_public_build_through_the_maven_registry_of_mvns_configuration(
    maven: MavenFactory, tmp_path: Path
) -> None:
    upstream = central_url(tmp_path)
    nets = ",".join(
        ["127.0.0.0/8", "::1", *guard_allowances(upstream), os.environ.get("FEED_UPSTREAM_ALLOWED_NETWORKS", "")]
    )
    with own_embedded_server(tmp_path / "server", FEED_UPSTREAM_ALLOWED_NETWORKS=nets.strip(",")) as live:
        api = Api(live)
        try:
            api.create_feed("live")
            api.set_permissions("live", [("carol", "collaborator"), ("bob", "reader")])
            set_upstreams(api, "live", maven_source("central", upstream))
            carol, bob = api.mint("carol", "vso.packaging"), api.mint("bob", "vso.packaging")
        finally:
            api.close()
        repo = feed_maven_url(live.base_url, ORG, "live")
        project = public_project(tmp_path / "app")
        built = maven(repo, carol, name="carol").package(project)
        assert "Tests run: 1, Failures: 0, Errors: 0" in built.output, built
        # What the collaborator's build fetched is saved: a reader now gets it too.
        lang = next(d for d in PUBLIC_DEPENDENCIES if d.artifact_id == "commons-lang3")
        saved = httpx.get(f"{repo}/{lang.path()}", auth=("x", bob), timeout=60, trust_env=False)
        assert saved.status_code == 200 and saved.content[:2] == b"PK"
