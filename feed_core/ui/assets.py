"""The UI's static files, addressed by content hash so that browsers may keep them for a year.

``/_static/app.3f2a9c1d0b4e.css`` serves ``static/app.css`` while its sha-256 starts with those digits; any
other name is a 404, so an old page never gets a new file under an old name (nor the reverse).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
HASH_DIGITS = 12
#: Where the app serves them (one path for every organization).
PREFIX = "/_static/"


@dataclass(frozen=True)
class Asset:
    url: str
    body: bytes
    content_type: str
    etag: str


@cache
def _assets() -> dict[str, Asset]:
    """Logical name (``app.css``) -> the asset, read once per process (a few small files)."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:HASH_DIGITS]
        stem, dot, suffix = path.name.rpartition(".")
        hashed = f"{stem}.{digest}.{suffix}" if dot else f"{path.name}.{digest}"
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
            kind += "; charset=utf-8"
        found[path.name] = Asset(PREFIX + hashed, body, kind, f'"{digest}"')
    return found


@cache
def _by_url() -> dict[str, Asset]:
    return {a.url: a for a in _assets().values()}


def static_url(name: str) -> str:
    """The URL of the static file ``name`` (``KeyError`` for a name that is not one: a template bug)."""
    return _assets()[name].url


def find(path: str) -> Asset | None:
    """The asset served at ``path`` (the full request path), or ``None``."""
    return _by_url().get(path)
