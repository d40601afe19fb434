"""Maven repository paths: files, checksums and metadata read from the right, and what is refused."""

from __future__ import annotations

import pytest

from feed_core.domain.maven_layout import (
    CHECKSUM_ALGORITHMS,
    METADATA_FILE,
    ArtifactFile,
    FileRequest,
    MavenPathError,
    MetadataRequest,
    file_path,
    parse_path,
    read_file_name,
    validate_artifact_id,
    validate_group_id,
    validate_version,
)


def _file(path: str) -> FileRequest:
    request = parse_path(path)
    assert isinstance(request, FileRequest)
    return request


def _metadata(path: str) -> MetadataRequest:
    request = parse_path(path)
    assert isinstance(request, MetadataRequest)
    return request


@pytest.mark.parametrize(
    ("path", "group", "artifact", "version", "unique", "classifier", "extension"),
    [
        ("org/example/demo/1.0/demo-1.0.jar", "org.example", "demo", "1.0", "1.0", "", "jar"),
        ("org/example/demo/1.0/demo-1.0.pom", "org.example", "demo", "1.0", "1.0", "", "pom"),
        ("org/example/demo/1.0/demo-1.0-sources.jar", "org.example", "demo", "1.0", "1.0", "sources", "jar"),
        ("org/example/demo/1.0/demo-1.0.module", "org.example", "demo", "1.0", "1.0", "", "module"),
        ("org/example/demo/1.0/demo-1.0.jar.asc", "org.example", "demo", "1.0", "1.0", "", "jar.asc"),
        (
            "org/apache/maven/apache-maven/3.8.4/apache-maven-3.8.4-bin.tar.gz",
            "org.apache.maven",
            "apache-maven",
            "3.8.4",
            "3.8.4",
            "bin",
            "tar.gz",
        ),
        ("g/a/1.0/a-1.0-natives-linux-x86_64.jar", "g", "a", "1.0", "1.0", "natives-linux-x86_64", "jar"),
        ("g/a.b/1.0/a.b-1.0.jar", "g", "a.b", "1.0", "1.0", "", "jar"),
        ("g/a/1.0+build.5/a-1.0+build.5.jar", "g", "a", "1.0+build.5", "1.0+build.5", "", "jar"),
        ("g/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar", "g", "a", "1.0-SNAPSHOT", "1.0-SNAPSHOT", "", "jar"),
        (
            "g/a/1.0-SNAPSHOT/a-1.0-20240101.120000-3.jar",
            "g",
            "a",
            "1.0-SNAPSHOT",
            "1.0-20240101.120000-3",
            "",
            "jar",
        ),
        (
            "com/acme/a/1.0-SNAPSHOT/a-1.0-20240101.120000-3-sources.jar",
            "com.acme",
            "a",
            "1.0-SNAPSHOT",
            "1.0-20240101.120000-3",
            "sources",
            "jar",
        ),
        ("g/a/SNAPSHOT/a-20240101.120000-12.pom", "g", "a", "SNAPSHOT", "20240101.120000-12", "", "pom"),
        # the directory's version is tried first: 1-1 names the version, not a classifier
        ("g/a/1-1/a-1-1.jar", "g", "a", "1-1", "1-1", "", "jar"),
        ("g/a/1/a-1-1.jar", "g", "a", "1", "1", "1", "jar"),
        ("g/a/1.0/a-1.0.7z", "g", "a", "1.0", "1.0", "", "7z"),
    ],
)
def test_file_paths(
    path: str, group: str, artifact: str, version: str, unique: str, classifier: str, extension: str
) -> None:
    request = _file(path)
    assert request.checksum is None
    expected = ArtifactFile(group, artifact, version, path.rsplit("/", 1)[1], unique, classifier, extension)
    assert request.file == expected
    assert request.file.path == path
    assert request.file.name == f"{group}:{artifact}"
    assert request.file.is_snapshot is version.endswith("SNAPSHOT")


