"""Feeds, views and permissions: the use cases behind the management API and every client URL."""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from feed_core.domain.access import caller_role, require_role, user_role
from feed_core.domain.clock import Clock, iso
from feed_core.domain.credentials import Credentials, PlaintextCredentials, UnreadableCredentials
from feed_core.domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PreconditionFailedError,
)
from feed_core.domain.models import Caller, Feed, Permission, View, ViewType, ViewVisibility
from feed_core.domain.names import (
    pick_reference,
    validate_feed_name,
    validate_new_feed_name,
    validate_org,
    validate_project,
    validate_user,
)
from feed_core.domain.public_sources import PublicSources
from feed_core.domain.release_age_policy import validate_exemptions, validate_release_age
from feed_core.domain.retention import RetentionPolicy
from feed_core.domain.roles import Role, Scope
from feed_core.domain.source_graph import Node, find_cycle, internal_targets
from feed_core.domain.source_merge import SourceDraft, check_unique_names, draft_sources
from feed_core.domain.source_models import InternalSource, UpstreamSource
from feed_core.domain.upstream_sources import UpstreamSourceRequest, parse_source_requests
from feed_core.service.cache import LoadingCache
from feed_core.service.retry import retry_on_conflict
from feed_core.storage.catalog import Catalog, FeedDocumentTooLargeError
from feed_core.storage.ports import EntityExistsError, EtagMismatchError


def http_etag(storage_etag: str | None) -> str:
    """A quoted HTTP ETag for a stored document (backends' own ETags may contain quotes)."""
    return '"' + hashlib.sha256((storage_etag or "").encode()).hexdigest()[:32] + '"'


T = TypeVar("T")
_TOO_LARGE = (
    "the feed's settings are too large to store (too many or too long upstream sources, exemptions or "
    "permissions); remove some"
)
DEFAULT_VIEWS = (("Local", ViewType.IMPLICIT), ("Prerelease", ViewType.RELEASE), ("Release", ViewType.RELEASE))
#: The most feeds a cycle check reads while following internal upstreams.
_MAX_GRAPH_FEEDS = 2000
#: View visibilities that let another feed use the view as its upstream.
SHARED_IN_ORG = frozenset({ViewVisibility.COLLECTION, ViewVisibility.ORGANIZATION, ViewVisibility.AAD_TENANT})
SHARED_ACROSS_ORGS = frozenset({ViewVisibility.ORGANIZATION, ViewVisibility.AAD_TENANT})


class Unchanged(enum.Enum):
    """Marks a ``FeedUpdate`` field the client did not send, where ``None`` (JSON null) is a value."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass
class FeedUpdate:
    """The fields of Azure's ``FeedUpdate``; ``None`` leaves a field unchanged."""

    name: str | None = None
    description: str | None = None
    upstream_enabled: bool | None = None
    #: Replaces the whole list; validated request models (``parse_source_requests`` for raw JSON).
    upstream_sources: Sequence[UpstreamSourceRequest] | None = None
    hide_deleted_package_versions: bool | None = None
    badges_enabled: bool | None = None
    default_view_id: str | None = None
    allow_upstream_name_conflict: bool | None = None
    #: Raw JSON values, validated by the service: a number >= 0, or null to turn the delay off.
    minimum_release_age_hours: Any = UNCHANGED
    minimum_release_age_exemptions: Any = UNCHANGED


@dataclass
class ResealReport:
    """What ``reseal_all_credentials`` did: feeds rewritten, and sources whose credentials stayed as stored."""

    rewritten: int = 0
    unreadable: list[str] = field(default_factory=list)


@dataclass
class ViewUpdate:
    name: str | None = None
    visibility: ViewVisibility | None = None


