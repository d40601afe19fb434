"""maven-metadata.xml: reading (and what is refused), writing, building from stored files, merging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feed_core.domain.maven_layout import ArtifactFile, read_file_name
from feed_core.domain.maven_metadata import (
    Metadata,
    MetadataError,
    PluginEntry,
    SnapshotFile,
    artifact_metadata,
    last_updated,
    merge_metadata,
    parse_metadata,
    render_metadata,
    snapshot_metadata,
    updated_time,
)
from feed_core.domain.maven_versions import SnapshotBuild

A_LEVEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="urn:example:metadata" modelVersion="1.1.0">
  <groupId>org.example</groupId>
  <artifactId>demo</artifactId>
  <versioning>
    <latest>1.10</latest>
    <release>1.10</release>
    <versions>
      <version>1.2</version>
      <version>1.9</version>
      <version> 1.10 </version>
      <version>1.9</version>
      <version>not a version/../x</version>
      <version></version>
    </versions>
    <lastUpdated>20240102030405</lastUpdated>
  </versioning>
</metadata>
"""

V_LEVEL = b"""<metadata modelVersion="1.1.0">
  <groupId>org.example</groupId>
  <artifactId>demo</artifactId>
  <version>1.0-SNAPSHOT</version>
  <versioning>
    <snapshot>
      <timestamp>20240101.120000</timestamp>
      <buildNumber>3</buildNumber>
    </snapshot>
    <lastUpdated>20240101120001</lastUpdated>
    <snapshotVersions>
      <snapshotVersion>
        <extension>jar</extension>
        <value>1.0-20240101.120000-3</value>
        <updated>20240101120001</updated>
      </snapshotVersion>
      <snapshotVersion>
        <classifier>sources</classifier>
        <extension>jar</extension>
        <value>1.0-20240101.120000-3</value>
        <updated>20240101120001</updated>
      </snapshotVersion>
      <snapshotVersion>
        <extension>pom</extension>
        <value>1.0-20240101.120000-3</value>
        <updated>20240101120001</updated>
      </snapshotVersion>
    </snapshotVersions>
  </versioning>
</metadata>
"""

G_LEVEL = b"""<?xml version="1.0"?>
<metadata>
  <plugins>
    <plugin><name>Demo Plugin</name><prefix>demo</prefix><artifactId>demo-maven-plugin</artifactId></plugin>
    <plugin><name>Other</name><prefix>demo</prefix><artifactId>other-maven-plugin</artifactId></plugin>
    <plugin><name>No prefix</name><artifactId>x-maven-plugin</artifactId></plugin>
    <plugin><prefix>tools</prefix><artifactId>tools-maven-plugin</artifactId></plugin>
  </plugins>
</metadata>
"""


def test_reads_a_level_with_a_namespace() -> None:
    m = parse_metadata(A_LEVEL)
    assert (m.group_id, m.artifact_id, m.version) == ("org.example", "demo", "")
    assert m.versions == ("1.2", "1.9", "1.10")  # document order, duplicates and unservable entries left out
    assert (m.latest, m.release, m.last_updated) == ("1.10", "1.10", "20240102030405")
    assert m.snapshot is None and m.snapshot_files == () and m.plugins == ()


def test_reads_v_level() -> None:
    m = parse_metadata(V_LEVEL)
    assert m.version == "1.0-SNAPSHOT"
    assert m.snapshot == SnapshotBuild("1.0-SNAPSHOT", "20240101.120000", 3)
    assert m.snapshot_files == (
        SnapshotFile("", "jar", "1.0-20240101.120000-3", "20240101120001"),
        SnapshotFile("sources", "jar", "1.0-20240101.120000-3", "20240101120001"),
        SnapshotFile("", "pom", "1.0-20240101.120000-3", "20240101120001"),
    )


def test_reads_g_level_plugins_first_prefix_wins() -> None:
    m = parse_metadata(G_LEVEL)
    assert m.plugins == (
        PluginEntry("Demo Plugin", "demo", "demo-maven-plugin"),
        PluginEntry("", "tools", "tools-maven-plugin"),
    )
    assert m.versions == () and m.group_id == ""


