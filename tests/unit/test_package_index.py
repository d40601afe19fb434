"""A package's index row: its latest version, per release view the latest there, and where its versions came from."""

from __future__ import annotations

from typing import Any

from feed_core.domain.models import PackageMeta, PackageVersion
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
