"""A small, real NuGet gallery on 127.0.0.1 that stands in for a v3 or v2 upstream in tests.

    def test_upstream(nuget_gallery):
        nuget_gallery.add("Tiny.Lib", "1.0.0", dependencies=[("Tiny.Dep", "[1.0.0, )")])
        httpx.get(nuget_gallery.index_url)   # the v3 service index
        httpx.get(nuget_gallery.v2_url + "FindPackagesById()?id='Tiny.Lib'")

It serves, from real .nupkg files, the read side of the public gallery's layout (see /work/shared/protocols/nuget.md):
- v3 at ``/v3/index.json``: the flat container (``PackageBaseAddress/3.0.0``); registrations with inline pages up to
  ``inline_limit`` versions and 64-version pages served apart beyond, in two hives like the public gallery's:
  ``RegistrationsBaseUrl/3.6.0`` with SemVer 2 versions, and the SemVer 1 hive under ``/3.4.0``, ``/3.0.0-beta`` and
  the plain name (gzip-encoded when the client accepts it); catalog leaves carrying ``packageHash`` (sha512, base64),
  which a registration ``catalogEntry.@id`` points to; ``SearchQueryService``; and ``LegacyGallery/2.0.0`` pointing
  at the v2 endpoint, which NuGet.exe's ``list`` needs on a v3 source.
- v2 OData (Atom) at ``/api/v2/``: the service document, ``FindPackagesById()?id='X'`` (an unknown id gets an empty
  feed), ``Packages(Id='X',Version='1.0.0')``, ``Search()`` (``IsLatestVersion``/``IsAbsoluteLatestVersion``, with
  ``$skip``/``$top`` and a next link) and ``package/{id}/{version}`` downloads, every entry with ``d:PackageHash``.

Knobs: ``set_listed`` (unlist/relist: the public gallery's year-1900 ``published``), ``deprecate``, ``tamper`` (bytes
that do not match the declared hash), ``set_down`` (503s), ``require_auth``, ``stop`` (the upstream killed). Every
request is logged (``requests``, ``count``). Nothing else is served: no catalog index, no writes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import io
import json
import re
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

import pytest
import uvicorn
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.nupkg_builder import Dependencies, build_nupkg

DEFAULT_PUBLISHED = "2020-01-01T00:00:00+00:00"
UNLISTED_PUBLISHED = "1900-01-01T00:00:00+00:00"  # what the public gallery shows for an unlisted version
PAGE_SIZE = 64
ATOM = "application/atom+xml;type=feed;charset=utf-8"
Dependency = tuple[str, str]  # (id, range as in the nuspec)


@dataclass(frozen=True)
class GalleryRequest:
    method: str
    path: str  # percent-decoded, without the query
    query: str
    headers: dict[str, str]

    def __str__(self) -> str:
        return f"{self.method} {self.path}{'?' + unquote(self.query) if self.query else ''}"


@dataclass
class _Version:
    package_id: str  # as the nuspec spells it
    version: str  # as the nuspec spells it (may carry build metadata)
    normalized: str  # lowercase, NuGet-normalized, no build metadata
    data: bytes  # the .nupkg the hash is declared for
    served: bytes  # what downloads return (differs after tamper)
    nuspec: bytes
    description: str
    authors: str
    tags: str
    groups: list[tuple[str | None, list[Dependency]]]  # (target framework, dependencies)
    published: str
    listed: bool = True
    deprecation: dict[str, Any] | None = None

    @property
    def semver2(self) -> bool:
        release = self.version.partition("+")[0].partition("-")[2]
        return "+" in self.version or "." in release

    @property
    def prerelease(self) -> bool:
        return "-" in self.version.partition("+")[0]

    @property
    def hash(self) -> str:
        return base64.b64encode(hashlib.sha512(self.data).digest()).decode()


def normalize_version(version: str) -> str:
    """NuGet's normalized form, lowercased: no build metadata, no leading zeros, at least 3 parts, no zero 4th."""
    core, dash, release = version.partition("+")[0].partition("-")
    parts = [str(int(p)) for p in core.split(".")]
    parts += ["0"] * (3 - len(parts))
    if len(parts) == 4 and parts[3] == "0":
        parts.pop()
    return (".".join(parts) + dash + release).lower()


