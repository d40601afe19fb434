"""The Maven version REST API in Azure's shape, under ``…/maven/groups/{g}/artifacts/{a}/versions/{v}``: a version
with its files and provenance, promotion into a view, and deletion (202) that keeps the number reserved."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.maven_packages import basic, deploy, directory, jar, pom, repo
from tests.maven_repo import MavenRepo

FEEDS = f"/{ORG}/_apis/packaging/feeds"
G, A = "org.example", "lib"
VERSIONS = f"{FEEDS}/feed/maven/groups/{G}/artifacts/{A}/versions"


@pytest.fixture
async def maven_api(feed_api: Api) -> Api:
    files = {f"{A}-1.0.pom": pom(G, A, "1.0"), f"{A}-1.0.jar": jar("org/example/Lib.class")}
    answers = await deploy(feed_api.http, basic(feed_api.tokens["alice"]), G, A, "1.0", files)
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
    return feed_api


async def test_a_version_shows_its_files_with_their_digests(maven_api: Api) -> None:
    r = await maven_api.http.get(f"{VERSIONS}/1.0?api-version=7.1-preview.1", headers=maven_api.auth("bob"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == "1.0" and not body["isDeleted"]
    files = {f["name"]: f["protocolMetadata"]["data"] for f in body["files"]}
    assert set(files) == {f"{A}-1.0.pom", f"{A}-1.0.jar"}
    pom_bytes = pom(G, A, "1.0")
    assert files[f"{A}-1.0.pom"]["sha1"] == hashlib.sha1(pom_bytes).hexdigest()  # noqa: S324 - Maven's checksum
    assert files[f"{A}-1.0.pom"]["size"] == len(pom_bytes)
    missing = await maven_api.http.get(f"{VERSIONS}/2.0", headers=maven_api.auth("bob"))
    assert missing.status_code == 404 and "org.example:lib 2.0 does not exist" in missing.json()["message"]


async def test_bad_coordinates_in_the_path_are_400(maven_api: Api) -> None:
    for url in (
        f"{FEEDS}/feed/maven/groups/org..example/artifacts/{A}/versions/1.0",
        f"{FEEDS}/feed/maven/groups/{G}/artifacts/li%20b/versions/1.0",
        f"{FEEDS}/feed/maven/groups/{G}/artifacts/{A}/versions/1.0%00",
    ):
        r = await maven_api.http.get(url, headers=maven_api.auth("bob"))
        assert r.status_code == 400, (url, r.text)
        assert "not a valid" in r.json()["message"], r.text


async def test_promote_into_a_view_then_the_view_serves_it(maven_api: Api) -> None:
    pom_url = repo("feed", "Release") + directory(G, A, "1.0") + f"{A}-1.0.pom"
    assert (await maven_api.http.get(pom_url, headers=basic(maven_api.tokens["bob"]))).status_code == 404
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    r = await maven_api.http.patch(f"{VERSIONS}/1.0", json=promote, headers=maven_api.auth("bob"))
    assert r.status_code == 403  # readers do not promote
    r = await maven_api.http.patch(f"{VERSIONS}/1.0", json=promote, headers=maven_api.auth("alice"))
    assert r.status_code == 200, r.text
    served = await maven_api.http.get(pom_url, headers=basic(maven_api.tokens["bob"]))
    assert served.status_code == 200 and served.content == pom(G, A, "1.0")
    r = await maven_api.http.patch(f"{VERSIONS}/1.0", json={"views": None}, headers=maven_api.auth("alice"))
    assert r.status_code == 400


async def test_delete_answers_202_and_keeps_the_number_reserved(maven_api: Api) -> None:
    r = await maven_api.http.delete(f"{VERSIONS}/1.0", headers=maven_api.auth("bob"))
    assert r.status_code == 403
    r = await maven_api.http.delete(f"{VERSIONS}/1.0?api-version=7.1-preview.1", headers=maven_api.auth("alice"))
    assert r.status_code == 202, r.text
    gone = await maven_api.http.get(
        repo() + directory(G, A, "1.0") + f"{A}-1.0.jar", headers=basic(maven_api.tokens["bob"])
    )
    assert gone.status_code == 404
    again = await deploy(
        maven_api.http, basic(maven_api.tokens["alice"]), G, A, "1.0", {f"{A}-1.0.pom": pom(G, A, "1.0")}
    )
    assert again[0].status_code == 409 and "reserved" in again[0].text
    shown = await maven_api.http.get(f"{VERSIONS}/1.0?showDeleted=true", headers=maven_api.auth("alice"))
    assert shown.status_code == 200 and shown.json()["isDeleted"]


async def test_a_saved_version_carries_its_provenance(
    make_settings: SettingsFactory, clock: MutableClock, tmp_path: Path
) -> None:
    with MavenRepo(tmp_path / "central") as central:
        central.add_artifact(G, A, "2.0", jar=jar("org/example/Lib.class"))
        async with running_api(make_settings(), clock) as api:
            await api.create_feed("feed")
            sources = [{"name": "central", "protocol": "maven", "location": central.url}]
            r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources}, headers=api.auth())
            assert r.status_code == 200, r.text
            await api.staff("feed")
            url = repo() + directory(G, A, "2.0") + f"{A}-2.0.pom"
            assert (await api.http.get(url, headers=basic(api.tokens["carol"]))).status_code == 200
            await api.services.upstreams.stores_done()
            r = await api.http.get(f"{VERSIONS}/2.0", headers=api.auth("bob"))
            assert r.status_code == 200, r.text
            provenance = r.json()["provenance"]
            assert provenance["source"]["name"] == "central" and provenance["savedBy"] == "carol"
            assert provenance["verifiedWith"] in ("sha1", "sha256", "sha512")
            assert r.json()["sourceChain"][0]["name"] == "central"
