"""Recording download times without slowing downloads: an in-process coalescer.

A download calls :meth:`DownloadRecorder.record`, which only touches memory: it remembers, per version, the day
it last queued a write for, and queues one more only when the domain rule (``domain/download_times``) says the
stored day is a day old. Queued days are written in the background a few seconds later (upserts, a bounded
number at a time), and whatever is still queued when the services close (the app's shutdown) is written then.
Both maps are bounded: the oldest remembered versions are forgotten first (the cost is one more write), and a
queue that is full drops new days (logged once per flush with their number; the next day's download records it
again). A failed write is logged and queued again, and the next flush waits longer after each flush that failed
(doubling, at most ``MAX_BACKOFF`` times the interval); it never fails a download. A download recorded after
``close()`` (a request still finishing while the app shuts down) is refused: not queued, counted in ``dropped``,
and logged once, since nothing would write it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from datetime import datetime

from feed_core.domain.clock import Clock
from feed_core.domain.download_times import needs_recording
from feed_core.storage.download_times import DownloadTimesStore, day_start

log = logging.getLogger(__name__)

#: (feed id, protocol, package name, version)
Key = tuple[str, str, str, str]

FLUSH_SECONDS = 5.0
MAX_KEYS = 100_000
CONCURRENCY = 8
#: The longest wait between flushes after failures, in flush intervals.
MAX_BACKOFF = 12


class DownloadRecorder:
    def __init__(
        self,
        store: DownloadTimesStore,
        clock: Clock,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        max_keys: int = MAX_KEYS,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._store = store
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._max_keys = max_keys
        self._concurrency = concurrency
        #: The start of the day last queued per version, least recently downloaded first.
        self._recorded: OrderedDict[Key, datetime] = OrderedDict()
        self._pending: dict[Key, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._in_flush = False  # the background task is writing (not waiting): let it finish
        self._closed = False
        self._flushing = asyncio.Lock()
        self._marked = False
        self._backoff = 1
        self._dropped_unlogged = 0
        self._refused_logged = False
        self.dropped = 0

    def record(self, feed_id: str, protocol: str, name: str, version: str) -> None:
        """Note a download of the version's file now. Memory only; the write, if one is due, comes later."""
        if self._closed:
            self.dropped += 1
            if not self._refused_logged:
                self._refused_logged = True
                log.warning("a download after the recorder closed is not recorded (the app is shutting down)")
            return
        now = self._clock()
        key = (feed_id, protocol, name, version)
        last = self._recorded.get(key)
        if last is not None and not needs_recording(last, now):
            return
        if key not in self._pending and len(self._pending) >= self._max_keys:
            self.dropped += 1
            self._dropped_unlogged += 1
            return
        day = day_start(now.date())
        self._pending[key] = day
        self._recorded[key] = day
        self._recorded.move_to_end(key)
        if len(self._recorded) > self._max_keys:
            self._recorded.popitem(last=False)
        self._schedule()

    @property
    def flush_seconds(self) -> float:
        """How long a queued day may wait before it is written (retention widens its window by this)."""
        return self._flush_seconds

    @property
    def store(self) -> DownloadTimesStore:
        return self._store

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _schedule(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return
        try:
            self._task = asyncio.get_running_loop().create_task(self._flush_later())
        except RuntimeError:  # no event loop (a synchronous caller): the next flush or close writes it
            self._task = None

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._flush_seconds * self._backoff)
        self._in_flush = True
        try:
            await self.flush()
        except Exception:  # flush logs its own failures; anything else must not kill later flushes
            log.exception("writing download times failed")
        finally:
            self._in_flush = False
            self._task = None
        if self._pending:
            self._schedule()

    async def flush(self) -> int:
        """Write every queued day now; the number written. Failures are logged and queued again."""
        async with self._flushing:
            if self._dropped_unlogged:
                log.warning(
                    "%d download days were not queued: the queue held %d versions already",
                    self._dropped_unlogged,
                    self._max_keys,
                )
                self._dropped_unlogged = 0
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            if not self._marked:
                try:
                    await self._store.mark_recording_started(min(batch.values()))
                    self._marked = True
                except Exception:
                    log.warning("could not record when download times began; trying again at the next flush")
            gate = asyncio.Semaphore(self._concurrency)
            keys = list(batch)

            async def write(key: Key) -> None:
                async with gate:
                    await self._store.put(*key, batch[key].date())

            try:
                results = await asyncio.gather(*(write(k) for k in keys), return_exceptions=True)
            except asyncio.CancelledError:  # the loop is going down: keep the days for a flush that may follow
                for key in keys:
                    self._pending.setdefault(key, batch[key])
                raise
            failed = [(k, r) for k, r in zip(keys, results, strict=True) if isinstance(r, BaseException)]
            for key, _ in failed:
                if key not in self._pending and len(self._pending) < self._max_keys:
                    self._pending[key] = batch[key]
            self._backoff = min(self._backoff * 2, MAX_BACKOFF) if failed else 1
            if failed:
                log.warning(
                    "could not write %d of %d download times (first: %r); they are tried again in %.0f s",
                    len(failed),
                    len(keys),
                    failed[0][1],
                    self._flush_seconds * self._backoff,
                )
            return len(keys) - len(failed)

    async def close(self) -> None:
        """Stop the background flush and write what is queued (the app's shutdown)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            if not self._in_flush:  # cancelled while it waits (or before it ran); a flush under way is let finish
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.flush()
        except Exception:
            log.exception("writing download times at shutdown failed")