def test_local_copy_snapshot_has_no_build() -> None:
    doc = b"<metadata><version>1.0-SNAPSHOT</version><versioning><snapshot><localCopy>true</localCopy></snapshot>"
    doc += b"</versioning></metadata>"
    assert parse_metadata(doc).snapshot is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not xml at all", "the maven-metadata.xml is not well-formed XML"),
        (b"", "the maven-metadata.xml is not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<metadata><groupId>&lol2;</groupId></metadata>",
            "declares a DTD",
        ),
        (
            b'<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><metadata><groupId>&x;</groupId></metadata>',
            "declares a DTD",
        ),
        (b"<metadata><groupId>&undeclared;</groupId></metadata>", "the maven-metadata.xml "),
        (b"<project><groupId>g</groupId></project>", "has the root element <project>, not <metadata>"),
        (b"<metadata><groupId>org/../x</groupId></metadata>", "names the groupId 'org/../x', which is not valid"),
        (b"<metadata><artifactId>a b</artifactId></metadata>", "names the artifactId 'a b'"),
        (
            b"<metadata><versioning><lastUpdated>2024-01-01</lastUpdated></versioning></metadata>",
            "has the lastUpdated '2024-01-01', which is not a yyyyMMddHHmmss time",
        ),
        (
            b"<metadata><versioning><lastUpdated>20241301000000</lastUpdated></versioning></metadata>",
            "has the lastUpdated '20241301000000'",
        ),
        (
            b"<metadata><versioning><snapshot><timestamp>20240101120000</timestamp><buildNumber>1</buildNumber>"
            b"</snapshot></versioning></metadata>",
            "snapshot timestamp '20240101120000', which is not a yyyyMMdd.HHmmss time",
        ),
        (
            b"<metadata><versioning><snapshot><timestamp>20240101.120000</timestamp><buildNumber>-1</buildNumber>"
            b"</snapshot></versioning></metadata>",
            "buildNumber '-1', which is not a build number",
        ),
        (
            b"<metadata><versioning><snapshot><timestamp>20240101.120000</timestamp>"
            b"<buildNumber>99999999999999999999</buildNumber></snapshot></versioning></metadata>",
            "buildNumber '99999999999999999999'",
        ),
        (
            b"<metadata><versioning><snapshotVersions><snapshotVersion><extension>jar</extension>"
            b"<value>1.0-20240101.120000-1</value><updated>yesterday</updated></snapshotVersion>"
            b"</snapshotVersions></versioning></metadata>",
            "has the snapshotVersion updated 'yesterday'",
        ),
    ],
)
def test_refused_documents_say_why(data: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=r"^the maven-metadata\.xml ") as caught:
        parse_metadata(data)
    assert message in str(caught.value)


def _versions_doc(count: int) -> bytes:
    versions = "".join(f"<version>1.{i}</version>" for i in range(count))
    return f"<metadata><versioning><versions>{versions}</versions></versioning></metadata>".encode()


def test_thousands_of_versions_beyond_the_bound_are_refused() -> None:
    assert len(parse_metadata(_versions_doc(1000), max_entries=1000).versions) == 1000
    with pytest.raises(MetadataError, match="lists more than 1000 versions"):
        parse_metadata(_versions_doc(1001), max_entries=1000)
    with pytest.raises(MetadataError, match="lists more than 100000 versions"):
        parse_metadata(_versions_doc(100_001))


def test_an_element_flood_is_refused_before_it_is_built() -> None:
    flood = b"<metadata>" + b"<x/>" * 6000 + b"</metadata>"
    with pytest.raises(MetadataError, match="holds more than 1000 entries"):
        parse_metadata(flood, max_entries=1000)


def test_too_many_plugins_or_snapshot_versions_are_refused() -> None:
    plugins = b"".join(b"<plugin><prefix>p%d</prefix><artifactId>a</artifactId></plugin>" % i for i in range(11))
    with pytest.raises(MetadataError, match="lists more than 10 plugins"):
        parse_metadata(b"<metadata><plugins>" + plugins + b"</plugins></metadata>", max_entries=10)
    entries = b"<snapshotVersion><extension>jar</extension></snapshotVersion>" * 11
    doc = b"<metadata><versioning><snapshotVersions>" + entries + b"</snapshotVersions></versioning></metadata>"
    with pytest.raises(MetadataError, match="lists more than 10 snapshot versions"):
        parse_metadata(doc, max_entries=10)


