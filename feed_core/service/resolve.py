"""Resolving a package for one caller through one view: held versions, then upstreams, in order.

Two steps, so a warm request stays cheap: ``look_up`` gathers the small inputs (the package's
revision, each upstream's cached answer, the upstream behaviour) and a fingerprint of them;
protocol adapters cache what they build under that fingerprint, and only on a miss call
``resolve``, which reads every version and applies the domain rules.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from feed_core.domain import cargo_versions, semver
from feed_core.domain.access import caller_role
from feed_core.domain.errors import NotFoundError, UpstreamError, UpstreamUnusableError
from feed_core.domain.models import Caller, Feed, PackageMeta, PackageVersion, View
from feed_core.domain.release_age import UNKNOWN_TIME, effective_time, normalized_time, parse_time
from feed_core.domain.roles import Role
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.upstream_rules import (
    Behaviour,
    HeldVersion,
    Merge,
    OfferedVersion,
    Origin,
    UpstreamOffer,
    is_exempt,
    may_ask_external,
    merge_tags,
    merge_versions,
    origin_of,
)
from feed_core.domain.version_order import ascending
from feed_core.domain.visibility import versions_in_view
from feed_core.service.cache import LoadingCache
from feed_core.service.packages import PackageService
from feed_core.service.upstream import (
    SourceOffer,
    UpstreamService,
    enabled_sources,
    is_internal,
    source_hop,
    unavailable,
)
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
    detailed: bool = False  # the caller administers the feed: upstream failures come with their causes
    kept_private: bool = False  # the external upstreams were not asked: the name is private here

    @property
    def exists(self) -> bool:
        return self.meta is not None or any(o.package for o in self.offers)

    @property
    def upstream_errors(self) -> list[str]:
        """Which upstreams could not be asked: by name only, except to feed administrators, who get
        the causes (addresses, status codes), as in the health view."""
        if self.detailed:
            return [f"{unavailable(o.source)}: {o.error}" for o in self.offers if o.error]
        return [unavailable(o.source) for o in self.offers if o.error]

    @property
    def not_asked(self) -> list[UpstreamSource]:
        """Enabled upstreams that were not asked about the name: the external ones, while it is private here."""
        if not self.view.is_local:
            return []
        asked = {id(o.source) for o in self.offers}
        return [s for s in enabled_sources(self.feed, self.protocol) if id(s) not in asked]

    def unreachable(self) -> UpstreamError:
        """The 502 for a package this feed does not hold when no upstream could be asked (a 424, which
        clients do not retry, when every failure is one retrying cannot fix)."""
        errors = "; ".join(self.upstream_errors)
        permanent = all(o.permanent for o in self.offers if o.error)
        error = UpstreamUnusableError if permanent else UpstreamError
        return error(f"{self.name} is not in feed {self.feed.name} and no upstream could be asked: {errors}")

    def require_exists(self, missing: str) -> None:
        """Raise 502 (nothing here, upstreams failing) or 404 with ``missing`` when nothing has the package."""
        if not self.exists:
            if self.upstream_errors:
                raise self.unreachable()
            raise NotFoundError(missing)


@dataclass(frozen=True)
class Withheld:
    """An upstream version the feed does not offer, and why: ``blocked`` by the package's upstream behaviour, or
    held back by the minimum release age (``too_new``; ``age_unknown`` when the upstream's time is unusable)."""

    version: str
    source: str
    kind: Literal["blocked", "too_new", "age_unknown"]
    reason: str
    #: When a held-back version ages into the feed (``None``: blocked, or its age is unknown).
    available: datetime | None = None


@dataclass
class Resolution:
    lookup: Lookup
    meta: PackageMeta
    held: dict[str, PackageVersion]  # live versions in the view
    upstream: dict[str, tuple[UpstreamSource, UpstreamVersion]]  # versions that upstreams win
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
                f"external versions: PATCH {upstreaming_path(feed.name, self.lookup.protocol, name)}"
            )
        if number in self.merge.age_unknown:
            return f"{name}@{number} is held back by the feed's minimum release age: {UNKNOWN_TIME}"
        if number in self.merge.held_back:
            return (
                f"{name}@{number} was published upstream too recently, as far as the feed can tell, and is held "
                "back by the feed's minimum release age"
            )
        if number in self.upstream and not self.lookup.can_save:
            source = self.upstream[number][0]
            return (
                f"{name}@{number} is available from upstream {source.name} but is not saved in feed "
                f"{feed.name} yet; a collaborator (Feed and Upstream Reader) or higher must install it first"
            )
        refused = next((o for o in self.lookup.offers if o.package is not None and number in o.package.refused), None)
        if refused is not None and refused.package is not None:
            return (
                f"{name}@{number[:100]} is not offered: upstream {refused.source.name!r} lists it, but its "
                f"entry was refused ({refused.package.refused[number]})"
            )
        where = f"{feed.name}@{self.lookup.view.name}"
        errors = self.lookup.upstream_errors
        suffix = f" (upstreams that could not be asked: {'; '.join(errors)})" if errors else ""
        if self.lookup.kept_private:
            suffix += (
                f"; its public and custom upstreams were not asked, as {name} is private here: a feed owner can "
                f"allow external versions: PATCH {upstreaming_path(feed.name, self.lookup.protocol, name)}"
            )
        return f"{name}@{number} does not exist in {where} or its upstream sources{suffix}"

    def explain_empty(self, otherwise: str) -> str:
        """Why the caller sees no version at all: the first hidden one explains it, else ``otherwise``."""
        hidden = [*self.upstream, *self.merge.blocked, *self.merge.held_back]
        return self.explain_missing(hidden[0]) if hidden else otherwise

    @cached_property
    def unsaved_notice(self) -> str | None:
        """For a caller who may not save (a reader): which upstream versions the feed has not saved yet and who
        can save them, for clients that print a server's notice (npm). ``None`` for callers who can save, and
        when nothing was held back; worked out from this resolution only, with every part bounded."""
        if self.lookup.can_save or not self.upstream:
            return None
        numbers = ascending(self.lookup.protocol, list(self.upstream))
        shown = ", ".join(n[:40] for n in reversed(numbers[-3:])) + (", ..." if len(numbers) > 3 else "")
        sources = list(dict.fromkeys(source.name[:60] for source, _ in self.upstream.values()))
        where = f"upstream {sources[0]}" if len(sources) == 1 else "upstreams " + ", ".join(sources[:3])
        where += ", ..." if len(sources) > 3 else ""
        name, feed = self.lookup.name[:100], self.lookup.feed.name[:100]
        if len(numbers) == 1:
            what, them = f"1 version of {name} ({shown}) is", "it"
        else:
            what, them = f"{len(numbers)} versions of {name} (newest: {shown}) are", "them"
        return (
            f"{what} available from {where} but not saved in feed {feed}; "
            f"a collaborator (Feed and Upstream Reader) or higher must install {them} first"
        )

    def withheld(self) -> list[Withheld]:
        """Every upstream version this resolution keeps from its callers, newest first, with the reason in words
        and, for a version held back by the minimum release age, when it ages in. Worked out from the merge the
        domain rules made, not decided again."""
        feed = self.lookup.feed
        exempt = is_exempt(self.lookup.name, feed.minimum_release_age_exemptions)
        unknown = set(self.merge.age_unknown)
        out: list[Withheld] = []
        for number in self.merge.blocked:
            offer = self._first_offer(number)
            reason = self.merge.decision.reason if self.merge.decision else "external versions are blocked"
            out.append(Withheld(number, offer.source.name if offer else "", "blocked", reason))
        for number in self.merge.held_back:
            offer = self._first_offer(number)
            hours = feed.minimum_release_age_hours
            if offer is not None and offer.source.minimum_release_age_hours is not None:
                hours = offer.source.minimum_release_age_hours
            uv = offer.package.versions[number] if offer and offer.package else None
            published = effective_time(uv.published, offer.floors.get(number)) if offer and uv else None
            available = _aged_in(published, hours) if not exempt else None
            source = offer.source.name if offer else ""
            if number in unknown:
                out.append(Withheld(number, source, "age_unknown", UNKNOWN_TIME, available))
            else:
                shown = f"{hours:g}" if hours is not None else "?"
                reason = f"published upstream less than the feed's minimum release age ({shown} hours) ago"
                out.append(Withheld(number, source, "too_new", reason, available))
        order = {n: i for i, n in enumerate(ascending(self.lookup.protocol, [w.version for w in out]))}
        return sorted(out, key=lambda w: -order[w.version])

    def _first_offer(self, number: str) -> SourceOffer | None:
        """The first upstream, in search order, that lists ``number``."""
        return next((o for o in self.lookup.offers if o.package is not None and number in o.package.versions), None)

    @property
    def notes(self) -> dict[str, str]:
        """Response headers that say why versions are missing from a listing."""
        headers = {}
        if self.merge.blocked:
            headers["X-Feed-Blocked-Versions"] = f"{len(self.merge.blocked)} by upstream behaviour"
        if self.merge.held_back:
            unknown = len(self.merge.age_unknown)
            detail = f" ({unknown} without a usable upstream publish time)" if unknown else ""
            headers["X-Feed-Held-Versions"] = f"{len(self.merge.held_back)} by minimum release age{detail}"
        visible = set(self.visible_numbers)
        hidden = [n for n in self.upstream if n not in visible]
        if hidden:
            headers["X-Feed-Unsaved-Versions"] = f"{len(hidden)} not yet saved from upstream (needs a collaborator)"
        if self.lookup.upstream_errors:
            headers["X-Feed-Upstream-Errors"] = str(len(self.lookup.upstream_errors))
        return headers


