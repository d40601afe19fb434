"""Python distributions: names, versions, and inspecting real wheels and sdists built here in memory."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import stat
import tarfile
import zipfile

import pytest

from feed_core.domain.errors import BadRequestError, PayloadTooLargeError
from feed_core.domain.python_dist import (
    DistFile,
    canonical_version,
    check_form_fields,
    inspect_distribution,
    normalize_name,
    validate_project_name,
)

MiB = 1024 * 1024


# --- builders --------------------------------------------------------------------------------------


def core_metadata(name: str, version: str, requires_python: str = ">=3.8", extra: str = "") -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    return ("\n".join(lines) + "\n" + extra).encode()


def make_wheel(
    name: str,
    version: str,
    requires_python: str = ">=3.8",
    extra_metadata: str = "",
    *,
    metadata: bytes | None = None,
    dist_info: str | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> bytes:
    """A minimal but real wheel: a module, METADATA, WHEEL and RECORD."""
    dist_info = dist_info or f"{name}-{version}.dist-info"
    module = name.lower().replace("-", "_").replace(".", "_")
    files: dict[str, bytes] = {
        f"{module}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": metadata
        if metadata is not None
        else core_metadata(name, version, requires_python, extra_metadata),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        **(extra_files or {}),
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist_info}/RECORD"]).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buf.getvalue()


def wheel_name(name: str, version: str) -> str:
    return f"{name}-{version}-py3-none-any.whl"


def make_sdist(
    name: str,
    version: str,
    requires_python: str = ">=3.8",
    extra_metadata: str = "",
    *,
    fmt: str = "tar.gz",
    metadata: bytes | None = None,
    topdir: str | None = None,
    extra_files: dict[str, bytes] | None = None,
    with_pkg_info: bool = True,
) -> bytes:
    """A minimal but real sdist: ``{name}-{version}/PKG-INFO``, pyproject.toml, setup.cfg and a module."""
    top = topdir or f"{name}-{version}"
    files: dict[str, bytes] = {
        f"{top}/pyproject.toml": (
            b'[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        ),
        f"{top}/setup.cfg": f"[metadata]\nname = {name}\nversion = {version}\n".encode(),
        f"{top}/src/mod.py": b"VALUE = 1\n",
    }
    if with_pkg_info:
        files[f"{top}/PKG-INFO"] = (
            metadata if metadata is not None else core_metadata(name, version, requires_python, extra_metadata)
        )
    files.update(extra_files or {})
    buf = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, content in files.items():
                archive.writestr(path, content)
    else:
        with tarfile.open(fileobj=buf, mode="w:gz" if fmt == "tar.gz" else "w:") as archive:
            for path, content in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def tar_gz(members: list[tarfile.TarInfo], contents: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for info, content in zip(members, contents, strict=True):
            archive.addfile(info, io.BytesIO(content) if content else None)
    return buf.getvalue()


RICH = (
    "Summary: Frobs widgets\n"
    "Author: Zoë Müller\n"
    "Author-email: zoe@example.test\n"
    "License: MIT\n"
    "Keywords: frob,widget\n"
    "Home-page: https://example.test/frob\n"
    "Description-Content-Type: text/markdown\n"
    "Requires-Dist: requests>=2\n"
    "Requires-Dist: tomli; python_version < '3.11'\n"
    "Classifier: Programming Language :: Python :: 3\n"
    "Classifier: License :: OSI Approved :: MIT License\n"
    "Project-URL: Source, https://example.test/frob/src\n"
    "\n"
    "# Frob\n\nLong description in the body.\n"
)


# --- names and versions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("Foo.Bar", "foo-bar"), ("foo__bar", "foo-bar"), ("FOO-._bar", "foo-bar"), ("requests", "requests")],
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized


@pytest.mark.parametrize("name", ["a", "Foo.Bar", "foo_bar-2", "x" * 100, "A1"])
def test_valid_project_names(name: str) -> None:
    assert validate_project_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("-bad", "starting and ending"),
        ("bad.", "starting and ending"),
        ("bad name", "ASCII letters"),
        ("fóo", "ASCII letters"),
        ("x" * 101, "longer than 100"),
    ],
)
def test_invalid_project_names(name: str, why: str) -> None:
    with pytest.raises(BadRequestError, match="project name") as exc:
        validate_project_name(name)
    assert why in exc.value.message


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1.0.0a1", "1.0.0a1"), ("1.0.0-alpha1", "1.0.0a1"), ("1.0-RC1", "1.0rc1"), ("v2.0.post1", "2.0.post1")],
)
def test_canonical_version(text: str, canonical: str) -> None:
    assert canonical_version(text) == canonical


@pytest.mark.parametrize(("text", "why"), [("not a version", "not a PEP 440"), ("1" * 101, "longer than 100")])
def test_invalid_versions(text: str, why: str) -> None:
    with pytest.raises(BadRequestError, match="invalid version") as exc:
        canonical_version(text)
    assert why in exc.value.message


# --- happy paths -----------------------------------------------------------------------------------


def test_wheel_metadata_and_fields() -> None:
    data = make_wheel("frob", "1.2.0", extra_metadata=RICH)
    dist = inspect_distribution(wheel_name("frob", "1.2.0"), data)
    assert (dist.kind, dist.name, dist.version, dist.filename) == (
        "wheel",
        "frob",
        "1.2.0",
        "frob-1.2.0-py3-none-any.whl",
    )
    assert dist.metadata == core_metadata("frob", "1.2.0", extra=RICH)
    f = dist.fields
    assert (f.name, f.version, f.metadata_version, f.requires_python) == ("frob", "1.2.0", "2.1", ">=3.8")
    assert (f.summary, f.author, f.license, f.keywords) == ("Frobs widgets", "Zoë Müller", "MIT", "frob,widget")
    assert (f.author_email, f.home_page) == ("zoe@example.test", "https://example.test/frob")
    assert f.description_content_type == "text/markdown"
    assert f.description == "# Frob\n\nLong description in the body.\n"
    assert f.requires_dist == ["requests>=2", "tomli; python_version < '3.11'"]
    assert f.classifiers == ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"]
    assert f.project_urls == ["Source, https://example.test/frob/src"]


def test_description_header_wins_over_empty_body_and_absent_fields_are_empty() -> None:
    dist = inspect_distribution(
        wheel_name("frob", "1.0"), make_wheel("frob", "1.0", requires_python="", extra_metadata="Description: short\n")
    )
    assert dist.fields.description == "short"
    assert (dist.fields.requires_python, dist.fields.summary, dist.fields.requires_dist) == ("", "", [])


def test_sdist_tar_gz() -> None:
    dist = inspect_distribution("frob-2.0.tar.gz", make_sdist("frob", "2.0", requires_python=">=3.9,<4"))
    assert (dist.kind, dist.name, dist.version) == ("sdist", "frob", "2.0")
    assert dist.fields.requires_python == ">=3.9,<4"
    assert dist.metadata == core_metadata("frob", "2.0", ">=3.9,<4")


def test_sdist_zip() -> None:
    dist = inspect_distribution("frob-2.0.zip", make_sdist("frob", "2.0", fmt="zip"))
    assert (dist.kind, dist.name, dist.version, dist.fields.requires_python) == ("sdist", "frob", "2.0", ">=3.8")


@pytest.mark.parametrize("name", ["Foo_Bar", "Foo.Bar", "foo-bar"])
def test_legacy_sdist_names_normalize(name: str) -> None:
    dist = inspect_distribution(f"{name}-1.0.tar.gz", make_sdist(name, "1.0"))
    assert (dist.name, dist.fields.name) == ("foo-bar", name)


def test_wheel_dist_info_tolerates_case_and_separator_variants() -> None:
    data = make_wheel("Foo.Bar", "1.0", dist_info="foo_bar-1.0.dist-info")
    dist = inspect_distribution(wheel_name("Foo_Bar", "1.0"), data)
    assert (dist.name, dist.fields.name) == ("foo-bar", "Foo.Bar")


def test_version_canonicalized_against_the_filename() -> None:
    data = make_sdist("pkg", "1.0.0a1", metadata=core_metadata("pkg", "1.0.0-alpha1"))
    dist = inspect_distribution("pkg-1.0.0a1.tar.gz", data)
    assert (dist.version, dist.fields.version) == ("1.0.0a1", "1.0.0-alpha1")


# --- file names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "phrase"),
    [
        ("pkg-1.0-py3.11.egg", "upload a wheel (.whl) or a source distribution"),
        ("pkg-1.0.win-amd64.exe", "upload a wheel (.whl) or a source distribution"),
        ("pkg-1.0.tar.bz2", "upload a wheel (.whl) or a source distribution"),
        ("../x.whl", "plain file name"),
        ("dir/pkg-1.0.tar.gz", "plain file name"),
        ("dir\\pkg-1.0.tar.gz", "plain file name"),
        ("pkg-1.0..tar.gz", "plain file name"),
        ("pkg\x00-1.0.tar.gz", "control characters"),
        ("p" * 250 + "-1.0.tar.gz", "longer than 255"),
        ("", "no file name"),
        ("pkg.whl", "Invalid wheel filename"),
        ("pkg-notaversion-py3-none-any.whl", "Invalid wheel filename"),
        ("fóo-1.0.tar.gz", "invalid project name"),
    ],
)
def test_bad_filenames(filename: str, phrase: str) -> None:
    with pytest.raises(BadRequestError) as exc:
        inspect_distribution(filename, make_wheel("pkg", "1.0"))
    assert phrase in exc.value.message


# --- archive errors --------------------------------------------------------------------------------


def test_wheel_not_a_zip() -> None:
    with pytest.raises(BadRequestError, match="not a zip archive"):
        inspect_distribution(wheel_name("pkg", "1.0"), b"this is not a zip")


def test_wheel_without_metadata() -> None:
    data = make_wheel("pkg", "1.0", dist_info="other-place")
    with pytest.raises(BadRequestError, match=r"wheel has no \.dist-info/METADATA"):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


def test_wheel_dist_info_for_another_project() -> None:
    data = make_wheel("pkg", "1.0", dist_info="other-1.0.dist-info")
    with pytest.raises(BadRequestError, match=r"wheel has no \.dist-info/METADATA for pkg 1.0"):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


def test_wheel_with_two_dist_info_dirs() -> None:
    data = make_wheel("pkg", "1.0", extra_files={"other-1.0.dist-info/METADATA": core_metadata("other", "1.0")})
    with pytest.raises(BadRequestError, match=r"more than one \.dist-info"):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


def test_wheel_name_mismatch() -> None:
    data = make_wheel("pkg", "1.0", metadata=core_metadata("other", "1.0"))
    with pytest.raises(BadRequestError, match=re.escape("filename says pkg 1.0 but its metadata says other 1.0")):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


def test_sdist_name_mismatch() -> None:
    with pytest.raises(BadRequestError, match=re.escape("filename says other 1.0 but its metadata says pkg 1.0")):
        inspect_distribution("other-1.0.tar.gz", make_sdist("pkg", "1.0"))


def test_version_mismatch() -> None:
    data = make_wheel("pkg", "1.0", metadata=core_metadata("pkg", "2.0"))
    with pytest.raises(BadRequestError, match=re.escape("filename says pkg 1.0 but its metadata says pkg 2.0")):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


def test_zip_bomb_by_ratio() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("pkg-1.0.dist-info/METADATA", core_metadata("pkg", "1.0"))
        with archive.open("pkg/zeros.bin", "w") as member:
            chunk = bytes(MiB)
            for _ in range(50):
                member.write(chunk)
    assert len(buf.getvalue()) < 2 * MiB
    with pytest.raises(PayloadTooLargeError, match="looks like a zip bomb"):
        inspect_distribution(wheel_name("pkg", "1.0"), buf.getvalue(), max_ratio=200)
    # deflate cannot pass ~1032:1, so real wheels (onnx ships a 1016:1 member) pass the default
    inspect_distribution(wheel_name("pkg", "1.0"), buf.getvalue())


def test_zip_bomb_by_total_size() -> None:
    with pytest.raises(PayloadTooLargeError, match="looks like a zip bomb"):
        inspect_distribution(wheel_name("pkg", "1.0"), make_wheel("pkg", "1.0"), max_uncompressed=100)


def test_zip_with_too_many_members() -> None:
    data = make_wheel("pkg", "1.0", extra_files={f"pkg/m{i}.py": b"" for i in range(20)})
    with pytest.raises(PayloadTooLargeError, match="more than the 10 this feed accepts"):
        inspect_distribution(wheel_name("pkg", "1.0"), data, max_members=10)


def test_zip_sdist_gets_the_same_checks() -> None:
    with pytest.raises(PayloadTooLargeError, match="looks like a zip bomb"):
        inspect_distribution("pkg-1.0.zip", make_sdist("pkg", "1.0", fmt="zip"), max_uncompressed=100)


def test_oversized_metadata_is_refused() -> None:
    data = make_wheel("pkg", "1.0", extra_metadata="x" * (10 * MiB))
    with pytest.raises(PayloadTooLargeError, match="larger than 10 MiB"):
        inspect_distribution(wheel_name("pkg", "1.0"), data, max_ratio=10**9)


@pytest.mark.parametrize("path", ["../evil.py", "/abs.py", "pkg/../../evil.py", "C:/evil.py", "..\\evil.py"])
def test_zip_unsafe_member_paths(path: str) -> None:
    data = make_wheel("pkg", "1.0", extra_files={path: b"x"})
    with pytest.raises(BadRequestError, match="unsafe path"):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


def test_tar_unsafe_member_path() -> None:
    data = make_sdist("pkg", "1.0", extra_files={"pkg-1.0/../../evil.py": b"x"})
    with pytest.raises(BadRequestError, match="unsafe path"):
        inspect_distribution("pkg-1.0.tar.gz", data)


@pytest.mark.parametrize(
    "data",
    [
        make_sdist("pkg", "1.0", fmt="tar"),  # a tar, but not gzip-compressed
        b"definitely not an archive",
        make_wheel("pkg", "1.0"),  # a zip
        gzip.compress(b"gzip, but no tar inside" * 40),
    ],
)
def test_tar_that_is_not_gzip_tar(data: bytes) -> None:
    with pytest.raises(BadRequestError, match="not a gzip-compressed tar"):
        inspect_distribution("pkg-1.0.tar.gz", data)


def test_tar_with_too_many_members() -> None:
    data = make_sdist("pkg", "1.0", extra_files={f"pkg-1.0/m{i}.py": b"" for i in range(20)})
    with pytest.raises(PayloadTooLargeError, match="more than the 10 files"):
        inspect_distribution("pkg-1.0.tar.gz", data, max_members=10)


def test_tar_declared_sizes_beyond_the_limit() -> None:
    data = make_sdist("pkg", "1.0", extra_files={"pkg-1.0/big.bin": bytes(64 * 1024)})
    with pytest.raises(PayloadTooLargeError, match="decompression bomb"):
        inspect_distribution("pkg-1.0.tar.gz", data, max_uncompressed=32 * 1024)


def test_tar_stream_beyond_the_limit_even_when_members_are_small() -> None:
    # 200 one-byte files: the declared sizes add up to 200 bytes, the tar stream to over 200 KiB.
    data = make_sdist("pkg", "1.0", extra_files={f"pkg-1.0/m{i}.py": b"x" for i in range(200)})
    with pytest.raises(PayloadTooLargeError, match="decompression bomb"):
        inspect_distribution("pkg-1.0.tar.gz", data, max_uncompressed=50 * 1024)


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_sdist_without_pkg_info(fmt: str) -> None:
    with pytest.raises(BadRequestError, match="sdist has no PKG-INFO"):
        inspect_distribution(f"pkg-1.0.{fmt}", make_sdist("pkg", "1.0", fmt=fmt, with_pkg_info=False))


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_sdist_with_two_top_level_dirs(fmt: str) -> None:
    data = make_sdist("pkg", "1.0", fmt=fmt, extra_files={"other/PKG-INFO": core_metadata("pkg", "1.0")})
    with pytest.raises(BadRequestError, match="single top-level directory"):
        inspect_distribution(f"pkg-1.0.{fmt}", data)


def test_sdist_pkg_info_must_be_a_regular_file() -> None:
    top = tarfile.TarInfo("pkg-1.0")
    top.type = tarfile.DIRTYPE
    link = tarfile.TarInfo("pkg-1.0/PKG-INFO")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(BadRequestError, match="not a regular file"):
        inspect_distribution("pkg-1.0.tar.gz", tar_gz([top, link], [b"", b""]))


def _tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (_tar_entry("pkg-1.0/src/evil.py", tarfile.SYMTYPE, "/etc/passwd"), "a symbolic link"),
        (_tar_entry("pkg-1.0/src/evil.py", tarfile.LNKTYPE, "pkg-1.0/setup.cfg"), "a hard link"),
        (_tar_entry("pkg-1.0/dev/tty", tarfile.CHRTYPE), "a character device"),
        (_tar_entry("pkg-1.0/dev/sda", tarfile.BLKTYPE), "a block device"),
        (_tar_entry("pkg-1.0/pipe", tarfile.FIFOTYPE), "a FIFO"),
    ],
)
def test_sdist_links_and_devices_are_refused(entry: tarfile.TarInfo, kind: str) -> None:
    pkg_info = tarfile.TarInfo("pkg-1.0/PKG-INFO")
    metadata = core_metadata("pkg", "1.0")
    pkg_info.size = len(metadata)
    with pytest.raises(BadRequestError, match=f"{kind}, not a regular file"):
        inspect_distribution("pkg-1.0.tar.gz", tar_gz([pkg_info, entry], [metadata, b""]))


@pytest.mark.parametrize(
    ("mode", "kind"),
    [(stat.S_IFLNK | 0o777, "a symbolic link"), (stat.S_IFCHR | 0o644, "a character device"), (stat.S_IFIFO, "a FIFO")],
)
@pytest.mark.parametrize("fmt", ["whl", "zip"])
def test_zip_links_and_devices_are_refused(mode: int, kind: str, fmt: str) -> None:
    base = make_wheel("pkg", "1.0") if fmt == "whl" else make_sdist("pkg", "1.0", fmt="zip")
    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a") as archive:
        link = zipfile.ZipInfo("pkg/evil.py" if fmt == "whl" else "pkg-1.0/evil.py")
        link.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
        link.external_attr = mode << 16
        archive.writestr(link, b"/etc/passwd")
    name = wheel_name("pkg", "1.0") if fmt == "whl" else "pkg-1.0.zip"
    with pytest.raises(BadRequestError, match=f"{kind}, not a regular file"):
        inspect_distribution(name, buf.getvalue())


def test_zip_regular_files_with_unix_modes_are_fine() -> None:
    buf = io.BytesIO(make_wheel("pkg", "1.0"))
    with zipfile.ZipFile(buf, "a") as archive:
        script = zipfile.ZipInfo("pkg/run.sh")
        script.create_system = 3
        script.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(script, b"#!/bin/sh\n")
    assert inspect_distribution(wheel_name("pkg", "1.0"), buf.getvalue()).name == "pkg"


# --- metadata errors -------------------------------------------------------------------------------


def test_invalid_version_in_metadata() -> None:
    data = make_wheel("pkg", "1.0", metadata=core_metadata("pkg", "one point oh"))
    with pytest.raises(BadRequestError, match="invalid version 'one point oh'"):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


def test_invalid_requires_python() -> None:
    with pytest.raises(BadRequestError, match=re.escape("invalid Requires-Python '=>3.8'")):
        inspect_distribution("pkg-1.0.tar.gz", make_sdist("pkg", "1.0", requires_python="=>3.8"))


def test_invalid_name_in_metadata() -> None:
    data = make_wheel("pkg", "1.0", metadata=core_metadata("pkg!", "1.0"))
    with pytest.raises(BadRequestError, match="invalid project name 'pkg!'"):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (b"Name: pkg\nVersion: 1.0\n", "has no Metadata-Version field"),
        (b"Metadata-Version: 2.1\nVersion: 1.0\n", "has no Name field"),
        (b"Metadata-Version: 2.1\nName: pkg\n", "has no Version field"),
        (b"Metadata-Version: 2.1\nName: pkg\nName: other\nVersion: 1.0\n", "more than one Name field"),
        (b"Metadata-Version: two\nName: pkg\nVersion: 1.0\n", "invalid Metadata-Version"),
    ],
)
def test_required_metadata_fields(text: bytes, phrase: str) -> None:
    with pytest.raises(BadRequestError) as exc:
        inspect_distribution(wheel_name("pkg", "1.0"), make_wheel("pkg", "1.0", metadata=text))
    assert phrase in exc.value.message


def test_metadata_not_utf8() -> None:
    data = make_wheel("pkg", "1.0", metadata=core_metadata("pkg", "1.0") + "Author: Zoë\n".encode("latin-1"))
    with pytest.raises(BadRequestError, match="metadata is not UTF-8"):
        inspect_distribution(wheel_name("pkg", "1.0"), data)


# --- the upload form -------------------------------------------------------------------------------


@pytest.fixture
def dist() -> DistFile:
    return inspect_distribution(wheel_name("Foo_Bar", "1.0a1"), make_wheel("Foo_Bar", "1.0a1"))


def test_form_fields_accept_equivalent_spellings(dist: DistFile) -> None:
    digest = hashlib.sha256(b"file").hexdigest()
    check_form_fields(dist, "foo-bar", "1.0-alpha1", digest.upper(), digest)
    check_form_fields(dist, "Foo.Bar", "1.0a1", None, digest)
    check_form_fields(dist, "Foo_Bar", "1.0a1", "", digest)


@pytest.mark.parametrize(
    ("name", "version", "phrase"),
    [
        ("other", "1.0a1", "the upload form says name 'other'"),
        ("", "1.0a1", "no 'name' field"),
        ("foo-bar", "1.0", "the upload form says version '1.0'"),
        ("foo-bar", "", "no 'version' field"),
        ("foo-bar", "latest", "invalid version 'latest'"),
    ],
)
def test_form_field_mismatches(dist: DistFile, name: str, version: str, phrase: str) -> None:
    with pytest.raises(BadRequestError) as exc:
        check_form_fields(dist, name, version, None, "00" * 32)
    assert phrase in exc.value.message


def test_sha256_mismatch(dist: DistFile) -> None:
    with pytest.raises(BadRequestError, match="sha256_digest does not match the uploaded file: the upload is corrupt"):
        check_form_fields(dist, "foo-bar", "1.0a1", "ab" * 32, hashlib.sha256(b"file").hexdigest())
