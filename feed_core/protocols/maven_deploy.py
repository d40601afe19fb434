"""Deploys: the PUTs of ``mvn deploy`` (and Gradle's ``maven-publish``) into the feed.

Each file of a version arrives in its own PUT, several at once (Maven Resolver sends the first alone and the
rest in parallel; ``PackageService.add_file`` retries on a concurrent write), each followed by its checksum
files. A release file is immutable (the same bytes again are accepted, other bytes are a 409); a snapshot's
timestamped files may be deployed again, and only the newest ``FEED_MAVEN_SNAPSHOT_BUILDS_KEPT`` builds of a
snapshot version are kept. A POM is checked before it is stored (safe XML, coordinates matching its path) and
gives the version its manifest (packaging, name, description). Checksum PUTs are verified against the stored
file and never stored. ``maven-metadata.xml`` PUTs are parsed and accepted but not stored: the feed serves
metadata it builds itself; only the plugin prefixes of group metadata are kept (in the plugin version's
manifest, see ``maven_listing``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.errors import BadRequestError, ConflictError, NotFoundError
from feed_core.domain.maven_checksums import MAX_CHECKSUM_BYTES
from feed_core.domain.maven_layout import ArtifactFile, MetadataRequest, coordinate_name, file_path, parse_path
from feed_core.domain.maven_metadata import parse_metadata
from feed_core.domain.maven_pom import check_pom, read_pom
from feed_core.domain.maven_versions import is_snapshot, snapshot_build
from feed_core.domain.roles import Role
from feed_core.protocols import maven_listing
from feed_core.protocols import maven_wire as wire
from feed_core.protocols.http import read_body
from feed_core.protocols.maven_context import PROTOCOL, Ctx
from feed_core.protocols.maven_files import entry_digest, stored_entry
from feed_core.service.packages import NewFile

log = logging.getLogger("feed_core.maven")
#: Bodies larger than this are hashed and parsed in a worker thread, off the event loop.
_IN_THREAD_BYTES = 1024 * 1024
#: Files one version may hold (a stored version row has room for about twice as many).
MAX_VERSION_FILES = 400


async def put(ctx: Ctx, path: str) -> Response:
    require_role(ctx.feed, ctx.caller, Role.CONTRIBUTOR, "deploying artifacts")
    if not ctx.view.is_local:
        raise BadRequestError(
            f"artifacts are deployed to the feed, not to a view: drop @{ctx.view.name} from the repository URL"
        )
    if not path:
        raise BadRequestError("a deploy is a PUT of a file at its path in the repository layout")
    try:
        parsed = parse_path(path)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    checksum = parsed.checksum
    limit = MAX_CHECKSUM_BYTES if checksum else ctx.services.settings.max_upload_bytes
    body = await read_body(ctx.request, limit)
    if isinstance(parsed, MetadataRequest):
        return await _metadata(ctx, parsed, body)
    if checksum is not None:
        return await _verify_checksum(ctx, parsed.file, checksum, body)
    return await _deploy(ctx, parsed.file, body)


async def _off_loop(data: bytes, work: Callable[[bytes], Any]) -> Any:
    return await asyncio.to_thread(work, data) if len(data) > _IN_THREAD_BYTES else work(data)


async def _metadata(ctx: Ctx, req: MetadataRequest, body: bytes) -> Response:
    """Accepted, not stored; a group's plugin entries are kept for the plugins the feed holds."""
    what = "/".join((*req.directory, "maven-metadata.xml"))
    if req.checksum is not None:
        wire.read_checksum(body, req.checksum, what)
        return wire.text(f"accepted: the feed serves the checksums of the {what} it builds itself")
    try:
        metadata = await _off_loop(body, parse_metadata)
    except ValueError as exc:
        raise BadRequestError(f"{what}: {exc}") from None
    kept = await maven_listing.keep_plugins(ctx, req.group, metadata.plugins) if metadata.plugins else []
    note = f"; kept the plugin prefixes {', '.join(kept)}" if kept else ""
    return wire.text(f"accepted: the feed serves the {what} it builds from the files it holds{note}")


