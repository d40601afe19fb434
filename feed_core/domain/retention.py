"""Retention: which versions of one package a feed's retention policy removes.

The rules, following Azure Artifacts' retention policies:

- **The policy** is a maximum number of versions per package (``countLimit``, 1 to 5000, Azure's bounds and its
  limit of versions per package) and, optionally, a number of days (``daysToKeepRecentlyDownloadedPackages``,
  1 to 4000): a version downloaded within that many days is kept. Azure's third field, ``ageLimitInDays``, is
  deprecated there and ignored, here too. The days only narrow what the count limit removes; on their own they
  remove nothing, so a policy with days and no count limit is refused rather than silently doing nothing.
- **What counts:** live versions of the package that are not in a view. Deleted versions are already in the
  recycle bin and neither count nor are removed again; versions promoted to a view (other than the implicit
  @Local, which holds everything) are kept for good and do not count toward the limit, as Azure documents.
- **What goes:** when more versions count than the limit allows, the oldest go first, until the count is down to
  the limit. "Oldest" is by publish time, as Azure says ("the oldest version of the package will be deleted"),
  with the protocol's version order breaking ties; a version with no readable publish time counts as the
  oldest. Publish time rather than version order because it is what retention is about (how long a version has
  been in the feed), it does not depend on every protocol's number being readable, and a patch to an old line
  published today is not the first thing to remove.
- **What never goes**, though it still counts: a version downloaded (or published) within the policy's days; the
  newest version of the package (the latest in @Local; the latest in every other view is in that view, so
  kept anyway); any version a dist-tag points at (npm). When these leave too few removable versions, the
  package stays above its limit: retention never removes a protected version to make room.
- **Download times** are written at most once a day (``download_times``), so a stored time can be up to a day
  older than the true last download; the window is widened by that much so the coarse record never removes a
  version that was really downloaded within the window. Before download times were recorded at all, nothing
  is known: a version with no recorded download counts from when recording began (as Azure counts from when
  it enabled package metrics), so turning retention on does not remove every version at once.

Pure functions: the job reads the package's versions, tags, views and download times, asks ``plan_retention``,
and moves the chosen versions to the recycle bin (or only reports them, on a dry run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feed_core.domain import version_order
from feed_core.domain.download_times import DOWNLOAD_RECORDING_GRANULARITY
from feed_core.domain.models import PackageVersion, View
from feed_core.domain.release_age import parse_time

MIN_COUNT_LIMIT = 1
MAX_COUNT_LIMIT = 5000
MIN_DAYS = 1
MAX_DAYS = 4000

_COUNT = "countLimit"
_DAYS = "daysToKeepRecentlyDownloadedPackages"
_AGE = "ageLimitInDays"  # deprecated in Azure and ignored there: accepted, never acted on
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _whole_number(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


@dataclass(frozen=True)
class RetentionPolicy:
    """A feed's retention policy. A feed without one has ``None`` instead: nothing is removed."""

    count_limit: int
    days_to_keep_recently_downloaded: int | None = None

    def __post_init__(self) -> None:
        _whole_number(_COUNT, self.count_limit, MIN_COUNT_LIMIT, MAX_COUNT_LIMIT)
        if self.days_to_keep_recently_downloaded is not None:
            _whole_number(_DAYS, self.days_to_keep_recently_downloaded, MIN_DAYS, MAX_DAYS)

    @classmethod
    def from_rest(cls, body: Mapping[str, object]) -> RetentionPolicy | None:
        """Azure's ``FeedRetentionPolicy`` body; ``None`` when it sets no limit (no policy).

        Unknown fields are refused so a misspelt one is not mistaken for a policy that keeps everything.
        """
        unknown = sorted(set(body) - {_COUNT, _DAYS, _AGE})
        if unknown:
            raise ValueError(f"unknown retention policy field(s): {', '.join(unknown)}")
        count, days = body.get(_COUNT), body.get(_DAYS)
        if count is None:
            if days is not None:
                raise ValueError(
                    f"{_DAYS} needs {_COUNT}: retention removes only versions beyond the count limit, "
                    "and the days keep recently downloaded ones among them"
                )
            return None
        return cls(
            count_limit=_whole_number(_COUNT, count, MIN_COUNT_LIMIT, MAX_COUNT_LIMIT),
            days_to_keep_recently_downloaded=None if days is None else _whole_number(_DAYS, days, MIN_DAYS, MAX_DAYS),
        )

    def to_rest(self) -> dict[str, int | None]:
        return {_AGE: None, _COUNT: self.count_limit, _DAYS: self.days_to_keep_recently_downloaded}


@dataclass(frozen=True)
class RemovalDecision:
    """A version retention removes, with the reason in words (for the dry-run report and the log)."""

    version: str
    reason: str


