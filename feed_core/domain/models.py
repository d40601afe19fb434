"""The feed's records as plain data: organizations, feeds, views, permissions, tokens, versions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from feed_core.domain.names import pick_reference
from feed_core.domain.roles import Role, Scope
from feed_core.domain.source_models import UpstreamSource
from feed_core.domain.upstream_rules import Origin

if TYPE_CHECKING:  # retention's rules read versions and views: the import would go round in a circle
    from feed_core.domain.retention import RetentionPolicy


class ViewType(enum.Enum):
    IMPLICIT = "implicit"  # @Local: everything in the feed
    RELEASE = "release"  # a promotion target
    NONE = "none"


class ViewVisibility(enum.Enum):
    PRIVATE = "private"
    COLLECTION = "collection"
    ORGANIZATION = "organization"
    AAD_TENANT = "aadTenant"


@dataclass
class View:
    id: str
    name: str
    type: ViewType = ViewType.RELEASE
    visibility: ViewVisibility = ViewVisibility.PRIVATE

    @property
    def is_local(self) -> bool:
        return self.type is ViewType.IMPLICIT


@dataclass
class Permission:
    user: str
    role: Role


@dataclass
class Feed:
    id: str
    org: str
    project: str | None
    name: str
    description: str = ""
    upstream_enabled: bool = True
    # Typed sources (feed_core.domain.source_models); their credentials are secrets that never show in a repr.
    upstream_sources: list[UpstreamSource] = field(default_factory=list, repr=False)
    views: list[View] = field(default_factory=list)
    permissions: list[Permission] = field(default_factory=list)
    hide_deleted_package_versions: bool = True
    badges_enabled: bool = False
    allow_upstream_name_conflict: bool = False
    minimum_release_age_hours: float | None = None
    minimum_release_age_exemptions: list[str] = field(default_factory=list)
    default_view_id: str = ""
    created: str = ""
    #: When the feed was deleted: it is then in the feed recycle bin, hidden and restorable, until purged.
    deleted: str | None = None
    #: When a purge claimed the deleted feed: it can no longer be restored, only purged to the end.
    purging: str | None = None
    #: When an owner last emptied the package recycle bin: versions deleted until then are hidden from it and
    #: the gc job purges them (the request itself does no unbounded work).
    recycle_bin_emptied: str | None = None
    #: How many versions per package the retention job keeps; ``None``: the feed has no retention policy.
    retention_policy: RetentionPolicy | None = None
    etag: str | None = None

    @property
    def scope_label(self) -> str:
        return f"{self.org}/{self.project}/{self.name}" if self.project else f"{self.org}/{self.name}"

    def in_project(self, project: str | None) -> bool:
        """Whether the feed belongs to ``project`` (``None``: the organization's own feeds)."""
        return (self.project or "").lower() == (project or "").lower()

    def view_named(self, name_or_id: str) -> View | None:
        """The view with this name or id; 409 when it is one view's name and another's id."""
        key = name_or_id.lower()
        by_name = next((v for v in self.views if v.name.lower() == key), None)
        return pick_reference("view", name_or_id, by_name, self.view_by_id(name_or_id), lambda v: v.id)

    def view_by_id(self, view_id: str) -> View | None:
        key = view_id.lower()
        return next((v for v in self.views if v.id.lower() == key), None)

    @property
    def local_view(self) -> View:
        return next(v for v in self.views if v.is_local)


@dataclass
class Organization:
    name: str
    administrators: list[str] = field(default_factory=list)
    created: str = ""


@dataclass
class Token:
    authorization_id: str
    user: str
    org: str
    display_name: str
    scope: Scope
    valid_from: str
    valid_to: str
    token_hash: str
    #: The authorization id of the token that minted this one ("" for tokens minted without a token).
    parent_id: str = ""
    #: The hashes of the tokens it descends from, its parent first: it works only while they all exist.
    lineage: tuple[str, ...] = ()


@dataclass
class Caller:
    """Who is making a request: the token's user and scope, and whether they administer the org.

    ``token`` is the token the request came with (``None`` for the command line, which needs none).
    """

    user: str
    scope: Scope
    org_admin: bool = False
    token: Token | None = field(default=None, repr=False)


@dataclass
class PackageVersion:
    """One version of one package in one feed. ``deleted`` versions keep their number reserved."""

    protocol: str
    name: str
    version: str
    manifest: dict[str, Any]
    filename: str
    sha256: str
    sha512_integrity: str
    sha1: str
    size: int
    published: str
    publisher: str
    deleted: str | None = None
    deprecated: str | None = None
    views: list[str] = field(default_factory=list)
    source_chain: list[dict[str, Any]] = field(default_factory=list)
    #: For versions saved from an upstream: where and when from, the upstream's hashes, who saved it.
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Every file of the version, for protocols with several per version (Python: wheels and an sdist).
    #: Each: filename, sha256, size, uploaded, uploader, and protocol details (requires_python, ...).
    #: The single-file fields above describe the first file.
    files: list[dict[str, Any]] = field(default_factory=list)
    #: When the version was unlisted (NuGet): still installable by its exact number, hidden from searches and
    #: from the listings clients pick versions from. ``None``: listed.
    unlisted: str | None = None
    #: Who moved the version to the recycle bin: a user, or ``"retention"`` for the retention job.
    deleted_by: str | None = None
    #: When the version left the recycle bin for good (permanently deleted, or purged after the recycle bin's
    #: days): its files are no longer referenced and its row stays only to keep the number reserved.
    purged: str | None = None
    #: The blob key of the version's file list, for packages whose content is many stored pieces (a Universal
    #: Package's manifest: every file and its chunks); ``None`` for single- and multi-file protocols.
    files_manifest: str | None = None
    etag: str | None = None


@dataclass
class PackageMeta:
    """Mutable per-package state: dist-tags, a revision bumped on every write, timestamps, and the
    origins of every version ever committed (so telling a private name needs no read of its versions;
    ``None`` on rows written before they were recorded)."""

    protocol: str
    name: str
    dist_tags: dict[str, str] = field(default_factory=dict)
    rev: int = 0
    created: str = ""
    modified: str = ""
    etag: str | None = None
    origins: frozenset[Origin] | None = None
