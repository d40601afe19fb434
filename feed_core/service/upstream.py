"""The upstream engine: what each enabled upstream offers for a package, and saving a version.

Metadata: kept per (upstream location, package) in memory and on the ports, fresh for
``FEED_UPSTREAM_METADATA_TTL_SECONDS``, then served stale while one background request revalidates
it (``If-None-Match``/``If-Modified-Since``; a 304 just renews it). A request for a version the
cached document does not know refreshes that one package at once, at most once per
``FEED_UPSTREAM_REFRESH_MIN_SECONDS``. When an upstream fails or times out, the last document it
sent is used for as long as it keeps failing (stale-if-error without a time limit), and the failure
is recorded. Concurrent requests for the same document or the same file share one upstream call.

Saving: a version's file is streamed from the upstream, hashed as it arrives, checked against the
hashes the upstream declared, and only then stored and committed with its provenance.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from feed_core.domain.clock import Clock, iso
from feed_core.domain.credentials import credentials_identity
from feed_core.domain.errors import UpstreamError
from feed_core.domain.integrity import Digests, first_mismatch, strongest_checked
from feed_core.domain.models import Caller, Feed, PackageVersion
from feed_core.domain.visibility import tags_in_view, versions_in_view
from feed_core.settings import Settings
from feed_core.storage.catalog import Catalog
from feed_core.storage.packages import PackageStore, content_key
from feed_core.storage.upstream_state import CachedMeta, UpstreamStateStore
from feed_core.upstreams import npm as npm_upstream
from feed_core.upstreams import pypi as pypi_upstream
from feed_core.upstreams.http import Fetched, UpstreamFailure
from feed_core.upstreams.models import UpstreamFile, UpstreamPackage, UpstreamVersion

log = logging.getLogger("feed_core.upstream")
T = TypeVar("T")
_NEGATIVE_TTL_SECONDS = 60.0
_MEMORY_ENTRIES = 5000
_MEMORY_DOCUMENT_BYTES = 256 * 1024 * 1024  # parsed documents take a few times this; evict beyond it
_SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class SourceOffer:
    """One enabled upstream's answer for a package."""

    source: Mapping[str, Any]
    package: UpstreamPackage | None  # None: the upstream does not have it, or could not be asked
    error: str | None = None  # why the upstream could not be asked just now
    stale: bool = False  # the package data is older than the TTL (served while failing/revalidating)
    fingerprint: str = ""  # changes whenever ``package`` changes


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

    @property
    def fingerprint(self) -> str:
        if self.package is None:
            return "none" if not self.error else "error"
        return self.blob_key


BREAKER_THRESHOLD = 3  # consecutive failures that open the circuit
BREAKER_COOLDOWN_SECONDS = 30.0  # how long an open circuit skips the upstream before one trial call


@dataclass
class _Breaker:
    failures: int = 0
    open_until: float = 0.0
    last_reason: str = ""


@dataclass(frozen=True)
class _Client:
    """How one protocol fetches and reads an upstream's package document."""

    fetch: Callable[..., Awaitable[Fetched]]
    parse: Callable[[bytes, str, str], Awaitable[UpstreamPackage]]
    ping: Callable[[httpx.AsyncClient, Mapping[str, Any], float], Awaitable[None]]


CLIENTS = {
    "npm": _Client(npm_upstream.fetch_packument, npm_upstream.parse_packument, npm_upstream.ping),
    "pypi": _Client(pypi_upstream.fetch_document, pypi_upstream.parse_document, pypi_upstream.ping),
}


def source_key(feed_id: str, source: Mapping[str, Any]) -> str:
    """The key an upstream's cached answers are stored under (in a partition key of the state table).

    Feeds whose anonymous sources name the same location share one key, so they share the cache. A
    source with credentials (even ones that no longer decrypt) is keyed by its feed and its own id:
    nothing derived from its secrets is ever stored, where it could be guessed at offline, and what
    its credentials fetched is served only through it.
    """
    if source.get("credentials") is None:
        return hashlib.sha256(f"{source.get('location')}|null".encode()).hexdigest()[:32]
    return f"{feed_id.lower()}.{str(source.get('id')).lower()}"


