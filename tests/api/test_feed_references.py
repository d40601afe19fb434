"""Feed and view references cannot be taken over: names never look like ids, and a reference that
matches one record's name and another's id is refused instead of silently picking one."""

from __future__ import annotations

import uuid

from tests.api.conftest import ORG, Api

FEEDS = f"/{ORG}/_apis/packaging/feeds"


async def test_renaming_a_feed_to_another_feeds_id_is_refused(feed_api: Api) -> None:
    api = feed_api
    victim = (await api.http.get(f"{FEEDS}/feed", headers=api.auth())).json()
    await api.create_feed("attacker")
    assert (await api.publish("pkg", "1.0.0", feed="feed")).status_code == 201
    r = await api.http.patch(f"{FEEDS}/attacker", json={"name": victim["id"]}, headers=api.auth())
    assert r.status_code == 400, r.text
    assert "GUID" in r.json()["message"]
    # Every URL with the victim's id, including the url the API returns, still reaches the victim.
    r = await api.http.get(victim["url"], headers=api.auth())
    assert r.status_code == 200 and r.json()["name"] == "feed"
    r = await api.http.get(api.registry(victim["id"]) + "pkg", headers=api.auth())
    assert r.status_code == 200 and "1.0.0" in r.json()["versions"]
    r = await api.publish("pkg2", "1.0.0", feed=victim["id"])
    assert r.status_code == 201
    assert (await api.http.get(api.registry("attacker") + "pkg2", headers=api.auth())).status_code == 404


async def test_guid_shaped_feed_and_view_names_are_400(api: Api) -> None:
    await api.create_feed("f")
    guid = str(uuid.uuid4())
    for name in (guid, guid.upper(), guid.replace("-", "")):
        r = await api.http.post(FEEDS, json={"name": name}, headers=api.auth())
        assert r.status_code == 400, name
        assert "GUID" in r.json()["message"]
        r = await api.http.post(f"{FEEDS}/f/views", json={"name": name}, headers=api.auth())
        assert r.status_code == 400, name
        r = await api.http.patch(f"{FEEDS}/f/views/Release", json={"name": name}, headers=api.auth())
        assert r.status_code == 400, name
        assert "invalid view name" in r.json()["message"]
    # A name that merely contains hex stays allowed.
    await api.create_feed("deadbeef-cafe")


async def test_renaming_to_a_name_another_feed_holds_is_409(api: Api) -> None:
    await api.create_feed("one")
    await api.create_feed("two")
    r = await api.http.patch(f"{FEEDS}/two", json={"name": "ONE"}, headers=api.auth())
    assert r.status_code == 409
    assert "already exists" in r.json()["message"]
    # Sending the feed's own name back (a PATCH of the whole document) is not a rename.
    r = await api.http.patch(f"{FEEDS}/two", json={"name": "two", "description": "d"}, headers=api.auth())
    assert r.status_code == 200


async def test_renaming_a_view_to_another_views_name_is_409(api: Api) -> None:
    await api.create_feed("v")
    views = (await api.http.get(f"{FEEDS}/v/views", headers=api.auth())).json()["value"]
    release = next(v for v in views if v["name"] == "Release")
    r = await api.http.patch(f"{FEEDS}/v/views/Prerelease", json={"name": "release"}, headers=api.auth())
    assert r.status_code == 409
    r = await api.http.patch(f"{FEEDS}/v/views/Prerelease", json={"name": release["id"]}, headers=api.auth())
    assert r.status_code == 400


async def test_a_stored_name_equal_to_another_feeds_id_is_a_conflict(feed_api: Api) -> None:
    """Data written before GUID-shaped names were refused: the lookup refuses to choose."""
    api = feed_api
    victim = await api.services.catalog.find_feed(ORG, None, "feed")
    attacker_json = await api.create_feed("attacker")
    attacker = await api.services.catalog.find_feed(ORG, None, "attacker")
    assert victim is not None and attacker is not None
    attacker.name = victim.id
    await api.services.catalog.update_feed(attacker, old_name="attacker")
    for url in (f"{FEEDS}/{victim.id}", f"{FEEDS}/{victim.id.upper()}/views"):
        r = await api.http.get(url, headers=api.auth())
        assert r.status_code == 409, url
        assert "ambiguous" in r.json()["message"]
    r = await api.publish("pkg", "1.0.0", feed=victim.id)
    assert r.status_code == 409 and "ambiguous" in r.json()["error"]
    r = await api.http.get(f"/{ORG}/_packaging/{victim.id}/pypi/simple/", headers=api.auth())
    assert r.status_code == 409
    # Each feed is still reachable by its other reference, and the stray name can be fixed.
    assert (await api.http.get(f"{FEEDS}/feed", headers=api.auth())).json()["id"] == victim.id
    r = await api.http.patch(f"{FEEDS}/{attacker_json['id']}", json={"name": "attacker"}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert (await api.http.get(f"{FEEDS}/{victim.id}", headers=api.auth())).json()["name"] == "feed"


async def test_a_stored_view_name_equal_to_another_views_id_is_a_conflict(feed_api: Api) -> None:
    api = feed_api
    feed = await api.services.catalog.find_feed(ORG, None, "feed")
    assert feed is not None
    release = next(v for v in feed.views if v.name == "Release")
    prerelease = next(v for v in feed.views if v.name == "Prerelease")
    prerelease.name = release.id
    await api.services.catalog.update_feed(feed)
    api.services.feeds._cache.clear()  # the crafted write bypassed the service
    r = await api.http.get(f"{FEEDS}/feed/views/{release.id}", headers=api.auth())
    assert r.status_code == 409 and "view reference" in r.json()["message"]
    r = await api.http.get(api.registry("feed", release.id) + "pkg", headers=api.auth())
    assert r.status_code == 409
    assert (await api.http.get(f"{FEEDS}/feed/views/Release", headers=api.auth())).json()["id"] == release.id
