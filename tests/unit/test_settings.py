import re
from pathlib import Path

import pytest

from feed_core.settings import SETTINGS, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_readme_settings_table_matches_the_code_both_ways() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(FEED_[A-Z_]+)` \|", readme, flags=re.M))
    assert documented == set(SETTINGS)


def test_code_reads_only_declared_settings() -> None:
    used: set[str] = set()
    for path in (ROOT / "feed_core").rglob("*.py"):
        used |= set(re.findall(r"\"(FEED_[A-Z_]+)\"", path.read_text()))
    assert used <= set(SETTINGS)


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.storage == "embedded" and s.organization == "local" and s.max_upload_bytes == 100 * 1024 * 1024


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FEED_STORAGE": "s3"}, "FEED_STORAGE"),
        ({"FEED_STORAGE": "azure"}, "FEED_STORAGE_CONNECTION_STRING"),
        ({"FEED_MAX_UPLOAD_BYTES": "lots"}, "FEED_MAX_UPLOAD_BYTES"),
        ({"FEED_MAX_UPLOAD_BYTES": "10"}, "at least"),
        ({"FEED_DOWNLOAD_REDIRECT": "maybe"}, "FEED_DOWNLOAD_REDIRECT"),
        ({"FEED_PUBLIC_SOURCES": "{"}, "FEED_PUBLIC_SOURCES"),
        ({"FEED_PUBLIC_SOURCES": '{"x": 1}'}, "FEED_PUBLIC_SOURCES"),
        ({"FEED_ADMIN_TOKEN": "short"}, "FEED_ADMIN_TOKEN"),
        ({"FEED_ORGANIZATION": "bad org"}, "FEED_ORGANIZATION"),
        ({"FEED_PUBLIC_URL": "ftp://x"}, "FEED_PUBLIC_URL"),
        ({"FEED_TRUSTED_PROXIES": "10.0.0.1, proxy.internal"}, "FEED_TRUSTED_PROXIES"),
        ({"FEED_BODY_READ_TIMEOUT_SECONDS": "0"}, "FEED_BODY_READ_TIMEOUT_SECONDS"),
        ({"FEED_PAGE_CACHE_MAX_BYTES": "-1"}, "FEED_PAGE_CACHE_MAX_BYTES"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        Settings.from_env(env)


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
