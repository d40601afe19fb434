"""The NuGet v3 documents rendered from version records, including what an upstream's versions carry."""

from __future__ import annotations

from typing import Any

from feed_core.domain.models import PackageVersion
from feed_core.domain.nuget_package import parse_nuspec
from feed_core.domain.source_models import InternalSource
from feed_core.protocols import nuget_wire as wire
from feed_core.service.resolve import transient_version
from feed_core.upstreams.models import UpstreamVersion
from tests.nupkg_builder import nuspec

URLS = wire.Urls("https://feed.example/org/_packaging/f/nuget/v3/")


def record(number: str, manifest: dict[str, Any], **fields: Any) -> PackageVersion:
    base: dict[str, Any] = {
        "protocol": "nuget",
        "name": "demo",
        "version": number,
        "manifest": manifest,
        "filename": f"demo.{number}.nupkg",
        "sha256": "0" * 64,
        "sha512_integrity": "sha512-AAAA",
        "sha1": "",
        "size": 10,
        "published": "2026-01-01T00:00:00Z",
        "publisher": "alice",
    }
    return PackageVersion(**{**base, **fields})


def test_service_index_types_are_unique_and_absolute() -> None:
    resources = wire.service_index(URLS)["resources"]
    kinds = [r["@type"] for r in resources]
    assert len(kinds) == len(set(kinds))
    assert all(r["@id"].startswith("https://feed.example/org/_packaging/f/nuget/") for r in resources)
    assert next(r for r in resources if r["@type"] == "LegacyGallery/2.0.0")["@id"].endswith("/nuget/v2")


def test_manifest_of_a_nuspec_is_its_catalog_entry() -> None:
    extra = (
        "<projectUrl>https://example.org/p</projectUrl><license type='expression'>MIT</license>"
        "<title>Demo</title><packageTypes><packageType name='DotnetTool' /></packageTypes>"
    )
    spec = parse_nuspec(
        nuspec("Demo", "1.0+meta", tags=["a", "b"], dependencies=[("Dep", "1.0")], metadata_extra=extra)
    )
    manifest = wire.manifest_of(spec)
    v = record("1.0.0", manifest)
    entry = wire.catalog_entry(v, URLS, wire.SEMVER2_HIVE, "Demo")
    assert entry["version"] == "1.0.0+meta" and entry["id"] == "Demo" and entry["title"] == "Demo"
    assert entry["projectUrl"] == "https://example.org/p" and entry["licenseExpression"] == "MIT"
    assert entry["tags"] == ["a", "b"] and entry["packageTypes"] == [{"name": "DotnetTool"}]
    assert entry["dependencyGroups"][0]["dependencies"][0]["range"] == "[1.0.0, )"
    assert entry["packageHash"] == "AAAA" and entry["packageHashAlgorithm"] == "SHA512"
    assert wire.is_semver2(v)  # by its build metadata
    assert "deprecation" not in entry


def test_deprecation_from_the_feed_or_an_upstream() -> None:
    mine = record("1.0.0", {"id": "Demo", "version": "1.0.0"}, deprecated="use Other")
    assert wire.catalog_entry(mine, URLS, wire.SEMVER1_HIVE, "Demo")["deprecation"] == {
        "reasons": ["Other"],
        "message": "use Other",
    }
    given = {"reasons": ["Legacy"], "alternatePackage": {"id": "Other", "range": "*"}}
    theirs = record("1.0.0", {"id": "Demo", "version": "1.0.0", "deprecation": given})
    assert wire.catalog_entry(theirs, URLS, wire.SEMVER1_HIVE, "Demo")["deprecation"] == given


def test_an_upstream_version_it_says_is_unlisted_is_unlisted_here() -> None:
    source = InternalSource.model_validate(
        {
            "id": "00000000-0000-0000-0000-000000000001",
            "name": "other",
            "protocol": "nuget",
            "location": "azure-feed://local/f2@Local",
            "upstreamSourceType": "internal",
            "internalUpstreamFeedId": "f2",
            "internalUpstreamViewId": "Local",
        }
    )
    offered = UpstreamVersion("2.0.0", {"id": "Demo", "listed": False}, "", "demo.2.0.0.nupkg", "", "", None)
    v = transient_version("nuget", "demo", source, offered)
    assert not wire.is_listed(v)
    assert wire.leaf_document(v, URLS, wire.SEMVER1_HIVE)["listed"] is False


def test_sorting_follows_nuget_precedence() -> None:
    numbers = ["1.0.0", "1.0.0-beta", "1.0.0.1", "1.10.0", "1.9.0", "1.0.0-alpha.2", "1.0.0-alpha.10"]
    ordered = [v.version for v in wire.sort_versions(record(n, {}) for n in numbers)]
    assert ordered == ["1.0.0-alpha.2", "1.0.0-alpha.10", "1.0.0-beta", "1.0.0", "1.0.0.1", "1.9.0", "1.10.0"]


def test_display_id_is_the_first_pushed_casing() -> None:
    first = record("1.0.0", {"id": "DeMo"}, published="2026-01-01T00:00:00Z")
    later = record("2.0.0", {"id": "DEMO"}, published="2026-02-01T00:00:00Z")
    assert wire.display_id("demo", [later, first]) == "DeMo"
    assert wire.display_id("demo", [record("1.0.0", {"id": "other"})]) == "demo"


def test_ids_and_versions_stay_one_path_segment_in_every_url() -> None:
    """An id or version from a hostile document cannot lead a client to another path of the feed's host."""
    hostile = "../../other/_packaging/x?y#z"
    for url in (
        URLS.content(hostile, hostile),
        URLS.registration(wire.SEMVER2_HIVE, hostile),
        URLS.page(wire.SEMVER2_HIVE, hostile, hostile, hostile),
        URLS.leaf(wire.SEMVER2_HIVE, hostile, hostile),
        URLS.catalog(hostile, hostile),
    ):
        tail = url.removeprefix(URLS.v3)
        assert not {".", ".."} & set(tail.split("/")) and not {"?", "#"} & set(tail) and "/other/" not in tail, url
    groups = [{"dependencies": [{"id": hostile}]}]
    (dep,) = wire.dependency_groups(groups, URLS, wire.SEMVER2_HIVE)[0]["dependencies"]
    assert dep["registration"].removeprefix(URLS.hive(wire.SEMVER2_HIVE)).count("/") == 1, dep
