"""Personal access tokens: minting, authenticating, listing, revoking; and the first-start bootstrap.

Tokens are shown once and stored only as their sha-256, so a leaked table does not leak tokens.
Lookup is by hash, and the stored hash is compared with ``hmac.compare_digest`` as well.

A token minted with another token is bound to it: it never outlives it, and revoking the parent
revokes it. Revocation cascades at revoke time (the catalog keeps each token's children), so the
listings show what still works. That cascade is several writes, and a child can be minted while its
parent is being revoked, so authentication also checks that every ancestor (the ``lineage`` stored
with the token) still exists: a revocation that crashed halfway, or raced a mint, still takes
effect. Those checks are point reads, made at once, through the same short-lived token cache; tokens
minted without a token (the bootstrap and command-line ones) have no ancestors to check.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from feed_core.domain.clock import Clock, iso, parse_iso
from feed_core.domain.errors import BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError
from feed_core.domain.models import Caller, Organization, Token
from feed_core.domain.names import validate_user
from feed_core.domain.roles import Scope
from feed_core.service.cache import LoadingCache
from feed_core.storage.catalog import Catalog

log = logging.getLogger("feed_core.identity")

TOKEN_PREFIX = "fpat_"  # noqa: S105 - a recognisable prefix, not a secret
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=366)
#: How many tokens deep a chain of minted tokens may go (each one costs a read when authenticating).
MAX_GENERATIONS = 8


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token_text() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class MintedToken:
    token: Token
    plaintext: str = field(repr=False)  # shown once, to whoever asked for it; never in a log line


class IdentityService:
    def __init__(self, catalog: Catalog, clock: Clock, cache_seconds: float) -> None:
        self._catalog = catalog
        self._clock = clock
        # Hits only are kept (``None`` never is): unknown tokens must not push out known ones, while
        # concurrent requests with the same token still share one read.
        self._tokens: LoadingCache[str, Token | None] = LoadingCache(cache_seconds)
        self._orgs: LoadingCache[str, Organization | None] = LoadingCache(cache_seconds)

    async def org(self, name: str) -> Organization:
        org = await self._orgs.get(name.lower(), lambda: self._catalog.get_org(name))
        if org is None:
            raise NotFoundError(f"organization {name!r} does not exist")
        return org

    async def authenticate(self, org_name: str, token_text: str) -> Caller:
        """The caller a token stands for in this organization; 401 for unknown, expired or foreign tokens."""
        if not token_text or len(token_text) > 512:
            raise UnauthorizedError("the token is missing or malformed")
        return await self.authenticate_digest(org_name, hash_token(token_text))

    async def authenticate_digest(self, org_name: str, digest: str) -> Caller:
        """As :meth:`authenticate`, for a token known by its sha-256 (a web UI session holds only that)."""
        token = await self._token(digest)
        if token is None or not hmac.compare_digest(token.token_hash, digest):
            raise UnauthorizedError("the token is not valid (unknown or revoked)")
        if token.valid_to and token.valid_to < iso(self._clock()):
            raise UnauthorizedError(f"the token expired at {token.valid_to}; create a new one")
        if token.org.lower() != org_name.lower():
            raise UnauthorizedError(f"the token belongs to organization {token.org!r}, not {org_name!r}")
        if token.lineage:
            ancestors = await asyncio.gather(*(self._token(ancestor) for ancestor in token.lineage))
            if any(ancestor is None for ancestor in ancestors):
                raise UnauthorizedError("the token is revoked: a token it was created with has been revoked")
        org = await self.org(org_name)
        is_admin = token.user.lower() in {a.lower() for a in org.administrators}
        return Caller(user=token.user, scope=token.scope, org_admin=is_admin, token=token)

    async def _token(self, digest: str) -> Token | None:
        return await self._tokens.get(digest, lambda: self._catalog.token_by_hash(digest))

    async def mint(
        self,
        org_name: str,
        caller: Caller | None,
        *,
        user: str | None,
        display_name: str,
        scope: Scope,
        valid_to: datetime | None = None,
        plaintext: str | None = None,
        never_expires: bool = False,
    ) -> MintedToken:
        """Create a token. Callers mint for themselves; org administrators (with a manage-scoped
        token) may mint for anyone. A token never gets a broader scope than the one minting it, and
        never outlives it: a later ``valid_to`` is refused, and the default lifetime is cut to it."""
        await self.org(org_name)
        owner = validate_user(user) if user else (caller.user if caller else "")
        if not owner:
            raise BadRequestError("name the user the token is for")
        if caller is not None:
            if owner.lower() != caller.user.lower() and not (caller.org_admin and caller.scope is Scope.MANAGE):
                raise ForbiddenError(
                    "only an organization administrator with a vso.packaging_manage token may create tokens for others"
                )
            if scope.role_cap > caller.scope.role_cap:
                raise ForbiddenError(
                    f"a {caller.scope.value} token cannot create a token with the broader scope {scope.value}"
                )
        parent = caller.token if caller is not None else None
        now = self._clock()
        if valid_to is None:
            valid_to = now + DEFAULT_LIFETIME
            if parent is not None and parent.valid_to:
                valid_to = min(valid_to, parse_iso(parent.valid_to))
        if valid_to <= now:
            raise BadRequestError("validTo must be in the future")
        if valid_to > now + MAX_LIFETIME:
            raise BadRequestError("validTo may be at most one year from now")
        if parent is not None:
            if parent.valid_to and valid_to > parse_iso(parent.valid_to):
                raise BadRequestError(
                    f"validTo may be at most {parent.valid_to}: a token cannot outlive the token that creates it"
                )
            if len(parent.lineage) + 1 >= MAX_GENERATIONS:
                raise BadRequestError(
                    f"this token descends from {MAX_GENERATIONS - 1} others and cannot create more; "
                    "create tokens with an older one"
                )
        text = plaintext or new_token_text()
        token = Token(
            authorization_id=str(uuid.uuid4()),
            user=owner,
            org=org_name,
            display_name=display_name[:256],
            scope=scope,
            valid_from=iso(now),
            valid_to="" if never_expires else iso(valid_to),
            token_hash=hash_token(text),
            parent_id=parent.authorization_id if parent is not None else "",
            lineage=(parent.token_hash, *parent.lineage) if parent is not None else (),
        )
        await self._catalog.add_token(token)
        self._tokens.drop(token.token_hash)
        return MintedToken(token, text)

    async def list_tokens(self, org_name: str, caller: Caller, user: str | None) -> list[Token]:
        owner = self._owner_for(caller, user)
        return await self._catalog.list_tokens(org_name, owner)

    async def revoke(self, org_name: str, caller: Caller, authorization_id: str, user: str | None) -> None:
        """Revoke the token and every token minted with it, directly or not. Only a token at least as
        broad as the target may revoke it: a read token cannot take away its user's manage token."""
        owner = self._owner_for(caller, user)
        target = await self._catalog.token_of(org_name, owner, authorization_id)
        if target is not None and target.scope.role_cap > caller.scope.role_cap:
            raise ForbiddenError(
                f"a {caller.scope.value} token cannot revoke a token with the broader scope {target.scope.value}"
            )
        revoked = await self._catalog.revoke_token(org_name, owner, authorization_id)
        if not revoked:
            raise NotFoundError(f"no token with authorizationId {authorization_id} for user {owner}")
        for digest in revoked:
            self._tokens.drop(digest)

    @staticmethod
    def _owner_for(caller: Caller, user: str | None) -> str:
        if user and user.lower() != caller.user.lower():
            if not (caller.org_admin and caller.scope is Scope.MANAGE):
                raise ForbiddenError(
                    "only an organization administrator with a vso.packaging_manage token may see or revoke "
                    "other users' tokens"
                )
            return validate_user(user)
        return caller.user

    async def bootstrap(
        self, org_name: str, admin_user: str, admin_token: str, *, mint_if_missing: bool = True
    ) -> str | None:
        """Create the organization on first start and make sure its administrator has a token.

        With ``admin_token`` given, that token is registered (idempotently), unless it was revoked:
        then it stays revoked, and the error is logged. Otherwise a token is
        created only when the administrator has none yet, and returned so it can be shown once.

        Every start runs this, so it reads the organization and the token at once (two reads when both
        exist) and leaves both in the caches: the first requests do not read them again.
        """
        digest = hash_token(admin_token) if admin_token else ""
        org, (token, revoked) = await asyncio.gather(
            self._catalog.get_org(org_name), self._catalog.token_state(digest) if digest else _no_token()
        )
        if org is None:
            org = Organization(org_name, [admin_user], iso(self._clock()))
            await self._catalog.put_org(org)
        elif admin_user.lower() not in {a.lower() for a in org.administrators}:
            org.administrators.append(admin_user)
            await self._catalog.put_org(org)
        self._orgs.put(org_name.lower(), org)
        if digest:
            if revoked:
                log.error(
                    "FEED_ADMIN_TOKEN was revoked and is not registered again: remove the setting, or set a new token"
                )
                return None
            if token is None:
                await self.mint(
                    org_name,
                    None,
                    user=admin_user,
                    display_name="bootstrap administrator token",
                    scope=Scope.MANAGE,
                    plaintext=admin_token,
                    never_expires=True,
                )
            else:
                self._tokens.put(digest, token)
            return None
        if not mint_if_missing or await self._catalog.list_tokens(org_name, admin_user):
            return None
        minted = await self.mint(
            org_name,
            None,
            user=admin_user,
            display_name="bootstrap administrator token",
            scope=Scope.MANAGE,
            valid_to=self._clock() + MAX_LIFETIME,
        )
        return minted.plaintext


async def _no_token() -> tuple[Token | None, bool]:
    return None, False
