"""JSON request bodies: deep ones are refused, and large ones are parsed off the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from feed_core.domain.bounded_json import MAX_JSON_DEPTH
from feed_core.domain.errors import BadRequestError
from feed_core.protocols.http import parse_json, parse_json_body


def test_a_deep_body_is_refused_quickly() -> None:
    """A deep start followed by megabytes of brackets is refused without parsing the rest first."""
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"[]" + b",[]" * 3_000_000 + b"]" * (MAX_JSON_DEPTH + 1)
    started = time.perf_counter()
    with pytest.raises(BadRequestError, match="nested more than 64 levels"):
        parse_json(deep)
    assert time.perf_counter() - started < 5


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
