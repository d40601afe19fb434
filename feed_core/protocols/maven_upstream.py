"""Maven files the feed does not hold, from its upstream sources: which upstream may serve one, saving it, and
the plugin entries upstreams offer for a group.

The same rules as every protocol (``service/resolve.py``): upstreams in search order; external versions of a
coordinate that holds a private version are blocked (and its external upstreams are not even asked); readers get
only what the feed saved; the minimum release age applies. Snapshots never come from upstreams.

The common cold case takes no metadata round trip (``_straight_by_path``): when a collaborator asks for a release
file of a version the feed does not hold, every upstream is an external repository, no release age applies and the
coordinate's external versions are allowed, the upstreams' metadata cannot change the answer, so each upstream in
search order is asked for the file itself; misses are remembered for a minute. Otherwise a release file is saved
from the upstream that wins its version, or, for a version saved before, from the
upstream it was saved from (a version's files are fetched one by one, the POM first). While it downloads it is
sent on to the client (stream-through), verified against the upstream's checksum files; a request for a
checksum file waits for the save and is answered from the saved entry.

Versions an upstream's metadata does not list: Maven Central's ``maven-metadata.xml`` misses versions of some
old artifacts, which clients still ask for by path. Such a version is fetched by path from the first external
upstream, in search order, whose metadata lists the coordinate, when a caller who may save asks, when the
coordinate's upstream behaviour lets external versions in, and when no minimum release age applies (the feed
cannot tell the age of a version no metadata lists, so a release age holds it back, failing closed). It is
verified like any other file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from starlette.responses import Response

from feed_core.domain.access import caller_role
from feed_core.domain.errors import FileNotInUpstream, NotFoundError
from feed_core.domain.maven_layout import ArtifactFile, coordinate_name
from feed_core.domain.maven_metadata import PluginEntry
from feed_core.domain.maven_pom import PomError, read_pom
from feed_core.domain.models import PackageVersion
from feed_core.domain.roles import Role
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.upstream_rules import is_exempt
from feed_core.protocols import maven_wire as wire
from feed_core.protocols.files import record_save, serve_flight, streams_through
from feed_core.protocols.maven_context import PROTOCOL, Ctx, look_up
from feed_core.protocols.maven_files import serve_entry, stored_entry
from feed_core.service.resolve import Lookup, Resolution, upstreaming_path
from feed_core.service.upstream import SourceOffer, enabled_sources, is_internal
from feed_core.storage.packages import content_key
from feed_core.upstreams.maven import repository_url
from feed_core.upstreams.models import UpstreamFile, UpstreamVersion

log = logging.getLogger("feed_core.maven")


@dataclass(frozen=True)
class UpstreamHit:
    """A release file the feed does not hold, and the upstream to save it from."""

    name: str  # "g:a"
    file: ArtifactFile
    source: UpstreamSource
    version: UpstreamVersion
    upstream_file: UpstreamFile
    #: Upstreams asked in turn, by path, when ``source`` does not have the file (``_straight_by_path``).
    then: tuple[UpstreamSource, ...] = ()


async def upstream_file(ctx: Ctx, file: ArtifactFile) -> UpstreamHit | None:
    """The upstream that may serve ``file`` to this caller, or ``None`` when none has it. ``NotFoundError`` says
    why when one has it but may not serve it (snapshots, upstream behaviour, release age, a reader asking for
    what is not saved); ``UpstreamError`` when nothing here has the coordinate and every upstream failed."""
    if not ctx.view.is_local or not enabled_sources(ctx.feed, PROTOCOL):
        return None
    name = coordinate_name(file.group_id, file.artifact_id)
    if file.is_snapshot:
        raise NotFoundError(
            f"{file.path} is not in {ctx.where}, and snapshot versions are never taken from upstream sources: "
            f"deploy {name}:{file.version} to this feed"
        )
    straight = await _straight_by_path(ctx, name, file)
    if straight is not None:
        return straight
    lookup = await look_up(ctx, name, want_version=file.version)
    if not lookup.exists:
        if lookup.upstream_errors:
            raise lookup.unreachable()
        return None
    res = await ctx.services.resolver.resolve(lookup, ctx.services.clock())
    number = file.version
    held = res.held.get(number)
    if held is not None:
        return _from_saved_source(ctx, lookup, held, file, name)
    if number in res.upstream:
        if not lookup.can_save:
            raise NotFoundError(res.explain_missing(number))
        offer = _offer_of(lookup, res.upstream[number][0].id)
        return _hit(name, file, offer, res.upstream[number][1])
    if _hidden(res, lookup, number):
        raise NotFoundError(res.explain_missing(number))
    return _by_path(ctx, lookup, res, file, name)


async def _straight_by_path(ctx: Ctx, name: str, file: ArtifactFile) -> UpstreamHit | None:
    """The common cold case without a metadata round trip: a collaborator asks for a release file the feed does
    not hold, every upstream is an external repository, no minimum release age applies, and the coordinate's
    external versions are allowed (it is not private here, or its owner let them in). Nothing the upstreams'
    metadata says can change the answer then, so the file is asked for by path from each upstream in search order
    (skipping those whose circuit is open), and the first that has it wins; another file of a version saved
    before is asked for from the upstream it was saved from. ``None``: decide with the metadata
    (``upstream_file``)."""
    feed, services = ctx.feed, ctx.services
    sources = enabled_sources(feed, PROTOCOL)
    if caller_role(feed, ctx.caller) < Role.COLLABORATOR or any(is_internal(s) for s in sources):
        return None
    if any(_release_age_hours(ctx, s, name) for s in sources):
        return None
    held = await services.packages.version(feed, PROTOCOL, name, file.version)
    if held is not None:
        # Another file of a version saved before: from the upstream it was saved from. A deployed or deleted
        # version has rules of its own (``upstream_file``).
        if held.deleted or not held.source_chain:
            return None
        saved_from = str(held.source_chain[0].get("id", ""))
        sources = [s for s in sources if s.id == saved_from]
        if not sources:
            return None
    if not await services.resolver.may_ask_external(feed, PROTOCOL, name):
        return None
    upstreams = services.upstreams
    live = [s for s in sources if upstreams.breaker_open(s) is None]
    if not live:
        return None
    asked = [s for s in live if not upstreams.known_missing(s, repository_url(s.location, file.path))]
    if not asked:
        raise NotFoundError(f"{file.path} does not exist in {ctx.where} or its upstream sources")
    first, *rest = asked
    uv = UpstreamVersion(file.version, {}, "", "", "", "", None)
    return replace(_external_hit(name, file, first, uv), then=tuple(rest))


def _release_age_hours(ctx: Ctx, source: UpstreamSource, name: str) -> float:
    """The minimum release age that applies to ``name`` from ``source`` (0: none)."""
    hours = source.minimum_release_age_hours
    if hours is None:
        hours = ctx.feed.minimum_release_age_hours
    if not hours or is_exempt(name, ctx.feed.minimum_release_age_exemptions):
        return 0
    return hours


def _hidden(res: Resolution, lookup: Lookup, number: str) -> bool:
    """An upstream lists the version, but it is not offered (blocked, held back, reserved, refused)."""
    merge = res.merge
    if number in merge.blocked or number in merge.held_back or number in merge.reserved:
        return True
    return any(o.package is not None and number in o.package.refused for o in lookup.offers)


def _offer_of(lookup: Lookup, source_id: str) -> SourceOffer | None:
    return next((o for o in lookup.offers if o.source.id == source_id and o.package is not None), None)


def _hit(name: str, file: ArtifactFile, offer: SourceOffer | None, uv: UpstreamVersion) -> UpstreamHit | None:
    """What saving ``file`` from ``offer``'s upstream takes: a feed upstream names its files; another repository's
    are found by path, their hashes declared by their checksum files."""
    if offer is None:
        return None
    if is_internal(offer.source):
        found = next((f for f in uv.files if f.filename == file.filename), None)
        return None if found is None else UpstreamHit(name, file, offer.source, uv, found)
    return _external_hit(name, file, offer.source, uv)


def _external_hit(name: str, file: ArtifactFile, source: UpstreamSource, uv: UpstreamVersion) -> UpstreamHit:
    url = repository_url(source.location, file.path)
    return UpstreamHit(name, file, source, uv, UpstreamFile(file.filename, url, "", digests_url=url))


def _from_saved_source(
    ctx: Ctx, lookup: Lookup, held: PackageVersion, file: ArtifactFile, name: str
) -> UpstreamHit | None:
    """Another file of a version saved before: from the upstream it was saved from, if it is still asked."""
    if not held.source_chain:
        return None  # deployed here: never completed with an upstream's files
    if not lookup.can_save:
        raise NotFoundError(
            f"{file.filename} of {name}:{file.version} is not saved in feed {ctx.feed.name} yet; a collaborator "
            "(Feed and Upstream Reader) or higher must fetch it first"
        )
    source_id = str(held.source_chain[0].get("id", ""))
    offer = next((o for o in lookup.offers if o.source.id == source_id), None)
    if offer is None:
        return None  # disabled, removed, or not asked for this coordinate now
    bare = UpstreamVersion(file.version, {}, "", "", "", "", None)
    if offer.package is None:  # its metadata is not known (files saved by path) or it failed: ask by path
        return None if is_internal(offer.source) else _external_hit(name, file, offer.source, bare)
    return _hit(name, file, offer, offer.package.versions.get(file.version) or bare)


def _by_path(ctx: Ctx, lookup: Lookup, res: Resolution, file: ArtifactFile, name: str) -> UpstreamHit | None:
    """A release version no upstream's metadata lists, fetched by path (see the module's docstring)."""
    if lookup.kept_private:  # its external upstreams were not even asked: say so, and how to allow them
        raise NotFoundError(res.explain_missing(file.version))
    if not lookup.can_save:
        return None
    decision = res.merge.decision
    if decision is not None and not decision.external_allowed:
        raise NotFoundError(
            f"{name}:{file.version} is not in {ctx.where}, and external versions of {name} are blocked "
            f"({decision.reason}); a feed owner can allow them: "
            f"PATCH {upstreaming_path(ctx.feed.name, PROTOCOL, name)}"
        )
    offer = next((o for o in lookup.offers if o.package is not None and not is_internal(o.source)), None)
    if offer is None:
        return None
    if _release_age_hours(ctx, offer.source, name):
        raise NotFoundError(
            f"{name}:{file.version} is not listed in the maven-metadata.xml of upstream {offer.source.name}, so the "
            "feed cannot tell when it was published, and the feed's minimum release age holds it back"
        )
    return _hit(name, file, offer, UpstreamVersion(file.version, {}, "", "", "", "", None))


async def serve_upstream_file(ctx: Ctx, hit: UpstreamHit, checksum: str | None) -> Response:
    """Save ``hit``'s file and serve it: sent on while it downloads when the request allows it; a checksum file
    (or a HEAD, a Range or a conditional request) once the file is saved. When the upstream does not have it,
    the next of ``hit.then`` is asked."""
    while True:
        try:
            return await _serve_from(ctx, hit, checksum)
        except FileNotInUpstream:
            ctx.services.upstreams.note_missing(hit.source, hit.upstream_file.url)
            if not hit.then:
                raise
            hit = replace(_external_hit(hit.name, hit.file, hit.then[0], hit.version), then=hit.then[1:])


async def _serve_from(ctx: Ctx, hit: UpstreamHit, checksum: str | None) -> Response:
    services = ctx.services
    number = hit.version.version
    key = (ctx.feed.id, PROTOCOL, hit.name, number, hit.file.filename)
    source = hit.source

    async def commit(record: PackageVersion) -> PackageVersion:
        record = await _with_pom_manifest(ctx, record, hit.file)
        saved = await services.packages.commit_saved(ctx.feed, record)
        record_save(services, ctx.feed, saved)
        log.info(
            "saved %s into %s from upstream %s for %s",
            hit.file.path,
            ctx.feed.scope_label,
            source.name,
            ctx.caller.user,
        )
        return saved

    async def serve_saved(saved: PackageVersion) -> Response:
        entry = stored_entry(saved, hit.file.filename)
        if entry is None:  # a concurrent save of another file of this version won the race: read it again
            saved = await services.packages.store.get_version(ctx.feed.id, PROTOCOL, hit.name, number) or saved
            entry = stored_entry(saved, hit.file.filename)
        if entry is None:
            raise NotFoundError(f"{hit.file.filename} could not be saved; try again")
        return await serve_entry(ctx, saved, entry, hit.file, checksum)

    if is_internal(source):  # nothing to download: the other feed's blobs are this service's too

        async def fetch_and_commit() -> PackageVersion:
            record = await services.upstreams.fetch_file_for_save(
                ctx.caller, PROTOCOL, hit.name, source, hit.version, hit.upstream_file
            )
            return await commit(record)

        return await serve_saved(await services.upstreams.save(key, fetch_and_commit))
    plan = services.upstreams.plan_file_save(ctx.caller, PROTOCOL, hit.name, source, hit.version, hit.upstream_file)
    flight = services.upstreams.stream_save(key, plan, commit)

    async def stored() -> Response:
        return await serve_saved(await flight.saved())

    if checksum is not None or not streams_through(ctx.request):
        return await stored()
    return await serve_flight(
        flight,
        stored,
        media=wire.media_type(hit.file.extension),
        headers={**wire.SAFE, "Cache-Control": "private, max-age=31536000, immutable"},
        verified_headers=wire.checksum_headers,
    )


async def _with_pom_manifest(ctx: Ctx, record: PackageVersion, file: ArtifactFile) -> PackageVersion:
    """A version created by saving its POM carries what the POM says (packaging, name, description)."""
    if record.manifest or file.extension != "pom" or not record.files:
        return record
    data = await ctx.services.packages.store.blobs.read_all(content_key(str(record.files[0]["sha256"])))
    if data is None:
        return record
    try:
        pom = read_pom(data)
    except PomError:  # it was read when it was verified: nothing to add
        return record
    return replace(record, manifest={"packaging": pom.packaging, "name": pom.name, "description": pom.description})


async def upstream_plugins(ctx: Ctx, group_id: str) -> list[PluginEntry]:
    """The plugin entries (G-level metadata) the upstreams offer for ``group_id``, in search order, the first
    entry of each prefix winning. The G-level file of group ``x.y`` is the A-level file of coordinate ``x:y``, so
    it comes with that coordinate's upstream document (under the same rules: a private coordinate's external
    upstreams are not asked)."""
    if not group_id or not ctx.view.is_local or not enabled_sources(ctx.feed, PROTOCOL):
        return []  # no group reading (a dotted directory): nothing to ask
    parent, _, last = group_id.rpartition(".")
    lookup = await look_up(ctx, coordinate_name(parent, last))
    plugins: dict[str, PluginEntry] = {}
    for offer in lookup.offers:
        if offer.package is None:
            continue
        for plugin in offer.package.extras.get("plugins", ()):
            plugins.setdefault(plugin.prefix, plugin)
    return list(plugins.values())
