"""Token scopes hold for token management: managing others' tokens, lifetimes and revocation of
minted tokens, no existence oracle for anonymous callers, and who may read a feed's permissions."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from feed_core.domain.roles import Scope
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, running_api

PATS = f"/{ORG}/_apis/tokens/pats?api-version=7.1-preview.1"
FEEDS = f"/{ORG}/_apis/packaging/feeds"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def mint(api: Api, with_token: str | None = None, **body: Any) -> httpx.Response:
    headers = bearer(with_token) if with_token else api.auth()
    return await api.http.post(PATS, json=body, headers=headers)


async def minted(api: Api, with_token: str | None = None, **body: Any) -> dict[str, Any]:
    r = await mint(api, with_token, **body)
    assert r.status_code == 200, r.text
    return dict(r.json()["patToken"])


async def listed(api: Api, user: str) -> set[str]:
    r = await api.http.get(f"{PATS}&user={user}", headers=api.auth())
    return {t["displayName"] for t in r.json()["patTokens"]}


async def whoami(api: Api, token: str) -> int:
    return (await api.http.get(api.registry() + "-/whoami", headers=bearer(token))).status_code


async def test_managing_other_users_tokens_needs_a_manage_token(feed_api: Api) -> None:
    api = feed_api
    bobs = (await api.http.get(PATS + "&user=bob", headers=api.auth())).json()["patTokens"]
    (bob_token,) = bobs
    for scope in ("vso.packaging", "vso.packaging_write"):
        admin = (await minted(api, scope=scope))["token"]
        r = await api.http.get(PATS + "&user=bob", headers=bearer(admin))
        assert r.status_code == 403, scope
        assert "vso.packaging_manage" in r.json()["message"]
        r = await api.http.delete(
            f"{PATS}&user=bob&authorizationId={bob_token['authorizationId']}", headers=bearer(admin)
        )
        assert r.status_code == 403, scope
        # ... while the administrator's own tokens stay theirs to see.
        assert (await api.http.get(PATS, headers=bearer(admin))).status_code == 200
    assert await whoami(api, api.tokens["bob"]) == 200
    manage = (await minted(api, scope="vso.packaging_manage"))["token"]
    r = await api.http.get(PATS + "&user=bob", headers=bearer(manage))
    assert r.status_code == 200 and len(r.json()["patTokens"]) == 1
    r = await api.http.delete(f"{PATS}&user=bob&authorizationId={bob_token['authorizationId']}", headers=bearer(manage))
    assert r.status_code == 204
    assert await whoami(api, api.tokens["bob"]) == 401


async def test_a_minted_token_never_outlives_the_token_that_minted_it(feed_api: Api) -> None:
    api = feed_api  # the clock stands at 2026-11-01T12:00Z
    short = await minted(api, scope="vso.packaging_manage", validTo="2026-11-01T13:00:00Z")
    r = await mint(api, short["token"], scope="vso.packaging", validTo="2027-10-27T12:00:00Z")
    assert r.status_code == 400
    assert "cannot outlive" in r.json()["message"] and "2026-11-01T13:00:00" in r.json()["message"]
    r = await mint(api, short["token"], user="bob", validTo="2026-11-01T13:00:01Z")
    assert r.status_code == 400
    # Without validTo the child gets the default lifetime cut to its parent's.
    child = await minted(api, short["token"], scope="vso.packaging")
    assert child["validTo"] == short["validTo"]
    child = await minted(api, short["token"], validTo="2026-11-01T12:30:00Z")
    assert child["validTo"].startswith("2026-11-01T12:30:00")
    # The bootstrap token never expires; what it mints still has the usual limit.
    assert (await mint(api, validTo="2027-10-27T12:00:00Z")).status_code == 200
    assert (await mint(api, validTo="2027-11-03T12:00:00Z")).status_code == 400


async def test_revoking_a_token_revokes_the_tokens_it_minted(feed_api: Api) -> None:
    api = feed_api
    parent = await minted(api, scope="vso.packaging_manage", displayName="parent")
    child = await minted(api, parent["token"], scope="vso.packaging_write", displayName="child")
    grandchild = await minted(api, child["token"], scope="vso.packaging", displayName="grandchild")
    for_bob = await minted(api, parent["token"], user="bob", scope="vso.packaging", displayName="for bob")
    sibling = await minted(api, scope="vso.packaging", displayName="sibling")
    for tok in (parent, child, grandchild, sibling):
        assert await whoami(api, tok["token"]) == 200
    assert await whoami(api, for_bob["token"]) == 200

    r = await api.http.delete(f"{PATS}&authorizationId={parent['authorizationId']}", headers=api.auth())
    assert r.status_code == 204
    for tok in (parent, child, grandchild, for_bob):
        assert await whoami(api, tok["token"]) == 401, tok["displayName"]
    assert await whoami(api, sibling["token"]) == 200
    assert await whoami(api, api.tokens["bob"]) == 200
    assert await listed(api, "admin") >= {"sibling"}
    assert not await listed(api, "admin") & {"parent", "child", "grandchild"}
    assert await listed(api, "bob") == {"bob"}


async def test_a_token_minted_while_its_parent_is_revoked_does_not_work(feed_api: Api) -> None:
    """The race the cascade alone would miss: the parent authenticated, then was revoked, then minted."""
    api = feed_api
    parent = await minted(api, scope="vso.packaging_write")
    caller = await api.services.identity.authenticate(ORG, parent["token"])
    r = await api.http.delete(f"{PATS}&authorizationId={parent['authorizationId']}", headers=api.auth())
    assert r.status_code == 204
    late = await api.services.identity.mint(ORG, caller, user=None, display_name="late", scope=caller.scope)
    r = await api.http.get(api.registry() + "-/whoami", headers=bearer(late.plaintext))
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]


async def test_anonymous_callers_cannot_tell_which_organizations_or_feeds_exist(feed_api: Api) -> None:
    api = feed_api
    await api.services.identity.bootstrap("otherorg", "boss", "other-org-token-0123456789")
    for org in (ORG, "otherorg", "nosuchorg", "admin"):
        for path in (
            "_apis/packaging/feeds",
            "_apis/packaging/feeds/feed",
            "_apis/packaging/feeds/nosuch/permissions",
            "_apis/tokens/pats",
            "_packaging/feed/npm/registry/p",
            "_packaging/nosuch/npm/registry/p",
            "_packaging/feed/pypi/simple/",
            "_packaging/nosuch/pypi/simple/p/",
        ):
            url = f"/{org}/{path}"
            for headers in ({}, bearer("fpat_unknown")):
                r = await api.http.get(url, headers=headers)
                assert r.status_code == 401, (url, headers)
                assert r.headers["www-authenticate"].startswith("Basic")
    # A token of one organization learns nothing about the others either.
    for org in ("nosuchorg", "otherorg"):
        r = await api.http.get(f"/{org}/_apis/packaging/feeds", headers=api.auth())
        assert r.status_code == 401


async def test_reading_permissions_needs_the_feed_administrator_role(feed_api: Api) -> None:
    api = feed_api
    url = f"{FEEDS}/feed/permissions?api-version=7.1"
    for who in ("bob", "carol", "alice"):
        r = await api.http.get(url, headers=api.auth(who))
        assert r.status_code == 403, who
        assert "Feed Owner (administrator)" in r.json()["message"]
    admin_read_token = (await minted(api, scope="vso.packaging"))["token"]
    r = await api.http.get(url, headers=bearer(admin_read_token))
    assert r.status_code == 403 and "scope vso.packaging" in r.json()["message"]
    await api.grant("feed", "dana", "administrator")
    await api.token("dana", "vso.packaging_manage")
    r = await api.http.get(url, headers=api.auth("dana"))
    assert r.status_code == 200
    assert {p["identityDescriptor"] for p in r.json()["value"]} >= {"admin", "alice", "bob", "carol", "dana"}


async def test_chains_of_minted_tokens_are_bounded(api: Api) -> None:
    """Each generation costs a read when authenticating, so chains stop at eight tokens."""
    token = None
    for _ in range(7):  # the bootstrap token and seven descendants
        token = (await minted(api, token, scope="vso.packaging_manage"))["token"]
    assert token is not None
    assert (await api.http.get(PATS, headers=bearer(token))).status_code == 200
    r = await mint(api, token, scope="vso.packaging")
    assert r.status_code == 400 and "cannot create more" in r.json()["message"]


async def test_a_revoked_bootstrap_token_stays_revoked_after_a_restart(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """FEED_ADMIN_TOKEN stays in the settings; the start after its revocation must not register it again."""
    cli = await api.services.identity.mint(  # as `token create` does: not bound to the bootstrap token
        ORG, None, user="admin", display_name="cli", scope=Scope.MANAGE
    )
    manage = cli.plaintext
    (boot,) = [t for t in (await api.http.get(PATS, headers=api.auth())).json()["patTokens"] if not t["validTo"]]
    r = await api.http.delete(f"{PATS}&authorizationId={boot['authorizationId']}", headers=bearer(manage))
    assert r.status_code == 204
    assert await whoami(api, ADMIN_TOKEN) == 401

    with caplog.at_level(logging.ERROR, logger="feed_core.identity"):
        await api.services.identity.bootstrap(ORG, "admin", ADMIN_TOKEN)  # what every start does
    assert "FEED_ADMIN_TOKEN was revoked" in caplog.text
    assert await whoami(api, ADMIN_TOKEN) == 401
    r = await api.http.get(FEEDS, headers=bearer(ADMIN_TOKEN))
    assert r.status_code == 401
    # A fresh worker (no cached lookups) agrees, and the listing does not show it again.
    async with running_api(api.services.settings) as fresh:
        assert (await fresh.http.get(FEEDS, headers=bearer(ADMIN_TOKEN))).status_code == 401
        assert (await fresh.http.get(FEEDS, headers=bearer(manage))).status_code == 200
    listed_ids = {t["authorizationId"] for t in (await api.http.get(PATS, headers=bearer(manage))).json()["patTokens"]}
    assert boot["authorizationId"] not in listed_ids


async def test_a_narrow_token_cannot_revoke_a_broader_one(feed_api: Api) -> None:
    """A leaked read token must not be able to take away its user's manage token (and its whole tree)."""
    api = feed_api
    await api.grant("feed", "dana", "administrator")
    issue = api.services.identity.mint
    manage = await issue(ORG, None, user="dana", display_name="manage", scope=Scope.MANAGE)
    write = await issue(ORG, None, user="dana", display_name="write", scope=Scope.WRITE)
    read = await issue(ORG, None, user="dana", display_name="read", scope=Scope.READ)
    child = await minted(api, manage.plaintext, scope="vso.packaging", displayName="child of manage")

    listing = await api.http.get(PATS, headers=bearer(read.plaintext))
    assert listing.status_code == 200  # seeing one's own tokens stays allowed
    for narrow, broad in ((read, manage), (read, write), (write, manage)):
        r = await api.http.delete(
            f"{PATS}&authorizationId={broad.token.authorization_id}", headers=bearer(narrow.plaintext)
        )
        assert r.status_code == 403, (narrow.token.scope, broad.token.scope)
        assert f"cannot revoke a token with the broader scope {broad.token.scope.value}" in r.json()["message"]
    for token in (manage.plaintext, write.plaintext, child["token"]):
        assert await whoami(api, token) == 200

    # As broad or broader may: a read token revokes another read token, a manage token anything.
    r = await api.http.delete(f"{PATS}&authorizationId={child['authorizationId']}", headers=bearer(read.plaintext))
    assert r.status_code == 204
    r = await api.http.delete(
        f"{PATS}&authorizationId={write.token.authorization_id}", headers=bearer(manage.plaintext)
    )
    assert r.status_code == 204
    assert await whoami(api, child["token"]) == 401 and await whoami(api, write.plaintext) == 401
