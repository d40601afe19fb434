"""Fetching from Python indexes: one project page at a time (PEP 691 JSON, else PEP 503 HTML).

Never the index's project list: a health probe is a HEAD of the index root.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

import httpx

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.errors import FeedError
from feed_core.domain.python_dist import canonical_version, inspect_distribution, normalize_name
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.upstream_documents import python_file_url_problem, python_file_version, python_page_problem
from feed_core.upstreams.http import (
    Fetched,
    conditional_get,
    open_stream,
    source_auth_headers,
    status_failure,
)
from feed_core.upstreams.models import BadDocument, UpstreamFile, UpstreamPackage, UpstreamVersion

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_PARSE_IN_THREAD_BYTES = 256 * 1024


def project_url(location: str, name: str) -> str:
    base = location if location.endswith("/") else location + "/"
    return f"{base}{normalize_name(name)}/"


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
    url = project_url(source.location, name)
    fetched = await conditional_get(
        client, source, url, ACCEPT, etag=etag, last_modified=last_modified, budget=budget, max_bytes=max_bytes
    )
    if fetched.status != "ok":
        return fetched
    # Keep the page URL with the body: relative file links resolve against it.
    body = json.dumps({"_page": fetched.url}).encode() + b"\n" + fetched.body
    return replace(fetched, body=body)


async def parse_document(body: bytes, name: str, location: str) -> UpstreamPackage:
    if len(body) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(_parse, body, name, location)
    return _parse(body, name, location)


def _parse(body: bytes, name: str, location: str) -> UpstreamPackage:
    first, _, page = body.partition(b"\n")
    try:
        page_url = str(json.loads(first)["_page"])
    except (ValueError, KeyError, TypeError):
        page_url, page = project_url(location, name), body
    try:
        if page.lstrip().startswith(b"{"):
            files = _from_json(loads_bounded(page), name, page_url)
        else:
            files = _from_html(page.decode(), page_url)
    except (UnsafeJson, _Malformed, UnicodeDecodeError) as exc:
        raise BadDocument(f"{location} sent a malformed project page for {name}: {exc}") from None
    versions: dict[str, list[UpstreamFile]] = {}
    refused: dict[str, str] = {}
    for f in files:
        number, problem = python_file_version(name, f.filename)
        if problem is None:
            problem = python_file_url_problem(f.filename, f.url)
        if problem is None and not f.sha256:
            problem = f"{f.filename[:200]!r} has no sha256 hash to verify it with"
        if problem is None and number is not None:
            versions.setdefault(number, []).append(f)
        elif number is not None:
            refused.setdefault(number, str(problem))
    if not versions and not refused and not page.lstrip().startswith(b"{") and b"pypi:repository-version" not in page:
        # An HTML page that links no file and does not say it is a project page (an error page sent
        # with 200) says nothing about which versions exist: it must not read as "none".
        raise BadDocument(f"{location} sent a page for {name} that is not a project page (no file links)")
    offered = {}
    for number, vfiles in versions.items():
        times = sorted(t for t in (f.uploaded for f in vfiles) if t)
        offered[number] = UpstreamVersion(
            version=number,
            manifest={"name": name, "version": number, "requires_python": vfiles[0].requires_python},
            file_url="",
            filename=vfiles[0].filename,
            integrity="",
            sha1="",
            published=times[0] if times else None,
            files=tuple(vfiles),
        )
    refused = {number: why for number, why in refused.items() if number not in offered}
    return UpstreamPackage(normalize_name(name), offered, {}, "", refused)


class _Malformed(ValueError):
    """A PEP 691 page that does not have the shape the standard gives it."""


def _yanked(value: object) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str):
        return value
    return None


def _from_json(doc: object, name: str, page_url: str) -> list[UpstreamFile]:
    if not isinstance(doc, dict) or not isinstance(doc.get("files", []), list):
        raise _Malformed("not a PEP 691 object with a 'files' list")
    problem = python_page_problem(doc.get("name"), name)
    if problem is not None:
        raise _Malformed(problem)
    out = []
    for i, f in enumerate(doc.get("files", [])):
        if not isinstance(f, dict) or not isinstance(f.get("filename"), str) or not isinstance(f.get("url"), str):
            raise _Malformed(f"files[{i}] is not an object with a 'filename' and a 'url' string")
        hashes = f.get("hashes")
        sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
        meta = f.get("core-metadata")
        meta_sha256 = meta.get("sha256") if isinstance(meta, dict) else None
        requires = f.get("requires-python")
        out.append(
            UpstreamFile(
                filename=f["filename"],
                url=urljoin(page_url, f["url"]),
                sha256=sha256.lower() if isinstance(sha256, str) else "",
                size=f.get("size") if isinstance(f.get("size"), int) else None,
                requires_python=requires if isinstance(requires, str) else "",
                metadata_sha256=meta_sha256 if isinstance(meta_sha256, str) else "",
                yanked=_yanked(f.get("yanked")),
                uploaded=f.get("upload-time") if isinstance(f.get("upload-time"), str) else None,
            )
        )
    return out


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, self._text.strip()))
            self._current = None


def _from_html(page: str, page_url: str) -> list[UpstreamFile]:
    parser = _Anchors()
    parser.feed(page)
    out = []
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(page_url, href))
        algo, _, digest = fragment.partition("=")
        meta = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata") or ""
        out.append(
            UpstreamFile(
                filename=text or url.rsplit("/", 1)[-1],
                url=url,
                sha256=digest.lower() if algo == "sha256" else "",
                requires_python=attrs.get("data-requires-python") or "",
                metadata_sha256=meta.partition("=")[2] if meta.startswith("sha256=") else "",
                yanked=attrs.get("data-yanked") if "data-yanked" in attrs else None,
            )
        )
    return out


async def ping(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> None:
    """A HEAD of the index root: it answers without sending the project list."""
    url = source.location
    async with asyncio.timeout(budget), open_stream(client, "HEAD", url, lambda h: source_auth_headers(source, h)) as r:
        status = r.status_code
    if status >= 400:
        raise status_failure(status, url)


def check_distribution(name: str, version: str, filename: str, data: bytes) -> None:
    """A downloaded wheel or sdist must be the file it is listed as: its own metadata names ``name``
    ``version`` (the checks an upload gets, archive limits included). CPU-bound: callers run it off
    the event loop."""
    try:
        dist = inspect_distribution(filename, data)
    except FeedError as exc:
        raise BadDocument(f"{filename[:200]}: {exc.message}") from None
    if dist.name != normalize_name(name) or dist.version != canonical_version(version):
        raise BadDocument(f"{filename[:200]} holds {dist.name} {dist.version}, not {name} {version}")
