"""Azurite for the benchmarks: one in-memory emulator on free loopback ports, and a count of the calls it served.

The calls are counted from Azurite's access log (one line per HTTP request it answered, written to its stdout, which
goes to a file here). A table batch is one call, as it is one round trip. Counting is read-only and incremental: a
`Counter` remembers how far it has read.
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO_DIR, process_cpu_seconds, process_group, tail

if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

# The test suite's Azurite command and connection string (one definition for tests and benchmarks).
from tests.azurite import (
    AZURITE_BIN,
    DEV_ACCOUNT_NAME,
    azurite_command,
    connection_string,
    free_ports,
    port_answers,
)

START_TIMEOUT = 30.0
ACCESS_LINE = re.compile(r'"(?:GET|PUT|POST|DELETE|HEAD|MERGE|PATCH|OPTIONS) (/\S*) HTTP/')


@dataclass
class Calls:
    """Storage calls Azurite answered: Table service and Blob service."""

    table: int = 0
    blob: int = 0

    @property
    def total(self) -> int:
        return self.table + self.blob

    def __sub__(self, other: Calls) -> Calls:
        return Calls(self.table - other.table, self.blob - other.blob)


@dataclass
class Azurite:
    pid: int
    log: Path
    connection_string: str
    container: str  # requests under /<account>/<container>/ are Blob calls, all others Table calls
    _offset: int = 0
    _seen: Calls = field(default_factory=Calls)

    def calls(self) -> Calls:
        """All calls answered so far (reads only what the log gained since the previous call)."""
        with self.log.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written is counted next time
        self._offset += end
        blob_prefix = f"/{DEV_ACCOUNT_NAME}/{self.container}"
        for match in ACCESS_LINE.finditer(chunk[:end].decode(errors="replace")):
            path = match.group(1).split("?", 1)[0]
            if path == blob_prefix or path.startswith(blob_prefix + "/"):
                self._seen.blob += 1
            else:
                self._seen.table += 1
        return Calls(self._seen.table, self._seen.blob)

    def settled_calls(self, quiet: float = 0.2) -> Calls:
        """The count once the log has stopped growing for `quiet` seconds (the last lines of a burst are in)."""
        previous = self.calls()
        while True:
            time.sleep(quiet)
            now = self.calls()
            if now == previous:
                return now
            previous = now

    def cpu_seconds(self) -> float | None:
        return process_cpu_seconds(self.pid)


def start_azurite(stack: ExitStack, work_dir: Path, log: Path, container: str) -> Azurite:
    """Start the pinned Azurite (tools/node_modules) in memory on three free 127.0.0.1 ports, with its access log."""
    if not AZURITE_BIN.exists():
        raise RuntimeError(f"Azurite is not installed ({AZURITE_BIN} is missing): run `npm install` in tools/")
    work_dir.mkdir(parents=True, exist_ok=True)
    blob, queue, table = free_ports(3)
    proc = stack.enter_context(process_group(azurite_command(blob, queue, table), log, dict(os.environ), work_dir))
    deadline = time.monotonic() + START_TIMEOUT
    while not all(port_answers(p) for p in (blob, table)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Azurite did not start (exit {proc.poll()}); log:\n{tail(log)}")
        time.sleep(0.05)
    return Azurite(proc.pid, log, connection_string(blob, queue, table), container)
