"""Validation of a feed's ``upstreamSources`` list (stored now; the upstream engine uses it later)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from feed_core.domain.errors import BadRequestError

PROTOCOLS = {"npm", "pypi", "nuget", "maven", "cargo"}
SOURCE_TYPES = {"public", "internal"}
_KEPT = (
    "id",
    "name",
    "protocol",
    "location",
    "displayLocation",
    "upstreamSourceType",
    "status",
    "statusDetails",
    "deletedDate",
    "serviceEndpointId",
    "internalUpstreamCollectionId",
    "internalUpstreamProjectId",
    "internalUpstreamFeedId",
    "internalUpstreamViewId",
)


def normalise_upstream_sources(
    sources: list[Any], public_sources: Mapping[str, Any], existing: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Check each source and fill in ids and defaults; unknown fields are dropped."""
    if not isinstance(sources, list):
        raise BadRequestError("upstreamSources must be a list")
    known_ids = {s.get("id") for s in existing or []}
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, raw in enumerate(sources):
        if not isinstance(raw, dict):
            raise BadRequestError(f"upstreamSources[{i}] must be an object")
        src = {k: raw[k] for k in _KEPT if k in raw}
        name = src.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise BadRequestError(f"upstreamSources[{i}].name must be a non-empty string of at most 64 characters")
        if name.lower() in names:
            raise BadRequestError(f"upstreamSources has two sources named {name!r}")
        names.add(name.lower())
        protocol = str(src.get("protocol", "")).lower()
        if protocol not in PROTOCOLS:
            raise BadRequestError(f"upstreamSources[{i}].protocol must be one of {', '.join(sorted(PROTOCOLS))}")
        src["protocol"] = protocol
        kind = str(src.get("upstreamSourceType", "public")).lower()
        if kind not in SOURCE_TYPES:
            raise BadRequestError(f"upstreamSources[{i}].upstreamSourceType must be public or internal")
        src["upstreamSourceType"] = kind
        location = src.get("location")
        if kind == "public" and not location:
            public = public_sources.get(name)
            if public is None:
                raise BadRequestError(
                    f"upstreamSources[{i}] has no location and {name!r} is not a configured public source "
                    f"(known: {', '.join(sorted(public_sources)) or 'none; set FEED_PUBLIC_SOURCES'})"
                )
            location = public["url"]
        if location is not None:
            if not isinstance(location, str) or not location.startswith(
                ("http://", "https://", "azure-feed://", "vsts-feed://")
            ):
                raise BadRequestError(f"upstreamSources[{i}].location must be an http(s) or azure-feed:// URL")
            src["location"] = location
            src.setdefault("displayLocation", location)
        if src.get("id") not in known_ids or not src.get("id"):
            src["id"] = str(uuid.uuid4()) if not src.get("id") else str(src["id"])
        src.setdefault("status", "ok")
        src.setdefault("statusDetails", [])
        src.setdefault("deletedDate", None)
        out.append(src)
    return out
