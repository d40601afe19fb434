"""The composition root: builds the storage adapters and the services once per worker."""

from __future__ import annotations

from dataclasses import dataclass

from feed_core.domain.clock import Clock, system_clock
from feed_core.service.feeds import FeedService
from feed_core.service.identity import IdentityService
from feed_core.service.packages import PackageService
from feed_core.settings import Settings
from feed_core.storage.catalog import Catalog
from feed_core.storage.packages import PackageStore
from feed_core.storage.ports import Storage


@dataclass
class Services:
    settings: Settings
    storage: Storage
    catalog: Catalog
    identity: IdentityService
    feeds: FeedService
    packages: PackageService
    clock: Clock

    async def close(self) -> None:
        await self.storage.close()


async def open_storage(settings: Settings) -> Storage:
    if settings.storage == "azure":
        from feed_core.storage.azure import open_azure_storage

        return await open_azure_storage(
            connection_string=settings.connection_string or None,
            table_url=settings.table_url or None,
            blob_url=settings.blob_url or None,
            client_id=settings.client_id or None,
            table_prefix=settings.table_prefix,
            container=settings.blob_container,
        )
    from feed_core.storage.embedded import EmbeddedBlobStore, EmbeddedTableStore

    return Storage(
        EmbeddedTableStore(settings.data_dir / "feed.sqlite3"), EmbeddedBlobStore(settings.data_dir / "blobs")
    )


async def build_services(
    settings: Settings, *, clock: Clock = system_clock, storage: Storage | None = None
) -> Services:
    storage = storage or await open_storage(settings)
    catalog = Catalog(storage.tables)
    return Services(
        settings=settings,
        storage=storage,
        catalog=catalog,
        identity=IdentityService(catalog, clock, settings.cache_seconds),
        feeds=FeedService(catalog, clock, settings.cache_seconds, dict(settings.public_sources)),
        packages=PackageService(PackageStore(storage.tables, storage.blobs), clock),
        clock=clock,
    )
