"""The package recycle bin's bodies and answers in Azure DevOps shapes, and how they are built."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from feed_core.api.models import ApiModel, RequestModel
from feed_core.api.responses import Link, SelfLinks, ViewResponse
from feed_core.api.shapes import api_base, view_response
from feed_core.domain.ids import package_guid, version_guid
from feed_core.domain.models import Feed, PackageVersion

#: Azure's ``protocolType`` of each protocol.
PROTOCOL_TYPES = {"npm": "Npm", "pypi": "PyPi", "nuget": "NuGet", "maven": "Maven", "cargo": "Cargo", "upack": "UPack"}
#: Most versions one batch names.
BATCH_MAX = 100


def _strict_false(value: object) -> object:
    if value is not False:
        raise ValueError('send {"deleted": false} to restore the version')
    return value


class RecycleBinVersionUpdate(RequestModel):
    """``PATCH .../{protocol}/RecycleBin/packages/{name}/versions/{version}``: ``{"deleted": false}`` restores."""

    deleted: Annotated[Literal[False], BeforeValidator(_strict_false)]


class BatchPackage(RequestModel):
    """One version of a batch: ``{"id": name, "version": ...}``; Maven's ``{"group", "artifact", "version"}``."""

    id: str | None = Field(None, min_length=1, max_length=512)
    group: str | None = Field(None, min_length=1, max_length=512)
    artifact: str | None = Field(None, min_length=1, max_length=512)
    version: str = Field(min_length=1, max_length=256)


class RecycleBinBatch(RequestModel):
    """``POST .../{protocol}/RecycleBin/packagesBatch``."""

    operation: Literal["permanentDelete", "restoreToFeed"]
    packages: list[BatchPackage] = Field(min_length=1, max_length=BATCH_MAX)


class RecycleBinVersion(ApiModel):
    """A version in the recycle bin, and when it will be deleted for good."""

    id: str
    normalized_version: str
    version: str
    is_latest: bool
    is_listed: bool
    is_deleted: bool
    storage_id: str
    package_description: str
    views: list[ViewResponse]
    publish_date: str
    deleted_date: str
    scheduled_permanent_delete_date: str


class RecycleBinPackage(ApiModel):
    """A package with its versions in the recycle bin (Azure's ``Package``)."""

    id: str
    name: str
    normalized_name: str
    protocol_type: str
    url: str
    versions: list[RecycleBinVersion]
    links: SelfLinks = Field(serialization_alias="_links", validation_alias="_links")


class RecycleBinPackageList(ApiModel):
    count: int
    value: list[RecycleBinPackage]


class DeletedVersionResponse(ApiModel):
    """One version in the recycle bin, as a protocol's ``RecycleBin`` route shows it."""

    name: str
    version: str
    deleted_date: str
    scheduled_permanent_delete_date: str


class DeletedNpmVersionResponse(ApiModel):
    """An npm version in the recycle bin: npm's version route calls its deletion ``unpublishedDate``."""

    name: str
    version: str
    unpublished_date: str
    scheduled_permanent_delete_date: str


class OperationReference(ApiModel):
    """Azure's answer to a request done later (emptying the recycle bin): ``url`` shows how far it got."""

    id: str
    status: Literal["queued"]
    url: str


class DeletedMavenVersionResponse(ApiModel):
    group_id: str
    artifact_id: str
    version: str
    deleted_date: str
    scheduled_permanent_delete_date: str


def binned_package(
    base: str, feed: Feed, protocol: str, name: str, versions: list[PackageVersion], purge_at: list[str]
) -> RecycleBinPackage:
    """``versions`` (in the recycle bin), each with when it is due for purging (``purge_at``, in order)."""
    package_id = package_guid(feed.id, protocol, name)
    url = f"{api_base(base, feed)}/Feeds/{feed.id}/RecycleBin/Packages/{package_id}"
    return RecycleBinPackage(
        id=package_id,
        name=name,
        normalized_name=name,
        protocol_type=PROTOCOL_TYPES.get(protocol, protocol),
        url=url,
        versions=[_version(base, feed, v, when) for v, when in zip(versions, purge_at, strict=True)],
        links=SelfLinks(self=Link(href=url)),
    )


def _version(base: str, feed: Feed, v: PackageVersion, purge_at: str) -> RecycleBinVersion:
    description = v.manifest.get("description")
    return RecycleBinVersion(
        id=version_guid(feed.id, v.protocol, v.name, v.version),
        normalized_version=v.version,
        version=v.version,
        is_latest=False,
        is_listed=v.unlisted is None,
        is_deleted=True,
        storage_id=v.sha256,
        package_description=description if isinstance(description, str) else "",
        views=[view_response(base, feed, view) for view in feed.views if view.is_local or view.id in v.views],
        publish_date=v.published,
        deleted_date=v.deleted or "",
        scheduled_permanent_delete_date=purge_at,
    )
