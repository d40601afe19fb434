"""A per-worker cache of built documents (npm packuments, Python simple pages), bounded in entries and bytes."""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

Key = tuple[str, ...]


@dataclass
class BuiltPage:
    body: bytes
    etag: str
    notes: dict[str, str]
    _gzipped: bytes | None = None
    on_gzip: Callable[[BuiltPage, int], None] | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        """The body gzip-compressed, made once on first request (these documents compress 5-10x)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
            if self.on_gzip is not None:
                self.on_gzip(self, len(self._gzipped))
        return self._gzipped

    @property
    def size(self) -> int:
        """Bytes held: the body and, once made, its gzipped copy."""
        return len(self.body) + len(self._gzipped or b"")


class PageCache:
    """Built documents per (feed, view, package, form, base URL), valid while the inputs' fingerprint
    (package revision, upstream answers, behaviour, caller's save right) is unchanged. Working out the
    fingerprint costs one point read, so a warm GET never rebuilds.

    At most ``max_entries`` pages and ``max_bytes`` bytes (bodies and gzipped copies) are kept; the
    least recently used go first. A page larger than the whole budget is served but not kept.
    """

    def __init__(self, max_bytes: int, max_entries: int = 2000) -> None:
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._data: OrderedDict[Key, tuple[str, BuiltPage]] = OrderedDict()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Key, generation: str) -> BuiltPage | None:
        hit = self._data.get(key)
        if hit is None or hit[0] != generation:
            return None
        self._data.move_to_end(key)
        return hit[1]

    def put(self, key: Key, generation: str, body: bytes, notes: dict[str, str]) -> BuiltPage:
        keep = len(body) <= self._max_bytes
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'  # noqa: S324 - a validator
        built = BuiltPage(body, etag, notes, on_gzip=functools.partial(self._grown, key) if keep else None)
        old = self._data.pop(key, None)
        if old is not None:
            self.size_bytes -= old[1].size
        if keep:
            self._data[key] = (generation, built)
            self.size_bytes += built.size
            self._evict()
        return built

    def _grown(self, key: Key, built: BuiltPage, grown: int) -> None:
        """A page made its gzipped copy: count it while the page is still kept."""
        hit = self._data.get(key)
        if hit is not None and hit[1] is built:
            self.size_bytes += grown
            self._evict()

    def _evict(self) -> None:
        while self._data and (self.size_bytes > self._max_bytes or len(self._data) > self._max_entries):
            _, (_, page) = self._data.popitem(last=False)
            self.size_bytes -= page.size