def _breaker_key(source: Mapping[str, Any]) -> str:
    """Sources of one location with the same credentials fail together (kept in memory only)."""
    creds = credentials_identity(source.get("credentials"))
    return hashlib.sha256(f"{source.get('location')}|{creds}".encode()).hexdigest()


def enabled_sources(feed: Feed, protocol: str) -> list[Mapping[str, Any]]:
    if not feed.upstream_enabled:
        return []
    return [
        s
        for s in feed.upstream_sources
        if s.get("protocol") == protocol and s.get("status", "ok") != "disabled" and not s.get("deletedDate")
    ]


def source_hop(source: Mapping[str, Any]) -> dict[str, Any]:
    """The entry a source adds to a saved version's ``sourceChain`` (Azure's shape)."""
    return {
        "id": source.get("id"),
        "name": source.get("name"),
        "location": source.get("location"),
        "displayLocation": source.get("displayLocation", source.get("location")),
        "sourceType": source.get("upstreamSourceType", "public"),
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
        #: Last failure per source id, as the request path saw it.
        self.failures: dict[str, str] = {}
        self._breakers: dict[str, _Breaker] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            from feed_core.upstreams.http import make_client

            self._http = make_client(self._settings.upstream_connect_timeout, self._settings.upstream_timeout)
        return self._http

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None

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
        self, feed: Feed, protocol: str, name: str, *, want_version: str | None = None
    ) -> list[SourceOffer]:
        """Each enabled upstream's answer, in search order, asked in parallel."""
        sources = enabled_sources(feed, protocol)
        if not sources:
            return []
        return list(await asyncio.gather(*(self._offer(feed, s, protocol, name, want_version) for s in sources)))

    async def _offer(
        self, feed: Feed, source: Mapping[str, Any], protocol: str, name: str, want_version: str | None
    ) -> SourceOffer:
        if source.get("upstreamSourceType") == "internal":
            return await self._internal_offer(feed, source, protocol, name)
        key = (protocol, source_key(feed.id, source), name)
        entry = await self._entry(key)
        now = self._now()
        retry_due = entry is None or now - entry.attempted_at >= self._settings.upstream_refresh_min_seconds
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
        return SourceOffer(source, entry.package, entry.error, stale, entry.fingerprint)

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
        )
        self._remember(key, entry)
        return entry

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

    def _refresh_in_background(self, source: Mapping[str, Any], key: tuple[str, str, str], entry: _Entry) -> None:
        if ("meta", *key) in self._flights:
            return
        task = asyncio.create_task(self._refresh(source, key, entry))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refresh(self, source: Mapping[str, Any], key: tuple[str, str, str], entry: _Entry | None) -> _Entry:
        return await self._single_flight(("meta", *key), lambda: self._fetch(source, key, entry))

    def breaker_open(self, source: Mapping[str, Any]) -> str | None:
        """Why calls to this upstream are being skipped right now, or ``None`` when they are not."""
        breaker = self._breakers.get(_breaker_key(source))
        if breaker is None or breaker.open_until <= self._now():
            return None
        wait = breaker.open_until - self._now()
        return (
            f"skipped: it failed {breaker.failures} times in a row (last: {breaker.last_reason}); "
            f"the next try is in {wait:.0f} s"
        )

    def note_result(self, source: Mapping[str, Any], reason: str | None) -> None:
        """Feed the circuit breaker: a success closes it, repeated failures open it for a cool-down."""
        key = _breaker_key(source)
        if reason is None:
            self._breakers.pop(key, None)
            self.failures.pop(str(source.get("id")), None)
            return
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        breaker.last_reason = reason
        if breaker.failures >= BREAKER_THRESHOLD:
            breaker.open_until = self._now() + BREAKER_COOLDOWN_SECONDS
        self._record_failure(source, reason)

    async def _fetch(self, source: Mapping[str, Any], key: tuple[str, str, str], entry: _Entry | None) -> _Entry:
        protocol, skey, name = key
        now = self._now()
        has_doc = entry is not None and entry.package is not None
        try:
            skipped = self.breaker_open(source)
            if skipped is not None:
                raise _Skipped(skipped)
            fetched = await CLIENTS[protocol].fetch(
                self.http,
                source,
                name,
                etag=entry.etag if entry and has_doc else None,
                last_modified=entry.last_modified if entry and has_doc else None,
                budget=self._settings.upstream_timeout,
            )
            if fetched.status == "not_modified" and entry is not None:
                new = replace(entry, fetched_at=now, attempted_at=now, error=None)
            elif fetched.status == "ok":
                package = await CLIENTS[protocol].parse(fetched.body, name, str(source.get("location")))
                blob_key = await self._state.store_document(fetched.body)
                new = _Entry(package, blob_key, fetched.etag, fetched.last_modified, now, now, size=len(fetched.body))
            else:
                new = _Entry(None, "", None, None, now, now)
        except UpstreamFailure as failure:
            if not isinstance(failure, _Skipped):
                self.note_result(source, failure.reason)
                log.warning("upstream %s failed for %s: %s", source.get("name"), name, failure.reason)
            if entry is not None and entry.package is not None:
                new = replace(entry, attempted_at=now, error=failure.reason)  # stale-if-error
            else:
                new = _Entry(None, "", None, None, entry.fetched_at if entry else 0.0, now, failure.reason)
            self._remember(key, new)
            return new
        self.note_result(source, None)
        await self._state.put_meta(protocol, skey, name, CachedMeta(new.blob_key, new.etag, new.last_modified, now))
        self._remember(key, new)
        return new

    def _record_failure(self, source: Mapping[str, Any], reason: str) -> None:
        self.failures[str(source.get("id"))] = reason

    async def _internal_offer(self, feed: Feed, source: Mapping[str, Any], protocol: str, name: str) -> SourceOffer:
        """Another feed of this service, read through its view directly from storage."""
        org = str(source.get("internalUpstreamCollectionId") or feed.org)
        upstream = await self._catalog.get_feed_by_id(org, str(source.get("internalUpstreamFeedId", "")))
        view = upstream.view_by_id(str(source.get("internalUpstreamViewId", ""))) if upstream else None
        if upstream is None or view is None:
            reason = f"the upstream feed or view of source {source.get('name')!r} no longer exists"
            self._record_failure(source, reason)
            return SourceOffer(source, None, reason)
        meta, versions = await self._packages.get_package(upstream.id, protocol, name)
        visible = versions_in_view(versions, view)
        if meta is None or not visible:
            return SourceOffer(source, None, None, False, f"{upstream.id}:none")
        offered = {}
        for v in visible:
            manifest = dict(v.manifest)
            if v.deprecated:
                manifest["deprecated"] = v.deprecated
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
                    )
                    for f in v.files
                ),
            )
        tags = tags_in_view(meta.dist_tags, list(offered))
        package = UpstreamPackage(name, offered, tags, meta.modified)
        return SourceOffer(source, package, None, False, f"{upstream.id}:{meta.rev}:{view.id}")

    async def revalidate(self, feed: Feed, source: Mapping[str, Any], protocol: str, name: str) -> SourceOffer:
        """Refresh one package's cached metadata now, whatever its age (the refresh job)."""
        key = (protocol, source_key(feed.id, source), name)
        entry = await self._refresh(source, key, await self._entry(key))
        return SourceOffer(source, entry.package, entry.error, False, entry.fingerprint)

    async def probe(self, source: Mapping[str, Any]) -> tuple[str | None, int]:
        """Ping an upstream: ``(failure reason or None, latency in ms)``; feeds the circuit breaker."""
        started = time.perf_counter()
        reason: str | None = None
        try:
            await CLIENTS[str(source.get("protocol", "npm"))].ping(self.http, source, self._settings.upstream_timeout)
        except UpstreamFailure as failure:
            reason = failure.reason
        except TimeoutError:
            reason = f"timed out after {self._settings.upstream_timeout:.0f} s: the upstream is slow or unreachable"
        latency = int((time.perf_counter() - started) * 1000)
        self.note_result(source, reason)
        return reason, latency

    async def find_offer(
        self, feed: Feed, protocol: str, name: str, version: str
    ) -> tuple[Mapping[str, Any], UpstreamVersion] | None:
        """The first enabled upstream that offers this exact version (refreshing on a miss)."""
        for offer in await self.offers(feed, protocol, name, want_version=version):
            if offer.package is not None and version in offer.package.versions:
                return offer.source, offer.package.versions[version]
        return None

    # --- saving ----------------------------------------------------------------------------------
    async def fetch_for_save(
        self, feed: Feed, caller: Caller, protocol: str, name: str, source: Mapping[str, Any], uv: UpstreamVersion
    ) -> PackageVersion:
        """Fetch and verify a version's file, store it, and build the version record to commit."""
        hop = source_hop(source)
        now = iso(self._clock())
        if source.get("upstreamSourceType") == "internal":
            # Renewed, not just looked at: the upstream feed's row may go before ours is committed.
            info = await self._packages.blobs.renew(content_key(uv.sha256))
            if info is None:
                raise UpstreamError(
                    f"the upstream feed of source {source.get('name')!r} lost the file of {name}@{uv.version}"
                )
            sha256, sri, sha1, size, verified = uv.sha256, uv.integrity, uv.sha1, info.size, "same-service"
        else:
            digests = await self._download(
                source, f"{name}@{uv.version}", uv.file_url, integrity=uv.integrity, sha1=uv.sha1
            )
            sha256, sri, sha1, size = digests.hex("sha256"), digests.sri, digests.hex("sha1"), digests.size
            verified = strongest_checked(uv.integrity, uv.sha1) or "none-declared"
        deprecated = uv.manifest.get("deprecated")
        manifest = {k: v for k, v in uv.manifest.items() if k != "deprecated"}
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
            published=uv.published or now,
            publisher=caller.user,
            deprecated=deprecated if isinstance(deprecated, str) and deprecated else None,
            source_chain=[hop, *uv.source_chain],
            provenance={
                "source": hop,
                "url": uv.file_url or str(source.get("location")),
                "fetchedAt": now,
                "savedBy": caller.user,
                "upstreamIntegrity": uv.integrity,
                "upstreamShasum": uv.sha1,
                "verifiedWith": verified,
                "originalPublished": uv.published,
            },
        )

    async def _download(
        self, source: Mapping[str, Any], label: str, url: str, *, integrity: str = "", sha1: str = "", sha256: str = ""
    ) -> Digests:
        """Stream a file to a spool while hashing; store it only if it matches every hash declared for it."""
        digests = Digests()
        loop = asyncio.get_running_loop()
        limit = self._settings.max_upload_bytes
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES) as spool:
            try:
                async with asyncio.timeout(self._settings.upstream_download_timeout):
                    async for chunk in npm_upstream.stream_file(self.http, source, url):
                        digests.update(chunk)
                        if digests.size > limit:
                            raise UpstreamError(
                                f"{label} from upstream {source.get('name')} is larger than the "
                                f"{limit} bytes this feed accepts; nothing was saved"
                            )
                        await loop.run_in_executor(None, spool.write, chunk)
            except UpstreamFailure as failure:
                self.note_result(source, failure.reason)
                raise UpstreamError(
                    f"could not fetch {label} from upstream {source.get('name')}: {failure.reason}"
                ) from None
            except TimeoutError:
                raise UpstreamError(
                    f"fetching {label} from upstream {source.get('name')} took longer than "
                    f"{self._settings.upstream_download_timeout:.0f} s; nothing was saved"
                ) from None
            bad = first_mismatch(integrity, sha1, digests)
            if bad is None and sha256 and digests.hex("sha256") != sha256.lower():
                bad = "sha256"
            if bad is not None:
                host = urlsplit(url).netloc
                log.error("upstream %s sent bytes for %s failing %s", source.get("name"), label, bad)
                raise UpstreamError(
                    f"upstream {source.get('name')} ({host}) sent bytes for {label} that do not match "
                    f"its declared {bad} digest; nothing was saved"
                )
            spool.seek(0)

            async def chunks() -> AsyncIterator[bytes]:
                while block := await loop.run_in_executor(None, spool.read, 256 * 1024):
                    yield block

            await self._packages.blobs.put_if_absent(
                content_key(digests.hex("sha256")), chunks(), "application/octet-stream"
            )
        return digests

    async def fetch_file_for_save(
        self,
        caller: Caller,
        protocol: str,
        name: str,
        source: Mapping[str, Any],
        uv: UpstreamVersion,
        file: UpstreamFile,
    ) -> PackageVersion:
        """Fetch and verify one file of a multi-file version (and its core metadata file when the upstream
        offers one), store them, and build the version record with that file, ready to commit."""
        hop = source_hop(source)
        now = iso(self._clock())
        label = f"{name} {uv.version} ({file.filename})"
        if source.get("upstreamSourceType") == "internal":
            if await self._packages.blobs.renew(content_key(file.sha256)) is None:
                raise UpstreamError(f"the upstream feed of source {source.get('name')!r} lost {file.filename}")
            if file.metadata_sha256:
                await self._packages.blobs.renew(content_key(file.metadata_sha256))
            size, verified = file.size or 0, "same-service"
        else:
            digests = await self._download(source, label, file.url, sha256=file.sha256)
            size, verified = digests.size, "sha256"
            if file.metadata_sha256:
                await self._download(source, f"{label} metadata", file.url + ".metadata", sha256=file.metadata_sha256)
        entry: dict[str, Any] = {
            "filename": file.filename,
            "sha256": file.sha256,
            "size": size,
            "requires_python": file.requires_python,
            "metadata_sha256": file.metadata_sha256,
            "uploaded": file.uploaded or now,
            "uploader": caller.user,
        }
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
            published=uv.published or now,
            publisher=caller.user,
            source_chain=[hop, *uv.source_chain],
            provenance={
                "source": hop,
                "url": file.url or str(source.get("location")),
                "fetchedAt": now,
                "savedBy": caller.user,
                "upstreamSha256": file.sha256,
                "verifiedWith": verified,
                "originalPublished": uv.published,
            },
            files=[entry],
        )

    async def cache_side_file(self, source: Mapping[str, Any], label: str, url: str, sha256: str) -> None:
        """Fetch and verify a small companion file (a core metadata file) into the store by its hash,
        without saving its version: installers read these for versions they may never install."""
        # A hit is renewed: nothing references a side file, so only its age keeps it from garbage collection.
        if source.get("upstreamSourceType") == "internal" or await self._packages.blobs.renew(content_key(sha256)):
            return
        await self._single_flight(("side", sha256), lambda: self._download(source, label, url, sha256=sha256))

    async def save(
        self,
        key: tuple[str, ...],
        fetch: Callable[[], Awaitable[PackageVersion]],
    ) -> PackageVersion:
        """Single-flight wrapper: concurrent first downloads of one version fetch and store it once."""
        return await self._single_flight(("save", *key), fetch)


class _Skipped(UpstreamFailure):
    """The circuit breaker skipped the call: not a new failure of the upstream."""
