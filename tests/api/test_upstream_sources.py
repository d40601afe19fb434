"""Upstream sources of a feed through the REST API (feed POST/PATCH), on both storage backends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from feed_core.api.upstream_shapes import NOT_CHECKED
from feed_core.domain.credentials import Credentials
from feed_core.domain.source_models import UpstreamSource
from feed_core.service.container import build_services
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process

FEEDS = f"/{ORG}/_apis/packaging/feeds"
OTHER = "other"
OTHER_TOKEN = "other-admin-token-0123456789abcdef"
NPMJS_URL = "http://127.0.0.1:9/"


async def patch(api: Api, feed: str, body: dict[str, Any], who: str = "admin") -> httpx.Response:
    return await api.http.patch(f"{FEEDS}/{feed}?api-version=7.1", json=body, headers=api.auth(who))


async def set_sources(api: Api, feed: str, sources: list[dict[str, Any]]) -> httpx.Response:
    return await patch(api, feed, {"upstreamSources": sources})


async def get_feed(api: Api, feed: str, org: str = ORG, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    r = await api.http.get(f"/{org}/_apis/packaging/feeds/{feed}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def share(
    api: Api, feed: str, view: str = "Release", visibility: str = "collection", org: str = ORG, token: str = ADMIN_TOKEN
) -> None:
    r = await api.http.patch(
        f"/{org}/_apis/packaging/Feeds/{feed}/views/{view}?api-version=7.1",
        json={"visibility": visibility},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


def internal(feed: str, view: str = "Release", **extra: Any) -> dict[str, Any]:
    return {
        "upstreamSourceType": "internal",
        "protocol": "npm",
        "internalUpstreamFeedId": feed,
        "internalUpstreamViewId": view,
        **extra,
    }


def message(r: httpx.Response) -> str:
    return str(r.json()["message"])


async def other_org(api: Api, *feeds: str) -> None:
    """A second organization with its own administrator and feeds."""
    await api.services.identity.bootstrap(OTHER, "boss", OTHER_TOKEN)
    for name in feeds:
        r = await api.http.post(
            f"/{OTHER}/_apis/packaging/feeds", json={"name": name}, headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
        )
        assert r.status_code == 201, r.text


# --- public sources --------------------------------------------------------------------------------


@pytest.fixture
async def public_api(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Api]:
    """An app whose operator configured public sources (FEED_PUBLIC_SOURCES)."""
    settings = make_settings(
        public_sources={
            "npmjs": {"protocol": "npm", "url": NPMJS_URL},
            "PyPI": {"protocol": "pypi", "url": "http://127.0.0.1:9/pypi/"},
        }
    )
    services = await build_services(settings, clock=clock)
    await services.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    async with httpx.AsyncClient(transport=in_process(services), base_url="http://feed.test") as http:
        yield Api(http, services)
    await services.close()


async def test_public_source_by_configured_name(public_api: Api) -> None:
    api = public_api
    feed = await api.create_feed("pub", upstreamSources=[{"name": "npmjs", "protocol": "npm"}])
    (src,) = feed["upstreamSources"]
    assert src["name"] == "npmjs" and src["protocol"] == "npm" and src["upstreamSourceType"] == "public"
    assert src["location"] == src["displayLocation"] == NPMJS_URL
    assert src["status"] == "unknown" and src["statusDetails"] == [{"reason": NOT_CHECKED}]  # no health job yet
    assert src["deletedDate"] is None
    assert src["internalUpstreamFeedId"] is None and src["hasCredentials"] is False
    # the protocol comes from the configuration when left out; names match case-insensitively
    r = await set_sources(api, "pub", [src, {"name": "pypi", "upstreamSourceType": "public"}])
    assert r.status_code == 200, r.text
    kept, pypi = r.json()["upstreamSources"]
    assert kept["id"] == src["id"]
    assert pypi["name"] == "PyPI" and pypi["protocol"] == "pypi" and pypi["location"] == "http://127.0.0.1:9/pypi/"
    # unknown names and mismatched protocols are refused with what is known
    r = await set_sources(api, "pub", [{"name": "public-crates", "protocol": "cargo"}])
    assert r.status_code == 400 and "not a configured public source" in message(r) and "npmjs" in message(r)
    r = await set_sources(api, "pub", [{"name": "npmjs", "protocol": "pypi"}])
    assert r.status_code == 400 and "serves npm" in message(r)
    r = await set_sources(api, "pub", [{"name": "npmjs"}, {"name": "NPMJS", "protocol": "npm", "location": NPMJS_URL}])
    assert r.status_code == 400 and "two sources named" in message(r)


async def test_unconfigured_service_names_the_setting(api: Api) -> None:
    await api.create_feed("pub")
    r = await set_sources(api, "pub", [{"name": "npmjs", "protocol": "npm"}])
    assert r.status_code == 400 and "FEED_PUBLIC_SOURCES" in message(r)


# --- custom registries and their credentials -------------------------------------------------------

SECRET = "s3cret-password-value"
TOKEN = "tok-0123456789-secret"


async def stored_sources(api: Api, feed: str) -> list[UpstreamSource]:
    found = await api.services.catalog.find_feed(ORG, None, feed)
    assert found is not None
    return found.upstream_sources


async def test_custom_registry_credentials_are_kept_but_never_returned(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    custom = {
        "name": "corp",
        "protocol": "npm",
        "location": "https://npm.corp.example/registry/",
        "credentials": {"username": "build", "password": SECRET},
    }
    created = await api.create_feed("priv", upstreamSources=[custom])
    responses = [created]
    (src,) = created["upstreamSources"]
    assert src["upstreamSourceType"] == "public" and src["hasCredentials"] is True
    assert "credentials" not in src
    # stored for the engine
    (stored,) = await stored_sources(api, "priv")
    assert stored.credentials == Credentials(username="build", password=SECRET)

    # a client sends back what GET showed: the credentials stay
    got = await get_feed(api, "priv")
    responses.append(got)
    r = await set_sources(api, "priv", got["upstreamSources"])
    assert r.status_code == 200, r.text
    responses.append(r.json())
    assert r.json()["upstreamSources"][0]["hasCredentials"] is True
    (stored,) = await stored_sources(api, "priv")
    assert stored.credentials == Credentials(username="build", password=SECRET)
    assert stored.id == src["id"]

    # replaced by a token
    r = await set_sources(api, "priv", [{**got["upstreamSources"][0], "credentials": {"token": TOKEN}}])
    assert r.status_code == 200, r.text
    responses.append(r.json())
    (stored,) = await stored_sources(api, "priv")
    assert stored.credentials == Credentials(token=TOKEN)

    # moving the source to another host needs the credentials again (they are never sent elsewhere)
    moved = {**got["upstreamSources"][0], "location": "https://elsewhere.example/"}
    r = await set_sources(api, "priv", [moved])
    assert r.status_code == 400 and "another host" in message(r)

    listing = await api.http.get(FEEDS, headers=api.auth())
    responses.append(listing.json())

    # an explicit null removes them
    r = await set_sources(api, "priv", [{**got["upstreamSources"][0], "credentials": None}])
    assert r.status_code == 200, r.text
    responses.append(r.json())
    assert r.json()["upstreamSources"][0]["hasCredentials"] is False
    (stored,) = await stored_sources(api, "priv")
    assert stored.credentials is None

    for body in responses:
        text = str(body)
        assert SECRET not in text and TOKEN not in text and "'credentials'" not in text
    assert SECRET not in caplog.text and TOKEN not in caplog.text


async def test_bad_custom_sources_are_400(api: Api) -> None:
    await api.create_feed("bad")
    for source, words in [
        ({"location": "https://u:p@host.example/"}, "upstreamSources[0].location: must not contain user information"),
        ({"location": "ftp://host.example/"}, "upstreamSources[0].location: must be an http(s) URL"),
        ({"credentials": "x"}, 'upstreamSources[0].credentials: must be {"username": "...", "password": "..."} or'),
        ({"credentials": {"token": ""}}, "upstreamSources[0].credentials.token: must be a non-empty string"),
        ({"status": "paused"}, "upstreamSources[0].status: Input should be 'ok', 'disabled'"),
        ({"minimumReleaseAgeHours": -1}, "upstreamSources[0].minimumReleaseAgeHours: must be a number of hours"),
        ({"minimumReleaseAgeHours": 10**30}, "upstreamSources[0].minimumReleaseAgeHours: must be a number of hours"),
    ]:
        source = {"name": "c", "protocol": "npm", "location": "https://h.example/", **source}
        r = await set_sources(api, "bad", [source])
        assert r.status_code == 400, source
        assert words in message(r), (source, message(r))


async def test_per_source_minimum_release_age(api: Api) -> None:
    await api.create_feed("age")
    src = {"name": "c", "protocol": "npm", "location": "https://h.example/", "minimumReleaseAgeHours": 48}
    r = await set_sources(api, "age", [src])
    assert r.status_code == 200, r.text
    (out,) = r.json()["upstreamSources"]
    assert out["minimumReleaseAgeHours"] == 48
    # round-trip keeps it; null clears it
    r = await set_sources(api, "age", [{k: v for k, v in out.items() if k != "minimumReleaseAgeHours"}])
    assert r.json()["upstreamSources"][0]["minimumReleaseAgeHours"] == 48
    r = await set_sources(api, "age", [{**out, "minimumReleaseAgeHours": None}])
    assert r.json()["upstreamSources"][0]["minimumReleaseAgeHours"] is None


# --- internal sources ------------------------------------------------------------------------------


async def test_internal_same_org_by_names(api: Api) -> None:
    up = await api.create_feed("shared")
    await api.create_feed("consumer")
    await share(api, "shared")
    r = await set_sources(api, "consumer", [internal("shared", "release")])
    assert r.status_code == 200, r.text
    (src,) = r.json()["upstreamSources"]
    release = next(v for v in up["views"] if v["name"] == "Release")
    assert src["upstreamSourceType"] == "internal"
    assert src["name"] == "shared@Release"
    assert src["internalUpstreamCollectionId"] == ORG
    assert src["internalUpstreamProjectId"] is None
    assert src["internalUpstreamFeedId"] == up["id"]
    assert src["internalUpstreamViewId"] == release["id"]
    assert src["location"] == src["displayLocation"] == f"azure-feed://{ORG}/shared@Release"
    assert src["hasCredentials"] is False
    # a round-trip of what GET shows is accepted and changes nothing
    got = await get_feed(api, "consumer")
    r = await set_sources(api, "consumer", got["upstreamSources"])
    assert r.status_code == 200 and r.json()["upstreamSources"] == got["upstreamSources"]


async def test_internal_same_org_by_locator_and_by_ids(api: Api) -> None:
    up = await api.create_feed("shared")
    await api.create_feed("consumer")
    await share(api, "shared", "Prerelease", "organization")
    await share(api, "shared", "Local", "aadTenant")
    r = await set_sources(
        api,
        "consumer",
        [
            {"name": "pre", "protocol": "npm", "location": f"azure-feed://{ORG}/Shared@prerelease"},
            internal(up["id"], up["views"][0]["id"], name="local-by-id"),
            {"name": "legacy", "protocol": "npm", "location": f"vsts-feed://{ORG}/shared@Local"},
        ],
    )
    assert r.status_code == 200, r.text
    pre, local, legacy = r.json()["upstreamSources"]
    assert pre["upstreamSourceType"] == "internal" and pre["internalUpstreamFeedId"] == up["id"]
    assert pre["location"] == f"azure-feed://{ORG}/shared@Prerelease"
    assert local["name"] == "local-by-id" and local["location"] == f"azure-feed://{ORG}/shared@Local"
    assert local["internalUpstreamViewId"] == up["views"][0]["id"]
    assert legacy["location"] == f"azure-feed://{ORG}/shared@Local"


async def test_internal_project_scoped_feed(api: Api) -> None:
    r = await api.http.post(f"/{ORG}/proj/_apis/packaging/feeds", json={"name": "pf"}, headers=api.auth())
    assert r.status_code == 201
    up = r.json()
    await share(api, "pf", org=f"{ORG}/proj")
    await api.create_feed("consumer")
    r = await set_sources(api, "consumer", [internal("pf", internalUpstreamProjectId="proj")])
    assert r.status_code == 200, r.text
    (src,) = r.json()["upstreamSources"]
    assert src["internalUpstreamProjectId"] == "proj" and src["internalUpstreamFeedId"] == up["id"]
    assert src["location"] == f"azure-feed://{ORG}/proj/pf@Release"
    r = await set_sources(api, "consumer", [{"name": "p", "protocol": "npm", "location": src["location"]}])
    assert r.status_code == 200, r.text
    # without the project the name means an org-scoped feed, which does not exist
    r = await set_sources(api, "consumer", [internal("pf")])
    assert r.status_code == 400 and "does not exist" in message(r)


async def test_private_view_is_refused_with_how_to_share_it(api: Api) -> None:
    await api.create_feed("closed")
    await api.create_feed("consumer")
    r = await set_sources(api, "consumer", [internal("closed")])
    assert r.status_code == 400
    text = message(r)
    assert "private" in text and "collection, organization or aadTenant" in text
    assert f"PATCH /{ORG}/_apis/packaging/Feeds/closed/views/Release" in text
    assert '{"visibility": "collection"}' in text
    await share(api, "closed")
    assert (await set_sources(api, "consumer", [internal("closed")])).status_code == 200


async def test_other_org_internal_needs_organization_visibility(api: Api) -> None:
    await other_org(api, "theirs")
    await api.create_feed("consumer")
    locator = f"azure-feed://{OTHER}/theirs@Release"
    r = await set_sources(api, "consumer", [{"name": "theirs", "protocol": "npm", "location": locator}])
    assert r.status_code == 400 and "private" in message(r)
    # shared with the organization's own members only: not enough for another organization
    await share(api, "theirs", org=OTHER, token=OTHER_TOKEN)
    r = await set_sources(api, "consumer", [{"name": "theirs", "protocol": "npm", "location": locator}])
    assert r.status_code == 400
    assert "organization or aadTenant" in message(r)
    assert f'PATCH /{OTHER}/_apis/packaging/Feeds/theirs/views/Release {{"visibility": "organization"}}' in message(r)
    await share(api, "theirs", visibility="organization", org=OTHER, token=OTHER_TOKEN)
    r = await set_sources(api, "consumer", [{"name": "theirs", "protocol": "npm", "location": locator}])
    assert r.status_code == 200, r.text
    (src,) = r.json()["upstreamSources"]
    theirs = await get_feed(api, "theirs", OTHER, OTHER_TOKEN)
    assert src["internalUpstreamCollectionId"] == OTHER and src["internalUpstreamFeedId"] == theirs["id"]
    assert src["location"] == locator
    # the same by ids, and the round-trip
    r = await set_sources(api, "consumer", [internal("theirs", internalUpstreamCollectionId=OTHER)])
    assert r.status_code == 200, r.text
    got = await get_feed(api, "consumer")
    assert (await set_sources(api, "consumer", got["upstreamSources"])).status_code == 200


async def test_unknown_org_feed_view_are_400(api: Api) -> None:
    await api.create_feed("shared")
    await api.create_feed("consumer")
    for source, words in [
        (internal("nosuch"), "upstreamSources[0]: feed 'nosuch' does not exist"),
        (internal("shared", "NoView"), "upstreamSources[0]: view 'NoView' does not exist"),
        (
            internal("shared", internalUpstreamCollectionId="nosuchorg"),
            "upstreamSources[0]: organization 'nosuchorg' does not exist",
        ),
        ({"name": "x", "protocol": "npm", "location": "azure-feed://nosuchorg/f@Release"}, "does not exist"),
        (
            {"name": "x", "protocol": "npm", "location": f"azure-feed://{ORG}/shared"},
            "upstreamSources[0].location: the feed locator",
        ),
        ({"protocol": "npm", "upstreamSourceType": "internal"}, "upstreamSources[0]: an internal source needs"),
        ({"protocol": "npm", "internalUpstreamFeedId": "shared"}, "upstreamSources[0].internalUpstreamViewId: must"),
    ]:
        r = await set_sources(api, "consumer", [source])
        assert r.status_code == 400, source
        assert words in message(r), (source, message(r))


async def test_feed_cannot_be_its_own_upstream(api: Api) -> None:
    feed = await api.create_feed("selfish")
    await share(api, "selfish")
    for source in [
        internal("selfish"),
        internal(feed["id"], "Local"),
        {"name": "x", "protocol": "npm", "location": f"azure-feed://{ORG}/selfish@Release"},
    ]:
        r = await set_sources(api, "selfish", [source])
        assert r.status_code == 400, source
        assert "cannot be an upstream source of itself" in message(r)


async def test_cycles_are_refused_naming_the_path(api: Api) -> None:
    for name in ("a", "b", "c"):
        await api.create_feed(name)
        await share(api, name)
    assert (await set_sources(api, "a", [internal("b")])).status_code == 200
    r = await set_sources(api, "b", [internal("a")])
    assert r.status_code == 400
    assert "cycle" in message(r) and "b -> a -> b" in message(r)
    # a longer one
    assert (await set_sources(api, "b", [internal("c")])).status_code == 200
    r = await set_sources(api, "c", [internal("a")])
    assert r.status_code == 400 and "c -> a -> b -> c" in message(r)
    # a diamond is not a cycle
    assert (await set_sources(api, "a", [internal("b"), internal("c")])).status_code == 200


async def test_cycles_across_organizations(api: Api) -> None:
    await other_org(api, "x")
    await api.create_feed("a")
    await share(api, "a", visibility="organization")
    await share(api, "x", visibility="organization", org=OTHER, token=OTHER_TOKEN)
    assert (await set_sources(api, "a", [internal("x", internalUpstreamCollectionId=OTHER)])).status_code == 200
    r = await api.http.patch(
        f"/{OTHER}/_apis/packaging/feeds/x",
        json={"upstreamSources": [{"name": "a", "protocol": "npm", "location": f"azure-feed://{ORG}/a@Release"}]},
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
    )
    assert r.status_code == 400
    assert f"{OTHER}/x -> {ORG}/a -> {OTHER}/x" in message(r)


async def test_disabled_sources_do_not_count_for_cycles_until_enabled(api: Api) -> None:
    for name in ("a", "b"):
        await api.create_feed(name)
        await share(api, name)
    r = await set_sources(api, "a", [internal("b", enabled=False)])
    assert r.status_code == 200, r.text
    assert r.json()["upstreamSources"][0]["status"] == "disabled"
    assert (await set_sources(api, "b", [internal("a")])).status_code == 200
    # enabling the disabled one would close the cycle
    (src,) = (await get_feed(api, "a"))["upstreamSources"]
    r = await set_sources(api, "a", [{**src, "status": "ok"}])
    assert r.status_code == 400 and "a -> b -> a" in message(r)


async def test_disable_and_enable_a_source(api: Api) -> None:
    await api.create_feed("shared")
    await api.create_feed("consumer")
    await share(api, "shared")
    custom = {"name": "c", "protocol": "npm", "location": "https://h.example/"}
    r = await set_sources(api, "consumer", [custom, internal("shared")])
    assert r.status_code == 200, r.text
    first, second = r.json()["upstreamSources"]
    r = await set_sources(api, "consumer", [{**first, "status": "disabled"}, {**second, "enabled": False}])
    assert r.status_code == 200, r.text
    assert [s["status"] for s in r.json()["upstreamSources"]] == ["disabled", "disabled"]
    assert [s["id"] for s in r.json()["upstreamSources"]] == [first["id"], second["id"]]
    # still configured, still shown by GET
    assert [s["status"] for s in (await get_feed(api, "consumer"))["upstreamSources"]] == ["disabled", "disabled"]
    r = await set_sources(api, "consumer", [{**first, "enabled": True}, {**second, "status": "ok"}])
    assert [s["status"] for s in r.json()["upstreamSources"]] == ["unknown", "unknown"]  # enabled, not checked yet
    stored = await stored_sources(api, "consumer")
    assert [s.status for s in stored] == ["ok", "ok"]
    # sending back what GET showed ("unknown") keeps them enabled
    r = await set_sources(api, "consumer", r.json()["upstreamSources"])
    assert r.status_code == 200 and [s.status for s in await stored_sources(api, "consumer")] == ["ok", "ok"]
    r = await set_sources(api, "consumer", [{**first, "status": "ok", "enabled": "no"}])
    assert r.status_code == 400 and message(r) == "upstreamSources[0].enabled: Input should be a valid boolean"


async def test_remove_a_source_and_order_is_kept(api: Api) -> None:
    await api.create_feed("shared")
    await api.create_feed("consumer")
    await share(api, "shared")
    sources = [
        {"name": "one", "protocol": "npm", "location": "https://one.example/"},
        internal("shared"),
        {"name": "two", "protocol": "npm", "location": "https://two.example/"},
    ]
    r = await set_sources(api, "consumer", sources)
    one, mid, two = r.json()["upstreamSources"]
    r = await set_sources(api, "consumer", [two, one])
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["upstreamSources"]] == [two["id"], one["id"]]
    assert [s["name"] for s in (await get_feed(api, "consumer"))["upstreamSources"]] == ["two", "one"]
    # the removed internal source no longer counts: the upstream may now point back
    assert mid["internalUpstreamFeedId"]
    assert (await share(api, "consumer")) is None
    assert (await set_sources(api, "shared", [internal("consumer")])).status_code == 200
    r = await set_sources(api, "consumer", [])
    assert r.status_code == 200 and r.json()["upstreamSources"] == []


async def test_unchanged_source_survives_its_upstream_becoming_private(api: Api) -> None:
    await api.create_feed("shared")
    await api.create_feed("consumer")
    await share(api, "shared")
    await set_sources(api, "consumer", [internal("shared")])
    got = await get_feed(api, "consumer")
    await share(api, "shared", visibility="private")
    # the client sends back what it read, plus a new source: the old one is kept as it was
    r = await set_sources(
        api, "consumer", [*got["upstreamSources"], {"name": "c", "protocol": "npm", "location": "https://h.example/"}]
    )
    assert r.status_code == 200, r.text
    assert r.json()["upstreamSources"][0] == got["upstreamSources"][0]
    # but it cannot be added anew, nor re-enabled
    r = await set_sources(api, "consumer", [internal("shared")])
    assert r.status_code == 400 and "private" in message(r)
    r = await set_sources(api, "consumer", [{**got["upstreamSources"][0], "enabled": False}])
    assert r.status_code == 200, r.text
    r = await set_sources(api, "consumer", [{**got["upstreamSources"][0], "enabled": True}])
    assert r.status_code == 400 and "private" in message(r)
    # nor kept once its upstream feed is gone and the source is changed to another view
    await share(api, "shared")
    r = await set_sources(api, "consumer", [{**got["upstreamSources"][0], "internalUpstreamViewId": "NoView"}])
    assert r.status_code == 400 and "does not exist" in message(r)


async def test_only_the_owner_configures_upstreams(feed_api: Api) -> None:
    api = feed_api
    custom = {"name": "c", "protocol": "npm", "location": "https://h.example/"}
    r = await patch(api, "feed", {"upstreamSources": [custom]}, who="alice")
    assert r.status_code == 403
    assert "Owner" in message(r) or "administrator" in message(r).lower()
    r = await patch(api, "feed", {"minimumReleaseAgeHours": 1}, who="alice")
    assert r.status_code == 403
    assert (await get_feed(api, "feed"))["upstreamSources"] == []
    await api.grant("feed", "alice", "administrator")
    await api.token("alice", "vso.packaging_manage")
    assert (await patch(api, "feed", {"upstreamSources": [custom]}, who="alice")).status_code == 200


# --- feed-level minimum release age ----------------------------------------------------------------


async def test_minimum_release_age_round_trip(api: Api) -> None:
    feed = await api.create_feed("aged", minimumReleaseAgeHours=72, minimumReleaseAgeExemptions=["@myorg/*"])
    assert feed["minimumReleaseAgeHours"] == 72
    assert feed["minimumReleaseAgeExemptions"] == ["@myorg/*"]
    got = await get_feed(api, "aged")
    assert got["minimumReleaseAgeHours"] == 72 and got["minimumReleaseAgeExemptions"] == ["@myorg/*"]
    # a PATCH without them leaves them alone
    r = await patch(api, "aged", {"description": "x"})
    assert r.json()["minimumReleaseAgeHours"] == 72 and r.json()["minimumReleaseAgeExemptions"] == ["@myorg/*"]
    r = await patch(
        api, "aged", {"minimumReleaseAgeHours": 0.5, "minimumReleaseAgeExemptions": ["left-pad", "com.example:*"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["minimumReleaseAgeHours"] == 0.5
    assert r.json()["minimumReleaseAgeExemptions"] == ["left-pad", "com.example:*"]
    # null turns the delay off; an empty list (or null) clears the exemptions
    r = await patch(api, "aged", {"minimumReleaseAgeHours": None, "minimumReleaseAgeExemptions": None})
    assert r.json()["minimumReleaseAgeHours"] is None and r.json()["minimumReleaseAgeExemptions"] == []
    got = await get_feed(api, "aged")
    assert got["minimumReleaseAgeHours"] is None and got["minimumReleaseAgeExemptions"] == []
    # defaults of a new feed
    plain = await api.create_feed("plain")
    assert plain["minimumReleaseAgeHours"] is None and plain["minimumReleaseAgeExemptions"] == []


async def test_minimum_release_age_validation(api: Api) -> None:
    await api.create_feed("aged")
    for body, words in [
        ({"minimumReleaseAgeHours": -1}, "minimumReleaseAgeHours"),
        ({"minimumReleaseAgeHours": "24"}, "minimumReleaseAgeHours"),
        ({"minimumReleaseAgeHours": True}, "minimumReleaseAgeHours"),
        ({"minimumReleaseAgeHours": 10**8}, "minimumReleaseAgeHours"),
        ({"minimumReleaseAgeExemptions": "@myorg/*"}, "minimumReleaseAgeExemptions: Input should be a valid list"),
        ({"minimumReleaseAgeExemptions": ["has space"]}, "minimumReleaseAgeExemptions[0]"),
        ({"minimumReleaseAgeExemptions": ["ok", 5]}, "minimumReleaseAgeExemptions[1]"),
        ({"minimumReleaseAgeExemptions": ["*"]}, "every package"),
        ({"minimumReleaseAgeExemptions": [f"p{i}" for i in range(201)]}, "at most 200"),
    ]:
        r = await patch(api, "aged", body)
        assert r.status_code == 400, body
        assert words in message(r), (body, message(r))
        r = await api.http.post(FEEDS, json={"name": "new", **body}, headers=api.auth())
        assert r.status_code == 400, body
    assert (await patch(api, "aged", {"minimumReleaseAgeExemptions": [f"p{i}" for i in range(200)]})).status_code == 200


async def test_oversized_settings_are_refused_before_storing(api: Api) -> None:
    await api.create_feed("big")
    sources = [{"name": f"s{i}", "protocol": "npm", "location": "https://h.example/" + "p" * 900} for i in range(40)]
    r = await set_sources(api, "big", sources)
    assert r.status_code == 400 and "too large" in message(r)
    assert (await get_feed(api, "big"))["upstreamSources"] == []
