"""Resolving a package for one caller through one view: held versions, then upstreams, in order.

Two steps, so a warm request stays cheap: ``look_up`` gathers the small inputs (the package's
revision, each upstream's cached answer, the upstream behaviour) and a fingerprint of them;
protocol adapters cache what they build under that fingerprint, and only on a miss call
``resolve``, which reads every version and applies the domain rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from feed_core.domain import semver
from feed_core.domain.access import caller_role
from feed_core.domain.clock import parse_iso
from feed_core.domain.errors import NotFoundError, UpstreamError
from feed_core.domain.models import Caller, Feed, PackageMeta, PackageVersion, View
from feed_core.domain.roles import Role
from feed_core.domain.upstream_rules import (
    Behaviour,
    HeldVersion,
    Merge,
    OfferedVersion,
    Origin,
    UpstreamOffer,
    is_exempt,
    merge_tags,
    merge_versions,
    origin_of,
)
from feed_core.domain.visibility import versions_in_view
from feed_core.service.cache import TtlCache
from feed_core.service.packages import PackageService
from feed_core.service.upstream import SourceOffer, UpstreamService, source_hop
from feed_core.storage.upstream_state import UpstreamStateStore
from feed_core.upstreams.models import UpstreamVersion


@dataclass
class Lookup:
    feed: Feed
    view: View
    protocol: str
    name: str
    meta: PackageMeta | None
    offers: list[SourceOffer]
    behaviour: Behaviour
    can_save: bool
    fingerprint: str

    @property
    def exists(self) -> bool:
        return self.meta is not None or any(o.package for o in self.offers)

    @property
    def upstream_errors(self) -> list[str]:
        return [f"{o.source.get('name')}: {o.error}" for o in self.offers if o.error]

    def unreachable(self) -> UpstreamError:
        """The 502 for a package this feed does not hold when no upstream could be asked."""
        errors = "; ".join(self.upstream_errors)
        return UpstreamError(f"{self.name} is not in feed {self.feed.name} and no upstream could be asked: {errors}")

    def require_exists(self, missing: str) -> None:
        """Raise 502 (nothing here, upstreams failing) or 404 with ``missing`` when nothing has the package."""
        if not self.exists:
            if self.upstream_errors:
                raise self.unreachable()
            raise NotFoundError(missing)


@dataclass
class Resolution:
    lookup: Lookup
    meta: PackageMeta
    held: dict[str, PackageVersion]  # live versions in the view
    upstream: dict[str, tuple[Mapping[str, Any], UpstreamVersion]]  # versions that upstreams win
    merge: Merge
    feed_tags: dict[str, str]
    upstream_tags: list[dict[str, str]] = field(default_factory=list)

    @cached_property
    def visible_numbers(self) -> list[str]:
        """What the caller may list and fetch (ascending): readers see only what the feed holds."""
        if self.lookup.can_save:
            return self.merge.versions
        return semver.sort_versions(list(self.held))

    @cached_property
    def dist_tags(self) -> dict[str, str]:
        if self.lookup.can_save:
            return self.merge.dist_tags
        return merge_tags(self.feed_tags, self.upstream_tags, self.visible_numbers)

    def versions(self) -> list[PackageVersion]:
        """Visible versions as records; upstream ones are transient (not stored)."""
        out = []
        for number in self.visible_numbers:
            if number in self.held:
                out.append(self.held[number])
            else:
                source, uv = self.upstream[number]
                out.append(transient_version(self.lookup.protocol, self.lookup.name, source, uv))
        return out

    def explain_missing(self, number: str) -> str:
        """Why a version the caller asked for is not offered."""
        feed, name = self.lookup.feed, self.lookup.name
        if number in self.merge.reserved:
            return f"{name}@{number} was deleted from feed {feed.name}; its number stays reserved and is not re-saved"
        if number in self.merge.blocked:
            reason = self.merge.decision.reason if self.merge.decision else ""
            return (
                f"{name}@{number} is hidden by the upstream behaviour of {name} ({reason}); a feed owner can allow "
                f"external versions: PATCH .../_apis/packaging/feeds/{feed.name}/npm/packages/{name}/upstreaming"
            )
        if number in self.merge.held_back:
            return (
                f"{name}@{number} was published upstream too recently and is held back by the feed's minimum "
                "release age"
            )
        if number in self.upstream and not self.lookup.can_save:
            source = self.upstream[number][0]
            return (
                f"{name}@{number} is available from upstream {source.get('name')} but is not saved in feed "
                f"{feed.name} yet; a collaborator (Feed and Upstream Reader) or higher must install it first"
            )
        where = f"{feed.name}@{self.lookup.view.name}"
        errors = self.lookup.upstream_errors
        suffix = f" (upstreams that could not be asked: {'; '.join(errors)})" if errors else ""
        return f"{name}@{number} does not exist in {where} or its upstream sources{suffix}"

    def explain_empty(self, otherwise: str) -> str:
        """Why the caller sees no version at all: the first hidden one explains it, else ``otherwise``."""
        hidden = [*self.upstream, *self.merge.blocked, *self.merge.held_back]
        return self.explain_missing(hidden[0]) if hidden else otherwise

    @property
    def notes(self) -> dict[str, str]:
        """Response headers that say why versions are missing from a listing."""
        headers = {}
        if self.merge.blocked:
            headers["X-Feed-Blocked-Versions"] = f"{len(self.merge.blocked)} by upstream behaviour"
        if self.merge.held_back:
            headers["X-Feed-Held-Versions"] = f"{len(self.merge.held_back)} by minimum release age"
        visible = set(self.visible_numbers)
        hidden = [n for n in self.upstream if n not in visible]
        if hidden:
            headers["X-Feed-Unsaved-Versions"] = f"{len(hidden)} not yet saved from upstream (needs a collaborator)"
        if self.lookup.upstream_errors:
            headers["X-Feed-Upstream-Errors"] = str(len(self.lookup.upstream_errors))
        return headers


def transient_version(protocol: str, name: str, source: Mapping[str, Any], uv: UpstreamVersion) -> PackageVersion:
    deprecated = uv.manifest.get("deprecated")
    return PackageVersion(
        protocol=protocol,
        name=name,
        version=uv.version,
        manifest=uv.manifest,
        filename=uv.filename,
        sha256=uv.sha256,
        sha512_integrity=uv.integrity,
        sha1=uv.sha1,
        size=uv.size,
        published=uv.published or "",
        publisher="",
        deprecated=deprecated if isinstance(deprecated, str) and deprecated else None,
        source_chain=[source_hop(source), *uv.source_chain],
        files=[
            {
                "filename": f.filename,
                "sha256": f.sha256,
                "size": f.size,
                "requires_python": f.requires_python,
                "metadata_sha256": f.metadata_sha256,
                "uploaded": f.uploaded,
                **({"yanked": f.yanked} if f.yanked is not None else {}),
            }
            for f in uv.files
        ],
    )


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


class Resolver:
    def __init__(
        self, packages: PackageService, upstreams: UpstreamService, state: UpstreamStateStore, cache_seconds: float
    ) -> None:
        self._packages = packages
        self._upstreams = upstreams
        self._state = state
        self._behaviours: TtlCache[tuple[str, str, str], Behaviour] = TtlCache(cache_seconds)

    async def behaviour(self, feed: Feed, protocol: str, name: str) -> Behaviour:
        key = (feed.id, protocol, name)
        cached = self._behaviours.get(key)
        if cached is None:
            cached = await self._state.get_behaviour(feed.id, protocol, name)
            self._behaviours.put(key, cached)
        return cached

    async def set_behaviour(self, feed: Feed, protocol: str, name: str, behaviour: Behaviour) -> None:
        await self._state.set_behaviour(feed.id, protocol, name, behaviour)
        self._behaviours.drop((feed.id, protocol, name))

    async def look_up(
        self,
        feed: Feed,
        view: View,
        caller: Caller,
        protocol: str,
        name: str,
        *,
        now: datetime,
        want_version: str | None = None,
    ) -> Lookup:
        meta = await self._packages.meta(feed, protocol, name)
        # Upstream versions appear in the @Local view only; other views show what was promoted.
        offers = await self._upstreams.offers(feed, protocol, name, want_version=want_version) if view.is_local else []
        behaviour = await self.behaviour(feed, protocol, name) if offers else Behaviour.AUTO
        can_save = caller_role(feed, caller) >= Role.COLLABORATOR
        parts = [
            str(meta.rev if meta else 0),
            behaviour.value,
            "save" if can_save else "read",
            *(o.fingerprint for o in offers),
        ]
        if offers:
            policy = (feed.minimum_release_age_hours, feed.minimum_release_age_exemptions, feed.upstream_sources)
            parts.append(hashlib.sha1(repr(policy).encode()).hexdigest())  # noqa: S324 - a cache key
            if feed.minimum_release_age_hours or any(o.source.get("minimumReleaseAgeHours") for o in offers):
                # Versions age into view: let a built listing live at most a minute.
                parts.append(str(int(now.timestamp() // 60)))
        return Lookup(feed, view, protocol, name, meta, offers, behaviour, can_save, "|".join(parts))

    async def resolve(self, lookup: Lookup, now: datetime) -> Resolution:
        """Apply search order, upstream behaviour and release age. ``NotFoundError`` when nothing has
        the package; ``UpstreamError`` (502) when nothing here has it and every upstream failed."""
        feed, name = lookup.feed, lookup.name
        meta, versions = await self._packages.store.get_package(feed.id, lookup.protocol, name)
        in_view = {v.version: v for v in versions_in_view(versions, lookup.view)}
        if not in_view and not any(o.package for o in lookup.offers):
            if lookup.offers and all(o.error for o in lookup.offers):
                raise lookup.unreachable()
            raise NotFoundError(f"package {name} does not exist in {feed.name}@{lookup.view.name} or its upstreams")
        held = [HeldVersion(v.version, origin_of(v.source_chain), v.deleted is not None) for v in versions]
        if not lookup.view.is_local:
            held = [h for h in held if h.deleted or h.version in in_view]
        offers = []
        upstream_versions: dict[str, dict[str, UpstreamVersion]] = {}
        for o in lookup.offers:
            if o.package is None:
                continue
            sid = str(o.source.get("id"))
            hop = source_hop(o.source)
            upstream_versions[sid] = o.package.versions
            offered = [
                OfferedVersion(uv.version, _offered_origin(hop, uv), _parse_time(uv.published))
                for uv in o.package.versions.values()
            ]
            hours = o.source.get("minimumReleaseAgeHours")
            offers.append(
                UpstreamOffer(
                    sid, offered, o.package.dist_tags, float(hours) if isinstance(hours, int | float) else None
                )
            )
        merge = merge_versions(
            held=held,
            feed_tags=meta.dist_tags if meta else {},
            offers=offers,
            behaviour=lookup.behaviour,
            now=now,
            minimum_release_age_hours=feed.minimum_release_age_hours,
            age_exempt=is_exempt(name, feed.minimum_release_age_exemptions),
        )
        sources = {str(o.source.get("id")): o.source for o in lookup.offers}
        upstream = {
            number: (sources[sid], upstream_versions[sid][number]) for number, sid in merge.from_upstream.items()
        }
        synth = meta or PackageMeta(lookup.protocol, name, {}, 0, "", "")
        if not synth.modified:
            synth.modified = max((o.package.modified for o in lookup.offers if o.package), default="")
            synth.created = synth.modified
        return Resolution(
            lookup=lookup,
            meta=synth,
            held=in_view,
            upstream=upstream,
            merge=merge,
            feed_tags=meta.dist_tags if meta else {},
            upstream_tags=[o.dist_tags for o in offers],
        )


def _offered_origin(hop: Mapping[str, Any], uv: UpstreamVersion) -> Origin:
    """Public sources offer external versions; a feed upstream relays its versions' own origin."""
    return origin_of([dict(hop), *uv.source_chain])
