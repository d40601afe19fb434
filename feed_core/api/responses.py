"""The REST API's answers as pydantic models, in Azure DevOps shapes (built in ``feed_core.api.shapes``).

Handlers serialise them with :func:`dump`, which leaves out what was never set: every field these models
always show is required (no default), so only the upstream sources' optional parts (``health``) can be
absent, as before the models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from feed_core.api.models import ApiModel
from feed_core.api.upstream_shapes import UpstreamSourceResponse
from feed_core.api.usage_shapes import UsageTotal

RoleValue = Literal["none", "reader", "collaborator", "contributor", "administrator"]
ScopeValue = Literal["vso.packaging", "vso.packaging_write", "vso.packaging_manage"]
ViewTypeValue = Literal["implicit", "release", "none"]
VisibilityValue = Literal["private", "collection", "organization", "aadTenant"]
BehaviourValue = Literal["auto", "allowExternalVersions"]


def dump(model: BaseModel) -> Any:
    """The JSON a client sees: camelCase names, fields never set left out."""
    return model.model_dump(by_alias=True, mode="json", exclude_unset=True)


class ErrorResponse(ApiModel):
    """Azure DevOps' error body; clients show ``message``."""

    id_: Literal["1"] = Field(serialization_alias="$id", validation_alias="$id")
    inner_exception: None
    message: str
    type_name: str
    type_key: str
    error_code: int
    event_id: int


class Link(ApiModel):
    href: str


class SelfLinks(ApiModel):
    self: Link


class FeedLinks(ApiModel):
    self: Link
    packages: Link
    permissions: Link


class ViewResponse(ApiModel):
    id: str
    name: str
    url: str
    type: ViewTypeValue
    visibility: VisibilityValue
    links: SelfLinks = Field(serialization_alias="_links", validation_alias="_links")


class PermissionResponse(ApiModel):
    role: RoleValue
    identity_descriptor: str
    display_name: str
    identity_id: str
    is_inherited_role: bool


class ProjectReference(ApiModel):
    id: str
    name: str
    visibility: Literal["private"]


class FeedResponse(ApiModel):
    """A feed. ``upstreamSources`` shows each source's health; why one fails only to administrators. The feed list
    shows each feed's storage usage too (``usage``)."""

    id: str
    name: str
    description: str
    url: str
    fully_qualified_name: str
    fully_qualified_id: str
    project: ProjectReference | None
    upstream_enabled: bool
    upstream_enabled_changed_date: None
    upstream_sources: list[UpstreamSourceResponse]
    capabilities: Literal["defaultCapabilities"]
    is_read_only: bool
    is_enabled: bool
    hide_deleted_package_versions: bool
    badges_enabled: bool
    allow_upstream_name_conflict: bool
    minimum_release_age_hours: float | None
    minimum_release_age_exemptions: list[str]
    default_view_id: str
    view_id: None
    view_name: None
    permissions: None
    deleted_date: str | None
    views: list[ViewResponse]
    links: FeedLinks = Field(serialization_alias="_links", validation_alias="_links")
    #: In the feed list only: the storage usage last computed (``null`` when it never was).
    usage: UsageTotal | None = None


class DeletedFeedResponse(FeedResponse):
    """A feed in the feed recycle bin."""

    scheduled_permanent_delete_date: str | None


class FeedListResponse(ApiModel):
    count: int
    value: list[FeedResponse]


class DeletedFeedListResponse(ApiModel):
    count: int
    value: list[DeletedFeedResponse]


class ViewListResponse(ApiModel):
    count: int
    value: list[ViewResponse]


class PermissionListResponse(ApiModel):
    count: int
    value: list[PermissionResponse]


class TokenResponse(ApiModel):
    """A personal access token; ``token`` (the secret) only in the answer that created it."""

    display_name: str
    valid_from: str
    valid_to: str | None
    scope: ScopeValue
    target_accounts: list[str]
    authorization_id: str
    user: str
    token: str | None = Field(repr=False)  # required all the same: ``null`` in every answer but the first


class TokenListResponse(ApiModel):
    pat_tokens: list[TokenResponse]
    continuation_token: None


class TokenCreateResponse(ApiModel):
    pat_token: TokenResponse
    pat_token_error: Literal["none"]


class UpstreamingResponse(ApiModel):
    versions_from_external_upstreams: BehaviourValue


class ProtocolMetadata(ApiModel):
    data: dict[str, Any]


class VersionFile(ApiModel):
    name: str
    protocol_metadata: ProtocolMetadata


class Dependency(ApiModel):
    package_name: str
    version_range: str
    group: Literal["dependencies"]


class VersionResponse(ApiModel):
    """One package version, with where it came from (``sourceChain``, ``provenance``)."""

    id: str
    package_id: str
    normalized_version: str
    version: str
    is_latest: bool
    is_listed: bool
    is_deleted: bool
    storage_id: str
    package_description: str
    views: list[ViewResponse]
    publish_date: str
    deleted_date: str | None
    unpublished_date: str | None
    deprecate_message: str
    source_chain: list[dict[str, Any]]
    provenance: dict[str, Any] | None
    upstream_removed_date: str | None
    upstream_changed_date: str | None
    author: str
    files: list[VersionFile]
    dependencies: list[Dependency]


class Provenance(ApiModel):
    provenance_source: Literal["Publish", "Upstream"]
    publisher_user_identity: str
    user_agent: None
    data: dict[str, str]


class ProvenanceResponse(ApiModel):
    feed_id: str
    package_id: str
    package_version_id: str
    provenance: Provenance
