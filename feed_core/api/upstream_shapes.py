"""Upstream sources and their health as the REST API shows them (pydantic response models).

Owned by the upstream-source models: ``UpstreamSourceResponse`` is one source inside a feed's answer,
``FeedHealthResponse`` the answer of ``feeds/{feed}/health``. Credentials are never part of either: a
source says only whether it has some (``hasCredentials``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from feed_core.domain.credentials import UnreadableCredentials
from feed_core.domain.models import Feed
from feed_core.domain.upstream_sources import SECRET_KEYS
from feed_core.storage.health import UpstreamHealth


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class StatusDetail(_Out):
    reason: str


class HealthRecord(_Out):
    """What the health job last saw of one upstream."""

    status: str
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
    protocol: str
    upstream_source_type: str = Field(alias="upstreamSourceType")
    location: str | None = None
    display_location: str | None = Field(None, alias="displayLocation")
    status: str
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
    protocol: str
    location: str | None = None
    upstream_source_type: str = Field(alias="upstreamSourceType")
    status: str
    status_details: list[StatusDetail] = Field(default_factory=list, alias="statusDetails")
    last_success: str | None = Field(None, alias="lastSuccess")
    last_failure: str | None = Field(None, alias="lastFailure")
    consecutive_failures: int | None = Field(None, alias="consecutiveFailures")
    latency_ms: float | None = Field(None, alias="latencyMs")
    last_checked: str | None = Field(None, alias="lastChecked")


class FeedHealthResponse(_Out):
    """``feeds/{feed}/health``: each upstream as the health job last saw it."""

    feed_id: str = Field(alias="feedId")
    feed_name: str = Field(alias="feedName")
    healthy: bool
    upstreams: list[UpstreamHealthEntry]


def upstream_source_response(
    src: Mapping[str, Any], health: UpstreamHealth | None = None, *, detailed: bool = False
) -> UpstreamSourceResponse:
    """A stored upstream source as the API shows it. With a health record, ``status`` is what the
    health job last saw (``ok``/``failed``) unless the source is disabled, and ``statusDetails`` says why:
    the cause (addresses, status codes) for administrators (``detailed``), the upstream's name otherwise."""
    out = {k: v for k, v in src.items() if k not in SECRET_KEYS}
    out["hasCredentials"] = bool(src.get("credentials"))
    if health is not None and out.get("status") != "disabled":
        record = health.as_json()
        if not detailed:
            record["statusDetails"] = _generic(src, record["statusDetails"])
        out["status"] = health.status
        out["statusDetails"] = record["statusDetails"]
        out["health"] = record
    unusable = _credentials_problem(src)
    if unusable is not None and out.get("status") != "disabled":
        out["status"], out["statusDetails"] = "failed", _shown(src, unusable, detailed)
    return UpstreamSourceResponse.model_validate(out)


def _generic(src: Mapping[str, Any], details: list[dict[str, str]]) -> list[dict[str, str]]:
    """Status details as non-administrators see them: that the upstream failed, not how."""
    return [{"reason": f"upstream {str(src.get('name'))!r} is unavailable"}] if details else []


def _shown(src: Mapping[str, Any], reason: str, detailed: bool) -> list[dict[str, str]]:
    return [{"reason": reason}] if detailed else _generic(src, [{"reason": reason}])


def _credentials_problem(src: Mapping[str, Any]) -> str | None:
    """Why a source's stored credentials cannot be used (it fails without asking the upstream), or ``None``."""
    creds = src.get("credentials")
    return creds.reason if isinstance(creds, UnreadableCredentials) else None


def feed_health_response(
    feed: Feed, health: Mapping[str, UpstreamHealth], *, detailed: bool = False
) -> FeedHealthResponse:
    """The health endpoint of a feed: each upstream as the health job last saw it. Why an upstream
    failed (addresses, status codes) is shown to administrators (``detailed``) only."""
    upstreams: list[dict[str, Any]] = []
    for src in feed.upstream_sources:
        record = health.get(str(src.get("id")))
        disabled = src.get("status") == "disabled" or not feed.upstream_enabled
        entry: dict[str, Any] = {
            "id": src.get("id"),
            "name": src.get("name"),
            "protocol": src.get("protocol"),
            "location": src.get("location"),
            "upstreamSourceType": src.get("upstreamSourceType"),
        }
        unusable = _credentials_problem(src)
        if disabled:
            entry["status"] = "disabled"
        elif unusable is not None:
            entry.update(record.as_json() if record else {})
            entry["status"], entry["statusDetails"] = "failed", _shown(src, unusable, detailed)
        elif record is None:
            entry["status"] = "unknown"
            entry["statusDetails"] = [{"reason": "not checked yet: the health job has not run since it was added"}]
        else:
            entry.update(record.as_json())
            if not detailed:
                entry["statusDetails"] = _generic(src, record.status_details)
        upstreams.append(entry)
    return FeedHealthResponse.model_validate(
        {
            "feedId": feed.id,
            "feedName": feed.name,
            "healthy": all(u["status"] in ("ok", "disabled") for u in upstreams),
            "upstreams": upstreams,
        }
    )
