"""The feed page's search, filters, sorting and paging as a pure function on index rows."""

from __future__ import annotations

from feed_core.domain.package_listing import UNKNOWN_ORIGIN, ListedPackage, Listing, ListQuery, listed, select

RELEASE = "view-release"


def pkg(
    name: str,
    protocol: str = "npm",
    *,
    latest: str = "1.0.0",
    desc: str = "",
    modified: str = "2026-01-01T00:00:00Z",
    origins: dict[str, str] | None = None,
    views: dict[str, tuple[str, str]] | None = None,
    origin: str | None = "local",
) -> ListedPackage:
    if origin is None:  # a row written before origins and views were recorded
        return listed(protocol, name, latest, desc, [], modified)
    return listed(protocol, name, latest, desc, ["kw"], modified, origin, origins or {origin: ""}, views or {})


LISTING = Listing.of(
    [
        pkg("zeta", modified="2026-01-05T00:00:00Z", desc="last letter"),
        pkg("Alpha", "nuget", modified="2026-01-03T00:00:00Z", desc="first letter"),
        pkg(
            "beta",
            latest="3.0.0",
            modified="2026-01-04T00:00:00Z",
            origin="src-1",
            origins={"src-1": "up", "local": ""},
            views={RELEASE: ("2.0.0", "local")},
        ),
        pkg("alphabet", "pypi", modified="2026-01-01T00:00:00Z"),
        pkg("old-row", origin=None, modified="2026-01-02T00:00:00Z"),
    ]
)


def names(query: ListQuery) -> list[str]:
    return [r.package.name for r in select(LISTING, query).rows]


def test_defaults_sort_by_name_case_insensitively_and_show_every_live_latest() -> None:
    page = select(LISTING, ListQuery())
    assert [r.package.name for r in page.rows] == ["Alpha", "alphabet", "beta", "old-row", "zeta"]
    assert (page.total, page.page, page.pages) == (5, 1, 1)
    beta = page.rows[2]
    assert (beta.version, beta.origin) == ("3.0.0", "src-1")
    assert page.rows[3].origin == UNKNOWN_ORIGIN


def test_search_matches_name_prefix_substring_and_description_every_word() -> None:
    assert names(ListQuery(text="ALPHA")) == ["Alpha", "alphabet"]
    assert names(ListQuery(text="bet")) == ["alphabet", "beta"]
    assert names(ListQuery(text="letter")) == ["Alpha", "zeta"]
    assert names(ListQuery(text="first letter")) == ["Alpha"]
    assert names(ListQuery(text="kw")) == ["Alpha", "alphabet", "beta", "zeta"]  # keywords too
    assert names(ListQuery(text="nothing")) == []
    # best match first: the exact name, names starting with it, names containing it, then descriptions
    assert names(ListQuery(text="bet", sort="relevance")) == ["beta", "alphabet"]
    assert names(ListQuery(text="alpha", sort="relevance")) == ["Alpha", "alphabet"]
    assert names(ListQuery(sort="relevance")) == names(ListQuery())


def test_filters_by_protocol_source_and_view() -> None:
    assert names(ListQuery(protocol="pypi")) == ["alphabet"]
    assert names(ListQuery(source="src-1")) == ["beta"]
    assert names(ListQuery(source="local")) == ["Alpha", "alphabet", "beta", "zeta"]  # not the unknown row
    rows = select(LISTING, ListQuery(view_id=RELEASE)).rows
    assert [(r.package.name, r.version, r.origin) for r in rows] == [("beta", "2.0.0", "local")]
    assert names(ListQuery(view_id="other")) == []
    assert names(ListQuery(view_id=RELEASE, protocol="nuget")) == []


def test_sorts_both_ways() -> None:
    assert names(ListQuery(sort="-name")) == ["zeta", "old-row", "beta", "alphabet", "Alpha"]
    assert names(ListQuery(sort="-modified")) == ["zeta", "beta", "Alpha", "old-row", "alphabet"]
    assert names(ListQuery(sort="modified")) == ["alphabet", "old-row", "Alpha", "beta", "zeta"]


def test_pages_clamp_to_the_last_and_count_everything_matching() -> None:
    many = Listing.of([pkg(f"p{i:03d}") for i in range(120)])
    third = select(many, ListQuery(page=3))
    assert [r.package.name for r in third.rows] == [f"p{i:03d}" for i in range(100, 120)]
    assert (third.total, third.page, third.pages) == (120, 3, 3)
    assert select(many, ListQuery(page=50)).page == 3
    assert select(many, ListQuery(page=0)).page == 1
    small = select(many, ListQuery(per_page=7, page=2, text="p00"))
    assert [r.package.name for r in small.rows] == ["p007", "p008", "p009"] and small.pages == 2
    empty = select(many, ListQuery(text="zzz"))
    assert (empty.rows, empty.total, empty.page, empty.pages) == ([], 0, 1, 1)


def test_a_listing_takes_one_package_changed_without_being_sorted_again() -> None:
    changed = LISTING.with_package("npm", "beta", pkg("beta", latest="4.0.0", modified="2026-02-01T00:00:00Z"))
    assert [p.name for p in changed.by_name] == ["Alpha", "alphabet", "beta", "old-row", "zeta"]
    assert [p.name for p in changed.by_modified] == ["alphabet", "old-row", "Alpha", "zeta", "beta"]
    assert changed.by_name[2].latest == "4.0.0"
    added = changed.with_package("cargo", "beta", pkg("beta", "cargo"))
    assert [(p.name, p.protocol) for p in added.by_name][2:4] == [("beta", "cargo"), ("beta", "npm")]
    removed = added.with_package("npm", "zeta", None).with_package("npm", "no-such", None)
    assert [p.name for p in removed.by_name] == ["Alpha", "alphabet", "beta", "beta", "old-row"]
    assert [p.name for p in removed.by_modified] == ["alphabet", "beta", "old-row", "Alpha", "beta"]
    assert LISTING.with_package("npm", "beta", None).with_package("npm", "beta", LISTING.by_name[2]) == LISTING
