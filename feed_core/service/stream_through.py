"""One upstream download shared by every request for the file while it is in flight (stream-through).

The engine (``service/upstream.py``) runs the download as a task of its own: it appends what the upstream
sends to a ``Spool``, releasing all but the last ``HOLD_BACK_BYTES`` to readers as it goes. Once the whole
file is verified (every declared hash and its contents), it releases the rest (``Flight.verified``): readers
complete while the file is stored and its version committed, which they do not wait for. When the download
fails before that (a digest mismatch, an upstream error mid-body, the size bound), the flight fails instead,
and every reader raises ``StreamAborted`` before the end of the body: the server then closes the connection
without completing the response (short of its ``Content-Length``, or without the last chunk of a chunked
body), so no client ever holds a complete body of a file that did not pass verification. A failure of the
store or the commit after that fails only the save: it is logged, and the next request saves the file again.

Readers come and go freely: a request that joins late first gets the bytes released so far, read back
from the spool, then follows along; a reader that disconnects does not affect the download or the save.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import weakref
from collections.abc import AsyncIterator, Mapping

from feed_core.domain.models import PackageVersion

#: Bytes at the end of a file that no reader gets before the whole file is verified.
#: Files up to this size are answered only once verified, so a refused one still gets a plain error status.
HOLD_BACK_BYTES = 64 * 1024
READ_BYTES = 256 * 1024


class StreamAborted(Exception):
    """The shared download failed after its response had started: the response must not complete."""


class Spool:
    """Bytes appended by one writer and read at any offset by any number of readers: in memory up to
    ``memory_bytes``, then in an unnamed temporary file (closed when the spool is garbage collected)."""

    def __init__(self, memory_bytes: int) -> None:
        self._memory_bytes = memory_bytes
        self._buffer = bytearray()
        self._fd: int | None = None
        self.size = 0

    async def append(self, chunk: bytes) -> None:
        if self._fd is None and self.size + len(chunk) <= self._memory_bytes:
            self._buffer += chunk
        else:
            if self._fd is None:
                self._fd = await asyncio.to_thread(self._spill)
                self._buffer = bytearray()
            await asyncio.to_thread(_write_at, self._fd, chunk, self.size)
        self.size += len(chunk)

    def _spill(self) -> int:
        fd, path = tempfile.mkstemp(prefix="feed-spool-")
        os.unlink(path)
        weakref.finalize(self, os.close, fd)
        _write_at(fd, self._buffer, 0)
        return fd

    async def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (the caller reads only what was appended)."""
        if self._fd is None:
            return bytes(self._buffer[offset : offset + size])
        return await asyncio.to_thread(os.pread, self._fd, size, offset)

    async def read_all(self) -> bytes:
        return await self.read(0, self.size)

    async def chunks(self, size: int = READ_BYTES) -> AsyncIterator[bytes]:
        offset = 0
        while offset < self.size:
            block = await self.read(offset, min(size, self.size - offset))
            offset += len(block)
            yield block


def _write_at(fd: int, data: bytes | bytearray, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class Flight:
    """The state of one shared download: what readers may send, and how it ended."""

    def __init__(self, memory_bytes: int) -> None:
        self.spool = Spool(memory_bytes)
        self.declared_size: int | None = None  # the upstream's Content-Length, when it is the file's size
        self.released = 0
        self.complete = False  # verified and wholly released: readers finish whatever becomes of the save
        self.digests: dict[str, str] = {}  # hex digests of the verified file, by algorithm (once complete)
        self.storing = False  # past the download: storing and committing, which nothing should cancel
        self._saved: asyncio.Future[PackageVersion] = asyncio.get_running_loop().create_future()
        self._served_matches = True
        self._wake = asyncio.Event()

    def _changed(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    # --- the writer ------------------------------------------------------------------------------
    async def append(self, chunk: bytes) -> None:
        """Spool a piece of the file and release all of it but the hold-back."""
        await self.spool.append(chunk)
        released = max(self.released, self.spool.size - HOLD_BACK_BYTES)
        if released > self.released:
            self.released = released
            self._changed()

    def verified(self, digests: Mapping[str, str] | None = None) -> None:
        """The whole file passed verification, with these hex ``digests`` (by algorithm): release the rest.
        Storing and committing it come next; readers no longer depend on them."""
        self.digests = dict(digests or {})
        self.released = self.spool.size
        self.complete = True
        self._changed()

    def finish(self, saved: PackageVersion, *, served_matches: bool) -> None:
        """Saved. ``served_matches`` is false when the version committed is not the one streamed (a concurrent
        publish won): a request that has not started serves the committed one from storage; one that was sent
        the verified file in full keeps it, and one cut off before that point (never the case once the file
        was verified) is aborted."""
        self._served_matches = served_matches
        if served_matches:
            self.verified()
        self._saved.set_result(saved)
        self._changed()

    def fail(self, error: BaseException) -> None:
        self._saved.set_exception(error)
        self._saved.exception()  # retrieved here: readers raise their own error
        self._changed()

    # --- readers ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._saved.done()

    async def saved(self) -> PackageVersion:
        """The committed version once the flight ends (raises its error); the caller's cancellation
        does not reach the flight."""
        return await asyncio.shield(self._saved)

    async def started(self) -> bool:
        """Wait until there is something to send or the flight ended. Raises the flight's error when it
        failed before the file was verified and before this request started (the request then gets a plain
        error response). False when the saved version is not the file streamed: serve the saved one from
        storage instead."""
        while True:
            wake = self._wake
            if self.complete and not (self.done and not self._served_matches):
                return True  # verified: sent in full even when storing or committing it fails
            if self.done:
                await self.saved()  # raises its error: nothing was sent to this request yet
                return self._served_matches
            if self.released > 0:
                return True
            await wake.wait()

    async def body(self) -> AsyncIterator[bytes]:
        """The file from its first byte, following the download; raises ``StreamAborted`` if the download fails
        before the file is verified."""
        offset = 0
        while True:
            wake = self._wake
            if offset < self.released:
                block = await self.spool.read(offset, min(READ_BYTES, self.released - offset))
                offset += len(block)
                yield block
                continue
            if self.complete:
                return
            if self.done:
                raise StreamAborted("the upstream download failed or was not saved; the response is cut short")
            await wake.wait()