def _aged_in(published: datetime | None, hours: float | None) -> datetime | None:
    """When a version published at ``published`` is ``hours`` old; ``None`` when unknown or no delay applies, or
    past the last date there is (an upstream may claim a publish time late in year 9999)."""
    if published is None or not hours:
        return None
    try:
        return published + timedelta(hours=hours)
    except OverflowError:
        return None


def upstreaming_path(feed_name: str, protocol: str, name: str) -> str:
    """Where a package's upstream behaviour is set (Maven names a coordinate by group and artifact)."""
    base = f".../_apis/packaging/feeds/{feed_name}/{protocol}"
    if protocol == "maven":
        group_id, _, artifact_id = name.rpartition(":")
        return f"{base}/groups/{group_id}/artifacts/{artifact_id}/upstreaming"
    return f"{base}/packages/{name}/upstreaming"


def _policy_key(feed: Feed) -> str:
    """What a built listing depends on in the feed's settings (sources, release age), for the page cache key.

    The stored document's etag changes with every write of the feed, so it stands for all of them without
    hashing the typed sources on each request; a feed not read from storage (no etag) is hashed."""
    if feed.etag:
        return f"etag:{feed.etag}"
    policy = (feed.minimum_release_age_hours, feed.minimum_release_age_exemptions, feed.upstream_sources)
    return hashlib.sha1(repr(policy).encode()).hexdigest()  # noqa: S324 - a cache key


