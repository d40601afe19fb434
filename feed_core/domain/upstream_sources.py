"""A feed's upstream sources: shape checks, ``azure-feed://`` locators, cycle detection. Pure: no I/O.

The feed service (``feed_core.service.feeds``) parses what a client sent with
:func:`parse_upstream_sources`, resolves internal sources against the catalog, then checks names with
:func:`check_unique_names` and cycles with :func:`internal_targets` + :func:`find_cycle`.

A normalised source, as stored in the feed document and read by the upstream engine::

    {
      "id": "<uuid>",                      # kept when the client sends back an existing id
      "name": "npmjs",                     # unique in the feed, case-insensitively
      "protocol": "npm",                   # npm | pypi | nuget | maven | cargo
      "upstreamSourceType": "public",      # public (public or custom registry) | internal (a feed here)
      "location": "https://...",           # http(s) URL, or azure-feed://org[/project]/feed@view
      "displayLocation": "https://...",    # the same as location
      "status": "ok",                      # ok | disabled (configured but not used)
      "statusDetails": [],                 # [{"reason": "..."}], kept across updates
      "deletedDate": None,
      "serviceEndpointId": None,
      "internalUpstreamCollectionId": None,  # internal: the upstream's organization name
      "internalUpstreamProjectId": None,     # internal: its project name, or None (org-scoped feed)
      "internalUpstreamFeedId": None,        # internal: its feed id
      "internalUpstreamViewId": None,        # internal: its view id
      "minimumReleaseAgeHours": None,        # a number >= 0, or None
      "credentials": Credentials(...),       # public only, optional: username + password, or a token
    }

``credentials`` is a secret: a :class:`~feed_core.domain.credentials.Credentials` whose ``repr`` hides it (or
``UnreadableCredentials`` when the stored form could not be opened). The API never returns it
(``feed_core.api.shapes``), nothing logs it, and the feed table holds it only encrypted.
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from feed_core.domain.credentials import Credentials, SourceCredentials, UnreadableCredentials
from feed_core.domain.errors import BadRequestError
from feed_core.domain.names import validate_feed_name, validate_org, validate_project

PROTOCOLS = ("npm", "pypi", "nuget", "maven", "cargo")
SOURCE_TYPES = ("public", "internal")
STATUSES = ("ok", "disabled")
#: What GET shows for an enabled source that is failing (health, unusable credentials): a client sending
#: back the source it read changes nothing by it.
SHOWN_ONLY_STATUS = "failed"
LOCATOR_SCHEMES = ("azure-feed://", "vsts-feed://")  # vsts-feed:// is the legacy spelling

MAX_SOURCES = 50
MAX_NAME = 64
MAX_LOCATION = 1024
MAX_USERNAME = 256
MAX_SECRET = 4096
MAX_STATUS_DETAILS = 20
MAX_RELEASE_AGE_HOURS = 24 * 365 * 10
MAX_EXEMPTIONS = 200
MAX_PATTERN = 214

#: The keys of a normalised source (``credentials`` only when set).
SOURCE_KEYS = (
    "id",
    "name",
    "protocol",
    "upstreamSourceType",
    "location",
    "displayLocation",
    "status",
    "statusDetails",
    "deletedDate",
    "serviceEndpointId",
    "internalUpstreamCollectionId",
    "internalUpstreamProjectId",
    "internalUpstreamFeedId",
    "internalUpstreamViewId",
    "minimumReleaseAgeHours",
)
SECRET_KEYS = frozenset({"credentials", "password", "token"})
_INTERNAL_KEYS = (
    "internalUpstreamCollectionId",
    "internalUpstreamProjectId",
    "internalUpstreamFeedId",
    "internalUpstreamViewId",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PATTERN = re.compile(r"^[A-Za-z0-9@/._:~*+-]+$")

#: One upstream source as a REST request body carries it. Placeholder: the typed discriminated union of
#: public, custom and internal sources replaces it.
UpstreamSourceRequest = dict[str, Any]

#: A feed in the graph of internal upstreams: (organization name lower-cased, feed id lower-cased).
Node = tuple[str, str]


# --- azure-feed:// locators ------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedLocator:
    """``azure-feed://ORG/FEED@VIEW`` or ``azure-feed://ORG/PROJECT/FEED@VIEW``."""

    org: str
    project: str | None
    feed: str
    view: str

    @property
    def location(self) -> str:
        scope = f"{self.org}/{self.project}" if self.project else self.org
        return f"azure-feed://{scope}/{self.feed}@{self.view}"


