"""A feed's packages of every protocol for the web UI: its index rows, read for all protocols at once and kept
parsed per worker for a few seconds, so that paging through 10,000 packages reads storage once.

Writes through this worker (publishes, saves, deletions) make the kept listing stale at once (the package
service counts its index writes per feed); writes through another worker show within ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from feed_core.domain.models import Feed
from feed_core.domain.package_listing import Listing, listed
from feed_core.domain.source_models import PROTOCOLS
from feed_core.service.cache import SingleFlight
from feed_core.service.packages import PackageService


@dataclass(frozen=True)
class _Kept:
    loaded_at: float
    generation: int
    listing: Listing


class PackageListService:
    def __init__(self, packages: PackageService, ttl: float, max_feeds: int = 64) -> None:
        self._packages = packages
        self._ttl = ttl
        self._max_feeds = max_feeds
        self._kept: dict[str, _Kept] = {}
        self._loads: SingleFlight[tuple[str, int], _Kept] = SingleFlight()

    async def listing(self, feed: Feed) -> Listing:
        """Every package the feed holds (a live version in it), of every protocol."""
        generation = self._packages.index_generation(feed.id)
        kept = self._kept.get(feed.id)
        if kept is not None and kept.generation == generation and time.monotonic() - kept.loaded_at < self._ttl:
            return kept.listing
        return (await self._loads.run((feed.id, generation), lambda: self._load(feed.id, generation))).listing

    async def counts(self, feed: Feed) -> dict[str, int]:
        """How many packages of each protocol the feed holds."""
        found: dict[str, int] = dict.fromkeys(PROTOCOLS, 0)
        for p in (await self.listing(feed)).by_name:
            found[p.protocol] = found.get(p.protocol, 0) + 1
        return found

    async def _load(self, feed_id: str, generation: int) -> _Kept:
        started = time.monotonic()
        store = self._packages.store
        rows = await asyncio.gather(*(store.list_index(feed_id, p) for p in PROTOCOLS))
        listing = Listing.of(
            [
                listed(p, e.name, e.latest, e.description, e.keywords, e.modified, e.origin, e.origins, e.views)
                for p, entries in zip(PROTOCOLS, rows, strict=True)
                for e in entries
            ]
        )
        kept = _Kept(started, generation, listing)
        if self._ttl > 0 and self._packages.index_generation(feed_id) == generation:
            self._kept.pop(feed_id, None)
            self._kept[feed_id] = kept
            while len(self._kept) > self._max_feeds:
                del self._kept[next(iter(self._kept))]
        return kept
