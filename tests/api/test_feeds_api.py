"""Feeds, views and permissions through the REST API, on both storage backends."""

from __future__ import annotations

import asyncio

from tests.api.conftest import ORG, Api

FEEDS = f"/{ORG}/_apis/packaging/feeds"


async def test_create_feed_returns_azure_shape_with_three_views(api: Api) -> None:
    feed = await api.create_feed("myfeed", description="team packages")
    assert feed["name"] == "myfeed"
    assert feed["description"] == "team packages"
    assert feed["upstreamEnabled"] is True
    assert feed["project"] is None
    assert [v["name"] for v in feed["views"]] == ["Local", "Prerelease", "Release"]
    assert feed["views"][0]["type"] == "implicit"
    assert feed["defaultViewId"] == feed["views"][0]["id"]
    assert feed["url"].endswith(f"/{ORG}/_apis/packaging/Feeds/{feed['id']}")


async def test_feed_is_addressed_by_name_or_id(api: Api) -> None:
    feed = await api.create_feed("byname")
    for ref in ("byname", "ByName", feed["id"]):
        r = await api.http.get(f"{FEEDS}/{ref}?api-version=7.1", headers=api.auth())
        assert r.status_code == 200, ref
        assert r.json()["id"] == feed["id"]
        assert r.headers["etag"]


async def test_list_feeds(api: Api) -> None:
    await api.create_feed("one")
    await api.create_feed("two")
    r = await api.http.get(f"{FEEDS}?api-version=7.1", headers=api.auth())
    assert r.status_code == 200
    assert sorted(f["name"] for f in r.json()["value"]) == ["one", "two"]
    assert r.json()["count"] == 2


async def test_list_shows_only_feeds_the_caller_can_read(api: Api) -> None:
    await api.create_feed("visible")
    await api.create_feed("hidden")
    await api.grant("visible", "dan", "reader")
    await api.token("dan", "vso.packaging")
    r = await api.http.get(FEEDS, headers=api.auth("dan"))
    assert [f["name"] for f in r.json()["value"]] == ["visible"]


async def test_duplicate_name_is_409(api: Api) -> None:
    await api.create_feed("dup")
    r = await api.http.post(FEEDS, json={"name": "DUP"}, headers=api.auth())
    assert r.status_code == 409
    assert "already exists" in r.json()["message"]


async def test_invalid_feed_name_is_400_with_reason(api: Api) -> None:
    for name in ["bad name", "_x", "a/b", "x" * 65, "a@b"]:
        r = await api.http.post(FEEDS, json={"name": name}, headers=api.auth())
        assert r.status_code == 400, name
        assert "invalid feed name" in r.json()["message"]


async def test_missing_name_and_bad_json_are_400(api: Api) -> None:
    assert (await api.http.post(FEEDS, json={}, headers=api.auth())).status_code == 400
    r = await api.http.post(FEEDS, content=b"{not json", headers=api.auth())
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["message"]
    r = await api.http.post(FEEDS, json=["a"], headers=api.auth())
    assert r.status_code == 400


async def test_project_scoped_feeds_are_separate(api: Api) -> None:
    r = await api.http.post(f"/{ORG}/proj/_apis/packaging/feeds", json={"name": "pf"}, headers=api.auth())
    assert r.status_code == 201
    assert r.json()["project"]["name"] == "proj"
    assert (await api.http.get(f"/{ORG}/proj/_apis/packaging/feeds/pf", headers=api.auth())).status_code == 200
    assert (await api.http.get(f"{FEEDS}/pf", headers=api.auth())).status_code == 404
    # the same name may exist org-scoped too
    await api.create_feed("pf")


async def test_patch_feed_settings_and_upstream_sources(api: Api) -> None:
    await api.create_feed("settings")
    body = {
        "description": "changed",
        "upstreamEnabled": False,
        "allowUpstreamNameConflict": True,
        "upstreamSources": [
            {
                "name": "custom",
                "protocol": "npm",
                "location": "http://127.0.0.1:9/registry/",
                "upstreamSourceType": "public",
            },
        ],
    }
    r = await api.http.patch(f"{FEEDS}/settings?api-version=7.1", json=body, headers=api.auth())
    assert r.status_code == 200, r.text
    feed = r.json()
    assert feed["description"] == "changed"
    assert feed["upstreamEnabled"] is False
    assert feed["allowUpstreamNameConflict"] is True
    (src,) = feed["upstreamSources"]
    assert src["id"] and src["status"] == "unknown" and src["location"] == "http://127.0.0.1:9/registry/"
    again = (await api.http.get(f"{FEEDS}/settings", headers=api.auth())).json()
    assert again["upstreamSources"] == feed["upstreamSources"]


