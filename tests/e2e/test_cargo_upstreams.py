"""The real cargo (tests/cargo_client.py) through a feed whose Cargo upstreams are real servers on 127.0.0.1: the
fixture sparse registry (tests/cargo_registry.py, a folder served the way a public registry serves it) and another
instance of this service (a second feed server process, its feed published to with cargo).

Consumers replace the public registry's source with the feed (``[source.crates-io] replace-with = "feed"``) and
depend on crates by plain names, as they would on public crates. The module has its own feed server (short upstream
budgets); each test has its own feed, fixture registry and cargo homes. The live test builds a crate with two
dependencies from the public crate registry through the feed (its index URL found from cargo's own configuration at
run time); it is deselected unless ``-m live``.
"""

# ruff: noqa: F811
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cargo_client import (
    CargoFactory,
    Dep,
    cargo,  # noqa: F401
    contacted_hosts,
    crate_project,
    feed_cargo_index,
    library_source,
    locked_versions,
    public_index_url,
)
from tests.cargo_packages import crate_bytes
from tests.cargo_registry import CargoRegistry, index_dep
from tests.e2e.conftest import (
    ORG,
    UPSTREAM_SERVER_ENV,
    Api,
    FeedEnv,
    FeedServer,
    _start_server,
    _stop,
    own_embedded_server,
    running,
)
from tests.maven_client import guard_allowances

pytestmark = pytest.mark.e2e

API_VERSION = {"api-version": "7.1"}


@pytest.fixture
def server(upstream_server: FeedServer) -> FeedServer:
    """Overrides conftest's ``server``: ``api`` and ``feed`` use this module's own server."""
    return running(upstream_server)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[CargoRegistry]:
    """The fixture sparse registry, for this test alone (so that the test may stop it)."""
    with CargoRegistry(tmp_path / "registry") as served:
        yield served


def set_upstreams(api: Api, feed: str, *sources: dict[str, Any]) -> None:
    r = api.request(
        "PATCH", f"/_apis/packaging/feeds/{feed}", params=API_VERSION, json={"upstreamSources": list(sources)}
    )
    assert r.status_code == 200, r.text


def cargo_source(name: str, location: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "protocol": "cargo", "location": location, "upstreamSourceType": "public", **extra}


def public_dep(name: str, req: str) -> Dep:
    """A dependency on the public registry's name, which ``replace-with`` sends to the feed."""
    return Dep(name, req, registry=None)


def add_crate(registry: CargoRegistry, name: str, version: str, *, message: str, deps: tuple[str, ...] = ()) -> bytes:
    """A crate whose ``message()`` returns ``message`` followed by the messages of ``deps`` (names at ``"1"``),
    with its index line, as a public registry would hold it."""
    calls = [public_dep(d, "1") for d in deps]
    extra = "\n[dependencies]\n" + "".join(f'{d} = "1"\n' for d in deps) if deps else ""
    crate = crate_bytes(name, version, files={"src/lib.rs": library_source(message, calls).encode()},
                        manifest_extra=extra)  # fmt: skip
    return registry.add(name, version, crate=crate, deps=[index_dep(d, "^1") for d in deps])


def version_info(api: Api, feed: str, name: str, version: str) -> httpx.Response:
    return api.request("GET", f"/_apis/packaging/feeds/{feed}/cargo/packages/{name}/versions/{version}",
                       params=API_VERSION)  # fmt: skip


