"""Where an upstream source points: an ``azure-feed://`` locator (a view of a feed here) or a registry's http(s)
URL. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from feed_core.domain.errors import BadRequestError
from feed_core.domain.names import validate_feed_name, validate_org, validate_project

LOCATOR_SCHEMES = ("azure-feed://", "vsts-feed://")  # vsts-feed:// is the legacy spelling
MAX_LOCATION = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_USAGE = "use azure-feed://ORG/FEED@VIEW or azure-feed://ORG/PROJECT/FEED@VIEW"


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


def is_feed_locator(text: object) -> bool:
    return isinstance(text, str) and text.lower().startswith(LOCATOR_SCHEMES)


def parse_feed_locator(text: str) -> FeedLocator:
    """Parse an ``azure-feed://`` (or legacy ``vsts-feed://``) locator; a view is mandatory."""
    if not is_feed_locator(text):
        raise BadRequestError(f"not a feed locator: {_USAGE}")
    if len(text) > MAX_LOCATION or _CONTROL.search(text):
        raise BadRequestError(f"the feed locator is too long or contains control characters: {_USAGE}")
    parts = text.split("://", 1)[1].removesuffix("/").split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise BadRequestError(f"the feed locator {text!r} is not valid: {_USAGE}")
    feed, at, view = parts[-1].partition("@")
    if not at or not feed or not view:
        raise BadRequestError(f"the feed locator {text!r} names no view (a view is mandatory): {_USAGE}")
    org = validate_org(parts[0])
    project = validate_project(parts[1]) if len(parts) == 3 else None
    return FeedLocator(org, project, validate_feed_name(feed), validate_feed_name(view, "view"))


def registry_url_problem(location: str) -> str | None:
    """What keeps ``location`` from being a registry's URL: http(s), a host, no user information (credentials
    go in the source's ``credentials``, never in the URL); ``None`` when it is one."""
    if is_feed_locator(location):
        return "azure-feed:// locations are internal sources (upstreamSourceType internal)"
    if _CONTROL.search(location) or any(c.isspace() for c in location):
        return "must be an http(s) URL without spaces or control characters"
    try:
        parts = urlsplit(location)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host (or, for an internal source, azure-feed://)"
    if parts.username is not None or parts.password is not None:
        return (
            "must not contain user information: put it in the source's credentials "
            '({"username": ..., "password": ...} or {"token": ...}), which are never shown again'
        )
    return None


def registry_origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL, lower-cased: stored credentials belong to one origin.
    ``ValueError`` for a URL with a bad port."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
