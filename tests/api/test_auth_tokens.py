"""Authentication on every endpoint, and personal access tokens."""

from __future__ import annotations

import base64

import pytest

from feed_core.api.responses import TokenCreateResponse, dump
from feed_core.api.shapes import token_response
from feed_core.domain.errors import UnauthorizedError
from feed_core.domain.roles import Scope
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, running_api

PATS = f"/{ORG}/_apis/tokens/pats?api-version=7.1-preview.1"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_no_credentials_is_401_with_challenge(feed_api: Api) -> None:
    for url in (feed_api.registry() + "somepkg", f"/{ORG}/_apis/packaging/feeds"):
        r = await feed_api.http.get(url)
        assert r.status_code == 401, url
        assert r.headers["www-authenticate"].startswith("Basic")
        assert "otp" not in r.headers["www-authenticate"].lower()


async def test_bad_tokens_are_401(feed_api: Api) -> None:
    url = feed_api.registry() + "-/whoami"
    for headers in [
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Digest abc"},
        {"Authorization": "Bearer " + "x" * 600},
        basic("admin", ADMIN_TOKEN + "x"),
    ]:
        r = await feed_api.http.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]


async def test_basic_with_any_user_and_bearer_both_work(feed_api: Api) -> None:
    url = feed_api.registry() + "-/whoami"
    token = feed_api.tokens["alice"]
    for headers in [basic("anything", token), basic("", token), {"Authorization": f"Bearer {token}"}]:
        r = await feed_api.http.get(url, headers=headers)
        assert r.status_code == 200
        assert r.json() == {"username": "alice"}


async def test_user_without_role_gets_403(feed_api: Api) -> None:
    await feed_api.token("mallory", "vso.packaging_manage")
    r = await feed_api.http.get(feed_api.registry() + "x", headers=feed_api.auth("mallory"))
    assert r.status_code == 403
    assert "Feed Reader" in r.json()["error"]


async def test_token_is_shown_once_and_stored_hashed(api: Api) -> None:
    r = await api.http.post(PATS, json={"displayName": "ci", "scope": "vso.packaging"}, headers=api.auth())
    assert r.status_code == 200
    pat = r.json()["patToken"]
    assert pat["token"].startswith("fpat_") and pat["scope"] == "vso.packaging" and pat["user"] == "admin"
    listed = (await api.http.get(PATS, headers=api.auth())).json()["patTokens"]
    assert {t["authorizationId"] for t in listed} >= {pat["authorizationId"]}
    assert all(t["token"] is None for t in listed)
    # The stored row is keyed by the token's hash; the token itself is nowhere in storage.
    stored = await api.services.catalog.list_tokens(ORG, "admin")
    assert all(pat["token"] not in repr(t) for t in stored)


async def test_a_minted_token_stays_out_of_reprs(api: Api) -> None:
    """Its answer and the service's result are printed in tracebacks and debug logs: the token is not."""
    minted = await api.services.identity.mint(ORG, None, user="alice", display_name="ci", scope=Scope.READ)
    shown = token_response(minted.token, minted.plaintext)
    assert shown.token == minted.plaintext and dump(shown)["token"] == minted.plaintext
    for value in (minted, shown, TokenCreateResponse(pat_token=shown, pat_token_error="none")):
        assert minted.plaintext not in repr(value) and minted.plaintext not in str(value)


async def test_revoked_token_stops_working(api: Api) -> None:
    await api.create_feed()
    token = await api.token("zed", "vso.packaging")
    await api.grant("feed", "zed", "reader")
    url = api.registry() + "-/whoami"
    assert (await api.http.get(url, headers=api.auth("zed"))).status_code == 200
    auth_id = (await api.http.get(PATS + "&user=zed", headers=api.auth())).json()["patTokens"][0]["authorizationId"]
    r = await api.http.delete(f"{PATS}&authorizationId={auth_id}&user=zed", headers=api.auth())
    assert r.status_code == 204
    r = await api.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    r = await api.http.delete(f"{PATS}&authorizationId={auth_id}&user=zed", headers=api.auth())
    assert r.status_code == 404


