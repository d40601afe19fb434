"""A feed's packages of every protocol for the web UI: its index rows, read for all protocols at once and kept
parsed per worker, so that paging through 10,000 packages reads storage once in a while, not per page.

A kept listing is read again after ``ttl`` seconds (so writes through other workers show within that time);
a request in its second half starts that read in the background and is answered from what is kept, so
requests rarely wait for it. Writes through this worker (publishes, saves, deletions, promotions) change the
kept listing at once: the package service tells each index row it writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from feed_core.domain.models import Feed
from feed_core.domain.package_listing import ListedPackage, Listing, listed
from feed_core.domain.source_models import PROTOCOLS
from feed_core.service.cache import SingleFlight
from feed_core.service.packages import PackageService
from feed_core.storage.packages import IndexEntry

log = logging.getLogger(__name__)
#: Packages kept per worker, over every feed's listing (a few hundred bytes each); the feed used least recently
#: goes first. One feed larger than this is still kept, alone.
MAX_KEPT_PACKAGES = 100_000


@dataclass(frozen=True)
class _Kept:
    loaded_at: float  # time.monotonic() when the read started
    generation: int  # the feed's count of index writes through this worker when the read started
    listing: Listing


def _listed(protocol: str, e: IndexEntry) -> ListedPackage:
    return listed(protocol, e.name, e.latest, e.description, e.keywords, e.modified, e.origin, e.origins, e.views)


class PackageListService:
    def __init__(self, packages: PackageService, ttl: float, max_packages: int = MAX_KEPT_PACKAGES) -> None:
        self._packages = packages
        self._ttl = ttl
        self._max_packages = max_packages
        self._kept: dict[str, _Kept] = {}
        self._counts: dict[str, tuple[float, int, dict[str, int]]] = {}  # feed id -> (read at, generation, counts)
        self._writes: dict[str, int] = {}  # index writes through this worker, per feed
        self._loads: SingleFlight[tuple[str, int], _Kept] = SingleFlight()
        self._background: set[asyncio.Future[_Kept]] = set()
        packages.index_listeners.append(self._wrote)

    async def listing(self, feed: Feed) -> Listing:
        """Every package the feed holds (a live version in it), of every protocol."""
        generation = self._writes.get(feed.id, 0)
        kept = self._kept.get(feed.id)
        if kept is not None and kept.generation == generation:
            age = time.monotonic() - kept.loaded_at
            if age < self._ttl:
                self._kept[feed.id] = self._kept.pop(feed.id)  # used last: evicted last
                if age >= self._ttl / 2:
                    self._refresh(feed.id, generation)
                return kept.listing
        return (await self._load(feed.id, generation)).listing

    async def counts(self, feed: Feed) -> dict[str, int]:
        """How many packages of each protocol the feed holds. Kept apart from the listings (a few numbers per
        feed, never evicted by them): the home page counts every feed, and would otherwise read each one's whole
        index again whenever the organization holds more packages than the listings keep."""
        generation = self._writes.get(feed.id, 0)
        kept = self._counts.get(feed.id)
        if kept is not None and kept[1] == generation and time.monotonic() - kept[0] < self._ttl:
            return dict(kept[2])
        started = time.monotonic()
        listing = await self.listing(feed)
        found: dict[str, int] = dict.fromkeys(PROTOCOLS, 0)
        for p in listing.by_name:
            found[p.protocol] = found.get(p.protocol, 0) + 1
        read = self._kept.get(feed.id)
        if read is not None and read.listing is listing:
            started = read.loaded_at  # counted from a listing read earlier: expires with it
        if self._ttl > 0 and self._writes.get(feed.id, 0) == generation:
            self._counts[feed.id] = (started, generation, found)
        return dict(found)

    async def _load(self, feed_id: str, generation: int, *, waited_for: bool = True) -> _Kept:
        return await self._loads.run((feed_id, generation), lambda: self._read(feed_id, generation, waited_for))

    def _refresh(self, feed_id: str, generation: int) -> None:
        if self._loads.in_flight((feed_id, generation)):
            return
        task = asyncio.ensure_future(self._load(feed_id, generation, waited_for=False))
        self._background.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Future[_Kept]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("reading a feed's package listing failed: %s", task.exception())

    async def _read(self, feed_id: str, generation: int, waited_for: bool) -> _Kept:
        """The feed's index rows of every protocol: read at once when a request waits for them, else one protocol
        after another (the embedded store runs one query at a time: requests then queue behind one at most)."""
        started = time.monotonic()
        store = self._packages.store
        if waited_for:
            rows = await asyncio.gather(*(store.list_index(feed_id, p) for p in PROTOCOLS))
        else:
            rows = [await store.list_index(feed_id, p) for p in PROTOCOLS]
        kept = _Kept(
            started,
            generation,
            Listing.of([_listed(p, e) for p, entries in zip(PROTOCOLS, rows, strict=True) for e in entries]),
        )
        # Kept unless this worker wrote an index row of the feed meanwhile (the read may have missed it).
        if self._ttl > 0 and self._writes.get(feed_id, 0) == generation:
            self._kept.pop(feed_id, None)
            self._kept[feed_id] = kept
            while len(self._kept) > 1 and sum(len(k.listing) for k in self._kept.values()) > self._max_packages:
                del self._kept[next(iter(self._kept))]
        return kept

    def _wrote(self, feed_id: str, protocol: str, name: str, entry: IndexEntry | None) -> None:
        """An index row of the feed was written through this worker: the kept listing takes it."""
        generation = self._writes[feed_id] = self._writes.get(feed_id, 0) + 1
        kept = self._kept.get(feed_id)
        if kept is not None:
            listing = kept.listing.with_package(protocol, name, None if entry is None else _listed(protocol, entry))
            self._kept[feed_id] = _Kept(kept.loaded_at, generation, listing)
