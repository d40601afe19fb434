"""A feed of this service as another feed's upstream (through a view), and Azure's provenance route."""

# ruff: noqa: F811
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import publish_body
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"


@pytest.fixture
async def chain(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> AsyncIterator[Api]:
    """Feed ``up`` (upstream: the fixture registry) feeding feed ``down`` through ``up@Local``."""
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0)
    async with running_api(settings, clock) as api:
        http = api.http
        await api.create_feed("up")
        await api.create_feed("down")
        public = {"name": "fixture", "protocol": "npm", "location": fixture_registry.url}
        assert (
            await http.patch(f"{FEEDS}/up", json={"upstreamSources": [public]}, headers=api.auth())
        ).status_code == 200
        r = await http.patch(f"{FEEDS}/up/views/Local", json={"visibility": "collection"}, headers=api.auth())
        assert r.status_code == 200
        internal = {
            "name": "team",
            "protocol": "npm",
            "upstreamSourceType": "internal",
            "internalUpstreamFeedId": "up",
            "internalUpstreamViewId": "Local",
        }
        r = await http.patch(f"{FEEDS}/down", json={"upstreamSources": [internal]}, headers=api.auth())
        assert r.status_code == 200, r.text
        for feed in ("up", "down"):
            await api.grant(feed, "alice", "contributor")
            await api.grant(feed, "carol", "collaborator")
        await api.token("alice")
        await api.token("carol", "vso.packaging")
        yield api


async def test_versions_published_upstream_are_saved_downstream_as_internal(chain: Api) -> None:
    assert (await chain.publish("team-lib", "1.0.0", who="alice", feed="up")).status_code == 201
    r = await chain.http.get(chain.registry("down") + "team-lib", headers=chain.auth("carol"))
    assert r.status_code == 200 and list(r.json()["versions"]) == ["1.0.0"]
    tarball = chain.registry("down") + "team-lib/-/team-lib-1.0.0.tgz"
    assert (await chain.http.get(tarball, headers=chain.auth("carol"))).status_code == 200
    info = (await chain.http.get(f"{FEEDS}/down/npm/team-lib/versions/1.0.0", headers=chain.auth("carol"))).json()
    (hop,) = info["sourceChain"]
    assert hop["sourceType"] == "internal" and hop["name"] == "team" and hop["location"].startswith("azure-feed://")
    assert info["provenance"]["verifiedWith"] == "same-service"
    # the provenance route of the REST API, addressed by GUIDs
    url = f"{FEEDS}/down/Packages/{info['packageId']}/Versions/{info['id']}/provenance?api-version=7.1-preview.1"
    prov = (await chain.http.get(url, headers=chain.auth("carol"))).json()
    assert prov["provenance"]["provenanceSource"] == "Upstream"
    assert prov["provenance"]["publisherUserIdentity"] == "carol"
    assert prov["packageVersionId"] == info["id"]
    up_info = (await chain.http.get(f"{FEEDS}/up/npm/team-lib/versions/1.0.0", headers=chain.auth("carol"))).json()
    url = f"{FEEDS}/up/Packages/{up_info['packageId']}/Versions/{up_info['id']}/provenance"
    assert (await chain.http.get(url, headers=chain.auth("carol"))).json()["provenance"][
        "provenanceSource"
    ] == "Publish"
    bad = f"{FEEDS}/up/Packages/{up_info['packageId']}/Versions/00000000-0000-0000-0000-000000000000/provenance"
    assert (await chain.http.get(bad, headers=chain.auth("carol"))).status_code == 404