def transient_version(protocol: str, name: str, source: UpstreamSource, uv: UpstreamVersion) -> PackageVersion:
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
        published=normalized_time(uv.published) or "",
        publisher="",
        deprecated=deprecated if isinstance(deprecated, str) and deprecated else None,
        unlisted=(normalized_time(uv.published) or "unlisted") if _unlisted_upstream(uv) else None,
        source_chain=[source_hop(source), *uv.source_chain],
        files=[
            {
                "filename": f.filename,
                "sha256": f.sha256,
                "size": f.size,
                "requires_python": f.requires_python,
                "metadata_sha256": f.metadata_sha256,
                "uploaded": normalized_time(f.uploaded),
                **{algo: digest for algo, digest in (("sha1", f.sha1), ("md5", f.md5), ("sha512", f.sha512)) if digest},
                **({"yanked": f.yanked} if f.yanked is not None else {}),
            }
            for f in uv.files
        ],
    )


def _unlisted_upstream(uv: UpstreamVersion) -> bool:
    """Whether the upstream hides this version from listings: NuGet's ``listed: false``, a yanked Cargo version."""
    return uv.manifest.get("listed") is False or uv.manifest.get("yanked") is True


#: Resolutions a worker keeps (a few MB at most: they share their versions with the read and upstream caches).
_RESOLUTIONS_KEPT = 512


