"""Organizations, feeds and tokens, kept as table rows on the ``TableStore`` port.

Row layout (designed before the code, as table stores want):

=============  ============================  =================================  ==============================
table          partition key                 row key                            holds
=============  ============================  =================================  ==============================
orgs           ``org``                       organization name                  administrators, created
feeds          organization                  ``id:<feed id>``                   the feed document (JSON)
feeds          organization                  ``name:<project>:<lower name>``    the feed id (unique names)
tokens         ``h``                         sha-256 of the token               user, scope, validity, lineage;
                                                                                ``revoked`` once revoked (kept,
                                                                                so it never works again)
tokenlist      ``<org>:<user>``              authorization id                   token hash (for listing)
tokenkids      ``<org>:<authorization id>``  authorization id of a token it     that token's user (to revoke
                                             minted                             it with its parent)
=============  ============================  =================================  ==============================
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from feed_core.domain.credentials import Credentials, PlaintextCredentials, UnreadableCredentials
from feed_core.domain.models import (
    Feed,
    Organization,
    Permission,
    Token,
    View,
    ViewType,
    ViewVisibility,
)
from feed_core.domain.names import parse_guid, pick_reference
from feed_core.domain.retention import RetentionPolicy
from feed_core.domain.roles import Role, parse_scope
from feed_core.domain.source_locations import registry_origin
from feed_core.domain.source_models import UpstreamSource, source_from_document
from feed_core.storage.credential_cipher import CredentialCipher, seal_context
from feed_core.storage.ports import Entity, EntityExistsError, OpKind, TableOp, TableStore

ORGS, FEEDS, TOKENS, TOKEN_LIST, TOKEN_KIDS = "orgs", "feeds", "tokens", "tokenlist", "tokenkids"


#: A feed document is one string property: Azure Tables keeps at most 32K UTF-16 characters in it.
MAX_FEED_DOCUMENT_CHARS = 30_000


class FeedDocumentTooLargeError(Exception):
    """A feed's document would exceed ``MAX_FEED_DOCUMENT_CHARS``; nothing was written."""


def _feed_doc(feed: Feed, sources: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "id": feed.id,
            "org": feed.org,
            "project": feed.project,
            "name": feed.name,
            "description": feed.description,
            "upstreamEnabled": feed.upstream_enabled,
            "upstreamSources": sources,
            "views": [
                {"id": v.id, "name": v.name, "type": v.type.value, "visibility": v.visibility.value} for v in feed.views
            ],
            "permissions": [{"user": p.user, "role": p.role.api_name} for p in feed.permissions],
            "hideDeletedPackageVersions": feed.hide_deleted_package_versions,
            "badgesEnabled": feed.badges_enabled,
            "allowUpstreamNameConflict": feed.allow_upstream_name_conflict,
            "minimumReleaseAgeHours": feed.minimum_release_age_hours,
            "minimumReleaseAgeExemptions": feed.minimum_release_age_exemptions,
            "defaultViewId": feed.default_view_id,
            "created": feed.created,
            "deletedDate": feed.deleted,
            "purging": feed.purging,
            "recycleBinEmptied": feed.recycle_bin_emptied,
            # Only when set: a document without a policy keeps the shape it had before feeds had one.
            **({"retentionPolicy": feed.retention_policy.to_rest()} if feed.retention_policy else {}),
        },
        separators=(",", ":"),
    )


def _feed_from(d: dict[str, Any], sources: list[UpstreamSource], etag: str | None) -> Feed:
    return Feed(
        id=d["id"],
        org=d["org"],
        project=d.get("project"),
        name=d["name"],
        description=d.get("description", ""),
        upstream_enabled=d.get("upstreamEnabled", True),
        upstream_sources=sources,
        views=[
            View(v["id"], v["name"], ViewType(v["type"]), ViewVisibility(v["visibility"])) for v in d.get("views", [])
        ],
        permissions=[Permission(p["user"], Role[p["role"].upper()]) for p in d.get("permissions", [])],
        hide_deleted_package_versions=d.get("hideDeletedPackageVersions", True),
        badges_enabled=d.get("badgesEnabled", False),
        allow_upstream_name_conflict=d.get("allowUpstreamNameConflict", False),
        minimum_release_age_hours=d.get("minimumReleaseAgeHours"),
        minimum_release_age_exemptions=d.get("minimumReleaseAgeExemptions", []),
        default_view_id=d.get("defaultViewId", ""),
        created=d.get("created", ""),
        deleted=d.get("deletedDate"),
        purging=d.get("purging"),
        recycle_bin_emptied=d.get("recycleBinEmptied"),
        retention_policy=_retention_policy(d.get("retentionPolicy")),
        etag=etag,
    )