def _sort_key(normalized: str) -> tuple[Any, ...]:
    core, _, release = normalized.partition("-")
    numbers = tuple(int(p) for p in core.split("."))
    labels = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in release.split(".")) if release else ()
    return (*numbers, *(0,) * (4 - len(numbers)), release == "", labels)


def _read_nuspec(data: bytes) -> tuple[bytes, ElementTree.Element]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = [n for n in zf.namelist() if "/" not in n and n.lower().endswith(".nuspec")]
        if len(names) != 1:
            raise ValueError(f"a .nupkg needs exactly one root .nuspec, found {names}")
        raw = zf.read(names[0])
    root = ElementTree.fromstring(raw)  # noqa: S314 - the test's own packages
    metadata = next(el for el in root if el.tag.rpartition("}")[2] == "metadata")
    return raw, metadata


def _local(element: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {child.tag.rpartition("}")[2]: child for child in element}


def _groups(dependencies: ElementTree.Element | None) -> list[tuple[str | None, list[Dependency]]]:
    if dependencies is None:
        return []

    def deps(parent: ElementTree.Element) -> list[Dependency]:
        return [
            (d.attrib["id"], d.attrib.get("version", "")) for d in parent if d.tag.rpartition("}")[2] == "dependency"
        ]

    groups = [(g.attrib.get("targetFramework"), deps(g)) for g in dependencies if g.tag.rpartition("}")[2] == "group"]
    flat = deps(dependencies)
    return groups + ([(None, flat)] if flat else [])


def _range(spec: str) -> str:
    """A nuspec version spec as the registration shows it: a bare version is a minimum, "[1.0.0, )"."""
    return spec if spec[:1] in "[(" else f"[{spec}, )" if spec else "(, )"


class NuGetGallery:
    """A NuGet gallery on a free 127.0.0.1 port, served by uvicorn in a background thread until ``stop()``.

    Every method is thread-safe and may be called while requests are in flight. Usable as a context manager.
    """

    base: str  # http://127.0.0.1:PORT
    index_url: str  # the v3 service index
    v2_url: str  # the v2 OData root, ending with "/"

    def __init__(self, *, legacy_gallery: bool = True, inline_limit: int = 128) -> None:
        self.legacy_gallery = legacy_gallery
        self.inline_limit = inline_limit  # more versions than this: pages of 64 served apart
        self._lock = threading.Lock()
        self._packages: dict[str, dict[str, _Version]] = {}  # lower id -> normalized version -> version
        self._requests: list[GalleryRequest] = []
        self._down = False
        self._auth: str | None = None
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.index_url = f"{self.base}/v3/index.json"
        self.v2_url = f"{self.base}/api/v2/"
        config = uvicorn.Config(
            self._app, interface="asgi3", ws="none", lifespan="off", log_config=None, access_log=False,
            timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),
            name=f"nuget-gallery {self.base}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fixture gallery did not start")
            time.sleep(0.002)

    def __enter__(self) -> NuGetGallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content ---------------------------------------------------------------------------------------------------

    def add(
        self,
        package_id: str,
        version: str,
        *,
        dependencies: Dependencies = (),
        description: str | None = None,
        tags: Sequence[str] = (),
        published: str = DEFAULT_PUBLISHED,
        listed: bool = True,
    ) -> bytes:
        """Build a real .nupkg (tests/nupkg_builder.py; ``dependencies`` as there: a list of (id, range), or a mapping
        of target framework to such lists) and serve it; returns its bytes."""
        data = build_nupkg(
            package_id,
            version,
            dependencies=dependencies,
            description=description or f"{package_id} {version} for tests",
            tags=tags,
        )
        self.add_nupkg(data, published=published, listed=listed)
        return data

    def add_nupkg(self, data: bytes, *, published: str = DEFAULT_PUBLISHED, listed: bool = True) -> _Version:
        """Serve these .nupkg bytes unchanged, described by their .nuspec (replacing the same id and version)."""
        raw, metadata = _read_nuspec(data)
        fields = _local(metadata)

        def text(name: str) -> str:
            return (fields[name].text or "").strip() if name in fields else ""

        entry = _Version(
            package_id=text("id"),
            version=text("version"),
            normalized=normalize_version(text("version")),
            data=data,
            served=data,
            nuspec=raw,
            description=text("description"),
            authors=text("authors"),
            tags=text("tags"),
            groups=_groups(fields.get("dependencies")),
            published=published,
            listed=listed,
        )
        with self._lock:
            self._packages.setdefault(entry.package_id.lower(), {})[entry.normalized] = entry
        return entry

    def hash(self, package_id: str, version: str) -> str:
        """The declared sha512 (base64) of a version."""
        with self._lock:
            return self._get(package_id, version).hash

    def set_listed(self, package_id: str, version: str, listed: bool) -> None:
        """Unlist (hidden from search and v2 latest; still downloadable, ``published`` 1900) or relist."""
        with self._lock:
            self._get(package_id, version).listed = listed

    def deprecate(
        self,
        package_id: str,
        version: str,
        reasons: list[str] | None = None,
        message: str | None = None,
        alternate: tuple[str, str] | None = None,
    ) -> None:
        """Mark a version deprecated in its registration and catalog entries (``reasons=None`` with no message:
        undeprecate)."""
        value: dict[str, Any] | None = {"reasons": reasons or ["Legacy"]}
        if message is not None:
            value["message"] = message  # type: ignore[index]
        if alternate is not None:
            value["alternatePackage"] = {"id": alternate[0], "range": alternate[1]}  # type: ignore[index]
        if reasons is None and message is None and alternate is None:
            value = None
        with self._lock:
            self._get(package_id, version).deprecation = value

    def tamper(self, package_id: str, version: str) -> None:
        """Serve different (still valid zip) bytes than the declared ``packageHash`` / ``d:PackageHash``."""
        with self._lock:
            entry = self._get(package_id, version)
            buf = io.BytesIO(entry.data)
            with zipfile.ZipFile(buf, "a") as zf:
                zf.comment = b"tampered"
            entry.served = buf.getvalue()

    def _get(self, package_id: str, version: str) -> _Version:
        return self._packages[package_id.lower()][normalize_version(version)]

    # -- behaviour and log -----------------------------------------------------------------------------------------

    def set_down(self, down: bool) -> None:
        """While down, every request gets a 503."""
        self._down = down

    def require_auth(self, header_value: str | None) -> None:
        """Answer 401 with a Basic challenge unless the Authorization header is exactly this (None = open)."""
        self._auth = header_value

    @property
    def requests(self) -> list[GalleryRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, method: str, path_suffix: str) -> int:
        """How many ``method`` requests had a path ending with ``path_suffix``."""
        return sum(1 for r in self.requests if r.method == method and r.path.endswith(path_suffix))

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def stop(self) -> None:
        """Stop serving and close the port (connections are then refused). Idempotent."""
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._sock.close()

    # -- serving ---------------------------------------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        path, query = scope["path"], scope["query_string"].decode("latin-1")
        with self._lock:
            self._requests.append(GalleryRequest(scope["method"], path, query, dict(headers.items())))
        response = self._respond(scope["method"], path, query, headers)
        await response(scope, receive, send)

    def _respond(self, method: str, path: str, query: str, headers: Headers) -> Response:
        if self._down:
            return JSONResponse({"error": "Service Unavailable"}, 503)
        if self._auth is not None and headers.get("authorization") != self._auth:
            return JSONResponse({"error": "Unauthorized"}, 401, {"WWW-Authenticate": 'Basic realm="gallery"'})
        if method not in ("GET", "HEAD"):
            return JSONResponse({"error": "Method Not Allowed"}, 405, headers={"Allow": "GET, HEAD"})
        gz = "gzip" in headers.get("accept-encoding", "")
        with self._lock:
            if path.startswith("/v3/"):
                return self._v3(path.removeprefix("/v3/"), parse_qs(query), gz)
            if path == "/api/v2" or path.startswith("/api/v2/"):
                return self._v2(path.removeprefix("/api/v2").removeprefix("/"), parse_qs(query))
        return JSONResponse({"error": f"nothing at {path}"}, 404)

    # -- v3 --------------------------------------------------------------------------------------------------------

    def _v3(self, path: str, query: dict[str, list[str]], gz: bool) -> Response:
        if path == "index.json":
            return JSONResponse(self._service_index())
        parts = path.split("/")
        if parts[0] == "flat" and len(parts) >= 3:
            return self._flat(parts[1:])
        if parts[0] in ("registration", "registration-semver2") and len(parts) >= 3:
            body = self._registration(parts[0], parts[1:])
            if body is None:
                return JSONResponse({"error": f"no registration at /v3/{path}"}, 404)
            return _json(body, gz)
        if parts[0] == "catalog" and len(parts) == 2 and (m := re.fullmatch(r"(.+)\.json", parts[1])):
            entry = self._by_leaf_name(m.group(1))
            if entry is None:
                return JSONResponse({"error": f"no catalog leaf {parts[1]}"}, 404)
            return _json(self._catalog_leaf(entry), gz)
        if path == "query":
            return JSONResponse(self._search(query))
        return JSONResponse({"error": f"nothing at /v3/{path}"}, 404)

    def _service_index(self) -> dict[str, Any]:
        v3 = f"{self.base}/v3"
        resources = [
            (f"{v3}/flat/", "PackageBaseAddress/3.0.0"),
            (f"{v3}/registration-semver2/", "RegistrationsBaseUrl/3.6.0"),
            *((f"{v3}/registration/", t) for t in ("RegistrationsBaseUrl", "RegistrationsBaseUrl/3.0.0-beta")),
            (f"{v3}/registration/", "RegistrationsBaseUrl/3.0.0-rc"),
            (f"{v3}/registration/", "RegistrationsBaseUrl/3.4.0"),
            *((f"{v3}/query", t) for t in ("SearchQueryService", "SearchQueryService/3.0.0-beta")),
            (f"{v3}/query", "SearchQueryService/3.0.0-rc"),
            (f"{v3}/query", "SearchQueryService/3.5.0"),
        ]
        if self.legacy_gallery:
            resources += [(self.v2_url, "LegacyGallery"), (self.v2_url, "LegacyGallery/2.0.0")]
        return {"version": "3.0.0", "resources": [{"@id": url, "@type": kind} for url, kind in resources]}

    def _flat(self, parts: list[str]) -> Response:
        versions = self._packages.get(parts[0], {})
        if parts[1:] == ["index.json"] and versions:
            ordered = sorted(versions, key=_sort_key)
            return JSONResponse({"versions": ordered})
        if len(parts) == 3 and (entry := versions.get(parts[1])) is not None:
            lower = entry.package_id.lower()
            if parts[2] == f"{lower}.{entry.normalized}.nupkg":
                return Response(entry.served, media_type="application/octet-stream")
            if parts[2] == f"{lower}.nuspec":
                return Response(entry.nuspec, media_type="application/xml")
        return JSONResponse({"error": "not found"}, 404)

    def _hive(self, hive: str, lower_id: str) -> list[_Version]:
        entries = sorted(self._packages.get(lower_id, {}).values(), key=lambda e: _sort_key(e.normalized))
        return [e for e in entries if hive == "registration-semver2" or not e.semver2]

    def _registration(self, hive: str, parts: list[str]) -> dict[str, Any] | None:
        entries = self._hive(hive, parts[0])
        if not entries:
            return None
        base = f"{self.base}/v3/{hive}/{parts[0]}/"
        if parts[1:] == ["index.json"]:
            inline = len(entries) <= self.inline_limit
            size = len(entries) if inline else PAGE_SIZE
            chunks = [entries[i : i + size] for i in range(0, len(entries), size)]
            pages = [self._page(chunk, base, inline=inline, items=inline) for chunk in chunks]
            return {"@id": f"{base}index.json", "count": len(pages), "items": pages}
        if len(parts) == 4 and parts[1] == "page":  # page/{lower}/{upper}.json
            lower, upper = parts[2], parts[3].removesuffix(".json")
            keys = [_sort_key(e.normalized) for e in entries]
            chunk = [e for e, k in zip(entries, keys, strict=True) if _sort_key(lower) <= k <= _sort_key(upper)]
            return self._page(chunk, base, inline=False, items=True) if chunk else None
        if len(parts) == 2 and parts[1].endswith(".json"):  # a leaf
            entry = next((e for e in entries if f"{e.normalized}.json" == parts[1]), None)
            if entry is None:
                return None
            return {
                "@id": f"{base}{entry.normalized}.json",
                "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
                "catalogEntry": self._catalog_url(entry),
                "listed": entry.listed,
                "packageContent": self._content_url(entry),
                "published": entry.published if entry.listed else UNLISTED_PUBLISHED,
                "registration": f"{base}index.json",
            }
        return None

    def _page(self, chunk: list[_Version], base: str, *, inline: bool, items: bool) -> dict[str, Any]:
        """A page: inline in the index (``inline``), or served apart (its own URL; ``items`` when it is the page
        document itself rather than its stub in the index)."""
        lower, upper = chunk[0].normalized, chunk[-1].normalized
        page: dict[str, Any] = {
            "@id": f"{base}index.json#page/{lower}/{upper}" if inline else f"{base}page/{lower}/{upper}.json",
            "count": len(chunk),
            "lower": lower,
            "upper": upper,
        }
        if items:
            page["parent"] = f"{base}index.json"
            page["items"] = [
                {
                    "@id": f"{base}{e.normalized}.json",
                    "@type": "Package",
                    "catalogEntry": self._catalog_entry(e),
                    "packageContent": self._content_url(e),
                    "registration": f"{base}index.json",
                }
                for e in chunk
            ]
        return page

    def _content_url(self, e: _Version) -> str:
        lower = e.package_id.lower()
        return f"{self.base}/v3/flat/{lower}/{e.normalized}/{lower}.{e.normalized}.nupkg"

    def _catalog_url(self, e: _Version) -> str:
        return f"{self.base}/v3/catalog/{e.package_id.lower()}.{e.normalized}.json"

    def _by_leaf_name(self, name: str) -> _Version | None:
        for lower_id, versions in self._packages.items():
            for normalized, entry in versions.items():
                if name == f"{lower_id}.{normalized}":
                    return entry
        return None

    def _catalog_entry(self, e: _Version) -> dict[str, Any]:
        """The registration's inline ``catalogEntry`` (no hash here, as on the public gallery)."""
        entry: dict[str, Any] = {
            "@id": self._catalog_url(e),
            "@type": "PackageDetails",
            "id": e.package_id,
            "version": e.version,
            "authors": e.authors,
            "description": e.description,
            "tags": e.tags.split(),
            "listed": e.listed,
            "published": e.published if e.listed else UNLISTED_PUBLISHED,
            "packageContent": self._content_url(e),
            "dependencyGroups": [
                {
                    "@id": f"{self._catalog_url(e)}#dependencygroup/{(tfm or '').lower()}",
                    **({"targetFramework": tfm} if tfm else {}),
                    "dependencies": [
                        {
                            "id": dep,
                            "range": _range(spec),
                            "registration": f"{self.base}/v3/registration/{dep.lower()}/index.json",
                        }
                        for dep, spec in deps
                    ],
                }
                for tfm, deps in e.groups
            ],
        }
        if e.deprecation is not None:
            entry["deprecation"] = {"@id": f"{self._catalog_url(e)}#deprecation", **e.deprecation}
        return entry

    def _catalog_leaf(self, e: _Version) -> dict[str, Any]:
        leaf = self._catalog_entry(e)
        leaf["@type"] = ["PackageDetails", "catalog:Permalink"]
        leaf.update(
            {
                "packageHash": e.hash,
                "packageHashAlgorithm": "SHA512",
                "packageSize": len(e.data),
                "created": e.published,
                "lastEdited": e.published,
            }
        )
        return leaf

    def _search(self, query: dict[str, list[str]]) -> dict[str, Any]:
        q = query.get("q", [""])[0].lower()
        skip, take = int(query.get("skip", ["0"])[0]), int(query.get("take", ["20"])[0])
        prerelease = query.get("prerelease", ["false"])[0].lower() == "true"
        semver2 = query.get("semVerLevel", [""])[0].startswith("2")
        data = []
        for lower_id in sorted(self._packages):
            hive = "registration-semver2" if semver2 else "registration"
            visible = [e for e in self._hive(hive, lower_id) if e.listed and (prerelease or not e.prerelease)]
            if not visible or q not in f"{lower_id} {visible[-1].description.lower()} {visible[-1].tags.lower()}":
                continue
            latest = visible[-1]
            data.append(
                {
                    "@id": f"{self.base}/v3/{hive}/{lower_id}/index.json",
                    "@type": "Package",
                    "registration": f"{self.base}/v3/{hive}/{lower_id}/index.json",
                    "id": latest.package_id,
                    "version": latest.normalized,
                    "description": latest.description,
                    "authors": [latest.authors],
                    "tags": latest.tags.split(),
                    "totalDownloads": 0,
                    "packageTypes": [{"name": "Dependency"}],
                    "versions": [
                        {
                            "version": e.normalized,
                            "downloads": 0,
                            "@id": f"{self.base}/v3/{hive}/{lower_id}/{e.normalized}.json",
                        }
                        for e in visible
                    ],
                }
            )
        return {"totalHits": len(data), "data": data[skip : skip + take]}

    # -- v2 --------------------------------------------------------------------------------------------------------

    def _v2(self, path: str, query: dict[str, list[str]]) -> Response:
        if path == "":
            return Response(_SERVICE_DOCUMENT.format(base=escape(self.v2_url)), media_type="application/xml")
        if path == "FindPackagesById()":
            wanted = _odata_string(query.get("id", ["''"])[0]).lower()
            entries = sorted(self._packages.get(wanted, {}).values(), key=lambda e: _sort_key(e.normalized))
            return self._feed("FindPackagesById", entries)
        if m := re.fullmatch(r"Packages\(Id='([^']*)',Version='([^']*)'\)", path):
            entry = self._packages.get(m.group(1).lower(), {}).get(normalize_version(m.group(2)))
            if entry is None:
                return Response(_ODATA_NOT_FOUND, 404, media_type="application/xml")
            return Response(self._entry(entry, root=True), media_type="application/atom+xml;type=entry;charset=utf-8")
        if path == "Search()":
            return self._v2_search(query)
        if (parts := path.split("/"))[0] == "package" and len(parts) == 3:
            found = self._packages.get(parts[1].lower(), {}).get(normalize_version(parts[2]))
            if found is not None:
                return Response(found.served, media_type="application/zip")
        return Response(_ODATA_NOT_FOUND, 404, media_type="application/xml")

    def _v2_search(self, query: dict[str, list[str]]) -> Response:
        term = _odata_string(query.get("searchTerm", ["''"])[0]).lower()
        flt = query.get("$filter", [""])[0]
        prerelease = query.get("includePrerelease", ["false"])[0].lower() == "true"
        skip, top = int(query.get("$skip", ["0"])[0]), int(query.get("$top", ["30"])[0])
        found: list[_Version] = []
        for lower_id in sorted(self._packages):
            entries = sorted(self._packages[lower_id].values(), key=lambda e: _sort_key(e.normalized))
            entries = [e for e in entries if e.listed and (prerelease or not e.prerelease)]
            if not entries or term not in f"{lower_id} {entries[-1].description.lower()} {entries[-1].tags.lower()}":
                continue
            found += entries[-1:] if "IsLatestVersion" in flt or "IsAbsoluteLatestVersion" in flt else entries
        page = found[skip : skip + top]
        following = None
        if skip + top < len(found):
            params = {k: v[0] for k, v in query.items()} | {"$skip": str(skip + top), "$top": str(top)}
            following = f"{self.v2_url}Search()?" + "&".join(f"{k}={v}" for k, v in params.items())
        return self._feed("Search", page, following)

    def _feed(self, title: str, entries: list[_Version], following: str | None = None) -> Response:
        next_link = f'  <link rel="next" href={quoteattr(following)} />\n' if following else ""
        body = (
            f'<?xml version="1.0" encoding="utf-8"?>\n<feed xml:base={quoteattr(self.v2_url)} {_NAMESPACES}>\n'
            f'  <id>{escape(self.v2_url + title)}</id>\n  <title type="text">{title}</title>\n'
            f"  <updated>2020-01-01T00:00:00Z</updated>\n"
            f'  <link rel="self" title="{title}" href="{title}" />\n'
            + "".join(self._entry(e) for e in entries)
            + next_link
            + "</feed>\n"
        )
        return Response(body.encode(), media_type=ATOM)

    def _entry(self, e: _Version, *, root: bool = False) -> str:
        ids = sorted(self._packages[e.package_id.lower()].values(), key=lambda x: _sort_key(x.normalized))
        listed = [x for x in ids if x.listed]
        stable = [x for x in listed if not x.prerelease]
        published = _edm(e.published if e.listed else UNLISTED_PUBLISHED)
        dependencies = "|".join(f"{dep}:{spec}:{tfm or ''}" for tfm, deps in e.groups for dep, spec in deps)
        url = f"{self.v2_url}Packages(Id='{e.package_id}',Version='{e.normalized}')"
        download = f"{self.v2_url}package/{e.package_id}/{e.normalized}"

        def prop(name: str, value: str, kind: str | None = None) -> str:
            typed = f' m:type="{kind}"' if kind else ""
            return f"      <d:{name}{typed}>{escape(value)}</d:{name}>\n"

        def flag(value: bool) -> str:
            return "true" if value else "false"

        return (
            ('<?xml version="1.0" encoding="utf-8"?>\n' if root else "")
            + f"  <entry{' ' + _NAMESPACES if root else ''}>\n"
            + f"    <id>{escape(url)}</id>\n"
            + f'    <title type="text">{escape(e.package_id)}</title>\n'
            + f'    <summary type="text">{escape(e.description)}</summary>\n'
            + f"    <updated>{published}Z</updated>\n"
            + f"    <author><name>{escape(e.authors)}</name></author>\n"
            + f'    <content type="application/zip" src={quoteattr(download)} />\n'
            + "    <m:properties>\n"
            + prop("Id", e.package_id)
            + prop("Version", e.version)
            + prop("NormalizedVersion", e.normalized)
            + prop("Title", e.package_id)
            + prop("Authors", e.authors)
            + prop("Description", e.description)
            + prop("Summary", "")
            + prop("Tags", e.tags)
            + prop("Dependencies", dependencies)
            + prop("IsLatestVersion", flag(bool(stable) and stable[-1] is e), "Edm.Boolean")
            + prop("IsAbsoluteLatestVersion", flag(bool(listed) and listed[-1] is e), "Edm.Boolean")
            + prop("IsPrerelease", flag(e.prerelease), "Edm.Boolean")
            + prop("Listed", flag(e.listed), "Edm.Boolean")
            + prop("Published", published, "Edm.DateTime")
            + prop("Created", _edm(e.published), "Edm.DateTime")
            + prop("LastUpdated", _edm(e.published), "Edm.DateTime")
            + prop("PackageHash", e.hash)
            + prop("PackageHashAlgorithm", "SHA512")
            + prop("PackageSize", str(len(e.data)), "Edm.Int64")
            + prop("DownloadCount", "0", "Edm.Int32")
            + prop("VersionDownloadCount", "0", "Edm.Int32")
            + prop("RequireLicenseAcceptance", "false", "Edm.Boolean")
            + "    </m:properties>\n"
            + "  </entry>\n"
        )


