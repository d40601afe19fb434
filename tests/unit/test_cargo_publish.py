"""Publish bodies: the framing cargo sends, the metadata read into the stored manifest, hostile bodies refused."""

from __future__ import annotations

import gzip
import json
import struct
import tarfile
from typing import Any

import pytest

from feed_core.domain.cargo_crate import CrateFileError, CrateTooLargeError
from feed_core.domain.cargo_index import MAX_DEPS, index_line
from feed_core.domain.cargo_publish import (
    MAX_METADATA_BYTES,
    CratePublish,
    PublishError,
    read_publish,
    split_publish_body,
)
from tests.cargo_packages import crate_bytes, dep, frame, metadata, publish_body

OWN = "sparse+http://127.0.0.1:8080/org/_packaging/feed/cargo/index/"
CRATE = crate_bytes("demo", "1.0.0")


def read(body: bytes) -> CratePublish:
    return read_publish(body, own_index_urls=[OWN])


def body_with(**fields: Any) -> bytes:
    """A publish of demo 1.0.0 with these metadata fields set to anything, well-formed or not."""
    doc = metadata("demo", "1.0.0")
    doc.update(fields)
    return frame(json.dumps(doc).encode(), CRATE)


# --- framing -----------------------------------------------------------------------------------------


def test_the_framing_splits_into_metadata_and_crate() -> None:
    assert split_publish_body(frame(b"{}", b"crate")) == (b"{}", b"crate")
    assert split_publish_body(publish_body("demo", "1.0.0", CRATE))[1] == CRATE


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "too short for the 4-byte length of the metadata JSON"),
        (b"\x02\x00", "too short for the 4-byte length of the metadata JSON"),
        (struct.pack("<I", 10) + b"{}", "declares 10 bytes of metadata JSON at byte 4 but only 2 follow"),
        (struct.pack("<I", 2) + b"{}", "too short for the 4-byte length of the .crate at byte 6"),
        (struct.pack("<I", 2) + b"{}\x01\x00", "too short for the 4-byte length of the .crate"),
        (frame(b"{}", b"abc")[:-1], "declares 3 bytes of .crate at byte 10 but only 2 follow"),
        (frame(b"{}", b"abc") + b"x", "1 bytes after the .crate"),
        (frame(b"{}", b"abc") + frame(b"{}", b"abc"), "after the .crate"),
        (frame(b"{}", b""), "empty .crate"),
        (struct.pack("<I", 0xFFFFFFFF) + b"{}", f"more than the {MAX_METADATA_BYTES}"),
        (struct.pack("<I", 2) + b"{}" + struct.pack("<I", 0xFFFFFFFF) + b"x", "declares 4294967295 bytes of .crate"),
    ],
)
def test_framing_errors_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(PublishError, match=why):
        split_publish_body(body)
    with pytest.raises(PublishError, match=why):
        read(body)


def test_metadata_at_the_limit_is_read() -> None:
    padding = MAX_METADATA_BYTES - len(json.dumps(metadata("demo", "1.0.0", readme="")))
    doc = metadata("demo", "1.0.0", readme="x" * padding)
    raw = json.dumps(doc).encode()
    assert len(raw) == MAX_METADATA_BYTES
    assert read(frame(raw, CRATE)).name == "demo"
    with pytest.raises(PublishError, match="more than the"):
        read(frame(json.dumps(metadata("demo", "1.0.0", readme="x" * (padding + 1))).encode(), CRATE))


# --- what a good publish gives -----------------------------------------------------------------------


