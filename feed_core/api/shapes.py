"""Azure DevOps JSON shapes for feeds, views, permissions, tokens and package versions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from feed_core.api.upstream_shapes import upstream_source_response
from feed_core.domain.ids import package_guid, stable_id, version_guid
from feed_core.domain.models import Feed, PackageVersion, Token, View
from feed_core.domain.roles import Role
from feed_core.storage.health import UpstreamHealth


def api_base(base: str, feed: Feed) -> str:
    scope = f"{feed.org}/{feed.project}" if feed.project else feed.org
    return f"{base}/{scope}/_apis/packaging"


def view_json(base: str, feed: Feed, view: View) -> dict[str, Any]:
    url = f"{api_base(base, feed)}/Feeds/{feed.id}/Views/{view.id}"
    return {
        "id": view.id,
        "name": view.name,
        "url": url,
        "type": view.type.value,
        "visibility": view.visibility.value,
        "_links": {"self": {"href": url}},
    }


def permission_json(user: str, role: Role, feed: Feed) -> dict[str, Any]:
    return {
        "role": role.api_name,
        "identityDescriptor": user,
        "displayName": user,
        "identityId": stable_id(feed.org, "user", user.lower()),
        "isInheritedRole": False,
    }


def feed_json(
    base: str, feed: Feed, health: Mapping[str, UpstreamHealth] | None = None, *, detailed: bool = False
) -> dict[str, Any]:
    """A feed as the API shows it; ``detailed``: upstream failures with their causes (administrators)."""
    url = f"{api_base(base, feed)}/Feeds/{feed.id}"
    project = (
        {"id": stable_id(feed.org, "project", feed.project.lower()), "name": feed.project, "visibility": "private"}
        if feed.project
        else None
    )
    return {
        "id": feed.id,
        "name": feed.name,
        "description": feed.description,
        "url": url,
        "fullyQualifiedName": feed.name,
        "fullyQualifiedId": feed.id,
        "project": project,
        "upstreamEnabled": feed.upstream_enabled,
        "upstreamEnabledChangedDate": None,
        "upstreamSources": [
            upstream_source_response(s, (health or {}).get(s.id), detailed=detailed).model_dump(
                by_alias=True, mode="json", exclude_unset=True
            )
            for s in feed.upstream_sources
        ],
        "capabilities": "defaultCapabilities",
        "isReadOnly": False,
        "isEnabled": True,
        "hideDeletedPackageVersions": feed.hide_deleted_package_versions,
        "badgesEnabled": feed.badges_enabled,
        "allowUpstreamNameConflict": feed.allow_upstream_name_conflict,
        "minimumReleaseAgeHours": feed.minimum_release_age_hours,
        "minimumReleaseAgeExemptions": list(feed.minimum_release_age_exemptions),
        "defaultViewId": feed.default_view_id,
        "viewId": None,
        "viewName": None,
        "permissions": None,
        "deletedDate": feed.deleted,
        "views": [view_json(base, feed, v) for v in feed.views],
        "_links": {
            "self": {"href": url},
            "packages": {"href": f"{url}/Packages"},
            "permissions": {"href": f"{url}/Permissions"},
        },
    }


def token_json(token: Token, plaintext: str | None = None) -> dict[str, Any]:
    return {
        "displayName": token.display_name,
        "validFrom": token.valid_from,
        "validTo": token.valid_to or None,
        "scope": token.scope.value,
        "targetAccounts": [token.org],
        "authorizationId": token.authorization_id,
        "user": token.user,
        "token": plaintext,
    }


def version_json(base: str, feed: Feed, v: PackageVersion, latest: str | None) -> dict[str, Any]:
    deps = v.manifest.get("dependencies")
    return {
        "id": version_guid(feed.id, v.protocol, v.name, v.version),
        "packageId": package_guid(feed.id, v.protocol, v.name),
        "normalizedVersion": v.version,
        "version": v.version,
        "isLatest": v.version == latest,
        "isListed": True,
        "isDeleted": v.deleted is not None,
        "storageId": v.sha256,
        "packageDescription": v.manifest.get("description") if isinstance(v.manifest.get("description"), str) else "",
        "views": [view_json(base, feed, view) for view in feed.views if view.is_local or view.id in v.views],
        "publishDate": v.published,
        "deletedDate": v.deleted,
        "unpublishedDate": v.deleted,
        "deprecateMessage": v.deprecated or "",
        "sourceChain": v.source_chain,
        "provenance": v.provenance or None,
        "upstreamRemovedDate": v.provenance.get("upstreamRemoved"),
        "upstreamChangedDate": v.provenance.get("upstreamChanged"),
        "author": v.publisher,
        "files": [
            {"name": f["filename"], "protocolMetadata": {"data": {k: x for k, x in f.items() if k != "filename"}}}
            for f in v.files
        ]
        or [
            {
                "name": v.filename,
                "protocolMetadata": {
                    "data": {"size": v.size, "sha256": v.sha256, "integrity": v.sha512_integrity, "shasum": v.sha1}
                },
            }
        ],
        "dependencies": [
            {"packageName": n, "versionRange": r, "group": "dependencies"}
            for n, r in (deps.items() if isinstance(deps, dict) else [])
        ],
    }


def provenance_json(feed: Feed, v: PackageVersion) -> dict[str, Any]:
    """Azure's ``Provenance`` answer for a version: who published it, or where it was saved from."""
    if v.provenance:
        source = "Upstream"
        who = str(v.provenance.get("savedBy", ""))
        data = {k: (val if isinstance(val, str) else json.dumps(val)) for k, val in v.provenance.items() if val}
    else:
        source, who, data = "Publish", v.publisher, {"publishedBy": v.publisher, "publishedAt": v.published}
    return {
        "feedId": feed.id,
        "packageId": package_guid(feed.id, v.protocol, v.name),
        "packageVersionId": version_guid(feed.id, v.protocol, v.name, v.version),
        "provenance": {"provenanceSource": source, "publisherUserIdentity": who, "userAgent": None, "data": data},
    }
