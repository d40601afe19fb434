"""Web UI sessions: sign in with a personal access token, resume on each page, sign out.

A session stands for the token it was opened with: each request authenticates that token again (through the
identity service's short-lived cache), so a revoked or expired token ends every session opened with it, and the
session never grants more than the token's scope. A session also ends after ``idle`` without use and ``lifetime``
after it began. Its last use is written at most once a minute, so browsing costs one point read per page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from feed_core.domain.clock import Clock, iso, parse_iso
from feed_core.domain.errors import UnauthorizedError
from feed_core.domain.models import Caller
from feed_core.service.identity import IdentityService, hash_token
from feed_core.storage.sessions import SessionRecord, SessionStore

#: A session's last use is written again only when it is older than this.
TOUCH_AFTER = timedelta(seconds=60)
#: Session keys are 32 random bytes in URL-safe base64: anything much longer is not one of ours.
MAX_KEY_LENGTH = 100


@dataclass(frozen=True)
class OpenSession:
    """A signed-in browser: its session key (only ever in the cookie), the CSRF token its forms carry, and the
    caller its token stands for now."""

    key: str
    csrf: str
    caller: Caller
    org: str


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class SessionService:
    def __init__(
        self, store: SessionStore, identity: IdentityService, clock: Clock, *, idle: timedelta, lifetime: timedelta
    ) -> None:
        self._store = store
        self._identity = identity
        self._clock = clock
        self._idle = idle
        self._lifetime = lifetime

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    async def sign_in(self, org: str, token_text: str) -> OpenSession:
        """Open a session for a valid token of ``org``; a 401 (``UnauthorizedError``) otherwise."""
        caller = await self._identity.authenticate(org, token_text.strip())
        key = secrets.token_urlsafe(32)
        now = iso(self._clock())
        record = SessionRecord(
            key_hash=_key_hash(key),
            org=org.lower(),
            user=caller.user,
            token_hash=hash_token(token_text.strip()),
            csrf=secrets.token_urlsafe(32),
            created=now,
            seen=now,
        )
        await self._store.add(record)
        return OpenSession(key, record.csrf, caller, org)

    async def resume(self, org: str, key: str) -> OpenSession | None:
        """The session this key opened, for pages of ``org``; ``None`` when it is unknown, ended, of another
        organization, or its token no longer works (the session is then removed)."""
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii():
            return None
        record = await self._store.get(_key_hash(key))
        if record is None or record.org != org.lower():
            return None
        now = self._clock()
        if self._ended(record, now):
            await self._store.delete(record.key_hash)
            return None
        try:
            caller = await self._identity.authenticate_digest(org, record.token_hash)
        except UnauthorizedError:
            await self._store.delete(record.key_hash)
            return None
        if now - parse_iso(record.seen) > TOUCH_AFTER:
            await self._store.touch(record, iso(now))
        return OpenSession(key, record.csrf, caller, org)

    def _ended(self, record: SessionRecord, now: datetime) -> bool:
        try:
            return now - parse_iso(record.created) > self._lifetime or now - parse_iso(record.seen) > self._idle
        except ValueError:  # a row that is not ours to read: it opens nothing
            return True

    async def sweep(self, *, dry_run: bool = False) -> int:
        """Remove the sessions that have ended (idle, or past their age limit) and were never used again; the
        number removed (or, in a dry run, that would be)."""
        now = self._clock()
        ended = [record.key_hash async for record in self._store.every() if self._ended(record, now)]
        if not dry_run:
            for key_hash in ended:
                await self._store.delete(key_hash)
        return len(ended)

    async def sign_out(self, key: str) -> None:
        if key and len(key) <= MAX_KEY_LENGTH:
            await self._store.delete(_key_hash(key))

    @staticmethod
    def csrf_matches(session: OpenSession, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode("utf-8", "replace"))
