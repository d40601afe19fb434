"""NuGet v3 upstreams: per package id, the registration index and the pages it does not inline; per saved
version, its catalog leaf (the declared hash). Never the catalog index, never a list of all ids.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.nuget_metadata import is_unlisted_time, version_manifest
from feed_core.domain.nuget_versions import NuGetVersion
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.upstream_documents import join_url, nuget_content_url_problem, nuget_identity
from feed_core.upstreams.http import (
    DOCUMENT_LIMIT_SETTING,
    Fetched,
    UpstreamFailure,
    conditional_get,
    get_with_retry,
    source_auth_headers,
    status_failure,
)
from feed_core.upstreams.models import BadDocument, UpstreamPackage, UpstreamVersion

#: Registration pages read for one id beyond the index (the public gallery's pages hold 64 versions).
MAX_PAGES = 100
PAGE_CONCURRENCY = 4
_PARSE_IN_THREAD_BYTES = 256 * 1024
ACCEPT = "application/json"
#: Registration hives in order of preference: 3.6.0 lists SemVer 2 versions, the older ones hide them.
REGISTRATION_TYPES = (
    "RegistrationsBaseUrl/3.6.0",
    "RegistrationsBaseUrl/Versioned",
    "RegistrationsBaseUrl/3.4.0",
    "RegistrationsBaseUrl/3.0.0-beta",
    "RegistrationsBaseUrl/3.0.0-rc",
    "RegistrationsBaseUrl",
)
PACKAGE_BASE_TYPE = "PackageBaseAddress/3.0.0"


def _http(value: object) -> str | None:
    if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 2048:
        return value
    return None


def resources(doc: object, location: str) -> dict[str, str]:
    """The resource URLs of a v3 service index the feed uses; ``UpstreamFailure`` when it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str) or not doc["version"].startswith("3."):
        raise UpstreamFailure(f"{location} is not a NuGet v3 service index (no version 3.x)")
    listed = doc.get("resources")
    if not isinstance(listed, list):
        raise UpstreamFailure(f"{location} is not a NuGet v3 service index (no resources list)")
    by_type: dict[str, str] = {}
    for item in listed:
        if isinstance(item, dict) and isinstance(item.get("@type"), str):
            url = _http(item.get("@id"))
            if url is not None:
                by_type.setdefault(item["@type"], url)
    registrations = next((by_type[t] for t in REGISTRATION_TYPES if t in by_type), "")
    if not registrations:
        raise UpstreamFailure(
            f"{location} is a NuGet v3 service index without a RegistrationsBaseUrl resource: the feed reads "
            "versions from registrations"
        )
    return {"registrations": registrations, "packageBase": by_type.get(PACKAGE_BASE_TYPE, "")}


def registration_url(registrations: str, name: str) -> str:
    base = registrations if registrations.endswith("/") else registrations + "/"
    return f"{base}{quote(name.lower(), safe='')}/index.json"


def flat_container_url(package_base: str, lower_id: str, version: NuGetVersion) -> str:
    base = package_base if package_base.endswith("/") else package_base + "/"
    lid = quote(lower_id, safe="")
    return f"{base}{lid}/{quote(version.lower, safe='')}/{lid}.{quote(version.lower, safe='')}.nupkg"


async def load(body: bytes) -> Any:
    """Bounded JSON, off the event loop when large; ``UnsafeJson`` when it is not JSON the feed reads."""
    if len(body) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(loads_bounded, body)
    return loads_bounded(body)


def pages_to_fetch(index: object, name: str, index_url: str) -> list[str]:
    """The ``@id`` of every page the registration index does not inline."""
    if not isinstance(index, dict) or not isinstance(index.get("items"), list):
        raise BadDocument(f"{index_url} is not a registration index for {name} (no items list)")
    pages = index["items"]
    if len(pages) > MAX_PAGES:
        raise BadDocument(f"{index_url} lists {len(pages)} registration pages for {name}; the feed reads {MAX_PAGES}")
    urls = []
    for i, page in enumerate(pages):
        if not isinstance(page, dict):
            raise BadDocument(f"{index_url}: registration page {i} of {name} is not an object")
        if page.get("items") is None:
            url = _http(join_url(index_url, page["@id"]) if isinstance(page.get("@id"), str) else None)
            if url is None:
                raise BadDocument(f"{index_url}: registration page {i} of {name} has no http(s) @id")
            urls.append(url)
    return urls


async def fetch(
    client: httpx.AsyncClient,
    source: UpstreamSource,
    found: Mapping[str, str],
    name: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
    max_bytes: int,
) -> tuple[Fetched, list[tuple[str, bytes]]]:
    """The registration index of ``name`` and the pages it does not inline (all within ``max_bytes``)."""
    url = registration_url(found["registrations"], name)
    fetched = await conditional_get(
        client, source, url, ACCEPT, etag=etag, last_modified=last_modified, budget=budget, max_bytes=max_bytes
    )
    if fetched.status != "ok":
        return fetched, []
    try:
        index = await load(fetched.body)
    except UnsafeJson as exc:
        raise BadDocument(f"{source.location} sent a malformed registration index for {name}: it {exc}") from None
    parts = [(fetched.url, fetched.body)]
    used = len(fetched.body)
    urls = pages_to_fetch(index, name, fetched.url)
    for start in range(0, len(urls), PAGE_CONCURRENCY):
        batch = urls[start : start + PAGE_CONCURRENCY]
        answers = await asyncio.gather(
            *(
                get_with_retry(
                    client,
                    u,
                    lambda hop: {"Accept": ACCEPT, **source_auth_headers(source, hop)},
                    budget,
                    max_bytes - used,
                )
                for u in batch
            )
        )
        for page_url, answer in zip(batch, answers, strict=True):
            if answer.status != 200:
                raise status_failure(answer.status, page_url)
            used += len(answer.body)
            parts.append((page_url, answer.body))
        if used > max_bytes:
            raise UpstreamFailure(
                f"the registration of {name} at {source.location} is larger than {max_bytes} bytes "
                f"(limit: {DOCUMENT_LIMIT_SETTING})"
            )
    return fetched, parts


