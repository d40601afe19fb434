"""Building and publishing small Universal Packages through the wire, for the API tests."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

from feed_core.domain.chunking import ChunkSizes, chunk_bytes
from feed_core.domain.upack import Manifest, build_manifest, manifest_file
from tests.api.conftest import ORG, Api

#: Small chunks, so that a few KiB make several.
SIZES = ChunkSizes(min_size=64, avg_size=256, max_size=1024)


@dataclass
class Package:
    manifest: Manifest
    chunks: dict[str, bytes]
    files: dict[str, bytes]

    @property
    def body(self) -> bytes:
        return self.manifest.canonical_json


def package(files: dict[str, bytes], modes: dict[str, int] | None = None) -> Package:
    chunks: dict[str, bytes] = {}
    entries = []
    for path, data in files.items():
        cut = chunk_bytes(data, SIZES)
        chunks.update((c.sha256, c.data) for c in cut)
        entries.append(manifest_file(path, (modes or {}).get(path, 0o644), cut))
    return Package(build_manifest(entries), chunks, files)


def random_package(seed: int = 0, files: int = 3, size: int = 5000) -> Package:
    del seed
    return package({f"dir/file{i}.bin": os.urandom(size) for i in range(files)})


def base(feed: str = "feed", view: str | None = None) -> str:
    return f"/{ORG}/_packaging/{feed}{'@' + view if view else ''}/upack"


async def query(api: Api, hashes: list[str], *, who: str = "alice", feed: str = "feed") -> httpx.Response:
    return await api.http.post(f"{base(feed)}/chunks/query", json={"chunks": hashes}, headers=api.auth(who))


async def put_chunk(api: Api, data: bytes, *, who: str = "alice", feed: str = "feed", sha: str = "") -> httpx.Response:
    sha = sha or hashlib.sha256(data).hexdigest()
    return await api.http.put(f"{base(feed)}/chunks/{sha}", content=data, headers=api.auth(who))


async def commit(
    api: Api,
    name: str,
    version: str,
    body: bytes,
    *,
    who: str = "alice",
    feed: str = "feed",
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    return await api.http.put(
        f"{base(feed)}/packages/{name}/versions/{version}",
        content=body,
        headers={**api.auth(who), "Content-Type": "application/json", **(headers or {})},
        params=params,
    )


async def publish(api: Api, name: str, version: str, pkg: Package, *, who: str = "alice", feed: str = "feed") -> Any:
    """Query, upload what is missing, commit: the client's publish. Returns the commit's body."""
    r = await query(api, list(pkg.chunks), who=who, feed=feed)
    assert r.status_code == 200, r.text
    for sha in r.json()["missing"]:
        up = await put_chunk(api, pkg.chunks[sha], who=who, feed=feed)
        assert up.status_code == 201, up.text
    r = await commit(api, name, version, pkg.body, who=who, feed=feed)
    assert r.status_code == 201, r.text
    return r.json()


def hostile(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()
