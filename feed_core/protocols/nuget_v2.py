"""The NuGet v2 (OData) subset at ``…/_packaging/{feed}[@{view}]/nuget/v2``: what PowerShellGet v2 and
``nuget list`` (through the v3 index's ``LegacyGallery``) use.

- ``GET v2`` (and ``v2/``): the service document; ``$metadata``: the EDMX.
- ``FindPackagesById()?id='X'``: every version the caller may see, through the resolver (upstream versions
  too, as the v3 registrations show them), unlisted ones marked with a 1900 ``Published``; an unknown id is
  an empty feed, not a 404 (PowerShellGet probes a source with one).
- ``Packages(Id='X',Version='1.0.0')``: one entry; ``Packages()`` and ``Search()``: the listed versions the feed
  holds in the view (never an upstream version not saved yet, as v3 search), with ``$filter``
  (``IsLatestVersion``, ``IsAbsoluteLatestVersion``, ``Id eq 'x'``, ``substringof('x',Tags)``, joined by
  ``and``), ``$skip``/``$top``, ``$inlinecount=allpages`` and a ``next`` link while more remain; always in id
  then version order (``$orderby`` is not applied).
- ``package/{id}/{version}``: the .nupkg, by the v3 download path (so a collaborator's download saves an
  upstream version).
- Push (PUT at ``v2/`` or ``v2/package``), unlist (DELETE) and relist (POST) at ``v2[/package]/{id}/{version}``,
  by :mod:`feed_core.protocols.nuget_publish`.

SemVer 2.0.0 versions are shown only to queries with ``semVerLevel=2.0.0`` (or higher).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.responses import Response

from feed_core.domain.errors import BadRequestError, MethodNotAllowedError, NotFoundError
from feed_core.domain.models import PackageVersion
from feed_core.protocols import nuget_publish
from feed_core.protocols import nuget_v2_wire as v2wire
from feed_core.protocols import nuget_wire as wire
from feed_core.protocols.nuget_context import (
    PROTOCOL,
    Ctx,
    asks_semver2,
    look_up,
    package_name,
    version_number,
    visible_versions,
)

Download = Callable[[Ctx, str, str], Awaitable[Response]]
#: Most entries in one answer; a client asking more gets a ``next`` link to the rest.
PAGE_MAX = 100
QUERY_MAX = 256
_ONE = re.compile(r"Packages\(Id='(?P<id>[^']*)',Version='(?P<version>[^']*)'\)", re.IGNORECASE)
_ID_EQ = re.compile(r"(?:tolower\(\s*Id\s*\)|Id)\s+eq\s+'(?P<id>(?:[^']|'')*)'", re.IGNORECASE)
_TAG = re.compile(
    r"substringof\(\s*'(?P<tag>(?:[^']|'')*)'\s*,\s*(?:tolower\(\s*Tags\s*\)|Tags)\s*\)(?:\s+eq\s+true)?",
    re.IGNORECASE,
)
_LATEST = re.compile(r"(?P<flag>IsLatestVersion|IsAbsoluteLatestVersion)(?:\s+eq\s+true)?", re.IGNORECASE)


async def handle(ctx: Ctx, segs: list[str], download: Download) -> Response:
    """The answer for ``nuget/v2/{segs}``."""
    method = ctx.request.method
    at_root = segs in ([], [""])
    head, rest = (segs[0], segs[1:]) if segs else ("", [])
    if method == "PUT" and (at_root or (head == "package" and rest in ([], [""]))):
        return await nuget_publish.handle(ctx, False, [])  # nuget push: to the source URL, PowerShellGet: package/
    if method in ("DELETE", "POST"):
        target = rest if head == "package" and len(rest) == 2 else segs
        if len(target) == 2:
            return await nuget_publish.handle(ctx, False, target)
    if method not in ("GET", "HEAD"):
        raise MethodNotAllowedError(f"{method} is not supported on nuget/v2/{'/'.join(segs)[:200]}")
    v2 = ctx.urls.v2
    if at_root:
        return Response(v2wire.service_document(v2), media_type=v2wire.XML)
    if segs == ["$metadata"]:
        return Response(v2wire.METADATA, media_type=v2wire.XML)
    if head == "package" and len(rest) == 2:
        return await download(ctx, package_name(rest[0]), version_number(rest[1]))
    if len(segs) == 1:
        if head == "FindPackagesById()":
            return await _find_by_id(ctx)
        if head in ("Search()", "Packages()", "Packages"):
            return await _query(ctx, head.rstrip("()"))
        if one := _ONE.fullmatch(head):
            return await _one(ctx, one.group("id"), one.group("version"))
    raise NotFoundError(f"no such NuGet v2 resource: nuget/v2/{'/'.join(segs)[:200]}")


# --- query parameters --------------------------------------------------------------------------------------


def _param(ctx: Ctx, key: str) -> str:
    return ctx.request.query_params.get(key, "")[:QUERY_MAX].strip()


def odata_string(literal: str) -> str:
    """``'Name'`` is ``Name`` (an OData string literal, with ``''`` for a quote inside); bare text is itself."""
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        return literal[1:-1].replace("''", "'")
    return literal


def _semver2(ctx: Ctx) -> bool:
    return asks_semver2(_param(ctx, "semVerLevel"))


def _window(ctx: Ctx) -> tuple[int, int | None]:
    """``$skip`` and ``$top`` (``None``: everything, a page at a time)."""
    try:
        skip = int(_param(ctx, "$skip") or 0)
        top = int(_param(ctx, "$top")) if _param(ctx, "$top") else None
    except ValueError:
        raise BadRequestError("$skip and $top must be whole numbers") from None
    if skip < 0 or (top is not None and top < 0):
        raise BadRequestError("$skip and $top must not be negative")
    return skip, top


@dataclass(frozen=True)
class Filter:
    """The ``$filter`` terms served, all of which must hold."""

    latest: str | None = None  # "IsLatestVersion" or "IsAbsoluteLatestVersion"
    ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Filter:
        latest, ids, tags = None, [], []
        for term in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
            term = term.strip()
            while term.startswith("(") and term.endswith(")"):
                term = term[1:-1].strip()
            if m := _LATEST.fullmatch(term):
                latest = "IsAbsoluteLatestVersion" if m.group("flag").lower().startswith("isabs") else "IsLatestVersion"
            elif m := _ID_EQ.fullmatch(term):
                ids.append(m.group("id").replace("''", "'").lower())
            elif m := _TAG.fullmatch(term):
                tags.append(m.group("tag").replace("''", "'").lower())
            else:
                raise BadRequestError(
                    f"unsupported $filter term {term[:100]!r}: this feed serves IsLatestVersion, "
                    "IsAbsoluteLatestVersion, Id eq '…' and substringof('…',Tags), joined by 'and'"
                )
        return cls(latest, tuple(ids), tuple(tags))

    def admits(self, v: PackageVersion, latest: v2wire.Latest) -> bool:
        if self.latest == "IsLatestVersion" and v.version != latest.stable:
            return False
        if self.latest == "IsAbsoluteLatestVersion" and v.version != latest.absolute:
            return False
        if self.ids and v.name not in self.ids:
            return False
        if self.tags:
            tags = v.manifest.get("tags")
            text = " ".join(t for t in tags if isinstance(t, str)).lower() if isinstance(tags, list) else ""
            return all(tag in text for tag in self.tags)
        return True


# --- answers -------------------------------------------------------------------------------------------------

Row = tuple[PackageVersion, str, v2wire.Latest]


def _feed(ctx: Ctx, title: str, rows: list[Row]) -> Response:
    """A page of ``rows`` by ``$skip``/``$top`` (at most ``PAGE_MAX``), with a ``next`` link while more remain."""
    skip, top = _window(ctx)
    take = min(max(len(rows) - skip, 0) if top is None else top, PAGE_MAX)
    page = rows[skip : skip + take]
    following = None
    if take and skip + len(page) < len(rows):
        params = dict(ctx.request.query_params) | {"$skip": str(skip + len(page))}
        if top is not None:
            params["$top"] = str(top - take if top > take else top)
        following = f"{ctx.urls.v2}/{title}()?" + urlencode(params, quote_via=quote, safe="$'(),")
    count = len(rows) if _param(ctx, "$inlinecount").lower() == "allpages" else None
    return Response(v2wire.feed(ctx.urls.v2, title, page, following, count), media_type=v2wire.ATOM)


def _shown(ctx: Ctx, versions: list[PackageVersion]) -> list[PackageVersion]:
    """``versions`` without SemVer 2.0.0 ones unless the query asks for them."""
    return versions if _semver2(ctx) else [v for v in versions if not wire.is_semver2(v)]


async def _find_by_id(ctx: Ctx) -> Response:
    raw = odata_string(_param(ctx, "id"))
    if not raw:
        raise BadRequestError("FindPackagesById() needs the id: FindPackagesById()?id='Package.Id'")
    name = package_name(raw)
    try:
        _, every = await visible_versions(ctx, await look_up(ctx, name))
    except NotFoundError:
        every = []  # an unknown id is an empty feed: clients probe a source with one
    versions = _shown(ctx, every)
    latest, shown_id = v2wire.Latest.of(versions), wire.display_id(name, every)
    flt = Filter.parse(_param(ctx, "$filter"))
    return _feed(ctx, "FindPackagesById", [(v, shown_id, latest) for v in versions if flt.admits(v, latest)])


async def _one(ctx: Ctx, raw_id: str, raw_version: str) -> Response:
    name, number = package_name(raw_id), version_number(raw_version)
    _, every = await visible_versions(ctx, await look_up(ctx, name, number))
    found = next((v for v in every if v.version == number), None)
    if found is None:
        raise NotFoundError(f"{name} {number} does not exist in {ctx.where}")
    return Response(
        v2wire.entry_document(found, wire.display_id(name, every), v2wire.Latest.of(_shown(ctx, every)), ctx.urls.v2),
        media_type=v2wire.ATOM_ENTRY,
    )


async def _query(ctx: Ctx, title: str) -> Response:
    """``Search()`` (``searchTerm``, ``includePrerelease``) and ``Packages()``: listed versions the feed holds."""
    search = title == "Search"
    flt = Filter.parse(_param(ctx, "$filter"))
    text = odata_string(_param(ctx, "searchTerm")) if search else ""
    prerelease = _param(ctx, "includePrerelease").lower() == "true" if search else True
    entries = await ctx.services.packages.search(ctx.feed, PROTOCOL, text)
    rows: list[Row] = []
    for name in sorted(e.name for e in entries if not flt.ids or e.name in flt.ids):
        pkg = await ctx.services.packages.read(ctx.feed, ctx.view, PROTOCOL, name)
        every = wire.sort_versions(v for v in pkg.versions if v.deleted is None) if pkg is not None else []
        versions = _shown(ctx, every)
        latest, shown_id = v2wire.Latest.of(versions), wire.display_id(name, every)
        for v in versions:
            if wire.is_listed(v) and (prerelease or not wire.is_prerelease(v)) and flt.admits(v, latest):
                rows.append((v, shown_id, latest))
    return _feed(ctx, title, rows)
