"""Retention, the recycle bin's timing and download-time coalescing, as pure rules."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed_core.domain import version_order
from feed_core.domain.clock import iso
from feed_core.domain.download_times import DOWNLOAD_RECORDING_GRANULARITY, needs_recording
from feed_core.domain.models import PackageVersion, View, ViewType
from feed_core.domain.recycle_bin import RecycleBinPolicy, purge_at, purge_due, restorable
from feed_core.domain.retention import (
    MAX_COUNT_LIMIT,
    MAX_DAYS,
    RetentionPolicy,
    plan_retention,
    select_for_removal,
    summary_line,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LOCAL = View(id="local-id", name="Local", type=ViewType.IMPLICIT)
RELEASE = View(id="release-id", name="Release")
PRERELEASE = View(id="prerelease-id", name="Prerelease")
VIEWS = [LOCAL, PRERELEASE, RELEASE]


def ver(
    number: str,
    age_days: float,
    *,
    views: tuple[str, ...] = (),
    deleted: bool = False,
    published: str | None = None,
    protocol: str = "npm",
) -> PackageVersion:
    """A version published ``age_days`` before NOW (or at the literal ``published``)."""
    return PackageVersion(
        protocol=protocol,
        name="pkg",
        version=number,
        manifest={},
        filename=f"pkg-{number}.tgz",
        sha256="",
        sha512_integrity="",
        sha1="",
        size=1,
        published=iso(NOW - age_days * DAY) if published is None else published,
        publisher="alice",
        deleted=iso(NOW) if deleted else None,
        views=list(views),
    )


def removed(
    versions: list[PackageVersion],
    policy: RetentionPolicy | None,
    *,
    tags: dict[str, str] | None = None,
    downloads: dict[str, datetime | None] | None = None,
    protocol: str = "npm",
    since: datetime | None = None,
) -> list[str]:
    decisions = select_for_removal(
        protocol, versions, tags or {}, VIEWS, policy, NOW, downloads or {}, downloads_recorded_since=since
    )
    return [d.version for d in decisions]


# --- the policy and its REST shape ---------------------------------------------------------------------------


def test_policy_bounds_follow_azure() -> None:
    assert RetentionPolicy(1).count_limit == 1
    assert RetentionPolicy(MAX_COUNT_LIMIT, MAX_DAYS).days_to_keep_recently_downloaded == 4000
    with pytest.raises(ValueError, match="countLimit must be between 1 and 5000, not 0"):
        RetentionPolicy(0)
    with pytest.raises(ValueError, match="countLimit must be between 1 and 5000, not 5001"):
        RetentionPolicy(5001)
    with pytest.raises(ValueError, match="daysToKeepRecentlyDownloadedPackages must be between 1 and 4000, not 0"):
        RetentionPolicy(3, 0)
    with pytest.raises(ValueError, match="between 1 and 4000, not 4001"):
        RetentionPolicy(3, 4001)


@pytest.mark.parametrize("bad", [True, 2.5, "3", None])
def test_policy_refuses_what_is_not_a_whole_number(bad: object) -> None:
    with pytest.raises(ValueError, match="countLimit must be a whole number"):
        RetentionPolicy(bad)  # type: ignore[arg-type]


def test_policy_from_and_to_azure_rest_shape() -> None:
    body = {"countLimit": 20, "daysToKeepRecentlyDownloadedPackages": 30}
    policy = RetentionPolicy.from_rest(body)
    assert policy == RetentionPolicy(20, 30)
    assert policy.to_rest() == {"ageLimitInDays": None, **body}
    assert RetentionPolicy.from_rest(policy.to_rest()) == policy
    assert RetentionPolicy.from_rest({"countLimit": 5}) == RetentionPolicy(5)
    assert RetentionPolicy.from_rest({"countLimit": 5, "daysToKeepRecentlyDownloadedPackages": None}) == (
        RetentionPolicy(5)
    )
    # Azure's deprecated field is accepted and ignored.
    assert RetentionPolicy.from_rest({"countLimit": 5, "ageLimitInDays": 9}) == RetentionPolicy(5)


def test_policy_rest_without_a_count_limit_is_no_policy() -> None:
    assert RetentionPolicy.from_rest({}) is None
    assert RetentionPolicy.from_rest({"countLimit": None, "ageLimitInDays": 3}) is None


def test_policy_rest_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="daysToKeepRecentlyDownloadedPackages needs countLimit"):
        RetentionPolicy.from_rest({"daysToKeepRecentlyDownloadedPackages": 30})
    with pytest.raises(ValueError, match="unknown retention policy field"):
        RetentionPolicy.from_rest({"countlimit": 3})
    with pytest.raises(ValueError, match="countLimit must be a whole number, not '3'"):
        RetentionPolicy.from_rest({"countLimit": "3"})
    with pytest.raises(ValueError, match="daysToKeepRecentlyDownloadedPackages must be a whole number"):
        RetentionPolicy.from_rest({"countLimit": 3, "daysToKeepRecentlyDownloadedPackages": False})


# --- what retention removes ------------------------------------------------------------------------------------


def test_no_policy_removes_nothing() -> None:
    versions = [ver(f"1.0.{i}", 100 - i) for i in range(10)]
    assert removed(versions, None) == []
    plan = plan_retention("npm", versions, {}, VIEWS, None, NOW, {})
    assert {k.reason for k in plan.kept} == {"the feed has no retention policy"}
    assert plan.counted == 10


def test_limit_at_or_above_the_count_removes_nothing() -> None:
    versions = [ver(f"1.0.{i}", 10 - i) for i in range(3)]
    assert removed(versions, RetentionPolicy(3)) == []
    assert removed(versions, RetentionPolicy(50)) == []
    assert removed([], RetentionPolicy(1)) == []


def test_the_oldest_versions_beyond_the_limit_go_first() -> None:
    versions = [ver(f"1.0.{i}", 10 - i) for i in range(6)]
    assert removed(versions, RetentionPolicy(4)) == ["1.0.0", "1.0.1"]
    assert removed(list(reversed(versions)), RetentionPolicy(4)) == ["1.0.0", "1.0.1"]


def test_oldest_means_published_first_with_version_order_breaking_ties() -> None:
    # 2.0.0 came first; 1.0.0 and 1.5.0 are later patches to an older line, published at the same moment.
    versions = [ver("2.0.0", 30), ver("1.5.0", 5), ver("1.0.0", 5), ver("2.1.0", 1)]
    # 2.0.0 is the oldest by publish time; of the two ties, 1.0.0 is lower.
    assert removed(versions, RetentionPolicy(2)) == ["2.0.0", "1.0.0"]


def test_the_latest_version_is_kept_even_when_it_is_the_oldest_published() -> None:
    versions = [ver("3.0.0", 30), ver("1.0.1", 3), ver("1.0.2", 2), ver("1.0.3", 1)]
    plan = plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(2), NOW, {})
    assert [d.version for d in plan.removals] == ["1.0.1", "1.0.2"]
    assert ("3.0.0", "the latest version of the package") in {(k.version, k.reason) for k in plan.kept}


def test_the_newest_listed_version_is_kept_too_when_the_newest_is_unlisted() -> None:
    versions = [ver("1.0.0", 4), ver("1.1.0", 3), ver("1.2.0", 2), ver("2.0.0", 1)]
    versions[3] = replace(versions[3], unlisted=iso(NOW))
    plan = plan_retention("nuget", versions, {}, VIEWS, RetentionPolicy(1), NOW, {})
    assert [d.version for d in plan.removals] == ["1.0.0", "1.1.0"]
    kept = {k.version: k.reason for k in plan.kept}
    assert kept["2.0.0"] == "the latest version of the package"
    assert kept["1.2.0"].startswith("the latest listed version")


def test_a_version_with_every_file_yanked_is_not_the_newest_listed() -> None:
    versions = [ver("1.0.0", 3, protocol="pypi"), ver("1.1.0", 2, protocol="pypi"), ver("2.0.0", 1, protocol="pypi")]
    versions[2] = replace(versions[2], files=[{"filename": "a.whl", "yanked": ""}])
    versions[1] = replace(versions[1], files=[{"filename": "b.whl", "yanked": "bad"}, {"filename": "b.tar.gz"}])
    plan = plan_retention("pypi", versions, {}, VIEWS, RetentionPolicy(1), NOW, {})
    assert [d.version for d in plan.removals] == ["1.0.0"]  # 1.1.0 still has a file clients may pick


def test_versions_in_a_view_are_kept_and_do_not_count() -> None:
    versions = [
        ver("1.0.0", 10, views=("release-id",)),
        ver("1.0.1", 9),
        ver("1.0.2", 8, views=("Prerelease-ID",)),  # ids compare without case
        ver("1.0.3", 7),
        ver("1.0.4", 6),
    ]
    plan = plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(2), NOW, {})
    assert [d.version for d in plan.removals] == ["1.0.1"]
    assert plan.counted == 3
    reasons = {k.version: k.reason for k in plan.kept}
    assert reasons["1.0.0"] == "promoted to @Release"
    assert reasons["1.0.2"] == "promoted to @Prerelease"


def test_the_local_view_and_views_that_no_longer_exist_protect_nothing() -> None:
    versions = [ver("1.0.0", 10, views=("local-id", "deleted-view")), ver("1.0.1", 9), ver("1.0.2", 8)]
    assert removed(versions, RetentionPolicy(2)) == ["1.0.0"]


def test_deleted_versions_neither_count_nor_are_removed() -> None:
    versions = [ver("1.0.0", 10, deleted=True), ver("1.0.1", 9, deleted=True), ver("1.0.2", 8), ver("1.0.3", 7)]
    assert removed(versions, RetentionPolicy(2)) == []
    plan = plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(1), NOW, {})
    assert plan.counted == 2
    assert [d.version for d in plan.removals] == ["1.0.2"]
    assert {k.version for k in plan.kept} == {"1.0.3"}


def test_dist_tagged_versions_are_kept() -> None:
    versions = [ver(f"1.0.{i}", 10 - i) for i in range(5)]
    tags = {"latest": "1.0.4", "legacy": "1.0.0", "next": "1.0.0"}
    plan = plan_retention("npm", versions, tags, VIEWS, RetentionPolicy(3), NOW, {})
    assert [d.version for d in plan.removals] == ["1.0.1", "1.0.2"]
    assert {k.version: k.reason for k in plan.kept}["1.0.0"] == "the dist-tag legacy, next points at it"


def test_dist_tags_pointing_at_deleted_or_unknown_versions_protect_nothing() -> None:
    versions = [ver("1.0.0", 10, deleted=True), ver("1.0.1", 9), ver("1.0.2", 8), ver("1.0.3", 7)]
    tags = {"latest": "1.0.3", "old": "1.0.0", "gone": "0.0.1"}
    assert removed(versions, RetentionPolicy(1), tags=tags) == ["1.0.1", "1.0.2"]


def test_recently_downloaded_versions_are_kept() -> None:
    versions = [ver(f"1.0.{i}", 100 - i) for i in range(5)]
    downloads: dict[str, datetime | None] = {"1.0.0": NOW - 2 * DAY, "1.0.1": NOW - 40 * DAY, "1.0.2": None}
    plan = plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(3, 30), NOW, downloads)
    assert [d.version for d in plan.removals] == ["1.0.1", "1.0.2"]
    assert {k.version: k.reason for k in plan.kept}["1.0.0"] == (
        "downloaded within the last 30 days (last recorded 2026-11-29)"
    )
    # Without the days, downloads do not matter.
    assert removed(versions, RetentionPolicy(2), downloads=downloads) == ["1.0.0", "1.0.1", "1.0.2"]


def test_the_download_window_allows_for_the_coarse_record() -> None:
    versions = [ver("1.0.0", 100), ver("1.0.1", 99)]
    policy = RetentionPolicy(1, 30)
    # Recorded 30 days and 23 hours ago: the true last download may be up to a day later, so it is kept.
    within = NOW - 30 * DAY - DOWNLOAD_RECORDING_GRANULARITY + timedelta(hours=1)
    assert removed(versions, policy, downloads={"1.0.0": within}) == []
    assert removed(versions, policy, downloads={"1.0.0": within - 2 * timedelta(hours=1)}) == ["1.0.0"]
    exactly = NOW - 30 * DAY - DOWNLOAD_RECORDING_GRANULARITY
    assert removed(versions, policy, downloads={"1.0.0": exactly}) == []  # the window is inclusive


def test_recently_published_versions_are_kept_with_the_days() -> None:
    versions = [ver("1.0.0", 3), ver("1.0.1", 2), ver("1.0.2", 1)]
    assert removed(versions, RetentionPolicy(1, 7)) == []
    assert removed(versions, RetentionPolicy(1, 2)) == ["1.0.0"]
    assert removed(versions, RetentionPolicy(1)) == ["1.0.0", "1.0.1"]


def test_versions_count_from_when_download_recording_began() -> None:
    versions = [ver(f"1.0.{i}", 400 - i) for i in range(4)]
    since = NOW - 10 * DAY
    assert removed(versions, RetentionPolicy(1, 30), since=since) == []
    plan = plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(1, 30), NOW, {}, downloads_recorded_since=since)
    assert "recorded only since 2026-11-21" in plan.kept[0].reason
    # Once the window has passed since recording began, versions with no recorded download may go.
    assert removed(versions, RetentionPolicy(1, 30), since=NOW - 31 * DAY) == ["1.0.0", "1.0.1", "1.0.2"]
    # A version downloaded long ago is judged on that download, not on when recording began.
    long_ago = {"1.0.0": NOW - 60 * DAY, "1.0.1": NOW - 60 * DAY, "1.0.2": NOW - 60 * DAY}
    assert removed(versions, RetentionPolicy(1, 30), downloads=long_ago, since=NOW - 90 * DAY) == [
        "1.0.0",
        "1.0.1",
        "1.0.2",
    ]


def test_all_protected_keeps_the_package_above_its_limit() -> None:
    versions = [ver("1.0.0", 50, views=("release-id",)), ver("1.0.1", 40), ver("1.0.2", 30), ver("1.0.3", 20)]
    tags = {"beta": "1.0.1"}
    downloads: dict[str, datetime | None] = {"1.0.2": NOW - DAY}
    plan = plan_retention("npm", versions, tags, VIEWS, RetentionPolicy(1, 7), NOW, downloads)
    assert plan.removals == ()
    assert plan.counted == 3


def test_prereleases_count_like_any_version_and_the_latest_release_is_kept() -> None:
    versions = [ver("1.0.0", 10), ver("2.0.0-beta.1", 9), ver("2.0.0-beta.2", 8), ver("2.0.0-rc.1", 7)]
    # The latest is the highest release (1.0.0), as npm's latest; prereleases above it are not protected by that.
    assert removed(versions, RetentionPolicy(2)) == ["2.0.0-beta.1", "2.0.0-beta.2"]
    only_prereleases = versions[1:]
    assert removed(only_prereleases, RetentionPolicy(1)) == ["2.0.0-beta.1", "2.0.0-beta.2"]


@pytest.mark.parametrize(
    ("protocol", "numbers"),
    [
        ("pypi", ["1.0", "1.1rc1", "1.1", "not-a-version", "2.0.dev1"]),
        ("maven", ["1.0-SNAPSHOT", "1.0", "1.1", "weird version", "2.0-alpha-1"]),
        ("nuget", ["1.0.0", "1.1.0-preview", "1.1.0", "x.y.z", "2.0.0"]),
        ("cargo", ["0.1.0", "0.2.0", "garbage", "1.0.0-alpha", "1.0.0"]),
    ],
)
def test_every_protocol_and_unparseable_numbers(protocol: str, numbers: list[str]) -> None:
    versions = [ver(n, 10 - i, protocol=protocol) for i, n in enumerate(numbers)]
    got = removed(versions, RetentionPolicy(2), protocol=protocol)
    newest = version_order.newest(protocol, numbers)
    assert newest is not None
    assert got == [n for n in numbers if n != newest][:3]  # oldest published first, the latest kept


def test_unreadable_publish_times_count_as_the_oldest() -> None:
    versions = [
        ver("1.0.0", 10),
        ver("1.0.1", 0, published="yesterday"),
        ver("1.0.2", 0, published=""),
        ver("1.0.3", 1),
    ]
    # Unknown times come first; between them, version order decides.
    assert removed(versions, RetentionPolicy(2)) == ["1.0.1", "1.0.2"]
    # And they are never mistaken for a recent publish.
    assert removed(versions, RetentionPolicy(2, 5)) == ["1.0.1", "1.0.2"]


def test_reasons_are_plain_words() -> None:
    versions = [ver("1.0.0", 10), ver("1.0.1", 9), ver("1.0.2", 8)]
    plan = plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(1, 3), NOW, {"1.0.1": NOW - 5 * DAY})
    assert [d.reason for d in plan.removals] == [
        "3 versions count toward the limit of 1 version per package; this is the oldest one not protected "
        "(published 2026-11-21, no download recorded)",
        "3 versions count toward the limit of 1 version per package; this is the oldest one not protected "
        "(published 2026-11-22, last downloaded 2026-11-26)",
    ]
    assert plan.kept[0].reason == "the latest version of the package"
    plan = plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(2), NOW, {})
    assert [k.reason for k in plan.kept] == [
        "within the limit of 2 versions per package",
        "the latest version of the package",
    ]


def test_times_must_carry_a_time_zone() -> None:
    versions = [ver("1.0.0", 10), ver("1.0.1", 9)]
    naive = datetime(2026, 12, 1)  # no zone: the point of the test
    with pytest.raises(ValueError, match="now must carry a time zone"):
        plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(1), naive, {})
    with pytest.raises(ValueError, match=r"the last download of 1\.0\.0 must carry a time zone"):
        plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(1), NOW, {"1.0.0": naive})
    with pytest.raises(ValueError, match="downloads_recorded_since must carry a time zone"):
        plan_retention("npm", versions, {}, VIEWS, RetentionPolicy(1), NOW, {}, downloads_recorded_since=naive)


def test_one_summary_line_per_run() -> None:
    three = [ver("1.0.0", 9), ver("1.0.1", 8), ver("1.0.2", 7)]
    a = plan_retention("npm", three, {}, VIEWS, RetentionPolicy(1), NOW, {})
    b = plan_retention("npm", [ver("2.0.0", 9)], {}, VIEWS, RetentionPolicy(1), NOW, {})
    assert summary_line("web", {"a": a, "b": b}, dry_run=False) == (
        "retention on feed web: moved 2 versions of 1 package to the recycle bin, kept 2 versions of 2 packages"
    )
    assert summary_line("web", {"b": b}, dry_run=True) == (
        "retention on feed web: would move 0 versions of 0 packages to the recycle bin, kept 1 version of 1 package"
        " (dry run)"
    )


# --- properties --------------------------------------------------------------------------------------------------

_entry = st.fixed_dictionaries(
    {
        "age": st.integers(0, 400),
        "view": st.sampled_from([(), (), (), ("release-id",), ("local-id",), ("gone",)]),
        "deleted": st.sampled_from([False, False, False, True]),
        "downloaded": st.none() | st.integers(0, 400),
        "pre": st.booleans(),
    }
)


@st.composite
def packages(
    draw: st.DrawFn,
) -> tuple[list[PackageVersion], dict[str, str], dict[str, datetime | None], RetentionPolicy]:
    entries = draw(st.lists(_entry, max_size=14))
    versions, downloads = [], {}
    for i, e in enumerate(entries):
        number = f"1.{i // 3}.{i % 3}" + ("-beta.1" if e["pre"] else "")
        versions.append(ver(number, e["age"], views=e["view"], deleted=e["deleted"]))
        downloads[number] = None if e["downloaded"] is None else NOW - e["downloaded"] * DAY
    numbers = [v.version for v in versions] + ["9.9.9"]
    tags = draw(st.dictionaries(st.sampled_from(["latest", "beta", "next"]), st.sampled_from(numbers), max_size=3))
    policy = RetentionPolicy(draw(st.integers(1, 8)), draw(st.none() | st.integers(1, 60)))
    return versions, tags, downloads, policy


def _protected(
    v: PackageVersion,
    versions: list[PackageVersion],
    tags: dict[str, str],
    downloads: dict[str, datetime | None],
    policy: RetentionPolicy,
) -> bool:
    live = [x.version for x in versions if x.deleted is None]
    if "release-id" in v.views or v.version in tags.values() or v.version == version_order.newest("npm", live):
        return True
    days = policy.days_to_keep_recently_downloaded
    if days is None:
        return False
    last = downloads.get(v.version)
    published = datetime.fromisoformat(v.published)
    return (last is not None and NOW - last <= (days + 1) * DAY) or NOW - published <= days * DAY


@settings(max_examples=300, deadline=None)
@given(packages())
def test_property_the_rules_hold(
    package: tuple[list[PackageVersion], dict[str, str], dict[str, datetime | None], RetentionPolicy],
) -> None:
    versions, tags, downloads, policy = package
    plan = plan_retention("npm", versions, tags, VIEWS, policy, NOW, downloads)
    gone = [d.version for d in plan.removals]
    by_number = {v.version: v for v in versions}
    live = [v for v in versions if v.deleted is None]
    counted = [v for v in live if "release-id" not in v.views]

    # Only live versions, never a protected one, and every live version is accounted for exactly once.
    assert all(by_number[n].deleted is None for n in gone)
    assert not any(_protected(by_number[n], versions, tags, downloads, policy) for n in gone)
    assert sorted(gone + [k.version for k in plan.kept]) == sorted(v.version for v in live)
    assert plan.counted == len(counted)

    # Down to the limit when enough removable versions exist, and never below it.
    removable = [v for v in counted if not _protected(v, versions, tags, downloads, policy)]
    excess = max(0, len(counted) - policy.count_limit)
    assert len(gone) == min(excess, len(removable))
    assert len(counted) - len(gone) >= min(policy.count_limit, len(counted))

    # Oldest first: no removable version that stays is older than one that goes.
    def age_key(v: PackageVersion) -> tuple[datetime, int]:
        order = version_order.ascending("npm", [x.version for x in live])
        return datetime.fromisoformat(v.published), order.index(v.version)

    kept_removable = [v for v in removable if v.version not in gone]
    if gone and kept_removable:
        assert max(age_key(by_number[n]) for n in gone) < min(age_key(v) for v in kept_removable)
    assert [age_key(by_number[n]) for n in gone] == sorted(age_key(by_number[n]) for n in gone)

    # Idempotent: once the removals are applied, a second run removes nothing more.
    after = [replace(v, deleted=iso(NOW)) if v.version in gone else v for v in versions]
    tags_after = {t: n for t, n in tags.items() if n not in gone}
    assert select_for_removal("npm", after, tags_after, VIEWS, policy, NOW, downloads) == []

    # Deleted versions make no difference.
    assert select_for_removal("npm", live, tags, VIEWS, policy, NOW, downloads) == list(plan.removals)


# --- the recycle bin ---------------------------------------------------------------------------------------------


def test_recycle_bin_default_is_thirty_days() -> None:
    policy = RecycleBinPolicy()
    deleted = NOW - 10 * DAY
    assert policy.days == 30
    assert policy.purge_at(deleted) == deleted + 30 * DAY
    assert policy.restorable(deleted, NOW) and not policy.purge_due(deleted, NOW)


def test_recycle_bin_boundary_is_exact() -> None:
    deleted = NOW - 30 * DAY
    assert purge_at(deleted, 30) == NOW
    assert purge_due(deleted, NOW, 30) and not restorable(deleted, NOW, 30)
    just_before = NOW - timedelta(microseconds=1)
    assert restorable(deleted, just_before, 30) and not purge_due(deleted, just_before, 30)
    assert RecycleBinPolicy(7).purge_due(NOW - 7 * DAY, NOW)


@given(st.integers(1, 3650), st.integers(-(10**7), 10**9))
def test_property_restorable_and_purge_due_never_overlap(days: int, offset_seconds: int) -> None:
    deleted = NOW - timedelta(seconds=offset_seconds)
    assert restorable(deleted, NOW, days) != purge_due(deleted, NOW, days)


@pytest.mark.parametrize("bad", [0, -1, 3651, True, 1.5])
def test_recycle_bin_policy_bounds(bad: object) -> None:
    with pytest.raises(ValueError, match="recycle bin's days must be"):
        RecycleBinPolicy(bad)  # type: ignore[arg-type]


# --- download-time coalescing ------------------------------------------------------------------------------------


def test_a_download_writes_its_time_at_most_once_a_day() -> None:
    assert needs_recording(None, NOW)
    assert not needs_recording(NOW, NOW)
    assert not needs_recording(NOW - timedelta(hours=23, minutes=59), NOW)
    assert needs_recording(NOW - DAY, NOW)
    assert needs_recording(NOW - 40 * DAY, NOW)
    assert not needs_recording(NOW - timedelta(minutes=5), NOW, timedelta(hours=1))


def test_a_stored_time_far_in_the_future_heals() -> None:
    assert not needs_recording(NOW + timedelta(hours=12), NOW)  # a little skew: leave it
    assert needs_recording(NOW + 2 * DAY, NOW)


def test_the_granularity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="granularity must be positive"):
        needs_recording(None, NOW, timedelta(0))


@given(st.lists(st.integers(0, 10 * 24 * 60), max_size=200))
def test_property_writes_per_day_are_bounded(minutes: list[int]) -> None:
    """Replaying downloads in time order, writes happen at most once per granularity and the record is never
    more than a granularity behind the latest download."""
    recorded: datetime | None = None
    writes: list[datetime] = []
    for m in sorted(minutes):
        now = NOW + timedelta(minutes=m)
        if needs_recording(recorded, now):
            recorded = now
            writes.append(now)
        assert recorded is not None and now - recorded < DOWNLOAD_RECORDING_GRANULARITY
    assert all(b - a >= DOWNLOAD_RECORDING_GRANULARITY for a, b in itertools.pairwise(writes))


def test_a_run_report_lists_a_bounded_number_of_removals_and_counts_them_all() -> None:
    from feed_core.retention_job import REPORT_LIMIT, Removal, RetentionReport

    report = RetentionReport(dry_run=True)
    for i in range(REPORT_LIMIT + 7):
        report.note(Removal("local/feed", "npm", "lib", f"1.0.{i}", "over the limit"))
    assert len(report.removed) == REPORT_LIMIT and report.removed_count == REPORT_LIMIT + 7
    assert report.unlisted == 7
