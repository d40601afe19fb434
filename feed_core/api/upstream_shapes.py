"""Upstream sources and their health as the REST API shows them (pydantic response models).

Owned by the upstream-source models: ``UpstreamSourceResponse`` is one source inside a feed's answer,
``FeedHealthResponse`` the answer of ``feeds/{feed}/health``. Credentials are never part of either: a
source says only whether it has some (``hasCredentials``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feed_core.api.usage_shapes import UsageTotal
from feed_core.domain.credentials import UnreadableCredentials
from feed_core.domain.models import Feed
from feed_core.domain.source_models import InternalSource, Protocol, UpstreamSource
from feed_core.storage.health import UpstreamHealth

#: A source's status as the API shows it: ``failed`` and ``unknown`` are never stored, and a client sending
#: them back changes nothing by them (``feed_core.domain.upstream_sources``).
SourceState = Literal["ok", "disabled", "failed", "unknown"]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class StatusDetail(_Out):
    reason: str


class HealthRecord(_Out):
    """What the health job last saw of one upstream."""

    status: Literal["ok", "failed"]
    last_success: str | None = Field(None, alias="lastSuccess")
    last_failure: str | None = Field(None, alias="lastFailure")
    consecutive_failures: int = Field(0, alias="consecutiveFailures")
    latency_ms: float | None = Field(None, alias="latencyMs")
    last_checked: str | None = Field(None, alias="lastChecked")
    status_details: list[StatusDetail] = Field(default_factory=list, alias="statusDetails")


class UpstreamSourceResponse(_Out):
    """One upstream source of a feed, as GET shows it (no secrets)."""

    id: str
    name: str
    protocol: Protocol
    upstream_source_type: Literal["public", "internal"] = Field(alias="upstreamSourceType")
    location: str | None = None
    display_location: str | None = Field(None, alias="displayLocation")
    #: ``unknown``: enabled, not checked by the health job yet; ``failed``: what it last saw, or credentials
    #: that can no longer be used.
    status: SourceState
    status_details: list[StatusDetail] = Field(default_factory=list, alias="statusDetails")
    deleted_date: str | None = Field(None, alias="deletedDate")
    service_endpoint_id: str | None = Field(None, alias="serviceEndpointId")
    internal_upstream_collection_id: str | None = Field(None, alias="internalUpstreamCollectionId")
    internal_upstream_project_id: str | None = Field(None, alias="internalUpstreamProjectId")
    internal_upstream_feed_id: str | None = Field(None, alias="internalUpstreamFeedId")
    internal_upstream_view_id: str | None = Field(None, alias="internalUpstreamViewId")
    minimum_release_age_hours: float | None = Field(None, alias="minimumReleaseAgeHours")
    has_credentials: bool = Field(False, alias="hasCredentials")
    health: HealthRecord | None = None


class UpstreamHealthEntry(_Out):
    """One upstream in ``feeds/{feed}/health``."""

    id: str
    name: str
    protocol: Protocol
    location: str | None = None
    upstream_source_type: Literal["public", "internal"] = Field(alias="upstreamSourceType")
    status: SourceState
    status_details: list[StatusDetail] = Field(default_factory=list, alias="statusDetails")
    last_success: str | None = Field(None, alias="lastSuccess")
    last_failure: str | None = Field(None, alias="lastFailure")
    consecutive_failures: int | None = Field(None, alias="consecutiveFailures")
    latency_ms: float | None = Field(None, alias="latencyMs")
    last_checked: str | None = Field(None, alias="lastChecked")


class FeedHealthResponse(_Out):
    """``feeds/{feed}/health``: each upstream as the health job last saw it, and the feed's stored usage."""

    feed_id: str = Field(alias="feedId")
    feed_name: str = Field(alias="feedName")
    healthy: bool
    upstreams: list[UpstreamHealthEntry]
    #: The feed's storage usage as last computed; ``null`` when it never was.
    usage: UsageTotal | None


#: What both answers say of an enabled source the health job has not checked yet.
NOT_CHECKED = "not checked yet: the health job has not run since it was added"