class FeedService:
    def __init__(self, catalog: Catalog, clock: Clock, cache_seconds: float, public_sources: PublicSources) -> None:
        self._catalog = catalog
        self._clock = clock
        # Hits only are kept: made-up names must not push out real feeds; concurrent misses share one read.
        self._cache: LoadingCache[tuple[str, str, str], Feed | None] = LoadingCache(cache_seconds)
        self._public_sources = public_sources

    async def find(self, org: str, project: str | None, ref: str) -> Feed:
        """The feed named (or with the id) ``ref``; 404 when it does not exist."""
        validate_org(org)
        if project is not None:
            validate_project(project)
        validate_feed_name(ref)
        key = (org.lower(), (project or "").lower(), ref.lower())
        feed = await self._cache.get(key, lambda: self._catalog.find_feed(org, project, ref))
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
        feeds = await self._catalog.list_feeds(org)
        return [f for f in feeds if f.in_project(project) and caller_role(f, caller) >= Role.READER]

    async def create(
        self,
        org: str,
        project: str | None,
        caller: Caller,
        name: str,
        description: str,
        upstream_enabled: bool,
        upstream_sources: Sequence[UpstreamSourceRequest],
        *,
        minimum_release_age_hours: Any = None,
        minimum_release_age_exemptions: Any = None,
    ) -> Feed:
        if not caller.org_admin:
            raise ForbiddenError(f"creating feeds in organization {org} needs an organization administrator")
        if caller.scope is Scope.READ:
            raise ForbiddenError("creating a feed needs a token with the vso.packaging_write scope or broader")
        validate_new_feed_name(name)
        views = [View(str(uuid.uuid4()), n, t, ViewVisibility.PRIVATE) for n, t in DEFAULT_VIEWS]
        feed = Feed(
            id=str(uuid.uuid4()),
            org=org,
            project=project,
            name=name,
            description=_description(description),
            upstream_enabled=upstream_enabled,
            views=views,
            permissions=[Permission(caller.user, Role.ADMINISTRATOR)],
            minimum_release_age_hours=validate_release_age(minimum_release_age_hours, "minimumReleaseAgeHours"),
            minimum_release_age_exemptions=validate_exemptions(minimum_release_age_exemptions),
            default_view_id=views[0].id,
            created=iso(self._clock()),
        )
        feed.upstream_sources = await self.resolve_upstream_sources(feed, upstream_sources)
        self._check_credentials(feed, None)
        try:
            await self._catalog.create_feed(feed)
        except FeedDocumentTooLargeError:
            raise BadRequestError(_TOO_LARGE) from None
        except EntityExistsError:
            holder = await self._catalog.feed_holding_name(org, project, name)
            if holder is not None and holder.deleted:
                raise ConflictError(
                    f"the name {name!r} belongs to a deleted feed in the feed recycle bin until it is purged: "
                    f"restore it, or purge it with DELETE _apis/packaging/feedrecyclebin/{holder.id}"
                ) from None
            raise ConflictError(f"a feed named {name!r} already exists here") from None
        self._cache.clear()
        return feed

    async def _mutate(self, feed: Feed, apply: Callable[[Feed], T], if_match: str | None = None) -> tuple[Feed, T]:
        return await self._mutate_async(feed, _sync(apply), if_match)

    async def _mutate_async(
        self,
        feed: Feed,
        apply: Callable[[Feed], Awaitable[T]],
        if_match: str | None = None,
        *,
        include_deleted: bool = False,
    ) -> tuple[Feed, T]:
        """Read the feed fresh, apply the change, write it conditionally on the ETag just read.

        Without ``If-Match`` a concurrent writer only makes us re-read and re-apply (no lost update);
        with it, a changed feed is a 412 as the caller asked.
        """

        async def attempt() -> tuple[Feed, T]:
            current = await self._catalog.get_feed_by_id(feed.org, feed.id, include_deleted=include_deleted)
            if current is None:
                raise NotFoundError(f"feed {feed.name!r} no longer exists")
            if if_match and if_match.strip() not in ("*", http_etag(current.etag)):
                raise PreconditionFailedError("the feed changed since you read it (If-Match does not match its ETag)")
            old_name, old_sources = current.name, list(current.upstream_sources)
            result = await apply(current)
            self._check_credentials(current, old_sources)
            try:
                await self._catalog.update_feed(current, old_name=old_name)
            except FeedDocumentTooLargeError:
                raise BadRequestError(_TOO_LARGE) from None
            except EtagMismatchError:
                if if_match:
                    raise PreconditionFailedError("the feed changed since you read it; read it and retry") from None
                raise  # another writer got there first: read again and re-apply
            except EntityExistsError:
                raise ConflictError(f"a feed named {current.name!r} already exists here") from None
            finally:
                self._cache.clear()
            return current, result

        return await retry_on_conflict(attempt, "the feed is being changed by others right now; try again")

    def _check_credentials(self, feed: Feed, old_sources: list[UpstreamSource] | None) -> None:
        """Refuse, before writing, credentials that cannot be encrypted. A write that leaves the sources
        as they were keeps legacy plaintext as stored, so deleting or restoring a feed needs no key."""
        missing_key = self._catalog.credentials_key_missing
        if missing_key is None:
            return
        unchanged = feed.upstream_sources == old_sources
        for src in feed.upstream_sources:
            creds = src.credentials
            if isinstance(creds, Credentials) and not (unchanged and isinstance(creds, PlaintextCredentials)):
                raise BadRequestError(
                    f"upstream credentials are stored only encrypted, and {missing_key}: the operator must set "
                    "FEED_CREDENTIALS_KEY (base64 of 32 random bytes, see the README's upstream sources section); "
                    "until then, sources with credentials cannot be changed or added. Nothing was saved"
                )

    async def reseal_all_credentials(self) -> ResealReport:
        """Rewrite every feed holding upstream credentials (deleted ones too), each conditionally on its ETag
        and re-read on conflict, so the credentials are encrypted with the current key: key rotation,
        and plaintext from before encryption at rest. What cannot be decrypted is kept as stored."""

        async def keep(f: Feed) -> None:
            return None

        report = ResealReport()
        for feed in await self._catalog.all_feeds(include_deleted=True):
            if not any(s.credentials is not None for s in feed.upstream_sources):
                continue
            updated, _ = await self._mutate_async(feed, keep, include_deleted=True)
            report.rewritten += 1
            report.unreadable += [
                f"{updated.scope_label} source {s.name!r}: {s.credentials.reason}"
                for s in updated.upstream_sources
                if isinstance(s.credentials, UnreadableCredentials)
            ]
        return report

    async def update(self, feed: Feed, caller: Caller, change: FeedUpdate, if_match: str | None = None) -> Feed:
        require_role(feed, caller, Role.ADMINISTRATOR, "changing feed settings")

        async def apply(f: Feed) -> None:
            if change.name is not None and change.name != f.name:
                f.name = validate_new_feed_name(change.name)
            if change.description is not None:
                f.description = _description(change.description)
            if change.upstream_enabled is not None:
                f.upstream_enabled = change.upstream_enabled
            if change.upstream_sources is not None:
                f.upstream_sources = await self.resolve_upstream_sources(f, change.upstream_sources)
            if change.minimum_release_age_hours is not UNCHANGED:
                f.minimum_release_age_hours = validate_release_age(
                    change.minimum_release_age_hours, "minimumReleaseAgeHours"
                )
            if change.minimum_release_age_exemptions is not UNCHANGED:
                f.minimum_release_age_exemptions = validate_exemptions(change.minimum_release_age_exemptions)
            if change.hide_deleted_package_versions is not None:
                f.hide_deleted_package_versions = change.hide_deleted_package_versions
            if change.badges_enabled is not None:
                f.badges_enabled = change.badges_enabled
            if change.allow_upstream_name_conflict is not None:
                f.allow_upstream_name_conflict = change.allow_upstream_name_conflict
            if change.default_view_id is not None:  # an id, as in Azure's FeedUpdate; never a name
                view = f.view_by_id(change.default_view_id)
                if view is None:
                    raise BadRequestError(
                        f"defaultViewId {change.default_view_id[:100]!r} is not the id of a view of feed {f.name!r}"
                    )
                f.default_view_id = view.id

        updated, _ = await self._mutate_async(feed, apply, if_match)
        return updated

    async def empty_recycle_bin(self, feed: Feed, caller: Caller) -> Feed:
        """Record that an owner emptied the feed's package recycle bin now: the versions deleted until then are
        hidden from it at once, and the gc job purges them (``RecycleBin``). One feed write, however full it is."""
        require_role(feed, caller, Role.ADMINISTRATOR, "emptying the recycle bin")

        def apply(f: Feed) -> None:
            f.recycle_bin_emptied = iso(self._clock())

        updated, _ = await self._mutate(feed, apply)
        return updated

    # upstream sources ----------------------------------------------------------------------------
    async def resolve_upstream_sources(
        self, feed: Feed, requests: Sequence[UpstreamSourceRequest]
    ) -> list[UpstreamSource]:
        """The sources to store for ``feed`` (whose stored sources are the previous ones) from validated
        requests: merged with the stored ones by id, internal ones resolved to ids and checked for sharing
        and cycles (``feed_core.domain.source_merge``). Request models pass ``parse_source_requests`` unchanged; it
        only guards against a caller handing over raw JSON, which gets the same 400 as through the REST models."""
        drafts = draft_sources(parse_source_requests(requests), self._public_sources, feed.upstream_sources)
        out = [d.source if d.source is not None else await self._resolve_internal(feed, d) for d in drafts]
        check_unique_names(out)
        await self._check_no_cycle(feed, out)
        return out

    async def _resolve_internal(self, feed: Feed, draft: SourceDraft) -> InternalSource:
        where = draft.where
        try:
            upstream, view = await self._upstream_view(feed, draft)
        except BadRequestError:
            if not draft.same_target_as_previous(feed.org):
                raise
            return draft.keep_previous_target()
        if upstream.org.lower() == feed.org.lower() and upstream.id.lower() == feed.id.lower():
            raise BadRequestError(f"{where}: feed {feed.name!r} cannot be an upstream source of itself")
        problem = _sharing_problem(feed, upstream, view)
        if problem is not None:
            if not draft.same_target_as_previous(feed.org):
                raise BadRequestError(f"{where}: {problem}")
            return draft.keep_previous_target()
        scope = f"{upstream.org}/{upstream.project}" if upstream.project else upstream.org
        return draft.internal(
            org=upstream.org,
            project=upstream.project,
            feed_id=upstream.id,
            view_id=view.id,
            location=f"azure-feed://{scope}/{upstream.name}@{view.name}",
            default_name=f"{upstream.name}@{view.name}",
        )

    async def _upstream_view(self, feed: Feed, draft: SourceDraft) -> tuple[Feed, View]:
        """The feed and view an internal source names (by names or ids); 400 when they do not exist."""
        target, where = draft.target, draft.where
        assert target is not None
        org = feed.org
        if target.org is not None and target.org.lower() != feed.org.lower():
            found_org = await self._catalog.get_org(target.org)
            if found_org is None:
                raise BadRequestError(f"{where}: organization {target.org!r} does not exist")
            org = found_org.name
        upstream = await self._catalog.find_feed(org, target.project, target.feed)
        if upstream is None and target.project is None:
            upstream = await self._catalog.get_feed_by_id(org, target.feed)  # an id names any project's feed
        if upstream is None:
            place = f"project {target.project!r} of organization {org!r}" if target.project else f"organization {org!r}"
            raise BadRequestError(f"{where}: feed {target.feed!r} does not exist in {place}")
        view = upstream.view_named(target.view)
        if view is None:
            raise BadRequestError(
                f"{where}: view {target.view!r} does not exist in feed {upstream.scope_label!r} "
                f"(its views: {', '.join(v.name for v in upstream.views)})"
            )
        return upstream, view

    async def _check_no_cycle(self, feed: Feed, sources: list[UpstreamSource]) -> None:
        """Refuse sources through which the feed would reach itself again by following the enabled
        internal upstreams of every feed this service holds."""
        start: Node = (feed.org.lower(), feed.id.lower())
        adjacency: dict[Node, list[Node]] = {start: internal_targets(feed.org, sources)}
        labels: dict[Node, str] = {start: feed.scope_label}
        pending = list(adjacency[start])
        while pending and len(adjacency) < _MAX_GRAPH_FEEDS:
            node = pending.pop()
            if node in adjacency:
                continue
            found = await self._catalog.get_feed_by_id(node[0], node[1])
            adjacency[node] = [] if found is None else internal_targets(found.org, found.upstream_sources)
            if found is not None:
                labels[node] = found.scope_label
            pending.extend(n for n in adjacency[node] if n not in adjacency)
        path = find_cycle(start, adjacency)
        if path is not None:
            # Within one organization the feeds are named as its members know them; a path through
            # other organizations names every feed with its organization.
            one_org = all(node[0] == start[0] for node in path)

            def label(node: Node) -> str:
                text = labels.get(node, f"{node[0]}/{node[1]}")
                return text.split("/", 1)[1] if one_org else text

            raise BadRequestError(
                "these upstream sources would make a cycle of internal upstreams: "
                + " -> ".join(label(n) for n in path)
                + "; remove or disable the source that closes it"
            )

    # deleting and the feed recycle bin ------------------------------------------------------------
    async def delete(self, feed: Feed, caller: Caller) -> None:
        """Move the feed to the recycle bin: hidden from every URL and listing, its packages kept, its
        name still taken, restorable until the gc job purges it after the retention period."""
        require_role(feed, caller, Role.ADMINISTRATOR, "deleting the feed")

        def apply(f: Feed) -> None:
            f.deleted = iso(self._clock())

        await self._mutate(feed, apply)

    async def deleted_feeds(self, org: str, project: str | None, caller: Caller) -> list[Feed]:
        """The recycle bin: deleted feeds of the project that the caller administers."""
        feeds = await self._catalog.list_feeds(org, include_deleted=True)
        return [
            f for f in feeds if f.deleted and f.in_project(project) and caller_role(f, caller) >= Role.ADMINISTRATOR
        ]

    async def find_deleted(self, org: str, project: str | None, ref: str, caller: Caller) -> Feed:
        """The deleted feed with the name or id ``ref`` among those the caller administers; 404 for any
        other, so that members learn nothing about which deleted feeds exist."""
        validate_org(org)
        if project is not None:
            validate_project(project)
        validate_feed_name(ref)
        key = ref.lower()
        administered = [
            f
            for f in await self._catalog.list_feeds(org, include_deleted=True)
            if f.deleted and f.in_project(project) and user_role(f, caller) >= Role.ADMINISTRATOR
        ]
        by_name = next((f for f in administered if f.name.lower() == key), None)
        by_id = next((f for f in administered if f.id.lower() == key), None)
        found = pick_reference("feed", ref, by_name, by_id, lambda f: f.id)
        if found is None:
            raise NotFoundError(f"the feed recycle bin holds no feed {ref!r} that you administer")
        return found

    async def restore(self, feed: Feed, caller: Caller) -> Feed:
        require_role(feed, caller, Role.ADMINISTRATOR, "restoring the feed")

        def apply(f: Feed) -> None:
            if f.deleted is None:
                raise ConflictError(f"feed {f.name!r} is not deleted")
            if f.purging is not None:
                raise ConflictError(f"feed {f.name!r} is being permanently deleted and can no longer be restored")
            f.deleted = None

        restored, _ = await self._mutate_async(feed, _sync(apply), include_deleted=True)
        return restored

    # retention -----------------------------------------------------------------------------------
    async def set_retention_policy(self, feed: Feed, caller: Caller, policy: RetentionPolicy | None) -> Feed:
        """Set the feed's retention policy (``None`` removes it: the retention job then keeps every version)."""
        action = "changing the retention policy" if policy is not None else "removing the retention policy"
        require_role(feed, caller, Role.ADMINISTRATOR, action)

        def apply(f: Feed) -> None:
            f.retention_policy = policy

        return (await self._mutate(feed, apply))[0]

    # views ---------------------------------------------------------------------------------------
    async def create_view(self, feed: Feed, caller: Caller, name: str, visibility: ViewVisibility) -> View:
        require_role(feed, caller, Role.ADMINISTRATOR, "creating views")
        validate_new_feed_name(name, "view")

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
                validate_new_feed_name(change.name, "view")
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


