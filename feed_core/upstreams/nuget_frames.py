"""One stored document made of several upstream answers (a NuGet registration index and its pages, a v2
feed's pages), with what is needed to read them again later (the resource URLs of the service index).

Layout: one line of JSON (the header: ``{"nuget": kind, ..., "parts": [[url, size], ...]}``), then the
bodies of the parts, one after the other, exactly as the upstream sent them. Reading checks every size, so
a stored document that was cut or altered is refused rather than misread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from feed_core.upstreams.models import BadDocument

#: The header holds the resource URLs and one URL per part: never near this.
MAX_HEADER_BYTES = 1024 * 1024


def frame(header: dict[str, Any], parts: Sequence[tuple[str, bytes]]) -> bytes:
    head = json.dumps({**header, "parts": [[url, len(body)] for url, body in parts]}, separators=(",", ":"))
    return b"".join([head.encode(), b"\n", *(body for _, body in parts)])


def unframe(body: bytes, name: str) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The header and the parts of a framed document; ``BadDocument`` when it is not one."""
    end = body.find(b"\n", 0, MAX_HEADER_BYTES)
    try:
        header = json.loads(body[:end]) if end > 0 else None
    except ValueError:
        header = None
    listed = header.get("parts") if isinstance(header, dict) else None
    if not isinstance(header, dict) or not isinstance(listed, list) or not listed:
        raise BadDocument(f"the stored NuGet document for {name} is not readable")
    parts = []
    offset = end + 1
    for item in listed:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], int)
            or item[1] < 0
        ):
            raise BadDocument(f"the stored NuGet document for {name} is not readable")
        parts.append((item[0], body[offset : offset + item[1]]))
        offset += item[1]
    if offset != len(body):
        raise BadDocument(f"the stored NuGet document for {name} is not readable (its sizes do not add up)")
    return header, parts
