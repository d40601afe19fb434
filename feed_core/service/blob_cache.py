"""A per-worker cache of small package files, bounded in bytes.

Content is stored under its sha-256, so a key's bytes never change: an entry never goes stale and needs
no expiry. Only blobs up to ``max_blob_bytes`` are kept (the files too small to be worth a redirect);
the least recently used go first once ``max_bytes`` is reached. Concurrent misses of one key share a
single read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from feed_core.service.cache import SingleFlight


class BlobCache:
    def __init__(self, max_bytes: int, max_blob_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._max_blob = min(max_blob_bytes, max_bytes)
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._flights: SingleFlight[str, bytes | None] = SingleFlight()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def holds(self, size: int) -> bool:
        """Whether a blob of ``size`` bytes is one this cache keeps (off when its budget is 0)."""
        return 0 <= size <= self._max_blob and self._max_bytes > 0

    def get(self, sha256: str) -> bytes | None:
        hit = self._data.get(sha256)
        if hit is not None:
            self._data.move_to_end(sha256)
        return hit

    def put(self, sha256: str, data: bytes) -> None:
        if not self.holds(len(data)) or sha256 in self._data:
            return
        self._data[sha256] = data
        self.size_bytes += len(data)
        while self.size_bytes > self._max_bytes:
            _, dropped = self._data.popitem(last=False)
            self.size_bytes -= len(dropped)

    async def load(self, sha256: str, size: int, read: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        """The blob's bytes from memory, else from ``read`` (once for concurrent callers) and kept. ``None``
        when ``read`` finds nothing, or bytes whose length is not ``size`` (those are not kept: a cached
        entry is always the whole blob)."""
        hit = self.get(sha256)
        if hit is not None:
            return hit

        async def fill() -> bytes | None:
            data = await read()
            if data is None or len(data) != size:
                return None
            self.put(sha256, data)
            return data

        return await self._flights.run(sha256, fill)
