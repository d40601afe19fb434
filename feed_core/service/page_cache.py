"""A per-worker cache of built documents (npm packuments, Python simple pages), bounded in entries and bytes."""

from __future__ import annotations

import functools
import gzip
import hashlib
import secrets
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


#: Stands for the scheme://host a request reached the feed at in a built page; each response gets its own
#: (random per process, so no package text can spell it).
BASE_URL = f"http://feed-base-{secrets.token_hex(12)}.invalid"
_BASE_BYTES = BASE_URL.encode()


@dataclass
class _Entry:
    generation: str
    template: BuiltPage  # built with ``BASE_URL`` where the request's base goes
    base: str = ""
    rendered: BuiltPage | None = None  # the template for ``base`` (the last base asked for)

    @property
    def size(self) -> int:
        extra = self.rendered.size if self.rendered is not None and self.rendered is not self.template else 0
        return self.template.size + extra


class PageCache:
    """Built documents per (feed, view, package, form), valid while the inputs' fingerprint (package
    revision, upstream answers, behaviour, caller's save right) is unchanged. Working out the
    fingerprint costs one point read, so a warm GET never rebuilds.

    A page is built once whatever ``Host`` it is asked through: it is kept with ``BASE_URL`` standing
    for the base URL, which a response gets by one byte replacement (the last base is kept rendered).

    At most ``max_entries`` pages and ``max_bytes`` bytes (bodies and gzipped copies) are kept; the
    least recently used go first. A page larger than the whole budget is served but not kept.
    """

    def __init__(self, max_bytes: int, max_entries: int = 2000) -> None:
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._data: OrderedDict[Key, _Entry] = OrderedDict()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Key, generation: str, base: str = "") -> BuiltPage | None:
        """The page for ``base`` (``BASE_URL`` in it replaced), or ``None`` when it must be built."""
        hit = self._data.get(key)
        if hit is None or hit.generation != generation:
            return None
        self._data.move_to_end(key)
        if hit.rendered is None or hit.base != base:
            self.size_bytes -= hit.size
            hit.base, hit.rendered = base, self._render(key, hit.template, base)
            self.size_bytes += hit.size
            self._evict()
        return hit.rendered

    def put(self, key: Key, generation: str, body: bytes, notes: dict[str, str], base: str = "") -> BuiltPage:
        """Keep a page built with ``BASE_URL`` for the base URL; return it rendered for ``base``."""
        keep = len(body) <= self._max_bytes
        built = BuiltPage(body, _etag(body), notes, on_gzip=functools.partial(self._grown, key) if keep else None)
        old = self._data.pop(key, None)
        if old is not None:
            self.size_bytes -= old.size
        if not keep:
            return self._render(None, built, base)
        entry = _Entry(generation, built)
        self._data[key] = entry
        self.size_bytes += entry.size
        self._evict()
        return self.get(key, generation, base) or self._render(None, built, base)

    def _render(self, key: Key | None, template: BuiltPage, base: str) -> BuiltPage:
        if _BASE_BYTES not in template.body:
            return template
        body = template.body.replace(_BASE_BYTES, base.encode())
        etag = template.etag[:-1] + "-" + hashlib.sha1(base.encode()).hexdigest()[:12] + '"'  # noqa: S324 - a validator
        grown = functools.partial(self._grown, key) if key is not None else None
        return BuiltPage(body, etag, template.notes, on_gzip=grown)

    def _grown(self, key: Key, built: BuiltPage, grown: int) -> None:
        """A page made its gzipped copy: count it while the page is still kept."""
        hit = self._data.get(key)
        if hit is not None and (hit.template is built or hit.rendered is built):
            self.size_bytes += grown
            self._evict()

    def _evict(self) -> None:
        while self._data and (self.size_bytes > self._max_bytes or len(self._data) > self._max_entries):
            _, entry = self._data.popitem(last=False)
            self.size_bytes -= entry.size


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest() + '"'  # noqa: S324 - a validator
