"""Content-Encoding decoding in bounded steps, so a decompression bomb never inflates in one go.

httpx inflates each network chunk in full (and stacks encodings such as ``gzip, gzip``), so a small
hostile body can expand to gigabytes before any size check runs. Here each step yields at most
``step`` bytes, which lets the caller count and stop at its bound. Only ``gzip`` and ``deflate`` are
accepted (the only ones the feed asks for), one layer at most.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

ACCEPT_ENCODING = "gzip, deflate"
_STEP = 64 * 1024


class DecodingError(ValueError):
    """The body's encoding is unsupported, or the compressed data is corrupt."""


class BoundedDecoder:
    def __init__(self, content_encoding: str, step: int = _STEP) -> None:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            self._wbits: int | None = None
        elif encoding in ("gzip", "x-gzip"):
            self._wbits = zlib.MAX_WBITS | 16
        elif encoding == "deflate":
            self._wbits = zlib.MAX_WBITS  # zlib-wrapped; raw deflate is tried when that fails at once
        else:
            raise DecodingError(
                f"unsupported Content-Encoding {content_encoding!r} (the feed asks for {ACCEPT_ENCODING})"
            )
        self._encoding = encoding
        self._step = step
        self._z = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._started = False
        self._done = False  # the compressed stream ended; what follows is ignored

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, in pieces of at most ``step`` bytes."""
        if self._z is None:
            for start in range(0, len(data), self._step):
                yield data[start : start + self._step]
            return
        while data and not self._done:
            if self._z.eof:  # another gzip member may follow; anything else is ignored, as browsers do
                if self._wbits == zlib.MAX_WBITS | 16 and data[:2] == b"\x1f\x8b":
                    self._z = zlib.decompressobj(self._wbits)
                else:
                    self._done = True
                    return
            try:
                piece = self._z.decompress(data, self._step)
            except zlib.error as exc:
                if self._encoding == "deflate" and not self._started:  # raw deflate, as some servers send
                    self._wbits = -zlib.MAX_WBITS
                    self._z = zlib.decompressobj(self._wbits)
                    self._started = True
                    continue
                raise DecodingError(f"corrupt {self._encoding} data ({exc})") from None
            self._started = True
            if piece:
                yield piece
            data = self._z.unused_data if self._z.eof else self._z.unconsumed_tail
            if not data and not self._z.eof and len(piece) == self._step:
                yield from self._drain()

    def _drain(self) -> Iterator[bytes]:
        """Output zlib still holds after a step that filled its limit and used all the input."""
        assert self._z is not None
        while piece := self._z.decompress(b"", self._step):
            yield piece
