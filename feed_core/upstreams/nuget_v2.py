"""NuGet v2 galleries (PowerShell Gallery style): per package id, ``FindPackagesById()`` and the pages its
``<link rel="next">`` chain leads to (bounded). The Atom/OData XML is read by ``domain/safe_xml.py``: a DTD
or an entity refuses the document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element

import httpx

from feed_core.domain.nuget_metadata import is_unlisted_time, version_manifest
from feed_core.domain.safe_xml import UnsafeXml, parse_xml
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
from feed_core.upstreams.nuget_v3 import sri_of

ATOM = "{http://www.w3.org/2005/Atom}"
DATA = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
META = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
ACCEPT = "application/atom+xml, application/xml;q=0.9"
#: Feed pages read for one id (the PowerShell Gallery sends 100 entries a page).
MAX_PAGES = 50
_PARSE_IN_THREAD_BYTES = 256 * 1024
#: Properties read into the ``catalogEntry`` shape of ``domain/nuget_metadata.py``.
_PROPERTIES = {
    "Description": "description",
    "Summary": "summary",
    "Title": "title",
    "Authors": "authors",
    "Tags": "tags",
    "ProjectUrl": "projectUrl",
    "LicenseUrl": "licenseUrl",
    "IconUrl": "iconUrl",
    "MinClientVersion": "minClientVersion",
    "Language": "language",
    "Copyright": "copyright",
    "ReleaseNotes": "releaseNotes",
}


def find_url(root: str, name: str) -> str:
    literal = "'" + name.replace("'", "''") + "'"  # an OData string literal
    return f"{root.rstrip('/')}/FindPackagesById()?id={quote(literal, safe='')}&semVerLevel=2.0.0"


async def _xml(body: bytes) -> Element:
    if len(body) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_xml, body)
    return parse_xml(body)


def next_link(feed: Element, page_url: str) -> str | None:
    for link in feed.findall(ATOM + "link"):
        if link.get("rel") == "next" and link.get("href"):
            url = join_url(page_url, link.get("href", ""))
            return url if url.startswith(("http://", "https://")) else None
    return None


async def fetch(
    client: httpx.AsyncClient,
    source: UpstreamSource,
    root: str,
    name: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
    max_bytes: int,
) -> tuple[Fetched, list[tuple[str, bytes]]]:
    """Every page of ``FindPackagesById()`` for ``name`` (at most ``MAX_PAGES``, within ``max_bytes``)."""
    url = find_url(root, name)
    fetched = await conditional_get(
        client, source, url, ACCEPT, etag=etag, last_modified=last_modified, budget=budget, max_bytes=max_bytes
    )
    if fetched.status != "ok":
        return fetched, []
    parts = [(fetched.url, fetched.body)]
    used = len(fetched.body)
    page_url, body = fetched.url, fetched.body
    seen = {page_url}
    while True:
        try:
            following = next_link(await _xml(body), page_url)
        except UnsafeXml as exc:
            raise BadDocument(f"{source.location} sent a feed for {name} that was refused: it {exc}") from None
        if following is None or following in seen:
            break
        if len(parts) >= MAX_PAGES:
            raise BadDocument(f"{source.location} sent more than {MAX_PAGES} feed pages for {name}")
        seen.add(following)
        answer = await get_with_retry(
            client,
            following,
            lambda hop: {"Accept": ACCEPT, **source_auth_headers(source, hop)},
            budget,
            max_bytes - used,
        )
        if answer.status != 200:
            raise status_failure(answer.status, following)
        used += len(answer.body)
        if used > max_bytes:
            raise UpstreamFailure(
                f"the feed of {name} at {source.location} is larger than {max_bytes} bytes "
                f"(limit: {DOCUMENT_LIMIT_SETTING})"
            )
        page_url, body = answer.url, answer.body
        parts.append((page_url, body))
    return fetched, parts


def parse(header: Mapping[str, Any], parts: list[tuple[str, bytes]], name: str, location: str) -> UpstreamPackage:
    """What the feed pages offer for ``name`` (CPU-bound: callers run large ones in a thread)."""
    root = str(header.get("root") or location)
    versions: dict[str, UpstreamVersion] = {}
    refused: dict[str, str] = {}
    for page_url, body in parts:
        try:
            feed = parse_xml(body)
        except UnsafeXml as exc:
            raise BadDocument(f"{location} sent a feed for {name} that was refused: it {exc}") from None
        if feed.tag != ATOM + "feed":
            raise BadDocument(f"{location} sent something else than an Atom feed for {name}")
        for entry in feed.findall(ATOM + "entry"):
            key, offered, problem = _entry(entry, name, page_url, root)
            if offered is not None and key not in versions:
                versions[key] = offered
            elif problem is not None:
                refused.setdefault(key, problem)
    refused = {k: why for k, why in refused.items() if k not in versions}
    return UpstreamPackage(name, versions, {}, "", refused)


def _properties(entry: Element) -> dict[str, str]:
    props = entry.find(META + "properties")
    if props is None:
        content = entry.find(ATOM + "content")
        props = content.find(META + "properties") if content is not None else None
    if props is None:
        return {}
    return {child.tag[len(DATA) :]: child.text or "" for child in props if child.tag.startswith(DATA)}


def _time(value: str) -> str | None:
    """An ``Edm.DateTime`` as an ISO time with a zone: OData v2 times without one are UTC."""
    value = value.strip()
    if not value:
        return None
    if value.endswith("Z") or "+" in value[10:] or value[10:].count("-") > 0:
        return value
    return value + "Z"


def dependency_groups(text: str) -> list[dict[str, Any]]:
    """A v2 ``Dependencies`` string (``id:range:framework|...``) as ``dependencyGroups``."""
    groups: dict[str, list[dict[str, str]]] = {}
    for item in text.split("|"):
        if not item.strip():
            continue
        dep_id, _, rest = item.partition(":")
        spec, _, framework = rest.partition(":")
        deps = groups.setdefault(framework.strip(), [])
        if dep_id.strip():
            dep = {"id": dep_id.strip()}
            if spec.strip():
                dep["range"] = spec.strip()
            deps.append(dep)
    return [{**({"targetFramework": fw} if fw else {}), "dependencies": deps} for fw, deps in groups.items()]


def _entry(entry: Element, name: str, page_url: str, root: str) -> tuple[str, UpstreamVersion | None, str | None]:
    p = _properties(entry)
    title = entry.find(ATOM + "title")
    raw_id = p.get("Id") or (title.text if title is not None else None)
    raw_version = p.get("NormalizedVersion") or p.get("Version")
    key = raw_version[:256] if raw_version else "?"
    version, problem = nuget_identity(name, raw_id, raw_version)
    if version is None:
        return key, None, problem
    key = version.lower  # the feed keys NuGet versions by their lower-case normalized form
    entry_id = str(raw_id)
    content = entry.find(ATOM + "content")
    src = content.get("src") if content is not None else None
    file_url = join_url(page_url, src) if src else f"{root.rstrip('/')}/package/{quote(entry_id)}/{quote(version.full)}"
    problem = nuget_content_url_problem(entry_id, version, file_url)
    if problem is not None:
        return key, None, problem
    published = _time(p.get("Published", ""))
    fields: dict[str, Any] = {v: p[k] for k, v in _PROPERTIES.items() if p.get(k)}
    if "authors" not in fields:
        author = entry.find(f"{ATOM}author/{ATOM}name")
        if author is not None and author.text:
            fields["authors"] = author.text
    if p.get("RequireLicenseAcceptance"):
        fields["requireLicenseAcceptance"] = p["RequireLicenseAcceptance"].strip().lower() == "true"
    if p.get("Listed"):
        fields["listed"] = p["Listed"].strip().lower() == "true"
    if published:
        fields["published"] = published
    fields["dependencyGroups"] = dependency_groups(p.get("Dependencies", ""))
    manifest, problem = version_manifest(fields, entry_id, version.full)
    if problem is not None:
        return key, None, problem
    return (
        key,
        UpstreamVersion(
            version=key,
            manifest=manifest,
            file_url=file_url,
            filename=f"{entry_id.lower()}.{version.lower}.nupkg",
            integrity=sri_of(p.get("PackageHashAlgorithm") or "SHA512", p.get("PackageHash")),
            sha1="",
            published=published if published and not is_unlisted_time(published) else None,
        ),
        None,
    )
