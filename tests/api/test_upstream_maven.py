"""Maven upstreams through the same engine, against real fixture repositories on 127.0.0.1 (both backends):
saving on request with provenance, checksum verification, outages, merged metadata, snapshots, dependency
confusion, roles, feed-to-feed sources, the negative cache and hostile metadata."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from feed_core import jobs
from feed_core.domain.models import Caller, PackageVersion
from feed_core.domain.roles import Scope
from feed_core.domain.safe_xml import parse_xml
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.maven_packages import basic, deploy, directory, jar, plugin_group_metadata, pom, repo
from tests.maven_repo import MavenRepo, metadata, plugin_metadata

FEEDS = f"/{ORG}/_apis/packaging/feeds"
G, A = "org.example", "lib"
NAME = f"{G}:{A}"


def path_of(version: str, filename: str, group_id: str = G, artifact_id: str = A) -> str:
    return repo() + directory(group_id, artifact_id, version) + filename


def xml_texts(data: bytes, tag: str) -> list[str]:
    return [e.text or "" for e in parse_xml(data).iter() if e.tag.rsplit("}", 1)[-1] == tag]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[MavenRepo]:
    with MavenRepo(tmp_path / "central") as served:
        yield served


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[MavenRepo]:
    with MavenRepo(tmp_path / "mirror") as served:
        yield served


def source(name: str, served: MavenRepo) -> dict[str, str]:
    return {"name": name, "protocol": "maven", "location": served.url}


@pytest.fixture
async def mvn(make_settings: SettingsFactory, clock: MutableClock, central: MavenRepo) -> AsyncIterator[Api]:
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        r = await api.http.patch(
            f"{FEEDS}/feed", json={"upstreamSources": [source("central", central)]}, headers=api.auth()
        )
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


async def saved(api: Api, version: str, name: str = NAME, feed: str = "feed") -> PackageVersion | None:
    feed_id = (await api.services.feeds.find(ORG, None, feed)).id
    return await api.services.packages.store.get_version(feed_id, "maven", name, version)


async def get(api: Api, url: str, who: str = "carol"):  # type: ignore[no-untyped-def]
    return await api.http.get(url, headers=basic(api.tokens[who]) if who != "admin" else api.auth())


# --- saving ---------------------------------------------------------------------------------------------------


async def test_files_are_saved_on_request_verified_and_kept_with_provenance(mvn: Api, central: MavenRepo) -> None:
    files = central.add_artifact(G, A, "1.0", jar=jar("org/example/Lib.class"))
    pom_bytes, jar_bytes = files[f"{directory(G, A, '1.0')}{A}-1.0.pom"], files[f"{directory(G, A, '1.0')}{A}-1.0.jar"]
    got = await get(mvn, path_of("1.0", f"{A}-1.0.pom"))
    assert got.status_code == 200 and got.content == pom_bytes
    got = await get(mvn, path_of("1.0", f"{A}-1.0.jar"))
    assert got.status_code == 200 and got.content == jar_bytes
    version = await saved(mvn, "1.0")
    assert version is not None and version.source_chain[0]["name"] == "central"
    assert version.manifest["packaging"] == "jar" and version.provenance["verifiedWith"] == "sha1"
    entries = {f["filename"]: f for f in version.files}
    for filename, data in ((f"{A}-1.0.pom", pom_bytes), (f"{A}-1.0.jar", jar_bytes)):
        for algorithm in ("sha256", "sha1", "md5", "sha512"):
            assert entries[filename][algorithm] == hashlib.new(algorithm, data).hexdigest()
    # checksum files and headers come from the saved entry: the upstream is not asked again
    before = len(central.requests)
    sha1 = await get(mvn, path_of("1.0", f"{A}-1.0.jar.sha1"), who="bob")
    md5 = await get(mvn, path_of("1.0", f"{A}-1.0.jar.md5"), who="bob")
    assert sha1.text == hashlib.sha1(jar_bytes).hexdigest()  # noqa: S324 - what Maven checks
    assert md5.text == hashlib.md5(jar_bytes).hexdigest()  # noqa: S324 - what Maven checks
    again = await get(mvn, path_of("1.0", f"{A}-1.0.jar"), who="bob")
    assert again.headers["x-checksum-sha1"] == sha1.text and len(central.requests) == before
    assert central.count("/maven-metadata.xml") == 0  # every file asked for by path, and never a directory listing
    assert all(not path.endswith("/") for _, path in central.requests)


async def test_a_sha1_alone_is_enough_and_checksum_requests_save_first(mvn: Api, central: MavenRepo) -> None:
    central.computed_checksums = ("sha1",)
    files = central.add_artifact(G, A, "2.0")
    jar_bytes = files[f"{directory(G, A, '2.0')}{A}-2.0.jar"]
    sha1 = await get(mvn, path_of("2.0", f"{A}-2.0.jar.sha1"))  # before the file: it is saved first
    assert sha1.status_code == 200 and sha1.text == hashlib.sha1(jar_bytes).hexdigest()  # noqa: S324
    version = await saved(mvn, "2.0")
    assert version is not None and version.provenance["verifiedWith"] == "sha1"
    assert central.count(f"{A}-2.0.jar") == 1


async def test_a_wrong_checksum_saves_nothing_and_says_why(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "1.0")
    central.wrong_checksums.add(f"{directory(G, A, '1.0')}{A}-1.0.jar")
    r = await get(mvn, path_of("1.0", f"{A}-1.0.jar"))
    assert r.status_code == 502 and "do not match its declared" in r.text and "nothing was saved" in r.text
    head = await mvn.http.head(path_of("1.0", f"{A}-1.0.jar"), headers=basic(mvn.tokens["carol"]))
    assert head.status_code == 502
    version = await saved(mvn, "1.0")
    assert version is None or all(f["filename"] != f"{A}-1.0.jar" for f in version.files)


async def test_files_without_checksum_files_are_not_saved_and_missing_files_are_404(
    mvn: Api, central: MavenRepo
) -> None:
    central.computed_checksums = ()
    central.add_artifact(G, A, "1.0")
    r = await get(mvn, path_of("1.0", f"{A}-1.0.jar"))
    assert r.status_code == 502 and "declares no hash" in r.text
    central.computed_checksums = ("sha1",)
    r = await get(mvn, path_of("1.0", f"{A}-1.0-javadoc.jar"))
    assert r.status_code == 404 and "does not exist in upstream 'central'" in r.text
    assert await saved(mvn, "1.0") is None


async def test_a_pom_about_another_coordinate_is_refused(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "1.0")
    central.write(f"{directory(G, A, '1.0')}{A}-1.0.pom", pom(G, "other", "1.0"))
    r = await get(mvn, path_of("1.0", f"{A}-1.0.pom"))
    assert r.status_code == 502 and "was refused" in r.text and await saved(mvn, "1.0") is None


async def test_concurrent_requests_download_once(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "1.0", jar=b"j" * 300_000)
    url = path_of("1.0", f"{A}-1.0.jar")
    results = await asyncio.gather(*(get(mvn, url) for _ in range(8)))
    assert {r.status_code for r in results} == {200} and {len(r.content) for r in results} == {300_000}
    assert central.count(f"{A}-1.0.jar") == 1 and central.count(f"{A}-1.0.jar.sha1") == 1


async def test_saved_files_are_served_while_the_upstream_is_down(mvn: Api, central: MavenRepo) -> None:
    files = central.add_artifact(G, A, "1.0")
    for filename in (f"{A}-1.0.pom", f"{A}-1.0.jar"):
        assert (await get(mvn, path_of("1.0", filename))).status_code == 200
    central.stop()
    for filename in (f"{A}-1.0.pom", f"{A}-1.0.jar"):
        r = await get(mvn, path_of("1.0", filename), who="bob")
        assert r.status_code == 200 and r.content == files[directory(G, A, "1.0") + filename]
    listing = await get(mvn, repo() + f"{G.replace('.', '/')}/{A}/maven-metadata.xml", who="bob")
    assert listing.status_code == 200 and xml_texts(listing.content, "version") == ["1.0"]
    r = await get(mvn, path_of("1.0", f"{A}-1.0-sources.jar"))
    assert r.status_code == 502 and "central" in r.text, r.text


# --- what is offered ------------------------------------------------------------------------------------------


async def test_metadata_merges_the_feed_and_two_upstreams_in_maven_order(
    make_settings: SettingsFactory, clock: MutableClock, central: MavenRepo, mirror: MavenRepo
) -> None:
    async with running_api(make_settings(), clock) as api:
        await api.create_feed("feed")
        sources = [source("central", central), source("mirror", mirror)]
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources}, headers=api.auth())
        assert r.status_code == 200, r.text
        central.write(f"{G.replace('.', '/')}/{A}/maven-metadata.xml", metadata(G, A, ["1.9", "1.10-rc1"]))
        mirror.write(f"{G.replace('.', '/')}/{A}/maven-metadata.xml", metadata(G, A, ["1.10", "1.2", "2.0-SNAPSHOT"]))
        # the feed's own version of the coordinate is external too (saved before), so nothing is blocked
        mirror.add_artifact(G, A, "1.2")
        assert (await api.http.get(path_of("1.2", f"{A}-1.2.pom"), headers=api.auth())).status_code == 200
        got = await api.http.get(repo() + f"{G.replace('.', '/')}/{A}/maven-metadata.xml", headers=api.auth())
        assert got.status_code == 200, got.text
        assert xml_texts(got.content, "version") == ["1.2", "1.9", "1.10-rc1", "1.10"]
        assert xml_texts(got.content, "release") == ["1.10"] and xml_texts(got.content, "latest") == ["1.10"]


async def test_a_cold_release_file_is_asked_for_by_path_in_search_order(
    make_settings: SettingsFactory, clock: MutableClock, central: MavenRepo, mirror: MavenRepo
) -> None:
    """No metadata round trip before a collaborator's first download of a public coordinate: each upstream in
    order is asked for the file itself, the first that has it wins, and misses are remembered for a minute."""
    async with running_api(make_settings(), clock) as api:
        await api.create_feed("feed")
        sources = [source("central", central), source("mirror", mirror)]
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        files = mirror.add_artifact(G, A, "1.2")
        got = await get(api, path_of("1.2", f"{A}-1.2.pom"))
        assert got.status_code == 200 and got.content == files[directory(G, A, "1.2") + f"{A}-1.2.pom"]
        version = await saved(api, "1.2")
        assert version is not None and version.source_chain[0]["name"] == "mirror"
        assert version.provenance["verifiedWith"] == "sha1"
        got = await get(api, path_of("1.2", f"{A}-1.2.jar"))  # the rest of the version: from where it was saved
        assert got.status_code == 200 and got.content == files[directory(G, A, "1.2") + f"{A}-1.2.jar"]
        assert not central.count(f"{A}-1.2.jar")
        assert not [p for _, p in central.requests + mirror.requests if p.endswith("maven-metadata.xml")]
        assert central.count(f"{A}-1.2.pom", "GET") == 1 and mirror.count(f"{A}-1.2.pom.sha1") == 1
        for _ in range(2):
            r = await get(api, path_of("9.9", f"{A}-9.9.pom"))
            assert r.status_code == 404, r.text
        assert central.count(f"{A}-9.9.pom", "GET") == 1 and mirror.count(f"{A}-9.9.pom", "GET") == 1
        r = await get(api, path_of("1.3", f"{A}-1.3.pom"), who="bob")  # a reader never makes the feed download
        assert r.status_code == 404 and not central.count(f"{A}-1.3.pom") and not mirror.count(f"{A}-1.3.pom")


async def test_snapshots_only_upstream_are_404_saying_why(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "1.0-SNAPSHOT")
    r = await get(mvn, path_of("1.0-SNAPSHOT", f"{A}-1.0-SNAPSHOT.pom"))
    assert r.status_code == 404 and "snapshot versions are never taken from upstream sources" in r.text
    r = await get(mvn, repo() + directory(G, A, "1.0-SNAPSHOT") + "maven-metadata.xml")
    assert r.status_code == 404 and "snapshots never come from upstreams" in r.text
    assert not [p for _, p in central.requests if "SNAPSHOT" in p]


async def test_private_coordinates_are_not_shadowed(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "99.0")
    files = {f"{A}-1.0.pom": pom(G, A, "1.0"), f"{A}-1.0.jar": jar("Private.class")}
    assert all(
        r.status_code in (200, 201) for r in await deploy(mvn.http, basic(mvn.tokens["alice"]), G, A, "1.0", files)
    )
    central.requests.clear()
    listing = await get(mvn, repo() + f"{G.replace('.', '/')}/{A}/maven-metadata.xml")
    assert xml_texts(listing.content, "version") == ["1.0"]
    r = await get(mvn, path_of("99.0", f"{A}-99.0.pom"))
    assert r.status_code == 404 and "private here" in r.text and "/maven/groups/org.example/artifacts/lib/" in r.text
    assert not central.requests  # a private coordinate is never sent to a public upstream
    upstreaming = f"{FEEDS}/feed/maven/groups/{G}/artifacts/{A}/upstreaming?api-version=7.1-preview.1"
    r = await mvn.http.patch(
        upstreaming, json={"versionsFromExternalUpstreams": "AllowExternalVersions"}, headers=mvn.auth("carol")
    )
    assert r.status_code == 403  # an owner's decision
    r = await mvn.http.patch(
        upstreaming, json={"versionsFromExternalUpstreams": "AllowExternalVersions"}, headers=mvn.auth()
    )
    assert r.status_code == 200 and r.json() == {"versionsFromExternalUpstreams": "allowExternalVersions"}, r.text
    r = await mvn.http.get(upstreaming, headers=mvn.auth("bob"))
    assert r.json() == {"versionsFromExternalUpstreams": "allowExternalVersions"}
    listing = await get(mvn, repo() + f"{G.replace('.', '/')}/{A}/maven-metadata.xml")
    assert xml_texts(listing.content, "version") == ["1.0", "99.0"]
    assert (await get(mvn, path_of("99.0", f"{A}-99.0.pom"))).status_code == 200


async def test_deploying_a_release_the_upstream_has_is_refused(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "3.0")
    (first, *_) = await deploy(mvn.http, basic(mvn.tokens["alice"]), G, A, "3.0", {f"{A}-3.0.pom": pom(G, A, "3.0")})
    assert first.status_code == 409 and "central" in first.text
    snapshot = {f"{A}-3.1-20261101.120000-1.pom": pom(G, A, "3.1-SNAPSHOT")}
    (first, *_) = await deploy(mvn.http, basic(mvn.tokens["alice"]), G, A, "3.1-SNAPSHOT", snapshot)
    assert first.status_code in (200, 201), first.text  # upstreams offer no snapshot to conflict with


async def test_readers_get_only_what_a_collaborator_saved(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "1.0")
    r = await get(mvn, path_of("1.0", f"{A}-1.0.pom"), who="bob")
    assert r.status_code == 404 and "collaborator" in r.text
    listing = await get(mvn, repo() + f"{G.replace('.', '/')}/{A}/maven-metadata.xml", who="bob")
    assert listing.status_code == 404
    assert (await get(mvn, path_of("1.0", f"{A}-1.0.pom"))).status_code == 200
    assert (await get(mvn, path_of("1.0", f"{A}-1.0.pom"), who="bob")).status_code == 200
    r = await get(mvn, path_of("1.0", f"{A}-1.0.jar"), who="bob")  # saved version, file not saved yet
    assert r.status_code == 404 and "collaborator" in r.text


async def test_release_age_by_last_updated_and_first_sight(mvn: Api, central: MavenRepo, clock: MutableClock) -> None:
    stamp = (clock.now - timedelta(hours=1)).strftime("%Y%m%d%H%M%S")
    central.write(f"{G.replace('.', '/')}/{A}/maven-metadata.xml", metadata(G, A, ["1.0", "2.0"], stamp))
    central.add_artifact(G, A, "1.0")
    central.add_artifact(G, A, "2.0")
    central.add_artifact(G, A, "0.9")  # not listed: fetched by path only when no release age applies
    r = await mvn.http.patch(f"{FEEDS}/feed", json={"minimumReleaseAgeHours": 24}, headers=mvn.auth())
    assert r.status_code == 200
    r = await get(mvn, path_of("2.0", f"{A}-2.0.pom"))
    assert r.status_code == 404 and "minimum release age" in r.text
    r = await get(mvn, path_of("0.9", f"{A}-0.9.pom"))
    assert r.status_code == 404 and "cannot tell when it was published" in r.text
    clock.advance(hours=25)  # 1.0 was first seen 25 hours ago; 2.0's lastUpdated is 26 hours old
    for version in ("1.0", "2.0"):
        assert (await get(mvn, path_of(version, f"{A}-{version}.pom"))).status_code == 200


async def test_versions_missing_from_upstream_metadata_are_fetched_by_path(mvn: Api, central: MavenRepo) -> None:
    central.write(f"{G.replace('.', '/')}/{A}/maven-metadata.xml", metadata(G, A, ["2.0"]))
    files = central.add_artifact(G, A, "0.9")
    got = await get(mvn, path_of("0.9", f"{A}-0.9.jar"))
    assert got.status_code == 200 and got.content == files[directory(G, A, "0.9") + f"{A}-0.9.jar"]
    version = await saved(mvn, "0.9")
    assert version is not None and version.provenance["verifiedWith"] == "sha1"
    assert (await get(mvn, path_of("0.8", f"{A}-0.8.jar"))).status_code == 404
    assert (await get(mvn, path_of("0.9", f"{A}-0.9.jar"), who="bob")).status_code == 200


async def test_a_deploy_cannot_name_a_prefix_for_a_plugin_saved_from_an_upstream(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, "fix-maven-plugin", "1.0")
    saved_pom = path_of("1.0", "fix-maven-plugin-1.0.pom", artifact_id="fix-maven-plugin")
    assert (await get(mvn, saved_pom)).status_code == 200
    group_metadata = repo() + "org/example/maven-metadata.xml"
    sent = plugin_group_metadata(("fix-maven-plugin", "jar", "Takes over the jar prefix"))
    r = await mvn.http.put(group_metadata, content=sent, headers=basic(mvn.tokens["alice"]))
    assert r.status_code in (200, 201), r.text  # accepted as mvn expects, but nothing of it is kept
    got = await get(mvn, group_metadata, who="bob")
    assert got.status_code == 404 and "no versions or plugins there" in got.text


async def test_plugin_prefixes_come_from_the_upstreams(mvn: Api, central: MavenRepo) -> None:
    central.write("org/example/plugins/maven-metadata.xml", plugin_metadata([("Fix", "fix", "fix-maven-plugin")]))
    got = await get(mvn, repo() + "org/example/plugins/maven-metadata.xml", who="bob")
    assert got.status_code == 200, got.text
    assert xml_texts(got.content, "prefix") == ["fix"] and xml_texts(got.content, "artifactId") == ["fix-maven-plugin"]


async def test_only_real_repository_paths_are_asked_of_upstreams(mvn: Api, central: MavenRepo) -> None:
    """A release directory has no metadata and no group reading (its dotted version is no group directory), and a
    checksum of a checksum file is no file: 404s, with no request for the repository root's metadata or for a
    ``.sha1`` file saved as an artifact."""
    central.add_artifact(G, A, "1.0")
    for path in (f"{directory(G, A, '1.0')}maven-metadata.xml", f"{directory(G, A, '1.0')}{A}-1.0.jar.sha1.md5"):
        assert (await get(mvn, repo() + path)).status_code == 404, path
    asked = [path for _, path in central.requests]
    assert "/maven-metadata.xml" not in asked and not any(".sha1." in path for path in asked), asked


# --- the engine's rules ---------------------------------------------------------------------------------------


async def test_a_contributor_cannot_deploy_files_into_a_version_saved_from_an_upstream(
    mvn: Api, central: MavenRepo
) -> None:
    """Only the jar was saved so far: deploying the POM (or another classifier) into that version would serve a
    contributor's bytes to everyone as the upstream's artifact."""
    files = central.add_artifact(G, A, "1.0")
    assert (await get(mvn, path_of("1.0", f"{A}-1.0.jar"))).status_code == 200
    alice = basic(mvn.tokens["alice"])
    evil = pom(G, A, "1.0", packaging="jar")
    evil = evil.replace(
        b"</project>", b"<dependencies><dependency><groupId>evil</groupId></dependency></dependencies></project>"
    )
    for filename, data in ((f"{A}-1.0.pom", evil), (f"{A}-1.0-extra.jar", jar("Extra.class"))):
        r = await mvn.http.put(path_of("1.0", filename), content=data, headers=alice)
        assert r.status_code == 409 and "saved from upstream central" in r.text, r.text
    version = await saved(mvn, "1.0")
    assert version is not None and [f["filename"] for f in version.files] == [f"{A}-1.0.jar"]
    got = await get(mvn, path_of("1.0", f"{A}-1.0.pom"))  # still the upstream's, saved on request
    assert got.status_code == 200 and got.content == files[directory(G, A, "1.0") + f"{A}-1.0.pom"]


async def test_upstream_404s_are_cached_briefly(mvn: Api, central: MavenRepo, clock: MutableClock) -> None:
    for _ in range(3):
        assert (await get(mvn, path_of("1.0", f"{A}-1.0.pom"))).status_code == 404
    assert central.count(f"{A}-1.0.pom", "GET") == 1  # asked for by path once (see _straight_by_path)
    clock.advance(seconds=120)
    central.add_artifact(G, A, "1.0")
    assert (await get(mvn, path_of("1.0", f"{A}-1.0.pom"))).status_code == 200
    assert central.count(f"{A}-1.0.pom", "GET") == 2
    for _ in range(3):  # the same for a coordinate's metadata
        assert (await get(mvn, repo() + f"{G.replace('.', '/')}/nothing/maven-metadata.xml")).status_code == 404
    assert central.count("nothing/maven-metadata.xml") == 1


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY l2 "&lol;&lol;">]>'
        b"<metadata><groupId>&l2;</groupId></metadata>",
        b"<metadata><versioning><versions>"
        + b"<version>1.0</version>" * 100_000
        + b"</versions></versioning></metadata>",
    ],
    ids=["dtd", "huge"],
)
async def test_hostile_metadata_is_refused(
    make_settings: SettingsFactory, clock: MutableClock, central: MavenRepo, body: bytes
) -> None:
    settings = make_settings(upstream_max_document_bytes=1024 * 1024)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        r = await api.http.patch(
            f"{FEEDS}/feed", json={"upstreamSources": [source("central", central)]}, headers=api.auth()
        )
        assert r.status_code == 200
        central.raw[f"{G.replace('.', '/')}/{A}/maven-metadata.xml"] = body
        central.add_artifact(G, A, "1.0")
        r = await api.http.get(repo() + f"{G.replace('.', '/')}/{A}/maven-metadata.xml", headers=api.auth())
        assert r.status_code == 502 and "central" in r.text
        assert "ENTITY" not in r.text and "lol" not in r.text
        assert await saved(api, "1.0") is None
        assert central.count(f"{A}-1.0.pom") == 0


async def test_health_and_refresh_jobs_cover_maven_upstreams(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "1.0")
    assert (await get(mvn, path_of("1.0", f"{A}-1.0.pom"))).status_code == 200
    report = await jobs.run_health(mvn.services)
    assert report.upstreams == 1 and not report.failed
    central.write(f"{G.replace('.', '/')}/{A}/maven-metadata.xml", metadata(G, A, ["2.0"]))
    refreshed = await jobs.run_refresh(mvn.services)
    assert refreshed.flagged_removed == [f"feed/{NAME}@1.0"]


async def test_another_feed_through_a_view_as_a_maven_upstream(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings(), clock) as api:
        await api.create_feed("team")
        await api.create_feed("app")
        files = {f"{A}-1.0.pom": pom(G, A, "1.0"), f"{A}-1.0.jar": jar("Team.class")}
        responses = await deploy(api.http, api.auth(), G, A, "1.0", files, feed="team")
        assert all(r.status_code in (200, 201) for r in responses)
        snapshot = {f"{A}-2.0-20261101.120000-1.pom": pom(G, A, "2.0-SNAPSHOT")}
        assert (await deploy(api.http, api.auth(), G, A, "2.0-SNAPSHOT", snapshot, feed="team"))[0].status_code < 300
        team = await api.services.feeds.find(ORG, None, "team")
        release = next(v for v in team.views if v.name == "Release")
        admin = Caller("admin", Scope.MANAGE, org_admin=True)
        await api.services.packages.promote(team, admin, "maven", NAME, "1.0", release)
        assert (
            await api.http.patch(f"{FEEDS}/team/views/Release", json={"visibility": "collection"}, headers=api.auth())
        ).status_code == 200
        upstream = {
            "name": "team",
            "protocol": "maven",
            "upstreamSourceType": "internal",
            "internalUpstreamFeedId": "team",
            "internalUpstreamViewId": "Release",
        }
        r = await api.http.patch(f"{FEEDS}/app", json={"upstreamSources": [upstream]}, headers=api.auth())
        assert r.status_code == 200, r.text
        got = await api.http.get(repo("app") + directory(G, A, "1.0") + f"{A}-1.0.jar", headers=api.auth())
        assert got.status_code == 200 and got.content == files[f"{A}-1.0.jar"]
        version = await saved(api, "1.0", feed="app")
        assert version is not None and version.provenance["verifiedWith"] == "same-service"
        (entry,) = version.files
        assert entry["sha1"] == hashlib.sha1(got.content).hexdigest()  # noqa: S324
        sha1 = await api.http.get(repo("app") + directory(G, A, "1.0") + f"{A}-1.0.jar.sha1", headers=api.auth())
        assert sha1.text == entry["sha1"]
        listing = await api.http.get(repo("app") + f"{G.replace('.', '/')}/{A}/maven-metadata.xml", headers=api.auth())
        assert xml_texts(listing.content, "version") == ["1.0"]  # no snapshot, nothing not promoted


async def test_a_public_maven_repository_is_a_setting(
    make_settings: SettingsFactory, clock: MutableClock, central: MavenRepo
) -> None:
    settings = make_settings(public_sources={"maven-central": {"protocol": "Maven", "url": central.url}})
    async with running_api(settings, clock) as api:
        created = await api.create_feed("feed", upstreamSources=[{"name": "maven-central", "protocol": "maven"}])
        (upstream,) = created["upstreamSources"]
        assert upstream["upstreamSourceType"] == "public" and upstream["location"] == central.url
        files = central.add_artifact(G, A, "1.0")
        got = await api.http.get(path_of("1.0", f"{A}-1.0.jar"), headers=api.auth())
        assert got.status_code == 200 and got.content == files[directory(G, A, "1.0") + f"{A}-1.0.jar"]
        version = await saved(api, "1.0")
        assert version is not None and version.source_chain[0]["sourceType"] == "public"


async def test_a_pom_saved_after_the_jar_still_describes_the_version(mvn: Api, central: MavenRepo) -> None:
    central.add_artifact(G, A, "1.0", packaging="bundle")
    assert (await get(mvn, path_of("1.0", f"{A}-1.0.jar"))).status_code == 200
    version = await saved(mvn, "1.0")
    assert version is not None and version.manifest == {}
    assert (await get(mvn, path_of("1.0", f"{A}-1.0.pom"))).status_code == 200
    version = await saved(mvn, "1.0")
    assert version is not None and version.manifest["packaging"] == "bundle" and len(version.files) == 2
