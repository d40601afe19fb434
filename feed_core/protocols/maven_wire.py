"""How Maven answers look on the wire: content types, checksum bodies and headers, small in-memory files (checksums,
metadata) served alike on GET and HEAD, and error bodies mvn can print."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from feed_core.domain.errors import BadRequestError, FeedError
from feed_core.domain.maven_checksums import ChecksumFileError, read_checksum_file

#: The challenge that makes mvn (and Gradle) send the ``<server>`` credentials: they do not send them on reads
#: until asked, and a lone Basic challenge is what they understand.
CHALLENGE = 'Basic realm="package feed"'
TEXT = "text/plain; charset=utf-8"
XML = "application/xml"
#: A POM is the deployer's XML, served from the feed's origin: a browser must neither guess a type nor run what it
#: embeds (with the Basic credentials it keeps for this origin).
SAFE = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
#: Hex length of each checksum algorithm's digest, by file extension.
_MEDIA = {
    "pom": XML,
    "xml": XML,
    "jar": "application/java-archive",
    "war": "application/java-archive",
    "ear": "application/java-archive",
    "aar": "application/java-archive",
    "module": "application/json",
    "json": "application/json",
    "asc": "application/pgp-signature",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tgz": "application/gzip",
    "txt": TEXT,
}


def media_type(extension: str) -> str:
    """The content type of a file with this extension (``tar.gz``: by its last part)."""
    return _MEDIA.get(extension.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def digests(data: bytes) -> dict[str, str]:
    """The digests a stored file's entry keeps (lower-case hex), by algorithm name."""
    return {alg: hashlib.new(alg, data).hexdigest() for alg in ("sha256", "sha1", "md5", "sha512")}


def http_date(iso_time: str) -> str | None:
    """An ISO time as an HTTP date (``Last-Modified``); ``None`` when it is not one."""
    try:
        moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def checksum_headers(entry: Mapping[str, Any]) -> dict[str, str]:
    """``X-Checksum-SHA1``/``-MD5``: with them Maven needs no second request for the ``.sha1`` file."""
    out = {}
    for alg, header in (("sha1", "X-Checksum-SHA1"), ("md5", "X-Checksum-MD5")):
        value = entry.get(alg)
        if isinstance(value, str) and value:
            out[header] = value
    return out


def read_checksum(body: bytes, algorithm: str, what: str) -> str:
    """The digest in a checksum file a client sent (``maven_checksums``); a 400 saying what is wrong."""
    try:
        return read_checksum_file(body, algorithm)
    except ChecksumFileError as exc:
        raise BadRequestError(f"the {algorithm.upper()} checksum sent for {what} {exc}") from None


def small_file(
    request: Request, body: bytes, media: str, headers: dict[str, str], *, last_modified: str | None = None
) -> Response:
    """A small file held in memory, answered alike on GET and HEAD (HEAD: the same headers, no body), with an
    ETag over its bytes and a 304 for a matching ``If-None-Match``."""
    out = {**SAFE, **headers, "ETag": f'"{hashlib.sha256(body).hexdigest()}"'}
    if last_modified:
        out["Last-Modified"] = last_modified
    if request.headers.get("if-none-match") == out["ETag"]:
        return Response(status_code=304, headers=out)
    if request.method == "HEAD":
        return Response(status_code=200, headers={**out, "Content-Length": str(len(body))}, media_type=media)
    return Response(body, headers=out, media_type=media)


def text(message: str, status: int = 200) -> Response:
    return Response(message + "\n", status_code=status, media_type=TEXT, headers=SAFE)


def render_error(exc: FeedError) -> Response:
    """The message as plain text: mvn shows the status line (standard reason phrases) and, with -e or on some
    failures, the body."""
    return text(exc.message, exc.status)
