"""npm tarball and manifest rules, alone: what a published .tgz and its version manifest must be."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile

import pytest

from feed_core.domain.errors import BadRequestError, PayloadTooLargeError
from feed_core.domain.npm_manifest import check_manifest_limits
from feed_core.domain.npm_tarball import TarballLimits, check_matches, read_tarball
from tests.npm_packages import make_tarball, tgz

MiB = 1024 * 1024


def entry(path: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(path)
    info.type = kind
    info.linkname = link
    info.size = len(data)
    return info, data


def pkg_json(doc: object, top: str = "package") -> tuple[tarfile.TarInfo, bytes]:
    return entry(f"{top}/package.json", json.dumps(doc).encode())


def gzipped_tar_then(tail: bytes, members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue() + tail)


# --- what a good tarball gives ---------------------------------------------------------------------


def test_a_tarball_npm_packs_is_read() -> None:
    tb = read_tarball(make_tarball("demo", "1.2.3", extra={"description": "d"}))
    assert tb.package_json["name"] == "demo" and tb.package_json["version"] == "1.2.3"
    assert tb.file_count == 2 and tb.unpacked_size > 0
    assert not tb.has_install_script
    check_matches(tb, "demo", "1.2.3")


def test_the_top_directory_may_have_any_name() -> None:
    tb = read_tarball(tgz([pkg_json({"name": "x", "version": "1.0.0"}, top="node"), entry("node/lib/a.js", b"1")]))
    check_matches(tb, "x", "1.0.0")


def test_only_the_top_package_json_counts() -> None:
    nested = pkg_json({"name": "other", "version": "9.9.9"}, top="package/node_modules/dep")
    tb = read_tarball(tgz([pkg_json({"name": "x", "version": "1.0.0"}), nested]))
    assert tb.package_json["name"] == "x"
    with pytest.raises(BadRequestError, match=re.escape("no package/package.json")):
        read_tarball(tgz([entry("package.json", b"{}"), nested]))  # at the root: npm strips it away


@pytest.mark.parametrize(
    ("doc", "has"),
    [
        ({"scripts": {"postinstall": "node x"}}, True),
        ({"scripts": {"preinstall": "node x"}}, True),
        ({"scripts": {"test": "node x"}}, False),
        ({}, False),
    ],
)
def test_install_scripts_come_from_the_tarball(doc: dict[str, object], has: bool) -> None:
    assert read_tarball(tgz([pkg_json({"name": "x", "version": "1.0.0", **doc})])).has_install_script is has


@pytest.mark.parametrize(("gypfile", "has"), [(None, True), (False, False)])
def test_a_binding_gyp_is_an_install_script(gypfile: bool | None, has: bool) -> None:
    doc = {"name": "x", "version": "1.0.0", **({} if gypfile is None else {"gypfile": gypfile})}
    assert read_tarball(tgz([pkg_json(doc), entry("package/binding.gyp", b"{}")])).has_install_script is has


# --- name and version must agree -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0.0", "v1.0.0", "=1.0.0", " 1.0.0 ", "1.0.0+build"])
def test_versions_compare_as_npm_cleans_them(version: str) -> None:
    check_matches(read_tarball(tgz([pkg_json({"name": "x", "version": version})])), "x", "1.0.0")


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"name": "other", "version": "1.0.0"}, "names package 'other'"),
        ({"version": "1.0.0"}, "names package (none)"),
        ({"name": ["x"], "version": "1.0.0"}, "(not a string)"),
        ({"name": "x", "version": "1.0.1"}, "says version '1.0.1'"),
        ({"name": "x", "version": "1.0.0-rc.1"}, "says version"),
        ({"name": "x"}, "says version (none)"),
        ({"name": "x", "version": "latest"}, "says version"),
    ],
)
def test_name_and_version_must_be_the_published_ones(doc: dict[str, object], words: str) -> None:
    with pytest.raises(BadRequestError, match=re.escape(words)):
        check_matches(read_tarball(tgz([pkg_json(doc)])), "x", "1.0.0")


# --- not a tarball ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(256)) * 8,  # a gzip header, then garbage
        gzip.compress(b"not a tar" * 100),
        make_tarball("x", "1.0.0")[:-30],  # truncated: the gzip trailer is missing
        make_tarball("x", "1.0.0")[:-8] + b"\x00\x00\x00\x00" + make_tarball("x", "1.0.0")[-4:],  # bad CRC
        gzip.decompress(make_tarball("x", "1.0.0")),  # a tar, not gzip'd
    ],
    ids=["empty", "gzip-header-then-garbage", "gzip-not-tar", "truncated", "bad-crc", "plain-tar"],
)
def test_what_is_not_a_readable_tgz_is_refused(data: bytes) -> None:
    with pytest.raises(BadRequestError, match="not a readable gzip-compressed tarball"):
        read_tarball(data)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b"{not json", "not a JSON object"),
        (b"\xff\xfe", "not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "not a JSON object"),
    ],
    ids=["array", "broken", "not-utf8", "nested-100k-deep"],
)
def test_package_json_must_be_a_json_object(raw: bytes, words: str) -> None:
    with pytest.raises(BadRequestError, match=words):
        read_tarball(tgz([entry("package/package.json", raw)]))


def test_package_json_twice_at_the_top_is_refused() -> None:
    doc = {"name": "x", "version": "1.0.0"}
    with pytest.raises(BadRequestError, match="more than once"):
        read_tarball(tgz([pkg_json(doc), pkg_json(doc, top="other")]))


def test_an_oversized_package_json_is_refused() -> None:
    with pytest.raises(PayloadTooLargeError, match=re.escape("package.json is")):
        read_tarball(tgz([pkg_json({"name": "x", "version": "1.0.0", "pad": "p" * (8 * MiB)})]))


# --- links, devices, paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (entry("package/evil", kind=tarfile.SYMTYPE, link="/etc/passwd"), "a symbolic link"),
        (entry("package/evil", kind=tarfile.LNKTYPE, link="package/package.json"), "a hard link"),
        (entry("package/dev", kind=tarfile.BLKTYPE), "a block device"),
        (entry("package/dev", kind=tarfile.CHRTYPE), "a character device"),
        (entry("package/fifo", kind=tarfile.FIFOTYPE), "a FIFO"),
        (entry("package/../../etc/cron.d/x", b"x"), "unsafe path"),
        (entry("/abs/package.json", b"x"), "unsafe path"),
    ],
)
def test_links_devices_and_unsafe_paths_are_refused(member: tuple[tarfile.TarInfo, bytes], words: str) -> None:
    with pytest.raises(BadRequestError, match=words):
        read_tarball(tgz([pkg_json({"name": "x", "version": "1.0.0"}), member]))


# --- limits ----------------------------------------------------------------------------------------


def test_too_many_entries() -> None:
    files = [entry(f"package/f{i}.js", b"1") for i in range(20)]
    with pytest.raises(PayloadTooLargeError, match="more than the 10 entries"):
        read_tarball(tgz([pkg_json({"name": "x", "version": "1.0.0"}), *files]), TarballLimits(entries=10))


def test_an_entry_over_the_per_file_limit() -> None:
    data = tgz([pkg_json({"name": "x", "version": "1.0.0"}), entry("package/big.bin", bytes(64 * 1024))])
    with pytest.raises(PayloadTooLargeError, match="for one file"):
        read_tarball(data, TarballLimits(entry_bytes=32 * 1024))


def test_files_adding_up_beyond_the_limit() -> None:
    files = [entry(f"package/f{i}.bin", bytes(20 * 1024)) for i in range(5)]
    with pytest.raises(PayloadTooLargeError, match="decompression bomb"):
        read_tarball(
            tgz([pkg_json({"name": "x", "version": "1.0.0"}), *files]), TarballLimits(unpacked_bytes=64 * 1024)
        )


def test_a_gzip_bomb_is_stopped_at_the_limit_not_inflated() -> None:
    # 64 MiB of zeros after a valid tar: a few KiB compressed. Inflating stops at 1 MiB.
    bomb = gzipped_tar_then(bytes(64 * MiB), [pkg_json({"name": "x", "version": "1.0.0"})])
    assert len(bomb) < 100 * 1024
    with pytest.raises(PayloadTooLargeError, match="decompression bomb"):
        read_tarball(bomb, TarballLimits(unpacked_bytes=MiB))


def test_zero_padding_within_the_limit_is_fine() -> None:
    padded = gzipped_tar_then(bytes(20 * 1024), [pkg_json({"name": "x", "version": "1.0.0"})])
    assert read_tarball(padded).package_json["name"] == "x"


# --- manifest limits -------------------------------------------------------------------------------


def test_real_sized_manifests_pass() -> None:
    check_manifest_limits({"name": "x", "description": "d" * 2000, "readme": "r" * (3 * MiB), "keywords": ["a"] * 50})


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        ({"description": "d" * (16 * 1024 + 1)}, "description is longer than the 16384"),
        ({"description": ["d" * 20_000]}, "description is longer"),
        ({"readme": "r" * (4 * MiB + 1)}, "readme is longer than the 4194304"),
        ({"contributors": ["c" * 1000] * 1100}, "more than the 1048576"),
    ],
)
def test_oversized_manifests_are_refused(manifest: dict[str, object], words: str) -> None:
    with pytest.raises(PayloadTooLargeError, match=words):
        check_manifest_limits(manifest)
