from feed_core.domain.models import PackageVersion, View, ViewType
from feed_core.domain.visibility import latest_after_removal, tags_in_view, versions_in_view

LOCAL = View("l", "Local", ViewType.IMPLICIT)
RELEASE = View("r", "Release", ViewType.RELEASE)


def _v(number: str, *, views: list[str] | None = None, deleted: str | None = None) -> PackageVersion:
    return PackageVersion(
        "npm", "p", number, {}, f"p-{number}.tgz", "", "", "", 1, "", "u", deleted=deleted, views=views or []
    )


def test_local_view_shows_all_live_versions() -> None:
    vs = [_v("1.0.0"), _v("1.1.0", deleted="2026-01-01"), _v("2.0.0", views=["r"])]
    assert [v.version for v in versions_in_view(vs, LOCAL)] == ["1.0.0", "2.0.0"]


def test_release_view_shows_promoted_only() -> None:
    vs = [_v("1.0.0"), _v("2.0.0", views=["r"]), _v("3.0.0", views=["r"], deleted="x")]
    assert [v.version for v in versions_in_view(vs, RELEASE)] == ["2.0.0"]


def test_tags_pointing_outside_the_view_are_dropped_and_latest_recomputed() -> None:
    tags = tags_in_view({"latest": "3.0.0", "beta": "3.1.0-beta", "old": "1.0.0"}, ["1.0.0", "2.0.0"])
    assert tags == {"old": "1.0.0", "latest": "2.0.0"}


def test_latest_falls_back_to_prerelease_when_only_prereleases() -> None:
    assert tags_in_view({}, ["1.0.0-beta.1", "1.0.0-beta.2"]) == {"latest": "1.0.0-beta.2"}


def test_removal_repoints_latest() -> None:
    tags = latest_after_removal({"latest": "2.0.0", "beta": "2.0.0", "x": "1.0.0"}, ["1.0.0", "1.5.0"], {"2.0.0"})
    assert tags == {"x": "1.0.0", "latest": "1.5.0"}
