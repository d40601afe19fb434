"""The NuGet v2 (Atom) documents stay well-formed whatever an upstream's metadata holds."""

from __future__ import annotations

from xml.etree import ElementTree

from feed_core.protocols import nuget_v2_wire as v2wire
from tests.unit.test_nuget_wire import record

V2 = "https://feed.example/org/_packaging/f/nuget/v2"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


def test_hostile_upstream_metadata_is_escaped_and_stripped_of_what_xml_cannot_hold() -> None:
    manifest = {
        "id": "Demo",
        "version": "1.0.0",
        "description": "x\x00\x01<y/>]]>&amp;\ufffe z",
        "authors": '"a" <b@c>',
        "tags": ["PSModule", "</d:Tags><d:Injected>1"],
        "projectUrl": "javascript:'\"><script>",
        "dependencyGroups": [{"targetFramework": "net<8", "dependencies": [{"id": "Dep", "range": "[1.0.0, )"}]}],
    }
    v = record("1.0.0", manifest)
    latest = v2wire.Latest.of([v])
    body = v2wire.feed(V2, "Search", [(v, "Demo", latest)], following=f"{V2}/Search()?$skip=1&x='<'", count=1)
    root = ElementTree.fromstring(body)  # noqa: S314 - our own output, and parsing it is the test
    props = {e.tag.removeprefix(D): e.text or "" for e in root.iter() if e.tag.startswith(D)}
    assert props["Description"] == "x<y/>]]>&amp; z"
    assert props["Tags"] == "PSModule </d:Tags><d:Injected>1"
    assert "Injected" not in props
    assert props["Dependencies"] == "Dep:[1.0.0, ):net<8"
    assert props["IsLatestVersion"] == props["IsAbsoluteLatestVersion"] == "true"
    assert props["PackageHash"] == "AAAA" and props["PackageHashAlgorithm"] == "SHA512"
    assert root.find(f"{M}count") is not None
    # an entry on its own is a document too, and unlisted versions carry the 1900 date clients read as unlisted
    hidden = record("1.0.0", manifest, unlisted="2026-02-01T00:00:00Z")
    entry = ElementTree.fromstring(v2wire.entry_document(hidden, "Demo", v2wire.Latest.of([hidden]), V2))  # noqa: S314
    published = entry.find(f"{M}properties/{D}Published")
    assert published is not None and published.text == v2wire.UNLISTED_PUBLISHED
    latest_flag = entry.find(f"{M}properties/{D}IsLatestVersion")
    assert latest_flag is not None and latest_flag.text == "false"


def test_ids_and_versions_stay_one_path_segment_in_v2_links() -> None:
    hostile = "../../x/y?z"
    assert (
        v2wire.download_url("https://f/v2", hostile, hostile)
        == "https://f/v2/package/..%2F..%2Fx%2Fy%3Fz/..%2F..%2Fx%2Fy%3Fz"
    )
    assert "/" not in v2wire.package_url("https://f/v2", hostile, "1.0").removeprefix("https://f/v2/")