def is_feed_locator(text: str) -> bool:
    return text.lower().startswith(LOCATOR_SCHEMES)


def parse_feed_locator(text: str) -> FeedLocator:
    """Parse an ``azure-feed://`` (or legacy ``vsts-feed://``) locator; a view is mandatory."""
    usage = "use azure-feed://ORG/FEED@VIEW or azure-feed://ORG/PROJECT/FEED@VIEW"
    if not isinstance(text, str) or not is_feed_locator(text):
        raise BadRequestError(f"not a feed locator: {usage}")
    if len(text) > MAX_LOCATION or _CONTROL.search(text):
        raise BadRequestError(f"the feed locator is too long or contains control characters: {usage}")
    rest = text.split("://", 1)[1]
    if rest.endswith("/"):
        rest = rest[:-1]
    parts = rest.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise BadRequestError(f"the feed locator {text!r} is not valid: {usage}")
    feed, at, view = parts[-1].partition("@")
    if not at or not feed or not view:
        raise BadRequestError(f"the feed locator {text!r} names no view (a view is mandatory): {usage}")
    org = validate_org(parts[0])
    project = validate_project(parts[1]) if len(parts) == 3 else None
    return FeedLocator(org, project, validate_feed_name(feed), validate_feed_name(view, "view"))


# --- parsing what a client sent ---------------------------------------------------------------------


@dataclass(frozen=True)
class InternalTarget:
    """The feed and view an internal source names, as the client named them (names or ids)."""

    org: str | None  # None: the organization of the feed being configured
    project: str | None
    feed: str
    view: str
    by_ids: bool  # named through internalUpstream* fields (rather than a location)


@dataclass
class SourceDraft:
    """One parsed source. Internal sources still need their ``target`` resolved (``internalUpstream*``,
    ``location`` and, when the client gave none, ``name`` are filled in by the service)."""

    index: int
    source: dict[str, Any]
    target: InternalTarget | None
    previous: dict[str, Any] | None  # the stored source with the same id

    @property
    def where(self) -> str:
        return f"upstreamSources[{self.index}]"

    def same_target_as_previous(self, feed_org: str) -> bool:
        """True when this is an existing internal source sent back unchanged (same ids, not re-enabled)."""
        prev, t = self.previous, self.target
        if prev is None or t is None or not t.by_ids or prev.get("upstreamSourceType") != "internal":
            return False
        if prev.get("status") == "disabled" and self.source["status"] != "disabled":
            return False
        return (
            _lower(t.org or feed_org) == _lower(prev.get("internalUpstreamCollectionId") or feed_org)
            and _lower(t.project) == _lower(prev.get("internalUpstreamProjectId"))
            and t.feed.lower() == _lower(prev.get("internalUpstreamFeedId"))
            and t.view.lower() == _lower(prev.get("internalUpstreamViewId"))
        )


def _lower(value: Any) -> str:
    return value.lower() if isinstance(value, str) else ""


def parse_upstream_sources(
    sources: Any, public_sources: Mapping[str, Mapping[str, Any]], existing: Sequence[dict[str, Any]] | None = None
) -> list[SourceDraft]:
    """Check the shape of each source and normalise it; unknown fields are dropped.

    ``existing`` are the feed's stored sources: a source sent back with one of their ids keeps that
    id, its ``statusDetails`` and, unless the client sends the key, its ``status``,
    ``minimumReleaseAgeHours`` and ``credentials``.
    """
    if not isinstance(sources, list):
        raise BadRequestError("upstreamSources must be a list")
    if len(sources) > MAX_SOURCES:
        raise BadRequestError(f"a feed may have at most {MAX_SOURCES} upstream sources")
    previous_by_id = {str(s.get("id")).lower(): s for s in existing or [] if s.get("id")}
    used_ids: set[str] = set()
    drafts = []
    for i, raw in enumerate(sources):
        draft = _parse_one(i, raw, public_sources, previous_by_id)
        sid = draft.source["id"].lower()
        if sid in used_ids:
            raise BadRequestError(f"upstreamSources[{i}] repeats the id {draft.source['id']} of another source")
        used_ids.add(sid)
        drafts.append(draft)
    return drafts


