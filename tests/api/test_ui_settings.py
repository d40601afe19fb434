"""Feed settings in the web UI, on both storage backends: upstream sources (add each kind, reorder with buttons
and by the drag field, disable, enable, remove) with their health, views, permissions and general settings.
Every change goes through the same services as the REST API, so the refusals are the REST API's messages."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from feed_core import jobs
from feed_core.domain.models import Feed, ViewVisibility
from feed_core.domain.roles import Role
from feed_core.service.container import build_services
from feed_core.storage.health import UpstreamHealth
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process
from tests.ui_client import hidden, sign_in

BASE = "http://feed.test"
SETTINGS = f"/{ORG}/_artifacts/feed/feed/settings"
UPSTREAMS = f"{SETTINGS}/upstreams"
FEEDS = f"/{ORG}/_apis/packaging/feeds"
DEAD = "http://127.0.0.1:9/"  # the discard port: nothing listens there
SECTIONS = ("", "/upstreams", "/views", "/permissions", "/general")


@pytest.fixture
async def api(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Api]:
    """The app with public sources configured, a feed ``feed`` with staff, and a second feed ``base``."""
    settings = make_settings(
        public_sources={"npmjs": {"protocol": "npm", "url": DEAD + "npm/"}, "PyPI": {"protocol": "pypi", "url": DEAD}}
    )
    services = await build_services(settings, clock=clock)
    await services.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    async with httpx.AsyncClient(transport=in_process(services), base_url=BASE) as http:
        api = Api(http, services)
        await api.create_feed("feed")
        await api.staff("feed")
        await api.create_feed("base")
        yield api
    await services.close()


@asynccontextmanager
async def browser(api: Api, token: str = ADMIN_TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=in_process(api.services), base_url=BASE) as http:
        assert (await sign_in(http, token)).status_code == 303
        yield http


@pytest.fixture
async def admin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(api) as http:
        yield http


async def stored(api: Api, name: str = "feed") -> Feed:
    found = await api.services.catalog.find_feed(ORG, None, name)
    assert found is not None
    return found


async def post(http: httpx.AsyncClient, section: str, fields: dict[str, str], page: str = "") -> httpx.Response:
    """Post ``fields`` to a section, with the CSRF token and the feed's ETag its page carries."""
    url = f"{SETTINGS}/{section}"
    shown = await http.get(page or url)
    assert shown.status_code == 200, shown.text
    data = {"csrf": hidden(shown.text, "csrf"), **fields}
    if 'name="etag"' in shown.text and "etag" not in fields:
        data["etag"] = hidden(shown.text, "etag")
    return await http.post(url, data=data, headers={"Origin": BASE})


def ok(r: httpx.Response) -> None:
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(SETTINGS)


def shown(r: httpx.Response) -> str:
    return html.unescape(r.text)


async def rest_message(api: Api, sources: list[dict[str, Any]]) -> str:
    r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources}, headers=api.auth())
    assert r.status_code == 400, r.text
    return str(r.json()["message"])


# --- who may --------------------------------------------------------------------------------------


async def test_only_administrators(api: Api) -> None:
    for who in ("bob", "alice", "carol"):
        async with browser(api, api.tokens[who]) as http:
            for section in SECTIONS:
                r = await http.get(SETTINGS + section)
                assert r.status_code == 403, (who, section)
                assert "Feed Owner" in shown(r)
            home = await http.get(f"/{ORG}/_artifacts")
            r = await http.post(
                f"{SETTINGS}/permissions",
                data={"csrf": hidden(home.text, "csrf"), "action": "set", "user": who, "role": "administrator"},
            )
            assert r.status_code == 403
    assert {p.user: p.role for p in (await stored(api)).permissions}["bob"] is Role.READER
    # an administrator's read-only token cannot change settings either
    await api.grant("feed", "dora", "administrator")
    async with browser(api, await api.token("dora", "vso.packaging")) as http:
        r = await http.get(UPSTREAMS)
        assert r.status_code == 403 and "vso.packaging" in shown(r)


