"""Typed settings, read once from the environment (or Function App settings) and validated.

Every setting the code reads is declared in ``SETTINGS`` below: the README's table and the
infrastructure's app settings are checked against this one list.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feed_core.domain.outbound import IPNetwork, parse_networks


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says what is expected."""


#: name -> (default, description). The single list of settings the code reads.
SETTINGS: dict[str, tuple[str, str]] = {
    "FEED_STORAGE": ("embedded", "`embedded` (SQLite + files) or `azure` (Table + Blob storage)"),
    "FEED_DATA_DIR": (".feed-data", "data directory of the embedded store"),
    "FEED_STORAGE_CONNECTION_STRING": ("", "Azure Storage connection string (e.g. Azurite's); or use the URLs"),
    "FEED_STORAGE_TABLE_URL": ("", "Table service URL, used with a managed identity when no connection string"),
    "FEED_STORAGE_BLOB_URL": ("", "Blob service URL, used with a managed identity when no connection string"),
    "FEED_STORAGE_CLIENT_ID": ("", "client id of the user-assigned managed identity (optional)"),
    "FEED_TABLE_PREFIX": ("feed", "prefix of the table names in Azure storage"),
    "FEED_BLOB_CONTAINER": ("feed-content", "blob container for package content"),
    "FEED_DOWNLOAD_REDIRECT": ("true", "on Azure, answer downloads with a redirect to a short-lived SAS URL"),
    "FEED_SAS_TTL_SECONDS": ("300", "lifetime of those SAS URLs"),
    "FEED_ORGANIZATION": ("local", "the organization created on first start"),
    "FEED_ADMIN_USER": ("admin", "the user name of that organization's administrator"),
    "FEED_ADMIN_TOKEN": ("", "the administrator's token; when empty, `serve` creates one and prints it once"),
    "FEED_PUBLIC_URL": ("", "base URL clients use (e.g. behind a proxy); default: taken from each request"),
    "FEED_TRUSTED_PROXIES": (
        "",
        "comma-separated IPs or CIDR ranges of reverse proxies whose X-Forwarded-Host/-Proto are believed "
        "(`*`: any caller); otherwise URLs use the request's own Host",
    ),
    "FEED_MAX_UPLOAD_BYTES": ("104857600", "largest request body accepted (publish), in bytes"),
    "FEED_BODY_READ_TIMEOUT_SECONDS": (
        "30",
        "longest silence while receiving a request's body (beyond it the body must average 64 KiB/s); then a 408",
    ),
    "FEED_PAGE_CACHE_MAX_BYTES": (
        "67108864",
        "memory per worker for built packuments and simple pages (gzipped copies included), in bytes",
    ),
    "FEED_PUBLIC_SOURCES": ("{}", 'JSON: public source name -> {"protocol": ..., "url": ...}'),
    "FEED_CREDENTIALS_KEY": (
        "",
        "base64 of 32 random bytes: the key upstream credentials are encrypted with (`serve` keeps one in the data "
        "directory when unset); without it, credentials are refused",
    ),
    "FEED_CREDENTIALS_OLD_KEYS": ("", "comma-separated earlier keys, only to decrypt (key rotation)"),
    "FEED_CACHE_SECONDS": ("5", "how long a worker trusts its cached feed and token lookups"),
    "FEED_UPSTREAM_METADATA_TTL_SECONDS": ("300", "how long upstream metadata is fresh before it is revalidated"),
    "FEED_UPSTREAM_REFRESH_MIN_SECONDS": (
        "10",
        "at most one on-demand refresh per package and upstream this often (a request for an unknown version)",
    ),
    "FEED_UPSTREAM_CONNECT_TIMEOUT_SECONDS": ("3", "connect timeout for upstream requests"),
    "FEED_UPSTREAM_TIMEOUT_SECONDS": ("10", "overall budget of one upstream metadata request, retries included"),
    "FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS": ("120", "overall budget of fetching one package file from upstream"),
    "FEED_UPSTREAM_MAX_DOCUMENT_BYTES": (
        "67108864",
        "largest upstream metadata document (packument, project page) read, in bytes after decompression",
    ),
    "FEED_UPSTREAM_ALLOWED_NETWORKS": (
        "",
        "comma-separated CIDR ranges upstreams may be in although they are not public (e.g. an intranet "
        "registry); all other loopback, private, link-local and reserved addresses are refused",
    ),
    "FEED_UPSTREAM_CA_BUNDLE": (
        "",
        "PEM file of extra CA certificates upstream TLS trusts, besides the system store (e.g. a TLS-inspecting "
        "proxy's CA)",
    ),
    "FEED_REFRESH_SCHEDULE": ("0 */15 * * * *", "when the upstream metadata refresh job runs (NCRONTAB, six fields)"),
    "FEED_HEALTH_SCHEDULE": ("0 */5 * * * *", "when the upstream health job runs (NCRONTAB, six fields)"),
    "FEED_REFRESH_BUDGET_SECONDS": ("240", "longest a refresh run may take; it resumes where it stopped next run"),
    "FEED_GC_SCHEDULE": ("0 30 3 * * *", "when the garbage collection job runs (NCRONTAB, six fields)"),
    "FEED_GC_GRACE_HOURS": (
        "24",
        "blobs younger than this are never collected; keep it far above the longest publish (at least 1)",
    ),
    "FEED_DELETED_FEED_RETENTION_DAYS": (
        "30",
        "how long a deleted feed stays restorable in the feed recycle bin before the gc job purges it",
    ),
    "FEED_LOG_LEVEL": ("INFO", "log level"),
}


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _int(name: str, value: str, minimum: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if n < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {n}")
    return n


@dataclass(frozen=True)
class Settings:
    storage: str = "embedded"
    data_dir: Path = Path(".feed-data")
    connection_string: str = ""
    table_url: str = ""
    blob_url: str = ""
    client_id: str = ""
    table_prefix: str = "feed"
    blob_container: str = "feed-content"
    download_redirect: bool = True
    sas_ttl_seconds: int = 300
    organization: str = "local"
    admin_user: str = "admin"
    admin_token: str = field(default="", repr=False)
    public_url: str = ""
    trusted_proxies: tuple[str, ...] = ()
    max_upload_bytes: int = 100 * 1024 * 1024
    body_read_timeout_seconds: float = 30.0
    page_cache_max_bytes: int = 64 * 1024 * 1024
    public_sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    credentials_key: str = field(default="", repr=False)
    credentials_old_keys: tuple[str, ...] = field(default=(), repr=False)
    cache_seconds: float = 5.0
    upstream_ttl_seconds: float = 300.0
    upstream_refresh_min_seconds: float = 10.0
    upstream_connect_timeout: float = 3.0
    upstream_timeout: float = 10.0
    upstream_download_timeout: float = 120.0
    upstream_max_document_bytes: int = 64 * 1024 * 1024
    upstream_allowed_networks: tuple[str, ...] = ()
    upstream_ca_bundle: str = ""
    refresh_schedule: str = "0 */15 * * * *"
    health_schedule: str = "0 */5 * * * *"
    refresh_budget_seconds: float = 240.0
    gc_schedule: str = "0 30 3 * * *"
    gc_grace_hours: float = 24.0
    deleted_feed_retention_days: float = 30.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read and validate; raises ``SettingsError`` naming the first bad setting."""
        src = os.environ if env is None else env

        def get(name: str) -> str:
            return src.get(name, SETTINGS[name][0]).strip()

        storage = get("FEED_STORAGE").lower()
        if storage not in {"embedded", "azure"}:
            raise SettingsError(f"FEED_STORAGE must be 'embedded' or 'azure', not {storage!r}")
        try:
            sources = json.loads(get("FEED_PUBLIC_SOURCES") or "{}")
        except json.JSONDecodeError as exc:
            raise SettingsError(f"FEED_PUBLIC_SOURCES is not valid JSON: {exc}") from None
        if not isinstance(sources, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("url"), str) and isinstance(v.get("protocol"), str)
            for v in sources.values()
        ):
            raise SettingsError('FEED_PUBLIC_SOURCES must map names to {"protocol": "...", "url": "..."}')
        values: dict[str, Any] = {
            "storage": storage,
            "data_dir": Path(get("FEED_DATA_DIR") or ".feed-data"),
            "connection_string": get("FEED_STORAGE_CONNECTION_STRING"),
            "table_url": get("FEED_STORAGE_TABLE_URL"),
            "blob_url": get("FEED_STORAGE_BLOB_URL"),
            "client_id": get("FEED_STORAGE_CLIENT_ID"),
            "table_prefix": get("FEED_TABLE_PREFIX"),
            "blob_container": get("FEED_BLOB_CONTAINER"),
            "download_redirect": _flag("FEED_DOWNLOAD_REDIRECT", get("FEED_DOWNLOAD_REDIRECT")),
            "sas_ttl_seconds": _int("FEED_SAS_TTL_SECONDS", get("FEED_SAS_TTL_SECONDS"), 30),
            "organization": get("FEED_ORGANIZATION"),
            "admin_user": get("FEED_ADMIN_USER"),
            "admin_token": get("FEED_ADMIN_TOKEN"),
            "public_url": get("FEED_PUBLIC_URL").rstrip("/"),
            "trusted_proxies": tuple(p.strip() for p in get("FEED_TRUSTED_PROXIES").split(",") if p.strip()),
            "max_upload_bytes": _int("FEED_MAX_UPLOAD_BYTES", get("FEED_MAX_UPLOAD_BYTES"), 1024),
            "body_read_timeout_seconds": float(
                _int("FEED_BODY_READ_TIMEOUT_SECONDS", get("FEED_BODY_READ_TIMEOUT_SECONDS"), 1)
            ),
            "page_cache_max_bytes": _int("FEED_PAGE_CACHE_MAX_BYTES", get("FEED_PAGE_CACHE_MAX_BYTES"), 0),
            "public_sources": sources,
            "credentials_key": get("FEED_CREDENTIALS_KEY"),
            "credentials_old_keys": tuple(k.strip() for k in get("FEED_CREDENTIALS_OLD_KEYS").split(",") if k.strip()),
            "cache_seconds": float(_int("FEED_CACHE_SECONDS", get("FEED_CACHE_SECONDS"), 0)),
            "upstream_ttl_seconds": float(
                _int("FEED_UPSTREAM_METADATA_TTL_SECONDS", get("FEED_UPSTREAM_METADATA_TTL_SECONDS"), 0)
            ),
            "upstream_refresh_min_seconds": float(
                _int("FEED_UPSTREAM_REFRESH_MIN_SECONDS", get("FEED_UPSTREAM_REFRESH_MIN_SECONDS"), 0)
            ),
            "upstream_connect_timeout": float(
                _int("FEED_UPSTREAM_CONNECT_TIMEOUT_SECONDS", get("FEED_UPSTREAM_CONNECT_TIMEOUT_SECONDS"), 1)
            ),
            "upstream_timeout": float(_int("FEED_UPSTREAM_TIMEOUT_SECONDS", get("FEED_UPSTREAM_TIMEOUT_SECONDS"), 1)),
            "upstream_download_timeout": float(
                _int("FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS", get("FEED_UPSTREAM_DOWNLOAD_TIMEOUT_SECONDS"), 1)
            ),
            "upstream_max_document_bytes": _int(
                "FEED_UPSTREAM_MAX_DOCUMENT_BYTES", get("FEED_UPSTREAM_MAX_DOCUMENT_BYTES"), 1024
            ),
            "upstream_allowed_networks": tuple(
                n.strip() for n in get("FEED_UPSTREAM_ALLOWED_NETWORKS").split(",") if n.strip()
            ),
            "upstream_ca_bundle": get("FEED_UPSTREAM_CA_BUNDLE"),
            "refresh_schedule": get("FEED_REFRESH_SCHEDULE"),
            "health_schedule": get("FEED_HEALTH_SCHEDULE"),
            "refresh_budget_seconds": float(_int("FEED_REFRESH_BUDGET_SECONDS", get("FEED_REFRESH_BUDGET_SECONDS"), 1)),
            "gc_schedule": get("FEED_GC_SCHEDULE"),
            "gc_grace_hours": float(_int("FEED_GC_GRACE_HOURS", get("FEED_GC_GRACE_HOURS"), 1)),
            "deleted_feed_retention_days": float(
                _int("FEED_DELETED_FEED_RETENTION_DAYS", get("FEED_DELETED_FEED_RETENTION_DAYS"), 0)
            ),
            "log_level": get("FEED_LOG_LEVEL").upper(),
        }
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        from feed_core.domain.errors import FeedError
        from feed_core.domain.names import validate_org, validate_user

        if self.storage == "azure" and not self.connection_string and not (self.table_url and self.blob_url):
            raise SettingsError(
                "FEED_STORAGE=azure needs FEED_STORAGE_CONNECTION_STRING, or both FEED_STORAGE_TABLE_URL and "
                "FEED_STORAGE_BLOB_URL (with a managed identity)"
            )
        from feed_core.domain.schedule import Schedule

        for name, text in (
            ("FEED_REFRESH_SCHEDULE", self.refresh_schedule),
            ("FEED_HEALTH_SCHEDULE", self.health_schedule),
            ("FEED_GC_SCHEDULE", self.gc_schedule),
        ):
            try:
                Schedule.parse(text)
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from None
        self._validate_credentials_keys()
        if self.admin_token and len(self.admin_token) < 16:
            raise SettingsError("FEED_ADMIN_TOKEN must be at least 16 characters long")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise SettingsError(f"FEED_PUBLIC_URL must be an http(s) URL, not {self.public_url!r}")
        for entry in self.trusted_proxies:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise SettingsError(
                        f"FEED_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR range (or `*`)"
                    ) from None
        try:
            parse_networks(self.upstream_allowed_networks)
        except ValueError as exc:
            raise SettingsError(f"FEED_UPSTREAM_ALLOWED_NETWORKS: {exc}") from None
        if self.upstream_ca_bundle and not Path(self.upstream_ca_bundle).is_file():
            raise SettingsError(f"FEED_UPSTREAM_CA_BUNDLE: {self.upstream_ca_bundle!r} is not a file (a PEM bundle)")
        try:
            validate_org(self.organization)
        except FeedError as exc:
            raise SettingsError(f"FEED_ORGANIZATION: {exc.message}") from None
        try:
            validate_user(self.admin_user)
        except FeedError as exc:
            raise SettingsError(f"FEED_ADMIN_USER: {exc.message}") from None

    def _validate_credentials_keys(self) -> None:
        """Keys must decode; a Key Vault reference App Service could not resolve counts as unset (the app
        still starts, and storing credentials is refused with the reason)."""
        from feed_core.storage.credential_cipher import is_unresolved_reference, parse_key

        named = [("FEED_CREDENTIALS_KEY", self.credentials_key)] if self.credentials_key else []
        named += [("FEED_CREDENTIALS_OLD_KEYS", k) for k in self.credentials_old_keys]
        for name, text in named:
            if not is_unresolved_reference(text):
                try:
                    parse_key(text, name)
                except ValueError as exc:
                    raise SettingsError(str(exc)) from None

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
        return any(plain in network for network in self._proxy_networks)

    @functools.cached_property
    def _proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(e, strict=False) for e in self.trusted_proxies if e != "*")

    @functools.cached_property
    def upstream_allowed_network_ranges(self) -> tuple[IPNetwork, ...]:
        """FEED_UPSTREAM_ALLOWED_NETWORKS, parsed (validated in ``validate``)."""
        return parse_networks(self.upstream_allowed_networks)
