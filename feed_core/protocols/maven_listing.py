"""``maven-metadata.xml`` as the feed serves it: built from what it holds and what its upstreams offer, never a
client's upload, with checksum files computed over the bytes served.

- A-level ``{g}/{a}/``: every version of ``g:a`` the caller may see (the resolver merges the feed, its saved
  versions and each upstream in search order; readers see what the feed holds).
- G-level ``{g}/``: the plugin prefixes of the group: the feed's own (kept from the group metadata a plugin's
  deploy PUTs, in the ``plugin`` field of the newest version's manifest) and those the upstreams offer. The same
  path can be A-level for one coordinate and G-level for a group: both parts go into one file.
- V-level ``{g}/{a}/{x}-SNAPSHOT/``: the snapshot's stored timestamped builds (snapshots never come from upstreams).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

from feed_core.domain.errors import NotFoundError, UpstreamError
from feed_core.domain.maven_layout import (
    ArtifactFile,
    FileRequest,
    MetadataRequest,
    coordinate_name,
    file_path,
    parse_path,
    split_name,
)
from feed_core.domain.maven_metadata import (
    Metadata,
    PluginEntry,
    artifact_metadata,
    last_updated,
    render_metadata,
    snapshot_metadata,
)
from feed_core.domain.maven_versions import snapshot_build, version_key
from feed_core.domain.models import PackageVersion
from feed_core.domain.visibility import versions_in_view
from feed_core.protocols import maven_upstream
from feed_core.protocols import maven_wire as wire
from feed_core.protocols.maven_context import PROTOCOL, Ctx, look_up

#: Where a version's manifest keeps the plugin entry of a deploy's group metadata: ``{"prefix", "name"}``.
PLUGIN_FIELD = "plugin"
#: At most this many coordinates of one group are read for its plugin entries.
MAX_GROUP_ARTIFACTS = 1000


async def get(ctx: Ctx, req: MetadataRequest) -> Response:
    data, notes = await _build(ctx, req)
    body, media = data, wire.XML
    if req.checksum is not None:
        body, media = hashlib.new(req.checksum, data).hexdigest().encode(), wire.TEXT
    headers = {**notes, "Cache-Control": "no-cache"}
    if req.checksum is None:
        headers.update(wire.checksum_headers(wire.digests(data)))
    return wire.small_file(ctx.request, body, media, headers)


async def _build(ctx: Ctx, req: MetadataRequest) -> tuple[bytes, dict[str, str]]:
    snapshot = req.snapshot
    if snapshot is not None:
        return render_metadata(await _snapshot(ctx, *snapshot)), {}
    versions: list[str] = []
    updated, notes = "", dict[str, str]()
    failure: UpstreamError | None = None
    artifact = req.artifact
    plugins_read = _plugins(ctx, req.group)
    if artifact is not None:
        try:
            versions, updated, notes = await _versions(ctx, *artifact)
        except UpstreamError as exc:  # the group part may still answer
            failure = exc
    plugins = await plugins_read
    if not versions and not plugins:
        if failure is not None:
            raise failure
        where = "/".join(req.directory)
        raise NotFoundError(f"{where}/maven-metadata.xml: no versions or plugins there in {ctx.where} or its upstreams")
    if versions and artifact is not None:
        return render_metadata(artifact_metadata(*artifact, versions, updated, plugins)), notes
    return render_metadata(Metadata(plugins=tuple(plugins))), notes


async def _versions(ctx: Ctx, group_id: str, artifact_id: str) -> tuple[list[str], str, dict[str, str]]:
    """Every version of the coordinate the caller may see, when it was last changed, and the resolver's notes."""
    lookup = await look_up(ctx, coordinate_name(group_id, artifact_id))
    if not lookup.exists:
        if lookup.upstream_errors:
            raise lookup.unreachable()
        return [], "", {}
    try:
        res = await ctx.services.resolver.resolve(lookup, ctx.services.clock())
    except NotFoundError:
        return [], "", {}
    times = [res.meta.modified, *(v.published for v in res.held.values())]
    return list(res.visible_numbers), newest_stamp(times), res.notes


def newest_stamp(times: Iterable[str]) -> str:
    """The newest of these ISO times as ``lastUpdated`` (``yyyyMMddHHmmss``); times an upstream gave that are not
    ISO 8601 are passed over."""
    stamps = []
    for text in times:
        try:
            stamps.append(last_updated(text))
        except ValueError:
            continue
    return max(stamps, default="")