def test_a_publish_as_cargo_sends_it_is_read_into_the_stored_manifest() -> None:
    deps = [
        dep("serde", "^1.0", features=["derive"]),
        dep("rand", "^0.8", optional=True, default_features=False, target="cfg(unix)"),
        dep("real_name", "=2.1.0", explicit_name_in_toml="alias", kind="dev"),
        dep("cc", "^1", kind="build", registry=OWN),
        dep("local", "^1", registry="http://127.0.0.1:8080/ORG/_packaging/feed/Cargo/index"),
        dep("other", "^3", registry="https://other.test/index/"),
    ]
    got = read(
        publish_body(
            "Demo_Crate",
            "1.0.0+build.5",
            crate_bytes("Demo_Crate", "1.0.0+build.5"),
            deps=deps,
            features={"default": ["std"], "std": [], "extra": ["dep:rand", "serde/derive"]},
            description="A demo",
            keywords=["demo", "test"],
            categories=["development-tools"],
            license="MIT OR Apache-2.0",
            repository="https://git.test/demo",
            homepage="https://demo.test",
            documentation="https://docs.test/demo",
            links="demo",
            rust_version="1.70",
            readme="# Demo\n" * 100,
            authors=["someone"],
            badges={"x": {}},
        )
    )
    assert (got.name, got.version, got.crate) == (
        "Demo_Crate",
        "1.0.0+build.5",
        crate_bytes("Demo_Crate", "1.0.0+build.5"),
    )
    assert got.manifest == {
        "name": "Demo_Crate",
        "deps": [
            {
                "name": "serde",
                "req": "^1.0",
                "features": ["derive"],
                "optional": False,
                "default_features": True,
                "target": None,
                "kind": "normal",
                "registry": None,
                "package": None,
            },
            {
                "name": "rand",
                "req": "^0.8",
                "features": [],
                "optional": True,
                "default_features": False,
                "target": "cfg(unix)",
                "kind": "normal",
                "registry": None,
                "package": None,
            },
            {
                "name": "alias",
                "req": "=2.1.0",
                "features": [],
                "optional": False,
                "default_features": True,
                "target": None,
                "kind": "dev",
                "registry": None,
                "package": "real_name",
            },
            {
                "name": "cc",
                "req": "^1",
                "features": [],
                "optional": False,
                "default_features": True,
                "target": None,
                "kind": "build",
                "registry": None,
                "package": None,
            },
            {
                "name": "local",
                "req": "^1",
                "features": [],
                "optional": False,
                "default_features": True,
                "target": None,
                "kind": "normal",
                "registry": None,
                "package": None,
            },
            {
                "name": "other",
                "req": "^3",
                "features": [],
                "optional": False,
                "default_features": True,
                "target": None,
                "kind": "normal",
                "registry": "https://other.test/index/",
                "package": None,
            },
        ],
        "features": {"default": ["std"], "std": [], "extra": ["dep:rand", "serde/derive"]},
        "links": "demo",
        "rust_version": "1.70",
        "v": 2,
        "description": "A demo",
        "keywords": ["demo", "test"],
        "categories": ["development-tools"],
        "license": "MIT OR Apache-2.0",
        "repository": "https://git.test/demo",
        "homepage": "https://demo.test",
        "documentation": "https://docs.test/demo",
    }
    line = index_line(got.name.lower(), got.version, "00" * 32, got.manifest, False, None)
    assert line["deps"][2]["package"] == "real_name" and "description" not in line


def test_missing_and_null_fields_get_defaults() -> None:
    minimal = {"name": "demo", "vers": "1.0.0", "deps": [{"name": "a1", "version_req": "*"}]}
    got = read(frame(json.dumps(minimal).encode(), CRATE))
    assert got.manifest["features"] == {} and got.manifest["keywords"] == [] and got.manifest["description"] is None
    assert got.manifest["deps"][0] == {
        "name": "a1",
        "req": "*",
        "features": [],
        "optional": False,
        "default_features": True,
        "target": None,
        "kind": "normal",
        "registry": None,
        "package": None,
    }
    assert read(body_with(deps=None, features=None, keywords=None, categories=None)).manifest["deps"] == []


def test_unknown_fields_are_ignored() -> None:
    assert read(body_with(future_field={"anything": [1, 2]})).name == "demo"


