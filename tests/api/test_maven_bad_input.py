"""Bad Maven requests, on both stores: each gets a clear 4xx whose body says what is wrong (mvn prints the status
line and the body), and nothing of it is stored."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.maven_packages import basic, deploy, directory, jar, plugin_group_metadata, pom, repo

G, A = "com.example", "lib"
DIR = directory(G, A, "1.0")
FILE = DIR + "lib-1.0.jar"


async def stored_state(api: Api) -> tuple[set[str], dict[str, list[tuple[str, list[str]]]]]:
    """Every blob key, and every Maven package of the feed with its versions and their files."""
    blobs = {b.key async for b in api.services.packages.store.blobs.list_blobs("content/")}
    feed = await api.services.feeds.find(ORG, None, "feed")
    packages = {}
    for entry in await api.services.packages.store.list_index(feed.id, "maven"):
        _, versions = await api.services.packages.store.get_package(feed.id, "maven", entry.name)
        packages[entry.name] = sorted((v.version, sorted(f["filename"] for f in v.files)) for v in versions)
    return blobs, packages


@pytest.fixture
async def deployed(feed_api: Api) -> Api:
    """The feed with com.example:lib:1.0 (jar and POM) deployed by alice."""
    files = {"lib-1.0.jar": jar("Main.class"), "lib-1.0.pom": pom(G, A, "1.0")}
    for r in await deploy(feed_api.http, basic(feed_api.tokens["alice"]), G, A, "1.0", files):
        assert r.status_code in (200, 201), r.text
    return feed_api


def alice(api: Api) -> dict[str, str]:
    return basic(api.tokens["alice"])


# --- paths -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["%2e%2e", "%2E%2e", "%2e", "a%2Fb", "..%5Cetc", "x%00y"])
async def test_traversal_in_any_segment_is_refused(deployed: Api, bad: str) -> None:
    api = deployed
    before = await stored_state(api)
    segments = FILE.split("/")
    for i in range(len(segments)):
        path = "/".join([*segments[:i], bad, *segments[i + 1 :]])
        for method in ("GET", "HEAD", "PUT"):
            r = await api.http.request(
                method, repo() + path, content=b"x" if method == "PUT" else None, headers=alice(api)
            )
            assert r.status_code == 400, (path, method, r.text)
            if method != "HEAD":
                assert "invalid path: '.' and '..' segments, encoded slashes, backslashes and NUL" in r.text
    assert await stored_state(api) == before


NOT_COORDINATES = {
    "lib/1.0/lib-1.0.jar": "a file path is {groupId as directories}/{artifactId}/{version}/{file name}",
    "com/example/lib/1.0/other-1.0.jar": "file name 'other-1.0.jar' does not start with 'lib-'",
    "com/example/lib/1.0/lib-2.0.jar": "the version in file name 'lib-2.0.jar' is not the directory's",
    "com/ex%20ample/lib/1.0/lib-1.0.jar": "holds ' ' (only letters, digits and _ . - + are allowed)",
    "com/example/lib/1.0/lib-1.0-sources": "has no extension",
    "com/example/lib/1.0/": "directory listings are not served",
    "com/example/lib/1.0-SNAPSHOT/lib-1.0-2026.jar": "is not the directory's",
    "com/exa$mple/lib/maven-metadata.xml": "holds '$'",
}


async def test_a_path_that_is_no_maven_coordinate_is_refused_saying_why(deployed: Api) -> None:
    api = deployed
    before = await stored_state(api)
    for path, message in NOT_COORDINATES.items():
        r = await api.http.put(repo() + path, content=jar("x"), headers=alice(api))
        assert r.status_code == 400, (path, r.text)
        assert "is not a Maven repository path" in r.text and message in r.text, (path, r.text)
        # nothing can be stored there: a read is a plain 404, with the same reason
        for method in ("GET", "HEAD"):
            r = await api.http.request(method, repo() + path, headers=alice(api))
            assert r.status_code == 404, (path, method)
        assert message in (await api.http.get(repo() + path, headers=alice(api))).text
    assert await stored_state(api) == before


async def test_only_v1_is_a_maven_repository_and_only_get_head_put_are_served(deployed: Api) -> None:
    api = deployed
    r = await api.http.get(f"/{ORG}/_packaging/feed/maven/v2/" + FILE, headers=alice(api))
    assert r.status_code == 404 and "the repository URL is …/_packaging/feed/maven/v1" in r.text
    for method in ("DELETE", "POST", "PATCH"):
        r = await api.http.request(method, repo() + FILE, headers=alice(api))
        assert r.status_code == 405, method
        assert r.headers["allow"] == "GET, HEAD, PUT" and "read with GET and HEAD and deployed to with PUT" in r.text
    assert (await api.http.get(repo() + FILE, headers=alice(api))).status_code == 200


# --- POMs ------------------------------------------------------------------------------------------------------

BAD_POMS = {
    "not XML": (b"this is not a POM", "lib-2.0.pom: "),
    "DTD": (
        b'<?xml version="1.0"?><!DOCTYPE project [<!ENTITY x "xx">]><project><groupId>com.example</groupId>'
        b"<artifactId>lib</artifactId><version>2.0</version></project>",
        "DTD",
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<project><description>&xxe;</description></project>",
        "DTD",
    ),
    "other groupId": (pom("org.other", A, "2.0"), "'org.other'"),
    "other artifactId": (pom(G, "other", "2.0"), "'other'"),
    "other version": (pom(G, A, "2.1"), "'2.1'"),
}


@pytest.mark.parametrize("case", list(BAD_POMS))
async def test_a_bad_pom_is_refused_and_nothing_of_its_version_is_stored(deployed: Api, case: str) -> None:
    api = deployed
    before = await stored_state(api)
    data, message = BAD_POMS[case]
    url = repo() + directory(G, A, "2.0") + "lib-2.0.pom"
    r = await api.http.put(url, content=data, headers=alice(api))
    assert r.status_code == 400, r.text
    assert r.text.startswith("lib-2.0.pom: ") and message in r.text, r.text
    assert await stored_state(api) == before
    assert (await api.http.get(url, headers=alice(api))).status_code == 404


# --- checksums -------------------------------------------------------------------------------------------------


async def test_a_checksum_that_does_not_match_the_stored_file_is_a_400_naming_both(deployed: Api) -> None:
    api = deployed
    before = await stored_state(api)
    data = jar("Main.class")
    wrong = hashlib.sha1(b"other bytes", usedforsecurity=False).hexdigest()
    r = await api.http.put(repo() + FILE + ".sha1", content=wrong.encode(), headers=alice(api))
    assert r.status_code == 400, r.text
    right = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    assert f"checksum mismatch: the SHA1 sent for lib-1.0.jar is {wrong}, but the file the feed received" in r.text
    assert f"has {right}" in r.text
    # the stored file and its checksum are unchanged: the checksum file was never stored
    assert (await api.http.get(repo() + FILE + ".sha1", headers=alice(api))).text == right
    assert await stored_state(api) == before
    # a checksum in the forms clients write it is read: "hex  filename", upper case, BSD style
    for body in (f"{right}  lib-1.0.jar\n", right.upper(), f"SHA1 (lib-1.0.jar) = {right}\n"):
        r = await api.http.put(repo() + FILE + ".sha1", content=body.encode(), headers=alice(api))
        assert r.status_code == 200, (body, r.text)


async def test_checksums_of_files_not_stored_and_malformed_checksums_are_refused(deployed: Api) -> None:
    api = deployed
    before = await stored_state(api)
    sha1 = hashlib.sha1(b"x", usedforsecurity=False).hexdigest()
    r = await api.http.put(repo() + DIR + "lib-1.0-sources.jar.sha1", content=sha1.encode(), headers=alice(api))
    assert r.status_code == 404
    assert "lib-1.0-sources.jar is not stored in feed feed: deploy it before lib-1.0-sources.jar.sha1" in r.text
    cases = {
        b"abc": "is not 40 hex digits (got 'abc')",
        b"": "is not 40 hex digits (got 'an empty body')",
        "é".encode(): "is not ASCII text",
        b"z" * 40: "is not 40 hex digits",
    }
    for body, message in cases.items():
        r = await api.http.put(repo() + FILE + ".sha1", content=body, headers=alice(api))
        assert r.status_code == 400 and f"the SHA1 checksum sent for lib-1.0.jar {message}" in r.text, r.text
    r = await api.http.put(repo() + FILE + ".md5", content=b"0" * 5000, headers=alice(api))
    assert r.status_code == 413 and "at most 4096" in r.text
    assert await stored_state(api) == before


# --- client metadata -------------------------------------------------------------------------------------------


async def test_client_metadata_must_be_safe_xml_and_is_never_stored(deployed: Api) -> None:
    api = deployed
    before = await stored_state(api)
    url = repo() + "com/example/lib/maven-metadata.xml"
    cases = {
        b"not xml at all": "com/example/lib/maven-metadata.xml: ",
        b'<?xml version="1.0"?><!DOCTYPE metadata [<!ENTITY a "b">]><metadata/>': "DTD",
    }
    for body, message in cases.items():
        r = await api.http.put(url, content=body, headers=alice(api))
        assert r.status_code == 400 and message in r.text, r.text
    r = await api.http.put(url + ".sha1", content=b"not a checksum", headers=alice(api))
    assert r.status_code == 400 and "is not 40 hex digits" in r.text
    # plugins named by group metadata that the feed does not hold under that group are not kept
    group = repo() + "com/example/maven-metadata.xml"
    r = await api.http.put(
        group, content=plugin_group_metadata(("nothing-maven-plugin", "nothing", "N")), headers=alice(api)
    )
    assert r.status_code == 200 and "kept" not in r.text
    assert (await api.http.get(group, headers=alice(api))).status_code == 404
    assert await stored_state(api) == before


# --- sizes, redeploys ------------------------------------------------------------------------------------------


async def test_an_upload_over_the_limit_is_a_413_declared_or_streamed(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings(max_upload_bytes=2048), clock) as api:
        await api.create_feed("feed")
        await api.staff("feed")
        before = await stored_state(api)
        r = await api.http.put(repo() + FILE, content=b"x" * 4096, headers=alice(api))
        assert r.status_code == 413 and "the request body is 4096 bytes; this feed accepts at most 2048" in r.text

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"x" * 1024

        r = await api.http.put(repo() + FILE, content=chunks(), headers=alice(api))
        assert r.status_code == 413 and "larger than the 2048 bytes this feed accepts" in r.text
        assert await stored_state(api) == before
        assert (await api.http.get(repo() + FILE, headers=alice(api))).status_code == 404


async def test_redeploying_a_release_file_with_other_bytes_is_a_409(deployed: Api) -> None:
    api = deployed
    before = await stored_state(api)
    for name, data in (("lib-1.0.jar", jar("changed")), ("lib-1.0.pom", pom(G, A, "1.0", description="changed"))):
        r = await api.http.put(repo() + DIR + name, content=data, headers=alice(api))
        assert r.status_code == 409, r.text
        assert f"{name} is already in com.example:lib 1.0 with different content; files are immutable" in r.text
    assert await stored_state(api) == before
    assert (await api.http.get(repo() + FILE, headers=alice(api))).content == jar("Main.class")


async def test_a_version_holds_a_bounded_number_of_files(deployed: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feed_core.protocols.maven_deploy.MAX_VERSION_FILES", 3)
    api = deployed
    r = await api.http.put(repo() + DIR + "lib-1.0-sources.jar", content=jar("Src.java"), headers=alice(api))
    assert r.status_code == 201, r.text
    before = await stored_state(api)
    r = await api.http.put(repo() + DIR + "lib-1.0-javadoc.jar", content=jar("index.html"), headers=alice(api))
    assert r.status_code == 409 and "already holds 3 files, the most one version may hold" in r.text
    assert await stored_state(api) == before
    again = await api.http.put(repo() + DIR + "lib-1.0-sources.jar", content=jar("Src.java"), headers=alice(api))
    assert again.status_code == 200, again.text  # a file it holds may still be sent again


# --- feeds and credentials -------------------------------------------------------------------------------------


async def test_unknown_feeds_and_views_are_404s_once_the_caller_is_known(deployed: Api) -> None:
    api = deployed
    r = await api.http.get(repo(feed="missing") + FILE, headers=alice(api))
    assert r.status_code == 404 and "feed 'missing' does not exist in organization 'local'" in r.text
    r = await api.http.put(repo(feed="missing") + FILE, content=b"x", headers=alice(api))
    assert r.status_code == 404
    r = await api.http.get(repo(view="Nope") + FILE, headers=alice(api))
    assert r.status_code == 404 and "view 'Nope' does not exist in feed 'feed'" in r.text


async def test_missing_or_weak_credentials_store_nothing(deployed: Api) -> None:
    api = deployed
    before = await stored_state(api)
    url = repo() + directory(G, A, "2.0") + "lib-2.0.jar"
    r = await api.http.put(url, content=jar("x"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="package feed"'
    r = await api.http.put(url, content=jar("x"), headers=basic("fpat_forged"))
    assert r.status_code == 401 and "the token is not valid" in r.text
    r = await api.http.put(url, content=jar("x"), headers={"Authorization": "Digest abc"})
    assert r.status_code == 401 and "unsupported authorization scheme 'digest'; use Basic or Bearer" in r.text
    r = await api.http.put(url, content=jar("x"), headers={"Authorization": "Basic %%%"})
    assert r.status_code == 401 and "not valid base64" in r.text
    read_only = await api.token("alice", "vso.packaging")  # alice is a contributor; this token only reads
    r = await api.http.put(url, content=jar("x"), headers=basic(read_only))
    assert r.status_code == 403 and "the token's scope" in r.text
    r = await api.http.put(url, content=jar("x"), headers=basic(api.tokens["bob"]))
    assert (
        r.status_code == 403
        and "needs the Feed Publisher (contributor) role; user bob has the Feed Reader role" in r.text
    )
    assert await stored_state(api) == before
