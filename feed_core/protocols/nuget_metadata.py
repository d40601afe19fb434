"""NuGet v3 metadata: registrations (index, pages, leaves), catalog entries, search and autocomplete.

Registrations and catalog entries show every version the caller may see, listed or not, through the
resolver (so upstream versions too). Search and autocomplete show what the feed holds in the view (never
an upstream version not saved yet, as on Azure Artifacts), and never an unlisted version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from feed_core.domain.errors import BadRequestError, NotFoundError
from feed_core.domain.models import PackageVersion
from feed_core.protocols import nuget_wire as wire
from feed_core.protocols.http import json_response
from feed_core.protocols.nuget_context import PROTOCOL, Ctx, asks_semver2, document, package_name, version_number

SEARCH_TAKE_DEFAULT = 20
SEARCH_TAKE_MAX = 1000
QUERY_MAX = 256


async def handle(ctx: Ctx, head: str, rest: list[str]) -> Response | None:
    """The answer for ``nuget/v3/{head}/{rest}``, or ``None`` when that is not a metadata resource."""
    if head in wire.HIVES and len(rest) >= 2:
        return await _registration(ctx, head, package_name(rest[0]), rest[1:])
    if head == "catalog" and len(rest) == 2 and rest[1].endswith(".json"):
        name, number = package_name(rest[0]), version_number(rest[1].removesuffix(".json"))
        return await document(ctx, name, f"catalog:{number}", _catalog_builder(ctx, name, number))
    if head == "query" and not rest:
        return await _search(ctx)
    if head == "autocomplete" and not rest:
        return await _autocomplete(ctx)
    return None


# --- registrations ----------------------------------------------------------------------------------------


async def _registration(ctx: Ctx, hive: str, name: str, rest: list[str]) -> Response:
    urls = ctx.template

    def in_hive(versions: list[PackageVersion]) -> list[PackageVersion]:
        shown = wire.in_hive(versions, hive)
        if not shown:
            raise NotFoundError(
                f"package {name} has only SemVer 2.0.0 versions in {ctx.where}: ask the RegistrationsBaseUrl/3.6.0 "
                "resource of the service index"
            )
        return shown

    if rest == ["index.json"]:
        return await document(
            ctx, name, f"{hive}:index", lambda versions: wire.registration_index(name, in_hive(versions), urls, hive)
        )
    if len(rest) == 3 and rest[0] == "page" and rest[2].endswith(".json"):
        bounds = (version_number(rest[1]), version_number(rest[2].removesuffix(".json")))

        def page(versions: list[PackageVersion]) -> dict[str, Any]:
            shown = in_hive(versions)
            for one in wire.pages_of(shown):
                if wire.page_bounds(one) == bounds:
                    return wire.registration_page(name, one, urls, hive, wire.display_id(name, versions), inline=True)
            raise NotFoundError(f"no registration page {bounds[0]} to {bounds[1]} of {name}: read the index again")

        return await document(ctx, name, f"{hive}:page:{bounds[0]}:{bounds[1]}", page)
    if len(rest) == 1 and rest[0].endswith(".json"):
        number = version_number(rest[0].removesuffix(".json"))

        def leaf(versions: list[PackageVersion]) -> dict[str, Any]:
            return wire.leaf_document(_one(ctx, name, number, in_hive(versions)), urls, hive)

        return await document(ctx, name, f"{hive}:leaf:{number}", leaf)
    raise NotFoundError(f"no such registration resource: {'/'.join(rest)[:200]}")


def _catalog_builder(ctx: Ctx, name: str, number: str) -> Callable[[list[PackageVersion]], dict[str, Any]]:
    def build(versions: list[PackageVersion]) -> dict[str, Any]:
        v = _one(ctx, name, number, versions)
        return wire.catalog_entry(v, ctx.template, wire.SEMVER2_HIVE, wire.display_id(name, versions))

    return build


def _one(ctx: Ctx, name: str, number: str, versions: list[PackageVersion]) -> PackageVersion:
    found = next((v for v in versions if v.version == number), None)
    if found is None:
        raise NotFoundError(f"{name} {number} does not exist in {ctx.where}")
    return found


# --- search -----------------------------------------------------------------------------------------------


def _flag(ctx: Ctx, key: str) -> bool:
    return ctx.request.query_params.get(key, "").strip().lower() == "true"


def _semver2(ctx: Ctx) -> bool:
    """``semVerLevel=2.0.0`` (or any level from 2 on) includes SemVer 2.0.0 versions; anything else excludes them."""
    return asks_semver2(ctx.request.query_params.get("semVerLevel", ""))


def _window(ctx: Ctx) -> tuple[int, int]:
    q = ctx.request.query_params
    try:
        skip = int(q.get("skip") or 0)
        take = int(q.get("take") or SEARCH_TAKE_DEFAULT)
    except ValueError:
        raise BadRequestError("skip and take must be whole numbers") from None
    if skip < 0 or take < 0:
        raise BadRequestError("skip and take must not be negative")
    return skip, min(take, SEARCH_TAKE_MAX)


def _admits(ctx: Ctx) -> Callable[[PackageVersion], bool]:
    """Which listed versions a query shows: prereleases and SemVer 2.0.0 only when asked, and of the package
    type asked for, if any (``Dependency`` for packages that name none)."""
    prerelease, semver2 = _flag(ctx, "prerelease"), _semver2(ctx)
    kind = ctx.request.query_params.get("packageType", "").strip().lower()

    def admits(v: PackageVersion) -> bool:
        if not wire.is_listed(v) or (not prerelease and wire.is_prerelease(v)):
            return False
        if not semver2 and wire.is_semver2(v):
            return False
        return not kind or kind in (t.lower() for t in wire.package_types(v))

    return admits


async def _held(ctx: Ctx, name: str) -> list[PackageVersion]:
    """The versions the feed holds of ``name`` in the view, ascending (none when it holds none)."""
    pkg = await ctx.services.packages.read(ctx.feed, ctx.view, PROTOCOL, name)
    return wire.sort_versions(pkg.versions) if pkg is not None else []


def _terms(text: str) -> tuple[str, str | None, str | None]:
    """Free text, and the ``packageid:`` (exact id) and ``id:`` (part of the id) filters of a query."""
    free, exact, partial = [], None, None
    for term in text.split():
        key, sep, value = term.partition(":")
        if sep and key.lower() == "packageid" and value:
            exact = value.lower()
        elif sep and key.lower() == "id" and value:
            partial = value.lower()
        else:
            free.append(term)
    return " ".join(free), exact, partial


async def _search(ctx: Ctx) -> Response:
    skip, take = _window(ctx)
    text, exact, partial = _terms(ctx.request.query_params.get("q", "")[:QUERY_MAX])
    entries = await ctx.services.packages.search(ctx.feed, PROTOCOL, text)
    names = sorted(e.name for e in entries)
    if exact is not None:
        names = [n for n in names if n == exact]
    if partial is not None:
        names = [n for n in names if partial in n]
    admits = _admits(ctx)
    hive = wire.SEMVER2_HIVE if _semver2(ctx) else wire.SEMVER1_HIVE
    hits: list[tuple[str, list[PackageVersion], list[PackageVersion]]] = []
    for name in names:
        every = await _held(ctx, name)
        shown = [v for v in every if admits(v)]
        if shown:
            hits.append((name, shown, every))
    data = [wire.search_result(name, shown, every, ctx.urls, hive) for name, shown, every in hits[skip : skip + take]]
    return json_response({"totalHits": len(hits), "data": data})


async def _autocomplete(ctx: Ctx) -> Response:
    """``?id=`` lists the versions of one id; otherwise ``?q=`` lists ids that contain it."""
    skip, take = _window(ctx)
    admits = _admits(ctx)
    wanted = ctx.request.query_params.get("id")
    if wanted is not None:
        versions = await _held(ctx, package_name(wanted)) if wanted.strip() else []
        numbers = [wire.nuget_version(v).full for v in versions if admits(v)]
        return json_response({"totalHits": len(numbers), "data": numbers})
    text = ctx.request.query_params.get("q", "")[:QUERY_MAX].strip().lower()
    entries = await ctx.services.packages.search(ctx.feed, PROTOCOL, "")
    ids = []
    for name in sorted(e.name for e in entries if text in e.name):
        every = await _held(ctx, name)
        if any(admits(v) for v in every):
            ids.append(wire.display_id(name, every))
    return json_response({"totalHits": len(ids), "data": ids[skip : skip + take]})
