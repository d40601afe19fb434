"""The Cargo version REST API in Azure's shape, under ``…/cargo/packages/{name}/versions/{version}``: a version with
its provenance, promotion into a view, yank and unyank, deletion that keeps the number reserved, and the upstream
behaviour under ``…/cargo/packages/{name}/upstreaming``."""

from __future__ import annotations

import hashlib

import pytest

from tests.api.conftest import ORG, Api
from tests.api.test_cargo_hosting import cargo, errors, index_lines, index_path, publish, published, raw
from tests.cargo_packages import crate_bytes, dep

FEEDS = f"/{ORG}/_apis/packaging/feeds"
VERSIONS = f"{FEEDS}/feed/cargo/packages/My_Crate/versions"
CRATE = crate_bytes("My_Crate", "1.0.0+build.1")


@pytest.fixture
async def cargo_api(feed_api: Api) -> Api:
    deps = [dep("helper-lib", "^0.3", explicit_name_in_toml="helper")]
    await published(feed_api, "My_Crate", "1.0.0+build.1", crate=CRATE, description="a crate", deps=deps)
    return feed_api


async def test_a_version_shows_its_file_and_where_it_came_from(cargo_api: Api) -> None:
    api = cargo_api
    for name in ("My_Crate", "my_crate", "MY_CRATE"):
        url = f"{FEEDS}/feed/cargo/packages/{name}/versions/1.0.0%2Bbuild.1?api-version=7.2-preview.1"
        r = await api.http.get(url, headers=api.auth("bob"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == "1.0.0+build.1" and not body["isDeleted"]
        assert body["sourceChain"] == []
        assert body["files"][0]["name"] == "My_Crate-1.0.0+build.1.crate"
    assert hashlib.sha256(CRATE).hexdigest() in r.text
    assert body["dependencies"] == [{"packageName": "helper-lib", "versionRange": "^0.3", "group": "dependencies"}]
    missing = await api.http.get(f"{VERSIONS}/1.0.0", headers=api.auth("bob"))
    assert missing.status_code == 404 and "my_crate 1.0.0 does not exist" in missing.json()["message"]
    twin = await api.http.get(f"{FEEDS}/feed/cargo/packages/my-crate/versions/1.0.0+build.1", headers=api.auth("bob"))
    assert twin.status_code == 404


async def test_bad_names_and_versions_in_the_path_are_400(cargo_api: Api) -> None:
    for url, why in (
        (f"{FEEDS}/feed/cargo/packages/1crate/versions/1.0.0", "must start with an ASCII letter"),
        (f"{FEEDS}/feed/cargo/packages/my.crate/versions/1.0.0", "may contain only"),
        (f"{VERSIONS}/1.0", "not a semantic version"),
        (f"{FEEDS}/feed/cargo/packages/my.crate/upstreaming", "may contain only"),
    ):
        r = await cargo_api.http.get(url, headers=cargo_api.auth("bob"))
        assert r.status_code == 400, (url, r.text)
        assert why in r.json()["message"], r.text


async def test_yanked_true_and_false_flip_the_index_line(cargo_api: Api) -> None:
    api = cargo_api
    url = f"{VERSIONS}/1.0.0+build.1"
    r = await api.http.patch(url, json={"yanked": True}, headers=api.auth("bob"))
    assert r.status_code == 403
    r = await api.http.patch(url, json={"yanked": True}, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    assert [line["yanked"] for line in await index_lines(api, "my_crate")] == [True]
    shown = await api.http.get(url, headers=api.auth("bob"))
    assert shown.json()["isListed"] is False
    r = await api.http.patch(url, json={"yanked": False}, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    assert [line["yanked"] for line in await index_lines(api, "my_crate")] == [False]
    r = await api.http.patch(url, json={}, headers=api.auth("alice"))
    assert r.status_code == 400 and "nothing to change: send views and/or yanked" in r.json()["message"]
    r = await api.http.patch(url, json={"yanked": "yes"}, headers=api.auth("alice"))
    assert r.status_code == 400


async def test_promote_into_a_view_then_the_view_serves_it(cargo_api: Api) -> None:
    api = cargo_api
    url = f"{cargo(view='Release')}/index/{index_path('my_crate')}"
    assert (await api.http.get(url, headers=raw(api, "bob"))).status_code == 404
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    r = await api.http.patch(f"{VERSIONS}/1.0.0+build.1", json=promote, headers=api.auth("bob"))
    assert r.status_code == 403  # readers do not promote
    r = await api.http.patch(f"{VERSIONS}/1.0.0+build.1", json=promote, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    lines = await index_lines(api, "my_crate", view="Release")
    assert [line["vers"] for line in lines] == ["1.0.0+build.1"]
    dl = f"{cargo(view='Release')}/api/v1/crates/My_Crate/1.0.0+build.1/download"
    served = await api.http.get(dl, headers=raw(api, "bob"))
    assert served.status_code == 200 and served.content == CRATE


async def test_delete_keeps_the_number_reserved(cargo_api: Api) -> None:
    api = cargo_api
    url = f"{VERSIONS}/1.0.0+build.1"
    r = await api.http.delete(url, headers=api.auth("bob"))
    assert r.status_code == 403
    r = await api.http.delete(f"{url}?api-version=7.2-preview.1", headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    gone = await api.http.get(f"{cargo()}/index/{index_path('my_crate')}", headers=raw(api, "bob"))
    assert gone.status_code == 404
    download = await api.http.get(f"{cargo()}/api/v1/crates/My_Crate/1.0.0+build.1/download", headers=raw(api, "bob"))
    assert download.status_code == 404 and "its number stays reserved" in errors(download)
    again = await publish(api, "My_Crate", "1.0.0+build.1", crate=CRATE)
    assert again.status_code == 409 and "stays reserved" in errors(again)
    other_build = await publish(api, "My_Crate", "1.0.0+build.2")
    assert other_build.status_code == 409 and "stays reserved" in errors(other_build)
    shown = await api.http.get(f"{url}?showDeleted=true", headers=api.auth("alice"))
    assert shown.status_code == 200 and shown.json()["isDeleted"]
    missing = await api.http.delete(url, headers=api.auth("alice"))
    assert missing.status_code == 404


async def test_upstream_behaviour_is_read_and_set_per_crate(cargo_api: Api) -> None:
    api = cargo_api
    url = f"{FEEDS}/feed/cargo/packages/My_Crate/upstreaming?api-version=7.2-preview.1"
    r = await api.http.get(url, headers=api.auth("bob"))
    assert r.status_code == 200 and r.json() == {"versionsFromExternalUpstreams": "auto"}
    body = {"versionsFromExternalUpstreams": "AllowExternalVersions"}
    r = await api.http.patch(url, json=body, headers=api.auth("alice"))
    assert r.status_code == 403  # feed owners only
    r = await api.http.patch(url, json=body, headers=api.auth())
    assert r.status_code == 200 and r.json() == {"versionsFromExternalUpstreams": "allowExternalVersions"}
    lower = f"{FEEDS}/feed/cargo/packages/my_crate/upstreaming"
    r = await api.http.get(lower, headers=api.auth("bob"))
    assert r.json() == {"versionsFromExternalUpstreams": "allowExternalVersions"}  # one crate whatever the case
    unborn = f"{FEEDS}/feed/cargo/packages/not-yet/upstreaming"
    r = await api.http.patch(unborn, json=body, headers=api.auth())
    assert r.status_code == 200  # set before the crate exists
