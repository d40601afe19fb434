"""The feed page: the feed's packages of every protocol, searched, filtered, sorted and paged.

It lists what a reader of the feed gets through the protocols: versions published to the feed or saved from
its upstream sources (never an upstream's unsaved versions), deleted ones nowhere. The rows come from the
feed's package index through the listing service (``feed_core.service.package_list``); the query string is
read here into a :class:`ListQuery`, and anything malformed in it is a 400 page.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from feed_core.domain.access import caller_role, require_role
from feed_core.domain.errors import BadRequestError
from feed_core.domain.models import Feed, View
from feed_core.domain.package_listing import SORTS, UNKNOWN_ORIGIN, Listing, ListPage, ListQuery, ListRow, Sort, select
from feed_core.domain.roles import Role
from feed_core.domain.source_models import PROTOCOLS
from feed_core.storage.packages import LOCAL_ORIGIN
from feed_core.ui.package_data import PROTOCOL_LABELS
from feed_core.ui.page import Ui, UiRoute

MAX_PAGE = 100_000
MAX_TEXT = 200
SORT_LABELS = {
    "relevance": "Best match",
    "name": "Name (A to Z)",
    "-name": "Name (Z to A)",
    "-modified": "Last modified (newest first)",
    "modified": "Last modified (oldest first)",
}


@dataclass(frozen=True)
class Filters:
    """The page's query string, checked: what the form shows and the links keep."""

    q: str
    protocol: str
    source: str  # as the user wrote it ("" for any)
    view: View  # the view chosen, else the feed's default view
    chosen_view: bool  # whether the query named a view other than the default (links then keep it)
    sort: Sort | None  # ``None``: the default (by name; the best match first when searching)
    page: int

    def query(self, **changes: str | int | None) -> dict[str, str | int | None]:
        """The query string of this page with ``changes`` (for page and sort links)."""
        params: dict[str, str | int | None] = {
            "q": self.q,
            "protocol": self.protocol,
            "source": self.source,
            "view": self.view.name if self.chosen_view else None,
            "sort": self.sort,
        }
        return {**params, **changes}


@dataclass(frozen=True)
class SourceChoice:
    value: str
    label: str


async def readable_feed(ui: Ui) -> Feed:
    """The feed the page names, when the caller may read it: a 404 page when there is none, a 403 otherwise."""
    feed = await ui.services.feeds.find(ui.org, ui.project, ui.params["feed"])
    require_role(feed, ui.caller, Role.READER, "reading the feed")
    return feed


def default_view(feed: Feed) -> View:
    """The view the page shows unless another is chosen: the feed's default view (its Local view when unset)."""
    return feed.view_by_id(feed.default_view_id) or feed.local_view


def read_filters(ui: Ui, feed: Feed) -> Filters:
    q = " ".join(ui.query("q").split())
    if len(q) > MAX_TEXT:
        raise BadRequestError(f"search for at most {MAX_TEXT} characters")
    protocol = ui.query("protocol").strip().lower()
    if protocol and protocol not in PROTOCOLS:
        raise BadRequestError(f"protocol must be one of {', '.join(PROTOCOLS)}")
    view_ref = ui.query("view").strip()
    view = default_view(feed) if not view_ref else feed.view_named(view_ref)
    if view is None:
        raise BadRequestError(f"feed {feed.name} has no view named {view_ref[:100]!r}")
    sort_text = ui.query("sort").strip()
    sort = next((s for s in SORTS if s == sort_text), None)
    if sort_text and sort is None:
        raise BadRequestError(f"sort must be one of {', '.join(SORTS)}")
    page_text = ui.query("page").strip() or "1"
    if not page_text.isascii() or not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadRequestError(f"page must be a whole number from 1 to {MAX_PAGE}")
    chosen = view.id != default_view(feed).id
    return Filters(q, protocol, ui.query("source").strip(), view, chosen, sort, int(page_text))


def source_key(feed: Feed, listing: Listing, text: str) -> str | None:
    """What the ``source`` filter names: ``local``, or the id of an upstream source (by its name or id; a source
    since removed from the feed by the id its saved versions carry). A 400 for anything else."""
    if not text:
        return None
    if text.lower() in (LOCAL_ORIGIN, "this feed"):
        return LOCAL_ORIGIN
    key = text.lower()
    found = next((s for s in feed.upstream_sources if key in (s.name.lower(), s.id.lower())), None)
    if found is not None:
        return found.id
    if any(p.origins and text in p.origins for p in listing.by_name):
        return text
    raise BadRequestError(f"feed {feed.name} has no upstream source named {text[:100]!r}")


def origin_label(feed: Feed, row: ListRow) -> str:
    """Where the version shown came from, in words."""
    if row.origin == LOCAL_ORIGIN:
        return "this feed"
    if row.origin == UNKNOWN_ORIGIN:
        return "not recorded"
    source = next((s for s in feed.upstream_sources if s.id == row.origin), None)
    if source is not None:
        return source.name
    saved_as = (row.package.origins or {}).get(row.origin)
    return f"{saved_as} (removed source)" if saved_as else "a removed upstream source"


def source_choices(feed: Feed) -> list[SourceChoice]:
    choices = [SourceChoice("", "Any source"), SourceChoice(LOCAL_ORIGIN, "This feed (published here)")]
    for s in feed.upstream_sources:
        choices.append(SourceChoice(s.name, f"{s.name} ({PROTOCOL_LABELS.get(s.protocol, s.protocol)} upstream)"))
    return choices


def unmatched(filters: Filters) -> list[str]:
    """What no package matched, in words (the protocol aside: it names the packages)."""
    why = []
    if filters.q:
        why.append(f"matches the search \u201c{filters.q}\u201d")
    if filters.source.lower() == LOCAL_ORIGIN:
        why.append("was published to this feed")
    elif filters.source:
        why.append(f"came from {filters.source}")
    if not filters.view.is_local:
        why.append(f"has a version in view {filters.view.name}")
    return why


def page_numbers(page: int, pages: int) -> list[int | None]:
    """The pages to link: the first, the last, and two either side of this one; ``None`` for a gap."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


async def _feed_page(ui: Ui) -> Response:
    feed = await readable_feed(ui)
    filters = read_filters(ui, feed)
    listing = await ui.services.package_list.listing(feed)
    sort: Sort = filters.sort or ("relevance" if filters.q else "name")
    view = filters.view
    query = ListQuery(
        text=filters.q,
        protocol=filters.protocol or None,
        source=source_key(feed, listing, filters.source),
        view_id=None if view.is_local else view.id,
        sort=sort,
        page=filters.page,
    )
    found: ListPage = select(listing, query)
    return ui.page(
        "feed.html",
        feed=feed,
        filters=filters,
        sort=sort,
        found=found,
        held=len(listing),
        rows=[(row, origin_label(feed, row)) for row in found.rows],
        numbers=page_numbers(found.page, found.pages),
        labels=PROTOCOL_LABELS,
        protocols=PROTOCOLS,
        sources=source_choices(feed),
        sorts=[(s, SORT_LABELS[s]) for s in SORTS if s != "relevance" or filters.q],
        is_admin=caller_role(feed, ui.caller) >= Role.ADMINISTRATOR,
        filtered=bool(filters.q or filters.protocol or filters.source or filters.chosen_view),
        unmatched=unmatched(filters),
    )


ROUTES = (UiRoute("GET", ("feed", "{feed}"), _feed_page),)
