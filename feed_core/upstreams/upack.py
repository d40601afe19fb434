"""Universal Packages upstreams: other feeds of this service only (as in Azure Artifacts), read through their views
by the engine directly from storage. There is no remote document to fetch: the fetching entries refuse.

Saving a version from another feed copies nothing, as for every internal source: the manifest and the chunks are
the shared blobs both feeds reference. What a save checks is that they are all there and are what the upstream
version says: the manifest's bytes hash to its total hash, it parses, and every chunk it lists is stored with the
size it gives. Each blob is renewed on the way, so garbage collection spares it until the saved row is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import NoReturn

import httpx

from feed_core.concurrency import for_each
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.upack import FEED_LIMITS, UpackError, parse_manifest
from feed_core.storage.packages import content_key
from feed_core.storage.ports import BlobStore
from feed_core.upstreams.http import Fetched, UpstreamFailure
from feed_core.upstreams.models import BadDocument, UpstreamPackage, UpstreamVersion

_RENEW_CONCURRENCY = 32
#: What a manifest may hold here: as a publish to this service allows.
LIMITS = FEED_LIMITS


def _internal_only() -> NoReturn:
    raise UpstreamFailure(
        "Universal Packages take only other feeds of this service as upstreams; use an internal source",
        permanent=True,
    )


async def fetch_document(
    client: httpx.AsyncClient, source: UpstreamSource, name: str, **_: object
) -> Fetched:  # pragma: no cover - the engine asks only external sources, which are refused when configured
    del client, source, name
    _internal_only()


async def parse_document(body: bytes, name: str, location: str) -> UpstreamPackage:  # pragma: no cover
    del body, name, location
    _internal_only()


async def ping(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> None:  # pragma: no cover
    del client, source, budget
    _internal_only()


async def keep_pieces(blobs: BlobStore, uv: UpstreamVersion) -> int:
    """Check and renew the stored manifest and chunks of another feed's version; the package's size."""
    data = await blobs.read_all(uv.files_manifest)
    if data is None:
        raise BadDocument(f"the manifest of version {uv.version} is missing from the upstream feed's storage")
    if hashlib.sha256(data).hexdigest() != uv.sha256:
        raise BadDocument(f"the manifest of version {uv.version} does not hash to its total hash {uv.sha256}")
    try:
        manifest = await asyncio.to_thread(parse_manifest, data, LIMITS)
    except UpackError as exc:
        raise BadDocument(f"the manifest of version {uv.version} is not valid: {exc.message}") from None
    await blobs.renew(uv.files_manifest)

    async def renew(item: tuple[str, int]) -> None:
        sha, size = item
        info = await blobs.renew(content_key(sha))
        if info is None or info.size != size:
            raise BadDocument(f"chunk {sha} of version {uv.version} is missing or damaged in storage")

    await for_each(manifest.chunk_sizes().items(), renew, _RENEW_CONCURRENCY)
    return manifest.total_size
