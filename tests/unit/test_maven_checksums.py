"""Checksum files as Maven clients and repositories write them (one reader for deploys and upstreams)."""

from __future__ import annotations

import hashlib

import pytest

from feed_core.domain.maven_checksums import ChecksumFileError, read_checksum_file

MD5 = hashlib.md5(b"x").hexdigest()  # noqa: S324 - Maven's checksum
SHA256 = hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize(
    ("text", "algorithm", "expected"),
    [
        (MD5, "md5", MD5),
        (f"{SHA256.upper()}  lib-1.0.jar\r\n", "sha256", SHA256),
        (f"MD5 (lib-1.0.jar) = {MD5}", "md5", MD5),
        (f"\n\n{MD5}\nsecond line ignored", "md5", MD5),
    ],
)
def test_every_common_form_gives_the_digest(text: str, algorithm: str, expected: str) -> None:
    assert read_checksum_file(text.encode(), algorithm) == expected


@pytest.mark.parametrize(
    ("body", "algorithm", "why"),
    [
        (b"", "md5", "is not 32 hex digits (got 'an empty body')"),
        (MD5.encode(), "sha256", "is not 64 hex digits"),
        ("é".encode(), "md5", "is not ASCII text"),
        (b"<html>404</html>", "md5", "is not 32 hex digits (got '<html>404</html>')"),
    ],
)
def test_anything_else_says_what_is_wrong(body: bytes, algorithm: str, why: str) -> None:
    with pytest.raises(ChecksumFileError, match=why.replace("(", r"\(").replace(")", r"\)")):
        read_checksum_file(body, algorithm)
