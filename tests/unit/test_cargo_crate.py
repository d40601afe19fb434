"""`.crate` files: real ones read, and every kind of hostile archive refused with a reason."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from feed_core.domain.cargo_crate import (
    CrateFileError,
    CrateManifest,
    CrateTooLargeError,
    check_crate,
    read_crate,
)
from tests.cargo_packages import cargo_toml, crate_bytes, member, tar_gz

MiB = 1 << 20


def cargo_binary() -> str:
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    assert Path(found).exists(), "cargo (>= 1.74) is needed for the tests; install it with rustup"
    return found


def raw_tar(entries: list[tuple[str | tarfile.TarInfo, bytes]]) -> bytes:
    """The uncompressed tar, so tests can cut or pad it before compressing."""
    return gzip.decompress(tar_gz(entries))


def good_entries(top: str = "demo-1.0.0") -> list[tuple[str | tarfile.TarInfo, bytes]]:
    return [(f"{top}/Cargo.toml", cargo_toml("demo", "1.0.0")), (f"{top}/src/lib.rs", b"pub fn f() {}\n")]


# --- good crates -------------------------------------------------------------------------------------


def test_a_crate_built_by_the_real_cargo_is_read(tmp_path: Path) -> None:
    cargo = cargo_binary()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "CARGO_HOME": str(tmp_path / "cargo-home"),
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
        "CARGO_NET_OFFLINE": "true",
    }
    subprocess.run([cargo, "new", "--lib", "--vcs", "none", "-q", "Real_crate"], cwd=tmp_path, env=env, check=True)
    project = tmp_path / "Real_crate"
    subprocess.run(
        [cargo, "package", "--allow-dirty", "--no-verify", "--offline", "-q"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    data = (project / "target" / "package" / "Real_crate-0.1.0.crate").read_bytes()
    assert check_crate(data, "Real_crate", "0.1.0") == CrateManifest("Real_crate", "0.1.0")


def test_the_test_helper_makes_a_crate_with_cargo_s_layout() -> None:
    data = crate_bytes("demo", "1.2.3-rc.1+b7", manifest_extra='description = "d"\n[dependencies]\nx = "1"')
    assert read_crate(data) == CrateManifest("demo", "1.2.3-rc.1+b7")
    assert data == crate_bytes("demo", "1.2.3-rc.1+b7", manifest_extra='description = "d"\n[dependencies]\nx = "1"')
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = archive.getnames()
    assert names == [
        "demo-1.2.3-rc.1+b7/Cargo.toml",
        "demo-1.2.3-rc.1+b7/Cargo.toml.orig",
        "demo-1.2.3-rc.1+b7/src/lib.rs",
    ]


def test_directory_entries_and_dot_segments_are_fine() -> None:
    dirs = [(member("demo-1.0.0/", kind=tarfile.DIRTYPE), b""), (member("demo-1.0.0/src", kind=tarfile.DIRTYPE), b"")]
    assert read_crate(tar_gz([*dirs, *good_entries()])).name == "demo"
    assert read_crate(tar_gz([("demo-1.0.0/./Cargo.toml", cargo_toml("demo", "1.0.0"))])).version == "1.0.0"


def test_a_legacy_project_table_is_read() -> None:
    toml = b'[project]\nname = "demo"\nversion = "1.0.0"\n'
    assert read_crate(crate_bytes("demo", "1.0.0", files={"Cargo.toml": toml})).name == "demo"


def test_long_paths_are_read() -> None:
    deep = "demo-1.0.0/" + "/".join(["d" * 90] * 5) + "/lib.rs"
    assert read_crate(tar_gz([*good_entries(), (deep, b"x")])).name == "demo"


# --- check_crate -------------------------------------------------------------------------------------


def test_check_crate_compares_name_and_version_exactly() -> None:
    data = crate_bytes("Demo", "1.0.0+b")
    assert check_crate(data, "Demo", "1.0.0+b").name == "Demo"
    with pytest.raises(CrateFileError, match="names crate 'Demo', not 'demo'"):
        check_crate(data, "demo", "1.0.0+b")
    with pytest.raises(CrateFileError, match=r"gives version '1.0.0\+b', not '1.0.0'"):
        check_crate(data, "Demo", "1.0.0")


# --- hostile entries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("demo-1.0.0/../x", "unsafe path"),
        ("../demo-1.0.0/x", "unsafe path"),
        ("/demo-1.0.0/x", "unsafe path"),
        ("/etc/passwd", "unsafe path"),
        ("C:/demo-1.0.0/x", "unsafe path"),
        ("demo-1.0.0/src/../../x", "unsafe path"),
        ("other-1.0.0/x", "outside its top directory"),
        ("x", "outside its top directory"),
        ("demo-1.0.0", "outside its top directory"),
        ("demo-1.0.0/src/lib.rs", "more than once"),
    ],
)
def test_entries_outside_the_crate_directory_are_refused(entry: str, why: str) -> None:
    with pytest.raises(CrateFileError, match=why):
        read_crate(tar_gz([*good_entries(), (entry, b"x")]))


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        (tarfile.SYMTYPE, "a symbolic link"),
        (tarfile.LNKTYPE, "a hard link"),
        (tarfile.CHRTYPE, "a character device"),
        (tarfile.BLKTYPE, "a block device"),
        (tarfile.FIFOTYPE, "a FIFO"),
    ],
)
def test_links_and_devices_are_refused(kind: bytes, what: str) -> None:
    bad = member("demo-1.0.0/src/evil", kind=kind, link="/etc/passwd")
    with pytest.raises(CrateFileError, match=what):
        read_crate(tar_gz([*good_entries(), (bad, b"")]))


def test_a_symlinked_cargo_toml_is_refused() -> None:
    link = member("demo-1.0.0/Cargo.toml", kind=tarfile.SYMTYPE, link="../../elsewhere/Cargo.toml")
    with pytest.raises(CrateFileError, match="a symbolic link"):
        read_crate(tar_gz([(link, b""), ("demo-1.0.0/src/lib.rs", b"")]))


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = crate_bytes("demo", "1.0.0", files={"data.bin": bytes(8 * MiB)})
    assert len(bomb) < 64 * 1024
    assert read_crate(bomb).name == "demo"
    with pytest.raises(CrateTooLargeError, match="more than the 1048576 bytes"):
        read_crate(bomb, max_unpacked=MiB)


def test_a_bomb_of_headers_stops_at_the_limit_too() -> None:
    # thousands of empty entries: no file data, but the tar stream itself grows
    entries = [*good_entries(), *((f"demo-1.0.0/e{i}", b"") for i in range(3000))]
    with pytest.raises(CrateTooLargeError, match="decompression bomb"):
        read_crate(tar_gz(entries), max_unpacked=512 * 1024)


def test_declared_sizes_count_before_reading() -> None:
    entries = [*good_entries(), ("demo-1.0.0/a", bytes(300_000)), ("demo-1.0.0/b", bytes(300_000))]
    with pytest.raises(CrateTooLargeError):
        read_crate(tar_gz(entries), max_unpacked=500_000)


def test_too_many_entries_are_refused() -> None:
    entries = [*good_entries(), *((f"demo-1.0.0/src/m{i}.rs", b"") for i in range(20))]
    assert read_crate(tar_gz(entries), max_entries=22).name == "demo"
    with pytest.raises(CrateTooLargeError, match="more than the 21 entries"):
        read_crate(tar_gz(entries), max_entries=21)


def test_a_huge_cargo_toml_is_refused() -> None:
    toml = cargo_toml("demo", "1.0.0") + b"#" * (9 * MiB)
    with pytest.raises(CrateTooLargeError, match=r"Cargo.toml is"):
        read_crate(crate_bytes("demo", "1.0.0", files={"Cargo.toml": toml}))


# --- damaged archives --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not gzip at all",
        gzip.compress(b"not a tar archive" * 100),
        crate_bytes("demo", "1.0.0")[:-20],  # gzip cut short
        crate_bytes("demo", "1.0.0")[:10] + b"\x00" * 50 + crate_bytes("demo", "1.0.0")[60:],  # corrupt deflate
        crate_bytes("demo", "1.0.0")[:-8] + b"\x00\x00\x00\x00" + crate_bytes("demo", "1.0.0")[-4:],  # bad CRC
        crate_bytes("demo", "1.0.0") + b"trailing junk",
    ],
)
def test_damaged_gzip_is_refused(data: bytes) -> None:
    with pytest.raises(CrateFileError, match=r"not a readable gzip-compressed tar|truncated|empty"):
        read_crate(data)


def test_a_tar_truncated_inside_a_file_is_refused() -> None:
    tar = raw_tar([*good_entries(), ("demo-1.0.0/big", bytes(5000))])
    with pytest.raises(CrateFileError, match=r"not a readable|truncated"):
        read_crate(gzip.compress(tar[: 512 * 6 + 100]))


def test_a_tar_truncated_between_entries_is_refused() -> None:
    tar = raw_tar(good_entries())
    # header + one block of data for each file: cut right after the second file, before the end blocks
    with pytest.raises(CrateFileError, match="truncated or damaged after its last entry"):
        read_crate(gzip.compress(tar[: 512 * 4]))


def test_garbage_after_the_last_entry_is_refused() -> None:
    tar = raw_tar(good_entries())
    with pytest.raises(CrateFileError, match="truncated or damaged after its last entry"):
        read_crate(gzip.compress(tar[: 512 * 4] + b"\x01" * 1024 + tar[512 * 4 :]))


def test_a_tar_ending_in_a_single_zero_block_is_accepted() -> None:
    tar = raw_tar(good_entries())
    assert read_crate(gzip.compress(tar[: 512 * 5])).name == "demo"


def test_an_empty_archive_is_refused() -> None:
    with pytest.raises(CrateFileError, match=r"empty|not a readable"):
        read_crate(tar_gz([]))


# --- Cargo.toml ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "why"),
    [
        (None, "has no demo-1.0.0/Cargo.toml"),
        (b"[package\nname = ", "not valid TOML"),
        (b"\xff\xfe[package]", "not UTF-8"),
        (b"name = 'demo'\nversion = '1.0.0'\n", "no \\[package\\] table"),
        (b"package = 3\n", "no \\[package\\] table"),
        (b"[package]\nversion = '1.0.0'\n", "no package name"),
        (b"[package]\nname = 7\nversion = '1.0.0'\n", "no package name"),
        (b"[package]\nname = 'demo'\n", "no package version"),
        (b"[package]\nname = 'demo'\nversion = 1\n", "no package version"),
        (b"[package]\nname = 'demo'\nversion.workspace = true\n", "inherits its version from a workspace"),
        (b"[package]\nname = 'demo'\nversion = { workspace = true }\n", "version.workspace = true"),
        (b"[package]\nname = 'other'\nversion = '1.0.0'\n", "under 'demo-1.0.0', but its Cargo.toml is for other"),
        (b"[package]\nname = 'demo'\nversion = '1.0.1'\n", "is for demo 1.0.1"),
        (b"a = " + b"[" * 5000 + b"]" * 5000, "not valid TOML|nests too deeply"),
    ],
)
def test_a_bad_cargo_toml_is_refused(toml: bytes | None, why: str) -> None:
    files = [("demo-1.0.0/src/lib.rs", b"")] + ([("demo-1.0.0/Cargo.toml", toml)] if toml is not None else [])
    with pytest.raises(CrateFileError, match=why):
        read_crate(tar_gz(files))


def test_a_nested_cargo_toml_does_not_count() -> None:
    nested = ("demo-1.0.0/sub/Cargo.toml", cargo_toml("demo", "1.0.0"))
    with pytest.raises(CrateFileError, match=r"has no demo-1.0.0/Cargo.toml"):
        read_crate(tar_gz([nested]))


def test_a_second_cargo_toml_is_refused() -> None:
    twice = [*good_entries(), ("demo-1.0.0/Cargo.toml", cargo_toml("evil", "1.0.0"))]
    with pytest.raises(CrateFileError, match="more than once"):
        read_crate(tar_gz(twice))
