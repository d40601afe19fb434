import re
from pathlib import Path

import pytest

from feed_core.domain.public_sources import ConfiguredSource
from feed_core.settings import SETTINGS, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_readme_settings_table_matches_the_code_both_ways() -> None:
    """Names, defaults and descriptions: the README's table is the Settings class, written out."""
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(FEED_[A-Z_]+)` \| (?:`([^`]*)`)? ?\| (.*) \|$", readme, flags=re.M)
    documented = {name: (default, description) for name, default, description in rows}
    assert set(documented) == set(SETTINGS)
    assert documented == SETTINGS


def test_code_reads_only_declared_settings() -> None:
    used: set[str] = set()
    for path in (ROOT / "feed_core").rglob("*.py"):
        used |= set(re.findall(r"\"(FEED_[A-Z_]+)\"", path.read_text()))
    assert used <= set(SETTINGS)


def test_settings_is_derived_from_the_fields_and_its_defaults_read_back() -> None:
    """Every field has its own FEED_* name, and each default, written as an environment value, reads back as it."""
    assert len(SETTINGS) == len(Settings.model_fields)
    assert SETTINGS["FEED_UPSTREAM_METADATA_TTL_SECONDS"] == (
        "300",
        "how long upstream metadata is fresh before it is revalidated",
    )
    assert SETTINGS["FEED_DOWNLOAD_REDIRECT"][0] == "true" and SETTINGS["FEED_PUBLIC_SOURCES"][0] == "{}"
    written_out = {name: default for name, (default, _) in SETTINGS.items()}
    assert Settings.from_env(written_out) == Settings() == Settings.from_env({})


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.storage == "embedded" and s.organization == "local" and s.max_upload_bytes == 100 * 1024 * 1024
    assert s.data_dir == Path(".feed-data") and s.upstream_timeout == 10.0 and s.public_sources == {}


def test_values_are_read_and_typed() -> None:
    s = Settings.from_env(
        {
            "FEED_STORAGE": " Embedded ",
            "FEED_DATA_DIR": "/srv/feed",
            "FEED_DOWNLOAD_REDIRECT": "off",
            "FEED_SAS_TTL_SECONDS": " 60 ",
            "FEED_UPSTREAM_TIMEOUT_SECONDS": "2.5",
            "FEED_PUBLIC_URL": "https://feeds.example.com/",
            "FEED_PUBLIC_SOURCES": '{"npmjs": {"protocol": "NPM", "url": "https://registry.example/"}}',
            "FEED_LOG_LEVEL": "debug",
        }
    )
    assert s.storage == "embedded" and s.data_dir == Path("/srv/feed") and s.download_redirect is False
    assert s.sas_ttl_seconds == 60 and s.upstream_timeout == 2.5 and s.log_level == "DEBUG"
    assert s.public_url == "https://feeds.example.com"
    assert s.public_sources == {"npmjs": ConfiguredSource(protocol="npm", url="https://registry.example/")}


def test_an_empty_value_means_the_default() -> None:
    s = Settings.from_env({"FEED_SAS_TTL_SECONDS": "  ", "FEED_ORGANIZATION": "", "FEED_PUBLIC_SOURCES": " "})
    assert s.sas_ttl_seconds == 300 and s.organization == "local" and s.public_sources == {}


def test_a_given_mapping_is_the_only_environment_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("FEED_ORGANIZATION=from-a-dotenv-file\n")
    monkeypatch.delenv("FEED_ORGANIZATION", raising=False)
    assert Settings.from_env().organization == "local"  # no .env file is read
    monkeypatch.setenv("FEED_ORGANIZATION", "from-the-process")
    assert Settings.from_env().organization == "from-the-process"
    assert Settings.from_env({}).organization == "local"
    assert Settings().organization == "local"  # construction takes only what it is given


def test_overrides_by_field_name_win_over_the_environment() -> None:
    s = Settings.from_env({"FEED_ORGANIZATION": "env-org", "FEED_DATA_DIR": "env"}, data_dir=Path("given"))
    assert s.data_dir == Path("given") and s.organization == "env-org"
    with pytest.raises(SettingsError, match="'data_dri' is not a setting"):
        Settings.from_env({}, data_dri=Path("typo"))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # not a number
        ({"FEED_MAX_UPLOAD_BYTES": "lots"}, "FEED_MAX_UPLOAD_BYTES must be a whole number, not 'lots'"),
        ({"FEED_MAX_UPLOAD_BYTES": "1.5"}, "FEED_MAX_UPLOAD_BYTES must be a whole number, not '1.5'"),
        ({"FEED_CACHE_SECONDS": "soon"}, "FEED_CACHE_SECONDS must be a number, not 'soon'"),
        ({"FEED_CACHE_SECONDS": "nan"}, "FEED_CACHE_SECONDS must be a finite number, not 'nan'"),
        ({"FEED_UPSTREAM_TIMEOUT_SECONDS": "inf"}, "FEED_UPSTREAM_TIMEOUT_SECONDS must be a finite number, not 'inf'"),
        # below the minimum
        ({"FEED_MAX_UPLOAD_BYTES": "10"}, "FEED_MAX_UPLOAD_BYTES must be at least 1024, not 10"),
        ({"FEED_SAS_TTL_SECONDS": "29"}, "FEED_SAS_TTL_SECONDS must be at least 30, not 29"),
        ({"FEED_BODY_READ_TIMEOUT_SECONDS": "0"}, "FEED_BODY_READ_TIMEOUT_SECONDS must be at least 1, not 0"),
        ({"FEED_UPSTREAM_CONNECT_TIMEOUT_SECONDS": "0.5"}, "must be at least 1, not 0.5"),
        ({"FEED_PAGE_CACHE_MAX_BYTES": "-1"}, "FEED_PAGE_CACHE_MAX_BYTES must be at least 0, not -1"),
        ({"FEED_GC_GRACE_HOURS": "0"}, "FEED_GC_GRACE_HOURS must be at least 1, not 0"),
        ({"FEED_RECYCLE_BIN_DAYS": "0"}, "FEED_RECYCLE_BIN_DAYS must be at least 1, not 0"),
        ({"FEED_RECYCLE_BIN_DAYS": "3651"}, "FEED_RECYCLE_BIN_DAYS must be at most 3650, not 3651"),
        ({"FEED_RECYCLE_BIN_DAYS": "1.5"}, "FEED_RECYCLE_BIN_DAYS must be a whole number"),
        # not a flag, not a choice
        ({"FEED_DOWNLOAD_REDIRECT": "maybe"}, "FEED_DOWNLOAD_REDIRECT must be true or false, not 'maybe'"),
        ({"FEED_STORAGE": "s3"}, "FEED_STORAGE must be 'embedded' or 'azure', not 's3'"),
        # JSON
        ({"FEED_PUBLIC_SOURCES": "{"}, "FEED_PUBLIC_SOURCES is not valid JSON: Expecting property name"),
        ({"FEED_PUBLIC_SOURCES": "[]"}, 'FEED_PUBLIC_SOURCES must map names to {"protocol": "...", "url": "..."}'),
        ({"FEED_PUBLIC_SOURCES": '{"x": 1}'}, "source 'x' must be an object"),
        ({"FEED_PUBLIC_SOURCES": '{"x": {"protocol": "npm"}}'}, "source 'x' lacks 'url'"),
        ({"FEED_PUBLIC_SOURCES": '{"x": {"protocol": "npm", "url": 7}}'}, "source 'x': 'url' must be a string"),
        ({"FEED_PUBLIC_SOURCES": '{"x": {"protocol": "npm", "url": "ftp://x/"}}'}, "'url' must be an http(s) URL"),
        ({"FEED_PUBLIC_SOURCES": '{"x": {"protocol": "", "url": "http://x/"}}'}, "'protocol' must be one of npm, pypi"),
        (
            {"FEED_PUBLIC_SOURCES": '{"x": {"protocol": "npn", "url": "http://x/"}}'},
            "'protocol' must be one of npm, pypi",
        ),
        (
            {"FEED_PUBLIC_SOURCES": '{"x": {"protocol": 1, "url": "http://x/"}}'},
            "source 'x': 'protocol' must be one of",
        ),
        ({"FEED_PUBLIC_SOURCES": '{"x": {"protocol": "npm", "url": ""}}'}, "source 'x' has an empty 'url'"),
        (
            {"FEED_PUBLIC_SOURCES": '{"x": {"protocol": "npm", "url": "http://x/", "uri": "y"}}'},
            "source 'x' has an unknown key 'uri'",
        ),
        # schedules
        ({"FEED_REFRESH_SCHEDULE": "*/15 * * * *"}, "FEED_REFRESH_SCHEDULE: '*/15 * * * *' is not an NCRONTAB"),
        ({"FEED_GC_SCHEDULE": "0 99 * * * *"}, "FEED_GC_SCHEDULE: "),
        # addresses, URLs, files
        ({"FEED_PUBLIC_URL": "ftp://x"}, "FEED_PUBLIC_URL must be an http(s) URL, not 'ftp://x'"),
        (
            {"FEED_TRUSTED_PROXIES": "10.0.0.1, proxy.internal"},
            "FEED_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or CIDR range (or `*`)",
        ),
        ({"FEED_UPSTREAM_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "FEED_UPSTREAM_ALLOWED_NETWORKS: "),
        ({"FEED_UPSTREAM_CA_BUNDLE": "/nonexistent/ca.pem"}, "FEED_UPSTREAM_CA_BUNDLE: '/nonexistent/ca.pem' is not"),
        # names and tokens
        ({"FEED_ORGANIZATION": "bad org"}, "FEED_ORGANIZATION: invalid"),
        ({"FEED_ADMIN_USER": "bad user"}, "FEED_ADMIN_USER: invalid user name"),
        ({"FEED_ADMIN_TOKEN": "short"}, "FEED_ADMIN_TOKEN must be at least 16 characters long"),
        # the storage account
        (
            {"FEED_STORAGE": "azure"},
            "FEED_STORAGE=azure needs FEED_STORAGE_CONNECTION_STRING, or both FEED_STORAGE_TABLE_URL and "
            "FEED_STORAGE_BLOB_URL",
        ),
        ({"FEED_STORAGE": "azure", "FEED_STORAGE_TABLE_URL": "https://a.table"}, "FEED_STORAGE=azure needs"),
    ],
)
def test_bad_settings_name_the_setting_in_plain_words(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    text = str(info.value)
    assert message in text
    assert text.startswith(next(iter(env))) or "FEED_STORAGE" in text
    # never a raw validation dump
    assert "Input should" not in text and "validation error" not in text and "type=" not in text


def test_every_bad_setting_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"FEED_MAX_UPLOAD_BYTES": "lots", "FEED_GC_GRACE_HOURS": "0"})
    assert str(info.value) == (
        "FEED_MAX_UPLOAD_BYTES must be a whole number, not 'lots'; FEED_GC_GRACE_HOURS must be at least 1, not 0"
    )