def parse(header: Mapping[str, Any], parts: list[tuple[str, bytes]], name: str, location: str) -> UpstreamPackage:
    """What a registration offers for ``name`` (CPU-bound: callers run large ones in a thread)."""
    index_url, index_body = parts[0]
    try:
        index = loads_bounded(index_body)
        pages = {url: loads_bounded(body) for url, body in parts[1:]}
    except UnsafeJson as exc:
        raise BadDocument(f"{location} sent a malformed registration for {name}: it {exc}") from None
    pages_to_fetch(index, name, index_url)  # the same checks as when it was fetched
    package_base = str(header.get("packageBase") or "")
    versions: dict[str, UpstreamVersion] = {}
    refused: dict[str, str] = {}
    for i, page in enumerate(index["items"]):
        page_url = index_url
        leaves = page.get("items")
        if leaves is None:
            page_url = join_url(index_url, page["@id"])
            leaves = pages.get(page_url, {}).get("items") if isinstance(pages.get(page_url), dict) else None
            if not isinstance(leaves, list):
                raise BadDocument(f"{location} sent registration page {i} of {name} without an items list")
        if not isinstance(leaves, list):
            raise BadDocument(f"{location} sent registration page {i} of {name} without an items list")
        for leaf in leaves:
            key, offered, problem = _leaf(leaf, name, page_url, package_base)
            if offered is not None and key not in versions:
                versions[key] = offered
            elif problem is not None:
                refused.setdefault(key, problem)
    refused = {k: why for k, why in refused.items() if k not in versions}
    return UpstreamPackage(name, versions, {}, "", refused)


def _leaf(leaf: object, name: str, page_url: str, package_base: str) -> tuple[str, UpstreamVersion | None, str | None]:
    """``(version key, the version or None, why it is refused or None)`` of one registration leaf."""
    entry = leaf.get("catalogEntry") if isinstance(leaf, dict) else None
    if not isinstance(leaf, dict) or not isinstance(entry, dict):
        return "?", None, "a registration leaf without a catalogEntry object"
    raw_version = entry.get("version")
    key = raw_version[:256] if isinstance(raw_version, str) else "?"
    version, problem = nuget_identity(name, entry.get("id"), raw_version)
    if version is None:
        return key, None, problem
    key = version.lower  # the feed keys NuGet versions by their lower-case normalized form
    entry_id = str(entry["id"])
    content = leaf.get("packageContent") or entry.get("packageContent")
    if isinstance(content, str):
        file_url = join_url(page_url, content)
        problem = nuget_content_url_problem(entry_id, version, file_url)
    elif package_base:
        file_url = flat_container_url(package_base, entry_id.lower(), version)
    else:
        problem = "it has no packageContent URL"
    if problem is not None:
        return key, None, problem
    manifest, problem = version_manifest(entry, entry_id, version.full)
    if problem is not None:
        return key, None, problem
    published = entry.get("published")
    leaf_url = _http(entry.get("@id"))
    return (
        key,
        UpstreamVersion(
            version=key,
            manifest=manifest,
            file_url=file_url,
            filename=f"{entry_id.lower()}.{version.lower}.nupkg",
            integrity="",
            sha1="",
            published=published if isinstance(published, str) and not is_unlisted_time(published) else None,
            digests_url=leaf_url or "",
        ),
        None,
    )


def sri_of(algorithm: object, digest: object) -> str:
    """A NuGet ``packageHash`` (base64) with its algorithm as an SRI string; ``""`` when unusable."""
    sizes = {"sha512": 64, "sha256": 32}
    algo = algorithm.lower() if isinstance(algorithm, str) else "sha512"
    if algo not in sizes or not isinstance(digest, str):
        return ""
    try:
        raw = base64.b64decode(digest.strip(), validate=True)
    except (binascii.Error, ValueError):
        return ""
    return f"{algo}-{base64.b64encode(raw).decode()}" if len(raw) == sizes[algo] else ""


async def declared(
    client: httpx.AsyncClient, source: UpstreamSource, name: str, uv: UpstreamVersion, *, budget: float, max_bytes: int
) -> UpstreamVersion:
    """``uv`` with the hash its catalog leaf declares (``packageHash``/``packageHashAlgorithm``); unchanged
    when the leaf declares none (the engine then refuses to save it)."""
    url = uv.digests_url

    def headers_for(hop: str) -> dict[str, str]:
        return {"Accept": ACCEPT, **source_auth_headers(source, hop)}

    answer = await get_with_retry(client, url, headers_for, budget, max_bytes)
    if answer.status != 200:
        raise status_failure(answer.status, url)
    try:
        doc = await load(answer.body)
    except UnsafeJson as exc:
        raise BadDocument(f"its catalog leaf {url[:200]} is malformed: it {exc}") from None
    if not isinstance(doc, dict):
        raise BadDocument(f"its catalog leaf {url[:200]} is not a JSON object")
    version, problem = nuget_identity(name, doc.get("id"), doc.get("version"))
    if version is None or version.lower != uv.version:
        shown = version.normalized if version is not None else problem
        raise BadDocument(f"its catalog leaf {url[:200]} is not about {name} {uv.version} ({shown})")
    return replace(uv, integrity=sri_of(doc.get("packageHashAlgorithm"), doc.get("packageHash")), digests_url="")
