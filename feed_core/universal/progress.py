"""A one-line progress bar on stderr for long transfers, and the byte counts the commands print.

The bar appears only when stderr is a terminal and the transfer has lasted ``DELAY_SECONDS``: short
transfers, pipes and logs stay quiet. It is redrawn at most ``INTERVAL_SECONDS`` apart and erased when done.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

DELAY_SECONDS = 1.0
INTERVAL_SECONDS = 0.2
WIDTH = 24


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def bar_line(label: str, done: int, total: int, seconds: float) -> str:
    share = done / total if total else 1.0
    filled = min(WIDTH, int(share * WIDTH))
    rate = done / seconds if seconds > 0 else 0.0
    return (
        f"{label} [{'#' * filled}{'.' * (WIDTH - filled)}] {share * 100:5.1f}% "
        f"{human_bytes(done)} / {human_bytes(total)}  {human_bytes(rate)}/s"
    )


class Progress:
    """Counts bytes done out of ``total`` and draws the bar when it should."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._start = time.monotonic()
        self._drawn_at = 0.0
        self._drawn = False

    def advance(self, n: int) -> None:
        self.done += n
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._start < DELAY_SECONDS or now - self._drawn_at < INTERVAL_SECONDS:
            return
        self._drawn_at = now
        self._drawn = True
        self._stream.write("\r" + bar_line(self.label, self.done, self.total, now - self._start) + "\x1b[K")
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False
