"""The package recycle bin: versions deleted from a feed, to list, restore, or delete for good.

A deleted version keeps its row, so its number stays reserved, and its file references, so garbage collection
keeps its blobs. For ``FEED_RECYCLE_BIN_DAYS`` it can be restored; from then on (or when an owner deletes it
permanently) it is purged: the row stays, marked ``purged`` and stripped of its files and digests, so its blobs
are no longer referenced and the gc job collects them (those no other version shares). A purged version is never
published, saved from an upstream or restored again.

Every change is one conditional write of the package's rows (``PackageService.edit``): a restore and a purge of
one version racing each other are decided by whichever writes first; the other re-reads and finds the version
gone from the recycle bin (a 404), or restored (the purge skips it).

Requests do bounded work: one package (by name or id) is read from its own partition; the listing scans light rows
(no manifest blob is read) and stops after its page; emptying the recycle bin records the moment on the feed
(``Feed.recycle_bin_emptied``), which hides every version deleted until then at once, and the gc job purges them
(``due``). A batch checks every version, and renews a restore's blobs, before it changes any.

Roles are Azure's: contributors list the recycle bin, owners restore and delete permanently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from feed_core.domain.access import require_role
from feed_core.domain.clock import Clock, iso, parse_iso
from feed_core.domain.errors import ConflictError, NotFoundError
from feed_core.domain.models import Caller, Feed, PackageMeta, PackageVersion
from feed_core.domain.recycle_bin import RecycleBinPolicy, latest_after_restore, purged
from feed_core.domain.roles import Role
from feed_core.domain.version_order import ascending
from feed_core.service.packages import PackageService
from feed_core.storage.download_times import DownloadTimesStore
from feed_core.storage.packages import version_blobs

#: A change of one package's rows (see ``PackageService.edit``).
Change = Callable[[PackageMeta, list[PackageVersion]], list[PackageVersion]]
#: Versions one write changes at most (a package's rows change in one transaction of at most 100 rows).
_PER_WRITE = 90


@dataclass(frozen=True)
class BinnedPackage:
    """A package's versions in the recycle bin, oldest version number first."""

    protocol: str
    name: str
    versions: list[PackageVersion]