def _retention_policy(stored: object) -> RetentionPolicy | None:
    """The stored policy; ``None`` for documents written before feeds had one (or without one)."""
    if not isinstance(stored, dict):
        return None
    return RetentionPolicy.from_rest(stored)


def _context(feed_id: str, source_id: object, location: object) -> str:
    location = str(location or "")
    try:
        scheme, host, port = registry_origin(location)
        origin = f"{scheme}://{host}:{port or ''}"
    except ValueError:  # not a valid URL (stored locations are validated): bind to the text itself
        origin = location
    return seal_context(feed_id, str(source_id), origin)


def _name_key(project: str | None, name: str) -> str:
    return f"name:{(project or '').lower()}:{name.lower()}"


class Catalog:
    """Reads and writes of organizations, feeds and tokens.

    Upstream credentials are sealed with ``cipher`` on the way into the feed table and opened on the way
    out (``feed_core.storage.credential_cipher``): the table never holds them in plaintext.
    """

    def __init__(self, tables: TableStore, cipher: CredentialCipher) -> None:
        self._t = tables
        self._cipher = cipher

    @property
    def credentials_key_id(self) -> str | None:
        """The id of the key credentials are encrypted with now."""
        return self._cipher.key_id

    @property
    def credentials_key_missing(self) -> str | None:
        """Why credentials cannot be stored right now (no key configured), or ``None``."""
        return self._cipher.missing_key

    def _doc(self, feed: Feed) -> str:
        """The stored document, with every source's credentials sealed (or kept as stored, when unreadable,
        or legacy plaintext while no key is set); ``FeedDocumentTooLargeError`` when it would not fit."""
        sources = []
        for src in feed.upstream_sources:
            stored, creds = src.to_document(), src.credentials
            if isinstance(creds, PlaintextCredentials) and self._cipher.missing_key is not None:
                stored["credentials"] = creds.as_json()
            elif isinstance(creds, Credentials):
                stored["credentials"] = self._cipher.seal(creds, _context(feed.id, src.id, src.location))
            elif isinstance(creds, UnreadableCredentials):
                stored["credentials"] = dict(creds.stored)
            sources.append(stored)
        doc = _feed_doc(feed, sources)
        if len(doc) > MAX_FEED_DOCUMENT_CHARS:
            raise FeedDocumentTooLargeError(f"the feed document would be {len(doc)} characters")
        return doc

    def _feed(self, entity: Entity) -> Feed:
        d: dict[str, Any] = json.loads(entity.get_str("doc"))
        sources = [
            source_from_document(
                src,
                self._cipher.open(src["credentials"], _context(d["id"], src.get("id"), src.get("location")))
                if "credentials" in src
                else None,
            )
            for src in d.get("upstreamSources", [])
        ]
        return _feed_from(d, sources, entity.etag)

    # organizations -------------------------------------------------------------------------------
    async def get_org(self, name: str) -> Organization | None:
        e = await self._t.get(ORGS, "org", name.lower())
        if e is None:
            return None
        return Organization(e.get_str("name"), json.loads(e.get_str("administrators", "[]")), e.get_str("created"))

    async def list_orgs(self) -> list[str]:
        return [e.get_str("name") for e in await self._t.query(ORGS, "org")]

    async def put_org(self, org: Organization) -> None:
        await self._t.upsert(
            ORGS,
            Entity(
                "org",
                org.name.lower(),
                {"name": org.name, "administrators": json.dumps(org.administrators), "created": org.created},
            ),
        )

    # feeds ---------------------------------------------------------------------------------------
    async def create_feed(self, feed: Feed) -> Feed:
        """Claim the name, then write the document. ``EntityExistsError`` if the name is taken."""
        doc = self._doc(feed)
        await self._t.insert(FEEDS, Entity(feed.org.lower(), _name_key(feed.project, feed.name), {"id": feed.id}))
        etag = await self._t.insert(FEEDS, Entity(feed.org.lower(), f"id:{feed.id}", {"doc": doc}))
        feed.etag = etag
        return feed

    async def get_feed_by_id(self, org: str, feed_id: str, *, include_deleted: bool = False) -> Feed | None:
        """The feed; one in the recycle bin only with ``include_deleted`` (it is hidden from every use)."""
        e = await self._t.get(FEEDS, org.lower(), f"id:{feed_id.lower()}")
        feed = None if e is None else self._feed(e)
        return feed if feed is not None and (include_deleted or feed.deleted is None) else None

    async def find_feed(self, org: str, project: str | None, name_or_id: str) -> Feed | None:
        """The feed of ``project`` with this name or id; ``ConflictError`` when it is one feed's name
        and another's id. Ids are GUIDs, so a reference of any other shape is only looked up as a
        name (the name index, then the document); a GUID is looked up both ways at once."""
        guid = parse_guid(name_or_id)
        if guid is None:
            return await self._feed_by_name(org, project, name_or_id)
        by_name, by_id = await asyncio.gather(
            self._feed_by_name(org, project, name_or_id), self.get_feed_by_id(org, guid)
        )
        if by_id is not None and not by_id.in_project(project):
            by_id = None
        return pick_reference("feed", name_or_id, by_name, by_id, lambda f: f.id)

    async def _feed_by_name(self, org: str, project: str | None, name: str) -> Feed | None:
        idx = await self._t.get(FEEDS, org.lower(), _name_key(project, name))
        feed = None if idx is None else await self.get_feed_by_id(org, idx.get_str("id"))
        return feed if feed is not None and feed.in_project(project) else None

    async def list_feeds(self, org: str, *, include_deleted: bool = False) -> list[Feed]:
        feeds = [self._feed(e) for e in await self._t.query(FEEDS, org.lower(), "id:")]
        return [f for f in feeds if include_deleted or f.deleted is None]

    async def all_feeds(self, *, include_deleted: bool = False) -> list[Feed]:
        """Every feed of every organization, in a stable order (organization, then feed id)."""
        feeds: list[Feed] = []
        for org in sorted(await self.list_orgs()):
            feeds.extend(sorted(await self.list_feeds(org, include_deleted=include_deleted), key=lambda f: f.id))
        return feeds

    async def feed_holding_name(self, org: str, project: str | None, name: str) -> Feed | None:
        """The feed (deleted ones included) that holds a name: a deleted feed keeps its name until purged."""
        idx = await self._t.get(FEEDS, org.lower(), _name_key(project, name))
        return None if idx is None else await self.get_feed_by_id(org, idx.get_str("id"), include_deleted=True)

    async def update_feed(self, feed: Feed, *, old_name: str | None = None) -> Feed:
        """Write the document if unchanged since read (``EtagMismatchError`` otherwise).

        A rename claims the new name first and releases the old one after the document is written.
        """
        renamed = old_name is not None and old_name.lower() != feed.name.lower()
        doc = self._doc(feed)
        if renamed:
            await self._t.insert(FEEDS, Entity(feed.org.lower(), _name_key(feed.project, feed.name), {"id": feed.id}))
        try:
            feed.etag = await self._t.update(FEEDS, Entity(feed.org.lower(), f"id:{feed.id}", {"doc": doc}, feed.etag))
        except Exception:
            if renamed:
                await self._t.delete(FEEDS, feed.org.lower(), _name_key(feed.project, feed.name))
            raise
        if renamed and old_name is not None:
            await self._t.delete(FEEDS, feed.org.lower(), _name_key(feed.project, old_name))
        return feed

    async def delete_feed(self, feed: Feed) -> None:
        """Remove the feed's document and release its name (the last step of purging it)."""
        await self._t.delete(FEEDS, feed.org.lower(), f"id:{feed.id}")
        await self._t.delete(FEEDS, feed.org.lower(), _name_key(feed.project, feed.name))

    # tokens --------------------------------------------------------------------------------------
    async def add_token(self, token: Token) -> None:
        """Write the token's rows; its parent's list of children first, so a revocation of the parent
        that runs meanwhile either finds the child or leaves a token whose lineage is broken."""
        if token.parent_id:
            await self._t.insert(
                TOKEN_KIDS,
                Entity(f"{token.org.lower()}:{token.parent_id}", token.authorization_id, {"user": token.user}),
            )
        await self._t.insert(
            TOKEN_LIST,
            Entity(f"{token.org.lower()}:{token.user.lower()}", token.authorization_id, {"hash": token.token_hash}),
        )
        await self._t.insert(
            TOKENS,
            Entity(
                "h",
                token.token_hash,
                {
                    "authorizationId": token.authorization_id,
                    "user": token.user,
                    "org": token.org,
                    "displayName": token.display_name,
                    "scope": token.scope.value,
                    "validFrom": token.valid_from,
                    "validTo": token.valid_to,
                    "parentId": token.parent_id,
                    "lineage": json.dumps(list(token.lineage)),
                },
            ),
        )

    async def token_by_hash(self, token_hash: str) -> Token | None:
        """The token with this hash; ``None`` when there is none or it was revoked."""
        e = await self._t.get(TOKENS, "h", token_hash)
        return None if e is None or e.get_bool("revoked") else _token_from(e)

    async def token_state(self, token_hash: str) -> tuple[Token | None, bool]:
        """With one read: the live token with this hash (or ``None``), and whether it was revoked."""
        e = await self._t.get(TOKENS, "h", token_hash)
        if e is None:
            return None, False
        return (None, True) if e.get_bool("revoked") else (_token_from(e), False)

    async def token_revoked(self, token_hash: str) -> bool:
        """Whether a token with this hash existed and was revoked (its row stays as a tombstone)."""
        e = await self._t.get(TOKENS, "h", token_hash)
        return e is not None and e.get_bool("revoked")

    async def token_of(self, org: str, user: str, authorization_id: str) -> Token | None:
        """The user's live token with this authorization id, or ``None``."""
        row = await self._t.get(TOKEN_LIST, f"{org.lower()}:{user.lower()}", authorization_id)
        return None if row is None else await self.token_by_hash(row.get_str("hash"))

    async def list_tokens(self, org: str, user: str) -> list[Token]:
        out = []
        for row in await self._t.query(TOKEN_LIST, f"{org.lower()}:{user.lower()}"):
            tok = await self.token_by_hash(row.get_str("hash"))
            if tok is not None:
                out.append(tok)
        return out

    async def revoke_token(self, org: str, user: str, authorization_id: str) -> list[str]:
        """Revoke the token and, transitively, every token it minted. Returns the hashes revoked
        (none when the user has no such token).

        A revoked token's row stays, marked ``revoked``: its hash can never be registered again
        (a bootstrap token still in the settings stays revoked), and nothing authenticates with it."""
        pending = [(user, authorization_id)]
        revoked: list[str] = []
        while pending:
            owner, auth_id = pending.pop()
            row = await self._t.get(TOKEN_LIST, f"{org.lower()}:{owner.lower()}", auth_id)
            if row is not None:
                revoked.append(row.get_str("hash"))
                await self._tombstone(row.get_str("hash"))
                await self._t.delete(TOKEN_LIST, row.partition_key, row.row_key)
            elif not revoked:
                return []
            for kid in await self._t.query(TOKEN_KIDS, f"{org.lower()}:{auth_id}"):
                pending.append((kid.get_str("user"), kid.row_key))
                await self._t.delete(TOKEN_KIDS, kid.partition_key, kid.row_key)
        return revoked

    async def _tombstone(self, token_hash: str) -> None:
        row = await self._t.get(TOKENS, "h", token_hash)
        properties = dict(row.properties) if row is not None else {}
        await self._t.upsert(TOKENS, Entity("h", token_hash, {**properties, "revoked": True}))


def _token_from(e: Entity) -> Token:
    return Token(
        authorization_id=e.get_str("authorizationId"),
        user=e.get_str("user"),
        org=e.get_str("org"),
        display_name=e.get_str("displayName"),
        scope=parse_scope(e.get_str("scope")),
        valid_from=e.get_str("validFrom"),
        valid_to=e.get_str("validTo"),
        token_hash=e.row_key,
        parent_id=e.get_str("parentId"),
        lineage=tuple(json.loads(e.get_str("lineage", "[]"))),
    )


__all__ = ["Catalog", "EntityExistsError", "FeedDocumentTooLargeError", "OpKind", "TableOp"]