# --- metadata errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not a JSON object"),
        (b'"demo"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"[" * 100 + b"]" * 100, "nested more than"),
        (b'{"name": "demo", "vers": NaN}', "NaN"),
        (b'{"name": "demo", "name": "x", "vers": "1.0.0"}', "names crate 'demo', not 'x'"),  # last key wins, as in JSON
    ],
)
def test_metadata_that_is_not_a_json_object_is_refused(raw: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        read(frame(raw, CRATE))


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"name": None}, "has no name string"),
        ({"name": 5}, "has no name string"),
        ({"name": ""}, "has no name string"),
        ({"name": "1demo"}, "must start with an ASCII letter"),
        ({"name": "démo"}, "not ASCII"),
        ({"name": "d" * 65}, "at most 64"),
        ({"name": "d" * 5000}, "at most 1024|at most 64"),
        ({"vers": None}, "has no vers string"),
        ({"vers": "1.0"}, "all three parts"),
        ({"vers": "01.0.0"}, "leading zeros"),
        ({"vers": "1.0.0-" + "a" * 130}, "at most 128"),
        ({"deps": {"serde": "1"}}, "deps is not a list"),
        ({"deps": [dep("serde")] * (MAX_DEPS + 1)}, f"at most {MAX_DEPS}"),
        ({"deps": ["serde"]}, "dependency 1 is not a JSON object"),
        ({"deps": [{**dep("serde"), "name": None}]}, "dependency 1 has no name string"),
        ({"deps": [dep("../x")]}, "'../x', which is not a crate name"),
        ({"deps": [dep("serde", explicit_name_in_toml="a b")]}, "'a b', which is not a crate name"),
        ({"deps": [{**dep("serde"), "version_req": None}]}, "'serde' has no version_req string"),
        ({"deps": [{**dep("serde"), "version_req": "x" * 2000}]}, "version_req is 2000 characters"),
        ({"deps": [dep("serde", kind="peer")]}, "kind 'peer'; it must be normal, dev or build"),
        ({"deps": [{**dep("serde"), "optional": "no"}]}, "optional is not true or false"),
        ({"deps": [{**dep("serde"), "default_features": 1}]}, "default_features is not true or false"),
        ({"deps": [{**dep("serde"), "features": "derive"}]}, "features is not a list of strings"),
        ({"deps": [{**dep("serde"), "target": ["unix"]}]}, "target is not a string"),
        ({"deps": [{**dep("serde"), "registry": 1}]}, "registry is not a string"),
        ({"features": ["std"]}, "features is not a JSON object"),
        ({"features": {"std": "x"}}, "is not a list of strings"),
        ({"features": {"f": [1]}}, "is not a list of strings"),
        ({"features": {f"f{i}": [] for i in range(20_001)}}, "more than 20000 features"),
        ({"features": {"f": ["x" * 1025]}}, "longer than 1024"),
        ({"keywords": "demo"}, "keywords is not a list of strings"),
        ({"keywords": ["k"] * 101}, "keywords has more than 100 entries"),
        ({"categories": ["c" * 101]}, "categories has more than 100 entries or one longer"),
        ({"description": 5}, "description is not a string"),
        ({"description": "d" * (64 * 1024 + 1)}, "description is 65537 characters long"),
        ({"license": ["MIT"]}, "license is not a string"),
        ({"repository": "https://x.test/" + "r" * 3000}, "repository is 3015 characters"),
        ({"links": 1}, "links is not a string"),
        ({"rust_version": "latest"}, "rust_version 'latest' is not a version"),
        ({"rust_version": "1.70.0-nightly"}, "is not a version such as 1.70"),
        ({"rust_version": 1.7}, "rust_version is not a string"),
    ],
)
def test_bad_metadata_is_refused_with_its_reason(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(PublishError, match=why):
        read(body_with(**fields))


# --- the crate must agree ----------------------------------------------------------------------------


def test_the_crate_must_name_the_published_crate_and_version() -> None:
    with pytest.raises(CrateFileError, match="names crate 'other', not 'demo'"):
        read(publish_body("demo", "1.0.0", crate_bytes("other", "1.0.0")))
    with pytest.raises(CrateFileError, match=r"gives version '1.0.1', not '1.0.0'"):
        read(publish_body("demo", "1.0.0", crate_bytes("demo", "1.0.1")))
    with pytest.raises(CrateFileError, match="names crate 'Demo', not 'demo'"):
        read(publish_body("demo", "1.0.0", crate_bytes("Demo", "1.0.0")))


def test_a_crate_whose_directory_disagrees_is_refused() -> None:
    toml = b'[package]\nname = "demo"\nversion = "1.0.0"\n'
    crate = crate_bytes("demo", "2.0.0", files={"Cargo.toml": toml})
    with pytest.raises(CrateFileError, match=r"under 'demo-2.0.0'"):
        read(publish_body("demo", "1.0.0", crate))


def test_a_crate_that_is_not_an_archive_is_refused() -> None:
    with pytest.raises(CrateFileError, match="not a readable gzip-compressed tar"):
        read(publish_body("demo", "1.0.0", b"\x1f\x8b garbage"))


def test_a_crate_declaring_a_huge_file_is_a_too_large_error() -> None:
    big = tarfile.TarInfo("demo-1.0.0/big")
    big.size = 600 << 20  # past the unpacked limit: refused from the header, before any of it is inflated
    tar = gzip.decompress(crate_bytes("demo", "1.0.0"))
    bomb = gzip.compress(tar[: 512 * 6] + big.tobuf() + bytes(4096))
    with pytest.raises(CrateTooLargeError, match="add up to more than"):
        read(publish_body("demo", "1.0.0", bomb))
