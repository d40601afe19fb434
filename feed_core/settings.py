"""Typed settings, read once from the environment (or Function App settings) and validated.

``Settings`` is the one declaration of every setting the code reads: each field carries its
``FEED_*`` name, default and description. ``SETTINGS`` (derived from those fields) is what the
README's table and the infrastructure's app settings are checked against.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from feed_core.domain.outbound import IPNetwork, parse_networks
from feed_core.domain.public_sources import ConfiguredSource
from feed_core.domain.recycle_bin import DEFAULT_RECYCLE_BIN_DAYS, MAX_RECYCLE_BIN_DAYS
from feed_core.domain.source_models import PROTOCOLS


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says what is expected."""


def setting(env: str, default: Any, description: str, **rules: Any) -> Any:
    """A field read from the environment variable ``env``."""
    return Field(default, validation_alias=env, description=description, **rules)


_SOURCE_SHAPE = '{"protocol": "...", "url": "..."}'


class Settings(BaseSettings):
    """Every setting, validated. ``Settings(...)`` takes only the values it is given (by field name);
    ``Settings.from_env`` reads the environment."""

    # hide_input_in_errors: the ValidationError stays as the SettingsError's context, and secrets are inputs.
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
    )

    storage: Literal["embedded", "azure"] = setting(
        "FEED_STORAGE", "embedded", "`embedded` (SQLite + files) or `azure` (Table + Blob storage)"
    )
    data_dir: Path = setting("FEED_DATA_DIR", Path(".feed-data"), "data directory of the embedded store")
    connection_string: str = setting(
        "FEED_STORAGE_CONNECTION_STRING",
        "",
        "Azure Storage connection string (e.g. Azurite's); or use the URLs",
        repr=False,
    )
    table_url: str = setting(
        "FEED_STORAGE_TABLE_URL", "", "Table service URL, used with a managed identity when no connection string"
    )
    blob_url: str = setting(
        "FEED_STORAGE_BLOB_URL", "", "Blob service URL, used with a managed identity when no connection string"
    )
    client_id: str = setting("FEED_STORAGE_CLIENT_ID", "", "client id of the user-assigned managed identity (optional)")
    storage_proxy: str = setting(
        "FEED_STORAGE_PROXY",
        "",
        "proxy URL for Azure Storage calls (e.g. http://proxy:3128); the process's proxy variables and .netrc are "
        "not read for them",
    )
    storage_create: bool = setting(
        "FEED_STORAGE_CREATE",
        True,
        "create the storage's tables and blob container at start-up where missing (deployment creates them in "
        "Azure); requests never create them",
    )
    table_prefix: str = setting("FEED_TABLE_PREFIX", "feed", "prefix of the table names in Azure storage")
    blob_container: str = setting("FEED_BLOB_CONTAINER", "feed-content", "blob container for package content")
    download_redirect: bool = setting(
        "FEED_DOWNLOAD_REDIRECT", True, "on Azure, answer downloads with a redirect to a short-lived SAS URL"
    )
    sas_ttl_seconds: int = setting("FEED_SAS_TTL_SECONDS", 300, "lifetime of those SAS URLs", ge=30)
    download_redirect_min_bytes: int = setting(
        "FEED_DOWNLOAD_REDIRECT_MIN_BYTES",
        1024 * 1024,
        "files smaller than this are sent by the worker, never redirected (a redirect costs the client a second "
        "round trip)",
        ge=0,
    )
    blob_cache_bytes: int = setting(
        "FEED_BLOB_CACHE_BYTES",
        64 * 1024 * 1024,
        "memory per worker for package files smaller than FEED_DOWNLOAD_REDIRECT_MIN_BYTES, sent from memory once "
        "read (0: off)",
        ge=0,
    )
    organization: str = setting("FEED_ORGANIZATION", "local", "the organization created on first start")
    admin_user: str = setting("FEED_ADMIN_USER", "admin", "the user name of that organization's administrator")
    admin_token: str = setting(
        "FEED_ADMIN_TOKEN",
        "",
        "the administrator's token; when empty, `serve` creates one and prints it once",
        repr=False,
    )
    public_url: str = setting(
        "FEED_PUBLIC_URL", "", "base URL clients use (e.g. behind a proxy); default: taken from each request"
    )
    trusted_proxies: tuple[str, ...] = setting(
        "FEED_TRUSTED_PROXIES",
        (),
        "comma-separated IPs or CIDR ranges of reverse proxies whose X-Forwarded-Host/-Proto are believed "
        "(`*`: any caller); otherwise URLs use the request's own Host",
    )
    max_upload_bytes: int = setting(
        "FEED_MAX_UPLOAD_BYTES", 100 * 1024 * 1024, "largest request body accepted (publish), in bytes", ge=1024
    )
    maven_snapshot_builds_kept: int = setting(
        "FEED_MAVEN_SNAPSHOT_BUILDS_KEPT",
        10,
        "Maven snapshots: how many of the newest timestamped builds of each snapshot version are kept; a deploy "
        "drops the files of older builds",
        ge=1,
    )
    body_read_timeout_seconds: float = setting(
        "FEED_BODY_READ_TIMEOUT_SECONDS",
        30.0,
        "longest silence while receiving a request's body (beyond it the body must average 64 KiB/s); then a 408",
        ge=1,
    )
    page_cache_max_bytes: int = setting(
        "FEED_PAGE_CACHE_MAX_BYTES",
        64 * 1024 * 1024,
        "memory per worker for built packuments and simple pages (gzipped copies included), in bytes",
        ge=0,
    )
    public_sources: dict[str, ConfiguredSource] = setting(
        "FEED_PUBLIC_SOURCES", {}, 'JSON: public source name -> {"protocol": ..., "url": ...}'
    )
    credentials_key: str = setting(
        "FEED_CREDENTIALS_KEY",
        "",
        "base64 of 32 random bytes: the key upstream credentials are encrypted with (`serve` keeps one in the data "
        "directory when unset); without it, credentials are refused",
        repr=False,
    )
    credentials_old_keys: tuple[str, ...] = setting(
        "FEED_CREDENTIALS_OLD_KEYS", (), "comma-separated earlier keys, only to decrypt (key rotation)", repr=False
    )
    cache_seconds: float = setting(
        "FEED_CACHE_SECONDS", 5.0, "how long a worker trusts its cached feed and token lookups", ge=0
    )
    ui_session_idle_minutes: float = setting(
        "FEED_UI_SESSION_IDLE_MINUTES",
        60.0,
        "a web UI sign-in ends after this many minutes without a request",
        gt=0,
        le=24 * 60,
    )
    ui_session_max_hours: float = setting(
        "FEED_UI_SESSION_MAX_HOURS",
        12.0,
        "a web UI sign-in ends this many hours after it started, however busy",
        gt=0,
        le=30 * 24,
    )
    read_freshness_seconds: float = setting(
        "FEED_READ_FRESHNESS_SECONDS",
        2.0,
        "how long a worker trusts a package's revision it read (0: check storage on every read); deletions and "
        "publishes made through another worker show within this time",
        ge=0,
        le=60,
    )
    upstream_ttl_seconds: float = setting(
        "FEED_UPSTREAM_METADATA_TTL_SECONDS",
        300.0,
        "how long upstream metadata is fresh before it is revalidated",
        ge=0,
    )
    upstream_refresh_min_seconds: float = setting(
        "FEED_UPSTREAM_REFRESH_MIN_SECONDS",
        10.0,
        "at most one on-demand refresh per package and upstream this often (a request for an unknown version)",
        ge=0,
    )
    upstream_connect_timeout: float = setting(
        "FEED_UPSTREAM_CONNECT_TIMEOUT_SECONDS", 3.0, "connect timeout for upstream requests", ge=1
    )
    upstream_timeout: float = setting(
        "FEED_UPSTREAM_TIMEOUT_SECONDS",
        10.0,
        "overall budget of one upstream metadata request, retries included",
        ge=1,
    )
    upstream_download_timeout: float = setting(
        "FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS",
        120.0,
        "overall budget of fetching one package file from upstream, and again of storing it and committing its version",
        ge=1,
    )
    upstream_max_document_bytes: int = setting(
        "FEED_UPSTREAM_MAX_DOCUMENT_BYTES",
        64 * 1024 * 1024,
        "largest upstream metadata document (packument, project page) read, in bytes after decompression",
        ge=1024,
    )
    upstream_allowed_networks: tuple[str, ...] = setting(
        "FEED_UPSTREAM_ALLOWED_NETWORKS",
        (),
        "comma-separated CIDR ranges upstreams may be in although they are not public (e.g. an intranet "
        "registry); all other loopback, private, link-local and reserved addresses are refused",
    )
    upstream_ca_bundle: str = setting(
        "FEED_UPSTREAM_CA_BUNDLE",
        "",
        "PEM file of extra CA certificates upstream TLS trusts, besides the system store (e.g. a TLS-inspecting "
        "proxy's CA)",
    )
    refresh_schedule: str = setting(
        "FEED_REFRESH_SCHEDULE", "0 */15 * * * *", "when the upstream metadata refresh job runs (NCRONTAB, six fields)"
    )
    health_schedule: str = setting(
        "FEED_HEALTH_SCHEDULE", "0 */5 * * * *", "when the upstream health job runs (NCRONTAB, six fields)"
    )
    refresh_budget_seconds: float = setting(
        "FEED_REFRESH_BUDGET_SECONDS",
        240.0,
        "longest a refresh run may take; it resumes where it stopped next run",
        ge=1,
    )
    gc_schedule: str = setting(
        "FEED_GC_SCHEDULE", "0 30 3 * * *", "when the garbage collection job runs (NCRONTAB, six fields)"
    )
    retention_schedule: str = setting(
        "FEED_RETENTION_SCHEDULE",
        "0 0 4 * * *",
        "when the retention job applies the feeds' retention policies (NCRONTAB, six fields)",
    )
    gc_grace_hours: float = setting(
        "FEED_GC_GRACE_HOURS",
        24.0,
        "blobs younger than this are never collected; keep it far above the longest publish (at least 1)",
        ge=1,
    )
    deleted_feed_retention_days: float = setting(
        "FEED_DELETED_FEED_RETENTION_DAYS",
        30.0,
        "how long a deleted feed stays restorable in the feed recycle bin before the gc job purges it",
        ge=0,
    )
    recycle_bin_days: int = setting(
        "FEED_RECYCLE_BIN_DAYS",
        DEFAULT_RECYCLE_BIN_DAYS,
        "how long a deleted package version stays restorable in its feed's recycle bin before the gc job purges it",
        ge=1,
        le=MAX_RECYCLE_BIN_DAYS,
    )
    usage_max_age_seconds: float = setting(
        "FEED_USAGE_MAX_AGE_SECONDS",
        60.0,
        "how long a worker answers a feed's storage usage with what it computed before, rather than scanning again",
        ge=0,
    )
    log_level: str = setting("FEED_LOG_LEVEL", "INFO", "log level")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError("; ".join(_plain(error) for error in exc.errors(include_url=False))) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the values given: the environment is read by ``from_env`` alone (and no .env or secrets files).
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings in ``env`` (default: the process environment), then ``overrides`` by field name.

        Raises ``SettingsError`` naming each bad setting."""
        found = EnvironmentSource(cls, os.environ if env is None else env)()
        return cls(**{**found, **overrides})

    # --- reading text from the environment ---------------------------------------------------------------------

    @field_validator("storage", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_proxies", "credentials_old_keys", "upstream_allowed_networks", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("public_sources", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"FEED_PUBLIC_SOURCES is not valid JSON: {exc}") from None

    @field_validator("public_url", mode="before")
    @classmethod
    def _no_trailing_slash(cls, value: Any) -> Any:
        return value.rstrip("/") if isinstance(value, str) else value

    # --- rules ---------------------------------------------------------------------------------------------------

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise SettingsError(f"FEED_PUBLIC_URL must be an http(s) URL, not {url!r}")
        return url

    @field_validator("storage_proxy")
    @classmethod
    def _http_proxy(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise SettingsError(f"FEED_STORAGE_PROXY must be an http(s) URL, not {url!r}")
        return url

    @field_validator("admin_token")
    @classmethod
    def _long_token(cls, token: str) -> str:
        if token and len(token) < 16:
            raise SettingsError("FEED_ADMIN_TOKEN must be at least 16 characters long")
        return token

    @field_validator("refresh_schedule", "health_schedule", "gc_schedule", "retention_schedule")
    @classmethod
    def _schedule(cls, text: str, info: Any) -> str:
        from feed_core.domain.schedule import Schedule

        try:
            Schedule.parse(text)
        except ValueError as exc:
            raise SettingsError(f"{env_name(info.field_name)}: {exc}") from None
        return text

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise SettingsError(
                        f"FEED_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR range (or `*`)"
                    ) from None
        return entries

    @field_validator("upstream_allowed_networks")
    @classmethod
    def _networks(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        try:
            parse_networks(entries)
        except ValueError as exc:
            raise SettingsError(f"FEED_UPSTREAM_ALLOWED_NETWORKS: {exc}") from None
        return entries

    @field_validator("upstream_ca_bundle")
    @classmethod
    def _ca_bundle(cls, path: str) -> str:
        if path and not Path(path).is_file():
            raise SettingsError(f"FEED_UPSTREAM_CA_BUNDLE: {path!r} is not a file (a PEM bundle)")
        return path

    @field_validator("organization", "admin_user")
    @classmethod
    def _name(cls, name: str, info: Any) -> str:
        from feed_core.domain.errors import FeedError
        from feed_core.domain.names import validate_org, validate_user

        check = validate_org if info.field_name == "organization" else validate_user
        try:
            check(name)
        except FeedError as exc:
            raise SettingsError(f"{env_name(info.field_name)}: {exc.message}") from None
        return name

    @field_validator("credentials_key", "credentials_old_keys")
    @classmethod
    def _keys(cls, keys: str | tuple[str, ...], info: Any) -> str | tuple[str, ...]:
        """Keys must decode; a Key Vault reference App Service could not resolve counts as unset (the app
        still starts, and storing credentials is refused with the reason)."""
        from feed_core.storage.credential_cipher import is_unresolved_reference, parse_key

        name = env_name(info.field_name)
        for text in (keys,) if isinstance(keys, str) else keys:
            if text and not is_unresolved_reference(text):
                try:
                    parse_key(text, name)
                except ValueError as exc:
                    raise SettingsError(str(exc)) from None
        return keys

    @model_validator(mode="after")
    def _storage_account(self) -> Settings:
        if self.storage == "azure" and not self.connection_string and not (self.table_url and self.blob_url):
            raise SettingsError(
                "FEED_STORAGE=azure needs FEED_STORAGE_CONNECTION_STRING, or both FEED_STORAGE_TABLE_URL and "
                "FEED_STORAGE_BLOB_URL (with a managed identity)"
            )
        return self

    # --- derived -------------------------------------------------------------------------------------------------

    def trusts_proxy(self, client_host: str | None) -> bool:
        """Whether forwarded headers from a caller at ``client_host`` are believed (FEED_TRUSTED_PROXIES)."""
        if not self.trusted_proxies:
            return False
        if "*" in self.trusted_proxies:
            return True
        try:
            address = ipaddress.ip_address(client_host or "")
        except ValueError:
            return False
        # A dual-stack listener reports IPv4 callers as ::ffff:a.b.c.d; match them against IPv4 ranges.
        plain = (address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None) or address
        return any(plain in network for network in _proxy_networks(self.trusted_proxies))

    @property
    def upstream_allowed_network_ranges(self) -> tuple[IPNetwork, ...]:
        """FEED_UPSTREAM_ALLOWED_NETWORKS, parsed."""
        return _parsed_networks(self.upstream_allowed_networks)


# Parsed once per distinct value, not per settings object: a copy (``model_copy``) can never see another's.
@functools.lru_cache(maxsize=16)
def _proxy_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries if e != "*")


@functools.lru_cache(maxsize=16)
def _parsed_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks(entries)


class EnvironmentSource(PydanticBaseSettingsSource):
    """The ``FEED_*`` values of one mapping, by field name: whitespace stripped, an empty value meaning the
    default. Text only; the fields' validators turn it into numbers, flags, lists and JSON."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        text = self._env.get(env_name(field_name), "").strip()
        return text or None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                found[key] = value
        return found