class Resolver:
    def __init__(
        self, packages: PackageService, upstreams: UpstreamService, state: UpstreamStateStore, cache_seconds: float
    ) -> None:
        self._packages = packages
        self._upstreams = upstreams
        self._state = state
        self._behaviours: LoadingCache[tuple[str, str, str], Behaviour] = LoadingCache(cache_seconds)
        self._resolved: OrderedDict[tuple[str, ...], Resolution] = OrderedDict()

    async def behaviour(self, feed: Feed, protocol: str, name: str) -> Behaviour:
        return await self._behaviours.get(
            (feed.id, protocol, name), lambda: self._state.get_behaviour(feed.id, protocol, name)
        )

    async def set_behaviour(self, feed: Feed, protocol: str, name: str, behaviour: Behaviour) -> None:
        await self._state.set_behaviour(feed.id, protocol, name, behaviour)
        self._behaviours.drop((feed.id, protocol, name))
        if behaviour is Behaviour.ALLOW_EXTERNAL:
            await self._upstreams.forget_missing(feed, protocol, name)

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
        offers, behaviour = (
            await self.upstream_offers(feed, protocol, name, meta, want_version=want_version)
            if view.is_local
            else ([], Behaviour.AUTO)
        )
        kept_private = len(offers) < len(enabled_sources(feed, protocol)) if view.is_local else False
        role = caller_role(feed, caller)
        can_save = role >= Role.COLLABORATOR
        parts = [
            str(meta.rev if meta else 0),
            behaviour.value,
            "save" if can_save else "read",
            *(o.fingerprint for o in offers),
        ]
        if offers:
            parts.append(_policy_key(feed))
            if feed.minimum_release_age_hours or any(o.source.minimum_release_age_hours for o in offers):
                # Versions age into view: let a built listing live at most a minute.
                parts.append(str(int(now.timestamp() // 60)))
        detailed = role >= Role.ADMINISTRATOR
        return Lookup(
            feed, view, protocol, name, meta, offers, behaviour, can_save, "|".join(parts), detailed, kept_private
        )

    async def upstream_offers(
        self, feed: Feed, protocol: str, name: str, meta: PackageMeta | None, *, want_version: str | None = None
    ) -> tuple[list[SourceOffer], Behaviour]:
        """What each enabled upstream offers, in search order, and the package's upstream behaviour.

        Private names stay private: internal upstreams (feeds of this service) are asked first, and
        the external ones only when ``may_ask_external`` allows it for what the feed holds (known from
        the meta row, with no read of the versions) and what the internal ones offer.
        """
        sources = enabled_sources(feed, protocol)
        if not sources:
            return [], Behaviour.AUTO
        internal = [s for s in sources if is_internal(s)]
        external = [s for s in sources if not is_internal(s)]
        answers = await self._upstreams.offers(feed, internal, protocol, name, want_version=want_version)
        allowed, behaviour = (
            await self._external_allowed(feed, protocol, name, meta, answers) if external else (False, None)
        )
        if allowed:
            answers += await self._upstreams.offers(feed, external, protocol, name, want_version=want_version)
        position = {id(s): i for i, s in enumerate(sources)}
        answers.sort(key=lambda o: position[id(o.source)])
        return answers, behaviour or await self.behaviour(feed, protocol, name)

    async def may_ask_external(self, feed: Feed, protocol: str, name: str) -> bool:
        """Whether this name may be sent to the feed's external upstreams now (for the refresh job)."""
        internal = [s for s in enabled_sources(feed, protocol) if is_internal(s)]
        answers = await self._upstreams.offers(feed, internal, protocol, name)
        meta = await self._packages.meta(feed, protocol, name)
        return (await self._external_allowed(feed, protocol, name, meta, answers))[0]

    async def find_offer(
        self, feed: Feed, protocol: str, name: str, version: str
    ) -> tuple[UpstreamSource, UpstreamVersion] | None:
        """The first enabled upstream that offers this exact version (refreshing on a miss)."""
        meta = await self._packages.meta(feed, protocol, name)
        offers, _ = await self.upstream_offers(feed, protocol, name, meta, want_version=version)
        for offer in offers:
            if offer.package is not None and version in offer.package.versions:
                return offer.source, offer.package.versions[version]
        return None

    async def _external_allowed(
        self, feed: Feed, protocol: str, name: str, meta: PackageMeta | None, internal: list[SourceOffer]
    ) -> tuple[bool, Behaviour | None]:
        """``may_ask_external`` for this name, and its behaviour when it had to be read (only names
        that look private need it)."""
        held = await self._held_origins(feed, protocol, name, meta)
        offered = [
            _offered_origin(source_hop(o.source), uv)
            for o in internal
            if o.package
            for uv in o.package.versions.values()
        ]
        if may_ask_external(Behaviour.AUTO, held, offered):
            return True, None
        behaviour = await self.behaviour(feed, protocol, name)
        return may_ask_external(behaviour, held, offered), behaviour

    async def _held_origins(self, feed: Feed, protocol: str, name: str, meta: PackageMeta | None) -> list[Origin]:
        if meta is None:
            return []
        if meta.origins is not None:
            return list(meta.origins)
        _, versions = await self._packages.package(feed, protocol, name)  # a row from before origins
        return [origin_of(v.source_chain) for v in versions]

    async def resolve(self, lookup: Lookup, now: datetime) -> Resolution:
        """Apply search order, upstream behaviour and release age. ``NotFoundError`` when nothing has
        the package; ``UpstreamError`` (502) when nothing here has it and every upstream failed.

        The last resolutions are kept per worker under the lookup's fingerprint, which changes with everything
        they depend on (as a built listing is kept): a client's tarball request after its packument request
        then costs no second pass over every version."""
        key = (lookup.feed.id, lookup.view.id, lookup.protocol, lookup.name, lookup.fingerprint)
        kept = self._resolved.get(key)
        if kept is not None:
            self._resolved.move_to_end(key)
            return replace(kept, lookup=lookup)  # this caller's lookup: it says how much errors may tell
        resolution = await self._resolve(lookup, now)
        self._resolved[key] = resolution
        while len(self._resolved) > _RESOLUTIONS_KEPT:
            self._resolved.popitem(last=False)
        return resolution

    async def _resolve(self, lookup: Lookup, now: datetime) -> Resolution:
        feed, name = lookup.feed, lookup.name
        meta, versions = await self._packages.package(feed, lookup.protocol, name)
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
            sid = o.source.id
            hop = source_hop(o.source)
            upstream_versions[sid] = o.package.versions
            offered = [
                OfferedVersion(
                    uv.version,
                    _offered_origin(hop, uv),
                    effective_time(uv.published, o.floors.get(uv.version)),
                    parse_time(uv.published) is None,
                )
                for uv in o.package.versions.values()
            ]
            offers.append(UpstreamOffer(sid, offered, o.package.dist_tags, o.source.minimum_release_age_hours))
        merge = merge_versions(
            held=held,
            feed_tags=meta.dist_tags if meta else {},
            offers=offers,
            behaviour=lookup.behaviour,
            now=now,
            minimum_release_age_hours=feed.minimum_release_age_hours,
            age_exempt=is_exempt(name, feed.minimum_release_age_exemptions),
            same_version=cargo_versions.without_build if lookup.protocol == "cargo" else None,
        )
        sources = {o.source.id: o.source for o in lookup.offers}
        upstream = {
            number: (sources[sid], upstream_versions[sid][number]) for number, sid in merge.from_upstream.items()
        }
        synth = meta or PackageMeta(lookup.protocol, name, {}, 0, "", "")
        if not synth.modified:  # a copy: the meta row read is shared with other requests
            modified = max((o.package.modified for o in lookup.offers if o.package), default="")
            synth = replace(synth, modified=modified, created=modified)
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
