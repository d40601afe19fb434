"""The upstream rules as pure functions: where a version comes from, which versions a feed offers.

- **Origin** of a version: internal (first published to a feed of this service) or external (first
  published to a public or custom registry), read from its source chain, immediate source first.
- **Upstream behaviour** (``versionsFromExternalUpstreams``): with ``auto``, external versions of a
  package the feed treats as private are not offered (the dependency-confusion defence).
- **Private names stay private**: while external versions of a name are blocked, its external
  upstreams are not even asked about it, since the question alone tells them the private name.
- **Search order and merge**: held versions (published or saved) first, then each upstream in order;
  the first source with a version wins it; reserved (deleted) numbers are never offered; upstream
  versions younger than the minimum release age, or whose age the feed cannot establish, are held
  back (see ``release_age``).
- **Changed upstream**: a saved version whose upstream now declares other digests for it keeps its
  saved bytes; the change is only flagged.

Nothing here does I/O, so every rule can be read and tested alone.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from feed_core.domain import semver


class Origin(enum.Enum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


def origin_of(source_chain: Sequence[dict[str, Any]]) -> Origin:
    """Where a version was first published. An empty chain means published to this feed; otherwise
    the original (last) hop decides."""
    if not source_chain:
        return Origin.INTERNAL
    kind = str(source_chain[-1].get("sourceType", "")).lower()
    if kind == "public":
        return Origin.EXTERNAL
    if kind == "internal":
        return Origin.INTERNAL
    return Origin.UNKNOWN


class Behaviour(enum.Enum):
    AUTO = "auto"
    ALLOW_EXTERNAL = "allowExternalVersions"


def parse_behaviour(text: str) -> Behaviour:
    key = text.strip().lower()
    for b in Behaviour:
        if b.value.lower() == key:
            return b
    raise ValueError(f"versionsFromExternalUpstreams must be 'auto' or 'allowExternalVersions', not {text!r}")


@dataclass(frozen=True)
class BehaviourDecision:
    external_allowed: bool
    reason: str


def decide_external(behaviour: Behaviour, held: Iterable[Origin], offered: Iterable[Origin]) -> BehaviourDecision:
    """Whether external upstream versions of one package may be offered (rule of digest section 1.4).

    ``held``: origins of the versions the feed holds (published or saved, deleted ones included:
    a published-then-deleted private version still marks the name as private).
    ``offered``: origins of the versions the upstreams offer.
    """
    if behaviour is Behaviour.ALLOW_EXTERNAL:
        return BehaviourDecision(True, "the package allows external versions")
    held = list(held)
    if held:
        if Origin.UNKNOWN in held:
            return BehaviourDecision(True, "a saved version's origin is unknown, so nothing is blocked (fail open)")
        if Origin.INTERNAL in held:
            return BehaviourDecision(False, "the feed holds an internal version, so external versions are blocked")
        return BehaviourDecision(True, "every version the feed holds is external")
    offered = list(offered)
    if Origin.UNKNOWN in offered:
        return BehaviourDecision(True, "an upstream version's origin is unknown, so nothing is blocked (fail open)")
    if Origin.INTERNAL in offered:
        return BehaviourDecision(False, "an upstream feed offers an internal version, so external versions are blocked")
    return BehaviourDecision(True, "no internal version exists under this name")


def may_ask_external(behaviour: Behaviour, held: Iterable[Origin], internal_offered: Iterable[Origin]) -> bool:
    """Whether a name may be sent to external (public or custom) upstreams at all.

    Decided before they are asked, from what the feed holds and what its internal upstreams (other
    feeds of this service) offer: the same rule as ``decide_external``, so a name whose external
    versions would be blocked anyway is never given away to the registries that could shadow it.
    """
    return decide_external(behaviour, held, internal_offered).external_allowed


@dataclass(frozen=True)
class HeldVersion:
    version: str
    origin: Origin
    deleted: bool


@dataclass(frozen=True)
class OfferedVersion:
    version: str
    origin: Origin
    published: datetime | None  # when the feed counts it as published (release_age.effective_time)
    time_unusable: bool = False  # the upstream gave no usable publish time (only the feed's floor counts)


@dataclass(frozen=True)
class UpstreamOffer:
    """What one enabled upstream offers for a package, in search order."""

    source_id: str
    versions: Sequence[OfferedVersion]
    dist_tags: dict[str, str]
    minimum_release_age_hours: float | None = None


@dataclass
class Merge:
    """The outcome: who wins each version, what was hidden and why, and the merged dist-tags."""

    held: list[str] = field(default_factory=list)  # live held versions, ascending
    from_upstream: dict[str, str] = field(default_factory=dict)  # version -> source id that wins it
    blocked: list[str] = field(default_factory=list)  # hidden by upstream behaviour
    held_back: list[str] = field(default_factory=list)  # hidden by minimum release age
    age_unknown: list[str] = field(default_factory=list)  # held back, with no usable upstream publish time
    reserved: list[str] = field(default_factory=list)  # deleted here, so never offered from upstream
    dist_tags: dict[str, str] = field(default_factory=dict)
    decision: BehaviourDecision | None = None

    @cached_property
    def versions(self) -> list[str]:
        """Every offered version, ascending (worked out once: packages can have thousands)."""
        return semver.sort_versions([*self.held, *self.from_upstream])


def is_exempt(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _itself(number: str) -> str:
    return number


def merge_versions(
    *,
    held: Sequence[HeldVersion],
    feed_tags: dict[str, str],
    offers: Sequence[UpstreamOffer],
    behaviour: Behaviour,
    now: datetime,
    minimum_release_age_hours: float | None,
    age_exempt: bool,
    include_upstream_versions: bool = True,
    same_version: Callable[[str], str] | None = None,
) -> Merge:
    """Merge what the feed holds with what its upstreams offer, in search order.

    ``include_upstream_versions`` is false for readers: they see only what the feed holds, though
    the decision and counts are still worked out. ``same_version`` maps a number to what makes it one version
    to the protocol's clients (Cargo ignores build metadata): a held, reserved or earlier-offered number takes
    its twins from every later source too.
    """
    same = same_version or _itself
    out = Merge()
    live = [h.version for h in held if not h.deleted]
    out.held = semver.sort_versions(live)
    taken = set(live)
    taken_keys = {same(v) for v in live}
    reserved = {same(h.version) for h in held if h.deleted}
    decision = decide_external(behaviour, (h.origin for h in held), (v.origin for o in offers for v in o.versions))
    out.decision = decision
    blocked: set[str] = set()
    held_back: set[str] = set()
    age_unknown: set[str] = set()
    for offer in offers:
        hours = offer.minimum_release_age_hours
        if hours is None:
            hours = minimum_release_age_hours
        cutoff = now - timedelta(hours=hours) if hours and not age_exempt else None
        for v in offer.versions:
            key = same(v.version)
            if key in taken_keys:
                continue
            if key in reserved:
                if v.version not in out.reserved:
                    out.reserved.append(v.version)
                continue
            if v.origin is Origin.EXTERNAL and not decision.external_allowed:
                blocked.add(v.version)
                continue
            if cutoff is not None and (v.published is None or v.published > cutoff):
                held_back.add(v.version)  # fail closed: an unknown age is not old enough
                if v.published is None or v.time_unusable:
                    age_unknown.add(v.version)
                continue
            taken.add(v.version)
            taken_keys.add(key)
            blocked.discard(v.version)
            held_back.discard(v.version)
            age_unknown.discard(v.version)
            if include_upstream_versions:
                out.from_upstream[v.version] = offer.source_id
    out.blocked = semver.sort_versions(sorted(blocked - taken))
    out.held_back = semver.sort_versions(sorted(held_back - taken))
    out.age_unknown = semver.sort_versions(sorted(age_unknown - taken))
    out.dist_tags = merge_tags(feed_tags, [o.dist_tags for o in offers], out.versions)
    return out


def merge_tags(
    feed_tags: dict[str, str], upstream_tags: Sequence[dict[str, str]], visible: list[str]
) -> dict[str, str]:
    """Feed tags win over upstream ones, earlier upstreams over later; tags must point at a visible
    version, and ``latest`` falls back to the highest visible release."""
    merged: dict[str, str] = {}
    for tags in reversed(upstream_tags):
        merged.update(tags)
    merged.update(feed_tags)
    shown = set(visible)
    tags = {t: v for t, v in merged.items() if v in shown}
    if "latest" not in tags and visible:
        tags["latest"] = semver.highest(visible) or semver.highest(visible, include_prerelease=True) or visible[-1]
    return tags


def changed_digests(saved: Mapping[str, str], declared: Mapping[str, str]) -> dict[str, str]:
    """What an upstream declares now for a saved version that differs from what it declared when the
    version was saved, keyed like the inputs (``integrity``, ``shasum``, or a file name for sha-256).
    Only digests both sides declare are compared: a digest added or dropped is no change of bytes."""
    return {key: value for key, value in declared.items() if value and saved.get(key) and saved[key] != value}
