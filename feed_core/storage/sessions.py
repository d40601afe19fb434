"""Web UI sign-in sessions on the table port.

Table ``uisessions``: partition = the first two hex digits of the session key's hash, row = that hash. The
browser holds the key; the table holds only its sha-256, so a leaked table opens no session. A row holds the
organization, the user, the sha-256 of the token the user signed in with (each request checks that token
again, so revoking it ends the session), the CSRF secret of the session, and when it started and was last used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from feed_core.storage.ports import Entity, EntityNotFoundError, EtagMismatchError, TableStore

UI_SESSIONS = "uisessions"


@dataclass(frozen=True)
class SessionRecord:
    key_hash: str
    org: str
    user: str
    token_hash: str
    csrf: str
    created: str
    seen: str
    etag: str | None = None


def _partition(key_hash: str) -> str:
    return key_hash[:2]


class SessionStore:
    def __init__(self, tables: TableStore) -> None:
        self._t = tables

    async def add(self, record: SessionRecord) -> None:
        await self._t.insert(UI_SESSIONS, _entity(record))

    async def get(self, key_hash: str) -> SessionRecord | None:
        e = await self._t.get(UI_SESSIONS, _partition(key_hash), key_hash)
        return None if e is None else _record(e)

    async def every(self) -> AsyncIterator[SessionRecord]:
        """Every session row (the garbage collector's sweep)."""
        async for e in self._t.scan(UI_SESSIONS):
            yield _record(e)

    async def touch(self, record: SessionRecord, seen: str) -> bool:
        """Record a later use; ``False`` when the row changed or went meanwhile (another request touched or ended
        it), which the caller may ignore."""
        try:
            await self._t.update(UI_SESSIONS, _entity(replace(record, seen=seen)))
        except (EtagMismatchError, EntityNotFoundError):
            return False
        return True

    async def delete(self, key_hash: str) -> None:
        await self._t.delete(UI_SESSIONS, _partition(key_hash), key_hash)


def _record(e: Entity) -> SessionRecord:
    return SessionRecord(
        key_hash=e.row_key,
        org=e.get_str("org"),
        user=e.get_str("user"),
        token_hash=e.get_str("tokenHash"),
        csrf=e.get_str("csrf"),
        created=e.get_str("created"),
        seen=e.get_str("seen"),
        etag=e.etag,
    )


def _entity(record: SessionRecord) -> Entity:
    return Entity(
        _partition(record.key_hash),
        record.key_hash,
        {
            "org": record.org,
            "user": record.user,
            "tokenHash": record.token_hash,
            "csrf": record.csrf,
            "created": record.created,
            "seen": record.seen,
        },
        record.etag,
    )