def env_name(field_name: str) -> str:
    """The environment variable of a ``Settings`` field."""
    alias = Settings.model_fields[field_name].validation_alias
    assert isinstance(alias, str)
    return alias


def env_text(value: Any) -> str:
    """A default as it is written in the environment (and in the README's table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


#: FEED_* name -> (default as text, description), derived from ``Settings``: what the README and infra are
#: checked against.
SETTINGS: dict[str, tuple[str, str]] = {
    env_name(name): (env_text(field.get_default(call_default_factory=True)), field.description or "")
    for name, field in Settings.model_fields.items()
}


# --- plain-words errors ---------------------------------------------------------------------------------------

_FIELD_BY_ENV = {env_name(name): name for name in Settings.model_fields}

_EXPECTED = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "tuple_type": "a comma-separated list",
    "path_type": "a path",
}


def _plain(error: Any) -> str:
    """One pydantic error, in words naming the setting (never a secret's value)."""
    ctx = error.get("ctx") or {}
    if isinstance(ctx.get("error"), SettingsError):
        return str(ctx["error"])
    loc = error["loc"]
    if not loc:
        return str(error["msg"])
    field_name = _FIELD_BY_ENV.get(str(loc[0]), str(loc[0]))
    if field_name not in Settings.model_fields:
        return f"{loc[0]!r} is not a setting"
    name = env_name(field_name)
    if field_name == "public_sources":
        return _plain_source_error(error)
    value = error.get("input")
    secret = not Settings.model_fields[field_name].repr
    kind = error["type"]
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        words = "at least" if kind == "greater_than_equal" else "more than"
        return f"{name} must be {words} {bound:g}, not {value}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        words = "at most" if kind == "less_than_equal" else "less than"
        return f"{name} must be {words} {bound:g}, not {value}"
    if kind == "literal_error":
        return f"{name} must be {ctx['expected']}, not {value!r}"
    if kind in _EXPECTED:
        shown = "" if secret else f", not {value!r}"
        return f"{name} must be {_EXPECTED[kind]}{shown}"
    return f"{name}: {error['msg']}"


def _plain_source_error(error: Any) -> str:
    where = error["loc"][1:]
    what = f"must map names to {_SOURCE_SHAPE}"
    if not where:
        return f"FEED_PUBLIC_SOURCES {what} (a JSON object)"
    source = f"source {where[0]!r}"
    key = where[1] if len(where) > 1 else None
    kind = error["type"]
    if key is None:
        problem = f"{source} must be an object"
    elif kind == "missing":
        problem = f"{source} lacks {key!r}"
    elif kind == "extra_forbidden":
        problem = f"{source} has an unknown key {key!r}"
    elif kind == "string_too_short":
        problem = f"{source} has an empty {key!r}"
    elif kind == "literal_error":
        problem = f"{source}: {key!r} must be one of {', '.join(PROTOCOLS)}"
    elif kind == "value_error":
        problem = f"{source}: {key!r} must be an http(s) URL"
    else:
        problem = f"{source}: {key!r} must be a string"
    return f"FEED_PUBLIC_SOURCES {what}; {problem}"
