"""The real cargo (tests/cargo_client.py) publishing to, yanking in, searching and building from a feed with no
upstream: every crate here was published with ``cargo publish``.

Each cargo user has a CARGO_HOME of its own (and a fresh one whenever a build must start from nothing: no cached
index files, no downloaded crates). A cargo run costs about a second, so one scenario does several things.
"""

# ruff: noqa: F811
from __future__ import annotations

from pathlib import Path

import pytest

from tests.cargo_client import (
    TOKEN_VARIABLE,
    CargoClient,
    CargoFactory,
    Dep,
    cargo,  # noqa: F401
    contacted_hosts,
    crate_project,
    feed_cargo_index,
    locked_versions,
)
from tests.e2e.conftest import BACKENDS, ORG, Api, FeedEnv, FeedServer

pytestmark = pytest.mark.e2e

API_VERSION = {"api-version": "7.1"}


def index_of(feed: FeedEnv) -> str:
    return feed_cargo_index(feed.server.base_url, ORG, feed.name)


def app_project(folder: Path, *deps: Dep) -> Path:
    return crate_project(folder, "e2e-app", "0.1.0", message="app", deps=deps, binary=True)


def fresh(client: CargoClient) -> CargoClient:
    """The same user with an empty CARGO_HOME: the next command fetches every index file and crate again."""
    client.fresh_home()
    return client


@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_publish_two_crates_build_then_yank_with_and_without_a_lockfile(
    server: FeedServer, feed: FeedEnv, cargo: CargoFactory, tmp_path: Path
) -> None:
    alice = cargo(index_of(feed), feed.alice_token, name="alice")
    for version in ("1.0.0", "1.0.1"):
        alice.publish(crate_project(tmp_path / f"base-{version}", "e2e-base", version))
    # The second crate depends on the first; cargo publish builds it against the feed before uploading it.
    greeter = crate_project(tmp_path / "greeter", "e2e_greeter", "0.2.0", deps=[Dep("e2e-base", "1")])
    published = alice.publish(greeter)
    assert "Uploaded e2e_greeter v0.2.0" in published.stderr, published

    # Bob, a reader, builds a binary on them from an empty CARGO_HOME: only the feed is contacted.
    bob = cargo(index_of(feed), feed.bob_token, name="bob")
    app = app_project(tmp_path / "app", Dep("e2e_greeter", "0.2"))
    built = bob.build(app, trace=True)
    assert contacted_hosts(built.stderr) == {"127.0.0.1"}, built
    assert bob.run_binary(app) == "app < e2e_greeter 0.2.0 < e2e-base 1.0.1"
    assert locked_versions(app) == {"e2e_greeter": "0.2.0", "e2e-base": "1.0.1"}

    # Yanked: a project whose lockfile has 1.0.1 still builds with it (cargo reads the index, where 1.0.1 is now
    # yanked, from an empty CARGO_HOME); a new resolution skips it.
    yanked = alice.yank("e2e-base", "1.0.1")
    assert "Yank e2e-base@1.0.1" in yanked.stderr, yanked
    locked = fresh(bob).run("build", "--locked", cwd=app)
    assert "Updating `feed` index" in locked.stderr and "Downloaded e2e-base v1.0.1" in locked.stderr, locked
    assert bob.run_binary(app) == "app < e2e_greeter 0.2.0 < e2e-base 1.0.1"
    (app / "Cargo.lock").unlink()
    fresh(bob).build(app)
    assert locked_versions(app)["e2e-base"] == "1.0.0"
    assert bob.run_binary(app) == "app < e2e_greeter 0.2.0 < e2e-base 1.0.0"

    # Unyanked: the next resolution takes it again.
    undone = alice.yank("e2e-base", "1.0.1", undo=True)
    assert "Unyank e2e-base@1.0.1" in undone.stderr, undone
    (app / "Cargo.lock").unlink()
    fresh(bob).build(app)
    assert locked_versions(app)["e2e-base"] == "1.0.1"


def test_login_search_owners_and_what_cargo_shows_when_a_publish_is_refused(
    feed: FeedEnv, api: Api, cargo: CargoFactory, tmp_path: Path
) -> None:
    # No token at all: cargo says where to put one before it sends anything.
    anonymous = cargo(index_of(feed), None, name="anonymous")
    refused = anonymous.publish(crate_project(tmp_path / "util-0", "corp-util", "0.1.0"), check=False)
    assert refused.returncode != 0 and TOKEN_VARIABLE in refused.stderr, refused

    # cargo login stores the token in CARGO_HOME's credentials.toml; later commands use it.
    alice = cargo(index_of(feed), None, name="alice")
    alice.login(feed.alice_token)
    assert feed.alice_token in (alice.home / "credentials.toml").read_text()
    alice.publish(crate_project(tmp_path / "util", "corp-util", "1.0.0", description="Utilities of the corp"))
    alice.publish(crate_project(tmp_path / "other", "corp-other", "0.3.0", description="Other things"))

    # Publishing the same version again: cargo itself refuses, as the feed's index lists it.
    again = alice.publish(crate_project(tmp_path / "util-again", "corp-util", "1.0.0"), check=False)
    assert again.returncode != 0 and "crate corp-util@1.0.0 already exists" in again.stderr, again

    # A name that differs only by "-" and "_": cargo finds no index file for it and uploads; the feed refuses it
    # with a 409 whose reason cargo prints.
    twin = alice.publish(crate_project(tmp_path / "twin", "corp_util", "2.0.0"), check=False)
    assert twin.returncode != 0 and "409" in twin.stderr and "corp-util" in twin.stderr, twin

    # A deleted version keeps its number: the index no longer lists it, and the feed refuses it again.
    url = f"/_apis/packaging/feeds/{feed.name}/cargo/packages/corp-other/versions/0.3.0"
    assert api.request("DELETE", url, params=API_VERSION).status_code == 200
    reused = alice.publish(crate_project(tmp_path / "other-again", "corp-other", "0.3.0"), check=False)
    assert reused.returncode != 0 and "409" in reused.stderr and "0.3.0" in reused.stderr, reused

    # A reader may not publish: the feed's 403 and its reason are shown.
    bob = cargo(index_of(feed), feed.bob_token, name="bob")
    forbidden = bob.publish(crate_project(tmp_path / "bobs", "bobs-crate", "0.1.0"), check=False)
    assert forbidden.returncode != 0 and "403" in forbidden.stderr, forbidden

    # Search, as the reader: the crate, its newest version and its description.
    found = bob.search("corp")
    assert 'corp-util = "1.0.0"' in found.stdout and "Utilities of the corp" in found.stdout, found
    assert "corp-other" not in found.stdout, found  # deleted

    # Owners are not managed per crate: cargo shows why.
    owners = alice.owners("corp-util")
    assert owners.returncode != 0 and "follows the feed's roles" in owners.stderr, owners