async def test_bad_upstream_sources_are_400(api: Api) -> None:
    await api.create_feed("ups")
    for sources, expected in [
        ("nope", "upstreamSources: Input should be a valid list"),
        ([{"protocol": "npm", "location": "http://127.0.0.1:1/"}], "upstreamSources[0].name: Field required"),
        (
            [{"name": "x", "protocol": "gopher", "location": "http://127.0.0.1:1/"}],
            "upstreamSources[0].protocol: Input should be 'npm', 'pypi', 'nuget', 'maven', 'cargo' or 'upack'",
        ),
        ([{"name": "x", "protocol": "npm"}], "upstreamSources[0].name: 'x' is not a configured public source"),
        ([{"name": "x", "protocol": "npm", "location": "ftp://host/"}], "upstreamSources[0].location: must be an http"),
        ([{"name": "x"}, 5], "upstreamSources[1]: must be an upstream source"),
    ]:
        for r in (
            await api.http.patch(f"{FEEDS}/ups", json={"upstreamSources": sources}, headers=api.auth()),
            await api.http.post(FEEDS, json={"name": "new", "upstreamSources": sources}, headers=api.auth()),
        ):
            assert r.status_code == 400, sources
            assert r.json()["message"].startswith(expected), (sources, r.json()["message"])


async def test_rename_frees_the_old_name(api: Api) -> None:
    feed = await api.create_feed("old")
    r = await api.http.patch(f"{FEEDS}/old", json={"name": "new"}, headers=api.auth())
    assert r.status_code == 200
    assert (await api.http.get(f"{FEEDS}/new", headers=api.auth())).json()["id"] == feed["id"]
    assert (await api.http.get(f"{FEEDS}/old", headers=api.auth())).status_code == 404
    await api.create_feed("old")


async def test_if_match_guards_feed_updates(api: Api) -> None:
    await api.create_feed("guarded")
    etag = (await api.http.get(f"{FEEDS}/guarded", headers=api.auth())).headers["etag"]
    r = await api.http.patch(f"{FEEDS}/guarded", json={"description": "a"}, headers={**api.auth(), "If-Match": etag})
    assert r.status_code == 200
    r = await api.http.patch(f"{FEEDS}/guarded", json={"description": "b"}, headers={**api.auth(), "If-Match": etag})
    assert r.status_code == 412


async def test_concurrent_permission_changes_lose_nothing(api: Api) -> None:
    await api.create_feed("busy")
    await asyncio.gather(*(api.grant("busy", f"user{i}", "reader") for i in range(8)))
    r = await api.http.get(f"{FEEDS}/busy/permissions", headers=api.auth())
    users = {p["identityDescriptor"] for p in r.json()["value"]}
    assert {f"user{i}" for i in range(8)} <= users


async def test_delete_feed(api: Api) -> None:
    await api.create_feed("gone")
    assert (await api.http.delete(f"{FEEDS}/gone", headers=api.auth())).status_code == 204
    assert (await api.http.get(f"{FEEDS}/gone", headers=api.auth())).status_code == 404
    assert (await api.http.get(api.registry("gone") + "-/whoami", headers=api.auth())).status_code == 404


async def test_feed_settings_need_the_owner_role(feed_api: Api) -> None:
    api = feed_api
    assert (await api.http.get(f"{FEEDS}/feed", headers=api.auth("bob"))).status_code == 200
    r = await api.http.patch(f"{FEEDS}/feed", json={"description": "x"}, headers=api.auth("alice"))
    assert r.status_code == 403
    assert "Feed Owner (administrator)" in r.json()["message"]
    assert (await api.http.delete(f"{FEEDS}/feed", headers=api.auth("alice"))).status_code == 403
    r = await api.http.post(FEEDS, json={"name": "mine"}, headers=api.auth("alice"))
    assert r.status_code == 403