def saved(api: Api, feed: str, name: str, version: str) -> dict[str, Any]:
    """The saved version; the feed commits it just after the client has its file, so give it a few seconds."""
    deadline = time.monotonic() + 10
    while (r := version_info(api, feed, name, version)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 200, f"{name} {version} is not saved in {feed}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def app_project(folder: Path, *deps: Dep) -> Path:
    return crate_project(folder, "e2e-app", "0.1.0", message="app", deps=deps, binary=True)


# --- a reader, a collaborator, then the upstream stopped --------------------------------------------


def test_reader_then_collaborator_then_the_upstream_stopped(
    feed: FeedEnv, api: Api, carol: str, cargo: CargoFactory, registry: CargoRegistry, tmp_path: Path
) -> None:
    add_crate(registry, "far-base", "1.0.0", message="far-base 1.0.0")
    add_crate(registry, "far-app", "1.2.0", message="far-app 1.2.0", deps=("far-base",))
    set_upstreams(api, feed.name, cargo_source("fixture", registry.index_url))
    index = feed_cargo_index(feed.server.base_url, ORG, feed.name)
    app = app_project(tmp_path / "app", public_dep("far-app", "1"))

    # A reader may not save from upstreams: with nothing saved, cargo finds no version, and no crate is fetched.
    bob = cargo(index, feed.bob_token, name="bob", replace_crates_io=True)
    refused = bob.build(app, check=False)
    assert refused.returncode != 0 and "no matching package named `far-app` found" in refused.stderr, refused
    assert registry.count(".crate") + registry.count("/download") == 0, registry.requests

    # A collaborator's build goes through the feed (only 127.0.0.1 is contacted), which saves both crates with
    # provenance, their bytes checked against the upstream's cksum.
    carol_cargo = cargo(index, carol, name="carol", replace_crates_io=True)
    built = carol_cargo.build(app, trace=True)
    assert contacted_hosts(built.stderr) == {"127.0.0.1"}, built
    assert carol_cargo.run_binary(app) == "app < far-app 1.2.0 < far-base 1.0.0"
    for name, version in (("far-app", "1.2.0"), ("far-base", "1.0.0")):
        body = saved(api, feed.name, name, version)
        (hop,) = body["sourceChain"]
        assert hop["name"] == "fixture" and hop["location"] == registry.index_url, hop
        assert body["provenance"]["savedBy"] == "carol", body

    # The upstream is gone: the reader builds from an empty CARGO_HOME and no lockfile, from what was saved.
    registry.stop()
    (app / "Cargo.lock").unlink()
    bob.fresh_home()
    bob.build(app)
    assert bob.run_binary(app) == "app < far-app 1.2.0 < far-base 1.0.0"
    assert locked_versions(app) == {"far-app": "1.2.0", "far-base": "1.0.0"}


def test_another_instance_as_the_upstream_then_stopped(
    feed: FeedEnv, api: Api, carol: str, cargo: CargoFactory, tmp_path: Path
) -> None:
    other = _start_server("embedded", tmp_path / "other", UPSTREAM_SERVER_ENV)
    try:
        remote = Api(other)
        try:
            remote.create_feed("origin")
            remote.set_permissions("origin", [("alice", "contributor"), ("robot", "reader")])
            pusher, reader = remote.mint("alice", "vso.packaging_write"), remote.mint("robot", "vso.packaging")
        finally:
            remote.close()
        origin = feed_cargo_index(other.base_url, ORG, "origin")
        alice = cargo(origin, pusher, name="alice-origin")
        alice.publish(crate_project(tmp_path / "far-dep", "far-dep", "1.0.0"))
        alice.publish(crate_project(tmp_path / "far-lib", "far-lib", "2.0.0", deps=[Dep("far-dep", "1")]))
        location = origin.removeprefix("sparse+")
        set_upstreams(api, feed.name, cargo_source("other-instance", location, credentials={"token": reader}))

        index = feed_cargo_index(feed.server.base_url, ORG, feed.name)
        app = app_project(tmp_path / "app", public_dep("far-lib", "2"))
        carol_cargo = cargo(index, carol, name="carol", replace_crates_io=True)
        carol_cargo.build(app)
        assert carol_cargo.run_binary(app) == "app < far-lib 2.0.0 < far-dep 1.0.0"
        for name, version in (("far-lib", "2.0.0"), ("far-dep", "1.0.0")):
            body = saved(api, feed.name, name, version)
            (hop,) = body["sourceChain"]
            assert hop["name"] == "other-instance" and hop["location"] == location, hop
            assert reader not in str(body)
    finally:
        _stop(other.proc)
    # The other instance is gone: a reader builds from an empty CARGO_HOME and no lockfile.
    (app / "Cargo.lock").unlink()
    bob = cargo(index, feed.bob_token, name="bob", replace_crates_io=True)
    bob.build(app)
    assert bob.run_binary(app) == "app < far-lib 2.0.0 < far-dep 1.0.0"


# --- dependency confusion ----------------------------------------------------------------------------


def test_a_private_crate_is_not_shadowed_by_a_higher_public_version(
    feed: FeedEnv, api: Api, carol: str, cargo: CargoFactory, registry: CargoRegistry, tmp_path: Path
) -> None:
    add_crate(registry, "corp-util", "9.0.0", message="public corp-util 9.0.0")  # an attacker's public copy
    add_crate(registry, "far-base", "1.0.0", message="far-base 1.0.0")
    set_upstreams(api, feed.name, cargo_source("fixture", registry.index_url))
    index = feed_cargo_index(feed.server.base_url, ORG, feed.name)
    alice = cargo(index, feed.alice_token, name="alice")
    alice.publish(crate_project(tmp_path / "corp-util", "corp-util", "1.0.0", message="private corp-util"))

    # A version an upstream already has cannot be published: cargo sees it in the index the feed serves.
    taken = alice.publish(crate_project(tmp_path / "far-base", "far-base", "1.0.0"), check=False)
    assert taken.returncode != 0 and "already exists" in taken.stderr, taken
    assert version_info(api, feed.name, "far-base", "1.0.0").status_code == 404

    # Any version from 1 up: the build gets the private crate, as the feed offers no public version of its name.
    registry.reset_requests()
    app = app_project(tmp_path / "app", public_dep("corp-util", ">=1"))
    carol_cargo = cargo(index, carol, name="carol", replace_crates_io=True)
    carol_cargo.build(app)
    assert carol_cargo.run_binary(app) == "app < private corp-util"
    assert locked_versions(app) == {"corp-util": "1.0.0"}
    assert not [path for _, path, _ in registry.requests if "corp-util" in path], registry.requests

    # The feed's owner allows external versions of that name: a new resolution takes the higher public one.
    url = f"/_apis/packaging/feeds/{feed.name}/cargo/packages/corp-util/upstreaming"
    allow = {"versionsFromExternalUpstreams": "AllowExternalVersions"}
    assert api.request("PATCH", url, params=API_VERSION, json=allow, token=feed.alice_token).status_code == 403
    r = api.request("PATCH", url, params=API_VERSION, json=allow)
    assert r.status_code == 200, r.text
    (app / "Cargo.lock").unlink()
    carol_cargo.fresh_home()
    carol_cargo.build(app)
    assert locked_versions(app) == {"corp-util": "9.0.0"}
    assert carol_cargo.run_binary(app) == "app < public corp-util 9.0.0"


# --- live: the public crate registry ------------------------------------------------------------------


#: Two small public crates with no build script and no dependencies of their own, and a program using both.
LIVE_DEPENDENCIES = (("itoa", "1"), ("memchr", "2"))
LIVE_MAIN = """fn main() {
    let mut buffer = itoa::Buffer::new();
    let text = buffer.format(1234);
    println!("{} {:?}", text, memchr::memchr(b'3', text.as_bytes()));
}
"""


@pytest.mark.live
def test_live_public_crates_through_the_feed_with_replace_with(cargo: CargoFactory, tmp_path: Path) -> None:
    upstream = public_index_url()
    hosts = [upstream, *download_hosts(upstream)]
    nets = ["127.0.0.0/8", "::1", *{n for h in hosts for n in guard_allowances(h)}]
    nets.append(os.environ.get("FEED_UPSTREAM_ALLOWED_NETWORKS", ""))
    with own_embedded_server(
        tmp_path / "server", FEED_UPSTREAM_ALLOWED_NETWORKS=",".join(n for n in nets if n)
    ) as live:
        api = Api(live)
        try:
            api.create_feed("live")
            api.set_permissions("live", [("carol", "collaborator"), ("bob", "reader")])
            set_upstreams(api, "live", cargo_source("crates", upstream))
            carol, bob = api.mint("carol", "vso.packaging"), api.mint("bob", "vso.packaging")
        finally:
            api.close()
        index = feed_cargo_index(live.base_url, ORG, "live")
        app = crate_project(
            tmp_path / "app", "live-app", "0.1.0", deps=[public_dep(n, r) for n, r in LIVE_DEPENDENCIES], calls=()
        )
        (app / "src" / "main.rs").write_text(LIVE_MAIN)
        carol_cargo = cargo(index, carol, name="carol", replace_crates_io=True)
        built = carol_cargo.build(app, trace=True)
        assert contacted_hosts(built.stderr) == {"127.0.0.1"}, built  # cargo itself went to the feed only
        assert carol_cargo.run("run", "--quiet", cwd=app).stdout.strip() == "1234 Some(2)"
        # What the collaborator's build fetched is saved: a reader builds it from an empty CARGO_HOME.
        (app / "Cargo.lock").unlink()
        reader = cargo(index, bob, name="bob", replace_crates_io=True)
        reader.build(app)
        assert set(locked_versions(app)) == {n for n, _ in LIVE_DEPENDENCIES}


def download_hosts(index: str) -> list[str]:
    """The public registry's download URL (from its config.json, the one request this test makes itself), so that
    the outbound guard can allow its addresses too."""
    dl = httpx.get(index + "config.json", timeout=30, follow_redirects=True).json()["dl"]
    return [dl.split("{", 1)[0]]