_NAMESPACES = (
    'xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)
_SERVICE_DOCUMENT = """<?xml version="1.0" encoding="utf-8"?>
<service xml:base="{base}" xmlns="http://www.w3.org/2007/app" xmlns:atom="http://www.w3.org/2005/Atom">
  <workspace>
    <atom:title type="text">Default</atom:title>
    <collection href="Packages"><atom:title type="text">Packages</atom:title></collection>
  </workspace>
</service>
"""
_ODATA_NOT_FOUND = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<m:error xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices'
    b'/metadata"><m:code /><m:message xml:lang="en-US">Resource not found for the segment.</m:message></m:error>\n'
)


def _odata_string(literal: str) -> str:
    """``'Name'`` -> ``Name`` (an OData string literal, quotes doubled inside)."""
    return literal[1:-1].replace("''", "'") if len(literal) >= 2 and literal[0] == literal[-1] == "'" else literal


def _edm(iso: str) -> str:
    """An Edm.DateTime as the gallery writes it: ISO 8601 without a zone."""
    return iso.replace("+00:00", "").removesuffix("Z")


def _json(body: dict[str, Any], gz: bool) -> Response:
    raw = json.dumps(body).encode()
    if gz:
        return Response(gzip.compress(raw), media_type="application/json", headers={"Content-Encoding": "gzip"})
    return Response(raw, media_type="application/json")


@pytest.fixture
def nuget_gallery() -> Iterator[NuGetGallery]:
    """A fresh, empty gallery, stopped at teardown."""
    with NuGetGallery() as gallery:
        yield gallery


@pytest.fixture
def make_nuget_gallery() -> Iterator[Callable[..., NuGetGallery]]:
    """A factory of fresh galleries (keyword arguments as ``NuGetGallery``), all stopped at teardown."""
    with contextlib.ExitStack() as stack:
        yield lambda **kw: stack.enter_context(NuGetGallery(**kw))
