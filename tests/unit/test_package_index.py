"""A package's index row: its latest version, per release view the latest there, and where its versions came from."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from feed_core.domain.models import PackageMeta, PackageVersion
from feed_core.domain.version_order import is_prerelease, newest
from feed_core.service.packages import index_entry


def version(
    number: str, *, views: tuple[str, ...] = (), source: str | None = None, deleted: bool = False
) -> PackageVersion:
    chain: list[dict[str, Any]] = [{"id": source, "name": f"{source}-name", "sourceType": "internal"}] if source else []
    return PackageVersion(
        "npm", "p", number, {"description": f"v{number}"}, "", "", "", "", 0, f"2026-01-0{number[0]}", "alice",
        deleted="2026-02-01" if deleted else None, views=list(views), source_chain=chain,
    )  # fmt: skip


def test_the_row_tells_views_and_origins_of_live_versions_only() -> None:
    meta = PackageMeta("npm", "p", {"latest": "3.0.0"}, modified="2026-03-01")
    entry = index_entry(
        meta,
        [
            version("1.0.0", views=("rel",), source="up"),
            version("2.0.0", views=("rel", "pre")),
            version("3.0.0"),
            version("4.0.0", views=("gone",), source="other", deleted=True),
        ],
    )
    assert entry is not None
    assert (entry.latest, entry.origin, entry.description, entry.modified) == ("3.0.0", "local", "v3.0.0", "2026-03-01")
    assert entry.origins == {"up": "up-name", "local": ""}
    assert entry.views == {"rel": ("2.0.0", "local"), "pre": ("2.0.0", "local")}


def test_a_view_prefers_the_latest_tag_when_it_holds_it() -> None:
    meta = PackageMeta("npm", "p", {"latest": "1.0.0"})
    entry = index_entry(meta, [version("1.0.0", views=("rel",), source="up"), version("2.0.0", views=("rel",))])
    assert entry is not None and entry.views == {"rel": ("1.0.0", "up")} and entry.origin == "up"


def test_no_live_version_no_row() -> None:
    assert index_entry(PackageMeta("npm", "p"), [version("1.0.0", deleted=True)]) is None


def test_without_a_latest_tag_the_newest_release_in_the_protocols_order_is_latest() -> None:
    def of(protocol: str, *numbers: str) -> str:
        rows = [replace(version("1.0.0"), protocol=protocol, version=n) for n in numbers]
        entry = index_entry(PackageMeta(protocol, "p"), rows)  # row order is text order: "1.10" before "1.9"
        assert entry is not None
        return entry.latest

    assert of("pypi", "1.10", "1.9", "2.0rc1") == "1.10"
    assert of("pypi", "1.0a1", "1.0b2") == "1.0b2"
    assert of("npm", "1.10.0", "1.9.0", "2.0.0-beta.1") == "1.10.0"
    assert of("nuget", "1.10.0", "1.9.0", "2.0.0-preview") == "1.10.0"
    assert of("maven", "1.10", "1.9", "2.0-SNAPSHOT", "2.0-RC1", "2.0-M3") == "1.10"
    assert of("cargo", "0.10.0", "0.9.0+build", "1.0.0-alpha") == "0.10.0"


def test_is_prerelease_per_protocol() -> None:
    assert is_prerelease("pypi", "1.0.dev1") and not is_prerelease("pypi", "1.0.post1")
    assert is_prerelease("maven", "1.0-beta-2") and not is_prerelease("maven", "1.0.Final")
    assert is_prerelease("cargo", "1.0.0-rc.1") and not is_prerelease("cargo", "1.0.0+git-abc")
    assert newest("pypi", []) is None
