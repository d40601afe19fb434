"""Subresource-integrity strings (``sha512-<base64>``) checked against digests of the bytes."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

SUPPORTED = ("sha512", "sha384", "sha256", "sha1")
#: Computed besides the ones above for the protocols that serve it (Maven's ``.md5``), never used to verify.
EXTRA = ("md5",)
HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}


def parse_sri(text: str) -> list[tuple[str, str]]:
    """``[(algorithm, base64 digest)]`` for the algorithms we can compute; options after ``?`` dropped."""
    out = []
    for item in text.split():
        algo, _, digest = item.partition("-")
        algo = algo.lower()
        if algo in SUPPORTED and digest:
            out.append((algo, digest.split("?", 1)[0]))
    return out


@dataclass
class Digests:
    """Running digests of a byte stream, fed chunk by chunk."""

    size: int = 0
    _hashes: dict[str, hashlib._Hash] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for algo in SUPPORTED:
            self._hashes[algo] = hashlib.new(algo)
        for algo in EXTRA:
            self._hashes[algo] = hashlib.new(algo, usedforsecurity=False)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        for h in self._hashes.values():
            h.update(chunk)

    def b64(self, algo: str) -> str:
        return base64.b64encode(self._hashes[algo].digest()).decode()

    def hex(self, algo: str) -> str:
        return self._hashes[algo].hexdigest()

    @property
    def sri(self) -> str:
        return "sha512-" + self.b64("sha512")

    def hexes(self) -> dict[str, str]:
        """The hex digests a saved file entry carries."""
        return {algo: self.hex(algo) for algo in ("sha256", "sha1", "md5", "sha512")}


def is_hex_digest(algo: str, text: str) -> bool:
    """Whether ``text`` is a lower-case hex digest of ``algo``'s length."""
    return len(text) == HEX_LENGTHS.get(algo, -1) and all(c in "0123456789abcdef" for c in text)


def sri_of_hex(algo: str, hex_digest: str) -> str:
    """A hex digest as an SRI string (``sha512-<base64>``); ``""`` for an empty one."""
    if not hex_digest:
        return ""
    return f"{algo}-{base64.b64encode(bytes.fromhex(hex_digest)).decode()}"


def first_mismatch(declared_sri: str, declared_sha1: str, digests: Digests) -> str | None:
    """The algorithm whose declared digest does not match, or ``None`` when all declared ones match."""
    for algo, expected in parse_sri(declared_sri):
        if digests.b64(algo) != expected:
            return algo
    if declared_sha1 and digests.hex("sha1") != declared_sha1.lower():
        return "sha1"
    return None


def strongest_checked(declared_sri: str, declared_sha1: str) -> str | None:
    """Which algorithm a successful check relied on (for provenance), or ``None`` if nothing was declared."""
    algos = [a for a, _ in parse_sri(declared_sri)]
    for algo in SUPPORTED:
        if algo in algos:
            return algo
    return "sha1" if declared_sha1 else None
