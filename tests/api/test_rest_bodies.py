"""REST bodies against their models: every bad shape is a 400 naming the field by its JSON path, and
changes nothing; unknown fields are ignored; PATCH leaves out what a body leaves out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import ORG, Api

FEEDS = f"/{ORG}/_apis/packaging/feeds"
FEED = f"{FEEDS}/feed"
PATS = f"/{ORG}/_apis/tokens/pats"
BIN = f"/{ORG}/_apis/packaging/feedrecyclebin"
NPM_VERSION = f"{FEED}/npm/left-pad/versions/1.0.0"
PYPI_VERSION = f"{FEED}/pypi/packages/demo/versions/1.0"
UPSTREAMING = f"{FEED}/npm/packages/@scope/name/upstreaming"
NOT_AN_OBJECT = "the request body: Input should be an object"

#: (method, path, body, what the message must say)
BAD_BODIES: list[tuple[str, str, Any, str]] = [
    ("POST", FEEDS, {"name": "x", "upstreamEnabled": "yes"}, "upstreamEnabled: Input should be a valid boolean"),
    ("POST", FEEDS, {"name": "x", "upstreamEnabled": 1}, "upstreamEnabled: Input should be a valid boolean"),
    ("POST", FEEDS, {"name": 5}, "name: Input should be a valid string"),
    ("POST", FEEDS, {"description": "d"}, "name: Field required"),
    ("POST", FEEDS, {"name": ""}, "name: String should have at least 1 character"),
    ("POST", FEEDS, {"name": "x", "description": ["d"]}, "description: Input should be a valid string"),
    ("POST", FEEDS, {"name": "x", "description": "d" * 256}, "description: String should have at most 255 characters"),
    ("POST", FEEDS, {"name": "x", "upstreamSources": {"name": "a"}}, "upstreamSources: Input should be a valid list"),
    ("POST", FEEDS, {"name": "x", "upstreamSources": [[{"deep": [1]}]]}, "upstreamSources[0]"),
    (
        "POST",
        FEEDS,
        {"name": "x", "minimumReleaseAgeHours": 1e300},
        "minimumReleaseAgeHours: must be a number of hours",
    ),
    (
        "POST",
        FEEDS,
        {"name": "x", "minimumReleaseAgeHours": 10**300},
        "minimumReleaseAgeHours: must be a number of hours",
    ),
    (
        "POST",
        FEEDS,
        {"name": "x", "minimumReleaseAgeHours": False},
        "minimumReleaseAgeHours: must be a number of hours",
    ),
    ("POST", FEEDS, {"name": "x", "minimumReleaseAgeHours": "1"}, "minimumReleaseAgeHours: must be a number of hours"),
    ("POST", FEEDS, {"name": "x", "minimumReleaseAgeHours": -0.5}, "minimumReleaseAgeHours: must be a number of hours"),
    ("POST", FEEDS, {"name": "x", "minimumReleaseAgeExemptions": [["a"]]}, "minimumReleaseAgeExemptions[0]: Input"),
    ("POST", FEEDS, [{"name": "x"}], NOT_AN_OBJECT),
    ("POST", FEEDS, "feed", NOT_AN_OBJECT),
    ("POST", FEEDS, 5, NOT_AN_OBJECT),
    ("POST", FEEDS, None, NOT_AN_OBJECT),
    ("PATCH", FEED, {"hideDeletedPackageVersions": 1}, "hideDeletedPackageVersions: Input should be a valid boolean"),
    ("PATCH", FEED, {"badgesEnabled": "true"}, "badgesEnabled: Input should be a valid boolean"),
    ("PATCH", FEED, {"allowUpstreamNameConflict": {}}, "allowUpstreamNameConflict: Input should be a valid boolean"),
    ("PATCH", FEED, {"defaultViewId": 7}, "defaultViewId: Input should be a valid string"),
    ("PATCH", FEED, {"name": {"first": "x"}}, "name: Input should be a valid string"),
    ("PATCH", FEED, {"upstreamSources": "npmjs"}, "upstreamSources: Input should be a valid list"),
    ("PATCH", FEED, {"minimumReleaseAgeExemptions": "@a/*"}, "minimumReleaseAgeExemptions: Input should be a valid"),
    ("PATCH", FEED, [], NOT_AN_OBJECT),
    ("POST", f"{FEED}/views", {"visibility": "private"}, "name: Field required"),
    ("POST", f"{FEED}/views", {"name": "v", "visibility": "public"}, "visibility: Input should be private, collection"),
    ("POST", f"{FEED}/views", {"name": "v", "visibility": 1}, "visibility: Input should be a valid string"),
    ("PATCH", f"{FEED}/views/Release", {"visibility": True}, "visibility: Input should be a valid string"),
    ("PATCH", f"{FEED}/views/Release", {"name": ["Release2"]}, "name: Input should be a valid string"),
    ("PATCH", f"{FEED}/permissions", {"role": "reader"}, "the request body: Input should be a valid list"),
    ("PATCH", f"{FEED}/permissions", [{"role": "reader"}], "[0].identityDescriptor: Field required"),
    ("PATCH", f"{FEED}/permissions", [{"role": 1, "identityDescriptor": "bob"}], "[0].role: Input should be a valid"),
    ("PATCH", f"{FEED}/permissions", [{"role": "boss", "identityDescriptor": "bob"}], "[0].role: unknown role"),
    ("PATCH", f"{FEED}/permissions", ["bob"], "[0]: Input should be an object"),
    ("POST", PATS, {"scope": "vso.code"}, "scope: unknown scope"),
    ("POST", PATS, {"scope": ["vso.packaging"]}, "scope: Input should be a valid string"),
    ("POST", PATS, {"validTo": "yesterday"}, "validTo: Input should be an ISO-8601 date and time"),
    ("POST", PATS, {"validTo": "2026-12-01T00:00:00"}, "validTo: Input should include a time zone"),
    ("POST", PATS, {"validTo": 1893456000}, "validTo: Input should be a valid datetime"),
    ("POST", PATS, {"user": 5}, "user: Input should be a valid string"),
    ("POST", PATS, {"displayName": False}, "displayName: Input should be a valid string"),
    ("PATCH", UPSTREAMING, {}, "versionsFromExternalUpstreams: Field required"),
    ("PATCH", UPSTREAMING, {"versionsFromExternalUpstreams": True}, "versionsFromExternalUpstreams: Input should be"),
    ("PATCH", UPSTREAMING, {"versionsFromExternalUpstreams": "sometimes"}, "versionsFromExternalUpstreams: "),
    ("PATCH", NPM_VERSION, {"views": "Release"}, "views: Input should be an object"),
    ("PATCH", NPM_VERSION, {"views": {"op": "remove", "value": "Release"}}, "views.op: Input should be 'add'"),
    ("PATCH", NPM_VERSION, {"views": {"op": "add"}}, "views.value: Field required"),
    ("PATCH", NPM_VERSION, {"deprecateMessage": 5}, "deprecateMessage: Input should be a valid string"),
    ("PATCH", NPM_VERSION, {"yanked": True}, "nothing to change: send views and/or deprecateMessage"),
    ("PATCH", PYPI_VERSION, {"yanked": "yes"}, "yanked: Input should be a valid boolean"),
    ("PATCH", PYPI_VERSION, {"yanked": True, "yankedReason": 5}, "yankedReason: Input should be a valid string"),
    ("PATCH", PYPI_VERSION, {"yanked": True, "yankedReason": None}, "yankedReason: Input should be a valid string"),
    ("PATCH", PYPI_VERSION, {"deprecateMessage": "old"}, "nothing to change: send views and/or yanked"),
    ("PATCH", f"{BIN}/gone", [{"op": "replace", "path": "/isDeleted", "value": 0}], "[0].value: Input should be a"),
    ("PATCH", f"{BIN}/gone", [{"op": "replace", "path": "/name", "value": False}], "[0].path: Input should be"),
]


async def _state(api: Api) -> list[Any]:
    """What a refused request must leave as it was."""
    urls = [FEEDS, BIN, PATS, f"{FEED}/permissions", UPSTREAMING, f"{FEED}/pypi/packages/demo/upstreaming"]
    return [(await api.http.get(url, headers=api.auth())).json() for url in urls]


@pytest.fixture
async def world(api: Api) -> Api:
    await api.create_feed("feed")
    await api.create_feed("gone")
    assert (await api.http.delete(f"{FEEDS}/gone", headers=api.auth())).status_code == 204
    return api


async def test_each_bad_body_is_a_400_naming_the_field_and_changes_nothing(world: Api) -> None:
    api = world
    before = await _state(api)
    for method, url, body, words in BAD_BODIES:
        headers = {**api.auth(), "Content-Type": "application/json"}
        r = await api.http.request(method, url, content=json.dumps(body).encode(), headers=headers)
        assert r.status_code == 400, (method, url, body, r.text)
        assert words in r.json()["message"], (method, url, body, r.json()["message"])
        assert r.json()["typeName"] == "BadRequestError"
    assert await _state(api) == before


@pytest.mark.parametrize(
    ("method", "url", "entries", "words"),
    [
        (
            "POST",
            FEEDS,
            lambda n: {"name": "x", "upstreamSources": [{}] * n},
            "upstreamSources: List should have at most 50",
        ),
        ("PATCH", FEED, lambda n: {"upstreamSources": [1] * n}, "upstreamSources: List should have at most 50"),
        ("PATCH", f"{FEED}/permissions", lambda n: [{}] * n, "the request body: List should have at most 1000"),
    ],
)
async def test_a_body_of_many_bad_entries_is_refused_by_its_length(
    world: Api, method: str, url: str, entries: Any, words: str
) -> None:
    """A list near the 1 MiB limit is refused by its length alone, not after one error per entry (seconds of CPU)."""
    body = json.dumps(entries(250_000)).encode()
    assert len(body) < 1024 * 1024
    r = await world.http.request(
        method, url, content=body, headers={**world.auth(), "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["message"].startswith(words), r.text[:300]
    assert ";" not in r.json()["message"]  # one error, not one an entry


async def test_restoring_with_a_bad_patch_says_what_to_send(world: Api) -> None:
    r = await world.http.patch(f"{BIN}/gone", json=[{"op": "add", "path": "/isDeleted"}], headers=world.auth())
    assert r.status_code == 400
    assert r.json()["message"].startswith("[0].op: Input should be 'replace'; [0].value: Field required; to restore")
    assert '"path": "/isDeleted", "value": false' in r.json()["message"]


async def test_secrets_in_a_bad_body_are_not_echoed(world: Api) -> None:
    secret = "s3cr3t-" + "x" * 300
    r = await world.http.post(FEEDS, json={"name": "x", "description": secret}, headers=world.auth())
    assert r.status_code == 400 and "s3cr3t" not in r.text


async def test_a_feed_sent_back_as_read_changes_nothing(world: Api) -> None:
    """Azure clients PATCH the whole body they read: the fields only GET shows are ignored."""
    api = world
    shown = (await api.http.get(FEED, headers=api.auth())).json()
    r = await api.http.patch(FEED, json=shown, headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json() == shown
    view = (await api.http.get(f"{FEED}/views/Release", headers=api.auth())).json()
    r = await api.http.patch(f"{FEED}/views/Release", json=view, headers=api.auth())
    assert r.status_code == 200 and r.json() == view


async def test_patch_changes_only_what_the_body_names(world: Api) -> None:
    api = world
    r = await api.http.patch(
        FEED,
        json={"description": "d", "minimumReleaseAgeHours": 12, "minimumReleaseAgeExemptions": ["@me/*"]},
        headers=api.auth(),
    )
    assert r.status_code == 200, r.text
    r = await api.http.patch(
        FEED, json={"badgesEnabled": True, "name": None, "upstreamEnabled": None}, headers=api.auth()
    )
    feed = r.json()
    assert feed["badgesEnabled"] is True and feed["name"] == "feed" and feed["upstreamEnabled"] is True
    assert feed["description"] == "d" and feed["minimumReleaseAgeHours"] == 12
    assert feed["minimumReleaseAgeExemptions"] == ["@me/*"]
    r = await api.http.patch(FEED, json={"minimumReleaseAgeHours": None}, headers=api.auth())
    assert r.json()["minimumReleaseAgeHours"] is None and r.json()["minimumReleaseAgeExemptions"] == ["@me/*"]


async def test_case_insensitive_words_still_parse(world: Api) -> None:
    api = world
    r = await api.http.post(f"{FEED}/views", json={"name": "shared", "visibility": "AADTENANT"}, headers=api.auth())
    assert r.status_code == 201 and r.json()["visibility"] == "aadTenant"
    r = await api.http.patch(
        f"{FEED}/permissions", json=[{"role": "Owner", "identityDescriptor": "bob"}], headers=api.auth()
    )
    assert r.status_code == 200
    assert {"role": "administrator", "identityDescriptor": "bob"}.items() <= r.json()["value"][-1].items()
    r = await api.http.post(
        PATS, json={"scope": "VSO.Packaging_Write", "validTo": "2027-01-01t00:00:00z"}, headers=api.auth()
    )
    assert r.status_code == 200 and r.json()["patToken"]["scope"] == "vso.packaging_write"
    assert r.json()["patToken"]["validTo"].startswith("2027-01-01T00:00:00")


async def test_another_method_on_a_known_path_is_405_with_allow(world: Api) -> None:
    r = await world.http.put(FEEDS, json={"name": "x"}, headers=world.auth())
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert r.json()["message"] == "_apis/packaging/feeds takes GET, POST, not PUT"
    r = await world.http.post(f"{FEED}/health", headers=world.auth())
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    r = await world.http.get(f"{FEED}/nothing-here", headers=world.auth())
    assert r.status_code == 404 and "no such API" in r.json()["message"]
