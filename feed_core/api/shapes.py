"""Feeds, views, permissions, tokens and package versions as the REST API shows them (``responses``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, cast

from feed_core.api.responses import (
    DeletedFeedResponse,
    Dependency,
    FeedLinks,
    FeedResponse,
    Link,
    PermissionResponse,
    ProjectReference,
    ProtocolMetadata,
    Provenance,
    ProvenanceResponse,
    RoleValue,
    SelfLinks,
    TokenResponse,
    VersionFile,
    VersionResponse,
    ViewResponse,
)
from feed_core.api.upstream_shapes import upstream_source_response
from feed_core.api.usage_shapes import UsageTotal
from feed_core.domain.ids import package_guid, stable_id, version_guid
from feed_core.domain.models import Feed, PackageVersion, Token, View
from feed_core.domain.roles import Role
from feed_core.storage.health import UpstreamHealth


def api_base(base: str, feed: Feed) -> str:
    scope = f"{feed.org}/{feed.project}" if feed.project else feed.org
    return f"{base}/{scope}/_apis/packaging"


def view_response(base: str, feed: Feed, view: View) -> ViewResponse:
    url = f"{api_base(base, feed)}/Feeds/{feed.id}/Views/{view.id}"
    return ViewResponse(
        id=view.id,
        name=view.name,
        url=url,
        type=view.type.value,
        visibility=view.visibility.value,
        links=SelfLinks(self=Link(href=url)),
    )


def permission_response(user: str, role: Role, feed: Feed) -> PermissionResponse:
    return PermissionResponse(
        role=cast(RoleValue, role.api_name),
        identity_descriptor=user,
        display_name=user,
        identity_id=stable_id(feed.org, "user", user.lower()),
        is_inherited_role=False,
    )


def feed_response(
    base: str, feed: Feed, health: Mapping[str, UpstreamHealth] | None = None, *, detailed: bool = False
) -> FeedResponse:
    """A feed as the API shows it; ``detailed``: upstream failures with their causes (administrators)."""
    return FeedResponse.model_validate(_feed_fields(base, feed, health, detailed))


def listed_feed_response(
    base: str,
    feed: Feed,
    health: Mapping[str, UpstreamHealth] | None,
    *,
    detailed: bool,
    usage: UsageTotal | None,
) -> FeedResponse:
    """A feed in the feed list: with its storage usage as last computed (``null`` when it never was)."""
    return FeedResponse.model_validate({**_feed_fields(base, feed, health, detailed), "usage": usage})


def deleted_feed_response(base: str, feed: Feed, purge_due: str | None) -> DeletedFeedResponse:
    """A feed in the recycle bin, with when it is due to be purged."""
    fields = _feed_fields(base, feed, None, False)
    return DeletedFeedResponse.model_validate({**fields, "scheduled_permanent_delete_date": purge_due})


def _feed_fields(
    base: str, feed: Feed, health: Mapping[str, UpstreamHealth] | None, detailed: bool
) -> dict[str, object]:
    url = f"{api_base(base, feed)}/Feeds/{feed.id}"
    project = (
        ProjectReference(
            id=stable_id(feed.org, "project", feed.project.lower()), name=feed.project, visibility="private"
        )
        if feed.project
        else None
    )
    return {
        "id": feed.id,
        "name": feed.name,
        "description": feed.description,
        "url": url,
        "fully_qualified_name": feed.name,
        "fully_qualified_id": feed.id,
        "project": project,
        "upstream_enabled": feed.upstream_enabled,
        "upstream_enabled_changed_date": None,
        "upstream_sources": [
            upstream_source_response(s, (health or {}).get(s.id), detailed=detailed) for s in feed.upstream_sources
        ],
        "capabilities": "defaultCapabilities",
        "is_read_only": False,
        "is_enabled": True,
        "hide_deleted_package_versions": feed.hide_deleted_package_versions,
        "badges_enabled": feed.badges_enabled,
        "allow_upstream_name_conflict": feed.allow_upstream_name_conflict,
        "minimum_release_age_hours": feed.minimum_release_age_hours,
        "minimum_release_age_exemptions": list(feed.minimum_release_age_exemptions),
        "default_view_id": feed.default_view_id,
        "view_id": None,
        "view_name": None,
        "permissions": None,
        "deleted_date": feed.deleted,
        "views": [view_response(base, feed, v) for v in feed.views],
        "links": FeedLinks(
            self=Link(href=url), packages=Link(href=f"{url}/Packages"), permissions=Link(href=f"{url}/Permissions")
        ),
    }


def token_response(token: Token, plaintext: str | None = None) -> TokenResponse:
    return TokenResponse(
        display_name=token.display_name,
        valid_from=token.valid_from,
        valid_to=token.valid_to or None,
        scope=token.scope.value,
        target_accounts=[token.org],
        authorization_id=token.authorization_id,
        user=token.user,
        token=plaintext,
    )


def version_response(base: str, feed: Feed, v: PackageVersion, latest: str | None) -> VersionResponse:
    description = v.manifest.get("description")
    return VersionResponse(
        id=version_guid(feed.id, v.protocol, v.name, v.version),
        package_id=package_guid(feed.id, v.protocol, v.name),
        normalized_version=v.version,
        version=v.version,
        is_latest=v.version == latest,
        is_listed=v.unlisted is None,
        is_deleted=v.deleted is not None,
        storage_id=v.sha256,
        package_description=description if isinstance(description, str) else "",
        views=[view_response(base, feed, view) for view in feed.views if view.is_local or view.id in v.views],
        publish_date=v.published,
        deleted_date=v.deleted,
        unpublished_date=v.deleted,
        deprecate_message=v.deprecated or "",
        source_chain=v.source_chain,
        provenance=v.provenance or None,
        upstream_removed_date=v.provenance.get("upstreamRemoved"),
        upstream_changed_date=v.provenance.get("upstreamChanged"),
        author=v.publisher,
        files=_files(v),
        dependencies=_dependencies(v.manifest),
    )


def _dependencies(manifest: dict[str, Any]) -> list[Dependency]:
    """A published manifest may carry anything: only ``name -> range`` strings (npm), or a Cargo version's
    index-shaped ``deps`` (the real crate's name and its requirement), are dependencies."""
    deps = manifest.get("dependencies")
    if isinstance(deps, dict):
        pairs = list(deps.items())
    else:
        cargo_deps = manifest.get("deps")
        pairs = [
            (d.get("package") or d.get("name"), d.get("req"))
            for d in (cargo_deps if isinstance(cargo_deps, list) else [])
            if isinstance(d, dict)
        ]
    return [
        Dependency(package_name=n, version_range=r, group="dependencies")
        for n, r in pairs
        if isinstance(n, str) and isinstance(r, str)
    ]


def _files(v: PackageVersion) -> list[VersionFile]:
    if v.files:
        return [
            VersionFile(
                name=f["filename"],
                protocol_metadata=ProtocolMetadata(data={k: x for k, x in f.items() if k != "filename"}),
            )
            for f in v.files
        ]
    data = {"size": v.size, "sha256": v.sha256, "integrity": v.sha512_integrity, "shasum": v.sha1}
    return [VersionFile(name=v.filename, protocol_metadata=ProtocolMetadata(data=data))]


def provenance_response(feed: Feed, v: PackageVersion) -> ProvenanceResponse:
    """Azure's ``Provenance`` answer for a version: who published it, or where it was saved from."""
    source: Literal["Publish", "Upstream"]
    if v.provenance:
        source = "Upstream"
        who = str(v.provenance.get("savedBy", ""))
        data = {k: (val if isinstance(val, str) else json.dumps(val)) for k, val in v.provenance.items() if val}
    else:
        source, who, data = "Publish", v.publisher, {"publishedBy": v.publisher, "publishedAt": v.published}
    return ProvenanceResponse(
        feed_id=feed.id,
        package_id=package_guid(feed.id, v.protocol, v.name),
        package_version_id=version_guid(feed.id, v.protocol, v.name, v.version),
        provenance=Provenance(provenance_source=source, publisher_user_identity=who, user_agent=None, data=data),
    )
