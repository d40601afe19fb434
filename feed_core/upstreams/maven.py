"""Fetching from Maven repositories: per coordinate ``g:a``, its A-level ``maven-metadata.xml``, read by path.

Never a directory index. The same file is the G-level metadata of group ``g.a`` (Maven's layout makes the two
paths one), so its plugin entries come with it (``UpstreamPackage.extras["plugins"]``).

What is offered: the release versions the metadata lists; snapshot versions never (the feed does not take
snapshots from upstreams), nor versions that are not valid Maven versions (both listed as refused, with why).

Release age: metadata has no per-version times. ``lastUpdated`` (else the response's ``Last-Modified``) is when
the file last changed, so no listed version was published after it: it is the claimed time of the highest
release, the version a change most likely added. The others claim none, so the engine counts them from when it
first saw them, or from the answer they first appeared in (``domain/release_age.py``), and a version that drops
from "highest" keeps the time it claimed before.

Saving a file: its hash is declared beside it, in ``<file>.sha1`` (or, where a repository has none, ``.sha512`` or
``.sha256``), read at save time while the file downloads (``declared_file``); it must match, and a file with none
is not saved.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx

from feed_core.domain.clock import iso
from feed_core.domain.maven_checksums import MAX_CHECKSUM_BYTES, ChecksumFileError, read_checksum_file
from feed_core.domain.maven_layout import METADATA_FILE, MavenPathError, read_file_name, split_name, validate_version
from feed_core.domain.maven_metadata import MetadataError, parse_metadata
from feed_core.domain.maven_pom import PomError, check_pom, read_pom
from feed_core.domain.maven_versions import is_snapshot, version_key
from feed_core.domain.release_age import normalized_time
from feed_core.domain.source_models import UpstreamSource
from feed_core.upstreams.http import (
    Fetched,
    UpstreamFailure,
    conditional_get,
    describe,
    get_with_retry,
    open_stream,
    source_auth_headers,
    status_failure,
)
from feed_core.upstreams.models import BadDocument, FileMissing, UpstreamFile, UpstreamPackage, UpstreamVersion

ACCEPT = "application/xml, text/xml;q=0.9, */*;q=0.1"
#: The checksum files read for a file, in order, until one is there. Every Maven repository publishes ``.sha1``
#: (Maven Resolver uploads SHA-1 and MD5 by default), and it comes from the same origin as any stronger one, so
#: asking for those too would double the requests of a cold resolve without making the check any harder to pass.
CHECKSUMS = ("sha1", "sha512", "sha256")
#: Versions one metadata file may list (Maven Central's largest hold a few thousand).
MAX_VERSIONS = 100_000
_PARSE_IN_THREAD_BYTES = 256 * 1024


def coordinate_dir(name: str) -> str:
    """``g/as/dirs/a`` of coordinate ``g:a`` (just ``a`` for a one-segment group read as G-level)."""
    group_id, artifact_id = split_name(name)
    return "/".join([*group_id.split("."), artifact_id]) if group_id else artifact_id


def repository_url(location: str, path: str) -> str:
    """The URL of a repository path under a source's location."""
    return f"{location.rstrip('/')}/{quote(path)}"


def metadata_url(location: str, name: str) -> str:
    return repository_url(location, f"{coordinate_dir(name)}/{METADATA_FILE}")


async def fetch_document(
    client: httpx.AsyncClient,
    source: UpstreamSource,
    name: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
    max_bytes: int,
) -> Fetched:
    """The coordinate's ``maven-metadata.xml``, with the response's ``Last-Modified`` kept in a header line."""
    url = metadata_url(source.location, name)
    fetched = await conditional_get(
        client, source, url, ACCEPT, etag=etag, last_modified=last_modified, budget=budget, max_bytes=max_bytes
    )
    if fetched.status != "ok":
        return fetched
    header = json.dumps({"lastModified": fetched.last_modified or ""}).encode()
    return replace(fetched, body=header + b"\n" + fetched.body)


async def parse_document(body: bytes, name: str, location: str) -> UpstreamPackage:
    if len(body) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse, body, name, location)
    return parse(body, name, location)


def _http_time(value: str) -> str | None:
    """An HTTP date as an ISO time, or ``None``."""
    try:
        return iso(parsedate_to_datetime(value)) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


def _metadata_time(value: str) -> str | None:
    """``yyyyMMddHHmmss`` (UTC) as an ISO time, or ``None`` when it is not one."""
    if not re.fullmatch(r"\d{14}", value or ""):
        return None
    text = f"{value[0:4]}-{value[4:6]}-{value[6:8]}T{value[8:10]}:{value[10:12]}:{value[12:14]}Z"
    return normalized_time(text)


