"""Cargo's Web API beyond reads: publish (``PUT /api/v1/crates/new``), yank and unyank, owners and search.

The body of a publish is framed and checked by ``domain/cargo_publish`` (metadata, the ``.crate`` against it); the
rules that need the feed are here: the contributor role, one spelling per name, versions unique ignoring build
metadata (deleted numbers stay reserved), and no version an upstream already offers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from typing import Any

from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.cargo_names import canonical_name
from feed_core.domain.cargo_publish import CratePublish, read_publish
from feed_core.domain.cargo_versions import version_key, without_build
from feed_core.domain.errors import BadRequestError, ConflictError
from feed_core.domain.models import PackageVersion
from feed_core.domain.roles import Role
from feed_core.protocols.cargo_context import PROTOCOL, Ctx, held_spelling, held_twin
from feed_core.protocols.http import json_response, read_body
from feed_core.service.packages import NewVersion
from feed_core.service.upstream import enabled_sources

log = logging.getLogger("feed_core.cargo")
PUBLISHED: dict[str, Any] = {"warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}}
MAX_QUERY = 256
MAX_PER_PAGE = 100


def _through_feed(ctx: Ctx, action: str) -> None:
    if not ctx.view.is_local:
        raise BadRequestError(
            f"crates are {action} through the feed, not through the view @{ctx.view.name}: use the registry whose "
            "index URL has no @view"
        )


# --- publish ---------------------------------------------------------------------------------------------------


async def publish(ctx: Ctx) -> Response:
    # Role and view first: say so before reading up to the upload limit.
    require_role(ctx.feed, ctx.caller, Role.CONTRIBUTOR, "publishing crates")
    _through_feed(ctx, "published")
    body = await read_body(ctx.request, ctx.services.settings.max_upload_bytes)
    try:
        crate, digests = await asyncio.to_thread(_read_and_hash, body, _own_index_urls(ctx))
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    key = crate.name.lower()
    versions = await _check_name(ctx, crate.name, key)
    holder = await ctx.services.packages.claim_name(ctx.feed, ctx.caller, PROTOCOL, canonical_name(key), key)
    if holder != key:  # a twin spelling published meanwhile (or one the checks above could not see)
        spelling = await held_spelling(ctx.services, ctx.feed, holder)
        raise ConflictError(
            f"crate {crate.name} is the same name to cargo as crate {spelling}, which feed {ctx.feed.name} holds "
            f"(names differ only in case or in '-' against '_'): publish it as {spelling}"
        )
    _check_build_twins(ctx, crate, versions)
    await _check_upstream_twins(ctx, crate, key)
    live = [v.version for v in versions if v.deleted is None]
    newest = all(version_key(crate.version) >= version_key(n) for n in live)
    await ctx.services.packages.publish(
        ctx.feed,
        ctx.view,
        ctx.caller,
        NewVersion(
            PROTOCOL,
            key,
            crate.version,
            crate.manifest,
            crate.crate,
            f"{crate.name}-{crate.version}.crate",
            *digests,
            {"latest": crate.version} if newest else {},
            same_version=without_build,
        ),
    )
    log.info("published crate %s@%s to %s by %s", crate.name, crate.version, ctx.feed.scope_label, ctx.caller.user)
    return json_response(PUBLISHED)


def _read_and_hash(body: bytes, own_index_urls: list[str]) -> tuple[CratePublish, tuple[str, str, str]]:
    """The publish read and checked, and the crate's sha-256 (hex), sha-512 (SRI) and sha-1 (hex): CPU-bound work
    on up to the upload limit, run off the event loop."""
    crate = read_publish(body, own_index_urls=own_index_urls)
    data = crate.crate
    return crate, (
        hashlib.sha256(data).hexdigest(),
        "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
        hashlib.sha1(data).hexdigest(),  # noqa: S324 - a digest some clients ask for, not a check
    )


def _own_index_urls(ctx: Ctx) -> list[str]:
    """This feed's index URL as a dependency's ``registry`` may name it (cargo writes none for the registry it
    publishes to; another view of the feed, or its id, is still this feed). Compared without ``sparse+``, a
    trailing ``/`` or case (``cargo_index.registry_key``)."""
    packaging = ctx.api_url.rsplit("/_packaging/", 1)[0] + "/_packaging/"
    refs = {ctx.feed.name, ctx.feed.id, *(f"{ctx.feed.name}@{v.name}" for v in ctx.feed.views)}
    return [f"{packaging}{ref}/cargo/index/" for ref in sorted(refs)]


async def _check_name(ctx: Ctx, name: str, key: str) -> list[PackageVersion]:
    """One spelling per name: a held ``My-Crate`` takes no ``my-crate`` (same key) nor ``my_crate`` (a twin).
    Returns the versions held under ``key`` (deleted ones included)."""
    services, feed = ctx.services, ctx.feed
    (_, versions), twin = await asyncio.gather(
        services.packages.package(feed, PROTOCOL, key), held_twin(services, feed, key, fresh=True)
    )
    held = twin if twin is not None else (key if versions else None)
    if held is None:
        return list(versions)
    spelling = await held_spelling(services, feed, held)
    if spelling != name:
        raise ConflictError(
            f"crate {name} is the same name to cargo as crate {spelling}, which feed {feed.name} holds (names differ "
            f"only in case or in '-' against '_'): publish it as {spelling}"
        )
    return list(versions)


def _check_build_twins(ctx: Ctx, crate: CratePublish, versions: list[PackageVersion]) -> None:
    """Versions are unique ignoring build metadata: ``1.0.7+x`` after ``1.0.7`` is refused. (The same number is
    refused by the publish itself, which says whether it was deleted.)"""
    core = without_build(crate.version)
    twin = next((v for v in versions if v.version != crate.version and without_build(v.version) == core), None)
    if twin is None:
        return
    if twin.deleted is not None:
        raise ConflictError(
            f"crate {crate.name}@{crate.version} differs only in build metadata from version {twin.version}, which "
            f"was deleted from feed {ctx.feed.name} on {twin.deleted[:10]}; its number stays reserved: publish a new "
            "version"
        )
    raise ConflictError(
        f"crate {crate.name}@{crate.version} already exists in feed {ctx.feed.name} as {twin.version}: versions that "
        "differ only in build metadata are the same version to cargo; publish a new version"
    )


async def _check_upstream_twins(ctx: Ctx, crate: CratePublish, key: str) -> None:
    """A version an upstream offers under another build metadata is refused like the same number (which
    ``PackageService.publish`` refuses)."""
    feed = ctx.feed
    if feed.allow_upstream_name_conflict or not enabled_sources(feed, PROTOCOL):
        return
    meta = await ctx.services.packages.meta(feed, PROTOCOL, key)
    offers, _ = await ctx.services.resolver.upstream_offers(feed, PROTOCOL, key, meta, want_version=crate.version)
    core = without_build(crate.version)
    for offer in offers:
        numbers = offer.package.versions if offer.package is not None else {}
        twin = next((n for n in numbers if n != crate.version and without_build(n) == core), None)
        if twin is not None:
            raise ConflictError(
                f"crate {crate.name}@{crate.version} already exists in the feed's upstream source {offer.source.name} "
                f"as {twin} (the same version to cargo); publish a different version (an owner can set "
                "allowUpstreamNameConflict on the feed to override)"
            )


# --- yank ------------------------------------------------------------------------------------------------------


async def set_yanked(ctx: Ctx, name: str, number: str, *, yanked: bool) -> Response:
    """Yank or unyank a version the feed holds (published here or saved from an upstream): only the index
    line's ``yanked`` changes; a yanked version stays downloadable for lockfiles that name it."""
    require_role(ctx.feed, ctx.caller, Role.CONTRIBUTOR, "yanking crates")
    _through_feed(ctx, "yanked")
    await ctx.services.packages.set_listed(ctx.feed, ctx.caller, PROTOCOL, name.lower(), number, not yanked)
    log.info("%s crate %s@%s in %s by %s", "yanked" if yanked else "unyanked", name, number, ctx.feed.scope_label,
             ctx.caller.user)  # fmt: skip
    return json_response({"ok": True})


