"""Each upstream source of a feed with its health, worded as the REST API words it
(:func:`~feed_core.api.upstream_shapes.feed_health_response`), plus what an administrator can do about a
failure. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from feed_core.api.upstream_shapes import UpstreamHealthEntry, feed_health_response
from feed_core.domain.models import Feed
from feed_core.domain.source_models import InternalSource, UpstreamSource
from feed_core.storage.health import UpstreamHealth

KIND_LABELS = {"public": "public registry", "custom": "custom registry", "internal": "another feed"}

#: Words in a failure's reason, and what to do about it (the first that matches).
_REGISTRY_ADVICE = (
    (
        "refused to connect",
        "The address is not on the public internet. Fix the location, or ask the operator to allow the network "
        "in FEED_UPSTREAM_ALLOWED_NETWORKS.",
    ),
    ("refused the credentials", "Set new credentials: Change the source, and replace them."),
    ("credentials", "Give the source its credentials again: Change the source, and replace them."),
    ("rate-limiting", "Wait: the feed retries later. Versions already saved stay installable."),
    ("certificate", "Check the registry's TLS certificate, or ask the operator to trust its CA."),
    ("tls", "Check the registry's TLS set-up, or use the right scheme (http or https) in the location."),
    ("timed out", "Check that the registry is up and reachable; versions already saved stay installable."),
    ("could not connect", "Check the location, and that the registry is running."),
)
_FEED_ADVICE = (
    ("does not exist", "Choose a feed and view that exist, or remove the source."),
    ("cannot be an upstream", "Ask the upstream feed's owner to share the view (visibility collection)."),
    ("private", "Ask the upstream feed's owner to share the view (visibility collection)."),
)
_DEFAULT_ADVICE = "Check the source's location. Versions already saved from it stay installable."


@dataclass(frozen=True)
class SourceRow:
    source: UpstreamSource
    health: UpstreamHealthEntry
    advice: str

    @property
    def kind(self) -> str:
        return KIND_LABELS[self.source.kind]

    @property
    def reasons(self) -> list[str]:
        return [d.reason for d in self.health.status_details]

    @property
    def target(self) -> str:
        """Where it reads from, in words: a URL, or ``feed@view``."""
        src = self.source
        if isinstance(src, InternalSource):
            return src.location.removeprefix("azure-feed://")
        return src.location


def advice(status: str, reasons: list[str], internal: bool) -> str:
    if status == "unknown":
        return "The health job checks it on its next run."
    if status != "failed":
        return ""
    text = " ".join(reasons).lower()
    return next((what for words, what in _FEED_ADVICE if internal and words in text), None) or next(
        (what for words, what in _REGISTRY_ADVICE if words in text), _DEFAULT_ADVICE
    )


def rows(feed: Feed, health: Mapping[str, UpstreamHealth]) -> list[SourceRow]:
    """The feed's sources in search order, each with its health as administrators see it."""
    shown = feed_health_response(feed, health, detailed=True).upstreams
    out = []
    for src, entry in zip(feed.upstream_sources, shown, strict=True):
        reasons = [d.reason for d in entry.status_details]
        out.append(SourceRow(src, entry, advice(entry.status, reasons, isinstance(src, InternalSource))))
    return out
