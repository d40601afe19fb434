"""What a view shows: the versions in it, and the dist-tags that still point inside it."""

from __future__ import annotations

from feed_core.domain import semver
from feed_core.domain.models import PackageVersion, View


def versions_in_view(versions: list[PackageVersion], view: View) -> list[PackageVersion]:
    """Live (not deleted) versions; a release view shows only versions promoted into it."""
    return [v for v in versions if v.deleted is None and (view.is_local or view.id in v.views)]


def tags_in_view(dist_tags: dict[str, str], visible: list[str]) -> dict[str, str]:
    """Keep tags whose target is visible; ``latest`` falls back to the highest visible release
    (or prerelease when there is no release), so a client can always resolve it."""
    shown = set(visible)
    tags = {t: v for t, v in dist_tags.items() if v in shown}
    if "latest" not in tags and visible:
        best = semver.highest(visible) or semver.highest(visible, include_prerelease=True) or visible[-1]
        tags["latest"] = best
    return tags


def latest_after_removal(dist_tags: dict[str, str], remaining: list[str], removed: set[str]) -> dict[str, str]:
    """Drop tags that pointed at removed versions; re-point ``latest`` at the highest remaining."""
    tags = {t: v for t, v in dist_tags.items() if v not in removed}
    if "latest" not in tags and remaining:
        tags["latest"] = (
            semver.highest(remaining) or semver.highest(remaining, include_prerelease=True) or remaining[-1]
        )
    return tags
