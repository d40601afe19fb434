"""Maven checksum files (``<file>.md5``, ``.sha1``, ``.sha256``, ``.sha512``), as clients and repositories write them.

The digest is on the first non-empty line: plain hex, hex followed by the file's name (``hex  lib-1.0.jar``, as
``sha1sum`` writes it), or BSD style (``SHA1(lib-1.0.jar)= hex``). Maven Resolver reads them the same way. Pure: no
I/O.
"""

from __future__ import annotations

import re

from feed_core.domain.integrity import HEX_LENGTHS, is_hex_digest

#: The most a checksum file may hold: a digest and perhaps a file name.
MAX_CHECKSUM_BYTES = 4096
_BSD = re.compile(r"^[A-Za-z0-9-]+ ?\(.*\) ?= ?([0-9A-Fa-f]+)$")


class ChecksumFileError(ValueError):
    """Not a checksum file of the algorithm; the message completes "the checksum file ..."."""


def read_checksum_file(body: bytes, algorithm: str) -> str:
    """The lower-case hex digest of ``algorithm`` a checksum file holds; ``ChecksumFileError`` says what is wrong."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ChecksumFileError("is not ASCII text") from None
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    bsd = _BSD.match(line)
    digest = (bsd.group(1) if bsd else line.split()[0] if line else "").lower()
    if not is_hex_digest(algorithm, digest):
        shown = line[:80] or "an empty body"
        raise ChecksumFileError(f"is not {HEX_LENGTHS[algorithm]} hex digits (got {shown!r})")
    return digest
