"""The composition root: builds the storage adapters and the services once per worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from feed_core.domain.clock import Clock, system_clock
from feed_core.domain.models import Feed
from feed_core.domain.recycle_bin import RecycleBinPolicy
from feed_core.domain.upack import FEED_LIMITS
from feed_core.service.blob_cache import BlobCache
from feed_core.service.cleanup import Cleanup
from feed_core.service.download_times import DownloadRecorder
from feed_core.service.feeds import FeedService
from feed_core.service.identity import IdentityService
from feed_core.service.package_list import PackageListService
from feed_core.service.package_reads import PackageReads
from feed_core.service.packages import PackageService
from feed_core.service.page_cache import PageCache
from feed_core.service.recycle_bin import RecycleBin
from feed_core.service.resolve import Resolver
from feed_core.service.sessions import SessionService
from feed_core.service.upack import UpackService
from feed_core.service.upstream import UpstreamService
from feed_core.service.usage import UsageService
from feed_core.settings import Settings
from feed_core.storage.calls import StorageCallCounter
from feed_core.storage.catalog import Catalog
from feed_core.storage.credential_cipher import CredentialCipher
from feed_core.storage.download_times import DownloadTimesStore
from feed_core.storage.health import HealthStore
from feed_core.storage.layout import ALL_TABLES
from feed_core.storage.packages import PackageStore
from feed_core.storage.ports import Storage
from feed_core.storage.sessions import SessionStore
from feed_core.storage.upack_chunks import UpackChunkStore
from feed_core.storage.upstream_state import UpstreamStateStore
from feed_core.storage.usage import UsageStore


@dataclass
class Services:
    settings: Settings
    storage: Storage
    catalog: Catalog
    identity: IdentityService
    feeds: FeedService
    packages: PackageService
    upstreams: UpstreamService
    upstream_state: UpstreamStateStore
    resolver: Resolver
    health: HealthStore
    cleanup: Cleanup
    clock: Clock
    pages: PageCache
    blobs: BlobCache
    sessions: SessionService
    package_list: PackageListService
    recycle_bin: RecycleBin
    usage: UsageService
    upack: UpackService
    downloads: DownloadRecorder

    async def close(self) -> None:
        await self.downloads.close()  # first: it writes what it holds while storage is still open
        await self.upstreams.close()
        await self.storage.close()


async def open_storage(settings: Settings, *, call_counter: StorageCallCounter | None = None) -> Storage:
    """The storage adapters ``settings`` name; ``call_counter`` counts Azure storage requests (tests, benchmark)."""
    if settings.storage == "azure":
        from feed_core.storage.azure import open_azure_storage

        return await open_azure_storage(
            connection_string=settings.connection_string or None,
            table_url=settings.table_url or None,
            blob_url=settings.blob_url or None,
            client_id=settings.client_id or None,
            proxy=settings.storage_proxy or None,
            table_prefix=settings.table_prefix,
            container=settings.blob_container,
            call_counter=call_counter,
        )
    from feed_core.storage.embedded import EmbeddedBlobStore, EmbeddedTableStore

    return Storage(
        EmbeddedTableStore(settings.data_dir / "feed.sqlite3"), EmbeddedBlobStore(settings.data_dir / "blobs")
    )


async def build_services(
    settings: Settings, *, clock: Clock = system_clock, storage: Storage | None = None
) -> Services:
    opened = storage is None
    storage = storage or await open_storage(settings)
    if settings.storage_create:  # start-up only: request paths never create tables or the container
        try:
            await storage.provision(ALL_TABLES)
        except BaseException:
            if opened:  # the next request's start-up opens its own: these clients (and sockets) would leak
                await storage.close()
            raise
    catalog = Catalog(
        storage.tables, CredentialCipher.from_settings(settings.credentials_key, settings.credentials_old_keys)
    )
    package_store = PackageStore(storage.tables, storage.blobs)
    chunk_store = UpackChunkStore(storage.tables)
    packages = PackageService(package_store, clock, PackageReads(package_store, settings.read_freshness_seconds))
    state = UpstreamStateStore(storage.tables, storage.blobs)
    upstreams = UpstreamService(state=state, packages=package_store, catalog=catalog, settings=settings, clock=clock)

    resolver = Resolver(packages, upstreams, state, settings.cache_seconds)

    async def upstream_conflict(feed: Feed, protocol: str, name: str, version: str) -> str | None:
        found = await resolver.find_offer(feed, protocol, name, version)
        return None if found is None else found[0].name

    packages.upstream_conflict = upstream_conflict
    health = HealthStore(storage.tables)
    download_times = DownloadTimesStore(storage.tables)
    recycle_bin = RecycleBin(packages, RecycleBinPolicy(settings.recycle_bin_days), clock, download_times)
    usage = UsageStore(storage.tables)
    identity = IdentityService(catalog, clock, settings.cache_seconds)
    sessions = SessionService(
        SessionStore(storage.tables),
        identity,
        clock,
        idle=timedelta(minutes=settings.ui_session_idle_minutes),
        lifetime=timedelta(hours=settings.ui_session_max_hours),
    )
    return Services(
        settings=settings,
        storage=storage,
        catalog=catalog,
        identity=identity,
        feeds=FeedService(catalog, clock, settings.cache_seconds, settings.public_sources),
        packages=packages,
        upstreams=upstreams,
        upstream_state=state,
        resolver=resolver,
        health=health,
        cleanup=Cleanup(
            catalog=catalog,
            packages=package_store,
            upstream_state=state,
            health=health,
            usage=usage,
            downloads=download_times,
            blobs=storage.blobs,
            chunks=chunk_store,
            settings=settings,
            clock=clock,
            recycle_bin=recycle_bin,
        ),
        clock=clock,
        pages=PageCache(settings.page_cache_max_bytes),
        blobs=BlobCache(settings.blob_cache_bytes, settings.download_redirect_min_bytes),
        sessions=sessions,
        package_list=PackageListService(packages, settings.cache_seconds),
        recycle_bin=recycle_bin,
        usage=UsageService(
            packages=package_store,
            store=usage,
            catalog=catalog,
            clock=clock,
            max_age_seconds=settings.usage_max_age_seconds,
        ),
        upack=UpackService(packages, chunk_store, storage.blobs, clock, FEED_LIMITS, resolver, upstreams),
        downloads=DownloadRecorder(download_times, clock),
    )