# --- writing -----------------------------------------------------------------------------------------


def test_renders_a_level_exactly() -> None:
    m = artifact_metadata("org.example", "demo", ["1.10", "1.9", "1.10-SNAPSHOT", "1.2"], "20240102030405")
    assert render_metadata(m) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<metadata modelVersion="1.1.0">\n'
        b"  <groupId>org.example</groupId>\n"
        b"  <artifactId>demo</artifactId>\n"
        b"  <versioning>\n"
        b"    <latest>1.10</latest>\n"
        b"    <release>1.10</release>\n"
        b"    <versions>\n"
        b"      <version>1.2</version>\n"
        b"      <version>1.9</version>\n"
        b"      <version>1.10-SNAPSHOT</version>\n"
        b"      <version>1.10</version>\n"
        b"    </versions>\n"
        b"    <lastUpdated>20240102030405</lastUpdated>\n"
        b"  </versioning>\n"
        b"</metadata>\n"
    )


@pytest.mark.parametrize("document", [A_LEVEL, V_LEVEL, G_LEVEL])
def test_render_and_parse_agree(document: bytes) -> None:
    m = parse_metadata(document)
    rendered = render_metadata(m)
    assert parse_metadata(rendered) == m
    assert render_metadata(parse_metadata(rendered)) == rendered


def test_g_level_has_no_versioning_and_text_is_escaped() -> None:
    rendered = render_metadata(Metadata(plugins=(PluginEntry("A & <B>", "ab", "ab-maven-plugin"),)))
    assert b"<versioning>" not in rendered
    assert b"<name>A &amp; &lt;B&gt;</name>" in rendered
    assert parse_metadata(rendered).plugins[0].name == "A & <B>"


# --- building ----------------------------------------------------------------------------------------


def test_artifact_metadata_latest_and_release() -> None:
    m = artifact_metadata("g", "a", ["2.0-SNAPSHOT", "1.0", "1.0-rc1", "1.0"], "20240101000000")
    assert m.versions == ("1.0-rc1", "1.0", "2.0-SNAPSHOT")
    assert (m.latest, m.release) == ("2.0-SNAPSHOT", "1.0")
    only_snapshots = artifact_metadata("g", "a", ["1.0-SNAPSHOT"], "20240101000000")
    assert (only_snapshots.latest, only_snapshots.release) == ("1.0-SNAPSHOT", "")
    empty = artifact_metadata("g", "a", [], "")
    assert (empty.versions, empty.latest, empty.release) == ((), "", "")
    plugins = [PluginEntry("x", "p", "first"), PluginEntry("y", "p", "second")]
    assert artifact_metadata("g", "a", [], "", plugins).plugins == (PluginEntry("x", "p", "first"),)


def test_merge_is_a_union_in_maven_order() -> None:
    feed = artifact_metadata("g", "a", ["1.0", "1.1-SNAPSHOT"], "20240101000000", [PluginEntry("F", "p", "feed")])
    upstream = Metadata(
        group_id="g",
        artifact_id="a",
        versions=("1.0", "1.0.1", "0.9"),
        latest="1.0.1",
        release="1.0.1",
        last_updated="20240301000000",
        plugins=(PluginEntry("U", "p", "upstream"), PluginEntry("Q", "q", "q-plugin")),
    )
    merged = merge_metadata([feed, upstream])
    assert merged.versions == ("0.9", "1.0", "1.0.1", "1.1-SNAPSHOT")
    assert (merged.latest, merged.release) == ("1.1-SNAPSHOT", "1.0.1")
    assert merged.last_updated == "20240301000000"
    assert merged.plugins == (PluginEntry("F", "p", "feed"), PluginEntry("Q", "q", "q-plugin"))
    assert (merged.group_id, merged.artifact_id) == ("g", "a")
    assert merge_metadata([]) == Metadata()
    assert merge_metadata([upstream]).versions == ("0.9", "1.0", "1.0.1")


