"""Review probes (branch review-b): client defects in feed_core/universal. Each test states the behaviour
the client should have and FAILS on 3ae0dc6."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from feed_core.domain.chunking import chunk_bytes
from feed_core.domain.upack import build_manifest, manifest_file
from feed_core.universal.client import UniversalError, UpackClient, locate
from feed_core.universal.publish import publish
from tests.unit.test_universal_client import ORG, _download_from, _hostile_feed


async def test_probe_a_lost_commit_response_is_not_a_failed_publish(tmp_path: Path) -> None:
    """The feed commits, the connection drops before the 201 arrives; the client's retry gets 409
    'already exists' for its own version (same total hash) and reports the publish as failed."""
    (tmp_path / "f").write_bytes(os.urandom(5000))
    stored: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/upack/", 1)[1]
        if request.method == "GET":
            if not stored:
                return httpx.Response(404, json={"message": "no such package"})
            return httpx.Response(200, json={"name": "p", "versions": [{"version": "1.0.0", "totalHash": stored["t"]}]})
        if path == "chunks/query":
            return httpx.Response(200, json={"missing": json.loads(request.content)["chunks"]})
        if path.startswith("chunks/"):
            return httpx.Response(201, json={})
        if stored:
            return httpx.Response(409, json={"message": "p@1.0.0 already exists in feed f: publish a new version"})
        stored["t"] = request.headers["X-Upack-Total-Hash"]  # committed ...
        raise httpx.ReadError("connection reset by peer", request=request)  # ... but the answer is lost

    report = await publish(
        locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(handler)
    )
    assert report.total_hash == stored["t"]


async def test_probe_a_503_with_a_body_longer_than_a_small_chunk_is_retried() -> None:
    """Every response of a chunk GET is capped at the chunk's size, error answers too: a 503 whose JSON
    message is longer than a 5-byte chunk is a hard failure instead of a retry (and its message is lost)."""
    data = b"tiny!"
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(503, json={"message": "the storage account is busy, try again"})
        return httpx.Response(200, content=data)

    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    async with UpackClient(
        locate(ORG, "f", None, None), "pat", transport=httpx.MockTransport(handler), backoff_first=0.001
    ) as c:
        assert await c.chunk("p", "1.0.0", sha, len(data)) == data


async def test_probe_a_download_applies_the_umask_to_modes(tmp_path: Path) -> None:
    """A publisher (or hostile feed) sends mode 0o777/0o666; the client chmods it verbatim, so downloaded files
    are world-writable whatever the user's umask (tar/unzip as a user apply the umask)."""
    one = chunk_bytes(b"#!/bin/sh\necho hi\n")
    manifest = build_manifest([manifest_file("tool", 0o777, one), manifest_file("data", 0o666, one)])
    old = os.umask(0o022)
    try:
        await _download_from(
            _hostile_feed(manifest.canonical_json, manifest.total_hash, {c.sha256: c.data for c in one}), tmp_path
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "tool").stat().st_mode) & 0o022 == 0
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) & 0o022 == 0


_ = (UniversalError, pytest)


async def test_probe_a_long_non_ascii_file_name_can_be_downloaded(tmp_path: Path) -> None:
    """The temporary name keeps 200 *characters* of the target's name plus 21 bytes: a valid 240-byte name of
    80 CJK characters (the manifest allows 255-byte segments) gives a 262-byte temporary name: ENAMETOOLONG."""
    name = "\u6587" * 80
    assert len(name.encode()) == 240
    data = chunk_bytes(b"content")
    manifest = build_manifest([manifest_file(name, 0o644, data)])
    await _download_from(
        _hostile_feed(manifest.canonical_json, manifest.total_hash, {c.sha256: c.data for c in data}), tmp_path
    )
    assert (tmp_path / name).read_bytes() == b"content"
