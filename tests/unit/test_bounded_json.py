"""The bounded JSON reader and the sliced writer: same results as the standard codec, refusals with reasons."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from feed_core.domain.bounded_json import UnsafeJson, dumps_sliced, loads_bounded

SAME = [
    b'{"a":[1,2,{"b":null}],"c":"x","d":1.5,"e":true}',
    b" [ ] ",
    b"{}",
    b'"text"',
    b"-0",
    b'{"versions":{"1.0.0":{"deps":{"x":"^1"}},"2.0.0":{}},"time":{}}',
    b'[1, [2, [3, [4]]], {"k": {"k": {"k": []}}}]',
    '{"ünïcode":"✓"}'.encode(),
]


@pytest.mark.parametrize("body", SAME)
def test_reads_and_writes_like_the_standard_codec(body: bytes) -> None:
    value = loads_bounded(body)
    assert value == json.loads(body)
    assert dumps_sliced(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


REFUSED = {
    b"[" * 100_000 + b"]" * 100_000: "nested more than 64",
    b'{"a":' + b"[" * 70 + b"]" * 70 + b"}": "nested more than 64",
    b'{"v":{"k":' + b"[" * 63 + b"]" * 63 + b"}}": "nested more than 64",  # 65 levels in all
    b"1" * 5000: "more than 1000 digits",
    b"[1e999]": "not a finite number",
    b"[NaN]": "JSON has no NaN",
    b'{"a":1': "not valid JSON",
    b'{"a":1}x': "Extra data",
    b"": "not valid JSON",
    b"\xff": "not UTF-8",
    b'["\\ud800"]': "lone UTF-16 surrogate",
}


@pytest.mark.parametrize("body", list(REFUSED))
def test_refuses_what_the_code_behind_could_not_handle(body: bytes) -> None:
    with pytest.raises(UnsafeJson, match=REFUSED[body]):
        loads_bounded(body)


def test_64_levels_are_accepted_and_a_surrogate_pair_is_a_character() -> None:
    assert loads_bounded(b'{"v":{"k":' + b"[" * 62 + b"]" * 62 + b"}}")
    value: Any = loads_bounded(b'["\\ud83d\\ude00"]')
    assert value == ["\U0001f600"]


def test_a_large_document_read_in_a_thread_leaves_the_event_loop_free() -> None:
    """One C call over the whole document holds the interpreter throughout; read in slices, the loop keeps
    running its timers (compared on the same machine, in the same run)."""
    doc = {
        "name": "big",
        "versions": {f"1.{i}.0": {"v": f"1.{i}.0", "pad": "p" * 600, "deps": {"a": "1"}} for i in range(30_000)},
    }
    body = json.dumps(doc).encode()

    def one_call() -> float:
        started = time.perf_counter()
        json.loads(body)
        return time.perf_counter() - started

    async def lag_while_sliced() -> float:
        lag = 0.0
        task = asyncio.ensure_future(asyncio.to_thread(loads_bounded, body))
        while not task.done():
            tick = time.perf_counter()
            await asyncio.sleep(0.005)
            lag = max(lag, time.perf_counter() - tick - 0.005)
        assert (await task) == doc
        return lag

    # A busy machine only adds delay: the best of three runs shows what the code does.
    assert min(asyncio.run(lag_while_sliced()) for _ in range(3)) < min(one_call() for _ in range(3)) / 2