def test_secrets_stay_out_of_messages_and_reprs() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"FEED_ADMIN_TOKEN": "short-secret", "FEED_CREDENTIALS_KEY": "not-a-key-secret"})
    assert "short-secret" not in str(info.value) and "not-a-key-secret" not in str(info.value)
    # nor in the pydantic error it was made from, kept as its context (error reporters print it)
    assert "secret" not in str(info.value.__context__) and "secret" not in repr(info.value.__context__)
    with pytest.raises(SettingsError) as info:
        Settings(credentials_key=12345678)
    assert str(info.value) == "FEED_CREDENTIALS_KEY must be text" and "12345678" not in str(info.value)
    s = Settings(connection_string="AccountKey=very-secret", admin_token="admin-token-very-secret")
    assert "very-secret" not in repr(s)


def test_construction_by_field_name_obeys_the_same_rules() -> None:
    s = Settings(organization="acme", data_dir="d", trusted_proxies=("10.0.0.0/8",), upstream_timeout=2)
    assert s.organization == "acme" and s.data_dir == Path("d") and s.upstream_timeout == 2.0
    with pytest.raises(SettingsError, match="FEED_GC_GRACE_HOURS must be at least 1, not 0"):
        Settings(gc_grace_hours=0)
    with pytest.raises(SettingsError, match="FEED_ORGANIZATION: invalid"):
        Settings(organization="bad org")


