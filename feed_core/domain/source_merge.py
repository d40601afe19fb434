"""The sources a client sent, merged with the feed's stored ones into the sources to store. Pure: no I/O.

A request names a stored source by its ``id``: the source keeps that id, its ``statusDetails`` and, unless the
client sent them, its ``status``, ``minimumReleaseAgeHours`` and ``credentials`` (stored credentials are
never carried to another host). Public sources take their location and protocol from the operator's
configuration. Internal sources still need their upstream feed and view resolved against the catalog, which
the feed service does (``feed_core.service.feeds``); its drafts say how.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from feed_core.domain.credentials import SourceCredentials
from feed_core.domain.errors import BadRequestError
from feed_core.domain.public_sources import PublicSources
from feed_core.domain.source_locations import is_feed_locator, registry_origin
from feed_core.domain.source_models import (
    CustomSource,
    InternalSource,
    Protocol,
    PublicSource,
    SourceStatus,
    StatusDetail,
    UpstreamSource,
)
from feed_core.domain.upstream_sources import (
    MAX_SOURCES,
    CustomSourceRequest,
    InternalSourceRequest,
    InternalTarget,
    PublicSourceRequest,
    UpstreamSourceRequest,
)


@dataclass(frozen=True)
class SourceBasics:
    """What every kind of stored source takes from the request and the stored source with its id."""

    id: str
    status: SourceStatus
    status_details: tuple[StatusDetail, ...]
    minimum_release_age_hours: float | None
    service_endpoint_id: str | None

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "status_details": self.status_details,
            "minimum_release_age_hours": self.minimum_release_age_hours,
            "service_endpoint_id": self.service_endpoint_id,
        }


@dataclass(frozen=True)
class SourceDraft:
    """One source to store: ``source`` for public and custom ones; an internal one is built by :meth:`internal`
    (or :meth:`keep_previous_target`) once the service has resolved its ``target``."""

    index: int
    request: UpstreamSourceRequest
    previous: UpstreamSource | None  # the stored source with the same id
    basics: SourceBasics
    source: UpstreamSource | None

    @property
    def where(self) -> str:
        return f"upstreamSources[{self.index}]"

    @property
    def target(self) -> InternalTarget | None:
        return self.request.target if isinstance(self.request, InternalSourceRequest) else None

    def same_target_as_previous(self, feed_org: str) -> bool:
        """True when this is an existing internal source sent back unchanged (same ids, not re-enabled)."""
        prev, t = self.previous, self.target
        if not isinstance(prev, InternalSource) or t is None or not t.by_ids:
            return False
        if prev.status == "disabled" and self.basics.status != "disabled":
            return False
        return (
            (t.org or feed_org).lower() == (prev.internal_upstream_collection_id or feed_org).lower()
            and (t.project or "").lower() == (prev.internal_upstream_project_id or "").lower()
            and t.feed.lower() == prev.internal_upstream_feed_id.lower()
            and t.view.lower() == prev.internal_upstream_view_id.lower()
        )

    def internal(
        self, *, org: str, project: str | None, feed_id: str, view_id: str, location: str, default_name: str
    ) -> InternalSource:
        """The internal source, pointing at the feed and view the service resolved."""
        assert isinstance(self.request, InternalSourceRequest)
        return InternalSource(
            **self.basics.fields(),
            name=self.request.name or default_name,
            protocol=self.request.protocol,
            location=location,
            internal_upstream_collection_id=org,
            internal_upstream_project_id=project,
            internal_upstream_feed_id=feed_id,
            internal_upstream_view_id=view_id,
        )

    def keep_previous_target(self) -> InternalSource:
        """An existing source sent back unchanged keeps working even if its upstream went away or stopped
        sharing the view since it was added: the engine reports that as the source's health."""
        prev = self.previous
        assert isinstance(prev, InternalSource)
        assert isinstance(self.request, InternalSourceRequest)
        return prev.model_copy(
            update={**self.basics.fields(), "name": self.request.name or prev.name, "protocol": self.request.protocol}
        )


