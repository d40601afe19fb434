"""Stream-through of cold upstream files, over real HTTP: the feed under uvicorn and an upstream whose file bodies
stop part-way until the test lets them go on, both on 127.0.0.1 in the test's event loop (both backends).

httpx's in-process transport hands a response over only once its body is complete, so it could not show bytes
arriving early, nor what a client sees when a body is cut short: these tests use sockets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from feed_core.app import create_app
from feed_core.domain.models import PackageVersion
from feed_core.service.container import build_services
from feed_core.service.stream_through import HOLD_BACK_BYTES
from feed_core.settings import Settings
from feed_core.storage.packages import content_key
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory
from tests.gated_upstream import GatedUpstream
from tests.npm_packages import make_tarball
from tests.python_packages import make_wheel

HOST = "127.0.0.1"
FEEDS = f"/{ORG}/_apis/packaging/feeds"
PROTOCOLS = ["npm", "pypi"]
CUT_SHORT = (httpx.RemoteProtocolError, httpx.ReadError)


class _Server(uvicorn.Server):
    """uvicorn in the test's loop, leaving the test runner's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: MutableClock) -> AsyncIterator[Api]:
    """The feed behind uvicorn on a 127.0.0.1 port, with an httpx client on it."""
    services = await build_services(settings, clock=clock)
    await services.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    sock = socket.create_server((HOST, 0))
    config = uvicorn.Config(
        create_app(services=services), lifespan="off", log_config=None, access_log=False, ws="none",
        timeout_graceful_shutdown=2,
    )  # fmt: skip
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "the feed server did not start"
            await asyncio.sleep(0.01)
        base = f"http://{HOST}:{sock.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=20) as http:
            yield Api(http, services)
    finally:
        server.should_exit = True
        await task
        await services.close()
        sock.close()


@pytest.fixture
async def upstream() -> AsyncIterator[GatedUpstream]:
    gated = await GatedUpstream.start()
    yield gated
    await gated.stop()


@contextlib.asynccontextmanager
async def gated_feed(
    make_settings: SettingsFactory, clock: MutableClock, upstream: GatedUpstream, **overrides: float
) -> AsyncIterator[Api]:
    """A feed whose upstreams are the gated registry (npm) and index (PyPI); carol collaborator, bob reader."""
    timeouts = {"upstream_timeout": 2.0, "upstream_connect_timeout": 1.0, "upstream_download_timeout": 20.0}
    async with serving(make_settings(**{**timeouts, **overrides}), clock) as api:
        await api.create_feed("feed")
        sources = [
            {"name": "gated-npm", "protocol": "npm", "location": upstream.url, "upstreamSourceType": "public"},
            {"name": "gated-pypi", "protocol": "pypi", "location": upstream.url + "simple/"},
        ]
        r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources}, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


@pytest.fixture
async def feed(make_settings: SettingsFactory, clock: MutableClock, upstream: GatedUpstream) -> AsyncIterator[Api]:
    async with gated_feed(make_settings, clock, upstream) as api:
        yield api


@dataclass(frozen=True)
class Cold:
    """A file only the upstream has: where the feed serves it, where the upstream does, and what it is."""

    url: str
    upstream_path: str
    data: bytes
    info: str  # the version in the REST API
    metadata: bytes = b""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def noise(size: int) -> str:
    """Text that compresses badly, to make files well past the hold-back."""
    return base64.b64encode(os.urandom(size)).decode()


