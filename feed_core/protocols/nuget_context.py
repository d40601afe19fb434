"""What every NuGet v3 handler shares: the request's context, ids and versions from URLs, reads of a
package through the resolver, and documents kept in the page cache."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.bounded_json import dumps_sliced
from feed_core.domain.errors import NotFoundError
from feed_core.domain.models import Caller, Feed, PackageVersion, View
from feed_core.domain.nuget_versions import lower_id, parse_version, validate_id
from feed_core.protocols import nuget_wire as wire
from feed_core.protocols.http import base_url
from feed_core.protocols.notices import header_value
from feed_core.protocols.page_cache import respond
from feed_core.service.container import Services
from feed_core.service.resolve import Lookup, Resolution

PROTOCOL = "nuget"
#: The header the NuGet client prints as a warning from any answer: our error messages and notices go there.
WARNING_HEADER = "X-NuGet-Warning"
JSON = "application/json"
_BUILD_IN_THREAD_VERSIONS = 200


@dataclass
class Ctx:
    services: Services
    request: Request
    feed: Feed
    view: View
    caller: Caller
    urls: wire.Urls  # for this request's host
    template: wire.Urls  # with BASE_URL for the host: for documents kept in the page cache

    @property
    def where(self) -> str:
        return f"{self.feed.name}@{self.view.name}"


def package_name(text: str) -> str:
    """An id in a URL, as records key it: lower case (ids are case-insensitive)."""
    return lower_id(validate_id(text))


def version_number(text: str) -> str:
    """A version in a URL, as records key it: normalized, lower case, build metadata dropped."""
    return parse_version(text).lower


def asks_semver2(level: str) -> bool:
    """Whether a ``semVerLevel`` asks for SemVer 2.0.0 versions: a major level of 2 or more in ASCII digits
    (any length: ``int`` refuses some Unicode digits and numbers of thousands of them). Anything else is
    SemVer 1, as the public gallery reads it."""
    major = level.strip().split(".")[0].lstrip("0")
    return major.isascii() and major.isdigit() and (len(major) > 1 or major >= "2")


async def look_up(ctx: Ctx, name: str, want_version: str | None = None) -> Lookup:
    return await ctx.services.resolver.look_up(
        ctx.feed, ctx.view, ctx.caller, PROTOCOL, name, now=ctx.services.clock(), want_version=want_version
    )


async def visible_versions(ctx: Ctx, lookup: Lookup) -> tuple[Resolution, list[PackageVersion]]:
    """Every version the caller may see (listed or not), ascending; a 404 saying why when there is none."""
    lookup.require_exists(f"package {lookup.name} does not exist in {ctx.where}")
    res = await ctx.services.resolver.resolve(lookup, ctx.services.clock())
    versions = wire.sort_versions(res.versions())
    if not versions:
        raise NotFoundError(res.explain_empty(f"package {lookup.name} has no versions in {ctx.where}"))
    return res, versions


def notes(res: Resolution) -> dict[str, str]:
    """The ``X-Feed-*`` counts and, for a reader missing versions only a collaborator can save, the reason in
    ``X-NuGet-Warning``."""
    notice = res.unsaved_notice
    return {**res.notes, WARNING_HEADER: header_value(notice)} if notice else res.notes


async def document(ctx: Ctx, name: str, form: str, build: Callable[[list[PackageVersion]], dict[str, Any]]) -> Response:
    """A document built from every visible version of ``name`` with ``ctx.template``'s URLs, kept in the page
    cache while the resolver's fingerprint holds (one point read on a warm request)."""
    lookup = await look_up(ctx, name)
    base = base_url(ctx.services, ctx.request)
    key = (ctx.feed.id, ctx.view.id, PROTOCOL, name, form, ctx.template.v3)
    built = ctx.services.pages.get(key, lookup.fingerprint, base)
    if built is None:
        res, versions = await visible_versions(ctx, lookup)
        if len(versions) > _BUILD_IN_THREAD_VERSIONS:
            body = await asyncio.to_thread(lambda: dumps_sliced(build(versions)))
        else:
            body = dumps_sliced(build(versions))
        built = ctx.services.pages.put(key, lookup.fingerprint, body, notes(res), base)
    return await respond(ctx.request, built, JSON, {})
