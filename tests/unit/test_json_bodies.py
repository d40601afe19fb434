"""JSON request bodies: the nesting pre-scan stops early, and large bodies are parsed off the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from feed_core.domain.errors import BadRequestError
from feed_core.protocols.http import MAX_JSON_DEPTH, json_depth_exceeds, parse_json, parse_json_body


def test_the_depth_scan_is_exact_about_strings_and_escapes() -> None:
    limit = MAX_JSON_DEPTH
    assert not json_depth_exceeds(b"[" * limit + b"]" * limit, limit)
    assert json_depth_exceeds(b"[" * (limit + 1) + b"]" * (limit + 1), limit)
    assert not json_depth_exceeds(b'["' + b"[" * 500 + b'"]', limit)
    assert not json_depth_exceeds(b'["\\\\", "\\"' + b"[" * 500 + b'"]', limit)
    assert json_depth_exceeds(b'["\\\\"' + b",[" * 500, limit)
    # Deeper than the limit only in its last chunk: still found.
    assert json_depth_exceeds(b"[]" * 200_000 + b"[" * (limit + 1), limit)


def test_the_depth_scan_stops_once_the_limit_is_exceeded() -> None:
    """A deep start followed by megabytes of brackets is refused faster than a shallow body of that size."""
    tail = b"[]" * 3_000_000
    deep, shallow = b"[" * (MAX_JSON_DEPTH + 1) + tail, b"[" + tail
    timings = []
    for body in (deep, shallow, deep, shallow):
        started = time.perf_counter()
        json_depth_exceeds(body, MAX_JSON_DEPTH)
        timings.append(time.perf_counter() - started)
    assert min(timings[0::2]) < 0.75 * min(timings[1::2]), timings
    with pytest.raises(BadRequestError, match="nested more than 64 levels"):
        parse_json(deep)


async def test_a_large_body_is_parsed_off_the_event_loop() -> None:
    body = b"[" + b"1," * 1_500_000 + b"1]"  # 3 MB, each number a Python call: a long parse
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    value = await parse_json_body(body)
    took = time.perf_counter() - started
    done.set()
    await tick
    assert len(value) == 1_500_001
    assert max(gaps) < max(0.25, took / 2), (max(gaps), took)