def tampered(data: bytes) -> bytes:
    """The same length, one bit changed near the end (after any split a test makes)."""
    at = len(data) - 100
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def add_cold(
    upstream: GatedUpstream,
    protocol: str,
    name: str,
    *,
    big: bool = True,
    tamper: bool = False,
    gate: asyncio.Event | None = None,
) -> Cold:
    """A one-file version on the upstream; with ``gate``, its body stops half-way until the gate is set. npm
    tarballs are sent with a Content-Length, Python files chunked."""
    code = f"// {noise(300_000)}\n" if big else ""
    if protocol == "npm":
        data = make_tarball(name, "1.0.0", code=code)
        sent = tampered(data) if tamper else None
        path = upstream.add_npm(name, "1.0.0", data, sent=sent, split=len(data) // 2, gate=gate)
        info = f"{FEEDS}/feed/npm/{name}/versions/1.0.0?api-version=7.1"
        return Cold(f"{Api.registry()}{name}/-/{name}-1.0.0.tgz", path, data, info)
    filename, data, metadata = make_wheel(name, "1.0", code=f"DATA = {code!r}\n" if big else "VALUE = 1\n")
    sent = tampered(data) if tamper else None
    path = upstream.add_pypi(
        name, "1.0", filename, data, metadata, sent=sent, split=len(data) // 2, gate=gate, content_length=False
    )
    url = f"/{ORG}/_packaging/feed/pypi/download/{name}/1.0/{filename}"
    return Cold(url, path, data, f"{FEEDS}/feed/pypi/packages/{name}/versions/1.0", metadata)


async def bytes_before_the_cut(api: Api, cold: Cold, gate: asyncio.Event) -> int:
    """Download ``cold`` as carol, opening ``gate`` once bytes arrive; how many arrived before the body was cut
    short (a complete body fails the test)."""
    received = 0
    try:
        async with api.http.stream("GET", cold.url, headers=api.auth("carol")) as r:
            assert r.status_code == 200  # the response started before the file was complete
            async for piece in r.aiter_bytes():
                received += len(piece)
                gate.set()
    except CUT_SHORT:
        return received
    raise AssertionError(f"the whole body ({received} bytes) was sent")


async def version_status(api: Api, cold: Cold) -> int:
    return (await api.http.get(cold.info, headers=api.auth())).status_code


async def saved_soon(api: Api, cold: Cold) -> None:
    """The version is committed within a few seconds: a body ends once its file is verified, and the store and the
    commit finish after it."""
    deadline = time.monotonic() + 10
    while await version_status(api, cold) != 200:
        assert time.monotonic() < deadline, "the version was not saved"
        await asyncio.sleep(0.02)


async def stored(api: Api, data: bytes) -> bool:
    return await api.services.packages.store.blobs.stat(content_key(hashlib.sha256(data).hexdigest())) is not None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_first_bytes_reach_the_client_while_the_upstream_is_still_sending(
    feed: Api, upstream: GatedUpstream, protocol: str
) -> None:
    gate = asyncio.Event()
    cold = add_cold(upstream, protocol, f"streamed-{protocol}", gate=gate)
    # Refused before any download: a reader may not make the feed save.
    assert (await feed.http.get(cold.url, headers=feed.auth("bob"))).status_code == 404
    assert upstream.requests[cold.upstream_path] == 0
    async with feed.http.stream("GET", cold.url, headers=feed.auth("carol")) as r:
        assert r.status_code == 200
        if protocol == "npm":  # the upstream declared the size
            assert r.headers["content-length"] == str(len(cold.data))
        else:
            assert "content-length" not in r.headers and r.headers["transfer-encoding"] == "chunked"
        pieces = r.aiter_bytes()
        first = await anext(pieces)
        # The upstream has sent at most half the file and is waiting: the client already holds its beginning.
        assert not gate.is_set() and upstream.sent[cold.upstream_path] <= len(cold.data) // 2
        assert first and cold.data.startswith(first)
        assert await version_status(feed, cold) == 404  # nothing is committed before the whole file is verified
        gate.set()
        body = first + b"".join([piece async for piece in pieces])
    assert body == cold.data
    await saved_soon(feed, cold)
    assert upstream.requests[cold.upstream_path] == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_mismatch_cuts_the_body_short_and_stores_nothing(
    feed: Api, upstream: GatedUpstream, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    gate = asyncio.Event()
    cold = add_cold(upstream, protocol, f"tampered-{protocol}", tamper=True, gate=gate)
    received = await bytes_before_the_cut(feed, cold, gate)
    assert 0 < received <= len(cold.data) - HOLD_BACK_BYTES
    assert await version_status(feed, cold) == 404
    assert not await stored(feed, cold.data) and not await stored(feed, tampered(cold.data))
    if cold.metadata:
        assert not await stored(feed, cold.metadata)  # its companion file is not kept either
    # Nothing failed for good: the next request asks the upstream again (and is cut short again).
    with pytest.raises(CUT_SHORT):
        await feed.http.get(cold.url, headers=feed.auth("carol"))
    assert upstream.requests[cold.upstream_path] == 2
    # Cut short on purpose: one warning line per response, no server error with a traceback.
    cuts = [r for r in caplog.records if r.name == "feed_core" and "cut short" in r.getMessage()]
    assert len(cuts) == 2 and all(r.levelno == logging.WARNING and not r.exc_info for r in cuts)
    assert cold.url.split("?")[0] in cuts[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= logging.ERROR]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_small_mismatched_file_is_a_plain_error(feed: Api, upstream: GatedUpstream, protocol: str) -> None:
    """A file within the hold-back is answered only once it is saved, so its refusal keeps its status and message."""
    cold = add_cold(upstream, protocol, f"small-{protocol}", big=False, tamper=True)
    assert len(cold.data) < HOLD_BACK_BYTES
    r = await feed.http.get(cold.url, headers=feed.auth("carol"))
    assert r.status_code == 502 and "do not match its declared" in r.text
    assert await version_status(feed, cold) == 404 and not await stored(feed, cold.data)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_concurrent_requesters_share_one_download(feed: Api, upstream: GatedUpstream, protocol: str) -> None:
    gate = asyncio.Event()
    cold = add_cold(upstream, protocol, f"shared-{protocol}", gate=gate)
    async with feed.http.stream("GET", cold.url, headers=feed.auth("carol")) as first:
        first_pieces = first.aiter_bytes()
        first_body = await anext(first_pieces)
        # A second requester joins mid-flight: it gets what arrived so far, then follows along.
        async with feed.http.stream("GET", cold.url, headers=feed.auth()) as second:
            assert second.status_code == 200
            second_pieces = second.aiter_bytes()
            second_body = await anext(second_pieces)
            assert cold.data.startswith(second_body)
            # A HEAD waits for the save and is answered from storage.
            head = asyncio.create_task(feed.http.head(cold.url, headers=feed.auth("carol")))
            await asyncio.sleep(0.05)
            assert not head.done()
            gate.set()
            first_body += b"".join([piece async for piece in first_pieces])
            second_body += b"".join([piece async for piece in second_pieces])
    assert first_body == second_body == cold.data
    answer = await head
    assert answer.status_code == 200 and answer.headers["content-length"] == str(len(cold.data))
    assert upstream.requests[cold.upstream_path] == 1  # one upstream download
    saved = (await feed.http.get(cold.info, headers=feed.auth())).json()
    assert saved["provenance"]["savedBy"] == "carol"  # saved once, by the first requester


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_saved_version_keeps_its_provenance_and_is_served_from_storage_later(
    feed: Api, upstream: GatedUpstream, protocol: str
) -> None:
    cold = add_cold(upstream, protocol, f"kept-{protocol}")
    r = await feed.http.get(cold.url, headers=feed.auth("carol"))
    assert r.status_code == 200 and r.content == cold.data
    await saved_soon(feed, cold)
    body = (await feed.http.get(cold.info, headers=feed.auth("bob"))).json()
    (hop,) = body["sourceChain"]
    prov = body["provenance"]
    assert hop["name"] == f"gated-{protocol}" and prov["source"]["name"] == hop["name"]
    assert (
        prov["savedBy"] == "carol"
        and prov["fetchedAt"]
        and prov["url"] == upstream.url.rstrip("/") + cold.upstream_path
    )
    if protocol == "npm":
        assert prov["verifiedWith"] == "sha512" and prov["upstreamIntegrity"].startswith("sha512-")
        assert prov["upstreamShasum"] == hashlib.sha1(cold.data).hexdigest()  # noqa: S324 - npm's shasum
    else:
        assert prov["verifiedWith"] == "sha256" and prov["upstreamSha256"] == cold.sha256
    assert await stored(feed, cold.data)
    await upstream.stop()  # from now on only storage can answer
    again = await feed.http.get(cold.url, headers=feed.auth("bob"))
    assert again.status_code == 200 and again.content == cold.data
    assert again.headers["etag"] == f'"{cold.sha256}"'  # the stored blob's answer
    if cold.metadata:
        meta = await feed.http.get(cold.url + ".metadata", headers=feed.auth("bob"))
        assert meta.status_code == 200 and meta.content == cold.metadata
    assert upstream.requests[cold.upstream_path] == 1


async def test_a_client_that_goes_away_does_not_stop_the_save(feed: Api, upstream: GatedUpstream) -> None:
    gate = asyncio.Event()
    cold = add_cold(upstream, "npm", "abandoned", gate=gate)
    async with feed.http.stream("GET", cold.url, headers=feed.auth("carol")) as r:
        assert cold.data.startswith(await anext(r.aiter_bytes()))
    # The client closed its connection half-way; the download goes on and the version is saved.
    gate.set()
    await saved_soon(feed, cold)
    assert await stored(feed, cold.data)
    r2 = await feed.http.get(cold.url, headers=feed.auth("bob"))
    assert r2.status_code == 200 and r2.content == cold.data


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_body_ends_once_verified_without_waiting_for_the_commit(
    feed: Api, upstream: GatedUpstream, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = add_cold(upstream, protocol, f"early-{protocol}", big=False)
    packages = feed.services.packages
    commit_saved, committing = packages.commit_saved, asyncio.Event()

    async def held_commit(*args: Any) -> PackageVersion:
        await committing.wait()
        return await commit_saved(*args)

    monkeypatch.setattr(packages, "commit_saved", held_commit)
    r = await feed.http.get(cold.url, headers=feed.auth("carol"))
    assert r.status_code == 200 and r.content == cold.data
    assert await version_status(feed, cold) == 404  # not committed yet: the client did not wait for it
    # Meanwhile another requester still shares the download, and a HEAD waits for the commit.
    again = await feed.http.get(cold.url, headers=feed.auth())
    assert again.status_code == 200 and again.content == cold.data
    head = asyncio.create_task(feed.http.head(cold.url, headers=feed.auth("carol")))
    await asyncio.sleep(0.05)
    assert not head.done()
    committing.set()
    assert (await head).status_code == 200
    await saved_soon(feed, cold)
    assert upstream.requests[cold.upstream_path] == 1
    body = (await feed.http.get(cold.info, headers=feed.auth())).json()
    assert body["provenance"]["savedBy"] == "carol"  # provenance as ever, committed after verification


async def _failed_then_saved(api: Api, upstream: GatedUpstream, cold: Cold, caplog: pytest.LogCaptureFixture) -> None:
    """The file was sent in full, the save failed: logged, nothing committed; the next request saves it."""
    deadline = time.monotonic() + 10
    while not [r for r in caplog.records if "sent to its requesters but not saved" in r.getMessage()]:
        assert time.monotonic() < deadline, "the failed save was not logged"
        await asyncio.sleep(0.02)
    assert await version_status(api, cold) == 404
    again = await api.http.get(cold.url, headers=api.auth("carol"))
    assert again.status_code == 200 and again.content == cold.data
    await saved_soon(api, cold)
    assert upstream.requests[cold.upstream_path] == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_commit_failing_after_the_body_was_sent_is_logged_and_retried(
    feed: Api, upstream: GatedUpstream, protocol: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    cold = add_cold(upstream, protocol, f"unsaved-{protocol}", big=False)
    packages = feed.services.packages
    commit_saved, failures = packages.commit_saved, [RuntimeError("the table store went away")]

    async def failing_once(*args: Any) -> PackageVersion:
        if failures:
            raise failures.pop()
        return await commit_saved(*args)

    monkeypatch.setattr(packages, "commit_saved", failing_once)
    r = await feed.http.get(cold.url, headers=feed.auth("carol"))
    assert r.status_code == 200 and r.content == cold.data  # verified: sent whatever becomes of the save
    await _failed_then_saved(feed, upstream, cold, caplog)
    (logged,) = [r for r in caplog.records if "not saved" in r.getMessage()]
    assert logged.levelno == logging.WARNING and "went away" in logged.getMessage() and logged.exc_info


async def test_a_store_and_commit_that_outlast_the_download_budget_give_up(
    make_settings: SettingsFactory,
    clock: MutableClock,
    upstream: GatedUpstream,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    cold = add_cold(upstream, "npm", "stuck", big=False)
    async with gated_feed(make_settings, clock, upstream, upstream_download_timeout=1.0) as api:
        packages = api.services.packages
        commit_saved, stuck = packages.commit_saved, [asyncio.Event()]

        async def stuck_once(*args: Any) -> PackageVersion:
            if stuck:
                await stuck.pop().wait()  # never set
            return await commit_saved(*args)

        monkeypatch.setattr(packages, "commit_saved", stuck_once)
        r = await api.http.get(cold.url, headers=api.auth("carol"))
        assert r.status_code == 200 and r.content == cold.data
        await _failed_then_saved(api, upstream, cold, caplog)
    assert any("took longer than 1 s" in r.getMessage() for r in caplog.records)
