"""A feed's packages as a listing: search, filters, sorting and paging over the index rows, in memory.

Pure functions on plain data (no I/O): the listing service loads and caches the rows, the feed page prints a
:class:`ListPage`. Rows written before the index recorded views and origins (``views``/``origins`` ``None``)
show their ``latest`` with an unknown origin, and match no view or source filter: what they hold is not known.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

#: How a listing is ordered: by name, or by last modification; ``relevance`` (name matches first) with a search.
Sort = Literal["name", "-name", "-modified", "modified", "relevance"]
SORTS: tuple[Sort, ...] = get_args(Sort)
PER_PAGE = 50
#: Where a version came from, when the index does not say (a row written before it recorded origins).
UNKNOWN_ORIGIN = ""


@dataclass(frozen=True)
class ListedPackage:
    """One package of a feed, as its index row tells (see ``feed_core.storage.packages.IndexEntry``)."""

    protocol: str
    name: str
    latest: str
    description: str
    keywords: tuple[str, ...]
    modified: str
    origin: str | None
    origins: Mapping[str, str] | None
    views: Mapping[str, tuple[str, str]] | None
    #: Lower-cased, for searching: the name; the description and keywords.
    folded_name: str
    folded_text: str

    def in_view(self, view_id: str | None) -> tuple[str, str] | None:
        """(version, origin) of the latest version the view shows (``None``: every live version); ``None``
        when the view holds none of it (or the row does not say)."""
        if view_id is None:
            return self.latest, self.origin or UNKNOWN_ORIGIN
        return None if self.views is None else self.views.get(view_id)


def listed(
    protocol: str,
    name: str,
    latest: str,
    description: str,
    keywords: Sequence[str],
    modified: str,
    origin: str | None = None,
    origins: Mapping[str, str] | None = None,
    views: Mapping[str, tuple[str, str]] | None = None,
) -> ListedPackage:
    return ListedPackage(
        protocol,
        name,
        latest,
        description,
        tuple(keywords),
        modified,
        origin,
        origins,
        views,
        name.lower(),
        " ".join([description, *keywords]).lower(),
    )


@dataclass(frozen=True)
class ListQuery:
    text: str = ""
    protocol: str | None = None
    #: ``local`` (published to this feed) or an upstream source's id: packages with a live version from it.
    source: str | None = None
    #: A release view's id: packages with a version in it, each shown with its latest there. ``None``: all.
    view_id: str | None = None
    sort: Sort = "name"
    page: int = 1
    per_page: int = PER_PAGE


@dataclass(frozen=True)
class ListRow:
    package: ListedPackage
    version: str
    origin: str  # "local", an upstream source id, or UNKNOWN_ORIGIN


@dataclass(frozen=True)
class ListPage:
    rows: list[ListRow]
    total: int  # packages matching, on every page
    page: int  # the page shown (the last one when a later one was asked for)
    pages: int  # at least 1, even when nothing matches


def _by_name(p: ListedPackage) -> tuple[str, str, str]:
    return (p.folded_name, p.name, p.protocol)


def _by_modified(p: ListedPackage) -> tuple[str, str, str, str]:
    return (p.modified, p.folded_name, p.name, p.protocol)


@dataclass(frozen=True)
class Listing:
    """A feed's packages, ordered once by name and once by modification time, ready to be filtered."""

    by_name: tuple[ListedPackage, ...]
    by_modified: tuple[ListedPackage, ...]

    @classmethod
    def of(cls, packages: Sequence[ListedPackage]) -> Listing:
        return cls(tuple(sorted(packages, key=_by_name)), tuple(sorted(packages, key=_by_modified)))

    def __len__(self) -> int:
        return len(self.by_name)

    def with_package(self, protocol: str, name: str, package: ListedPackage | None) -> Listing:
        """This listing with the package ``protocol``/``name`` replaced by ``package`` (removed: ``None``)."""
        by_name, by_modified = list(self.by_name), list(self.by_modified)
        at = bisect.bisect_left(by_name, (name.lower(), name, protocol), key=_by_name)
        if at < len(by_name) and by_name[at].name == name and by_name[at].protocol == protocol:
            old = by_name.pop(at)
            del by_modified[bisect.bisect_left(by_modified, _by_modified(old), key=_by_modified)]
        if package is not None:
            bisect.insort(by_name, package, key=_by_name)
            bisect.insort(by_modified, package, key=_by_modified)
        return Listing(tuple(by_name), tuple(by_modified))


def _rank(package: ListedPackage, text: str) -> int:
    """How well the name matches a search: exact, prefix, substring, then the description only."""
    name = package.folded_name
    if name == text:
        return 0
    if name.startswith(text) or name.rsplit("/", 1)[-1].startswith(text) or name.split(":")[-1].startswith(text):
        return 1
    return 2 if text in name else 3


def select(listing: Listing, query: ListQuery) -> ListPage:
    """The page of packages ``query`` asks for: those whose name, description or keywords contain every word of
    its text (case-insensitive), of its protocol, with a live version from its source and in its view."""
    words = query.text.lower().split()
    view_id = query.view_id
    matched: Sequence[ListedPackage] = (
        listing.by_modified if query.sort in ("modified", "-modified") else listing.by_name
    )
    if words or query.protocol is not None or query.source is not None or view_id is not None:
        matched = [
            p
            for p in matched
            if (query.protocol is None or p.protocol == query.protocol)
            and (query.source is None or (p.origins is not None and query.source in p.origins))
            and (view_id is None or (p.views is not None and view_id in p.views))
            and all(w in p.folded_name or w in p.folded_text for w in words)
        ]
    if query.sort in ("-name", "-modified"):
        matched = matched[::-1]
    elif query.sort == "relevance" and words:
        matched = sorted(matched, key=lambda p: _rank(p, words[0]))  # stable: by name within a rank
    per_page = max(1, query.per_page)
    pages = max(1, math.ceil(len(matched) / per_page))
    page = min(max(1, query.page), pages)
    start = (page - 1) * per_page
    rows = []
    for p in matched[start : start + per_page]:
        shown = p.in_view(view_id)
        assert shown is not None  # filtered above
        rows.append(ListRow(p, *shown))
    return ListPage(rows, len(matched), page, pages)