class RecycleBin:
    def __init__(
        self,
        packages: PackageService,
        policy: RecycleBinPolicy,
        clock: Clock,
        downloads: DownloadTimesStore | None = None,
    ) -> None:
        self._packages = packages
        self._downloads = downloads
        self._store = packages.store
        self.policy = policy
        self._clock = clock

    def purge_at(self, version: PackageVersion) -> str:
        """When a deleted version is (or was) due for purging, ISO time."""
        assert version.deleted is not None
        return iso(self.policy.purge_at(parse_iso(version.deleted)))

    # reading -------------------------------------------------------------------------------------
    async def page(
        self, feed: Feed, caller: Caller, *, protocol: str | None, name_query: str, skip: int, top: int
    ) -> list[BinnedPackage]:
        """A page of the feed's packages with versions in the recycle bin (of one protocol, whose names contain
        ``name_query``, any case), by protocol and name. One scan of light rows (no manifest blob is read), which
        stops at the first package past the page: a package's rows come together, in name order."""
        require_role(feed, caller, Role.CONTRIBUTOR, "reading the recycle bin")
        prefix = f"{feed.id}|{protocol}|" if protocol else f"{feed.id}|"
        query = name_query.lower()
        seen = 0
        last: tuple[str, str] | None = None
        found: dict[tuple[str, str], list[PackageVersion]] = defaultdict(list)
        async with aclosing(self._store.binned(prefix)) as rows:
            async for _, version in rows:
                key = (version.protocol, version.name)
                if _emptied(feed, version) or query not in version.name.lower():
                    continue
                if key != last:
                    seen, last = seen + 1, key
                    if seen > skip + top:
                        break
                if seen > skip:
                    found[key].append(version)
        return [_binned(protocol, name, found[(protocol, name)]) for protocol, name in sorted(found)]

    async def by_id(self, feed: Feed, caller: Caller, package_id: str) -> BinnedPackage | None:
        """The package with this id and its versions in the recycle bin (``None``: unknown, or none there): the
        package-id row, then the package's own rows (light: no manifest blob is read)."""
        require_role(feed, caller, Role.CONTRIBUTOR, "reading the recycle bin")
        found = await self._store.package_by_id(feed.id, package_id)
        if found is None:
            return None
        protocol, name = found
        _, versions = await self._store.get_package(feed.id, protocol, name, light=True)
        binned = [v for v in versions if v.deleted and v.purged is None and not _emptied(feed, v)]
        return _binned(protocol, name, binned) if binned else None

    async def version(self, feed: Feed, caller: Caller, protocol: str, name: str, number: str) -> PackageVersion:
        """One version in the recycle bin; 404 when it is not there (live, purged or unknown)."""
        require_role(feed, caller, Role.CONTRIBUTOR, "reading the recycle bin")
        version = await self._store.get_version(feed.id, protocol, name, number, light=True)
        return _in_bin(feed, name, number, version)[0]

    # changing ------------------------------------------------------------------------------------
    async def restore(self, feed: Feed, caller: Caller, protocol: str, name: str, numbers: list[str]) -> None:
        """Put versions back into the feed, as they were before they were deleted (views, files, provenance).
        Their blobs are renewed first, so that a gc run cannot take them before the restored rows reference
        them again; a blob that is gone (storage lost it) refuses the restore with a 409."""
        require_role(feed, caller, Role.ADMINISTRATOR, "restoring packages from the recycle bin")
        await self._check_restore(feed, protocol, name, numbers)
        await self._apply_restore(feed, protocol, name, numbers)

    async def _check_restore(self, feed: Feed, protocol: str, name: str, numbers: list[str]) -> None:
        """Each version restorable (404/409 otherwise), and its blobs renewed (a 409 when one is gone)."""
        now = self._clock()
        _, versions = await self._store.get_package(feed.id, protocol, name, light=True)
        by_number = {v.version: v for v in versions}
        for number in numbers:
            version = self._restorable(feed, name, number, by_number.get(number), now)
            for key in version_blobs(version):
                if await self._store.blobs.renew(key) is None:
                    raise ConflictError(
                        f"{name} {number} cannot be restored: its content ({key}) is no longer in storage; "
                        "publish a new version instead"
                    )

    async def _apply_restore(self, feed: Feed, protocol: str, name: str, numbers: list[str]) -> None:
        for chunk in _chunks(list(dict.fromkeys(numbers))):
            await self._packages.edit(feed, protocol, name, self._restoring(feed, protocol, name, chunk))

    def _restoring(self, feed: Feed, protocol: str, name: str, numbers: list[str]) -> Change:
        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            by_no = {v.version: v for v in versions}
            changed = []
            for number in numbers:
                version = self._restorable(feed, name, number, by_no.get(number), self._clock())
                version.deleted = version.deleted_by = None
                changed.append(version)
            live = [v.version for v in versions if v.deleted is None]
            meta.dist_tags = latest_after_restore(protocol, meta.dist_tags, live, set(numbers))
            return changed

        return change

    async def delete(self, feed: Feed, caller: Caller, protocol: str, name: str, numbers: list[str]) -> None:
        """Delete versions in the recycle bin permanently now (their numbers stay reserved)."""
        require_role(feed, caller, Role.ADMINISTRATOR, "permanently deleting packages")
        await self._purge(feed, protocol, name, list(dict.fromkeys(numbers)), strict=True)

    async def batch(
        self, feed: Feed, caller: Caller, *, restore: bool, versions: dict[tuple[str, str], list[str]]
    ) -> None:
        """Restore (or delete permanently) versions of several packages: ``(protocol, name) -> numbers``. Every
        version is checked before any is changed, so a batch naming one not in the recycle bin changes nothing
        (unless another writer changes the recycle bin meanwhile); each package's versions change at once."""
        require_role(
            feed, caller, Role.ADMINISTRATOR, "restoring packages" if restore else "permanently deleting packages"
        )
        for (protocol, name), numbers in versions.items():
            if restore:
                await self._check_restore(feed, protocol, name, numbers)
                continue
            _, rows = await self._store.get_package(feed.id, protocol, name, light=True)
            by_number = {v.version: v for v in rows}
            for number in numbers:
                _in_bin(feed, name, number, by_number.get(number))
        for (protocol, name), numbers in versions.items():
            if restore:
                await self._apply_restore(feed, protocol, name, numbers)
            else:
                await self._purge(feed, protocol, name, list(dict.fromkeys(numbers)), strict=True)

    async def due(self, feed: Feed) -> list[PackageVersion]:
        """The feed's versions whose time in the recycle bin has ended, or that were in it when an owner emptied it
        (light views: enough to name them)."""
        now = self._clock()
        return [v async for _, v in self._store.binned(f"{feed.id}|") if self._due(feed, v, now)]

    def _due(self, feed: Feed, version: PackageVersion, now: datetime) -> bool:
        assert version.deleted is not None
        return _emptied(feed, version) or self.policy.purge_due(parse_iso(version.deleted), now)

    async def purge_due(self, feed: Feed, due: list[PackageVersion]) -> int:
        """Purge those of ``due`` still due when written (a restore that came first keeps its version); how many."""
        packages: dict[tuple[str, str], list[str]] = defaultdict(list)
        for version in due:
            packages[(version.protocol, version.name)].append(version.version)
        count = 0
        for (protocol, name), numbers in sorted(packages.items()):
            try:
                count += await self._purge(feed, protocol, name, numbers, only_due=True)
            except NotFoundError:
                continue  # the package's rows went meanwhile (its feed was purged)
        return count

    async def _purge(
        self, feed: Feed, protocol: str, name: str, numbers: list[str], *, strict: bool = False, only_due: bool = False
    ) -> int:
        """Mark versions purged. ``strict``: each must be in the recycle bin (else 404); otherwise those no longer
        there are skipped, and with ``only_due`` also those not due any more."""
        total = 0
        for chunk in _chunks(numbers):
            counted: list[list[str]] = []
            await self._packages.edit(feed, protocol, name, self._purging(feed, name, chunk, strict, only_due, counted))
            total += len(counted[-1])
            if self._downloads is not None and counted[-1]:
                # A purged version is never downloaded again: its download days only cost rows.
                await self._downloads.delete_versions(feed.id, protocol, name, counted[-1])
        return total

    def _purging(
        self, feed: Feed, name: str, numbers: list[str], strict: bool, only_due: bool, counted: list[list[str]]
    ) -> Change:
        def change(meta: PackageMeta, versions: list[PackageVersion]) -> list[PackageVersion]:
            del meta
            by_no = {v.version: v for v in versions}
            now = self._clock()
            changed: list[PackageVersion] = []
            for number in numbers:
                found = by_no.get(number)
                if not strict and (found is None or found.deleted is None or found.purged is not None):
                    continue
                version, _ = _in_bin(feed, name, number, found, hide_emptied=strict)
                if only_due and not self._due(feed, version, now):
                    continue
                changed.append(purged(version, iso(now)))
            counted.append([v.version for v in changed])  # the last attempt's is the one written
            return changed

        return change

    def _restorable(
        self, feed: Feed, name: str, number: str, found: PackageVersion | None, now: datetime
    ) -> PackageVersion:
        """The version, if it is in the recycle bin and its time there has not ended; a 404 or 409 otherwise."""
        version, deleted = _in_bin(feed, name, number, found)
        if not self.policy.restorable(parse_iso(deleted), now):
            raise ConflictError(
                f"{name} {number} has been in the recycle bin of feed {feed.name} since {deleted[:10]}, "
                f"longer than the {self.policy.days} days it keeps versions, and is being purged: it cannot be "
                "restored; publish a new version"
            )
        return version