@pytest.mark.parametrize("algorithm", sorted(CHECKSUM_ALGORITHMS))
def test_checksum_siblings(algorithm: str) -> None:
    request = _file(f"org/example/demo/1.0/demo-1.0-sources.jar.{algorithm}")
    assert request.checksum == CHECKSUM_ALGORITHMS[algorithm]
    assert request.file.filename == "demo-1.0-sources.jar"
    assert request.file.extension == "jar"
    signature = _file(f"g/a/1.0/a-1.0.jar.asc.{algorithm}")
    assert (signature.file.extension, signature.checksum) == ("jar.asc", algorithm)
    metadata = _metadata(f"g/a/{METADATA_FILE}.{algorithm}")
    assert metadata.checksum == algorithm


def test_metadata_levels() -> None:
    artifact = _metadata("org/example/demo/maven-metadata.xml")
    assert artifact.directory == ("org", "example", "demo")
    assert artifact.checksum is None
    assert artifact.artifact == ("org.example", "demo")
    assert artifact.group == "org.example.demo"  # the same path is also a group's
    assert artifact.snapshot is None

    snapshot = _metadata("org/example/demo/1.0-SNAPSHOT/maven-metadata.xml")
    assert snapshot.snapshot == ("org.example", "demo", "1.0-SNAPSHOT")
    assert snapshot.artifact == ("org.example.demo", "1.0-SNAPSHOT")  # an artifactId may look like that too
    assert snapshot.group == ""

    group = _metadata("org/codehaus/mojo/maven-metadata.xml")
    assert group.group == "org.codehaus.mojo"
    assert group.artifact == ("org.codehaus", "mojo")

    single = _metadata("mojo/maven-metadata.xml")
    assert (single.group, single.artifact, single.snapshot) == ("mojo", None, None)

    dotted = _metadata("g/a.b/maven-metadata.xml")
    assert (dotted.artifact, dotted.group) == (("g", "a.b"), "")


def test_snapshot_without_dot_is_also_an_artifact_reading() -> None:
    request = _metadata("g/a/SNAPSHOT/maven-metadata.xml")
    assert request.snapshot == ("g", "a", "SNAPSHOT")
    assert request.artifact == ("g.a", "SNAPSHOT")
    assert request.group == "g.a.SNAPSHOT"