def _parse_one(
    i: int, raw: Any, public_sources: Mapping[str, Mapping[str, Any]], previous_by_id: Mapping[str, dict[str, Any]]
) -> SourceDraft:
    where = f"upstreamSources[{i}]"
    if not isinstance(raw, dict):
        raise BadRequestError(f"{where} must be an object")
    raw_id = raw.get("id")
    previous = previous_by_id.get(raw_id.lower()) if isinstance(raw_id, str) else None

    name = raw.get("name")
    if name is not None and (
        not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or _CONTROL.search(name)
    ):
        raise BadRequestError(f"{where}.name must be a non-empty string of at most {MAX_NAME} characters")

    protocol = raw.get("protocol")
    if protocol is not None:
        if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
            raise BadRequestError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}")
        protocol = protocol.lower()

    location = raw.get("location")
    if location is not None and not isinstance(location, str):
        raise BadRequestError(f"{where}.location must be a string")
    location = location or None

    names_feed = raw.get("internalUpstreamFeedId") is not None
    kind = raw.get("upstreamSourceType")
    if kind is None:
        kind = "internal" if names_feed or (location and is_feed_locator(location)) else "public"
    elif not isinstance(kind, str) or kind.lower() not in SOURCE_TYPES:
        raise BadRequestError(f"{where}.upstreamSourceType must be public or internal")
    kind = kind.lower()

    src: dict[str, Any] = {
        "id": previous["id"] if previous else str(uuid.uuid4()),
        "name": name,
        "protocol": protocol,
        "upstreamSourceType": kind,
        "location": None,
        "displayLocation": None,
        "status": _status(raw, where, previous),
        "statusDetails": _status_details(raw, where, previous),
        "deletedDate": None,
        "serviceEndpointId": _optional_str(raw, "serviceEndpointId", where, MAX_NAME),
        "internalUpstreamCollectionId": None,
        "internalUpstreamProjectId": None,
        "internalUpstreamFeedId": None,
        "internalUpstreamViewId": None,
        "minimumReleaseAgeHours": (
            validate_release_age(raw["minimumReleaseAgeHours"], f"{where}.minimumReleaseAgeHours")
            if "minimumReleaseAgeHours" in raw
            else (previous or {}).get("minimumReleaseAgeHours")
        ),
    }
    target = None
    if kind == "internal":
        if protocol is None:
            raise BadRequestError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}")
        if raw.get("credentials") is not None:
            raise BadRequestError(
                f"{where}: internal sources take no credentials (feeds of this service are read through their views)"
            )
        target = _internal_target(raw, where, location)
    else:
        if any(raw.get(k) is not None for k in _INTERNAL_KEYS):
            raise BadRequestError(f"{where}: internalUpstream* fields are only for upstreamSourceType internal")
        if name is None:
            raise BadRequestError(f"{where}.name must be a non-empty string of at most {MAX_NAME} characters")
        if location is None:
            src["name"], src["protocol"], location = _configured_public(name, protocol, public_sources, where)
        else:
            if protocol is None:
                raise BadRequestError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}")
            location = validate_registry_url(location, f"{where}.location")
        src["location"] = src["displayLocation"] = location
        credentials = _credentials(raw, where, previous, location)
        if credentials is not None:
            src["credentials"] = credentials
    return SourceDraft(i, src, target, previous)


def _status(raw: dict[str, Any], where: str, previous: dict[str, Any] | None) -> str:
    status = raw.get("status")
    if isinstance(status, str) and status.lower() == SHOWN_ONLY_STATUS:
        status = None
    if status is not None:
        if not isinstance(status, str) or status.lower() not in STATUSES:
            raise BadRequestError(f"{where}.status must be ok or disabled")
        status = status.lower()
    enabled = raw.get("enabled")
    if enabled is not None:
        if not isinstance(enabled, bool):
            raise BadRequestError(f"{where}.enabled must be true or false")
        # the convenience field wins: a client adds it to the source it read (whose status is stale)
        status = "ok" if enabled else "disabled"
    if status is None:
        status = previous.get("status", "ok") if previous else "ok"
    return str(status)


