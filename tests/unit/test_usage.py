"""The storage usage rules alone: what a version holds, where its bytes count, shared blobs, order and paging."""

from __future__ import annotations

from typing import Any

import pytest

from feed_core.domain.usage import (
    FeedTallies,
    StoredFile,
    VersionFootprint,
    footprint,
    held_files,
    measure,
    page,
    parse_protocol,
)
from feed_core.ui.render import human_bytes

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64
HOP = [{"name": "up", "sourceType": "public"}]


def fp(
    name: str,
    version: str,
    size: int,
    *,
    protocol: str = "npm",
    sha256: str = SHA_A,
    files: list[dict[str, Any]] | None = None,
    saved: bool = False,
    deleted: bool = False,
    purged: bool = False,
) -> VersionFootprint:
    return footprint(
        protocol,
        name,
        version,
        sha256=sha256,
        size=size,
        files=files or [],
        provenance={"savedBy": "carol"} if saved else {},
        source_chain=HOP if saved else [],
        deleted="2026-11-01T00:00:00Z" if deleted or purged else None,
        purged="2026-12-01T00:00:00Z" if purged else None,
    )


def test_a_single_file_version_holds_its_size_and_a_multi_file_one_its_files() -> None:
    assert held_files("npm", SHA_A, 10, []) == (StoredFile(SHA_A, 10),)
    files = [{"filename": "x.whl", "sha256": SHA_B, "size": 7}, {"filename": "x.tar.gz", "sha256": SHA_C, "size": 5}]
    assert held_files("pypi", SHA_B, 7, files) == (StoredFile(SHA_B, 7), StoredFile(SHA_C, 5))
    twice = [files[0], {**files[0], "size": 9}]  # one name listed twice counts once
    assert held_files("pypi", SHA_B, 7, twice) == (StoredFile(SHA_B, 7),)


def test_a_universal_package_holds_the_size_on_its_row_whatever_its_file_list() -> None:
    files = [{"path": "bin/tool", "size": 5, "chunks": [{"sha256": SHA_B, "size": 5}]}]
    assert held_files("upack", SHA_A, 1_000, files) == (StoredFile(SHA_A, 1_000),)


@pytest.mark.parametrize("bad", [-4, "12", None, True, 1.5])
def test_sizes_that_are_not_whole_non_negative_numbers_count_zero(bad: object) -> None:
    assert held_files("pypi", SHA_A, 0, [{"filename": "f", "sha256": SHA_A, "size": bad}]) == (StoredFile(SHA_A, 0),)
    assert held_files("npm", "", 0, []) == ()


def test_published_saved_and_recycle_bin_bytes_and_purged_versions_count_nothing() -> None:
    usage = measure(
        [
            fp("a", "1.0.0", 100),
            fp("a", "1.1.0", 50, saved=True),
            fp("a", "0.9.0", 30, deleted=True),
            fp("a", "0.8.0", 20, deleted=True, saved=True),
            fp("a", "0.1.0", 1_000, purged=True),
        ]
    )
    t = usage.total
    assert (t.published_bytes, t.saved_bytes, t.recycle_bin_bytes, t.total_bytes) == (100, 50, 50, 200)
    assert (t.versions, t.recycle_bin_versions) == (4, 2)
    (package,) = usage.packages
    assert (package.protocol, package.name, package.total_bytes, package.versions) == ("npm", "a", 200, 4)
    assert usage.protocols["npm"].packages == 1 and usage.protocols["npm"].total_bytes == 200


def test_a_package_whose_versions_are_all_purged_is_not_listed() -> None:
    usage = measure([fp("gone", "1.0.0", 10, purged=True), fp("kept", "1.0.0", 5)])
    assert [p.name for p in usage.packages] == ["kept"]
    assert usage.protocols["npm"].packages == 1


def test_shared_blobs_count_for_each_version_and_once_in_distinct_bytes() -> None:
    usage = measure(
        [
            fp("a", "1.0.0", 100, sha256=SHA_A),
            fp("b", "1.0.0", 100, sha256=SHA_A),  # the same bytes under another name
            fp("c", "1.0.0", 40, sha256=SHA_B, deleted=True),
            fp("d", "1.0.0", 9, sha256=SHA_C, purged=True),  # purged: nothing held
        ]
    )
    assert usage.total_bytes == 240
    assert usage.distinct_bytes == 140


