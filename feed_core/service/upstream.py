"""The upstream engine: what each enabled upstream offers for a package, and saving a version.

Metadata: kept per (upstream location, package) in memory and on the ports, fresh for
``FEED_UPSTREAM_METADATA_TTL_SECONDS``, then served stale while one background request revalidates
it (``If-None-Match``/``If-Modified-Since``; a 304 just renews it). A request for a version the
cached document does not know refreshes that one package at once, at most once per
``FEED_UPSTREAM_REFRESH_MIN_SECONDS``. When an upstream fails or times out, the last document it
sent is used for as long as it keeps failing (stale-if-error without a time limit), and the failure
is recorded. Concurrent requests for the same document or the same file share one upstream call.

Release age: with each new answer the engine works out the release-age floors of its versions
(``domain/release_age.py``) and keeps them next to the cached answer.

Saving: a version's file is streamed from the upstream, hashed as it arrives, checked against the
hashes the upstream declared, and only then stored and committed with its provenance. Files that
belong together (a Python file and its core metadata file) are all verified before any is stored.
A download for a request runs as a task of its own (``stream_save``), shared by every request for the
file meanwhile; they receive its bytes as they arrive, all but the last ones until it is verified, and
do not wait for the store and the commit (``service/stream_through.py``).

Errors: what a client is told names the upstream only ("upstream 'x' is unavailable"); the cause,
with addresses and status codes, goes to the log and to the health record administrators read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any, TypeGuard, TypeVar
from urllib.parse import urlsplit

import httpx

from feed_core.domain.clock import Clock, iso
from feed_core.domain.credentials import credentials_identity
from feed_core.domain.errors import FeedError, FileNotInUpstream, UpstreamError, UpstreamUnusableError
from feed_core.domain.integrity import Digests, first_mismatch, sri_of_hex, strongest_checked
from feed_core.domain.models import Caller, Feed, PackageVersion
from feed_core.domain.release_age import next_floors, normalized_time
from feed_core.domain.source_models import InternalSource, UpstreamSource
from feed_core.domain.visibility import tags_in_view, versions_in_view
from feed_core.service.stream_through import Flight
from feed_core.settings import Settings
from feed_core.storage.catalog import Catalog
from feed_core.storage.packages import PackageStore, content_key
from feed_core.storage.ports import BlobStore
from feed_core.storage.upstream_state import CachedDocument, CachedMeta, UpstreamStateStore
from feed_core.upstreams import cargo as cargo_upstream
from feed_core.upstreams import maven as maven_upstream
from feed_core.upstreams import npm as npm_upstream
from feed_core.upstreams import nuget as nuget_upstream
from feed_core.upstreams import pypi as pypi_upstream
from feed_core.upstreams import upack as upack_upstream
from feed_core.upstreams.http import (
    FILE_LIMIT_SETTING,
    Fetched,
    UpstreamFailure,
    iter_body,
    open_stream,
    source_auth_headers,
    status_failure,
)
from feed_core.upstreams.models import BadDocument, FileMissing, UpstreamFile, UpstreamPackage, UpstreamVersion

log = logging.getLogger("feed_core.upstream")
T = TypeVar("T")
_NEGATIVE_TTL_SECONDS = 60.0
_MEMORY_ENTRIES = 5000
_MEMORY_DOCUMENT_BYTES = 256 * 1024 * 1024  # parsed documents take a few times this; evict beyond it
_SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024
_FLOORS_IN_THREAD_VERSIONS = 2000  # reading this many publish times is worth a thread


@dataclass(frozen=True)
class SourceOffer:
    """One enabled upstream's answer for a package."""

    source: UpstreamSource
    package: UpstreamPackage | None  # None: the upstream does not have it, or could not be asked
    error: str | None = None  # why the upstream could not be asked just now (for logs and administrators)
    stale: bool = False  # the package data is older than the TTL (served while failing/revalidating)
    fingerprint: str = ""  # changes whenever ``package`` or ``floors`` change
    permanent: bool = False  # ``error`` will not go away by asking again soon (TLS, DNS, credentials, guard)
    floors: Mapping[str, str] = field(default_factory=dict)  # version -> release-age floor (ISO)


@dataclass(frozen=True)
class _Entry:
    package: UpstreamPackage | None
    blob_key: str
    etag: str | None
    last_modified: str | None
    fetched_at: float  # last successful answer; 0 when never
    attempted_at: float
    error: str | None = None
    size: int = 0  # bytes of the upstream document, to bound the memory the cache takes
    permanent: bool = False  # the error is one retrying cannot fix
    floors: Mapping[str, str] = field(default_factory=dict)  # release-age floors of its versions
    floors_key: str = ""
    hold_until: float = 0.0  # a refused document is not asked for again before this time

    @property
    def fingerprint(self) -> str:
        if self.package is None:
            return "none" if not self.error else "error"
        return f"{self.blob_key}|{self.floors_key}"


BREAKER_THRESHOLD = 3  # consecutive failures that open the circuit
BREAKER_COOLDOWN_SECONDS = 30.0  # how long an open circuit skips the upstream before one trial call


@dataclass
class _Breaker:
    failures: int = 0
    open_until: float = 0.0
    last_reason: str = ""
    permanent: bool = False


@dataclass(frozen=True)
class _Client:
    """How one protocol fetches and reads an upstream's package document."""

    fetch: Callable[..., Awaitable[Fetched]]
    parse: Callable[[bytes, str, str], Awaitable[UpstreamPackage]]
    ping: Callable[[httpx.AsyncClient, UpstreamSource, float], Awaitable[None]]
    #: Checks a downloaded file (name, version, file name, verified bytes) before it is stored: it must be
    #: the file it is listed as, by its own contents; raises ``BadDocument``.
    check_file: Callable[[str, str, str, bytes], None] | None = None
    #: Completes the hashes an upstream declares for one version when its listing does not carry them
    #: (``UpstreamVersion.digests_url``): called at save time, before any byte of the file is fetched.
    #: ``(client, source, name, version, budget=, max_bytes=)``; raises ``UpstreamFailure``.
    declared: Callable[..., Awaitable[UpstreamVersion]] | None = None
    #: Completes the hashes declared for one file of a multi-file version whose listing does not carry them
    #: (``UpstreamFile.digests_url``): ``(client, source, file, budget=, max_bytes=)`` -> the file with them;
    #: raises ``UpstreamFailure`` (``FileMissing`` when the upstream does not have the file at all).
    declared_file: Callable[..., Awaitable[UpstreamFile]] | None = None
    #: Which files ``check_file`` reads (``None``: all). It is given the whole file in memory, so a protocol
    #: whose files are checked by a small one of them (a Maven POM) names that one.
    checks: Callable[[str], bool] | None = None
    #: Which version numbers of another feed of this service are offered through a feed-to-feed source
    #: (``None``: all); Maven offers no snapshot from any upstream.
    offered: Callable[[str], bool] | None = None
    #: For a version of another feed whose content is many stored pieces (``UpstreamVersion.files_manifest``):
    #: checks them and renews their blobs before the saved row references them; returns the version's size.
    keep_pieces: Callable[[BlobStore, UpstreamVersion], Awaitable[int]] | None = None


