"""A feed's packages as a listing: search, filters, sorting and paging over the index rows, in memory.

Pure functions on plain data (no I/O): the listing service loads and caches the rows, the feed page prints a
:class:`ListPage`. Rows written before the index recorded views and origins (``views``/``origins`` ``None``)
show their ``latest`` with an unknown origin, and match no view or source filter: what they hold is not known.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Listing:
    """A feed's packages, ordered once by name and once by modification time, ready to be filtered."""

    by_name: tuple[ListedPackage, ...]
    by_modified: tuple[ListedPackage, ...]

    @classmethod
    def of(cls, packages: Sequence[ListedPackage]) -> Listing:
        by_name = tuple(sorted(packages, key=lambda p: (p.folded_name, p.name, p.protocol)))
        return cls(by_name, tuple(sorted(by_name, key=lambda p: p.modified)))  # stable: ties stay by name

    def __len__(self) -> int:
        return len(self.by_name)


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
    ordered = listing.by_modified if query.sort in ("modified", "-modified") else listing.by_name
    rows: list[ListRow] = []
    for p in ordered:
        if query.protocol is not None and p.protocol != query.protocol:
            continue
        if query.source is not None and (p.origins is None or query.source not in p.origins):
            continue
        if words and not all(w in p.folded_name or w in p.folded_text for w in words):
            continue
        shown = p.in_view(query.view_id)
        if shown is None:
            continue
        rows.append(ListRow(p, shown[0], shown[1]))
    if query.sort in ("-name", "-modified"):
        rows.reverse()
    elif query.sort == "relevance" and words:
        rows.sort(key=lambda r: _rank(r.package, words[0]))  # stable: by name within a rank
    per_page = max(1, query.per_page)
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(1, query.page), pages)
    start = (page - 1) * per_page
    return ListPage(rows[start : start + per_page], len(rows), page, pages)