def test_packages_are_largest_first_then_by_protocol_and_name_and_protocols_add_up() -> None:
    wheel = [{"filename": "w.whl", "sha256": SHA_B, "size": 300}, {"filename": "w.tgz", "sha256": SHA_C, "size": 200}]
    usage = measure(
        [
            fp("small", "1.0.0", 10),
            fp("zeta", "1.0.0", 300, protocol="nuget", sha256=SHA_B),
            fp("alpha", "1.0.0", 300, sha256=SHA_C),
            fp("wheel", "1.0", 0, protocol="pypi", files=wheel),
        ]
    )
    assert [(p.protocol, p.name) for p in usage.packages] == [
        ("pypi", "wheel"),
        ("npm", "alpha"),
        ("nuget", "zeta"),
        ("npm", "small"),
    ]
    assert list(usage.protocols) == ["npm", "nuget", "pypi"]
    assert {k: (v.total_bytes, v.packages, v.versions) for k, v in usage.protocols.items()} == {
        "npm": (310, 2, 2),
        "nuget": (300, 1, 1),
        "pypi": (500, 1, 1),
    }
    assert sum(p.total_bytes for p in usage.protocols.values()) == usage.total_bytes == 1_110


def test_paging_and_the_protocol_filter() -> None:
    usage = measure([fp(f"p{i}", "1.0.0", 100 - i) for i in range(5)] + [fp("n", "1.0", 1, protocol="nuget")])
    assert [p.name for p in page(usage.packages, skip=1, top=2)] == ["p1", "p2"]
    assert [p.name for p in page(usage.packages, skip=0, top=10, protocol="nuget")] == ["n"]
    assert page(usage.packages, skip=10, top=10) == []


def test_an_empty_feed() -> None:
    usage = measure([])
    assert (usage.total_bytes, usage.distinct_bytes, usage.protocols, usage.packages) == (0, 0, {}, [])


@pytest.mark.parametrize(("text", "want"), [("npm", "npm"), ("NuGet", "nuget"), ("PyPi", "pypi"), ("UPack", "upack")])
def test_protocol_names_in_any_case(text: str, want: str) -> None:
    assert parse_protocol(text) == want


@pytest.mark.parametrize("text", ["", "gem", "npm ", "n*"])
def test_other_protocol_names_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="protocolType"):
        parse_protocol(text)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1536, "1.5 KB"),
        (5 * 1024**3, "5.0 GB"),
        (3 * 1024**5, "3072.0 TB"),
    ],
)
def test_byte_counts_as_people_read_them(count: int, text: str) -> None:
    assert human_bytes(count) == text


def test_tallies_of_one_scan_of_every_feed_measure_each_covered_feed_as_alone() -> None:
    rows = [("f1", fp("a", "1", 10)), ("f2", fp("b", "1", 7, sha256=SHA_B)), ("f1", fp("a", "2", 5, purged=True))]
    rows += [("f1", fp("c", "1", 3, sha256=SHA_C, deleted=True)), ("late", fp("d", "1", 1))]
    tallies = FeedTallies({"f1", "f2", "empty", "unreadable"})
    for feed_id, row in rows:
        tallies.add(feed_id, row)
    tallies.add("unreadable", fp("e", "1", 1))
    tallies.add("unreadable", None)
    tallies.add("unreadable", fp("e", "2", 1))
    for feed_id in ("f1", "f2", "empty"):
        assert tallies.result(feed_id) == measure(r for f, r in rows if f == feed_id), feed_id
    f1 = tallies.result("f1")
    assert f1 is not None and (f1.total_bytes, f1.total.recycle_bin_bytes) == (13, 3)
    assert tallies.result("late") is None  # listed after the scan began: measured by a scan of its own
    assert tallies.result("unreadable") is None  # so is a feed with a row the scan could not read
