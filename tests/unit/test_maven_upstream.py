"""Reading a Maven repository's answers: metadata into offered versions, checksum files, POM checks."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from feed_core.upstreams import maven
from feed_core.upstreams.models import BadDocument
from tests.maven_repo import metadata, plugin_metadata, pom

SHA1 = hashlib.sha1(b"x").hexdigest()  # noqa: S324 - a test value
SHA512 = hashlib.sha512(b"x").hexdigest()


def framed(body: bytes, last_modified: str = "") -> bytes:
    return json.dumps({"lastModified": last_modified}).encode() + b"\n" + body


def test_urls_follow_the_layout() -> None:
    assert maven.metadata_url("http://repo/maven2/", "org.example:lib") == (
        "http://repo/maven2/org/example/lib/maven-metadata.xml"
    )
    assert maven.metadata_url("http://repo", ":junit") == "http://repo/junit/maven-metadata.xml"
    assert maven.repository_url("http://repo/", "a/b/1.0+x/b-1.0+x.jar") == "http://repo/a/b/1.0%2Bx/b-1.0%2Bx.jar"


def test_versions_offered_snapshots_and_bad_versions_refused() -> None:
    body = metadata("org.example", "lib", ["1.0", "2.0-SNAPSHOT", "1.10", "1.9", "bad/version"], "20240102030405")
    package = maven.parse(framed(body), "org.example:lib", "http://repo")
    assert sorted(package.versions) == ["1.0", "1.10", "1.9"]
    assert "snapshot" in package.refused["2.0-SNAPSHOT"]
    assert "bad/version" not in package.versions  # not a Maven version: never offered
    # lastUpdated is when the file last changed: the highest release claims it, the others claim no time
    assert package.versions["1.10"].published == "2024-01-02T03:04:05.000Z"
    assert package.versions["1.9"].published is None and package.versions["1.0"].published is None
    assert package.modified == "2024-01-02T03:04:05.000Z"
    assert not package.versions["1.0"].files  # files are fetched by path, never listed


def test_last_modified_stands_in_for_a_missing_last_updated() -> None:
    body = metadata("g", "a", ["1.0"], last_updated="")
    package = maven.parse(framed(body, "Wed, 01 May 2024 10:00:00 GMT"), "g:a", "http://repo")
    assert package.versions["1.0"].published == "2024-05-01T10:00:00.000Z"
    unframed = maven.parse(body, "g:a", "http://repo")  # a document stored without the header line
    assert list(unframed.versions) == ["1.0"] and unframed.versions["1.0"].published is None


def test_plugins_of_the_group_reading_come_along() -> None:
    body = plugin_metadata([("Fixture Plugin", "fixture", "fixture-maven-plugin")])
    package = maven.parse(framed(body), "org.example:plugins", "http://repo")
    assert package.versions == {}
    (plugin,) = package.extras["plugins"]
    assert (plugin.prefix, plugin.artifact_id) == ("fixture", "fixture-maven-plugin")


def test_metadata_of_another_coordinate_is_refused() -> None:
    with pytest.raises(BadDocument, match=re.escape("is about org.other:lib")):
        maven.parse(framed(metadata("org.other", "lib", ["1.0"])), "org.example:lib", "http://repo")


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x "y">]><metadata><groupId>&x;</groupId></metadata>',
        b"<metadata><versioning><versions>"
        + b"<version>1</version>" * 200_001
        + b"</versions></versioning></metadata>",
        b"not xml at all",
    ],
    ids=["dtd", "huge", "garbage"],
)
def test_hostile_metadata_is_refused(body: bytes) -> None:
    with pytest.raises(BadDocument, match=re.escape("maven-metadata.xml for g:a that was refused")):
        maven.parse(framed(body), "g:a", "http://repo")


@pytest.mark.parametrize(
    ("text", "algorithm", "expected"),
    [
        (SHA1, "sha1", SHA1),
        (f"{SHA1.upper()}\n", "sha1", SHA1),
        (f"\n  {SHA1}  lib-1.0.jar\n", "sha1", SHA1),
        (f"{SHA1} *lib-1.0.jar", "sha1", SHA1),
        (f"SHA1(lib-1.0.jar)= {SHA1}", "sha1", SHA1),
        (f"SHA512 (lib-1.0.jar) = {SHA512}", "sha512", SHA512),
    ],
)
def test_checksum_files_in_every_common_form(text: str, algorithm: str, expected: str) -> None:
    assert maven.read_checksum(text.encode(), algorithm) == expected


@pytest.mark.parametrize(
    ("text", "algorithm"), [("", "sha1"), ("<html>not found</html>", "sha1"), (SHA1, "sha512"), ("zz" * 20, "sha1")]
)
def test_checksum_files_without_a_digest_are_refused(text: str, algorithm: str) -> None:
    with pytest.raises(BadDocument, match=f"its .{algorithm} file holds"):
        maven.read_checksum(text.encode(), algorithm)


def test_a_pom_must_be_the_coordinates_pom() -> None:
    maven.check_file("org.example:lib", "1.0", "lib-1.0.pom", pom("org.example", "lib", "1.0"))
    with pytest.raises(BadDocument, match=re.escape("lib-1.0.pom")):
        maven.check_file("org.example:lib", "1.0", "lib-1.0.pom", pom("org.example", "other", "1.0"))
    with pytest.raises(BadDocument, match=re.escape("lib-1.0.pom")):
        maven.check_file("org.example:lib", "1.0", "lib-1.0.pom", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///'>]><x/>")
    maven.check_file("org.example:lib", "1.0", "lib-1.0.jar", b"any bytes: a jar is verified by its hashes")
    assert maven.checks("lib-1.0.pom") and not maven.checks("lib-1.0.jar") and not maven.checks("lib-1.0.pom.asc")


def test_feed_upstreams_offer_releases_only() -> None:
    assert maven.offered("1.0") and not maven.offered("1.0-SNAPSHOT")