async def _snapshot(ctx: Ctx, group_id: str, artifact_id: str, base_version: str) -> Metadata:
    name = coordinate_name(group_id, artifact_id)
    version = await ctx.services.packages.read_version(ctx.feed, ctx.view, PROTOCOL, name, base_version)
    files = builds_of(version, group_id, artifact_id) if version is not None else []
    if not files:
        raise NotFoundError(
            f"{name}:{base_version} has no snapshot builds in {ctx.where} (snapshots never come from upstreams)"
        )
    return snapshot_metadata(group_id, artifact_id, base_version, files)


def builds_of(version: PackageVersion, group_id: str, artifact_id: str) -> list[tuple[ArtifactFile, str]]:
    """The stored timestamped files of a snapshot version with their upload times."""
    out = []
    for entry in version.files:
        try:
            parsed = parse_path(file_path(group_id, artifact_id, version.version, str(entry["filename"])))
        except ValueError:
            continue
        if isinstance(parsed, FileRequest) and snapshot_build(version.version, parsed.file.unique_version):
            out.append((parsed.file, str(entry.get("uploaded") or version.published)))
    return out


# --- plugin entries of a group --------------------------------------------------------------------------------


async def _plugins(ctx: Ctx, group_id: str) -> list[PluginEntry]:
    """The group's plugin entries: the feed's own first, then the upstreams' (one per prefix)."""
    own, offered = await asyncio.gather(_own_plugins(ctx, group_id), maven_upstream.upstream_plugins(ctx, group_id))
    by_prefix: dict[str, PluginEntry] = {}
    for entry in (*own, *offered):
        by_prefix.setdefault(entry.prefix, entry)
    return sorted(by_prefix.values(), key=lambda e: e.prefix)


async def _own_plugins(ctx: Ctx, group_id: str) -> list[PluginEntry]:
    if not group_id:
        return []
    packages = ctx.services.packages
    entries = await packages.store.list_index(ctx.feed.id, PROTOCOL, f"{group_id}:")
    names = [e.name for e in entries[:MAX_GROUP_ARTIFACTS]]
    read = await asyncio.gather(*(packages.package(ctx.feed, PROTOCOL, n) for n in names))
    out = []
    for name, (_, versions) in zip(names, read, strict=True):
        if not versions_in_view(versions, ctx.view):
            continue
        entry = plugin_entry(versions)
        if entry is not None:
            out.append(
                PluginEntry(name=str(entry.get("name", "")), prefix=entry["prefix"], artifact_id=split_name(name)[1])
            )
    return out


def plugin_entry(versions: Sequence[PackageVersion]) -> dict[str, Any] | None:
    """The plugin entry kept with the newest live version that has one."""
    live = sorted((v for v in versions if v.deleted is None), key=lambda v: version_key(v.version), reverse=True)
    for v in live:
        entry = v.manifest.get(PLUGIN_FIELD)
        if isinstance(entry, dict) and isinstance(entry.get("prefix"), str) and entry["prefix"]:
            return entry
    return None


async def keep_plugins(ctx: Ctx, group_id: str, plugins: Sequence[PluginEntry]) -> list[str]:
    """Keep the entries of a deploy's group metadata whose plugin was deployed to the feed under that group (on
    the newest live version deployed here, unless one has the same entry already); the prefixes kept. A version
    saved from an upstream never takes an entry: a deploy cannot name a prefix for an upstream's plugin."""
    packages = ctx.services.packages
    kept = []
    for plugin in plugins[:100]:
        name = coordinate_name(group_id, plugin.artifact_id)
        _, versions = await packages.package(ctx.feed, PROTOCOL, name)
        deployed = (v for v in versions if v.deleted is None and not v.source_chain)
        live = sorted(deployed, key=lambda v: version_key(v.version))
        if not live:
            continue
        wanted = {"prefix": plugin.prefix, "name": plugin.name}
        if plugin_entry(live) != wanted:
            await packages.set_manifest_fields(
                ctx.feed, ctx.caller, PROTOCOL, name, live[-1].version, {PLUGIN_FIELD: wanted}
            )
        kept.append(plugin.prefix)
    return kept