def parse(body: bytes, name: str, location: str) -> UpstreamPackage:
    """What a coordinate's metadata offers (CPU-bound: callers run large ones in a thread)."""
    first, sep, xml = body.partition(b"\n")
    last_modified = ""
    try:
        header = json.loads(first) if sep and first.startswith(b"{") else None
    except ValueError:
        header = None
    if isinstance(header, dict):
        last_modified = str(header.get("lastModified") or "")
    else:
        xml = body
    try:
        metadata = parse_metadata(xml, max_entries=MAX_VERSIONS)
    except MetadataError as exc:
        raise BadDocument(f"{location} sent a maven-metadata.xml for {name} that was refused: {exc}") from None
    group_id, artifact_id = split_name(name)
    wrong_group = bool(metadata.group_id) and metadata.group_id != group_id
    wrong_artifact = bool(metadata.artifact_id) and metadata.artifact_id != artifact_id
    if metadata.versions and (wrong_group or wrong_artifact):
        raise BadDocument(
            f"{location} sent a maven-metadata.xml for {name} that is about {metadata.group_id}:{metadata.artifact_id}"
        )
    refused: dict[str, str] = {}
    releases: list[str] = []
    for raw in metadata.versions:
        if raw in refused or raw in releases:
            continue
        if is_snapshot(raw):
            refused[raw[:200]] = "it is a snapshot, and snapshots are never taken from upstream sources"
            continue
        try:
            releases.append(validate_version(raw))
        except ValueError as exc:
            refused[raw[:200]] = str(exc)
    changed = _metadata_time(metadata.last_updated) or _http_time(last_modified)
    newest = max(releases, key=version_key) if releases else None
    versions = {
        number: UpstreamVersion(
            version=number,
            manifest={},
            file_url="",
            filename="",
            integrity="",
            sha1="",
            published=changed if number == newest else None,
        )
        for number in releases
    }
    extras = {"plugins": tuple(metadata.plugins)} if metadata.plugins else {}
    return UpstreamPackage(name, versions, {}, changed or "", refused, extras)


async def ping(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> None:
    """A HEAD of the repository's root: any answer but refused credentials or a server error is a live
    repository (many answer 404 there: the layout has no document at its root)."""
    url = source.location
    async with asyncio.timeout(budget), open_stream(client, "HEAD", url, lambda h: source_auth_headers(source, h)) as r:
        status = r.status_code
    if status in (401, 403) or status >= 500:
        raise status_failure(status, url)


def read_checksum(body: bytes, algorithm: str) -> str:
    """The digest of an upstream's checksum file (``maven_checksums``); ``BadDocument`` when it holds none."""
    try:
        return read_checksum_file(body, algorithm)
    except ChecksumFileError as exc:
        raise BadDocument(f"its .{algorithm} file holds no {algorithm} digest: it {exc}") from None


async def declared_file(
    client: httpx.AsyncClient, source: UpstreamSource, file: UpstreamFile, *, budget: float, max_bytes: int
) -> UpstreamFile:
    """``file`` with the digest its first checksum file in ``CHECKSUMS`` order declares (a 404: that one is absent).
    Unchanged when it has none (the engine then refuses to save it); ``FileMissing`` when the file is not
    there either."""
    del max_bytes  # checksum files are bounded by MAX_CHECKSUM_BYTES
    url = file.digests_url

    def headers_for(hop: str) -> dict[str, str]:
        return source_auth_headers(source, hop)

    async def one(algorithm: str) -> str:
        answer = await get_with_retry(client, f"{url}.{algorithm}", headers_for, budget, MAX_CHECKSUM_BYTES)
        if answer.status in (404, 410):
            return ""
        if answer.status != 200:
            raise status_failure(answer.status, f"{url}.{algorithm}")
        return read_checksum(answer.body, algorithm)

    for algorithm in CHECKSUMS:  # the first one there: one request for nearly every file
        digest = await one(algorithm)
        if digest:
            return replace(
                file,
                sha1=digest if algorithm == "sha1" else "",
                sha256=digest if algorithm == "sha256" else "",
                sha512=digest if algorithm == "sha512" else "",
            )
    await _require_file(client, source, url, budget)
    return file


async def _require_file(client: httpx.AsyncClient, source: UpstreamSource, url: str, budget: float) -> None:
    """``FileMissing`` when the upstream does not have ``url`` (asked with a HEAD)."""
    try:
        async with asyncio.timeout(budget):
            async with open_stream(client, "HEAD", url, lambda h: source_auth_headers(source, h)) as r:
                status = r.status_code
    except TimeoutError as exc:
        raise UpstreamFailure(describe(exc, url)) from exc
    if status in (404, 410):
        raise FileMissing(f"{url} does not exist")
    if status >= 400:
        raise status_failure(status, url)


def check_file(name: str, version: str, filename: str, data: bytes) -> None:
    """A downloaded POM must be the POM of the coordinate and version it was asked for (``checks``: only
    POMs are read; other files are verified by their hashes alone)."""
    if not checks(filename):
        return
    try:
        group_id, artifact_id = split_name(name)
        check_pom(read_pom(data), read_file_name(group_id, artifact_id, version, filename))
    except (PomError, MavenPathError) as exc:
        raise BadDocument(f"{filename[:200]}: {exc}") from None


def checks(filename: str) -> bool:
    return filename.endswith(".pom")


def offered(version: str) -> bool:
    """Versions a feed upstream offers: releases only."""
    return not is_snapshot(version)
