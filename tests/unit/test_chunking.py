"""Content-defined chunking against the properties FastCDC promises (Xia et al., USENIX ATC 2016)."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyfastcdc import FastCDC

from feed_core.domain.chunking import MIB, Chunker, ChunkSizes, chunk_bytes, iter_chunks

SMALL = ChunkSizes(min_size=64, avg_size=256, max_size=1024)


def _random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 - reproducible test data, not secrets


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_the_compiled_cutter_is_in_use() -> None:
    # The pure-Python fallback is hundreds of times slower: a broken wheel must not go unnoticed.
    assert FastCDC.__module__.startswith("pyfastcdc.cy")


def test_empty_input_has_no_chunks() -> None:
    assert chunk_bytes(b"") == []
    chunker = Chunker()
    assert chunker.feed(b"") == []
    assert chunker.finish() == []


def test_chunks_cover_the_input_in_order_and_name_their_bytes() -> None:
    data = _random(5 * MIB, 1)
    chunks = chunk_bytes(data)
    assert b"".join(c.data for c in chunks) == data
    offset = 0
    for c in chunks:
        assert c.offset == offset
        assert c.sha256 == hashlib.sha256(c.data).hexdigest()
        offset += c.size


def test_every_chunk_but_the_last_is_within_min_and_max() -> None:
    sizes = ChunkSizes()
    chunks = chunk_bytes(_random(16 * MIB, 2), sizes)
    assert all(sizes.min_size <= c.size <= sizes.max_size for c in chunks[:-1])
    assert 0 < chunks[-1].size <= sizes.max_size


def test_content_without_cut_points_is_cut_at_max_size() -> None:
    sizes = ChunkSizes()
    chunks = chunk_bytes(bytes(3 * MIB + 5), sizes)  # zeros: the gear hash never matches
    assert [c.size for c in chunks] == [MIB, MIB, MIB, 5]


def test_input_shorter_than_min_size_is_one_chunk() -> None:
    assert [c.size for c in chunk_bytes(b"abc")] == [3]


def test_average_chunk_size_is_near_the_normal_size() -> None:
    sizes = ChunkSizes()
    chunks = chunk_bytes(_random(64 * MIB, 3), sizes)
    mean = sum(c.size for c in chunks) / len(chunks)
    # Cut-point skipping adds about min_size to the mean; normalized chunking keeps it close.
    assert sizes.avg_size * 0.9 <= mean <= (sizes.avg_size + sizes.min_size) * 1.15


def test_normalized_chunking_keeps_most_chunks_near_the_normal_size() -> None:
    sizes = ChunkSizes()
    chunks = chunk_bytes(_random(64 * MIB, 4), sizes)[:-1]
    near = [c for c in chunks if sizes.avg_size // 2 <= c.size <= sizes.avg_size * 2]
    assert len(near) / len(chunks) > 0.7  # about 78% with normalization level 1


def test_an_insertion_changes_only_the_chunks_around_it() -> None:
    data = _random(16 * MIB, 5)
    middle = len(data) // 2
    edited = data[:middle] + _random(100, 6) + data[middle:]
    before = {c.sha256 for c in chunk_bytes(data)}
    after = chunk_bytes(edited)
    shared_bytes = sum(c.size for c in after if c.sha256 in before)
    assert shared_bytes / len(edited) > 0.9
    assert sum(1 for c in after if c.sha256 not in before) <= 3


def test_a_deletion_changes_only_the_chunks_around_it() -> None:
    data = _random(8 * MIB, 7)
    edited = data[: 3 * MIB] + data[3 * MIB + 10 :]
    before = {c.sha256 for c in chunk_bytes(data)}
    after = chunk_bytes(edited)
    assert sum(c.size for c in after if c.sha256 in before) / len(edited) > 0.9


def test_feeding_large_input_in_small_blocks_gives_the_same_chunks() -> None:
    data = _random(12 * MIB + 12345, 8)
    whole = [(c.offset, c.sha256) for c in chunk_bytes(data)]
    blocks = (data[i : i + 65536] for i in range(0, len(data), 65536))
    assert [(c.offset, c.sha256) for c in iter_chunks(blocks)] == whole


def test_feed_returns_chunks_before_the_end() -> None:
    chunker = Chunker()
    data = _random(20 * MIB, 9)
    early = []
    for i in range(0, len(data), MIB):
        early.extend(chunker.feed(data[i : i + MIB]))
    assert sum(c.size for c in early) > 10 * MIB  # memory stays bounded: chunks leave as they are final
    rest = chunker.finish()
    assert b"".join(c.data for c in early + rest) == data


def test_a_finished_chunker_refuses_more_input() -> None:
    chunker = Chunker()
    chunker.finish()
    with pytest.raises(RuntimeError):
        chunker.feed(b"x")
    with pytest.raises(RuntimeError):
        chunker.finish()


@pytest.mark.parametrize(
    ("low", "mid", "high"),
    [(64 * 1024, 64 * 1024, MIB), (100_000, 262_144, MIB), (32, 256, 1024), (64, 256, 32 * MIB), (256, 128, 1024)],
)
def test_bad_sizes_are_refused(low: int, mid: int, high: int) -> None:
    with pytest.raises(ValueError, match="size"):
        ChunkSizes(low, mid, high)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=12_000) | st.integers(0, 40_000).map(lambda n: _random(n, n)),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=30),
)
def test_chunks_do_not_depend_on_how_the_input_is_split(data: bytes, cuts: list[int]) -> None:
    whole = [(c.offset, c.size, c.sha256) for c in chunk_bytes(data, SMALL)]
    split = [(c.offset, c.size, c.sha256) for c in iter_chunks(_split(data, cuts), SMALL)]
    assert split == whole
    assert sum(size for _, size, _ in whole) == len(data)
    assert all(SMALL.min_size <= size <= SMALL.max_size for _, size, _ in whole[:-1])
