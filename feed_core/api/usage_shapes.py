"""Storage usage as the REST API shows it: the answer of ``feeds/{feed}/usage``, and the stored total the feed list
and the health endpoint show (``usage``)."""

from __future__ import annotations

from feed_core.api.models import ApiModel
from feed_core.domain.usage import FeedUsage, Figures, PackageUsage
from feed_core.service.usage import MeasuredUsage
from feed_core.storage.usage import StoredUsage


class UsageTotal(ApiModel):
    """A feed's total as last computed (by ``GET …/usage`` or the gc job)."""

    total_bytes: int
    computed_at: str


class ProtocolUsageResponse(ApiModel):
    total_bytes: int
    published_bytes: int
    saved_bytes: int
    recycle_bin_bytes: int | None
    packages: int
    versions: int
    recycle_bin_versions: int | None


class PackageUsageResponse(ApiModel):
    protocol: str
    name: str
    total_bytes: int
    published_bytes: int
    saved_bytes: int
    recycle_bin_bytes: int | None
    versions: int
    recycle_bin_versions: int | None


class FeedUsageResponse(ApiModel):
    """A feed's storage usage, computed now. Bytes are what each version holds: a file two versions hold counts
    for each (``distinctBytes`` counts each stored file of the feed once). ``protocols`` and ``packages``
    (largest first; ``count`` of them in this page) are narrowed by ``protocolType``; the totals are the feed's.

    Below contributor (who may list the recycle bin) nothing of the recycle bin shows: packages whose versions are
    all in it are left out, figures count live versions only, and ``recycleBin*`` and ``distinctBytes`` (which
    counts recycle-bin content too) are ``null``."""

    feed_id: str
    computed_at: str
    total_bytes: int
    published_bytes: int
    saved_bytes: int
    recycle_bin_bytes: int | None
    distinct_bytes: int | None
    versions: int
    protocols: dict[str, ProtocolUsageResponse]
    packages: list[PackageUsageResponse]
    count: int


def usage_total(stored: StoredUsage | None) -> UsageTotal | None:
    return None if stored is None else UsageTotal(total_bytes=stored.total_bytes, computed_at=stored.computed_at)


class _Figures(ApiModel):
    """The figures every level shows (the recycle bin's ``None`` when hidden)."""

    total_bytes: int
    published_bytes: int
    saved_bytes: int
    recycle_bin_bytes: int | None
    versions: int
    recycle_bin_versions: int | None


def _figures(f: Figures, recycle_bin: bool) -> _Figures:
    return _Figures(
        total_bytes=f.total_bytes,
        published_bytes=f.published_bytes,
        saved_bytes=f.saved_bytes,
        recycle_bin_bytes=f.recycle_bin_bytes if recycle_bin else None,
        versions=f.versions,
        recycle_bin_versions=f.recycle_bin_versions if recycle_bin else None,
    )


def feed_usage_response(
    measured: MeasuredUsage, usage: FeedUsage, packages: list[PackageUsage], protocol: str | None, *, recycle_bin: bool
) -> FeedUsageResponse:
    """The answer for a page of ``packages`` of ``usage`` (the measured one, or its live part: ``recycle_bin``
    says which), of ``protocol`` only when given."""
    total = usage.total
    return FeedUsageResponse(
        feed_id=measured.feed_id,
        computed_at=measured.computed_at,
        total_bytes=total.total_bytes,
        published_bytes=total.published_bytes,
        saved_bytes=total.saved_bytes,
        recycle_bin_bytes=total.recycle_bin_bytes if recycle_bin else None,
        distinct_bytes=usage.distinct_bytes if recycle_bin else None,
        versions=total.versions,
        protocols={
            name: ProtocolUsageResponse(**dict(_figures(p, recycle_bin)), packages=p.packages)
            for name, p in usage.protocols.items()
            if protocol is None or name == protocol
        },
        packages=[
            PackageUsageResponse(protocol=p.protocol, name=p.name, **dict(_figures(p, recycle_bin))) for p in packages
        ],
        count=len(packages),
    )