def _emptied(feed: Feed, version: PackageVersion) -> bool:
    """Whether the version was in the recycle bin when an owner last emptied it (the gc job purges it)."""
    emptied, deleted = feed.recycle_bin_emptied, version.deleted
    return emptied is not None and deleted is not None and parse_iso(deleted) <= parse_iso(emptied)


def _in_bin(
    feed: Feed, name: str, number: str, version: PackageVersion | None, *, hide_emptied: bool = True
) -> tuple[PackageVersion, str]:
    """The version and when it was deleted if it is in the recycle bin; else a 404 saying where it is instead.
    ``hide_emptied``: one that was there when the recycle bin was emptied is a 404 too (only gc purges it)."""
    if version is None:
        raise NotFoundError(f"{name} {number} does not exist in feed {feed.name}")
    if version.purged is not None:
        raise NotFoundError(
            f"{name} {number} was permanently deleted from feed {feed.name} on {version.purged[:10]}: it is no "
            "longer in the recycle bin and cannot be restored (its version number stays reserved)"
        )
    if version.deleted is None:
        raise NotFoundError(f"{name} {number} is not in the recycle bin of feed {feed.name}: it was not deleted")
    if hide_emptied and _emptied(feed, version):
        raise NotFoundError(
            f"{name} {number} is being deleted permanently: the recycle bin of feed {feed.name} was emptied on "
            f"{(feed.recycle_bin_emptied or '')[:10]} (its version number stays reserved)"
        )
    return version, version.deleted


def _binned(protocol: str, name: str, versions: list[PackageVersion]) -> BinnedPackage:
    order = {n: i for i, n in enumerate(ascending(protocol, [v.version for v in versions]))}
    return BinnedPackage(protocol, name, sorted(versions, key=lambda v: order[v.version]))


def _chunks(numbers: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(numbers), _PER_WRITE):
        yield numbers[start : start + _PER_WRITE]