def _status_details(raw: dict[str, Any], where: str, previous: dict[str, Any] | None) -> list[Any]:
    if previous is not None:
        kept = previous.get("statusDetails")
        return list(kept) if isinstance(kept, list) else []
    details = raw.get("statusDetails")
    if details is None:
        return []
    if (
        not isinstance(details, list)
        or len(details) > MAX_STATUS_DETAILS
        or not all(isinstance(d, dict) and isinstance(d.get("reason", ""), str) for d in details)
    ):
        raise BadRequestError(f'{where}.statusDetails must be a list of {{"reason": "..."}}')
    return [{"reason": d.get("reason", "")[:1024]} for d in details]


def _optional_str(raw: dict[str, Any], key: str, where: str, limit: int) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value):
        raise BadRequestError(f"{where}.{key} must be a string of at most {limit} characters")
    return value


def _internal_target(raw: dict[str, Any], where: str, location: str | None) -> InternalTarget:
    if raw.get("internalUpstreamFeedId") is not None:
        feed = raw.get("internalUpstreamFeedId")
        view = raw.get("internalUpstreamViewId")
        if not isinstance(feed, str) or not feed:
            raise BadRequestError(f"{where}.internalUpstreamFeedId must be a feed name or id")
        if not isinstance(view, str) or not view:
            raise BadRequestError(
                f"{where}.internalUpstreamViewId must name a view of the upstream feed (a view is mandatory, "
                "e.g. Local or Release)"
            )
        org = _optional_str(raw, "internalUpstreamCollectionId", where, 64)
        project = _optional_str(raw, "internalUpstreamProjectId", where, 64)
        return InternalTarget(
            validate_org(org) if org else None,
            validate_project(project) if project else None,
            validate_feed_name(feed),
            validate_feed_name(view, "view"),
            by_ids=True,
        )
    if location is not None and is_feed_locator(location):
        loc = parse_feed_locator(location)
        return InternalTarget(loc.org, loc.project, loc.feed, loc.view, by_ids=False)
    raise BadRequestError(
        f"{where}: an internal source needs internalUpstreamFeedId and internalUpstreamViewId "
        "(feed and view, by name or id), or a location azure-feed://ORG[/PROJECT]/FEED@VIEW"
    )


def _configured_public(
    name: str, protocol: str | None, public_sources: Mapping[str, Mapping[str, Any]], where: str
) -> tuple[str, str, str]:
    key = name if name in public_sources else next((k for k in public_sources if k.lower() == name.lower()), None)
    if key is None:
        raise BadRequestError(
            f"{where} has no location and {name!r} is not a configured public source "
            f"(known: {', '.join(sorted(public_sources)) or 'none; set FEED_PUBLIC_SOURCES'})"
        )
    configured = public_sources[key]
    configured_protocol = str(configured.get("protocol", "")).lower()
    if protocol is not None and protocol != configured_protocol:
        raise BadRequestError(f"{where}: the public source {key!r} serves {configured_protocol}, not {protocol}")
    return key, configured_protocol, str(configured["url"])


def validate_registry_url(location: str, what: str) -> str:
    """An http(s) URL without user information (credentials go in ``credentials``, never in the URL)."""
    if is_feed_locator(location):
        raise BadRequestError(f"{what}: azure-feed:// locations are internal sources (upstreamSourceType internal)")
    if len(location) > MAX_LOCATION or _CONTROL.search(location) or any(c.isspace() for c in location):
        raise BadRequestError(f"{what} must be an http(s) URL of at most {MAX_LOCATION} characters")
    try:
        parts = urlsplit(location)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise BadRequestError(f"{what} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadRequestError(f"{what} must be an http(s) or azure-feed:// URL")
    if parts.username is not None or parts.password is not None:
        raise BadRequestError(
            f"{what} must not contain user information: put it in the source's credentials "
            '({"username": ..., "password": ...} or {"token": ...}), which are never shown again'
        )
    return location


def registry_origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL, lower-cased: stored credentials belong to one origin.
    ``ValueError`` for a URL with a bad port."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _credentials(
    raw: dict[str, Any], where: str, previous: dict[str, Any] | None, location: str
) -> SourceCredentials | None:
    """New credentials, the stored ones (key absent: a client sending back what GET showed), or none
    (``"credentials": null``). Stored credentials are never sent to another host than the one they
    were given for."""
    if "credentials" in raw:
        return None if raw["credentials"] is None else validate_credentials(raw["credentials"], f"{where}.credentials")
    kept = (previous or {}).get("credentials")
    if not isinstance(kept, Credentials | UnreadableCredentials):
        return None
    prev_location = (previous or {}).get("location")
    if (
        not isinstance(prev_location, str)
        or is_feed_locator(prev_location)
        or registry_origin(prev_location) != registry_origin(location)
    ):
        raise BadRequestError(
            f"{where} now points at another host than its stored credentials were given for: send its credentials "
            'again, or "credentials": null to drop them'
        )
    return kept