def test_file_path_and_read_file_name() -> None:
    assert file_path("org.example", "demo", "1.0", "demo-1.0.jar") == "org/example/demo/1.0/demo-1.0.jar"
    file = read_file_name("org.example", "demo", "1.0-SNAPSHOT", "demo-1.0-20240101.120000-3-tests.jar")
    assert (file.unique_version, file.classifier, file.extension) == ("1.0-20240101.120000-3", "tests", "jar")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a/b/../c", "'a/b/../c' is not a Maven repository path: '..' segments are not allowed"),
        ("../etc/passwd", "'..' segments are not allowed"),
        ("g/a/1.0/..", "'..' segments are not allowed"),
        ("g/./a/1.0/a-1.0.jar", "'.' segments are not allowed"),
        ("/g/a/1.0/a-1.0.jar", "empty segments"),
        ("g//a/1.0/a-1.0.jar", "empty segments"),
        ("g/a/1.0/", "ends with '/'"),
        ("", "it is empty"),
        ("g/a/1.0/a-1.0.jar\x00.pom", "control character U+0000"),
        ("g/a/1.0/a-1.0\n.jar", "control character U+000A"),
        ("g/a/1.0/a-1.0.jar\x7f", "control character U+007F"),
        ("g/%2e%2e/1.0/a-1.0.jar", "holds '%'"),
        ("g/a/1.0/..%2fa-1.0.jar", "holds '%'"),
        ("g\\..\\a/1.0/a-1.0.jar", "'\\\\' is a path separator"),
        ("g/a/1.0/a-1.0 .jar", "holds ' '"),
        ("g/a/1.0/a-1.0.jär", "holds 'ä'"),
        ("g/" + "a" * 201 + "/1.0/a-1.0.jar", "longer than 200 characters"),
        ("/".join(["g"] * 600), "longer than 1024 characters"),
        ("g/a/a-1.0.jar", "a file path is"),
        ("a-1.0.jar", "a file path is"),
        ("org.example/demo/1.0/demo-1.0.jar", "groupId directory 'org.example'"),
        ("g+x/a/1.0/a-1.0.jar", "groupId directory 'g+x'"),
        ("g/a+b/1.0/a+b-1.0.jar", "not a valid artifactId"),
        ("g/a/1.0/b-1.0.jar", "does not start with 'a-'"),
        ("g/a/1.0/a-1.1.jar", "is not the directory's"),
        ("g/a/1.0/a-1.0.1.jar", "is not the directory's '1.0' (it continues with '.1')"),
        ("g/a/1.0/a-1.0jar", "is not the directory's"),
        ("g/a/1.0/a-1.0", "is not the directory's"),
        ("g/a/1.0/a-1.0.", "has no extension"),
        ("g/a/1.0/a-1.0-sources", "has no extension"),
        ("g/a/1.0/a-1.0-.jar", "no valid classifier"),
        ("g/a/1.0/a-1.0-x+y.jar", "no valid classifier"),
        ("g/a/1.0/a-1.0..jar", "dot-separated parts"),
        ("g/a/1.0/a-1.0.tar..gz", "dot-separated parts"),
        ("g/a/1.0/a-1.0.tar-gz", "dot-separated parts"),
        ("g/a/1.0-SNAPSHOT/a-1.0-20240101.1200-3.jar", "expected '1.0-SNAPSHOT' or a build's"),
        ("g/a/1.0-SNAPSHOT/a-1.0-20240101.120000-1234567890.jar", "is not the directory's"),
        ("g/a/1.0-SNAPSHOT/a-1.1-20240101.120000-3.jar", "is not the directory's"),
        ("g/a/1.0/a-1.0.jar.sha1.md5", "'a-1.0.jar.sha1.md5' is a checksum of a checksum file"),
        ("g/a/1.0/a-1.0.jar.sha512.sha1", "is a checksum of a checksum file"),
        ("g/maven-metadata.xml.md5.sha1", "is a checksum of a checksum file"),
        ("maven-metadata.xml", "belongs to no group"),
        ("org.example/x/demo/maven-metadata.xml", "a groupId directory may only hold"),
        ("g/a+b/1.0/maven-metadata.xml", "neither a group, an artifact nor a snapshot version"),
    ],
)
def test_refused_paths_say_why(path: str, message: str) -> None:
    with pytest.raises(MavenPathError) as caught:
        parse_path(path)
    text = str(caught.value)
    assert "is not a Maven repository path: " in text
    assert message in text
    assert len(text) < 400  # long input is cut short in the message


def test_refusal_is_a_value_error_and_quotes_safely() -> None:
    with pytest.raises(ValueError, match=r"\\x00"):
        parse_path("g/a/1.0/a\x00")


@pytest.mark.parametrize("text", ["org.example", "g", "com.acme-corp.x_y", "a" * 200])
def test_valid_group_ids(text: str) -> None:
    assert validate_group_id(text) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a valid groupId: it is empty"),
        ("org..example", "dot-separated parts may not be empty"),
        (".org", "dot-separated parts may not be empty"),
        ("org.", "dot-separated parts may not be empty"),
        ("..", "relative path segment"),
        ("org/example", "'/' is a path separator"),
        ("org:example", "holds ':'"),
        ("org+x", "only letters, digits and _ . - are allowed"),
        ("a" * 201, "longer than 200"),
    ],
)
def test_invalid_group_ids(text: str, message: str) -> None:
    with pytest.raises(MavenPathError, match=message.replace("+", r"\+").replace(".", r"\.")):
        validate_group_id(text)


def test_artifact_ids_and_versions() -> None:
    assert validate_artifact_id("jackson-databind") == "jackson-databind"
    assert validate_artifact_id("org.eclipse.sisu.inject") == "org.eclipse.sisu.inject"
    assert validate_version("1.0+build.5") == "1.0+build.5"
    assert validate_version("1.0-SNAPSHOT") == "1.0-SNAPSHOT"
    for bad in ("", ".", "..", "a/b", "a b", "a+b", "a\x01"):
        with pytest.raises(MavenPathError, match="is not a valid artifactId"):
            validate_artifact_id(bad)
    for bad in ("", "..", "1.0/..", "1.0 ", "1:0", "1" * 201):
        with pytest.raises(MavenPathError, match="is not a valid version"):
            validate_version(bad)