@dataclass(frozen=True)
class KeptVersion:
    """A live version retention keeps, and why."""

    version: str
    reason: str


@dataclass(frozen=True)
class RetentionPlan:
    """What one run does to one package: removals oldest first, and every other live version with its reason."""

    removals: tuple[RemovalDecision, ...]
    kept: tuple[KeptVersion, ...]
    #: How many versions counted toward the limit before the removals.
    counted: int


def _aware(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")
    return moment


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _oldest_first(protocol: str, live: Sequence[PackageVersion]) -> list[PackageVersion]:
    rank = {number: i for i, number in enumerate(version_order.ascending(protocol, [v.version for v in live]))}
    return sorted(live, key=lambda v: (parse_time(v.published) or _EARLIEST, rank[v.version], v.version))


def _recent_use(
    version: PackageVersion,
    downloaded: datetime | None,
    recorded_since: datetime | None,
    days: int,
    now: datetime,
    slack: timedelta,
) -> str | None:
    """Why the version counts as recently used (a reason), or ``None``."""
    window = timedelta(days=days)
    days_words = _plural(days, "day")
    if downloaded is not None and now - downloaded <= window + slack:
        return f"downloaded within the last {days_words} (last recorded {_day(downloaded)})"
    published = parse_time(version.published)
    if published is not None and now - published <= window:
        return f"published within the last {days_words} ({_day(published)})"
    if downloaded is None and recorded_since is not None and now - recorded_since <= window:
        return (
            f"download times are recorded only since {_day(recorded_since)}, "
            f"less than {days_words} ago, and none is recorded for it yet"
        )
    return None


def _described(version: PackageVersion, downloaded: datetime | None) -> str:
    published = parse_time(version.published)
    when = f"published {_day(published)}" if published is not None else "publish time unknown"
    last = f"last downloaded {_day(downloaded)}" if downloaded is not None else "no download recorded"
    return f"{when}, {last}"


def _listed(version: PackageVersion) -> bool:
    """Whether clients pick the version from listings: not unlisted (NuGet, a yanked crate), and not every file
    yanked (Python)."""
    if version.unlisted is not None:
        return False
    return not (version.files and all(f.get("yanked") is not None for f in version.files))


def plan_retention(
    protocol: str,
    versions: Iterable[PackageVersion],
    dist_tags: Mapping[str, str],
    views: Iterable[View],
    policy: RetentionPolicy | None,
    now: datetime,
    last_downloaded: Mapping[str, datetime | None],
    *,
    downloads_recorded_since: datetime | None = None,
    recording_granularity: timedelta = DOWNLOAD_RECORDING_GRANULARITY,
) -> RetentionPlan:
    """Which live versions of one package ``policy`` removes at ``now``, and why each other one stays.

    ``versions`` are the package's versions, deleted ones included (they are skipped); ``views`` the feed's views;
    ``last_downloaded`` maps a version number to its recorded last download (missing: none recorded);
    ``downloads_recorded_since`` is when the feed began recording download times, if that is recent.
    """
    _aware("now", now)
    if downloads_recorded_since is not None:
        _aware("downloads_recorded_since", downloads_recorded_since)
    live = [v for v in versions if v.deleted is None]
    release_views = {v.id.lower(): v.name for v in views if not v.is_local}

    def views_of(version: PackageVersion) -> list[str]:
        return sorted({release_views[i.lower()] for i in version.views if i.lower() in release_views})

    kept: list[KeptVersion] = []
    counted: list[PackageVersion] = []
    ordered = _oldest_first(protocol, live)
    position = {v.version: i for i, v in enumerate(ordered)}

    def plan(removals: list[RemovalDecision]) -> RetentionPlan:
        in_order = sorted(kept, key=lambda k: position[k.version])
        return RetentionPlan(removals=tuple(removals), kept=tuple(in_order), counted=len(counted))

    for version in ordered:
        in_views = views_of(version)
        if in_views:
            kept.append(KeptVersion(version.version, f"promoted to {', '.join('@' + n for n in in_views)}"))
        else:
            counted.append(version)
    if policy is None:
        kept.extend(KeptVersion(v.version, "the feed has no retention policy") for v in counted)
        return plan([])

    live_numbers = {v.version for v in live}
    tags_of: dict[str, list[str]] = {}
    for tag, target in sorted(dist_tags.items()):
        if target in live_numbers:
            tags_of.setdefault(target, []).append(tag)
    newest = version_order.newest(protocol, [v.version for v in live])
    newest_listed = version_order.newest(protocol, [v.version for v in live if _listed(v)])
    excess = len(counted) - policy.count_limit
    limit_words = _plural(policy.count_limit, "version")
    removals: list[RemovalDecision] = []
    for version in counted:
        downloaded = last_downloaded.get(version.version)
        if downloaded is not None:
            _aware(f"the last download of {version.version}", downloaded)
        protected: str | None
        if version.version in tags_of:
            protected = f"the dist-tag {', '.join(tags_of[version.version])} points at it"
        elif version.version == newest:
            protected = "the latest version of the package"
        elif version.version == newest_listed:
            protected = "the latest listed version of the package (the newest is unlisted or yanked)"
        elif policy.days_to_keep_recently_downloaded is not None:
            protected = _recent_use(
                version,
                downloaded,
                downloads_recorded_since,
                policy.days_to_keep_recently_downloaded,
                now,
                recording_granularity,
            )
        else:
            protected = None
        if protected is not None:
            kept.append(KeptVersion(version.version, protected))
            continue
        if excess <= 0:
            kept.append(KeptVersion(version.version, f"within the limit of {limit_words} per package"))
            continue
        removals.append(
            RemovalDecision(
                version.version,
                f"{len(counted)} versions count toward the limit of {limit_words} per package; this is the "
                f"oldest one not protected ({_described(version, downloaded)})",
            )
        )
        excess -= 1
    return plan(removals)


def select_for_removal(
    protocol: str,
    versions: Iterable[PackageVersion],
    dist_tags: Mapping[str, str],
    views: Iterable[View],
    policy: RetentionPolicy | None,
    now: datetime,
    last_downloaded: Mapping[str, datetime | None],
    *,
    downloads_recorded_since: datetime | None = None,
    recording_granularity: timedelta = DOWNLOAD_RECORDING_GRANULARITY,
) -> list[RemovalDecision]:
    """The removals of ``plan_retention``, oldest first."""
    plan = plan_retention(
        protocol,
        versions,
        dist_tags,
        views,
        policy,
        now,
        last_downloaded,
        downloads_recorded_since=downloads_recorded_since,
        recording_granularity=recording_granularity,
    )
    return list(plan.removals)


@dataclass
class RetentionTotals:
    """What a run did to the packages of one feed, added up as it goes (a run keeps no plan once counted)."""

    packages: int = 0
    #: Packages that lost at least one version.
    touched: int = 0
    removed: int = 0
    kept: int = 0

    def add(self, plan: RetentionPlan) -> None:
        self.packages += 1
        self.touched += 1 if plan.removals else 0
        self.removed += len(plan.removals)
        self.kept += len(plan.kept)

    @classmethod
    def of(cls, plans: Iterable[RetentionPlan]) -> RetentionTotals:
        totals = cls()
        for plan in plans:
            totals.add(plan)
        return totals


def summary_line(feed: str, plans: Mapping[str, RetentionPlan], *, dry_run: bool) -> str:
    """The one line a retention run logs for a feed: ``plans`` maps each package looked at to its plan."""
    return totals_line(feed, RetentionTotals.of(plans.values()), dry_run=dry_run)


def totals_line(feed: str, totals: RetentionTotals, *, dry_run: bool) -> str:
    """``summary_line`` from the totals of a feed's plans."""
    verb = "would move" if dry_run else "moved"
    line = (
        f"retention on feed {feed}: {verb} {_plural(totals.removed, 'version')} of "
        f"{_plural(totals.touched, 'package')} to the recycle bin, kept {_plural(totals.kept, 'version')} of "
        f"{_plural(totals.packages, 'package')}"
    )
    return line + " (dry run)" if dry_run else line


def run_summary_line(plans_by_feed: Mapping[str, Mapping[str, RetentionPlan]], *, dry_run: bool) -> str:
    """The one line a whole retention run logs: ``plans_by_feed`` maps each feed with a policy to its plans.

    One feed reads as its ``summary_line``; several are added up."""
    by_feed = {feed: RetentionTotals.of(plans.values()) for feed, plans in plans_by_feed.items()}
    return run_totals_line(by_feed, dry_run=dry_run)


def run_totals_line(by_feed: Mapping[str, RetentionTotals], *, dry_run: bool) -> str:
    """``run_summary_line`` from each feed's totals."""
    if len(by_feed) == 1:
        ((feed, totals),) = by_feed.items()
        return totals_line(feed, totals, dry_run=dry_run)
    every = RetentionTotals()
    for t in by_feed.values():
        every.packages += t.packages
        every.touched += t.touched
        every.removed += t.removed
        every.kept += t.kept
    feeds = sum(1 for t in by_feed.values() if t.touched)
    verb = "would move" if dry_run else "moved"
    line = (
        f"retention on {_plural(len(by_feed), 'feed')} with a policy: {verb} "
        f"{_plural(every.removed, 'version')} of {_plural(every.touched, 'package')} in {_plural(feeds, 'feed')} "
        f"to the recycle bin, kept {_plural(every.kept, 'version')} of {_plural(every.packages, 'package')}"
    )
    return line + " (dry run)" if dry_run else line
