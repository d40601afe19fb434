"""The shared download's state (``Flight``) and its spool, without any network; and which requests stream."""

from __future__ import annotations

import asyncio
import os
from typing import Any, cast

import pytest
from starlette.requests import Request

from feed_core.domain.errors import UpstreamError
from feed_core.domain.models import PackageVersion
from feed_core.protocols.files import AZURE_FUNCTIONS_SCOPE_KEY, streams_through
from feed_core.service.stream_through import HOLD_BACK_BYTES, Flight, Spool, StreamAborted
from feed_core.service.upstream import FileSave, UpstreamService

DATA = os.urandom(3 * HOLD_BACK_BYTES + 123)


def version(sha256: str = "x") -> PackageVersion:
    return PackageVersion(
        protocol="npm",
        name="p",
        version="1.0.0",
        manifest={},
        filename="p-1.0.0.tgz",
        sha256=sha256,
        sha512_integrity="",
        sha1="",
        size=len(DATA),
        published="2020-01-01T00:00:00Z",
        publisher="carol",
    )


async def collect(flight: Flight) -> bytes:
    return b"".join([piece async for piece in flight.body()])


async def test_a_spool_spills_to_disk_past_its_memory_bound_and_reads_back_any_range() -> None:
    spool = Spool(memory_bytes=1000)
    for start in range(0, len(DATA), 700):
        await spool.append(DATA[start : start + 700])
    assert spool.size == len(DATA)
    assert await spool.read_all() == DATA
    assert await spool.read(500, 1000) == DATA[500:1500]  # across the bytes written before the spill
    assert b"".join([block async for block in spool.chunks(4096)]) == DATA


async def test_all_but_the_hold_back_is_released_until_the_flight_finishes() -> None:
    flight = Flight(memory_bytes=1 << 20)
    reader = asyncio.create_task(collect(flight))
    await flight.append(DATA[:100])
    assert flight.released == 0  # nothing beyond the hold-back yet
    await flight.append(DATA[100:])
    assert flight.released == len(DATA) - HOLD_BACK_BYTES
    await asyncio.sleep(0.01)
    assert not reader.done()  # the reader has what was released and waits for the rest
    assert await flight.started()
    flight.finish(version(), served_matches=True)
    assert await reader == DATA
    assert await collect(flight) == DATA  # a reader that starts late gets it all from the spool


async def test_a_failure_cuts_every_started_body_short_and_is_a_plain_error_before_any() -> None:
    flight = Flight(memory_bytes=1 << 20)
    await flight.append(DATA)
    reader = asyncio.create_task(collect(flight))
    await asyncio.sleep(0.01)
    flight.fail(UpstreamError("sent bytes that do not match"))
    with pytest.raises(StreamAborted):
        await reader
    with pytest.raises(UpstreamError, match="do not match"):  # a request that has not started answers the error
        await flight.started()


async def test_a_small_file_starts_only_once_saved_or_refused() -> None:
    refused, saved = Flight(memory_bytes=1 << 20), Flight(memory_bytes=1 << 20)
    for flight in (refused, saved):
        await flight.append(DATA[:1000])
    waiting = asyncio.create_task(refused.started())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    refused.fail(UpstreamError("refused"))
    with pytest.raises(UpstreamError):
        await waiting
    saved.finish(version(), served_matches=True)
    assert await saved.started() and await collect(saved) == DATA[:1000]


async def test_a_committed_version_that_is_not_the_download_is_served_from_storage() -> None:
    flight = Flight(memory_bytes=1 << 20)
    await flight.append(DATA)
    reader = asyncio.create_task(collect(flight))
    await asyncio.sleep(0.01)
    flight.finish(version("published-first"), served_matches=False)
    with pytest.raises(StreamAborted):  # what it already sent is not that version's: cut short
        await reader
    assert not await flight.started()  # a request not started yet serves the stored version instead
    assert (await flight.saved()).sha256 == "published-first"


async def test_once_verified_every_reader_finishes_whatever_becomes_of_the_save() -> None:
    flight = Flight(memory_bytes=1 << 20)
    await flight.append(DATA[:1000])  # within the hold-back: nothing is released before verification
    waiting = asyncio.create_task(flight.started())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    flight.verified()
    assert await waiting and flight.complete and not flight.done
    assert await collect(flight) == DATA[:1000]  # complete before the store and the commit
    reader = asyncio.create_task(collect(flight))
    flight.fail(UpstreamError("the commit failed"))
    assert await reader == DATA[:1000]  # not cut short: the bytes were verified
    assert await flight.started()  # a request that joins now still gets the verified file
    with pytest.raises(UpstreamError, match="commit failed"):  # while a request that waits for the save fails
        await flight.saved()


async def test_a_verified_file_sent_in_full_is_kept_when_another_version_was_committed() -> None:
    flight = Flight(memory_bytes=1 << 20)
    await flight.append(DATA)
    flight.verified()
    assert await collect(flight) == DATA
    flight.finish(version("published-first"), served_matches=False)
    assert not await flight.started()  # later requests serve the committed version from storage


async def test_a_save_closed_before_it_ran_fails_its_readers_and_is_not_joined_again() -> None:
    # close() cancels a download that has not started yet: its task never runs the save's own handlers.
    nothing = cast(Any, None)
    upstreams = UpstreamService(state=nothing, packages=nothing, catalog=nothing, settings=nothing, clock=nothing)
    plan = FileSave(source=nothing, label="p@1.0.0", url="http://127.0.0.1:9/p.tgz", record=nothing, served=nothing)

    async def commit(record: PackageVersion) -> PackageVersion:
        return record

    flight = upstreams.stream_save(("feed", "npm", "p", "1.0.0"), plan, commit)
    await upstreams.close()
    with pytest.raises(UpstreamError, match="interrupted"):  # not a reader left waiting for ever
        await asyncio.wait_for(flight.started(), 5)
    again = upstreams.stream_save(("feed", "npm", "p", "1.0.0"), plan, commit)
    assert again is not flight  # a later request starts its own download instead of joining the dead one
    await upstreams.close()


def request(method: str = "GET", headers: dict[str, str] | None = None, **scope: object) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": method, "headers": raw, "path": "/", **scope})


def test_only_plain_gets_outside_the_functions_host_stream_through() -> None:
    assert streams_through(request())
    assert not streams_through(request("HEAD"))
    assert not streams_through(request(headers={"Range": "bytes=0-99"}))
    assert not streams_through(request(headers={"If-None-Match": '"abc"'}))
    # HTTP/1.0 ends a body of unknown length by closing the connection: a cut-short body would look complete.
    assert streams_through(request(http_version="1.1"))
    assert not streams_through(request(http_version="1.0"))
    # The Functions host buffers whole responses: there, a cold file is saved first, then redirected to.
    assert not streams_through(request(**{AZURE_FUNCTIONS_SCOPE_KEY: "00000000-0000-0000-0000-000000000001"}))