CLIENTS = {
    "npm": _Client(
        npm_upstream.fetch_packument, npm_upstream.parse_packument, npm_upstream.ping, npm_upstream.check_tarball
    ),
    "pypi": _Client(
        pypi_upstream.fetch_document,
        pypi_upstream.parse_document,
        pypi_upstream.ping,
        pypi_upstream.check_distribution,
    ),
    "nuget": _Client(
        nuget_upstream.fetch_document,
        nuget_upstream.parse_document,
        nuget_upstream.ping,
        nuget_upstream.check_package,
        nuget_upstream.declared,
    ),
    "maven": _Client(
        maven_upstream.fetch_document,
        maven_upstream.parse_document,
        maven_upstream.ping,
        maven_upstream.check_file,
        declared_file=maven_upstream.declared_file,
        checks=maven_upstream.checks,
        offered=maven_upstream.offered,
    ),
    "cargo": _Client(
        cargo_upstream.fetch_document,
        cargo_upstream.parse_document,
        cargo_upstream.ping,
        cargo_upstream.check_file,
        cargo_upstream.declared,
    ),
    "upack": _Client(
        upack_upstream.fetch_document,
        upack_upstream.parse_document,
        upack_upstream.ping,
        keep_pieces=upack_upstream.keep_pieces,
    ),
}


def source_key(feed_id: str, source: UpstreamSource) -> str:
    """The key an upstream's cached answers are stored under (in a partition key of the state table).

    Feeds whose anonymous sources name the same location share one key, so they share the cache. A
    source with credentials (even ones that no longer decrypt) is keyed by its feed and its own id:
    nothing derived from its secrets is ever stored, where it could be guessed at offline, and what
    its credentials fetched is served only through it.
    """
    if source.credentials is None:
        return hashlib.sha256(f"{source.location}|null".encode()).hexdigest()[:32]
    return f"{feed_id.lower()}.{source.id.lower()}"


def _breaker_key(source: UpstreamSource) -> str:
    """Sources of one location with the same credentials fail together (kept in memory only)."""
    creds = credentials_identity(source.credentials)
    return hashlib.sha256(f"{source.location}|{creds}".encode()).hexdigest()


def enabled_sources(feed: Feed, protocol: str) -> list[UpstreamSource]:
    if not feed.upstream_enabled:
        return []
    return [s for s in feed.upstream_sources if s.protocol == protocol and s.enabled]


def declared_digests(uv: UpstreamVersion) -> dict[str, str]:
    """What an upstream declares for a version's bytes: sha-256 per file (Python), else npm's
    ``integrity`` and ``shasum`` (and a sha-256 where the listing has one: Cargo's ``cksum``); keyed as
    ``packages.saved_digests`` keys a saved version."""
    if uv.files:
        return {f.filename: f.sha256 for f in uv.files}
    return {"integrity": uv.integrity, "shasum": uv.sha1, **({"sha256": uv.sha256} if uv.sha256 else {})}


def declared_hexes(file: UpstreamFile) -> dict[str, str]:
    """The hex digests an upstream declares for one file (a feed upstream: every one it keeps)."""
    hexes = {"sha256": file.sha256, "sha1": file.sha1, "md5": file.md5, "sha512": file.sha512}
    return {algo: value for algo, value in hexes.items() if value}


def _file_algorithm(file: UpstreamFile) -> str | None:
    """The strongest hash an upstream declares for one file (what provenance says it was verified with)."""
    return next((algo for algo in ("sha512", "sha256", "sha1") if getattr(file, algo)), None)


def is_internal(source: UpstreamSource) -> TypeGuard[InternalSource]:
    """Another feed of this service (the rest are external: public or custom registries)."""
    return isinstance(source, InternalSource)


def source_hop(source: UpstreamSource) -> dict[str, Any]:
    """The entry a source adds to a saved version's ``sourceChain`` (Azure's shape)."""
    return {
        "id": source.id,
        "name": source.name,
        "location": source.location,
        "displayLocation": source.display_location,
        "sourceType": source.upstream_source_type,
    }


