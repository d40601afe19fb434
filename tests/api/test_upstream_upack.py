"""Another feed of this service as a Universal Packages upstream: a collaborator's download through the downstream
feed saves the version (manifest and chunks checked, nothing copied) with its provenance; a reader sees only what
was saved; public and custom upstreams are refused for this protocol."""

from __future__ import annotations

import os

from feed_core import jobs
from feed_core.service.upack import manifest_key
from feed_core.storage.packages import content_key
from tests.api.conftest import ORG, Api
from tests.api.upack_helpers import base, commit, package, publish, random_package

FEEDS = f"/{ORG}/_apis/packaging/feeds"


async def _chain(api: Api) -> None:
    """Feed ``up`` feeding ``feed`` through ``up@Local``; alice contributes to both, bob reads, carol collaborates."""
    await api.create_feed("up")
    await api.staff("up")
    await api.follow_internal_upstream("feed", "up", ("upack",))


async def test_a_collaborators_download_saves_the_version_and_a_reader_then_gets_it(feed_api: Api) -> None:
    api = feed_api
    await _chain(api)
    pkg = package({"tool": os.urandom(4000), "lib/a.so": os.urandom(3000)}, {"tool": 0o755})
    await publish(api, "tool", "1.0.0", pkg, feed="up")
    await publish(api, "tool", "1.1.0", random_package(), feed="up")

    # A reader sees nothing the feed has not saved.
    r = await api.http.get(f"{base()}/packages/tool", headers=api.auth("bob"))
    assert r.status_code == 404, r.text
    r = await api.http.get(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("bob"))
    assert r.status_code == 404 and "collaborator" in r.json()["message"], r.text

    # A collaborator sees the upstream's versions, and fetching one saves it.
    listing = await api.http.get(f"{base()}/packages/tool", headers=api.auth("carol"))
    assert listing.status_code == 200, listing.text
    assert [v["version"] for v in listing.json()["versions"]] == ["1.0.0", "1.1.0"]
    assert listing.json()["versions"][0]["totalHash"] == pkg.manifest.total_hash
    m = await api.http.get(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("carol"))
    assert m.status_code == 200 and m.content == pkg.manifest.canonical_json

    # Now the reader gets that version (and only that one), manifest and chunks.
    listing = await api.http.get(f"{base()}/packages/tool", headers=api.auth("bob"))
    assert [v["version"] for v in listing.json()["versions"]] == ["1.0.0"]
    m = await api.http.get(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("bob"))
    assert m.status_code == 200 and m.content == pkg.manifest.canonical_json
    for sha, data in pkg.chunks.items():
        c = await api.http.get(f"{base()}/packages/tool/versions/1.0.0/chunks/{sha}", headers=api.auth("bob"))
        assert c.status_code == 200 and c.content == data
    assert (await api.http.get(f"{base()}/packages/tool/versions/1.1.0", headers=api.auth("bob"))).status_code == 404

    info = (await api.http.get(f"{FEEDS}/feed/upack/packages/tool/versions/1.0.0", headers=api.auth("bob"))).json()
    (hop,) = info["sourceChain"]
    assert hop["sourceType"] == "internal" and hop["name"] == "up-upack"
    assert info["provenance"]["verifiedWith"] == "same-service"

    # Publishing a version the upstream has is refused.
    r = await commit(api, "tool", "1.1.0", pkg.body)
    assert r.status_code == 409 and "upstream source up-upack" in r.json()["message"], r.text


async def test_the_version_list_says_which_versions_are_the_feeds_own_and_which_an_upstreams(feed_api: Api) -> None:
    """The client tells a rerun of its own publish (a success) from a version an upstream has (refused) by this."""
    api = feed_api
    await _chain(api)
    await publish(api, "tool", "1.0.0", random_package(), feed="up")
    await publish(api, "tool", "1.1.0", random_package(), feed="up")
    await publish(api, "tool", "2.0.0", random_package(), feed="feed")
    m = await api.http.get(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("carol"))
    assert m.status_code == 200, m.text  # saved now

    listing = await api.http.get(f"{base()}/packages/tool", headers=api.auth("carol"))
    assert listing.status_code == 200, listing.text
    sources = {v["version"]: v["source"] for v in listing.json()["versions"]}
    assert sources == {"1.0.0": "upstream", "1.1.0": "upstream", "2.0.0": "feed"}  # saved, offered, published
    # a reader sees only held versions, with the same sources
    listing = await api.http.get(f"{base()}/packages/tool", headers=api.auth("bob"))
    assert {v["version"]: v["source"] for v in listing.json()["versions"]} == {"1.0.0": "upstream", "2.0.0": "feed"}
    # the upstream feed's own list calls them its own
    listing = await api.http.get(f"{base('up')}/packages/tool", headers=api.auth("alice"))
    assert {v["source"] for v in listing.json()["versions"]} == {"feed"}


async def test_a_saved_version_outlives_its_upstream(feed_api: Api) -> None:
    api = feed_api
    await _chain(api)
    pkg = random_package()
    await publish(api, "tool", "2.0.0", pkg, feed="up")
    assert (await api.http.get(f"{base()}/packages/tool/versions/2.0.0", headers=api.auth("carol"))).status_code == 200
    rest = f"{FEEDS}/up/upack/packages/tool/versions/2.0.0"
    assert (await api.http.delete(rest, headers=api.auth("alice"))).status_code == 200
    binned = f"{FEEDS}/up/upack/RecycleBin/packages/tool/versions/2.0.0"
    assert (await api.http.delete(binned, headers=api.auth())).status_code == 200  # out of up's bin for good (owner)
    await jobs.run_gc(api.services)
    blobs = {b.key async for b in api.services.storage.blobs.list_blobs("")}
    assert manifest_key(pkg.manifest.total_hash) in blobs
    assert {content_key(sha) for sha in pkg.chunks} <= blobs
    for sha, data in pkg.chunks.items():
        c = await api.http.get(f"{base()}/packages/tool/versions/2.0.0/chunks/{sha}", headers=api.auth("bob"))
        assert c.content == data


async def test_public_and_custom_upstreams_are_refused_for_universal_packages(feed_api: Api) -> None:
    api = feed_api
    for source in (
        {"name": "x", "protocol": "upack", "location": "http://127.0.0.1:1/"},
        {"name": "x", "protocol": "upack", "upstreamSourceType": "public", "location": "http://127.0.0.1:1/"},
    ):
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": [source]}, headers=api.auth())
        assert r.status_code == 400 and "other feeds of this service" in r.json()["message"], r.text


async def test_the_health_job_checks_an_internal_universal_upstream(feed_api: Api) -> None:
    api = feed_api
    await _chain(api)
    report = await jobs.run_health(api.services)
    assert report.feeds >= 1
    r = await api.http.get(f"{FEEDS}/feed/health", headers=api.auth())
    assert r.status_code == 200, r.text
    assert "up-upack" in r.text


async def test_a_version_whose_chunks_are_gone_upstream_is_not_saved(feed_api: Api) -> None:
    api = feed_api
    await _chain(api)
    pkg = random_package()
    await publish(api, "tool", "1.0.0", pkg, feed="up")
    await api.services.storage.blobs.delete(content_key(next(iter(pkg.chunks))))
    r = await api.http.get(f"{base()}/packages/tool/versions/1.0.0", headers=api.auth("carol"))
    assert r.status_code in (502, 424), r.text
    assert "nothing was saved" in r.json()["message"]
    feed = await api.services.feeds.find(ORG, None, "feed")
    assert await api.services.packages.store.get_version(feed.id, "upack", "tool", "1.0.0") is None
