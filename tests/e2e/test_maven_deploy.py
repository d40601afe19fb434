"""The real mvn (tests/maven_client.py) deploying to and resolving from the feed, with no upstream on the feed.

The feed is the pom's repository and distribution repository (id ``feed``, the token as the <server> password);
plugins come from the seed repository (tests/maven_repo.py serving .cache/maven-seed on 127.0.0.1) through a
mirror of every other repository (``*,!feed``), so everything the feed serves here was deployed to it. Each mvn run
costs seconds: one scenario does several things.
"""

# ruff: noqa: F811
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ORG, FeedEnv, FeedServer
from tests.maven_client import (
    Dep,
    MavenClient,
    MavenFactory,
    feed_maven_url,
    library_project,
    main_class,
    maven,  # noqa: F401
    maven_seed,  # noqa: F401
)
from tests.maven_repo import MavenRepo

pytestmark = pytest.mark.e2e


@pytest.fixture
def seed(maven_seed: Path) -> Iterator[MavenRepo]:
    with MavenRepo(maven_seed) as served:
        yield served


def xml_texts(data: bytes, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>([^<]*)</{tag}>", data.decode())


def get(server: FeedServer, url: str, token: str) -> httpx.Response:
    return httpx.get(url, auth=("anything", token), timeout=30, trust_env=False)


def test_deploy_a_release_and_two_snapshot_builds_then_another_project_resolves_them(
    server: FeedServer, feed: FeedEnv, maven: MavenFactory, seed: MavenRepo, tmp_path: Path
) -> None:
    repo = feed_maven_url(server.base_url, ORG, feed.name)
    group = f"e2e.m{uuid.uuid4().hex[:8]}"
    api, impl = Dep(group, "api", "1.0"), Dep(group, "impl", "2.0-SNAPSHOT")
    alice: MavenClient = maven(seed.url, feed.alice_token, name="alice", mirror_of="*,!feed")
    where = {"repository": repo, "deploy_to": repo}

    alice.deploy(library_project(tmp_path / "api", group, "api", "1.0", message="api 1.0", **where))
    for build in (1, 2):
        project = library_project(tmp_path / f"impl-{build}", group, "impl", impl.version,
                                  message=f"impl build {build}", calls=[api], **where)  # fmt: skip
        alice.deploy(project)

    # What the feed serves: A-level metadata of both, V-level metadata naming the second build, whose files exist.
    g = group.replace(".", "/")
    listing = get(server, f"{repo}/{g}/api/maven-metadata.xml", feed.bob_token)
    assert listing.status_code == 200 and xml_texts(listing.content, "release") == ["1.0"], listing.text
    snapshot = get(server, f"{repo}/{g}/impl/2.0-SNAPSHOT/maven-metadata.xml", feed.bob_token)
    assert snapshot.status_code == 200, snapshot.text
    assert xml_texts(snapshot.content, "buildNumber") == ["2"], snapshot.text
    values = set(xml_texts(snapshot.content, "value"))
    assert len(values) == 1 and next(iter(values)).endswith("-2"), snapshot.text
    for extension in ("jar", "pom"):
        built = get(server, f"{repo}/{g}/impl/2.0-SNAPSHOT/impl-{next(iter(values))}.{extension}", feed.bob_token)
        assert built.status_code == 200

    # Bob, a reader with an empty local repository, builds an application on the snapshot (and, through it, the
    # release): the newest build is the one he gets.
    bob = maven(seed.url, feed.bob_token, name="bob", mirror_of="*,!feed")
    app = library_project(tmp_path / "app", group, "app", "1.0", message="app", calls=[impl], repository=repo)
    bob.package(app)
    jars = [bob.local_file(impl, "impl-2.0-SNAPSHOT.jar"), bob.local_file(api, "api-1.0.jar")]
    assert bob.java(app, main_class(group, "app"), *jars) == "app < impl build 2 < api 1.0"
    assert (bob.local_file(impl, f"impl-{next(iter(values))}.jar")).is_file()

    # A release is immutable: deploying api 1.0 again fails, and mvn shows why.
    again = alice.deploy(library_project(tmp_path / "api-again", group, "api", "1.0", message="other", **where),
                         check=False)  # fmt: skip
    assert again.returncode != 0
    assert "api-1.0.jar, status: 409 Conflict" in again.errors(), again