async def test_expired_token_is_401(api: Api, clock: MutableClock) -> None:
    await api.create_feed()
    r = await api.http.post(
        PATS, json={"scope": "vso.packaging", "validTo": "2026-11-02T00:00:00Z"}, headers=api.auth()
    )
    token = r.json()["patToken"]["token"]
    url = api.registry() + "-/whoami"
    assert (await api.http.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 200
    clock.advance(days=2)
    r = await api.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "expired" in r.json()["error"]


async def test_token_creation_rules(feed_api: Api) -> None:
    api = feed_api
    # alice may mint for herself, not broader than her own token, and not for others
    r = await api.http.post(PATS, json={"scope": "vso.packaging"}, headers=api.auth("alice"))
    assert r.status_code == 200 and r.json()["patToken"]["user"] == "alice"
    r = await api.http.post(PATS, json={"scope": "vso.packaging_manage"}, headers=api.auth("alice"))
    assert r.status_code == 403 and "broader scope" in r.json()["message"]
    r = await api.http.post(PATS, json={"scope": "vso.packaging", "user": "bob"}, headers=api.auth("alice"))
    assert r.status_code == 403
    r = await api.http.get(PATS + "&user=bob", headers=api.auth("alice"))
    assert r.status_code == 403
    for body in [
        {"scope": "vso.code"},
        {"validTo": "yesterday"},
        {"validTo": "2020-01-01T00:00:00Z"},
        {"validTo": "2099-01-01T00:00:00Z"},
        {"validTo": "2026-12-01T00:00:00"},
        {"user": "bad user"},
    ]:
        r = await api.http.post(PATS, json=body, headers=api.auth())
        assert r.status_code == 400, body


async def test_token_scope_narrows_the_role(api: Api) -> None:
    await api.create_feed()
    r = await api.http.post(PATS, json={"scope": "vso.packaging"}, headers=api.auth())
    read_only = {"Authorization": "Bearer " + r.json()["patToken"]["token"]}
    r = await api.http.patch(f"/{ORG}/_apis/packaging/feeds/feed", json={"description": "x"}, headers=read_only)
    assert r.status_code == 403
    assert "scope vso.packaging" in r.json()["message"]
    r = await api.publish("p", "1.0.0", who="admin")
    assert r.status_code == 201
    r = await api.http.put(api.registry() + "-/package/p/dist-tags/x", json="1.0.0", headers=read_only)
    assert r.status_code == 403


async def test_token_of_another_org_is_refused(api: Api) -> None:
    await api.services.identity.bootstrap("other", "boss", "other-org-token-0123456789")
    await api.create_feed()
    r = await api.http.get(api.registry() + "-/whoami", headers={"Authorization": "Bearer other-org-token-0123456789"})
    assert r.status_code == 401
    assert "organization" in r.json()["error"]


async def test_ping_needs_credentials_like_everything_else(feed_api: Api) -> None:
    assert (await feed_api.http.get(feed_api.registry() + "-/ping")).status_code == 401
    assert (await feed_api.http.get(feed_api.registry() + "-/ping", headers=feed_api.auth("bob"))).status_code == 200


async def test_anonymous_callers_cannot_tell_which_feeds_exist(feed_api: Api) -> None:
    assert (await feed_api.http.get(feed_api.registry("feed") + "p")).status_code == 401
    assert (await feed_api.http.get(feed_api.registry("nosuch") + "p")).status_code == 401


@pytest.mark.parametrize("backend", ["embedded"])  # ten thousand lookups: the store's speed is not the point
async def test_a_flood_of_unknown_tokens_does_not_flush_the_known_ones(make_settings: SettingsFactory) -> None:
    """Seen through a token revoked behind this worker's back (as another worker would): while it stays
    cached, it is served from the cache, so a flush by the flood would show as a 401."""
    async with running_api(make_settings(cache_seconds=300)) as api:
        await api.create_feed()
        token = await api.token("zed", "vso.packaging")
        await api.grant("feed", "zed", "reader")
        url = api.registry() + "-/whoami"
        assert (await api.http.get(url, headers=api.auth("zed"))).status_code == 200  # now cached
        (listed,) = await api.services.catalog.list_tokens(ORG, "zed")
        await api.services.catalog.revoke_token(ORG, "zed", listed.authorization_id)
        for i in range(10_001):
            with pytest.raises(UnauthorizedError):
                await api.services.identity.authenticate(ORG, f"fpat_random{i}")
        r = await api.http.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
