"""Sealing upstream credentials (AES-256-GCM), the settings that carry the keys, and keeping secrets out of reprs."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from feed_core.domain.credentials import (
    Credentials,
    PlaintextCredentials,
    UnreadableCredentials,
    credentials_identity,
)
from feed_core.settings import Settings, SettingsError
from feed_core.storage.credential_cipher import (
    CredentialCipher,
    MissingKeyError,
    generate_key,
    key_id,
    parse_key,
    seal_context,
)

KEY_A, KEY_B = bytes(range(32)), bytes(range(32, 64))
SECRET = "pa55-w0rd-secret"
CREDS = Credentials(username="build", password=SECRET)
CONTEXT = seal_context("feed-id", "source-id", "https://npm.corp.example:")


def test_sealed_values_open_and_never_show_the_secret() -> None:
    cipher = CredentialCipher(KEY_A)
    sealed = cipher.seal(CREDS, CONTEXT)
    assert set(sealed) == {"alg", "kid", "nonce", "ct"} and sealed["kid"] == key_id(KEY_A) == cipher.key_id
    assert SECRET not in str(sealed) and base64.b64encode(SECRET.encode()).decode() not in str(sealed)
    assert len(base64.b64decode(sealed["nonce"])) == 12
    assert cipher.seal(CREDS, CONTEXT)["nonce"] != sealed["nonce"], "a fresh nonce per value"
    assert cipher.open(sealed, CONTEXT) == CREDS
    token = Credentials(token=SECRET)
    assert cipher.open(cipher.seal(token, CONTEXT), CONTEXT) == token


def test_old_keys_open_and_only_the_current_key_seals() -> None:
    sealed_a = CredentialCipher(KEY_A).seal(CREDS, CONTEXT)
    rotated = CredentialCipher(KEY_B, [KEY_A])
    assert rotated.open(sealed_a, CONTEXT) == CREDS
    assert rotated.seal(CREDS, CONTEXT)["kid"] == key_id(KEY_B)
    unknown = CredentialCipher(KEY_B).open(sealed_a, CONTEXT)
    assert isinstance(unknown, UnreadableCredentials)
    assert key_id(KEY_A) in unknown.reason and "FEED_CREDENTIALS_OLD_KEYS" in unknown.reason
    no_key = CredentialCipher(None).open(sealed_a, CONTEXT)
    assert isinstance(no_key, UnreadableCredentials) and "FEED_CREDENTIALS_KEY is not set" in no_key.reason


def test_a_value_bound_to_another_source_or_host_does_not_open() -> None:
    cipher = CredentialCipher(KEY_A)
    sealed = cipher.seal(CREDS, CONTEXT)
    for other in (
        seal_context("feed-id", "other-source", "https://npm.corp.example:"),
        seal_context("other-feed", "source-id", "https://npm.corp.example:"),
        seal_context("feed-id", "source-id", "https://attacker.example:"),
    ):
        opened = cipher.open(sealed, other)
        assert isinstance(opened, UnreadableCredentials) and "do not decrypt" in opened.reason


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "plain",
        [],
        {},
        {"token": 5},
        {"alg": "A256GCM", "kid": "x", "nonce": "", "ct": ""},
        {"alg": "none", "kid": key_id(KEY_A), "nonce": "AAAA", "ct": "AAAA"},
        {"alg": "A256GCM", "kid": key_id(KEY_A), "nonce": "not base64!", "ct": "AAAA"},
        {"alg": "A256GCM", "kid": key_id(KEY_A), "nonce": "AAAA", "ct": "AAAA"},
        {"alg": "A256GCM", "kid": key_id(KEY_A), "nonce": 12, "ct": None},
        {"alg": "A256GCM", "kid": ["list"], "nonce": "AAAA", "ct": "AAAA"},
    ],
)
def test_malformed_stored_values_are_unreadable_never_an_exception(stored: Any) -> None:
    assert isinstance(CredentialCipher(KEY_A).open(stored, CONTEXT), UnreadableCredentials)


def test_the_ciphertext_of_other_data_does_not_make_credentials() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = b"\x00" * 12
    ct = AESGCM(KEY_A).encrypt(nonce, b'{"not": "credentials"}', CONTEXT.encode())
    stored = {"alg": "A256GCM", "kid": key_id(KEY_A), "nonce": base64.b64encode(nonce).decode()}
    opened = CredentialCipher(KEY_A).open({**stored, "ct": base64.b64encode(ct).decode()}, CONTEXT)
    assert isinstance(opened, UnreadableCredentials) and "malformed" in opened.reason


def test_plaintext_from_before_encryption_still_opens() -> None:
    cipher = CredentialCipher(KEY_A)
    # Marked as plaintext, so that the feed's next write seals them (or keeps them as stored while no key is set).
    assert cipher.open({"token": SECRET}, CONTEXT) == PlaintextCredentials(token=SECRET)
    opened = cipher.open({"username": "u", "password": SECRET}, CONTEXT)
    assert opened == PlaintextCredentials(username="u", password=SECRET)
    assert isinstance(opened, Credentials) and SECRET not in repr(opened)


def test_without_a_key_nothing_is_sealed() -> None:
    cipher = CredentialCipher(None)
    assert cipher.missing_key == "FEED_CREDENTIALS_KEY is not set"
    with pytest.raises(MissingKeyError):
        cipher.seal(CREDS, CONTEXT)


def test_credentials_stay_out_of_reprs_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = {"name": "corp", "credentials": CREDS}
    logging.getLogger("test").info("source %s %r", source, [Credentials(token=SECRET)])
    assert SECRET not in caplog.text and "build" not in caplog.text
    assert repr(CREDS) == "Credentials(username=***, password=***)"
    assert str(Credentials(token=SECRET)) == "Credentials(token=***)"
    unreadable = UnreadableCredentials({"ct": SECRET}, "why")
    assert SECRET not in repr(unreadable) and "why" in repr(unreadable)
    settings = Settings(
        credentials_key=generate_key(), credentials_old_keys=(generate_key(),), admin_token="admin-token-" + SECRET
    )
    assert settings.credentials_key not in repr(settings) and settings.credentials_old_keys[0] not in repr(settings)
    assert SECRET not in repr(settings)
    # cache keys stay as they were before credentials were typed (sources share cached upstream metadata)
    assert credentials_identity(Credentials(token="t")) == '{"token": "t"}' and credentials_identity(None) == "null"


# --- settings -----------------------------------------------------------------------------------------------------


def test_keys_come_from_the_settings() -> None:
    a, b, c = generate_key(), generate_key(), generate_key()
    settings = Settings.from_env({"FEED_CREDENTIALS_KEY": a, "FEED_CREDENTIALS_OLD_KEYS": f" {b}, {c} ,"})
    assert settings.credentials_key == a and settings.credentials_old_keys == (b, c)
    cipher = CredentialCipher.from_settings(settings.credentials_key, settings.credentials_old_keys)
    sealed_c = CredentialCipher(parse_key(c, "c")).seal(CREDS, CONTEXT)
    assert cipher.open(sealed_c, CONTEXT) == CREDS and cipher.key_id == key_id(parse_key(a, "a"))


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"FEED_CREDENTIALS_KEY": "c2hvcnQ="}, "FEED_CREDENTIALS_KEY"),  # 5 bytes
        ({"FEED_CREDENTIALS_KEY": "not base64 at all!"}, "FEED_CREDENTIALS_KEY"),
        ({"FEED_CREDENTIALS_OLD_KEYS": f"{generate_key()},zzz"}, "FEED_CREDENTIALS_OLD_KEYS"),
    ],
)
def test_bad_keys_name_the_setting_but_not_the_value(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name) as info:
        Settings.from_env(env)
    assert "zzz" not in str(info.value) and "c2hvcnQ" not in str(info.value) and "32 random bytes" in str(info.value)


def test_an_unresolved_key_vault_reference_starts_the_app_without_a_key() -> None:
    """App Service leaves the reference text in place when it cannot read the secret (not created yet)."""
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/feed-credentials-key/)"
    settings = Settings.from_env({"FEED_CREDENTIALS_KEY": reference, "FEED_CREDENTIALS_OLD_KEYS": reference})
    cipher = CredentialCipher.from_settings(settings.credentials_key, settings.credentials_old_keys)
    assert cipher.key_id is None
    assert cipher.missing_key is not None and "Key Vault reference" in cipher.missing_key
