"""Deployed POMs: what is read, what is refused (not XML, DTD/entities, not a project), and the path check."""

from __future__ import annotations

import pytest

from feed_core.domain.maven_layout import ArtifactFile, read_file_name
from feed_core.domain.maven_pom import (
    DESCRIPTION_MAX,
    MAX_POM_DEPENDENCIES,
    PomDependency,
    PomError,
    PomInfo,
    check_pom,
    read_dependencies,
    read_pom,
)

POM = b"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="urn:example:pom" xmlns:xsi="urn:example:xsi">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example</groupId>
  <artifactId>demo</artifactId>
  <version>1.0</version>
  <packaging>war</packaging>
  <name>  Demo
     app </name>
  <description>Does &lt;things&gt; &amp; more.</description>
  <dependencies>
    <dependency><groupId>other</groupId><artifactId>lib</artifactId><version>9</version></dependency>
  </dependencies>
</project>
"""


def test_reads_coordinates_and_description() -> None:
    assert read_pom(POM) == PomInfo("org.example", "demo", "1.0", "war", "Demo app", "Does <things> & more.")


def test_xhtml_character_entities_are_read_as_maven_reads_them() -> None:
    # Public POMs (e.g. an old Plexus parent) name developers and years with XHTML entities and no DTD.
    pom = POM.replace(b"  Demo\n     app ", b"Laugst&oslash;l &ndash; &copy;&nbsp;2006 &amp;&#x41;")
    assert read_pom(pom).name == "Laugst\u00f8l \u2013 \u00a9 2006 &A"  # the no-break space is whitespace
    with pytest.raises(PomError, match="undefined entity"):
        read_pom(POM.replace(b"  Demo\n     app ", b"&oslashx;"))


def test_inherits_group_and_version_from_parent_and_defaults_to_jar() -> None:
    pom = b"""<project><parent><groupId>org.parent</groupId><artifactId>parent</artifactId>
    <version>2.0-SNAPSHOT</version></parent><artifactId>child</artifactId></project>"""
    assert read_pom(pom) == PomInfo("org.parent", "child", "2.0-SNAPSHOT", "jar", "", "")
    own = b"""<project><parent><groupId>org.parent</groupId><version>2</version></parent>
    <groupId>org.own</groupId><artifactId>child</artifactId><version>3</version></project>"""
    info = read_pom(own)
    assert (info.group_id, info.version) == ("org.own", "3")


def test_long_descriptions_are_cut() -> None:
    pom = b"<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version><description>"
    pom += b"x" * 10_000 + b"</description></project>"
    description = read_pom(pom).description
    assert len(description) == DESCRIPTION_MAX and description.endswith("...")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version><name>&lol9;</name></project>
"""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 this is a jar", "the POM is not well-formed XML"),
        (b"", "the POM is not well-formed XML"),
        (b"<project><groupId>g</groupId>", "the POM is not well-formed XML"),
        (BILLION_LAUGHS, "the POM declares a DTD (<!DOCTYPE>), which is not accepted"),
        (
            b'<!DOCTYPE project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b"<project><groupId>&xxe;</groupId><artifactId>a</artifactId><version>1</version></project>",
            "the POM declares a DTD",
        ),
        (b"<project><groupId>&xxe;</groupId></project>", "the POM is not well-formed XML (undefined entity"),
        (b"<metadata><groupId>g</groupId></metadata>", "the POM's root element is <metadata>, not <project>"),
        (b"<project><artifactId>a</artifactId><version>1</version></project>", "names no groupId"),
        (b"<project><groupId>g</groupId><version>1</version></project>", "names no artifactId"),
        (b"<project><groupId>g</groupId><artifactId>a</artifactId></project>", "names no version"),
        (
            b"<project><groupId>g</groupId><artifactId>a</artifactId><version>" + b"1" * 1001 + b"</version></project>",
            "is not a valid version",
        ),
        (b"<project>" * 100 + b"</project>" * 100, "the POM nests deeper than"),
    ],
)
def test_refused_poms_say_why(data: bytes, message: str) -> None:
    with pytest.raises(PomError) as caught:
        read_pom(data)
    assert message in str(caught.value)