async def _verify_checksum(ctx: Ctx, file: ArtifactFile, algorithm: str, body: bytes) -> Response:
    shown = f"{file.filename}.{algorithm}"
    sent = wire.read_checksum(body, algorithm, file.filename)
    name = coordinate_name(file.group_id, file.artifact_id)
    packages = ctx.services.packages
    version = await packages.version(ctx.feed, PROTOCOL, name, file.version)
    entry = stored_entry(version, file.filename)
    if entry is None or (version is not None and version.deleted):  # not here yet as this worker read it
        version = await packages.store.get_version(ctx.feed.id, PROTOCOL, name, file.version)
        entry = stored_entry(version, file.filename) if version is not None and not version.deleted else None
    if entry is None:
        raise NotFoundError(f"{file.filename} is not stored in feed {ctx.feed.name}: deploy it before {shown}")
    stored = await entry_digest(ctx, entry, algorithm)
    if sent != stored and file.is_snapshot:
        # A snapshot file may have been deployed again through another worker since this one read it: ask storage.
        fresh = await packages.store.get_version(ctx.feed.id, PROTOCOL, name, file.version)
        entry = stored_entry(fresh, file.filename) if fresh is not None and not fresh.deleted else None
        stored = await entry_digest(ctx, entry, algorithm) if entry is not None else stored
    if sent != stored:
        raise BadRequestError(
            f"checksum mismatch: the {algorithm.upper()} sent for {file.filename} is {sent}, but the file the feed "
            f"received and stored has {stored}; deploy it again"
        )
    return wire.text(f"verified: {shown} matches the stored file")


async def _deploy(ctx: Ctx, file: ArtifactFile, body: bytes) -> Response:
    name = coordinate_name(file.group_id, file.artifact_id)
    held = await ctx.services.packages.version(ctx.feed, PROTOCOL, name, file.version)
    if held is not None and len(held.files) >= MAX_VERSION_FILES and stored_entry(held, file.filename) is None:
        raise ConflictError(
            f"{name}:{file.version} already holds {len(held.files)} files, the most one version may hold; "
            "deploy the file to a new version"
        )
    manifest: dict[str, Any] = {}
    is_pom = file.extension == "pom" and not file.classifier
    if is_pom:
        try:
            info = await _off_loop(body, read_pom)
            check_pom(info, file)
        except ValueError as exc:
            raise BadRequestError(f"{file.filename}: {exc}") from None
        manifest = {"packaging": info.packaging, "name": info.name, "description": info.description}
    sums = await _off_loop(body, wire.digests)
    entry = {"filename": file.filename, **sums, "size": len(body)}
    snapshot = is_snapshot(file.version)
    kept = ctx.services.settings.maven_snapshot_builds_kept
    new = NewFile(
        protocol=PROTOCOL,
        name=name,
        version=file.version,
        manifest=manifest,
        file=entry,
        content=body,
        replaceable=snapshot,
        sets_manifest=is_pom,
        retain=newest_builds(file, kept) if snapshot else None,
    )
    _, created = await ctx.services.packages.add_file(ctx.feed, ctx.view, ctx.caller, new)
    if not created:
        return wire.text(f"{file.filename} is already in {name}:{file.version} with these bytes: nothing changed")
    log.info("deployed %s to %s by %s", file.path, ctx.feed.scope_label, ctx.caller.user)
    return wire.text(f"stored {file.path}", 201)


def newest_builds(file: ArtifactFile, kept: int) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Retention of a snapshot version: the files of its ``kept`` newest timestamped builds (and of the build being
    deployed, however old); files that belong to no timestamped build (``1.0-SNAPSHOT`` names) stay."""

    def build_of(filename: str) -> tuple[str, int] | None:
        try:
            parsed = parse_path(file_path(file.group_id, file.artifact_id, file.version, filename))
        except ValueError:
            return None
        if isinstance(parsed, MetadataRequest):
            return None
        build = snapshot_build(file.version, parsed.file.unique_version)
        return None if build is None else (build.timestamp, build.build_number)

    current = build_of(file.filename)

    def retain(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
        builds = {f["filename"]: build_of(str(f["filename"])) for f in files}
        newest = sorted({b for b in builds.values() if b is not None}, reverse=True)[:kept]
        keep = set(newest) | ({current} if current else set())
        return [f for f in files if builds[f["filename"]] is None or builds[f["filename"]] in keep]

    return retain
