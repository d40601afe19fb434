"""Maven hosting in-process, on both stores: deploys as Maven Resolver sends them (parallel PUTs, checksums,
client metadata), reads alike on GET and HEAD, checksum files and headers, metadata the feed builds (artifact,
group and snapshot levels), snapshot builds and their retention, redeploy rules, the credentials challenge,
roles and views."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import httpx

from feed_core.domain.models import PackageVersion
from feed_core.domain.safe_xml import parse_xml
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, running_api
from tests.maven_packages import (
    artifact_metadata,
    basic,
    deploy,
    directory,
    jar,
    plugin_group_metadata,
    pom,
    put_file,
    repo,
)

G, A = "com.example", "lib"
DIR = directory(G, A, "1.0")
#: Headers that must be the same on GET and HEAD.
PARITY = (
    "content-length",
    "content-type",
    "etag",
    "last-modified",
    "cache-control",
    "x-checksum-sha1",
    "x-checksum-md5",
    "x-content-type-options",
)


def release_files(version: str = "1.0", artifact_id: str = A, **pom_fields: str) -> dict[str, bytes]:
    return {
        f"{artifact_id}-{version}.jar": jar(f"com/example/{artifact_id}/Main.class", version),
        f"{artifact_id}-{version}.pom": pom(G, artifact_id, version, **pom_fields),
        f"{artifact_id}-{version}-sources.jar": jar(f"com/example/{artifact_id}/Main.java", version),
    }


async def stored(api: Api, version: str, name: str = f"{G}:{A}", feed: str = "feed") -> PackageVersion | None:
    feed_id = (await api.services.feeds.find(ORG, None, feed)).id
    return await api.services.packages.store.get_version(feed_id, "maven", name, version)


def digest(algorithm: str, data: bytes) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def xml_texts(data: bytes, tag: str) -> list[str]:
    root = parse_xml(data)
    return [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == tag]


async def assert_parity(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    """GET and HEAD of ``url`` answer alike; the GET."""
    got = await api.http.get(url, headers=headers)
    head = await api.http.head(url, headers=headers)
    assert head.status_code == got.status_code, url
    for name in PARITY:
        assert head.headers.get(name) == got.headers.get(name), (url, name)
    assert head.content == b""
    return got


# --- deploy and read ------------------------------------------------------------------------------------------


async def test_a_release_deployed_in_parallel_is_served_byte_for_byte_with_its_checksums(feed_api: Api) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    files = release_files(name="Example library", description="Does example things.")
    responses = await deploy(api.http, alice, G, A, "1.0", files)
    assert [r.status_code for r in responses] == [201, 200, 200] * 3, [r.text for r in responses]
    assert responses[0].text.startswith("stored com/example/lib/1.0/lib-1.0.jar")
    assert "matches the stored file" in responses[1].text
    # the client's metadata is accepted (with its checksums), not stored
    meta = artifact_metadata(G, A, "1.0")
    for r in await put_file(api.http, repo() + "com/example/lib/maven-metadata.xml", meta, alice):
        assert r.status_code == 200, r.text
    record = await stored(api, "1.0")
    assert record is not None
    assert record.manifest == {"packaging": "jar", "name": "Example library", "description": "Does example things."}
    assert sorted(f["filename"] for f in record.files) == sorted(files)
    for filename, data in files.items():
        url = repo() + DIR + filename
        got = await assert_parity(api, url, bob)
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-length"] == str(len(data))
        assert got.headers["x-checksum-sha1"] == digest("sha1", data)
        assert got.headers["x-checksum-md5"] == digest("md5", data)
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        assert got.headers["last-modified"] == "Sun, 01 Nov 2026 12:00:00 GMT"
        expected_type = "application/xml" if filename.endswith(".pom") else "application/java-archive"
        assert got.headers["content-type"].startswith(expected_type)
        for alg in ("md5", "sha1", "sha256", "sha512"):
            sums = await assert_parity(api, f"{url}.{alg}", bob)
            assert sums.status_code == 200 and sums.text == digest(alg, data), alg
            assert sums.headers["content-type"].startswith("text/plain")
        entry = next(f for f in record.files if f["filename"] == filename)
        assert entry["sha512"] == hashlib.sha512(data).hexdigest() and entry["size"] == len(data)
        assert entry["uploader"] == "alice"
    # Basic with any username, and Bearer, read alike
    r = await api.http.get(repo() + DIR + "lib-1.0.pom", headers=api.auth("bob"))
    assert r.status_code == 200 and r.content == files["lib-1.0.pom"]


async def test_a_gradle_publish_with_module_metadata_classifiers_and_four_checksums(feed_api: Api) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    module = b'{"formatVersion": "1.1", "component": {"group": "com.example", "module": "lib", "version": "1.0"}}'
    files = {
        "lib-1.0.jar": jar("Main.class"),
        "lib-1.0.module": module,
        "lib-1.0.pom": pom(G, A, "1.0", extra="<!-- do_not_remove: published-with-gradle-metadata -->"),
        "lib-1.0-dist.tar.gz": b"\x1f\x8b\x08\x00 not really a tarball",
        "lib-1.0.jar.asc": b"-----BEGIN PGP SIGNATURE-----\n...\n-----END PGP SIGNATURE-----\n",
    }
    everything = ("md5", "sha1", "sha256", "sha512")
    responses = await deploy(api.http, alice, G, A, "1.0", files, checksums=everything)
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200] * 5, [r.text for r in responses]
    types = {
        "lib-1.0.module": "application/json",
        "lib-1.0-dist.tar.gz": "application/gzip",
        "lib-1.0.jar.asc": "application/pgp-signature",
    }
    for filename, media in types.items():
        got = await assert_parity(api, repo() + DIR + filename, bob)
        assert got.content == files[filename] and got.headers["content-type"].startswith(media), filename
        for alg in everything:
            sums = await api.http.get(repo() + DIR + f"{filename}.{alg}", headers=bob)
            assert sums.text == digest(alg, files[filename]), (filename, alg)


async def test_anything_missing_is_a_404_on_get_and_head_saying_what(feed_api: Api) -> None:
    api = feed_api
    await deploy(api.http, basic(api.tokens["alice"]), G, A, "1.0", release_files())
    bob = basic(api.tokens["bob"])
    cases = {
        DIR + "lib-1.0-javadoc.jar": "lib-1.0-javadoc.jar is not among the files of com.example:lib:1.0",
        DIR + "lib-1.0-javadoc.jar.sha1": "lib-1.0-javadoc.jar is not among the files",
        "com/example/lib/2.0/lib-2.0.jar": "com/example/lib/2.0/lib-2.0.jar does not exist in feed@Local",
        "com/example/other/maven-metadata.xml": "no versions or plugins there",
        "com/example/lib/1.0-SNAPSHOT/maven-metadata.xml": "has no snapshot builds",
        "archetype-catalog.xml": "is not a Maven repository path",
        "": "it serves files by path, with no listings",
    }
    for path, message in cases.items():
        for method in ("GET", "HEAD"):
            r = await api.http.request(method, repo() + path, headers=bob)
            assert r.status_code == 404, (path, method, r.text)
            if method == "GET":
                assert message in r.text, (path, r.text)
                assert r.headers["content-type"].startswith("text/plain")


# --- metadata ---------------------------------------------------------------------------------------------------


async def test_artifact_metadata_is_built_from_every_version_in_maven_order(feed_api: Api) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    for version in ("1.2", "1.10", "1.9-rc1", "1.0"):
        await deploy(api.http, alice, G, A, version, release_files(version))
    build = "2.0-20261101.120000-1"
    await deploy(
        api.http,
        alice,
        G,
        A,
        "2.0-SNAPSHOT",
        {f"lib-{build}.jar": jar("x"), f"lib-{build}.pom": pom(G, A, "2.0-SNAPSHOT")},
    )
    # a client's upload of older metadata changes nothing that is served
    r = await api.http.put(
        repo() + "com/example/lib/maven-metadata.xml", content=artifact_metadata(G, A, "0.1"), headers=alice
    )
    assert r.status_code == 200 and "builds from the files it holds" in r.text
    url = repo() + "com/example/lib/maven-metadata.xml"
    got = await assert_parity(api, url, bob)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/xml")
    assert got.headers["cache-control"] == "no-cache"
    assert xml_texts(got.content, "version") == ["1.0", "1.2", "1.9-rc1", "1.10", "2.0-SNAPSHOT"]
    assert xml_texts(got.content, "latest") == ["2.0-SNAPSHOT"]
    assert xml_texts(got.content, "release") == ["1.10"]
    assert xml_texts(got.content, "groupId") == [G] and xml_texts(got.content, "artifactId") == [A]
    assert xml_texts(got.content, "lastUpdated") == ["20261101120000"]
    assert got.headers["x-checksum-sha1"] == digest("sha1", got.content)
    for alg in ("md5", "sha1", "sha256", "sha512"):
        sums = await assert_parity(api, f"{url}.{alg}", bob)
        assert sums.text == digest(alg, got.content), alg
    # the same bytes again (checksums fetched separately must match them)
    assert (await api.http.get(url, headers=bob)).content == got.content


async def test_group_metadata_lists_the_plugins_the_feed_holds(feed_api: Api) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    group = "com.example.plugins"
    files = {
        "greet-maven-plugin-1.0.jar": jar("META-INF/maven/plugin.xml"),
        "greet-maven-plugin-1.0.pom": pom(group, "greet-maven-plugin", "1.0", packaging="maven-plugin"),
    }
    await deploy(api.http, alice, group, "greet-maven-plugin", "1.0", files)
    url = repo() + "com/example/plugins/maven-metadata.xml"
    assert (await api.http.get(url, headers=bob)).status_code == 404
    sent = plugin_group_metadata(
        ("greet-maven-plugin", "greet", "Greeting plugin"), ("absent-maven-plugin", "absent", "Not deployed")
    )
    r = await api.http.put(url, content=sent, headers=alice)
    assert r.status_code == 200 and "kept the plugin prefixes greet" in r.text
    got = await assert_parity(api, url, bob)
    assert got.status_code == 200, got.text
    assert xml_texts(got.content, "prefix") == ["greet"]
    assert xml_texts(got.content, "artifactId") == ["greet-maven-plugin"]
    assert xml_texts(got.content, "name") == ["Greeting plugin"]
    sha1 = await api.http.get(url + ".sha1", headers=bob)
    assert sha1.text == digest("sha1", got.content)
    # kept with the plugin's version, and served in a view only once a version of it is there
    record = await stored(api, "1.0", f"{group}:greet-maven-plugin")
    assert record is not None and record.manifest["plugin"] == {"prefix": "greet", "name": "Greeting plugin"}
    assert (
        await api.http.get(repo(view="Release") + "com/example/plugins/maven-metadata.xml", headers=bob)
    ).status_code == 404


# --- snapshots --------------------------------------------------------------------------------------------------


def snapshot_files(build: str, marker: str) -> dict[str, bytes]:
    return {
        f"lib-{build}.jar": jar(f"build {marker}"),
        f"lib-{build}.pom": pom(G, A, "1.0-SNAPSHOT", description=f"build {marker}"),
        f"lib-{build}-sources.jar": jar(f"sources {marker}"),
    }


async def test_a_checksum_of_a_snapshot_file_redeployed_through_another_worker_is_verified_in_storage(
    feed_api: Api,
) -> None:
    """This worker's read cache holds the first bytes; the file was deployed again elsewhere (written here straight
    to storage, as another worker would): the checksum of the new bytes is checked against storage, not the cache."""
    api = feed_api
    alice = basic(api.tokens["alice"])
    build = "1.0-20261101.120000-1"
    path = repo() + directory(G, A, "1.0-SNAPSHOT") + f"lib-{build}.jar"
    assert (await api.http.put(path, content=jar("first"), headers=alice)).status_code == 201
    feed = await api.services.feeds.find(ORG, None, "feed")
    cached = await api.services.packages.version(feed, "maven", f"{G}:{A}", "1.0-SNAPSHOT")  # this worker's copy
    assert cached is not None
    again = jar("second")
    store = api.services.packages.store
    meta, versions = await store.get_package(feed.id, "maven", f"{G}:{A}")
    assert meta is not None
    (fresh,) = versions
    changed = [{**f, "sha1": hashlib.sha1(again).hexdigest()} for f in fresh.files]  # noqa: S324 - Maven's checksum
    await store.update_version(feed.id, replace(fresh, files=changed), meta)
    r = await api.http.put(path + ".sha1", content=hashlib.sha1(again).hexdigest().encode(), headers=alice)  # noqa: S324
    assert r.status_code == 200, r.text
    r = await api.http.put(path + ".sha1", content=hashlib.sha1(b"other").hexdigest().encode(), headers=alice)  # noqa: S324
    assert r.status_code == 400 and "checksum mismatch" in r.text


async def test_two_snapshot_builds_and_the_snapshot_metadata_pointing_at_them(
    feed_api: Api, clock: MutableClock
) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    snap = directory(G, A, "1.0-SNAPSHOT")
    first, second = "1.0-20261101.120000-1", "1.0-20261101.130000-2"
    for r in await deploy(api.http, alice, G, A, "1.0-SNAPSHOT", snapshot_files(first, "one")):
        assert r.status_code in (200, 201), r.text
    clock.advance(hours=1)
    for r in await deploy(api.http, alice, G, A, "1.0-SNAPSHOT", snapshot_files(second, "two")):
        assert r.status_code in (200, 201), r.text
    url = repo() + snap + "maven-metadata.xml"
    got = await assert_parity(api, url, bob)
    assert got.status_code == 200, got.text
    assert got.headers["cache-control"] == "no-cache"
    assert xml_texts(got.content, "version") == ["1.0-SNAPSHOT"]
    assert xml_texts(got.content, "timestamp") == ["20261101.130000"]
    assert xml_texts(got.content, "buildNumber") == ["2"]
    values = xml_texts(got.content, "value")
    assert sorted(values) == [second] * 3
    # every snapshotVersion names a file that exists, and both builds are still served
    for build, marker in ((first, "one"), (second, "two")):
        for filename, data in snapshot_files(build, marker).items():
            r = await api.http.get(repo() + snap + filename, headers=bob)
            assert r.status_code == 200 and r.content == data, filename
            assert r.headers["cache-control"] == "private, no-cache"
    record = await stored(api, "1.0-SNAPSHOT")
    assert record is not None and record.manifest["description"] == "build two"
    sha1 = await api.http.get(url + ".sha1", headers=bob)
    assert sha1.text == digest("sha1", got.content)
    a_level = await api.http.get(repo() + "com/example/lib/maven-metadata.xml", headers=bob)
    assert xml_texts(a_level.content, "version") == ["1.0-SNAPSHOT"]


async def test_a_snapshot_file_deployed_again_replaces_the_stored_one(feed_api: Api) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    build = "1.0-20261101.120000-1"
    await deploy(api.http, alice, G, A, "1.0-SNAPSHOT", snapshot_files(build, "one"))
    url = repo() + directory(G, A, "1.0-SNAPSHOT") + f"lib-{build}.jar"
    again = jar("rebuilt")
    responses = await put_file(api.http, url, again, alice)
    assert [r.status_code for r in responses] == [201, 200, 200], [r.text for r in responses]
    got = await api.http.get(url, headers=bob)
    assert got.content == again and got.headers["x-checksum-sha1"] == digest("sha1", again)
    assert (await api.http.get(url + ".md5", headers=bob)).text == digest("md5", again)
    record = await stored(api, "1.0-SNAPSHOT")
    assert record is not None and len(record.files) == 3


async def test_only_the_newest_snapshot_builds_are_kept(make_settings: SettingsFactory, clock: MutableClock) -> None:
    async with running_api(make_settings(maven_snapshot_builds_kept=2), clock) as api:
        await api.create_feed("feed")
        await api.staff("feed")
        alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
        snap = repo() + directory(G, A, "1.0-SNAPSHOT")
        builds = [f"1.0-20261101.1{n}0000-{n}" for n in range(1, 4)]
        for n, build in enumerate(builds, start=1):
            clock.advance(minutes=10)
            await deploy(api.http, alice, G, A, "1.0-SNAPSHOT", snapshot_files(build, str(n)))
        record = await stored(api, "1.0-SNAPSHOT")
        assert record is not None
        assert sorted(f["filename"] for f in record.files) == sorted(
            [*snapshot_files(builds[1], "2"), *snapshot_files(builds[2], "3")]
        )
        for filename in snapshot_files(builds[0], "1"):
            assert (await api.http.get(snap + filename, headers=bob)).status_code == 404
            assert (await api.http.head(snap + filename, headers=bob)).status_code == 404
        got = await api.http.get(snap + "maven-metadata.xml", headers=bob)
        assert xml_texts(got.content, "buildNumber") == ["3"]
        assert set(xml_texts(got.content, "value")) == {builds[2]}


async def test_the_kept_builds_of_a_signed_gradle_snapshot_are_stored_whole(feed_api: Api) -> None:
    """Ten files a build (jar, sources, javadoc, POM, module, each signed) and the ten builds kept by default: more
    file entries than one table property holds on Azure."""
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    snap = repo() + directory(G, A, "1.0-SNAPSHOT")
    names: list[str] = []
    for n in range(1, 10):
        build = f"1.0-20261101.12{n:02d}00-{n}"
        files = {f"lib-{build}.pom": pom(G, A, "1.0-SNAPSHOT")}
        for suffix in ("", "-sources", "-javadoc"):
            files[f"lib-{build}{suffix}.jar"] = jar(f"{suffix or 'main'} {n}")
        files[f"lib-{build}.module"] = b'{"formatVersion": "1.1"}'
        files.update({f"{name}.asc": b"signature of " + name.encode() for name in list(files)})
        responses = await deploy(api.http, alice, G, A, "1.0-SNAPSHOT", files, checksums=())
        assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
        names.extend(files)
    record = await stored(api, "1.0-SNAPSHOT")
    assert record is not None and sorted(f["filename"] for f in record.files) == sorted(names)
    got = await api.http.get(snap + names[0], headers=bob)
    assert got.status_code == 200 and got.content == pom(G, A, "1.0-SNAPSHOT")
    refs = {key async for _, key in api.services.packages.store.blob_references()}
    assert {f"content/sha256/{f['sha256']}" for f in record.files} <= refs


# --- redeploys -------------------------------------------------------------------------------------------------


async def test_release_files_are_immutable_and_deleted_versions_stay_reserved(feed_api: Api) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    files = release_files()
    await deploy(api.http, alice, G, A, "1.0", files)
    url = repo() + DIR + "lib-1.0.jar"
    same = await api.http.put(url, content=files["lib-1.0.jar"], headers=alice)
    assert same.status_code == 200 and "nothing changed" in same.text
    other = await api.http.put(url, content=jar("other"), headers=alice)
    assert other.status_code == 409, other.text
    assert "lib-1.0.jar is already in com.example:lib 1.0 with different content" in other.text
    assert (await api.http.get(url, headers=bob)).content == files["lib-1.0.jar"]
    # a new file in a release directory is fine (javadoc after the fact)
    javadoc = await api.http.put(repo() + DIR + "lib-1.0-javadoc.jar", content=jar("doc"), headers=alice)
    assert javadoc.status_code == 201
    feed = await api.services.feeds.find(ORG, None, "feed")
    admin = await api.services.identity.authenticate(ORG, ADMIN_TOKEN)
    await api.services.packages.unpublish(feed, admin, "maven", f"{G}:{A}", ["1.0"])
    for data in (files["lib-1.0.jar"], jar("new")):
        r = await api.http.put(url, content=data, headers=alice)
        assert r.status_code == 409 and "was deleted from feed feed" in r.text and "stays reserved" in r.text
    r = await api.http.get(url, headers=bob)
    assert r.status_code == 404 and "deleted" in r.text


# --- credentials, roles and views -------------------------------------------------------------------------------


async def test_reads_without_credentials_get_a_basic_challenge(feed_api: Api) -> None:
    api = feed_api
    await deploy(api.http, basic(api.tokens["alice"]), G, A, "1.0", release_files())
    url = repo() + DIR + "lib-1.0.pom"
    for headers in ({}, basic("not-a-token"), {"Authorization": "Bearer nope"}):
        for method in ("GET", "HEAD", "PUT"):
            r = await api.http.request(method, url, headers=headers)
            assert r.status_code == 401, (headers, method)
            assert r.headers["www-authenticate"] == 'Basic realm="package feed"'
    r = await api.http.get(url)
    assert "give the repository's <server> in settings.xml any username and a personal access token" in r.text
    r = await api.http.get(repo(feed="missing") + DIR + "lib-1.0.pom")
    assert r.status_code == 401  # nothing said about which feeds exist before the credentials
    for headers in (basic(api.tokens["bob"], user=""), basic(api.tokens["bob"], user="x"), api.auth("bob")):
        assert (await api.http.get(url, headers=headers)).status_code == 200


async def test_readers_read_and_contributors_deploy(feed_api: Api) -> None:
    api = feed_api
    url = repo() + DIR + "lib-1.0.jar"
    for who in ("bob", "carol"):
        r = await api.http.put(url, content=jar("x"), headers=basic(api.tokens[who]))
        assert r.status_code == 403, r.text
        assert f"deploying artifacts in feed feed needs the Feed Publisher (contributor) role; user {who} has" in r.text
    assert await stored(api, "1.0") is None
    stranger = await api.token("dave", "vso.packaging_write")
    r = await api.http.get(url, headers=basic(stranger))
    assert (
        r.status_code == 403
        and "reading packages in feed feed needs the Feed Reader role; user dave has no role" in r.text
    )
    assert (await api.http.put(url, content=jar("x"), headers=basic(api.tokens["alice"]))).status_code == 201
    assert (await api.http.get(url, headers=basic(api.tokens["bob"]))).status_code == 200


async def test_a_view_shows_promoted_versions_and_takes_no_deploys(feed_api: Api) -> None:
    api = feed_api
    alice, bob = basic(api.tokens["alice"]), basic(api.tokens["bob"])
    await deploy(api.http, alice, G, A, "1.0", release_files("1.0"))
    await deploy(api.http, alice, G, A, "2.0", release_files("2.0"))
    view = repo(view="Release")
    r = await api.http.get(view + DIR + "lib-1.0.jar", headers=bob)
    assert r.status_code == 404 and "not in view feed@Release" in r.text
    feed = await api.services.feeds.find(ORG, None, "feed")
    release = feed.view_named("Release")
    assert release is not None
    admin = await api.services.identity.authenticate(ORG, ADMIN_TOKEN)
    await api.services.packages.promote(feed, admin, "maven", f"{G}:{A}", "1.0", release)
    assert (await api.http.get(view + DIR + "lib-1.0.jar", headers=bob)).status_code == 200
    meta = await api.http.get(view + "com/example/lib/maven-metadata.xml", headers=bob)
    assert xml_texts(meta.content, "version") == ["1.0"]
    r = await api.http.put(view + directory(G, A, "3.0") + "lib-3.0.jar", content=jar("x"), headers=alice)
    assert r.status_code == 400 and "drop @Release from the repository URL" in r.text


async def test_the_project_scoped_url_serves_the_same_repository(api: Api) -> None:
    r = await api.http.post(
        f"/{ORG}/proj/_apis/packaging/feeds?api-version=7.1", json={"name": "pfeed"}, headers=api.auth()
    )
    assert r.status_code == 201, r.text
    url = f"/{ORG}/proj/_packaging/pfeed/maven/v1/" + DIR + "lib-1.0.jar"
    data = jar("p")
    assert (await api.http.put(url, content=data, headers=basic(ADMIN_TOKEN))).status_code == 201
    assert (await api.http.get(url, headers=basic(ADMIN_TOKEN))).content == data