def _sync(apply: Callable[[Feed], T]) -> Callable[[Feed], Awaitable[T]]:
    async def apply_async(f: Feed) -> T:
        return apply(f)

    return apply_async


def _sharing_problem(feed: Feed, upstream: Feed, view: View) -> str | None:
    """Why ``view`` of ``upstream`` cannot serve ``feed`` as an upstream (and how to fix it), or ``None``."""
    same_org = upstream.org.lower() == feed.org.lower()
    if view.visibility in (SHARED_IN_ORG if same_org else SHARED_ACROSS_ORGS):
        return None
    scope = f"{upstream.org}/{upstream.project}" if upstream.project else upstream.org
    needed = "collection" if same_org else "organization"
    which = (
        "an upstream in the same organization needs the view's visibility to be collection, organization or aadTenant"
        if same_org
        else "an upstream in another organization needs the view's visibility to be organization or aadTenant"
    )
    return (
        f"view {view.name!r} of feed {upstream.scope_label!r} is {view.visibility.value}, so it cannot be an "
        f"upstream source; {which}. Its owner can share it with "
        f'PATCH /{scope}/_apis/packaging/Feeds/{upstream.name}/views/{view.name} {{"visibility": "{needed}"}}'
    )


def _description(text: str) -> str:
    if len(text) > 255:
        raise BadRequestError("the description may be at most 255 characters")
    return text