def test_settings_are_frozen_and_a_copy_sees_its_own_values() -> None:
    s = Settings.from_env({"FEED_TRUSTED_PROXIES": "10.0.0.0/8"})
    with pytest.raises(Exception, match="frozen"):
        s.organization = "other"  # type: ignore[misc]
    assert s.trusts_proxy("10.1.2.3")
    moved = s.model_copy(update={"trusted_proxies": ("192.168.0.0/16",)})
    assert moved.trusts_proxy("192.168.1.1") and not moved.trusts_proxy("10.1.2.3") and s.trusts_proxy("10.1.2.3")


def test_trusted_proxies() -> None:
    s = Settings.from_env({"FEED_TRUSTED_PROXIES": " 10.0.0.0/8 , 2001:db8::1,"})
    assert s.trusted_proxies == ("10.0.0.0/8", "2001:db8::1")
    assert s.trusts_proxy("10.1.2.3") and s.trusts_proxy("2001:db8::1")
    assert not s.trusts_proxy("127.0.0.1") and not s.trusts_proxy(None) and not s.trusts_proxy("testclient")
    assert not Settings.from_env({}).trusts_proxy("127.0.0.1")
    assert Settings.from_env({"FEED_TRUSTED_PROXIES": "*"}).trusts_proxy(None)


def test_trusted_proxies_match_ipv4_callers_of_a_dual_stack_listener() -> None:
    s = Settings.from_env({"FEED_TRUSTED_PROXIES": "10.0.0.0/8"})
    assert s.trusts_proxy("::ffff:10.1.2.3")
    assert not s.trusts_proxy("::ffff:127.0.0.1")


def test_azure_with_account_urls_is_valid() -> None:
    s = Settings.from_env(
        {
            "FEED_STORAGE": "azure",
            "FEED_STORAGE_TABLE_URL": "https://a.table",
            "FEED_STORAGE_BLOB_URL": "https://a.blob",
        }
    )
    assert s.storage == "azure"


def test_importing_settings_does_not_import_the_heavy_parts() -> None:
    """Functions cold start: the cipher (cryptography) and the name rules load only when a value needs them."""
    import subprocess
    import sys

    heavy = ("cryptography", "feed_core.storage", "feed_core.service")
    probe = f"import sys, feed_core.settings; print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