def validate_credentials(value: Any, what: str) -> Credentials:
    """``{"username": ..., "password": ...}`` or ``{"token": ...}``. Messages never echo the values."""
    usage = f'{what} must be {{"username": "...", "password": "..."}} or {{"token": "..."}}'
    if not isinstance(value, dict):
        raise BadRequestError(usage)
    keys = set(value)
    if keys == {"token"}:
        return Credentials(token=_secret(value["token"], f"{what}.token", MAX_SECRET))
    if keys == {"username", "password"}:
        username = _secret(value["username"], f"{what}.username", MAX_USERNAME)
        if ":" in username:
            raise BadRequestError(f"{what}.username must not contain ':'")
        return Credentials(username=username, password=_secret(value["password"], f"{what}.password", MAX_SECRET))
    raise BadRequestError(usage)


def _secret(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or _CONTROL.search(value):
        raise BadRequestError(f"{what} must be a non-empty string of at most {limit} characters, without control ones")
    return value


def check_unique_names(sources: Iterable[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for src in sources:
        name = str(src.get("name") or "")
        if name.lower() in seen:
            raise BadRequestError(f"upstreamSources has two sources named {name!r} (names are case-insensitive)")
        seen.add(name.lower())


# --- the graph of internal upstreams ----------------------------------------------------------------


def internal_targets(org: str, sources: Iterable[dict[str, Any]]) -> list[Node]:
    """The feeds that the enabled internal sources of a feed in ``org`` point at, in order."""
    out: list[Node] = []
    for src in sources:
        feed_id = src.get("internalUpstreamFeedId")
        if (
            src.get("upstreamSourceType") != "internal"
            or src.get("status", "ok") == "disabled"
            or src.get("deletedDate")
            or not isinstance(feed_id, str)
            or not feed_id
        ):
            continue
        collection = src.get("internalUpstreamCollectionId")
        node = ((collection if isinstance(collection, str) and collection else org).lower(), feed_id.lower())
        if node not in out:
            out.append(node)
    return out


def find_cycle(start: Node, adjacency: Mapping[Node, Iterable[Node]]) -> list[Node] | None:
    """A shortest path ``start -> ... -> start`` through ``adjacency``, or ``None`` when there is none.

    A self-loop gives ``[start, start]``. Nodes missing from ``adjacency`` have no edges.
    """
    parents: dict[Node, Node] = {}
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in adjacency.get(node, ()):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                path.reverse()
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                parents[nxt] = node
                queue.append(nxt)
    return None


# --- minimum release age ----------------------------------------------------------------------------


def validate_release_age(value: Any, what: str) -> float | None:
    """Hours a version must have been public before it is offered from an upstream; ``None``: no delay."""
    if value is None:
        return None
    # Compared, not converted: a huge int cannot become a float, and NaN fails every comparison.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_RELEASE_AGE_HOURS:
        raise BadRequestError(f"{what} must be a number of hours from 0 to {MAX_RELEASE_AGE_HOURS}, or null")
    return float(value)


def validate_exemptions(value: Any, what: str = "minimumReleaseAgeExemptions") -> list[str]:
    """Package names or simple ``*`` globs (``@myorg/*``), at most ``MAX_EXEMPTIONS``; duplicates dropped."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequestError(f"{what} must be a list of package names or patterns like @myorg/*")
    if len(value) > MAX_EXEMPTIONS:
        raise BadRequestError(f"{what} may hold at most {MAX_EXEMPTIONS} entries")
    out: list[str] = []
    seen: set[str] = set()
    for i, pattern in enumerate(value):
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN or not _PATTERN.match(pattern):
            raise BadRequestError(
                f"{what}[{i}] must be a package name or a pattern with '*' (letters, digits and @ / . _ - ~ : +, "
                f"at most {MAX_PATTERN} characters)"
            )
        if not pattern.strip("*"):
            raise BadRequestError(f"{what}[{i}] would exempt every package: set minimumReleaseAgeHours to null instead")
        if pattern.lower() not in seen:
            seen.add(pattern.lower())
            out.append(pattern)
    return out