def test_merge_takes_a_whole_snapshot_build() -> None:
    old = parse_metadata(V_LEVEL)
    new = Metadata(
        version="1.0-SNAPSHOT",
        snapshot=SnapshotBuild("1.0-SNAPSHOT", "20240102.000000", 1),
        snapshot_files=(SnapshotFile("", "jar", "1.0-20240102.000000-1", "20240102000000"),),
    )
    merged = merge_metadata([old, new])
    assert merged.snapshot == new.snapshot
    assert merged.snapshot_files == new.snapshot_files


def _stored(filename: str, uploaded: str) -> tuple[ArtifactFile, str]:
    return read_file_name("org.example", "demo", "1.0-SNAPSHOT", filename), uploaded


def test_snapshot_metadata_points_at_the_newest_build_of_each_file() -> None:
    files = [
        _stored("demo-1.0-20240101.120000-1.jar", "2024-01-01T12:00:01+00:00"),
        _stored("demo-1.0-20240101.120000-1.pom", "2024-01-01T12:00:01+00:00"),
        _stored("demo-1.0-20240101.120000-1-sources.jar", "2024-01-01T12:00:02+00:00"),
        _stored("demo-1.0-20240102.080000-2.pom", "2024-01-02T09:00:00+01:00"),
        _stored("demo-1.0-20240102.080000-2.jar", "2024-01-02T08:00:03Z"),
        _stored("demo-1.0-SNAPSHOT.jar", "2024-02-01T00:00:00Z"),  # not a timestamped build: left out
    ]
    m = snapshot_metadata("org.example", "demo", "1.0-SNAPSHOT", files)
    assert m.snapshot == SnapshotBuild("1.0-SNAPSHOT", "20240102.080000", 2)
    assert m.version == "1.0-SNAPSHOT"
    assert m.snapshot_files == (
        SnapshotFile("", "jar", "1.0-20240102.080000-2", "20240102080003"),
        SnapshotFile("", "pom", "1.0-20240102.080000-2", "20240102080000"),
        SnapshotFile("sources", "jar", "1.0-20240101.120000-1", "20240101120002"),
    )
    assert m.last_updated == "20240102080003"
    assert m.versions == ()
    rendered = render_metadata(m)
    assert b"<buildNumber>2</buildNumber>" in rendered
    assert parse_metadata(rendered) == m
    assert render_metadata(snapshot_metadata("org.example", "demo", "1.0-SNAPSHOT", reversed(files))) == rendered


def test_snapshot_metadata_refuses_another_coordinate_s_files() -> None:
    other = read_file_name("org.example", "other", "1.0-SNAPSHOT", "other-1.0-20240101.120000-1.jar")
    with pytest.raises(MetadataError, match=r"is not a file of org\.example:demo:1\.0-SNAPSHOT"):
        snapshot_metadata("org.example", "demo", "1.0-SNAPSHOT", [(other, "2024-01-01T00:00:00Z")])
    empty = snapshot_metadata("org.example", "demo", "1.0-SNAPSHOT", [])
    assert (empty.snapshot, empty.snapshot_files, empty.last_updated) == (None, (), "")


# --- times -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iso", "expected"),
    [
        ("2024-01-02T03:04:05Z", "20240102030405"),
        ("2024-01-02T03:04:05.123456+00:00", "20240102030405"),
        ("2024-01-02T04:04:05+01:00", "20240102030405"),
        ("2024-01-02T03:04:05", "20240102030405"),
    ],
)
def test_last_updated(iso: str, expected: str) -> None:
    assert last_updated(iso) == expected


def test_times_that_are_not_times() -> None:
    with pytest.raises(MetadataError, match="is not an ISO 8601 time"):
        last_updated("yesterday")
    assert updated_time("20240102030405") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("2024010203040", "20240230000000", "２０２４０１０２０３０４０５"):
        with pytest.raises(MetadataError, match="is not a yyyyMMddHHmmss time"):
            updated_time(bad)
