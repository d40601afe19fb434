"""Fetching from Python indexes: one project page at a time (PEP 691 JSON, else PEP 503 HTML).

Never the index's project list: a health probe is a HEAD of the index root.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin

import httpx
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

from feed_core.domain.python_dist import normalize_name
from feed_core.upstreams.http import (
    Fetched,
    UpstreamFailure,
    conditional_get,
    open_stream,
    source_auth_headers,
    status_failure,
)
from feed_core.upstreams.models import UpstreamFile, UpstreamPackage, UpstreamVersion

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_PARSE_IN_THREAD_BYTES = 256 * 1024


def project_url(location: str, name: str) -> str:
    base = location if location.endswith("/") else location + "/"
    return f"{base}{normalize_name(name)}/"


async def fetch_document(
    client: httpx.AsyncClient,
    source: Mapping[str, Any],
    name: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
    max_bytes: int,
) -> Fetched:
    url = project_url(str(source["location"]), name)
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
    text = page.lstrip()
    try:
        files = _from_json(json.loads(page), page_url) if text.startswith(b"{") else _from_html(page.decode(), page_url)
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError) as exc:
        raise UpstreamFailure(f"{location} sent a malformed project page for {name}: {exc}") from None
    versions: dict[str, list[UpstreamFile]] = {}
    for f in files:
        number = _version_of(f.filename)
        if number is not None and f.sha256:  # a file we cannot verify is not offered
            versions.setdefault(number, []).append(f)
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
    return UpstreamPackage(normalize_name(name), offered, {}, "")


def _version_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _yanked(value: object) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str):
        return value
    return None


def _from_json(doc: dict[str, Any], page_url: str) -> list[UpstreamFile]:
    out = []
    for f in doc.get("files", []):
        hashes = f.get("hashes") or {}
        meta = f.get("core-metadata")
        out.append(
            UpstreamFile(
                filename=str(f["filename"]),
                url=urljoin(page_url, str(f["url"])),
                sha256=str(hashes.get("sha256", "")).lower(),
                size=f.get("size") if isinstance(f.get("size"), int) else None,
                requires_python=str(f.get("requires-python") or ""),
                metadata_sha256=str(meta.get("sha256", "")) if isinstance(meta, dict) else "",
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


async def ping(client: httpx.AsyncClient, source: Mapping[str, Any], budget: float) -> None:
    """A HEAD of the index root: it answers without sending the project list."""
    url = str(source["location"])
    async with asyncio.timeout(budget), open_stream(client, "HEAD", url, lambda h: source_auth_headers(source, h)) as r:
        status = r.status_code
    if status >= 400:
        raise status_failure(status, url)