# --- owners ----------------------------------------------------------------------------------------------------


async def owners(ctx: Ctx, name: str) -> Response:
    """Crates have no owners of their own here: who may publish and yank follows the feed's roles."""
    scope = ctx.api_url.split("/_packaging/", 1)[0]
    raise BadRequestError(
        f"crate owners are not kept by feed {ctx.feed.name}: who may publish and yank {name} follows the feed's "
        "roles (contributors and owners in its permissions); a feed owner changes them with PATCH "
        f"{scope}/_apis/packaging/Feeds/{ctx.feed.name}/permissions"
    )


# --- search ----------------------------------------------------------------------------------------------------


async def search(ctx: Ctx) -> Response:
    """The feed's own crates (published or saved) that the view shows; upstreams are not searched."""
    q = ctx.request.query_params
    text = q.get("q", "")[:MAX_QUERY]
    try:
        per_page = max(1, min(int(q.get("per_page", "10")), MAX_PER_PAGE))
    except ValueError:
        raise BadRequestError("per_page must be a whole number (1 to 100)") from None
    entries = await ctx.services.packages.search(ctx.feed, PROTOCOL, text)
    entries.sort(key=lambda e: (canonical_name(e.name) != canonical_name(text.strip()), e.name))
    found: list[dict[str, Any]] = []
    total = 0
    for i, entry in enumerate(entries):
        if len(found) >= per_page and ctx.view.is_local:
            total += len(entries) - i  # every crate the package list holds is in @Local: no need to read the rest
            break
        shown = await ctx.services.packages.read(ctx.feed, ctx.view, PROTOCOL, entry.name)
        if shown is None:
            continue
        total += 1
        if len(found) < per_page:
            found.append(_summary(entry.name, shown.versions))
    return json_response({"crates": found, "meta": {"total": total}})


def _summary(key: str, versions: list[PackageVersion]) -> dict[str, Any]:
    """A search hit: the name as published, the highest version not yanked (the highest when all are), and the
    description of that version."""
    live = [v for v in versions if v.unlisted is None] or versions
    best = max(live, key=lambda v: version_key(v.version))
    name = best.manifest.get("name")
    description = best.manifest.get("description")
    return {
        "name": name if isinstance(name, str) and name else key,
        "max_version": best.version,
        "description": description if isinstance(description, str) else None,
    }