async def test_views_crud(api: Api) -> None:
    await api.create_feed("v")
    base = f"{FEEDS}/v/views"
    r = await api.http.post(base, json={"name": "Staging", "visibility": "Organization"}, headers=api.auth())
    assert r.status_code == 201
    view = r.json()
    assert view["type"] == "release" and view["visibility"] == "organization"
    assert (await api.http.post(base, json={"name": "staging"}, headers=api.auth())).status_code == 409
    r = await api.http.patch(f"{base}/{view['id']}", json={"name": "QA"}, headers=api.auth())
    assert r.json()["name"] == "QA"
    assert (await api.http.get(f"{base}/QA", headers=api.auth())).json()["id"] == view["id"]
    names = [v["name"] for v in (await api.http.get(base, headers=api.auth())).json()["value"]]
    assert names == ["Local", "Prerelease", "Release", "QA"]
    assert (await api.http.delete(f"{base}/QA", headers=api.auth())).status_code == 204
    assert (await api.http.get(f"{base}/QA", headers=api.auth())).status_code == 404


async def test_local_view_cannot_be_deleted_or_renamed(api: Api) -> None:
    await api.create_feed("lv")
    assert (await api.http.delete(f"{FEEDS}/lv/views/Local", headers=api.auth())).status_code == 400
    r = await api.http.patch(f"{FEEDS}/lv/views/Local", json={"name": "Everything"}, headers=api.auth())
    assert r.status_code == 400
    r = await api.http.post(f"{FEEDS}/lv/views", json={"name": "bad/name"}, headers=api.auth())
    assert r.status_code == 400
    r = await api.http.patch(f"{FEEDS}/lv/views/Release", json={"visibility": "everyone"}, headers=api.auth())
    assert r.status_code == 400


async def test_permissions(api: Api) -> None:
    await api.create_feed("p")
    url = f"{FEEDS}/p/permissions?api-version=7.1"
    r = await api.http.patch(
        url,
        json=[{"role": "contributor", "identityDescriptor": "alice"}, {"role": "owner", "identityDescriptor": "erin"}],
        headers=api.auth(),
    )
    assert r.status_code == 200
    roles = {p["identityDescriptor"]: p["role"] for p in r.json()["value"]}
    assert roles == {"admin": "administrator", "alice": "contributor", "erin": "administrator"}
    r = await api.http.patch(url, json=[{"role": "none", "identityDescriptor": "alice"}], headers=api.auth())
    assert "alice" not in {p["identityDescriptor"] for p in r.json()["value"]}
    bad = [
        [{"role": "king", "identityDescriptor": "x"}],
        [{"role": "reader"}],
        {"role": "reader"},
        [{"role": "reader", "identityDescriptor": "../x"}],
    ]
    for body in bad:
        assert (await api.http.patch(url, json=body, headers=api.auth())).status_code == 400, body
    r = await api.http.patch(
        url,
        json=[{"role": "none", "identityDescriptor": "admin"}, {"role": "none", "identityDescriptor": "erin"}],
        headers=api.auth(),
    )
    assert r.status_code == 400
    assert "at least one administrator" in r.json()["message"]


async def test_unknown_things_are_404(api: Api) -> None:
    assert (await api.http.get(f"{FEEDS}/nosuch", headers=api.auth())).status_code == 404
    # The token belongs to another organization: 401, whether or not this one exists.
    r = await api.http.get("/otherorg/_apis/packaging/feeds", headers=api.auth())
    assert r.status_code == 401
    assert "organization" in r.json()["message"]
    assert (await api.http.get(f"/{ORG}/_apis/nothing/here", headers=api.auth())).status_code == 404
    assert (await api.http.get("/nowhere", headers=api.auth())).status_code == 404


async def test_default_view_id_takes_a_view_id_not_a_name(api: Api) -> None:
    feed = await api.create_feed("views")
    release = next(v for v in feed["views"] if v["name"] == "Release")
    for bad in ("Release", "release", "00000000-0000-0000-0000-000000000000"):
        r = await api.http.patch(f"{FEEDS}/views", json={"defaultViewId": bad}, headers=api.auth())
        assert r.status_code == 400 and "is not the id of a view" in r.json()["message"], bad
    r = await api.http.get(f"{FEEDS}/views", headers=api.auth())
    assert r.json()["defaultViewId"] == feed["views"][0]["id"]  # nothing changed
    r = await api.http.patch(f"{FEEDS}/views", json={"defaultViewId": release["id"].upper()}, headers=api.auth())
    assert r.status_code == 200 and r.json()["defaultViewId"] == release["id"]
