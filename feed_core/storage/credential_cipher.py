"""Upstream credentials at rest: sealed with AES-256-GCM before they reach the feed table.

The sealed form, in place of the plaintext inside the feed document::

    {"alg": "A256GCM", "kid": "<key id>", "nonce": "<base64 of 12 bytes>", "ct": "<base64 of ciphertext + tag>"}

- The key is ``FEED_CREDENTIALS_KEY``: base64 of 32 random bytes. Its id is derived from the key (a truncated
  sha-256, which says nothing about the key), so keys need no names and values sealed with several keys can
  coexist. ``FEED_CREDENTIALS_OLD_KEYS`` (comma-separated) only open what earlier keys sealed;
  ``python -m feed_core credentials rotate`` re-seals every feed with the current key.
- Each value gets a random 96-bit nonce. The associated data binds it to its feed, its source and the origin
  of the source's location, so a sealed value copied to another source, or a location edited in the table to
  point at another host, no longer opens.
- Credentials written in plaintext before this existed still open, and are sealed on the feed's next write.
- What cannot be opened becomes :class:`UnreadableCredentials` with the reason, never an exception: the
  feed still loads, and only that source stops working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from feed_core.domain.credentials import Credentials, PlaintextCredentials, UnreadableCredentials

ALGORITHM = "A256GCM"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
KEY_USAGE = "base64 of 32 random bytes, e.g. from `openssl rand -base64 32`"
_SEALED_KEYS = frozenset({"alg", "kid", "nonce", "ct"})


class MissingKeyError(RuntimeError):
    """Sealing was asked of a cipher without a current key (callers check :attr:`missing_key` first)."""


def generate_key() -> str:
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def is_unresolved_reference(text: str) -> bool:
    """App Service leaves a Key Vault reference it could not resolve as the setting's literal value."""
    return text.strip().startswith(KEY_VAULT_REFERENCE)


def parse_key(text: str, setting: str) -> bytes:
    """The 32 bytes of a base64 key; ``ValueError`` naming ``setting`` (never the value) otherwise."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(f"{setting} must be {KEY_USAGE}")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"feed-core credentials key id\x00" + key).hexdigest()[:16]


def seal_context(feed_id: str, source_id: str, origin: str) -> str:
    """The associated data a sealed value is bound to."""
    return f"feed-core/upstream-credentials/v1|{feed_id.lower()}|{source_id.lower()}|{origin.lower()}"


class CredentialCipher:
    """Seals with the current key and opens with it or any old key, told apart by key id."""

    def __init__(self, current: bytes | None, old: Sequence[bytes] = (), *, missing_reason: str = "") -> None:
        self._keys = {key_id(k): AESGCM(k) for k in old}
        self._current: tuple[str, AESGCM] | None = None
        if current is not None:
            self._current = (key_id(current), AESGCM(current))
            self._keys[self._current[0]] = self._current[1]
        self._missing_reason = missing_reason or "FEED_CREDENTIALS_KEY is not set"

    @classmethod
    def from_settings(cls, key: str, old_keys: Sequence[str]) -> CredentialCipher:
        """From the settings' text (already validated); unresolved Key Vault references count as unset."""
        current = parse_key(key, "FEED_CREDENTIALS_KEY") if key and not is_unresolved_reference(key) else None
        old = [parse_key(k, "FEED_CREDENTIALS_OLD_KEYS") for k in old_keys if not is_unresolved_reference(k)]
        reason = (
            "FEED_CREDENTIALS_KEY is a Key Vault reference that did not resolve (is the secret in the vault, and "
            "may the app's identity read it?)"
            if is_unresolved_reference(key)
            else ""
        )
        return cls(current, old, missing_reason=reason)

    @property
    def key_id(self) -> str | None:
        return None if self._current is None else self._current[0]

    @property
    def missing_key(self) -> str | None:
        """Why nothing can be sealed, or ``None`` when a current key is set."""
        return None if self._current is not None else self._missing_reason

    def seal(self, credentials: Credentials, context: str) -> dict[str, str]:
        if self._current is None:
            raise MissingKeyError(self._missing_reason)
        kid, aead = self._current
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(credentials.as_json(), separators=(",", ":")).encode()
        sealed = aead.encrypt(nonce, plaintext, context.encode())
        return {"alg": ALGORITHM, "kid": kid, "nonce": _b64(nonce), "ct": _b64(sealed)}

    def open(self, stored: Any, context: str) -> Credentials | UnreadableCredentials:
        """The credentials a stored value holds, or why they cannot be used."""
        if not isinstance(stored, dict):
            return UnreadableCredentials({"malformed": True}, _MALFORMED)
        if set(stored) != _SEALED_KEYS:
            legacy = PlaintextCredentials.from_json(stored)  # from before encryption at rest
            return legacy if legacy is not None else UnreadableCredentials(stored, _MALFORMED)
        kid = stored["kid"]
        if stored["alg"] != ALGORITHM or not isinstance(kid, str):
            return UnreadableCredentials(stored, _MALFORMED)
        aead = self._keys.get(kid)
        if aead is None:
            return UnreadableCredentials(stored, self._unknown_key(kid))
        try:
            nonce, sealed = _unb64(stored["nonce"]), _unb64(stored["ct"])
            if len(nonce) != NONCE_BYTES:
                return UnreadableCredentials(stored, _MALFORMED)
            opened = Credentials.from_json(json.loads(aead.decrypt(nonce, sealed, context.encode())))
        except InvalidTag:
            return UnreadableCredentials(
                stored,
                f"the stored credentials do not decrypt with key {kid} (they were altered, or copied from another "
                "source or location): a feed administrator must send the source's credentials again",
            )
        except (ValueError, TypeError):
            return UnreadableCredentials(stored, _MALFORMED)
        return opened if opened is not None else UnreadableCredentials(stored, _MALFORMED)

    def _unknown_key(self, kid: str) -> str:
        if not self._keys:
            return (
                f"the stored credentials are encrypted (key {kid}), but {self._missing_reason}: the operator must "
                "set it"
            )
        return (
            f"the stored credentials were encrypted with key {kid}, which this service does not have: the operator "
            "must add that key to FEED_CREDENTIALS_OLD_KEYS, or a feed administrator must send the source's "
            "credentials again"
        )


_MALFORMED = "the stored credentials are malformed: a feed administrator must send the source's credentials again"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not base64 text")
    return base64.b64decode(text, validate=True)