def draft_sources(
    requests: Sequence[UpstreamSourceRequest], public_sources: PublicSources, existing: Sequence[UpstreamSource] = ()
) -> list[SourceDraft]:
    """The requested sources merged with the stored ones (``existing``); ``BadRequestError`` naming the source."""
    if len(requests) > MAX_SOURCES:
        raise BadRequestError(f"upstreamSources: a feed may have at most {MAX_SOURCES} upstream sources")
    previous_by_id = {s.id.lower(): s for s in existing}
    used_ids: set[str] = set()
    drafts = []
    for i, request in enumerate(requests):
        previous = previous_by_id.get(request.id.lower()) if request.id else None
        basics = _basics(request, previous)
        if basics.id.lower() in used_ids:
            raise BadRequestError(f"upstreamSources[{i}].id: repeats the id {basics.id} of another source")
        used_ids.add(basics.id.lower())
        source = None
        if not isinstance(request, InternalSourceRequest):
            source = _external(f"upstreamSources[{i}]", request, basics, previous, public_sources)
        drafts.append(SourceDraft(i, request, previous, basics, source))
    return drafts


def _basics(request: UpstreamSourceRequest, previous: UpstreamSource | None) -> SourceBasics:
    if previous is not None:
        details = previous.status_details
    else:
        details = tuple(StatusDetail(reason=d.reason) for d in request.status_details or ())
    age = request.minimum_release_age_hours
    if "minimum_release_age_hours" not in request.model_fields_set and previous is not None:
        age = previous.minimum_release_age_hours
    return SourceBasics(
        id=previous.id if previous is not None else str(uuid.uuid4()),
        status=request.stored_status or (previous.status if previous is not None else "ok"),
        status_details=details,
        minimum_release_age_hours=age,
        service_endpoint_id=request.service_endpoint_id,
    )


def _external(
    where: str,
    request: PublicSourceRequest | CustomSourceRequest,
    basics: SourceBasics,
    previous: UpstreamSource | None,
    public_sources: PublicSources,
) -> PublicSource | CustomSource:
    if isinstance(request, PublicSourceRequest):
        name, protocol, location = _configured(where, request.name, request.protocol, public_sources)
        return PublicSource(
            **basics.fields(),
            name=name,
            protocol=protocol,
            location=location,
            credentials=_credentials(where, request, previous, location),
        )
    credentials = _credentials(where, request, previous, request.location)
    fields = {**basics.fields(), "protocol": request.protocol, "location": request.location, "credentials": credentials}
    if _is_configured(request, public_sources):  # what GET showed of a public source, sent back
        return PublicSource(**fields, name=request.name)
    return CustomSource(**fields, name=request.name)


def _configured(
    where: str, name: str, protocol: Protocol | None, public_sources: PublicSources
) -> tuple[str, Protocol, str]:
    """The configured public source ``name`` names (case-insensitively): its name, protocol and URL."""
    key = name if name in public_sources else next((k for k in public_sources if k.lower() == name.lower()), None)
    if key is None:
        raise BadRequestError(
            f"{where}.name: {name!r} is not a configured public source "
            f"(known: {', '.join(sorted(public_sources)) or 'none; set FEED_PUBLIC_SOURCES'}); "
            "give a location for any other registry"
        )
    configured = public_sources[key]
    if protocol is not None and protocol != configured.protocol:
        raise BadRequestError(
            f"{where}.protocol: the public source {key!r} serves {configured.protocol}, not {protocol}"
        )
    return key, configured.protocol, configured.url


def _is_configured(request: CustomSourceRequest, public_sources: PublicSources) -> bool:
    configured = public_sources.get(request.name)
    return configured is not None and configured.url == request.location and configured.protocol == request.protocol


def _credentials(
    where: str,
    request: PublicSourceRequest | CustomSourceRequest,
    previous: UpstreamSource | None,
    location: str,
) -> SourceCredentials | None:
    """New credentials, none (``"credentials": null``), or, when the client did not send the key (it sends back
    what GET showed), the stored ones; those only while the source still points at the host they were given for."""
    if request.sends_credentials:
        return request.new_credentials()
    kept = previous.credentials if previous is not None else None
    if kept is None:
        return None
    assert previous is not None
    if is_feed_locator(previous.location) or registry_origin(previous.location) != registry_origin(location):
        raise BadRequestError(
            f"{where} now points at another host than its stored credentials were given for: send its credentials "
            'again, or "credentials": null to drop them'
        )
    return kept


def check_unique_names(sources: Iterable[UpstreamSource]) -> None:
    seen: set[str] = set()
    for i, src in enumerate(sources):
        if src.name.lower() in seen:
            raise BadRequestError(
                f"upstreamSources[{i}].name: two sources named {src.name!r} (names are case-insensitive)"
            )
        seen.add(src.name.lower())