async def test_posts_need_the_csrf_token(api: Api, admin: httpx.AsyncClient) -> None:
    r = await admin.post(f"{SETTINGS}/permissions", data={"action": "set", "user": "mallory", "role": "administrator"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await admin.post(f"{SETTINGS}/general", data={"csrf": "nope", "action": "save", "description": "x"})
    assert r.status_code == 403
    assert all(p.user != "mallory" for p in (await stored(api)).permissions)


async def test_unknown_feed_section_and_action(admin: httpx.AsyncClient) -> None:
    assert (await admin.get(f"/{ORG}/_artifacts/feed/nope/settings")).status_code == 404
    assert (await admin.get(f"{SETTINGS}/secrets")).status_code == 404
    assert (await post(admin, "views", {"action": "explode"})).status_code == 400
    assert (await post(admin, "upstreams", {"action": "up:no-such-id"})).status_code == 404
    assert (await admin.get(f"{UPSTREAMS}?remove=no-such-id")).status_code == 404


# --- upstream sources -----------------------------------------------------------------------------


async def test_add_each_kind_reorder_disable_and_remove(api: Api, admin: httpx.AsyncClient) -> None:
    page = shown(await admin.get(SETTINGS))  # upstreams is the first section
    assert "no upstream sources" in page and "npmjs (npm, http://127.0.0.1:9/npm/)" in page
    ok(await post(admin, "upstreams", {"action": "add-public", "public": "npmjs"}))
    ok(
        await post(
            admin,
            "upstreams",
            {"action": "add-custom", "name": "partner", "protocol": "npm", "location": DEAD, "token": "s3cret-tok"},
        )
    )
    # another feed's view: refused while it is private (the REST API's message), then shared and added
    r = await post(admin, "upstreams", {"action": "add-internal", "upstream": "base@Release", "protocol": "npm"})
    assert r.status_code == 400
    assert "cannot be an upstream source" in shown(r) and "collection" in shown(r)
    r = await api.http.patch(f"{FEEDS}/base/views/Release", json={"visibility": "collection"}, headers=api.auth())
    assert r.status_code == 200
    ok(await post(admin, "upstreams", {"action": "add-internal", "upstream": "base@Release", "protocol": "npm"}))
    feed = await stored(api)
    assert [s.name for s in feed.upstream_sources] == ["npmjs", "partner", "base@Release"]
    assert [s.kind for s in feed.upstream_sources] == ["public", "custom", "internal"]
    assert feed.upstream_sources[1].credentials is not None
    page = shown(await admin.get(UPSTREAMS))
    assert "s3cret-tok" not in page
    assert page.index("npmjs") < page.index("partner") < page.index("base@Release")
    ids = [s.id for s in feed.upstream_sources]

    ok(await post(admin, "upstreams", {"action": f"down:{ids[0]}"}))  # buttons, without JS
    ok(await post(admin, "upstreams", {"action": f"up:{ids[2]}"}))
    assert [s.id for s in (await stored(api)).upstream_sources] == [ids[1], ids[2], ids[0]]
    ok(await post(admin, "upstreams", {"order": ",".join(reversed(ids))}))  # the drag field
    assert [s.id for s in (await stored(api)).upstream_sources] == list(reversed(ids))
    r = await post(admin, "upstreams", {"order": ids[0]})  # not every source: the page was stale
    assert r.status_code == 409 and "reload" in shown(r)

    ok(await post(admin, "upstreams", {"action": f"disable:{ids[1]}"}))
    partner = next(s for s in (await stored(api)).upstream_sources if s.id == ids[1])
    assert partner.status == "disabled" and partner.credentials is not None  # credentials kept
    assert ">disabled<" in (await admin.get(UPSTREAMS)).text
    ok(await post(admin, "upstreams", {"action": f"enable:{ids[1]}"}))
    assert all(s.status == "ok" for s in (await stored(api)).upstream_sources)

    confirm = await admin.get(f"{UPSTREAMS}?remove={ids[0]}")
    assert confirm.status_code == 200 and "Remove the upstream source npmjs?" in shown(confirm)
    ok(await post(admin, "upstreams", {"action": "remove", "source": ids[0]}, page=f"{UPSTREAMS}?remove={ids[0]}"))
    assert [s.id for s in (await stored(api)).upstream_sources] == [ids[2], ids[1]]
    assert "Removed npmjs." in shown(await admin.get(UPSTREAMS))  # the notice, once


async def test_bad_sources_get_the_rest_apis_messages(api: Api, admin: httpx.AsyncClient) -> None:
    for location in ("ftp://host.example/", "https://u:p@host.example/", "not a url"):
        fields = {"action": "add-custom", "name": "c", "protocol": "npm", "location": location}
        r = await post(admin, "upstreams", fields)
        assert r.status_code == 400, location
        expected = await rest_message(api, [{"name": "c", "protocol": "npm", "location": location}])
        assert expected in shown(r), (expected, location)
        assert 'value="c"' in r.text  # the form keeps what was typed
    r = await post(admin, "upstreams", {"action": "add-public", "public": "crates"})
    assert r.status_code == 400
    assert await rest_message(api, [{"name": "crates", "upstreamSourceType": "public"}]) in shown(r)
    r = await post(
        admin, "upstreams", {"action": "add-custom", "name": "c", "protocol": "npm", "location": DEAD, "username": "u"}
    )
    assert r.status_code == 400 and '{"username": "...", "password": "..."}' in shown(r)
    r = await post(
        admin,
        "upstreams",
        {"action": "add-custom", "name": "c", "protocol": "npm", "location": DEAD, "password": "pw-secret-1"},
    )
    assert r.status_code == 400 and "pw-secret-1" not in r.text  # credentials are never shown again
    ok(await post(admin, "upstreams", {"action": "add-public", "public": "npmjs"}))
    r = await post(admin, "upstreams", {"action": "add-custom", "name": "NPMJS", "protocol": "npm", "location": DEAD})
    assert r.status_code == 400 and "two sources named" in shown(r)
    assert len((await stored(api)).upstream_sources) == 1


async def test_stale_page_is_refused_with_reload(api: Api, admin: httpx.AsyncClient) -> None:
    before = await admin.get(UPSTREAMS)
    ok(await post(admin, "upstreams", {"action": "add-public", "public": "npmjs"}))
    r = await admin.post(
        UPSTREAMS,
        data={
            "csrf": hidden(before.text, "csrf"),
            "etag": hidden(before.text, "etag"),
            "action": "add-public",
            "public": "PyPI",
        },
    )
    assert r.status_code == 412
    assert "changed since this page was loaded" in shown(r)
    assert [s.name for s in (await stored(api)).upstream_sources] == ["npmjs"]


async def test_health_shows_failures_with_reason_and_what_to_do(api: Api, admin: httpx.AsyncClient) -> None:
    ok(await post(admin, "upstreams", {"action": "add-custom", "name": "down", "protocol": "npm", "location": DEAD}))
    # a private-network registry is accepted as by the REST API, and refused when the feed connects to it
    fields = {"action": "add-custom", "name": "intranet", "protocol": "npm", "location": "http://10.1.2.3/"}
    ok(await post(admin, "upstreams", fields))
    page = shown(await admin.get(UPSTREAMS))
    assert ">unknown<" in page and "not checked yet" in page
    await jobs.run_health(api.services)
    page = shown(await admin.get(UPSTREAMS))
    assert ">failed<" in page
    assert (
        "could not connect to 127.0.0.1:9" in page and "Check the location, and that the registry is running." in page
    )
    assert "refused to connect to 10.1.2.3: the address is private" in page
    assert "FEED_UPSTREAM_ALLOWED_NETWORKS" in page
    assert "Last failure" in page and "(1 in a row)" in page


async def test_hostile_names_and_reasons_are_escaped(api: Api, admin: httpx.AsyncClient) -> None:
    evil = '<img src=x onerror="alert(1)">'
    r = await api.http.patch(
        f"{FEEDS}/feed",
        json={"upstreamSources": [{"name": evil, "protocol": "npm", "location": DEAD}], "description": evil},
        headers=api.auth(),
    )
    assert r.status_code == 200, r.text
    (src,) = (await stored(api)).upstream_sources
    reason = "<script>alert('reason')</script> javascript:alert(2)"
    await api.services.health.put(
        (await stored(api)).id,
        UpstreamHealth(
            src.id, status="failed", last_failure="2026-11-01T12:00:00Z", status_details=[{"reason": reason}]
        ),
    )
    for section in SECTIONS:
        r = await admin.get(SETTINGS + section)
        assert r.status_code == 200
        assert "<img src=x" not in r.text and "<script>alert" not in r.text
    page = (await admin.get(UPSTREAMS)).text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt;" in page
    assert (await admin.get(f"{UPSTREAMS}?remove={src.id}")).text.count("<img") == 0


async def test_change_a_source_and_its_credentials(api: Api, admin: httpx.AsyncClient) -> None:
    fields = {"action": "add-custom", "name": "partner", "protocol": "npm", "location": DEAD, "username": "u"}
    ok(await post(admin, "upstreams", {**fields, "password": "first-pass"}))
    (src,) = (await stored(api)).upstream_sources
    edit = f"{UPSTREAMS}?edit={src.id}"
    page = shown(await admin.get(edit))
    assert "Change the upstream source partner" in page and "first-pass" not in page

    change = {"action": "edit", "source": src.id, "name": "partner2", "location": DEAD + "v2/", "credentials": "keep"}
    ok(await post(admin, "upstreams", {**change, "minimum_release_age_hours": "12"}, page=edit))
    (src,) = (await stored(api)).upstream_sources
    assert src.name == "partner2" and src.location == DEAD + "v2/" and src.minimum_release_age_hours == 12
    assert src.credentials is not None and src.credentials.as_json()["password"] == "first-pass"
    # another host with the old credentials: the REST API's refusal, on the edit page
    r = await post(admin, "upstreams", {**change, "location": "http://127.0.0.2:9/"}, page=edit)
    assert r.status_code == 400 and "another host than its stored credentials" in shown(r)
    assert "Change the upstream source" in shown(r) and 'value="http://127.0.0.2:9/"' in r.text
    ok(await post(admin, "upstreams", {**change, "credentials": "replace", "token": "new-tok-1"}, page=edit))
    (src,) = (await stored(api)).upstream_sources
    assert src.credentials is not None and src.credentials.as_json() == {"token": "new-tok-1"}
    r = await post(admin, "upstreams", {**change, "credentials": "replace"}, page=edit)
    assert r.status_code == 400 and "type the new credentials" in shown(r)
    ok(await post(admin, "upstreams", {**change, "credentials": "keep", "token": "typed-tok"}, page=edit))
    (src,) = (await stored(api)).upstream_sources
    assert src.credentials is not None and src.credentials.as_json() == {"token": "typed-tok"}
    ok(await post(admin, "upstreams", {**change, "credentials": "remove"}, page=edit))
    (src,) = (await stored(api)).upstream_sources
    assert src.credentials is None and src.minimum_release_age_hours is None
    r = await post(admin, "upstreams", {**change, "minimum_release_age_hours": "-3"}, page=edit)
    assert r.status_code == 400 and "minimumReleaseAgeHours" in shown(r)
    assert (await admin.get(f"{UPSTREAMS}?edit=nope")).status_code == 404


# --- views -----------------------------------------------------------------------------------------


async def test_views_create_rename_share_and_delete(api: Api, admin: httpx.AsyncClient) -> None:
    ok(await post(admin, "views", {"action": "create", "name": "Beta", "visibility": "private"}))
    beta = next(v for v in (await stored(api)).views if v.name == "Beta")
    assert beta.visibility is ViewVisibility.PRIVATE
    r = await post(admin, "views", {"action": "create", "name": "beta", "visibility": "private"})
    assert r.status_code == 409 and "already exists" in shown(r) and 'value="beta"' in r.text
    r = await post(admin, "views", {"action": "create", "name": "bad/name", "visibility": "private"})
    assert r.status_code == 400
    ok(await post(admin, "views", {"action": "update", "view": beta.id, "name": "Gamma", "visibility": "collection"}))
    gamma = next(v for v in (await stored(api)).views if v.id == beta.id)
    assert gamma.name == "Gamma" and gamma.visibility is ViewVisibility.COLLECTION
    local = (await stored(api)).local_view
    r = await post(admin, "views", {"action": "update", "view": local.id, "name": "Other", "visibility": "private"})
    assert r.status_code == 400 and "cannot be renamed" in shown(r)
    ok(
        await post(
            admin, "views", {"action": "update", "view": local.id, "name": "Local", "visibility": "organization"}
        )
    )
    assert (await stored(api)).local_view.visibility is ViewVisibility.ORGANIZATION
    confirm = await admin.get(f"{SETTINGS}/views?delete={beta.id}")
    assert confirm.status_code == 200 and "Remove the view @Gamma?" in shown(confirm)
    ok(await post(admin, "views", {"action": "delete", "view": beta.id}))
    assert all(v.id != beta.id for v in (await stored(api)).views)
    assert (await admin.get(f"{SETTINGS}/views?delete=Local")).status_code == 200  # the page; the POST refuses
    r = await post(admin, "views", {"action": "delete", "view": local.id})
    assert r.status_code == 400 and "cannot be deleted" in shown(r)


# --- permissions -----------------------------------------------------------------------------------


async def test_permissions_add_change_remove(api: Api, admin: httpx.AsyncClient) -> None:
    ok(await post(admin, "permissions", {"action": "set", "user": "dave", "role": "reader"}))
    assert {p.user: p.role for p in (await stored(api)).permissions}["dave"] is Role.READER
    ok(await post(admin, "permissions", {"action": "set", "user": "dave", "role": "contributor"}))
    assert {p.user: p.role for p in (await stored(api)).permissions}["dave"] is Role.CONTRIBUTOR
    page = shown(await admin.get(f"{SETTINGS}/permissions"))
    assert "dave" in page and "Feed Publisher (contributor)" in page
    confirm = await admin.get(f"{SETTINGS}/permissions?remove=dave")
    assert confirm.status_code == 200 and "Remove the role of dave?" in shown(confirm)
    ok(
        await post(
            admin, "permissions", {"action": "remove", "user": "dave"}, page=f"{SETTINGS}/permissions?remove=dave"
        )
    )
    assert "dave" not in {p.user for p in (await stored(api)).permissions}
    r = await post(admin, "permissions", {"action": "set", "user": "bad user!", "role": "reader"})
    assert r.status_code == 400 and 'value="bad user!"' in r.text
    r = await post(admin, "permissions", {"action": "set", "user": "x", "role": "emperor"})
    assert r.status_code == 400 and "unknown role" in shown(r)
    assert (await admin.get(f"{SETTINGS}/permissions?remove=nobody")).status_code == 404
    r = await post(admin, "permissions", {"action": "remove", "user": "admin"})
    assert r.status_code == 400 and "at least one administrator" in shown(r)


# --- general ---------------------------------------------------------------------------------------


async def test_general_shows_the_feeds_storage_usage_as_last_measured(api: Api, admin: httpx.AsyncClient) -> None:
    page = shown(await admin.get(f"{SETTINGS}/general"))
    assert '<p id="storage-usage">Not measured yet.</p>' in page
    assert (await api.publish("sized", "1.0.0", who="alice")).status_code == 201
    r = await api.http.get(f"{FEEDS}/feed/usage", headers=api.auth())
    assert r.status_code == 200, r.text
    measured = r.json()
    page = shown(await admin.get(f"{SETTINGS}/general"))
    size = measured["totalBytes"]
    assert f"{size} bytes as of {measured['computedAt']}: {size} bytes published, 0 bytes saved" in page


async def test_general_settings_and_release_age(api: Api, admin: httpx.AsyncClient) -> None:
    fields = {
        "action": "save",
        "description": "Our team's packages",
        "upstream_enabled": "on",
        "minimum_release_age_hours": "48",
        "minimum_release_age_exemptions": "@myorg/*\nleft-pad\n",
    }
    ok(await post(admin, "general", fields))
    feed = await stored(api)
    assert feed.description == "Our team's packages" and feed.upstream_enabled
    assert feed.minimum_release_age_hours == 48 and feed.minimum_release_age_exemptions == ["@myorg/*", "left-pad"]
    page = shown(await admin.get(f"{SETTINGS}/general"))
    assert 'value="48.0"' in page and "@myorg/*\nleft-pad" in page

    r = await post(admin, "general", {**fields, "minimum_release_age_hours": "soon"})
    assert r.status_code == 400 and "number of hours" in shown(r) and 'value="soon"' in r.text
    r = await post(admin, "general", {**fields, "minimum_release_age_hours": "-1"})
    assert r.status_code == 400 and "minimumReleaseAgeHours: must be a number of hours" in shown(r)
    r = await post(admin, "general", {**fields, "minimum_release_age_exemptions": "*"})
    assert r.status_code == 400 and "would exempt every package" in shown(r)

    ok(
        await post(
            admin,
            "general",
            {
                "action": "save",
                "description": "",
                "minimum_release_age_hours": "",
                "minimum_release_age_exemptions": "",
            },
        )
    )
    feed = await stored(api)
    assert feed.minimum_release_age_hours is None and feed.minimum_release_age_exemptions == []
    assert not feed.upstream_enabled and feed.description == ""

    before = await admin.get(f"{SETTINGS}/general")
    r = await api.http.patch(f"{FEEDS}/feed", json={"description": "changed elsewhere"}, headers=api.auth())
    assert r.status_code == 200
    r = await admin.post(
        f"{SETTINGS}/general",
        data={"csrf": hidden(before.text, "csrf"), "etag": hidden(before.text, "etag"), **fields},
    )
    assert r.status_code == 412 and "Reload the page" in shown(r)
    assert (await stored(api)).description == "changed elsewhere"