async def test_public_versions_relayed_by_an_upstream_feed_stay_external(
    chain: Api, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("relayed", "2.0.0")
    # up saves the public version ...
    tarball = chain.registry("up") + "relayed/-/relayed-2.0.0.tgz"
    assert (await chain.http.get(tarball, headers=chain.auth("carol"))).status_code == 200
    # ... and down, which holds its own private relayed@1.0.0, must not take it
    assert (await chain.publish("relayed", "1.0.0", who="alice", feed="down")).status_code == 201
    r = await chain.http.get(chain.registry("down") + "relayed", headers=chain.auth("carol"))
    assert list(r.json()["versions"]) == ["1.0.0"]
    assert r.headers["x-feed-blocked-versions"] == "1 by upstream behaviour"


async def test_an_internal_version_upstream_blocks_public_versions_of_a_new_name(
    chain: Api, fixture_registry: FixtureRegistry
) -> None:
    """Not yet held here, but an upstream feed offers an internal version: external ones are blocked."""
    assert (await chain.publish("shared-name", "1.0.0", who="alice", feed="up")).status_code == 201
    fixture_registry.add("shared-name", "5.0.0")
    other = {"name": "fixture", "protocol": "npm", "location": fixture_registry.url}
    internal = {
        "name": "team",
        "protocol": "npm",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": "up",
        "internalUpstreamViewId": "Local",
    }
    r = await chain.http.patch(f"{FEEDS}/down", json={"upstreamSources": [other, internal]}, headers=chain.auth())
    assert r.status_code == 200, r.text
    r = await chain.http.get(chain.registry("down") + "shared-name", headers=chain.auth("carol"))
    assert list(r.json()["versions"]) == ["1.0.0"]


async def test_only_promoted_versions_flow_through_a_release_view(chain: Api) -> None:
    await chain.publish("rel-lib", "1.0.0", who="alice", feed="up")
    await chain.publish("rel-lib", "2.0.0", who="alice", feed="up")
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    r = await chain.http.patch(f"{FEEDS}/up/npm/rel-lib/versions/1.0.0", json=promote, headers=chain.auth("alice"))
    assert r.status_code == 200
    assert (
        await chain.http.patch(f"{FEEDS}/up/views/Release", json={"visibility": "collection"}, headers=chain.auth())
    ).status_code == 200
    internal = {
        "name": "team",
        "protocol": "npm",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": "up",
        "internalUpstreamViewId": "Release",
    }
    assert (
        await chain.http.patch(f"{FEEDS}/down", json={"upstreamSources": [internal]}, headers=chain.auth())
    ).status_code == 200
    r = await chain.http.get(chain.registry("down") + "rel-lib", headers=chain.auth("carol"))
    assert list(r.json()["versions"]) == ["1.0.0"]


async def test_a_feed_of_another_organization_through_an_azure_feed_locator(chain: Api) -> None:
    other_token = "other-org-admin-token-0123456789"
    await chain.services.identity.bootstrap("partner", "boss", other_token)
    boss = {"Authorization": f"Bearer {other_token}"}
    r = await chain.http.post("/partner/_apis/packaging/feeds", json={"name": "shared"}, headers=boss)
    assert r.status_code == 201
    r = await chain.http.patch(
        "/partner/_apis/packaging/Feeds/shared/views/Release", json={"visibility": "organization"}, headers=boss
    )
    assert r.status_code == 200
    r = await chain.http.put(
        "/partner/_packaging/shared/npm/registry/partner-lib", json=publish_body("partner-lib", "3.0.0"), headers=boss
    )
    assert r.status_code == 201
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    r = await chain.http.patch(
        "/partner/_apis/packaging/feeds/shared/npm/partner-lib/versions/3.0.0", json=promote, headers=boss
    )
    assert r.status_code == 200
    source = {
        "name": "partner",
        "protocol": "npm",
        "upstreamSourceType": "internal",
        "location": "azure-feed://partner/shared@Release",
    }
    r = await chain.http.patch(f"{FEEDS}/down", json={"upstreamSources": [source]}, headers=chain.auth())
    assert r.status_code == 200, r.text
    tarball = chain.registry("down") + "partner-lib/-/partner-lib-3.0.0.tgz"
    assert (await chain.http.get(tarball, headers=chain.auth("carol"))).status_code == 200
    info = (await chain.http.get(f"{FEEDS}/down/npm/partner-lib/versions/3.0.0", headers=chain.auth("carol"))).json()
    assert info["sourceChain"][0]["location"] == "azure-feed://partner/shared@Release"
