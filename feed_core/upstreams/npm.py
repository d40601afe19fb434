"""Fetching from npm registries: one package document at a time (never the whole name list)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.errors import FeedError
from feed_core.domain.npm_tarball import check_matches, read_tarball
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.upstream_documents import npm_document_problem, npm_version_problem
from feed_core.upstreams.http import (
    FILE_LIMIT_SETTING,
    Fetched,
    UpstreamFailure,
    conditional_get,
    iter_body,
    open_stream,
    source_auth_headers,
    status_failure,
)
from feed_core.upstreams.models import BadDocument, UpstreamPackage, UpstreamVersion

_PARSE_IN_THREAD_BYTES = 256 * 1024


def packument_url(location: str, name: str) -> str:
    base = location if location.endswith("/") else location + "/"
    return base + quote(name, safe="@")  # @scope%2fname, as npm sends it


async def fetch_packument(
    client: httpx.AsyncClient,
    source: UpstreamSource,
    name: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
    max_bytes: int,
) -> Fetched:
    """The full document of one package (it has the publish times), revalidated when we hold one."""
    url = packument_url(source.location, name)
    return await conditional_get(
        client,
        source,
        url,
        "application/json",
        etag=etag,
        last_modified=last_modified,
        budget=budget,
        max_bytes=max_bytes,
    )


async def parse_packument(body: bytes, name: str, location: str) -> UpstreamPackage:
    """Parse an upstream document; large ones are parsed off the event loop (in slices, see
    :mod:`feed_core.domain.bounded_json`, so the loop keeps answering meanwhile)."""
    if len(body) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(_parse, body, name, location)
    return _parse(body, name, location)


def _parse(body: bytes, name: str, location: str) -> UpstreamPackage:
    try:
        doc = loads_bounded(body)
    except UnsafeJson as exc:
        raise BadDocument(f"{location} sent a malformed document for {name}: it {exc}") from None
    if not isinstance(doc, dict):
        raise BadDocument(f"{location} sent a malformed document for {name}: not a JSON object")
    problem = npm_document_problem(doc, name)
    if problem is not None:
        raise BadDocument(f"{location} sent a document for {name} that was refused: {problem}")
    return package_from_document(doc, name)


def package_from_document(doc: dict[str, Any], name: str) -> UpstreamPackage:
    """What the document offers for ``name``: versions whose identity does not agree are refused (with a reason)."""
    times = doc.get("time") if isinstance(doc.get("time"), dict) else {}
    assert isinstance(times, dict)
    bare = name.rsplit("/", 1)[-1]
    versions: dict[str, UpstreamVersion] = {}
    refused: dict[str, str] = {}
    for number, v in (doc.get("versions") or {}).items():
        problem = npm_version_problem(name, number, v)
        if problem is not None:
            refused[str(number)[:256]] = problem
            continue
        dist = v["dist"]
        manifest = {k: val for k, val in v.items() if k not in ("dist", "_attachments")}
        kept = {k: dist[k] for k in ("fileCount", "unpackedSize") if isinstance(dist.get(k), int)}
        if kept:
            manifest["dist"] = kept
        published = times.get(number)
        versions[number] = UpstreamVersion(
            version=number,
            manifest=manifest,
            file_url=dist["tarball"],
            filename=f"{bare}-{number}.tgz",
            integrity=dist["integrity"] if isinstance(dist.get("integrity"), str) else "",
            sha1=dist["shasum"].lower() if isinstance(dist.get("shasum"), str) else "",
            published=published if isinstance(published, str) else None,
        )
    tags = doc.get("dist-tags") if isinstance(doc.get("dist-tags"), dict) else {}
    assert isinstance(tags, dict)
    modified = times.get("modified")
    return UpstreamPackage(
        name=name,
        versions=versions,
        dist_tags={t: v for t, v in tags.items() if isinstance(t, str) and isinstance(v, str)},
        modified=modified if isinstance(modified, str) else "",
        refused=refused,
    )


def check_tarball(name: str, version: str, filename: str, data: bytes) -> None:
    """A downloaded tarball must be one npm would install as ``name@version`` (the checks a publish gets);
    CPU-bound, callers run it off the event loop."""
    del filename  # npm files are named after the version: the contents are what can lie
    try:
        check_matches(read_tarball(data), name, version)
    except FeedError as exc:
        raise BadDocument(exc.message) from None


async def stream_file(
    client: httpx.AsyncClient, source: UpstreamSource, url: str, max_bytes: int
) -> AsyncIterator[bytes]:
    """Stream a package file, at most ``max_bytes`` decoded; failures raise ``UpstreamFailure`` with a reason."""
    async with open_stream(client, "GET", url, lambda hop: source_auth_headers(source, hop)) as response:
        if response.status_code != 200:
            raise status_failure(response.status_code, url)
        async for chunk in iter_body(response, max_bytes, FILE_LIMIT_SETTING):
            yield chunk


async def ping(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> None:
    """A cheap liveness check: npm's ``-/ping`` (falling back to the registry root when a registry
    does not implement it). Raises ``UpstreamFailure`` with the cause and the fix."""
    location = source.location
    base = location if location.endswith("/") else location + "/"

    def headers_for(hop: str) -> dict[str, str]:
        return {"Accept": "application/json", **source_auth_headers(source, hop)}

    for url in (base + "-/ping", base):
        async with asyncio.timeout(budget), open_stream(client, "GET", url, headers_for) as response:
            status = response.status_code  # the body is not needed
        if status < 300:
            return
        if status != 404:
            raise status_failure(status, url)
    raise UpstreamFailure(
        f"{location} answered 404 to -/ping and at its root: the location does not point at an npm registry"
    )
