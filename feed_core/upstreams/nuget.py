"""Fetching from NuGet upstreams: v3 sources (a service index URL) and v2 galleries (PowerShell Gallery style).

The source's location tells which, as it tells the NuGet client: its answer is a v3 service index (JSON,
``version`` 3.x) or a v2 service document (XML). What it offers, with the resource URLs the feed uses, is
remembered for ``SERVICE_TTL_SECONDS`` per location and credentials, and stored with every package document
read through it (``nuget_frames.py``), so a cached document is read again without asking the upstream.

Per package id the feed reads the registration (v3: ``nuget_v3.py``) or ``FindPackagesById()`` (v2:
``nuget_v2.py``); never the catalog, never a list of all ids. A v3 registration does not carry the package
hash: ``declared`` reads the one catalog leaf of the version being saved, at save time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import replace

import httpx

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.credentials import credentials_identity
from feed_core.domain.errors import FeedError
from feed_core.domain.nuget_package import read_nupkg
from feed_core.domain.source_models import UpstreamSource
from feed_core.upstreams import nuget_v2, nuget_v3
from feed_core.upstreams.http import Fetched, UpstreamFailure, get_with_retry, source_auth_headers, status_failure
from feed_core.upstreams.models import BadDocument, UpstreamPackage, UpstreamVersion
from feed_core.upstreams.nuget_frames import frame, unframe

SERVICE_TTL_SECONDS = 300.0
_SERVICES_KEPT = 256
_PARSE_IN_THREAD_BYTES = 256 * 1024
ACCEPT = "application/json, application/xml;q=0.9"
_services: OrderedDict[tuple[str, str], tuple[float, dict[str, str]]] = OrderedDict()


def read_service(body: bytes, location: str) -> dict[str, str]:
    """What a source's location answered: ``{"nuget": "v3", "registrations", "packageBase"}`` for a service
    index, ``{"nuget": "v2", "root"}`` for a v2 service document; ``UpstreamFailure`` for anything else."""
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"<":
        return {"nuget": "v2", "root": location}
    if start != b"{":
        raise UpstreamFailure(f"{location} is neither a NuGet v3 service index nor a v2 gallery")
    try:
        doc = loads_bounded(body)
    except UnsafeJson as exc:
        raise UpstreamFailure(f"{location} sent a malformed service index: it {exc}") from None
    return {"nuget": "v3", **nuget_v3.resources(doc, location)}


async def discover(
    client: httpx.AsyncClient, source: UpstreamSource, budget: float, max_bytes: int, *, fresh: bool = False
) -> dict[str, str]:
    """The source's kind and resource URLs, remembered for ``SERVICE_TTL_SECONDS`` unless ``fresh``."""
    key = (source.location, credentials_identity(source.credentials))
    now = time.monotonic()
    known = _services.get(key)
    if known is not None and not fresh and now - known[0] < SERVICE_TTL_SECONDS:
        return known[1]

    def headers_for(hop: str) -> dict[str, str]:
        return {"Accept": ACCEPT, **source_auth_headers(source, hop)}

    answer = await get_with_retry(client, source.location, headers_for, budget, max_bytes)
    if answer.status != 200:
        raise status_failure(answer.status, source.location)
    found = read_service(answer.body, source.location)
    _services[key] = (now, found)
    _services.move_to_end(key)
    while len(_services) > _SERVICES_KEPT:
        _services.popitem(last=False)
    return found


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
    """Everything the upstream says about package ``name``, as one framed document."""
    found = await discover(client, source, budget, max_bytes)
    if found["nuget"] == "v3":
        fetched, parts = await nuget_v3.fetch(
            client, source, found, name, etag=etag, last_modified=last_modified, budget=budget, max_bytes=max_bytes
        )
    else:
        fetched, parts = await nuget_v2.fetch(
            client,
            source,
            found["root"],
            name,
            etag=etag,
            last_modified=last_modified,
            budget=budget,
            max_bytes=max_bytes,
        )
    if fetched.status != "ok":
        return fetched
    return replace(fetched, body=frame(found, parts))


async def parse_document(body: bytes, name: str, location: str) -> UpstreamPackage:
    header, parts = unframe(body, name)
    parse = nuget_v3.parse if header.get("nuget") == "v3" else nuget_v2.parse
    if len(body) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse, header, parts, name, location)
    return parse(header, parts, name, location)


async def declared(
    client: httpx.AsyncClient, source: UpstreamSource, name: str, uv: UpstreamVersion, *, budget: float, max_bytes: int
) -> UpstreamVersion:
    """``uv`` with its declared hash: v2 entries carry it; a v3 version's is in its catalog leaf."""
    if uv.integrity or uv.sha1 or not uv.digests_url:
        return uv
    return await nuget_v3.declared(client, source, name, uv, budget=budget, max_bytes=max_bytes)


async def ping(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> None:
    """The service index (v3) or the gallery's root (v2), read and understood: raises ``UpstreamFailure``."""
    await discover(client, source, budget, 1024 * 1024, fresh=True)


def check_package(name: str, version: str, filename: str, data: bytes) -> None:
    """A downloaded .nupkg must be the package it is listed as: its nuspec names ``name`` (case-insensitively)
    at ``version`` (the checks a push gets). CPU-bound: callers run it off the event loop."""
    try:
        nuspec = read_nupkg(data).nuspec
    except FeedError as exc:
        raise BadDocument(f"{filename[:200]}: {exc.message}") from None
    if nuspec.lower_id != name.lower() or nuspec.version.lower != version.lower():
        raise BadDocument(f"{filename[:200]} holds {nuspec.id} {nuspec.version.normalized}, not {name} {version}")
