"""Feeds, views and permissions: the use cases behind the management API and every client URL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from feed_core.domain.access import require_role
from feed_core.domain.clock import Clock, iso
from feed_core.domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PreconditionFailedError,
)
from feed_core.domain.models import Caller, Feed, Permission, View, ViewType, ViewVisibility
from feed_core.domain.names import validate_feed_name, validate_org, validate_project, validate_user
from feed_core.domain.roles import Role, Scope
from feed_core.domain.upstream_sources import normalise_upstream_sources
from feed_core.service.cache import TtlCache
from feed_core.storage.catalog import Catalog
from feed_core.storage.ports import EntityExistsError, EtagMismatchError


def http_etag(storage_etag: str | None) -> str:
    """A quoted HTTP ETag for a stored document (backends' own ETags may contain quotes)."""
    return '"' + hashlib.sha256((storage_etag or "").encode()).hexdigest()[:32] + '"'


T = TypeVar("T")
_RETRIES = 20
DEFAULT_VIEWS = (("Local", ViewType.IMPLICIT), ("Prerelease", ViewType.RELEASE), ("Release", ViewType.RELEASE))


@dataclass
class FeedUpdate:
    """The fields of Azure's ``FeedUpdate``; ``None`` leaves a field unchanged."""

    name: str | None = None
    description: str | None = None
    upstream_enabled: bool | None = None
    upstream_sources: list[dict[str, Any]] | None = None
    hide_deleted_package_versions: bool | None = None
    badges_enabled: bool | None = None
    default_view_id: str | None = None
    allow_upstream_name_conflict: bool | None = None


@dataclass
class ViewUpdate:
    name: str | None = None
    visibility: ViewVisibility | None = None


class FeedService:
    def __init__(self, catalog: Catalog, clock: Clock, cache_seconds: float, public_sources: dict[str, Any]) -> None:
        self._catalog = catalog
        self._clock = clock
        self._cache: TtlCache[tuple[str, str, str], Feed | None] = TtlCache(cache_seconds)
        self._public_sources = public_sources

    async def find(self, org: str, project: str | None, ref: str) -> Feed:
        """The feed named (or with the id) ``ref``; 404 when it does not exist."""
        validate_org(org)
        if project is not None:
            validate_project(project)
        validate_feed_name(ref)
        key = (org.lower(), (project or "").lower(), ref.lower())
        feed = self._cache.get(key)
        if feed is None:
            feed = await self._catalog.find_feed(org, project, ref)
            self._cache.put(key, feed)
        if feed is None:
            where = f"project {project!r} of organization {org!r}" if project else f"organization {org!r}"
            raise NotFoundError(f"feed {ref!r} does not exist in {where}")
        return feed

    @staticmethod
    def view(feed: Feed, ref: str | None) -> View:
        if ref is None:
            return feed.local_view
        view = feed.view_named(ref)
        if view is None:
            raise NotFoundError(f"view {ref!r} does not exist in feed {feed.name!r}")
        return view

    async def list_feeds(self, org: str, project: str | None, caller: Caller) -> list[Feed]:
        from feed_core.domain.access import caller_role

        feeds = await self._catalog.list_feeds(org)
        return [
            f
            for f in feeds
            if (f.project or "").lower() == (project or "").lower() and caller_role(f, caller) >= Role.READER
        ]

    async def create(
        self,
        org: str,
        project: str | None,
        caller: Caller,
        name: str,
        description: str,
        upstream_enabled: bool,
        upstream_sources: list[dict[str, Any]],
    ) -> Feed:
        if not caller.org_admin:
            raise ForbiddenError(f"creating feeds in organization {org} needs an organization administrator")
        if caller.scope is Scope.READ:
            raise ForbiddenError("creating a feed needs a token with the vso.packaging_write scope or broader")
        validate_feed_name(name)
        views = [View(str(uuid.uuid4()), n, t, ViewVisibility.PRIVATE) for n, t in DEFAULT_VIEWS]
        feed = Feed(
            id=str(uuid.uuid4()),
            org=org,
            project=project,
            name=name,
            description=_description(description),
            upstream_enabled=upstream_enabled,
            upstream_sources=normalise_upstream_sources(upstream_sources, self._public_sources),
            views=views,
            permissions=[Permission(caller.user, Role.ADMINISTRATOR)],
            default_view_id=views[0].id,
            created=iso(self._clock()),
        )
        try:
            await self._catalog.create_feed(feed)
        except EntityExistsError:
            raise ConflictError(f"a feed named {name!r} already exists here") from None
        self._cache.clear()
        return feed

    async def _mutate(self, feed: Feed, apply: Callable[[Feed], T], if_match: str | None = None) -> tuple[Feed, T]:
        """Read the feed fresh, apply the change, write it conditionally on the ETag just read.

        Without ``If-Match`` a concurrent writer only makes us re-read and re-apply (no lost update);
        with it, a changed feed is a 412 as the caller asked.
        """
        for _ in range(_RETRIES):
            current = await self._catalog.get_feed_by_id(feed.org, feed.id)
            if current is None:
                raise NotFoundError(f"feed {feed.name!r} no longer exists")
            if if_match and if_match.strip() not in ("*", http_etag(current.etag)):
                raise PreconditionFailedError("the feed changed since you read it (If-Match does not match its ETag)")
            old_name = current.name
            result = apply(current)
            try:
                await self._catalog.update_feed(current, old_name=old_name)
            except EtagMismatchError:
                if if_match:
                    raise PreconditionFailedError("the feed changed since you read it; read it and retry") from None
                continue
            except EntityExistsError:
                raise ConflictError(f"a feed named {current.name!r} already exists here") from None
            finally:
                self._cache.clear()
            return current, result
        raise ConflictError("the feed is being changed by others right now; try again")

    async def update(self, feed: Feed, caller: Caller, change: FeedUpdate, if_match: str | None = None) -> Feed:
        require_role(feed, caller, Role.ADMINISTRATOR, "changing feed settings")

        def apply(f: Feed) -> None:
            if change.name is not None:
                f.name = validate_feed_name(change.name)
            if change.description is not None:
                f.description = _description(change.description)
            if change.upstream_enabled is not None:
                f.upstream_enabled = change.upstream_enabled
            if change.upstream_sources is not None:
                f.upstream_sources = normalise_upstream_sources(
                    change.upstream_sources, self._public_sources, f.upstream_sources
                )
            if change.hide_deleted_package_versions is not None:
                f.hide_deleted_package_versions = change.hide_deleted_package_versions
            if change.badges_enabled is not None:
                f.badges_enabled = change.badges_enabled
            if change.allow_upstream_name_conflict is not None:
                f.allow_upstream_name_conflict = change.allow_upstream_name_conflict
            if change.default_view_id is not None:
                f.default_view_id = self.view(f, change.default_view_id).id

        updated, _ = await self._mutate(feed, apply, if_match)
        return updated

    async def delete(self, feed: Feed, caller: Caller) -> None:
        require_role(feed, caller, Role.ADMINISTRATOR, "deleting the feed")
        await self._catalog.delete_feed(feed)
        self._cache.clear()

    # views ---------------------------------------------------------------------------------------
    async def create_view(self, feed: Feed, caller: Caller, name: str, visibility: ViewVisibility) -> View:
        require_role(feed, caller, Role.ADMINISTRATOR, "creating views")
        validate_feed_name(name, "view")

        def apply(f: Feed) -> View:
            if f.view_named(name) is not None:
                raise ConflictError(f"view {name!r} already exists in feed {f.name!r}")
            view = View(str(uuid.uuid4()), name, ViewType.RELEASE, visibility)
            f.views.append(view)
            return view

        return (await self._mutate(feed, apply))[1]

    async def update_view(self, feed: Feed, caller: Caller, ref: str, change: ViewUpdate) -> View:
        require_role(feed, caller, Role.ADMINISTRATOR, "changing views")

        def apply(f: Feed) -> View:
            view = self.view(f, ref)
            if change.name is not None and change.name != view.name:
                if view.is_local:
                    raise BadRequestError("the @Local view cannot be renamed")
                validate_feed_name(change.name, "view")
                other = f.view_named(change.name)
                if other is not None and other.id != view.id:
                    raise ConflictError(f"view {change.name!r} already exists in feed {f.name!r}")
                view.name = change.name
            if change.visibility is not None:
                view.visibility = change.visibility
            return view

        return (await self._mutate(feed, apply))[1]

    async def delete_view(self, feed: Feed, caller: Caller, ref: str) -> None:
        require_role(feed, caller, Role.ADMINISTRATOR, "deleting views")

        def apply(f: Feed) -> None:
            view = self.view(f, ref)
            if view.is_local:
                raise BadRequestError("the @Local view cannot be deleted")
            f.views = [v for v in f.views if v.id != view.id]
            if f.default_view_id == view.id:
                f.default_view_id = f.local_view.id

        await self._mutate(feed, apply)

    # permissions ---------------------------------------------------------------------------------
    async def set_permissions(self, feed: Feed, caller: Caller, changes: list[tuple[str, Role]]) -> Feed:
        """Grant roles (``Role.NONE`` removes the user's role). The last administrator stays."""
        require_role(feed, caller, Role.ADMINISTRATOR, "changing permissions")
        for user, _ in changes:
            validate_user(user)

        def apply(f: Feed) -> None:
            perms = {p.user.lower(): p for p in f.permissions}
            for user, role in changes:
                if role is Role.NONE:
                    perms.pop(user.lower(), None)
                else:
                    perms[user.lower()] = Permission(user, role)
            if not any(p.role is Role.ADMINISTRATOR for p in perms.values()):
                raise BadRequestError("a feed must keep at least one administrator")
            f.permissions = list(perms.values())

        updated, _ = await self._mutate(feed, apply)
        return updated


def _description(text: str) -> str:
    if len(text) > 255:
        raise BadRequestError("the description may be at most 255 characters")
    return text
