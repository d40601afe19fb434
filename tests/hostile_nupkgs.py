"""Hostile .nupkg files for tests, built by hand: zip bombs by their directory, unsafe member paths, DTDs."""

from __future__ import annotations

import random
import struct
import zipfile

from tests.nupkg_builder import build_nupkg, nuspec, zip_bytes

MiB = 1024 * 1024
BILLION_LAUGHS = '<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">'
XXE = '<!ENTITY xxe SYSTEM "file:///etc/passwd">'


def _patch_sizes(data: bytes, member: str, declared: int) -> bytes:
    """``data`` with the uncompressed size of ``member`` rewritten to ``declared`` in both of its headers."""
    raw = bytearray(data)
    name = member.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        position = raw.find(signature)
        while position >= 0:
            name_at = position + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at : name_at + len(name)] == name:
                struct.pack_into("<I", raw, position + offset, declared)
            position = raw.find(signature, position + 4)
    return bytes(raw)


def ratio_bomb() -> bytes:
    """A member that says it inflates to 1.5 GiB from a few KiB: refused from the directory, never inflated."""
    data = build_nupkg("Bomb", "1.0.0", extra_files={"content/zeros.bin": bytes(2 * MiB)})
    return _patch_sizes(data, "content/zeros.bin", 1536 * MiB)


def declared_total_bomb() -> bytes:
    """Members whose declared sizes add up past the limit, each below the compression-ratio trigger."""
    noise = random.Random(7).randbytes(64 * 1024)  # noqa: S311 - incompressible test bytes, not a secret
    files = {f"content/part{i}.bin": noise for i in range(3)}
    data = build_nupkg("Bomb", "1.0.0", extra_files=files)
    for name in files:
        data = _patch_sizes(data, name, 0xFFFF0000 // 3 * 2)
    return data


def too_many_members() -> bytes:
    """A zip whose central directory lists more entries than the feed accepts (counted before zipfile parses it)."""
    entry = b"PK\x01\x02" + bytes(24) + struct.pack("<HHH", 1, 0, 0) + bytes(12) + b"a"
    count = 100_001
    directory = entry * count
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, len(directory), 0, 0)
    return directory + end


def with_member(name: str) -> bytes:
    return build_nupkg("Trav", "1.0.0", extra_files={name: b"gotcha"})


def with_doctype(subset: str) -> bytes:
    body = nuspec("Xml", "1.0.0").split(b"?>", 1)[1]
    xml = b'<?xml version="1.0"?><!DOCTYPE package [' + subset.encode() + b"]>" + body
    return build_nupkg("Xml", "1.0.0", nuspec_xml=xml)


def lying_stored_size(declared: int = 3 * MiB) -> bytes:
    """A zip whose one stored member (the nuspec, 4 bytes) claims ``declared`` bytes."""
    return _patch_sizes(zip_bytes({"x.nuspec": b"<a/>"}, compression=zipfile.ZIP_STORED), "x.nuspec", declared)