class UpstreamService:
    def __init__(
        self,
        *,
        state: UpstreamStateStore,
        packages: PackageStore,
        catalog: Catalog,
        settings: Settings,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._state = state
        self._packages = packages
        self._catalog = catalog
        self._settings = settings
        self._clock = clock
        self._http = http
        self._memory: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()
        self._memory_bytes = 0
        self._flights: dict[tuple[str, ...], asyncio.Future[Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._streams: dict[tuple[str, ...], Flight] = {}  # saves in flight, by version (and file)
        #: Files upstreams said they do not have, asked for by path: (breaker key, url) -> until when.
        self._missing: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._saving: dict[asyncio.Task[None], Flight] = {}
        #: Last failure per source id, as the request path saw it.
        self.failures: dict[str, str] = {}
        self._breakers: dict[str, _Breaker] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            from feed_core.upstreams.http import make_client

            self._http = make_client(
                self._settings.upstream_connect_timeout,
                self._settings.upstream_timeout,
                allowed_networks=self._settings.upstream_allowed_network_ranges,
                ca_bundle=self._settings.upstream_ca_bundle,
            )
        return self._http

    async def close(self) -> None:
        # Saves still downloading are dropped (nothing is stored before the end); those storing finish.
        for task, flight in list(self._saving.items()):
            if not flight.storing:
                task.cancel()
        for task in list(self._saving):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def stores_done(self) -> None:
        """Wait for the saves past their download (storing and committing, which no requester waits for) to end."""
        while storing := [task for task, flight in self._saving.items() if flight.storing and not task.done()]:
            await asyncio.wait(storing)

    def _now(self) -> float:
        return self._clock().timestamp()

    async def _single_flight(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` once for concurrent callers with the same key; all get its result."""
        running = self._flights.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            result = await make()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._flights[key]

    # --- what the upstreams offer ----------------------------------------------------------------
    async def offers(
        self,
        feed: Feed,
        sources: Sequence[UpstreamSource],
        protocol: str,
        name: str,
        *,
        want_version: str | None = None,
    ) -> list[SourceOffer]:
        """The answers of ``sources`` (enabled upstreams of ``feed``, chosen by the caller), in their
        order, asked in parallel."""
        return list(await asyncio.gather(*(self._offer(feed, s, protocol, name, want_version) for s in sources)))

    async def _offer(
        self, feed: Feed, source: UpstreamSource, protocol: str, name: str, want_version: str | None
    ) -> SourceOffer:
        if isinstance(source, InternalSource):
            return await self._internal_offer(feed, source, protocol, name)
        key = (protocol, source_key(feed.id, source), name)
        entry = await self._entry(key)
        now = self._now()
        retry_due = entry is None or (
            now - entry.attempted_at >= self._settings.upstream_refresh_min_seconds and now >= entry.hold_until
        )
        ttl = self._settings.upstream_ttl_seconds if entry is None or entry.package else _NEGATIVE_TTL_SECONDS
        missing_version = (
            want_version is not None
            and entry is not None
            and (entry.package is None or want_version not in entry.package.versions)
        )
        if entry is None or (retry_due and (missing_version or (entry.error and not entry.package))):
            entry = await self._refresh(source, key, entry)
        elif now - entry.fetched_at > ttl and retry_due:
            self._refresh_in_background(source, key, entry)
        stale = entry.package is not None and now - entry.fetched_at > self._settings.upstream_ttl_seconds
        return SourceOffer(source, entry.package, entry.error, stale, entry.fingerprint, entry.permanent, entry.floors)

    async def _entry(self, key: tuple[str, str, str]) -> _Entry | None:
        entry = self._memory.get(key)
        if entry is not None:
            self._memory.move_to_end(key)
            return entry
        cached = await self._state.get_meta(*key)
        if cached is None:
            return None
        package: UpstreamPackage | None = None
        size = 0
        if cached.blob_key:
            body = await self._state.read_document(cached.blob_key)
            if body is None:
                return None  # the document is gone: fetch afresh, without validators
            try:
                package = await CLIENTS[key[0]].parse(body, key[2], "cache")
            except UpstreamFailure:
                return None
            size = len(body)
        entry = _Entry(
            package,
            cached.blob_key,
            cached.etag,
            cached.last_modified,
            cached.fetched_at,
            cached.fetched_at,
            size=size,
            floors=await self._state.read_floors(cached.floors_key),
            floors_key=cached.floors_key,
        )
        self._remember(key, entry)
        return entry

    async def forget_missing(self, feed: Feed, protocol: str, name: str) -> int:
        """Drop the answers "no such package" that the feed's external upstreams of ``protocol`` gave for ``name``
        (this worker's and the stored ones), so that the next request asks them afresh; the number dropped.

        Called when an owner allows externally-sourced versions: an upstream asked while the package was private
        (say, by the publish-time check) may have it by now. Answers that carry versions are kept."""
        dropped = 0
        for source in feed.upstream_sources:
            if isinstance(source, InternalSource) or source.protocol != protocol or not source.enabled:
                continue
            key = (protocol, source_key(feed.id, source), name)
            entry = await self._entry(key)
            if entry is None or entry.package is not None:
                continue
            old = self._memory.pop(key, None)
            if old is not None:
                self._memory_bytes -= old.size
            await self._state.forget(CachedDocument(protocol, key[1], name, ""))
            dropped += 1
        return dropped

    def _remember(self, key: tuple[str, str, str], entry: _Entry) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._memory_bytes -= old.size
        self._memory[key] = entry
        self._memory_bytes += entry.size
        while len(self._memory) > 1 and (
            len(self._memory) > _MEMORY_ENTRIES or self._memory_bytes > _MEMORY_DOCUMENT_BYTES
        ):
            _, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= evicted.size

    def _refresh_in_background(self, source: UpstreamSource, key: tuple[str, str, str], entry: _Entry) -> None:
        if ("meta", *key) in self._flights:
            return
        task = asyncio.create_task(self._refresh(source, key, entry))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refresh(self, source: UpstreamSource, key: tuple[str, str, str], entry: _Entry | None) -> _Entry:
        return await self._single_flight(("meta", *key), lambda: self._fetch(source, key, entry))

    def known_missing(self, source: UpstreamSource, url: str) -> bool:
        """Whether ``source`` said it does not have ``url`` in the last minute (a short negative cache, as for
        documents, for files asked for by path)."""
        key = (_breaker_key(source), url)
        until = self._missing.get(key)
        if until is not None and until <= self._now():
            del self._missing[key]
            until = None
        return until is not None

    def note_missing(self, source: UpstreamSource, url: str) -> None:
        self._missing[(_breaker_key(source), url)] = self._now() + _NEGATIVE_TTL_SECONDS
        self._missing.move_to_end((_breaker_key(source), url))
        while len(self._missing) > _MEMORY_ENTRIES:
            self._missing.popitem(last=False)

    def breaker_open(self, source: UpstreamSource) -> str | None:
        """Why calls to this upstream are being skipped right now, or ``None`` when they are not."""
        breaker = self._breakers.get(_breaker_key(source))
        if breaker is None or breaker.open_until <= self._now():
            return None
        wait = breaker.open_until - self._now()
        failed = "it failed" if breaker.failures < BREAKER_THRESHOLD else f"it failed {breaker.failures} times in a row"
        return f"skipped: {failed} (last: {breaker.last_reason}); the next try is in {wait:.0f} s"

    def note_result(self, source: UpstreamSource, reason: str | None, *, permanent: bool = False) -> None:
        """Feed the circuit breaker: a success closes it, repeated failures open it for a cool-down, and a
        permanent failure (TLS, DNS, refused credentials, the outbound guard) opens it at once."""
        key = _breaker_key(source)
        if reason is None:
            self._breakers.pop(key, None)
            self.failures.pop(source.id, None)
            return
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        breaker.last_reason = reason
        breaker.permanent = permanent
        if permanent or breaker.failures >= BREAKER_THRESHOLD:
            breaker.open_until = self._now() + BREAKER_COOLDOWN_SECONDS
        self._record_failure(source, reason)

    async def _fetch(self, source: UpstreamSource, key: tuple[str, str, str], entry: _Entry | None) -> _Entry:
        protocol, skey, name = key
        now = self._now()
        has_doc = entry is not None and entry.package is not None
        try:
            skipped = self.breaker_open(source)
            if skipped is not None:
                raise _Skipped(skipped, permanent=self._breakers[_breaker_key(source)].permanent)
            fetched = await CLIENTS[protocol].fetch(
                self.http,
                source,
                name,
                etag=entry.etag if entry and has_doc else None,
                last_modified=entry.last_modified if entry and has_doc else None,
                budget=self._settings.upstream_timeout,
                max_bytes=self._settings.upstream_max_document_bytes,
            )
            if fetched.status == "not_modified" and entry is not None:
                new = replace(entry, fetched_at=now, attempted_at=now, error=None, permanent=False)
            elif fetched.status == "ok":
                package = await self._parse(protocol, fetched.body, name, source)
                if len(package.versions) > _FLOORS_IN_THREAD_VERSIONS:
                    floors = await asyncio.to_thread(_floors_after, entry, package, self._clock())
                else:
                    floors = _floors_after(entry, package, self._clock())
                # Two independent writes (the document, its floors), together: the meta row naming both follows.
                blob_key, floors_key = await asyncio.gather(
                    self._state.store_document(fetched.body), self._state.store_floors(floors)
                )
                new = _Entry(
                    package,
                    blob_key,
                    fetched.etag,
                    fetched.last_modified,
                    now,
                    now,
                    size=len(fetched.body),
                    floors=floors,
                    floors_key=floors_key,
                )
            else:
                new = _Entry(None, "", None, None, now, now)
        except UpstreamFailure as failure:
            if isinstance(failure, BadDocument):
                # The upstream answered: one package's document must not open the circuit for all.
                self._record_failure(source, failure.reason)
            elif not isinstance(failure, _Skipped):
                self.note_result(source, failure.reason, permanent=failure.permanent)
            if not isinstance(failure, _Skipped):
                log.warning("upstream %s failed for %s: %s", source.name, name, failure.reason)
            # A refused document would be sent again as it is: not asked for again within the TTL.
            hold = now + self._settings.upstream_ttl_seconds if isinstance(failure, BadDocument) else 0.0
            if entry is not None and entry.package is not None:  # stale-if-error
                new = replace(
                    entry, attempted_at=now, error=failure.reason, permanent=failure.permanent, hold_until=hold
                )
            else:
                fetched_at = entry.fetched_at if entry else 0.0
                new = _Entry(
                    None, "", None, None, fetched_at, now, failure.reason, permanent=failure.permanent, hold_until=hold
                )
            self._remember(key, new)
            return new
        self.note_result(source, None)
        meta = CachedMeta(new.blob_key, new.etag, new.last_modified, now, new.floors_key)
        await self._state.put_meta(protocol, skey, name, meta)
        self._remember(key, new)
        return new

    async def _parse(self, protocol: str, body: bytes, name: str, source: UpstreamSource) -> UpstreamPackage:
        """Read an upstream document; whatever it holds, a failure is a ``BadDocument`` with a reason."""
        location = source.location
        try:
            return await CLIENTS[protocol].parse(body, name, location)
        except UpstreamFailure:
            raise
        except Exception as exc:  # hostile input must never become a 500: the reason names what broke
            log.exception("upstream %s sent a document for %s that could not be read", source.name, name)
            raise BadDocument(f"{location} sent a document for {name} that could not be read ({exc!r:.200})") from None

    def _record_failure(self, source: UpstreamSource, reason: str) -> None:
        self.failures[source.id] = reason

    async def _internal_offer(self, feed: Feed, source: InternalSource, protocol: str, name: str) -> SourceOffer:
        """Another feed of this service, read through its view directly from storage."""
        org = source.internal_upstream_collection_id or feed.org
        upstream = await self._catalog.get_feed_by_id(org, source.internal_upstream_feed_id)
        view = upstream.view_by_id(source.internal_upstream_view_id) if upstream else None
        if upstream is None or view is None:
            reason = f"the upstream feed or view of source {source.name!r} no longer exists"
            self._record_failure(source, reason)
            return SourceOffer(source, None, reason)
        meta, versions = await self._packages.get_package(upstream.id, protocol, name)
        visible = versions_in_view(versions, view)
        offered_here = CLIENTS[protocol].offered if protocol in CLIENTS else None
        if offered_here is not None:
            visible = [v for v in visible if offered_here(v.version)]
        if meta is None or not visible:
            return SourceOffer(source, None, None, False, f"{upstream.id}:none")
        offered = {}
        for v in visible:
            manifest = dict(v.manifest)
            if v.deprecated:
                manifest["deprecated"] = v.deprecated
            if v.unlisted:
                manifest["listed"] = False
            offered[v.version] = UpstreamVersion(
                version=v.version,
                manifest=manifest,
                file_url="",
                filename=v.filename,
                integrity=v.sha512_integrity,
                sha1=v.sha1,
                published=str(v.provenance.get("originalPublished") or v.published),
                source_chain=list(v.source_chain),
                sha256=v.sha256,
                size=v.size,
                files_manifest=v.files_manifest or "",
                files=tuple(
                    UpstreamFile(
                        filename=f["filename"],
                        url="",
                        sha256=f["sha256"],
                        size=f.get("size"),
                        requires_python=f.get("requires_python", ""),
                        metadata_sha256=f.get("metadata_sha256", ""),
                        yanked=f.get("yanked"),
                        uploaded=f.get("uploaded"),
                        sha1=f.get("sha1", ""),
                        sha512=f.get("sha512", ""),
                        md5=f.get("md5", ""),
                    )
                    for f in v.files
                ),
            )
        tags = tags_in_view(meta.dist_tags, list(offered))
        package = UpstreamPackage(name, offered, tags, meta.modified)
        return SourceOffer(source, package, None, False, f"{upstream.id}:{meta.rev}:{view.id}")

    async def revalidate(self, feed: Feed, source: UpstreamSource, protocol: str, name: str) -> SourceOffer:
        """Refresh one package's cached metadata now, whatever its age (the refresh job)."""
        key = (protocol, source_key(feed.id, source), name)
        entry = await self._refresh(source, key, await self._entry(key))
        return SourceOffer(source, entry.package, entry.error, False, entry.fingerprint, entry.permanent, entry.floors)

    async def probe(self, source: UpstreamSource) -> tuple[str | None, int]:
        """Ping an upstream: ``(failure reason or None, latency in ms)``; feeds the circuit breaker."""
        started = time.perf_counter()
        reason: str | None = None
        permanent = False
        try:
            await CLIENTS[source.protocol].ping(self.http, source, self._settings.upstream_timeout)
        except UpstreamFailure as failure:
            reason, permanent = failure.reason, failure.permanent
        except TimeoutError:
            reason = f"timed out after {self._settings.upstream_timeout:.0f} s: the upstream is slow or unreachable"
        latency = int((time.perf_counter() - started) * 1000)
        self.note_result(source, reason, permanent=permanent)
        return reason, latency

    # --- saving ----------------------------------------------------------------------------------
    async def fetch_for_save(
        self, feed: Feed, caller: Caller, protocol: str, name: str, source: UpstreamSource, uv: UpstreamVersion
    ) -> PackageVersion:
        """Fetch and verify a version's file, store it, and build the version record to commit."""
        if isinstance(source, InternalSource) and uv.files_manifest:
            keep = CLIENTS[protocol].keep_pieces if protocol in CLIENTS else None
            if keep is None:
                raise UpstreamError(f"{protocol} versions of source {source.name!r} cannot be saved")
            with self._download_failures(source, f"{name}@{uv.version}"):
                size = await keep(self._packages.blobs, uv)
            record = self._version_record(caller, protocol, name, source, uv, iso(self._clock()))(
                uv.sha256, uv.integrity, uv.sha1, size, "same-service"
            )
            return replace(record, files_manifest=uv.files_manifest)
        if isinstance(source, InternalSource):
            # Renewed, not just looked at: the upstream feed's row may go before ours is committed.
            info = await self._packages.blobs.renew(content_key(uv.sha256))
            if info is None:
                raise UpstreamError(f"the upstream feed of source {source.name!r} lost the file of {name}@{uv.version}")
            return self._version_record(caller, protocol, name, source, uv, iso(self._clock()))(
                uv.sha256, uv.integrity, uv.sha1, info.size, "same-service"
            )
        plan = await self.prepared(self.plan_version_save(caller, protocol, name, source, uv))
        digests = await self._download(
            source, plan.label, plan.url, integrity=plan.integrity, sha1=plan.sha1, sha256=plan.sha256, check=plan.check
        )
        return plan.record(digests)

    def plan_version_save(
        self, caller: Caller, protocol: str, name: str, source: UpstreamSource, uv: UpstreamVersion
    ) -> FileSave:
        """What saving a single-file version from a public or custom upstream takes, decided before any byte
        is fetched (raises when the upstream declares no hash for it). When the listing does not carry the
        hash, or not where the file is (Cargo: its index line has the hash, the registry's ``config.json`` the
        address), but says where they are declared (``digests_url``), the plan is completed by ``prepared``
        first."""
        label = f"{name}@{uv.version}"
        client = CLIENTS[protocol]
        strongest = strongest_checked(uv.integrity, uv.sha1) or ("sha256" if uv.sha256 else None)
        if uv.digests_url and client.declared is not None and not (strongest and uv.file_url):
            declared = client.declared

            async def prepare() -> FileSave:
                with self._download_failures(source, label), self._refusals(source, label):
                    complete = await declared(
                        self.http,
                        source,
                        name,
                        uv,
                        budget=self._settings.upstream_timeout,
                        max_bytes=self._settings.upstream_max_document_bytes,
                    )
                return self.plan_version_save(caller, protocol, name, source, replace(complete, digests_url=""))

            return FileSave(source, label, uv.file_url, _unprepared, _unprepared, prepare=prepare)
        verified = self._declared_hash(source, label, strongest)
        build = self._version_record(caller, protocol, name, source, uv, iso(self._clock()))
        check = CLIENTS[protocol].check_file
        return FileSave(
            source=source,
            label=label,
            url=uv.file_url,
            integrity=uv.integrity,
            sha1=uv.sha1,
            sha256=uv.sha256,
            check=functools.partial(check, name, uv.version, uv.filename) if check else None,
            record=lambda d: build(d.hex("sha256"), d.sri, d.hex("sha1"), d.size, verified),
            served=lambda saved: saved.sha256,
        )

    @staticmethod
    def _version_record(
        caller: Caller, protocol: str, name: str, source: UpstreamSource, uv: UpstreamVersion, now: str
    ) -> Callable[[str, str, str, int, str], PackageVersion]:
        """Builds the record of a single-file version from its digests ``(sha256, sri, sha1, size, verified)``."""
        hop = source_hop(source)
        deprecated = uv.manifest.get("deprecated")
        # Cargo: the upstream's yank is the saved version's (``unlisted``), and later ones follow it (the refresh
        # job's ``mark_upstream_yanks``), which compares with the flag the upstream had at the save.
        yanked = uv.manifest.get("listed") is False or (protocol == "cargo" and uv.manifest.get("yanked") is True)
        flags = ("deprecated", "yanked", "listed") if protocol == "cargo" else ("deprecated",)
        manifest = {k: v for k, v in uv.manifest.items() if k not in flags}
        extra: dict[str, Any] = {"upstreamSha256": uv.sha256} if uv.sha256 else {}
        if protocol == "cargo":
            extra["upstreamYanked"] = yanked

        def build(sha256: str, sri: str, sha1: str, size: int, verified: str) -> PackageVersion:
            return PackageVersion(
                protocol=protocol,
                name=name,
                version=uv.version,
                manifest=manifest,
                filename=uv.filename,
                sha256=sha256,
                sha512_integrity=sri,
                sha1=sha1,
                size=size,
                published=normalized_time(uv.published) or now,
                publisher=caller.user,
                deprecated=deprecated if isinstance(deprecated, str) and deprecated else None,
                unlisted=now if yanked else None,
                source_chain=[hop, *uv.source_chain],
                provenance={
                    "source": hop,
                    "url": uv.file_url or source.location,
                    "fetchedAt": now,
                    "savedBy": caller.user,
                    "upstreamIntegrity": uv.integrity,
                    "upstreamShasum": uv.sha1,
                    **extra,
                    "verifiedWith": verified,
                    "originalPublished": uv.published,
                },
            )

        return build

    @staticmethod
    async def prepared(plan: FileSave) -> FileSave:
        """The plan with what the upstream declares for the file read first, when it needs that."""
        return await plan.prepare() if plan.prepare is not None else plan

    @staticmethod
    @contextlib.contextmanager
    def _refusals(source: UpstreamSource, label: str) -> Iterator[None]:
        """A document about a file the feed does not believe refuses the save (its reason is the client's)."""
        try:
            yield
        except BadDocument as refused:
            log.warning("upstream %s sent a refused document for %s: %s", source.name, label, refused.reason)
            raise UpstreamError(
                f"upstream {source.name} declared the hash of {label} in a document that was refused: "
                f"{refused.reason}; nothing was saved"
            ) from None

    @staticmethod
    def _declared_hash(source: UpstreamSource, label: str, algorithm: str | None) -> str:
        """The algorithm a public or custom upstream declared for a file; a file without one is not saved
        (feed-to-feed sources are exempt: the other feed verified its files itself)."""
        if not algorithm:
            raise UpstreamError(
                f"upstream {source.name!r} declares no hash for {label} (no integrity, shasum, sha256 or checksum "
                "file): a file the feed cannot verify is not saved"
            )
        return algorithm

    @contextlib.asynccontextmanager
    async def _verified(
        self,
        source: UpstreamSource,
        label: str,
        url: str,
        *,
        integrity: str = "",
        sha1: str = "",
        sha256: str = "",
        check: Callable[[bytes], None] | None = None,
    ) -> AsyncIterator[_Spooled]:
        """Stream a file to a spool while hashing and check it against every hash declared for it (and
        ``check``, given the verified bytes, when there is one). Nothing is stored here: the caller keeps
        it (``_keep``) once all that belongs together passed."""
        digests = Digests()
        loop = asyncio.get_running_loop()
        limit = self._settings.max_upload_bytes
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES) as spool:
            with self._download_failures(source, label):
                async with asyncio.timeout(self._settings.upstream_download_timeout):
                    async for chunk in npm_upstream.stream_file(self.http, source, url, limit):
                        digests.update(chunk)
                        await loop.run_in_executor(None, spool.write, chunk)
            self._check_digests(source, label, url, digests, integrity, sha1, sha256)
            if check is not None:
                spool.seek(0)
                await self._check_content(source, label, check, spool.read())
            yield _Spooled(spool, digests)

    @contextlib.contextmanager
    def _download_failures(self, source: UpstreamSource, label: str) -> Iterator[None]:
        """What a client is told when a file download fails or runs out of time (the cause goes to the log)."""
        try:
            yield
        except FileMissing:  # the upstream answered: it does not have the file (not a failure of the upstream)
            raise FileNotInUpstream(f"{label} does not exist in upstream {source.name!r}") from None
        except UpstreamFailure as failure:
            self.note_result(source, failure.reason, permanent=failure.permanent)
            log.warning("upstream %s failed for %s: %s", source.name, label, failure.reason)
            raise (UpstreamUnusableError if failure.permanent else UpstreamError)(
                f"could not fetch {label}: {unavailable(source)}; nothing was saved"
            ) from None
        except TimeoutError:
            raise UpstreamError(
                f"fetching {label} from upstream {source.name} took longer than "
                f"{self._settings.upstream_download_timeout:.0f} s; nothing was saved"
            ) from None

    @staticmethod
    def _check_digests(
        source: UpstreamSource, label: str, url: str, digests: Digests, integrity: str, sha1: str, sha256: str
    ) -> None:
        """Every hash declared for a file must match its bytes."""
        bad = first_mismatch(integrity, sha1, digests)
        if bad is None and sha256 and digests.hex("sha256") != sha256.lower():
            bad = "sha256"
        if bad is not None:
            log.error("upstream %s (%s) sent bytes for %s failing %s", source.name, url, label, bad)
            raise UpstreamError(
                f"upstream {source.name} sent bytes for {label} that do not match "
                f"its declared {bad} digest; nothing was saved"
            )

    @staticmethod
    async def _check_content(source: UpstreamSource, label: str, check: Callable[[bytes], None], data: bytes) -> None:
        try:
            await asyncio.to_thread(check, data)
        except BadDocument as refused:
            raise UpstreamError(
                f"upstream {source.name} sent a file for {label} that was refused: {refused.reason}; nothing was saved"
            ) from None

    async def _keep(self, file: _Spooled) -> None:
        """Store a verified file under its sha-256."""
        loop = asyncio.get_running_loop()
        file.spool.seek(0)

        async def chunks() -> AsyncIterator[bytes]:
            while block := await loop.run_in_executor(None, file.spool.read, 256 * 1024):
                yield block

        await self._packages.blobs.put_if_absent(
            content_key(file.digests.hex("sha256")), chunks(), "application/octet-stream"
        )

    async def _download(
        self,
        source: UpstreamSource,
        label: str,
        url: str,
        *,
        integrity: str = "",
        sha1: str = "",
        sha256: str = "",
        check: Callable[[bytes], None] | None = None,
    ) -> Digests:
        """Fetch one file, verify it, and only then store it."""
        verify = self._verified(source, label, url, integrity=integrity, sha1=sha1, sha256=sha256, check=check)
        async with verify as file:
            await self._keep(file)
        return file.digests

    async def fetch_file_for_save(
        self,
        caller: Caller,
        protocol: str,
        name: str,
        source: UpstreamSource,
        uv: UpstreamVersion,
        file: UpstreamFile,
    ) -> PackageVersion:
        """Fetch and verify one file of a multi-file version (and its core metadata file when the upstream
        offers one), store them, and build the version record with that file, ready to commit."""
        if isinstance(source, InternalSource):
            if await self._packages.blobs.renew(content_key(file.sha256)) is None:
                raise UpstreamError(f"the upstream feed of source {source.name!r} lost {file.filename}")
            if file.metadata_sha256:
                await self._packages.blobs.renew(content_key(file.metadata_sha256))
            build = self._file_record(caller, protocol, name, source, uv, file, iso(self._clock()))
            return build(file.size or 0, "same-service", declared_hexes(file))
        plan = await self.prepared(self.plan_file_save(caller, protocol, name, source, uv, file))
        async with contextlib.AsyncExitStack() as stack:
            verify_main = self._verified(
                source,
                plan.label,
                plan.url,
                integrity=plan.integrity,
                sha1=plan.sha1,
                sha256=plan.sha256,
                check=plan.check,
            )
            main = await stack.enter_async_context(verify_main)
            parts = [main]
            if plan.side is not None:
                verify = self._verified(source, plan.side.label, plan.side.url, sha256=plan.side.sha256)
                parts.append(await stack.enter_async_context(verify))
            for part in parts:  # every part verified: only now is anything stored
                await self._keep(part)
        return plan.record(main.digests)

    def plan_file_save(
        self,
        caller: Caller,
        protocol: str,
        name: str,
        source: UpstreamSource,
        uv: UpstreamVersion,
        file: UpstreamFile,
    ) -> FileSave:
        """What saving one file of a multi-file version from a public or custom upstream takes (with its core
        metadata file when the upstream offers one), decided before any byte is fetched. When the hashes of the
        file are declared beside it (``digests_url``), the plan is completed by ``prepared`` first."""
        label = f"{name} {uv.version} ({file.filename})"
        client = CLIENTS[protocol]
        if file.digests_url and client.declared_file is not None and not _file_algorithm(file):
            declared_file = client.declared_file

            async def prepare() -> FileSave:
                with self._download_failures(source, label), self._refusals(source, label):
                    complete = await declared_file(
                        self.http,
                        source,
                        file,
                        budget=self._settings.upstream_timeout,
                        max_bytes=self._settings.upstream_max_document_bytes,
                    )
                return self.plan_file_save(caller, protocol, name, source, uv, replace(complete, digests_url=""))

            return FileSave(source, label, file.url, _unprepared, _unprepared, prepare=prepare)
        verified = self._declared_hash(source, label, _file_algorithm(file))
        build = self._file_record(caller, protocol, name, source, uv, file, iso(self._clock()))
        check = client.check_file
        if client.checks is not None and not client.checks(file.filename):
            check = None
        side = SideFile(f"{label} metadata", file.url + ".metadata", file.metadata_sha256)

        def served(saved: PackageVersion) -> str | None:
            return next((f["sha256"] for f in saved.files if f["filename"] == file.filename), None)

        return FileSave(
            source=source,
            label=label,
            url=file.url,
            integrity=sri_of_hex("sha512", file.sha512),
            sha1=file.sha1,
            sha256=file.sha256,
            check=functools.partial(check, name, uv.version, file.filename) if check else None,
            side=side if file.metadata_sha256 else None,
            record=lambda d: build(d.size, verified, d.hexes()),
            served=served,
        )

    @staticmethod
    def _file_record(
        caller: Caller,
        protocol: str,
        name: str,
        source: UpstreamSource,
        uv: UpstreamVersion,
        file: UpstreamFile,
        now: str,
    ) -> Callable[[int, str, Mapping[str, str]], PackageVersion]:
        """Builds the record of a version holding one file of a multi-file version from ``(size, verified,
        hex digests)``; the entry carries every hex digest known (sha-256, sha-1, md5, sha-512)."""
        hop = source_hop(source)

        def build(size: int, verified: str, hexes: Mapping[str, str]) -> PackageVersion:
            entry: dict[str, Any] = {
                "filename": file.filename,
                "sha256": hexes.get("sha256") or file.sha256,
                **{algo: hexes[algo] for algo in ("sha1", "md5", "sha512") if hexes.get(algo)},
                "size": size,
                "uploaded": normalized_time(file.uploaded) or now,
                "uploader": caller.user,
            }
            if file.requires_python or file.metadata_sha256:
                entry["requires_python"] = file.requires_python
                entry["metadata_sha256"] = file.metadata_sha256
            if file.yanked is not None:
                entry["yanked"] = file.yanked
            return PackageVersion(
                protocol=protocol,
                name=name,
                version=uv.version,
                manifest=dict(uv.manifest),
                filename=file.filename,
                sha256=file.sha256,
                sha512_integrity="",
                sha1="",
                size=size,
                published=normalized_time(uv.published) or now,
                publisher=caller.user,
                source_chain=[hop, *uv.source_chain],
                provenance={
                    "source": hop,
                    "url": file.url or source.location,
                    "fetchedAt": now,
                    "savedBy": caller.user,
                    "upstreamSha256": file.sha256,
                    **({"upstreamDigests": declared_hexes(file)} if file.sha1 or file.sha512 else {}),
                    "verifiedWith": verified,
                    "originalPublished": uv.published,
                },
                files=[entry],
            )

        return build

    async def cache_side_file(self, source: UpstreamSource, label: str, url: str, sha256: str) -> None:
        """Fetch and verify a small companion file (a core metadata file) into the store by its hash,
        without saving its version: installers read these for versions they may never install."""
        # A hit is renewed: nothing references a side file, so only its age keeps it from garbage collection.
        if isinstance(source, InternalSource) or await self._packages.blobs.renew(content_key(sha256)):
            return
        await self._single_flight(("side", sha256), lambda: self._download(source, label, url, sha256=sha256))

    def stream_save(
        self, key: tuple[str, ...], plan: FileSave, commit: Callable[[PackageVersion], Awaitable[PackageVersion]]
    ) -> Flight:
        """The in-flight download that saves ``plan``'s file, started now unless one for ``key`` is running.

        It runs as a task of its own, so a reader that goes away cancels neither the download nor the save:
        the file is spooled while hashed, verified, stored, and its version committed through ``commit``
        (which records it as ``commit_saved`` does); readers follow it with ``Flight.body()``."""
        flight = self._streams.get(key)
        if flight is not None:
            return flight
        flight = Flight(_SPOOL_IN_MEMORY_BYTES)
        self._streams[key] = flight
        task = asyncio.create_task(self._fly(key, flight, plan, commit))
        self._saving[task] = flight
        task.add_done_callback(lambda done: self._landed(key, flight, plan.label, done))
        return flight

    def _landed(self, key: tuple[str, ...], flight: Flight, label: str, task: asyncio.Task[None]) -> None:
        """A save's task ended. One cancelled before it ever ran (``close`` right after it was started) never
        reached ``_fly``'s handlers: its readers would wait forever, and later requests would join it."""
        self._saving.pop(task, None)
        if not flight.done:
            flight.fail(UpstreamError(f"saving {label} was interrupted; nothing was saved, try again"))
        if self._streams.get(key) is flight:
            del self._streams[key]

    async def _fly(
        self,
        key: tuple[str, ...],
        flight: Flight,
        plan: FileSave,
        commit: Callable[[PackageVersion], Awaitable[PackageVersion]],
    ) -> None:
        # What the upstream declares for the file (its checksum file, a catalog leaf) is read while the file
        # downloads: it is needed only to verify the bytes, once they are all in.
        declared = asyncio.create_task(self.prepared(plan)) if plan.prepare is not None else None
        try:
            if declared is not None and not plan.url:  # where the file is comes with it (Cargo's config.json)
                plan, declared = await declared, None
            plan, digests = await self._stream_verified(flight, plan, declared)
            await self._keep_side_file(plan)  # files that belong together are all verified before any is sent
            # readers finish now; the save goes on without them
            flight.verified({algorithm: digests.hex(algorithm) for algorithm in ("sha1", "md5", "sha256")})
            flight.storing = True
            saved = await self._store_and_commit(flight, plan, digests, commit)
        except Exception as exc:
            self._log_failed_save(plan, flight, exc)
            flight.fail(exc)
        except BaseException:  # cancelled (the service is closing): its readers get an error of their own
            flight.fail(UpstreamError(f"saving {plan.label} was interrupted; nothing was saved, try again"))
            raise
        else:
            flight.finish(saved, served_matches=plan.served(saved) == digests.hex("sha256"))
        finally:
            if declared is not None:
                _discard(declared)
            if self._streams.get(key) is flight:
                del self._streams[key]

    async def _store_and_commit(
        self,
        flight: Flight,
        plan: FileSave,
        digests: Digests,
        commit: Callable[[PackageVersion], Awaitable[PackageVersion]],
    ) -> PackageVersion:
        """Store a verified file and commit its version, within ``FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS``. The
        blob put is atomic and the commit comes last, so a failure or the time running out leaves at most an
        unreferenced blob, which garbage collection removes."""
        budget = self._settings.upstream_download_timeout
        try:
            async with asyncio.timeout(budget):
                await self._packages.blobs.put_if_absent(
                    content_key(digests.hex("sha256")), flight.spool.chunks(), "application/octet-stream"
                )
                return await commit(plan.record(digests))
        except TimeoutError:
            raise UpstreamError(
                f"storing {plan.label} from upstream {plan.source.name} took longer than {budget:.0f} s "
                "(FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS); it was not saved, the next request saves it again"
            ) from None

    async def _keep_side_file(self, plan: FileSave) -> None:
        """The core metadata file of ``plan``'s file, verified and stored unless held already (installers
        usually fetched it first); stored before its file, as a side file would be."""
        side = plan.side
        if side is not None and await self._packages.blobs.renew(content_key(side.sha256)) is None:
            await self._single_flight(
                ("side", side.sha256), lambda: self._download(plan.source, side.label, side.url, sha256=side.sha256)
            )

    @staticmethod
    def _log_failed_save(plan: FileSave, flight: Flight, exc: Exception) -> None:
        """A refusal before the file was verified is the client's answer (and was logged where it was found);
        a fault, or any failure once the file was sent in full, goes to the log even when no reader waits."""
        if flight.complete:
            log.warning(
                "%s from upstream %s was sent to its requesters but not saved: %s; the next request saves it again",
                plan.label,
                plan.source.name,
                exc,
                exc_info=None if isinstance(exc, FeedError) else exc,
            )
        elif not isinstance(exc, FeedError):
            log.error("saving %s from upstream %s failed", plan.label, plan.source.name, exc_info=exc)

    async def _stream_verified(
        self, flight: Flight, plan: FileSave, declared: asyncio.Task[FileSave] | None = None
    ) -> tuple[FileSave, Digests]:
        """Download ``plan``'s file into ``flight`` while hashing it; check every declared hash (from ``declared``,
        the completed plan, when the plan needed preparing) and the file's own contents. Raises ``UpstreamError``
        (nothing is stored here)."""
        digests = Digests()
        limit = self._settings.max_upload_bytes
        with self._download_failures(plan.source, plan.label):
            async with asyncio.timeout(self._settings.upstream_download_timeout):
                async with _open_file(self.http, plan.source, plan.url, limit) as (size, chunks):
                    flight.declared_size = size
                    async for chunk in chunks:
                        digests.update(chunk)
                        await flight.append(chunk)
        if declared is not None:
            plan = await declared
        self._check_digests(plan.source, plan.label, plan.url, digests, plan.integrity, plan.sha1, plan.sha256)
        if plan.check is not None:
            await self._check_content(plan.source, plan.label, plan.check, await flight.spool.read_all())
        return plan, digests

    async def save(
        self,
        key: tuple[str, ...],
        fetch: Callable[[], Awaitable[PackageVersion]],
    ) -> PackageVersion:
        """Single-flight wrapper: concurrent first downloads of one version fetch and store it once."""
        return await self._single_flight(("save", *key), fetch)


def _floors_after(entry: _Entry | None, package: UpstreamPackage, now: datetime) -> dict[str, str]:
    """The release-age floors after a new answer, from the answer before it (when the feed holds one)."""
    before = entry.package if entry is not None else None
    return next_floors(
        previous={v: uv.published for v, uv in before.versions.items()} if before is not None else None,
        current={v: uv.published for v, uv in package.versions.items()},
        floors=entry.floors if entry is not None else {},
        previous_at=datetime.fromtimestamp(entry.fetched_at, UTC) if entry is not None and entry.fetched_at else None,
        now=now,
    )


def unavailable(source: UpstreamSource) -> str:
    """What clients are told about a failing upstream: its name, never its address or answer."""
    return f"upstream {source.name!r} is unavailable"


@dataclass(frozen=True)
class SideFile:
    """A companion file stored with a saved file (a Python file's core metadata file)."""

    label: str
    url: str
    sha256: str


@dataclass(frozen=True)
class FileSave:
    """Saving one file from a public or custom upstream, decided before any byte is fetched."""

    source: UpstreamSource
    label: str  # names the file in messages
    url: str
    record: Callable[[Digests], PackageVersion]  # the version record to commit, from the verified digests
    served: Callable[[PackageVersion], str | None]  # sha-256 a committed version serves for this file
    integrity: str = ""
    sha1: str = ""
    sha256: str = ""
    check: Callable[[bytes], None] | None = None  # the verified bytes must be the file they are listed as
    side: SideFile | None = None
    #: Reads what the upstream declares for the file and returns the complete plan (``UpstreamService.prepared``).
    prepare: Callable[[], Awaitable[FileSave]] | None = None


def _discard(task: asyncio.Task[Any]) -> None:
    """Cancel a side task whose answer is no longer needed, and take its error, if any, so that it is not
    reported as never retrieved (the failure that mattered was handled where it happened)."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


def _unprepared(_: Any) -> Any:
    raise AssertionError("a plan that needs preparing was used before it was prepared")


@contextlib.asynccontextmanager
async def _open_file(
    client: httpx.AsyncClient, source: UpstreamSource, url: str, max_bytes: int
) -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
    """A package file's response: its size when the upstream declared it (``Content-Length`` of an unencoded
    body, within ``max_bytes``) and its decoded body. Failures raise ``UpstreamFailure``."""
    async with open_stream(client, "GET", url, lambda hop: source_auth_headers(source, hop)) as response:
        if response.status_code in (404, 410):
            raise FileMissing(f"{url} does not exist ({response.status_code})")
        if response.status_code != 200:
            raise status_failure(response.status_code, url)
        declared: int | None = None
        length = response.headers.get("content-length", "")
        if length.isdigit() and response.headers.get("content-encoding", "identity").lower() == "identity":
            declared = int(length)
            if declared > max_bytes:
                raise UpstreamFailure(
                    f"{urlsplit(url).netloc} declared {declared} bytes for {url}, more than the feed accepts "
                    f"(limit: {FILE_LIMIT_SETTING})"
                )
        yield declared, iter_body(response, max_bytes, FILE_LIMIT_SETTING)


@dataclass(frozen=True)
class _Spooled:
    """A fetched file, verified, waiting in its spool to be stored."""

    spool: IO[bytes]
    digests: Digests


class _Skipped(UpstreamFailure):
    """The circuit breaker skipped the call: not a new failure of the upstream."""