def _file(group: str, artifact: str, version: str, filename: str) -> ArtifactFile:
    return read_file_name(group, artifact, version, filename)


def test_check_accepts_matching_coordinates() -> None:
    check_pom(read_pom(POM), _file("org.example", "demo", "1.0", "demo-1.0.pom"))
    snapshot = PomInfo("g", "a", "1.0-SNAPSHOT", "jar", "", "")
    check_pom(snapshot, _file("g", "a", "1.0-SNAPSHOT", "a-1.0-20240101.120000-3.pom"))
    build = PomInfo("g", "a", "1.0-20240101.120000-3", "jar", "", "")
    check_pom(build, _file("g", "a", "1.0-SNAPSHOT", "a-1.0-20240101.120000-3.pom"))
    unresolved = PomInfo("${groupId}", "a", "${revision}", "jar", "", "")
    check_pom(unresolved, _file("g", "a", "1.0", "a-1.0.pom"))


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (
            PomInfo("org.other", "demo", "1.0", "jar", "", ""),
            "the POM's groupId 'org.other' does not match the path's 'org.example'",
        ),
        (
            PomInfo("org.example", "Demo", "1.0", "jar", "", ""),
            "the POM's artifactId 'Demo' does not match the path's 'demo'",
        ),
        (
            PomInfo("org.example", "demo", "1.0.0", "jar", "", ""),
            "the POM's version '1.0.0' does not match the path's '1.0'",
        ),
    ],
)
def test_check_refuses_other_coordinates(info: PomInfo, message: str) -> None:
    with pytest.raises(PomError) as caught:
        check_pom(info, _file("org.example", "demo", "1.0", "demo-1.0.pom"))
    assert str(caught.value) == message


def test_check_and_read_end_to_end_on_a_mismatch() -> None:
    pom = b"<project><groupId>evil</groupId><artifactId>demo</artifactId><version>1.0</version></project>"
    with pytest.raises(PomError, match=r"groupId 'evil' does not match the path's 'org\.example'"):
        check_pom(read_pom(pom), _file("org.example", "demo", "1.0", "demo-1.0.pom"))


def _with_dependencies(body: str) -> bytes:
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><groupId>g</groupId><artifactId>a</artifactId>'
        f"<version>1</version>{body}</project>"
    ).encode()


def test_dependencies_are_the_projects_own_with_their_scope() -> None:
    pom = _with_dependencies(
        "<dependencies>"
        "<dependency><groupId>x</groupId><artifactId>y</artifactId><version>[1,2)</version></dependency>"
        "<dependency><groupId>t</groupId><artifactId>u</artifactId><scope>test</scope><optional>true</optional>"
        "</dependency>"
        "<dependency><artifactId>no-group</artifactId></dependency>"
        "<exclusion>not a dependency</exclusion>"
        "</dependencies>"
        "<dependencyManagement><dependencies><dependency><groupId>m</groupId><artifactId>n</artifactId>"
        "</dependency></dependencies></dependencyManagement>"
    )
    assert read_dependencies(pom) == [
        PomDependency("x", "y", "[1,2)", "compile", False),
        PomDependency("t", "u", "", "test", True),
    ]
    assert read_dependencies(_with_dependencies("")) == []


def test_dependencies_of_a_hostile_pom_are_bounded_or_refused() -> None:
    many = "".join(f"<dependency><groupId>g</groupId><artifactId>a{i}</artifactId></dependency>" for i in range(600))
    assert len(read_dependencies(_with_dependencies(f"<dependencies>{many}</dependencies>"))) == MAX_POM_DEPENDENCIES
    long = "<dependencies><dependency><groupId>" + "g" * 5000 + "</groupId><artifactId>a</artifactId></dependency>"
    assert len(read_dependencies(_with_dependencies(long + "</dependencies>"))[0].group_id) <= 256
    bomb = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><project>&a;</project>'
    with pytest.raises(PomError):
        read_dependencies(bomb)
    with pytest.raises(PomError):
        read_dependencies(b"<settings/>")