def source_state(
    src: UpstreamSource, record: UpstreamHealth | None, *, detailed: bool
) -> tuple[SourceState, list[dict[str, str]]]:
    """The status and status details of an enabled source, the same in the feed's answer and in its health:
    ``failed`` when its stored credentials cannot be used, else what the health job last saw, else
    ``unknown`` (not checked yet). Why it failed (addresses, status codes) is for administrators
    (``detailed``); others see only that the upstream is unavailable."""
    unusable = src.credentials.reason if isinstance(src.credentials, UnreadableCredentials) else None
    if unusable is not None:
        return "failed", _shown(src, [{"reason": unusable}], detailed)
    if record is None:
        return "unknown", [{"reason": NOT_CHECKED}]
    return "failed" if record.status == "failed" else "ok", _shown(src, record.status_details, detailed)


def upstream_source_response(
    src: UpstreamSource, health: UpstreamHealth | None = None, *, detailed: bool = False
) -> UpstreamSourceResponse:
    """A stored upstream source as the API shows it (every field set, ``health`` only with a health record).
    A disabled source shows its stored state; an enabled one, :func:`source_state`."""
    status: SourceState = src.status
    details = [{"reason": d.reason} for d in src.status_details]
    out: dict[str, Any] = {}
    if src.status != "disabled":
        status, details = source_state(src, health, detailed=detailed)
        if health is not None:
            out["health"] = {**health.as_json(), "statusDetails": _shown(src, health.status_details, detailed)}
    internal = src if isinstance(src, InternalSource) else None
    return UpstreamSourceResponse.model_validate(
        {
            "id": src.id,
            "name": src.name,
            "protocol": src.protocol,
            "upstreamSourceType": src.upstream_source_type,
            "location": src.location,
            "displayLocation": src.display_location,
            "status": status,
            "statusDetails": details,
            "deletedDate": src.deleted_date,
            "serviceEndpointId": src.service_endpoint_id,
            "internalUpstreamCollectionId": internal.internal_upstream_collection_id if internal else None,
            "internalUpstreamProjectId": internal.internal_upstream_project_id if internal else None,
            "internalUpstreamFeedId": internal.internal_upstream_feed_id if internal else None,
            "internalUpstreamViewId": internal.internal_upstream_view_id if internal else None,
            "minimumReleaseAgeHours": src.minimum_release_age_hours,
            "hasCredentials": src.credentials is not None,
            **out,
        }
    )


def _shown(src: UpstreamSource, details: list[dict[str, str]], detailed: bool) -> list[dict[str, str]]:
    """Status details as the caller may see them: non-administrators learn that the upstream failed, not how."""
    if detailed or not details:
        return list(details)
    return [{"reason": f"upstream {src.name!r} is unavailable"}]


def feed_health_response(
    feed: Feed, health: Mapping[str, UpstreamHealth], *, detailed: bool = False, usage: UsageTotal | None = None
) -> FeedHealthResponse:
    """The health endpoint of a feed: each upstream as the health job last saw it (:func:`source_state`), or
    ``disabled`` when it is not used (the source, or every upstream of the feed, is disabled)."""
    upstreams: list[dict[str, Any]] = []
    for src in feed.upstream_sources:
        record = health.get(src.id)
        entry: dict[str, Any] = {
            "id": src.id,
            "name": src.name,
            "protocol": src.protocol,
            "location": src.location,
            "upstreamSourceType": src.upstream_source_type,
        }
        if src.status == "disabled" or not feed.upstream_enabled:
            entry["status"] = "disabled"
        else:
            entry.update(record.as_json() if record else {})
            entry["status"], entry["statusDetails"] = source_state(src, record, detailed=detailed)
        upstreams.append(entry)
    return FeedHealthResponse.model_validate(
        {
            "feedId": feed.id,
            "feedName": feed.name,
            "healthy": all(u["status"] in ("ok", "disabled") for u in upstreams),
            "upstreams": upstreams,
            "usage": usage,
        }
    )
