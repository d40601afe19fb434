"""A feed's upstream sources as the engine, the jobs and the feed table see them: typed and immutable. Pure.

Three kinds, told apart by class (``isinstance``) and by ``kind``:

- :class:`PublicSource`: a public registry the operator configured (``FEED_PUBLIC_SOURCES``), chosen by name;
- :class:`CustomSource`: a registry a feed administrator gave by its URL;
- :class:`InternalSource`: a view of another feed of this service.

Public and custom sources are both ``upstreamSourceType: public`` to Azure DevOps clients, and work alike.
Sources are pydantic models (frozen): the camelCase aliases are the stored document's keys, and changing a
source is ``model_copy(update=...)``. ``credentials`` (external sources only) are
:class:`~feed_core.domain.credentials.Credentials` (``SecretStr`` values) or ``UnreadableCredentials``; no
dump of a source includes them: the catalog seals them into the document itself.

The stored document of a source (``upstreamSources`` in the feed document), as written since sources have
existed, plus ``sourceKind``::

    {"id", "name", "protocol", "upstreamSourceType": "public" | "internal", "location", "displayLocation",
     "status": "ok" | "disabled", "statusDetails": [{"reason"}], "deletedDate", "serviceEndpointId",
     "internalUpstreamCollectionId", "internalUpstreamProjectId", "internalUpstreamFeedId",
     "internalUpstreamViewId", "minimumReleaseAgeHours", "credentials" (sealed, only when set),
     "sourceKind": "public" | "custom" | "internal"}

Documents from before ``sourceKind`` load their external sources as custom ones (the two differ only in how
a client named them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, InstanceOf
from pydantic.alias_generators import to_camel

from feed_core.domain.credentials import Credentials, SourceCredentials, UnreadableCredentials

Protocol = Literal["npm", "pypi", "nuget", "maven", "cargo", "upack"]
PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)
SourceStatus = Literal["ok", "disabled"]
SourceKind = Literal["public", "custom", "internal"]


class StatusDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str = ""


class _Source(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str
    name: str
    protocol: Protocol
    location: str
    status: SourceStatus = "ok"
    #: Kept as the source was added; what the health job saw is in its health record.
    status_details: tuple[StatusDetail, ...] = ()
    deleted_date: str | None = None
    service_endpoint_id: str | None = None
    minimum_release_age_hours: float | None = None

    kind: ClassVar[SourceKind]
    #: Azure DevOps' name for the kind: ``public`` for every registry, ``internal`` for a feed here.
    upstream_source_type: ClassVar[Literal["public", "internal"]] = "public"

    @property
    def display_location(self) -> str:
        return self.location

    @property
    def enabled(self) -> bool:
        return self.status != "disabled" and not self.deleted_date

    def to_document(self) -> dict[str, Any]:
        """The stored form, without ``credentials`` (the catalog adds them sealed)."""
        return {
            "id": self.id,
            "name": self.name,
            "protocol": self.protocol,
            "upstreamSourceType": self.upstream_source_type,
            "location": self.location,
            "displayLocation": self.display_location,
            "status": self.status,
            "statusDetails": [{"reason": d.reason} for d in self.status_details],
            "deletedDate": self.deleted_date,
            "serviceEndpointId": self.service_endpoint_id,
            "internalUpstreamCollectionId": None,
            "internalUpstreamProjectId": None,
            "internalUpstreamFeedId": None,
            "internalUpstreamViewId": None,
            "minimumReleaseAgeHours": self.minimum_release_age_hours,
            "sourceKind": self.kind,
        }


class _ExternalSource(_Source):
    """A registry reached over HTTP(S), optionally with the source's own credentials."""

    credentials: InstanceOf[Credentials] | InstanceOf[UnreadableCredentials] | None = Field(None, exclude=True)


class PublicSource(_ExternalSource):
    """A public registry the operator configured, chosen by its configured name."""

    kind: ClassVar[SourceKind] = "public"


class CustomSource(_ExternalSource):
    """A registry given by its URL."""

    kind: ClassVar[SourceKind] = "custom"


class InternalSource(_Source):
    """A view of another feed of this service: ``location`` is its ``azure-feed://`` locator."""

    internal_upstream_collection_id: str | None = None  # the upstream feed's organization (None: the same)
    internal_upstream_project_id: str | None = None
    internal_upstream_feed_id: str
    internal_upstream_view_id: str
    credentials: None = Field(None, exclude=True)  # feeds of this service are read through their views
    kind: ClassVar[SourceKind] = "internal"
    upstream_source_type: ClassVar[Literal["public", "internal"]] = "internal"

    def to_document(self) -> dict[str, Any]:
        return {
            **super().to_document(),
            "internalUpstreamCollectionId": self.internal_upstream_collection_id,
            "internalUpstreamProjectId": self.internal_upstream_project_id,
            "internalUpstreamFeedId": self.internal_upstream_feed_id,
            "internalUpstreamViewId": self.internal_upstream_view_id,
        }


UpstreamSource = PublicSource | CustomSource | InternalSource
ExternalSource = PublicSource | CustomSource
_BY_KIND: dict[str, type[PublicSource] | type[CustomSource] | type[InternalSource]] = {
    "public": PublicSource,
    "custom": CustomSource,
    "internal": InternalSource,
}


def source_from_document(doc: Mapping[str, Any], credentials: SourceCredentials | None = None) -> UpstreamSource:
    """A stored source, with its ``credentials`` already opened (the stored form stays with the catalog)."""
    kind = doc.get("sourceKind")
    if kind not in _BY_KIND:
        kind = "internal" if doc.get("upstreamSourceType") == "internal" else "custom"
    fields = {k: v for k, v in doc.items() if k not in ("credentials", "sourceKind")}
    if kind != "internal":
        fields["credentials"] = credentials
    return _BY_KIND[kind].model_validate(fields)
