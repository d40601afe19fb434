"""The URLs the feed hands out come from the operator or the request's own Host, never from a caller's
forwarded headers; and the built-page cache stays within its byte budget whatever hosts callers send."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import ORG, Api, SettingsFactory, running_api
from tests.python_packages import make_wheel, upload_form

FORWARDED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


async def _publish_both(api: Api, description: str = "") -> None:
    r = await api.publish("pkg", "1.0.0", extra={"description": description} if description else None)
    assert r.status_code == 201, r.text
    filename, data, _ = make_wheel("pypkg", "1.0")
    fields, files = upload_form("pypkg", "1.0", filename, data)
    r = await api.http.post(f"/{ORG}/_packaging/feed/pypi/upload/", data=fields, files=files, headers=api.auth())
    assert r.status_code == 200, r.text


async def _urls(api: Api, headers: dict[str, Any]) -> list[str]:
    """The tarball URL, the Python file URL and the feed's API URL, as a caller with ``headers`` sees them."""
    npm = await api.http.get(api.registry() + "pkg", headers={**api.auth(), **headers})
    assert npm.status_code == 200, npm.text
    py = await api.http.get(
        f"/{ORG}/_packaging/feed/pypi/simple/pypkg/", headers={**api.auth(), **SIMPLE_JSON, **headers}
    )
    assert py.status_code == 200, py.text
    rest = await api.http.get(f"/{ORG}/_apis/packaging/feeds/feed", headers={**api.auth(), **headers})
    assert rest.status_code == 200, rest.text
    return [npm.json()["versions"]["1.0.0"]["dist"]["tarball"], py.json()["files"][0]["url"], rest.json()["url"]]


async def test_forwarded_headers_from_an_untrusted_caller_are_ignored(api: Api) -> None:
    await api.create_feed("feed")
    await _publish_both(api)
    for url in await _urls(api, FORWARDED):
        assert url.startswith("http://feed.test/"), url
    for url in await _urls(api, {"Host": "Other.Example:8080", **FORWARDED}):
        assert url.startswith("http://other.example:8080/"), url


@pytest.mark.parametrize(
    ("proxies", "believed"),
    [
        (("127.0.0.1",), True),
        (("10.0.0.0/8", "127.0.0.0/8"), True),
        (("*",), True),
        (("10.0.0.0/8",), False),
        (("::1",), False),
        ((), False),
    ],
)
async def test_forwarded_headers_from_a_trusted_proxy_are_believed(
    make_settings: SettingsFactory, proxies: tuple[str, ...], believed: bool
) -> None:
    async with running_api(make_settings(trusted_proxies=proxies)) as api:  # the test client is 127.0.0.1
        await api.create_feed("feed")
        await _publish_both(api)
        expected = "https://evil.example/" if believed else "http://feed.test/"
        for url in await _urls(api, {"X-Forwarded-Host": "evil.example, proxy.internal", "X-Forwarded-Proto": "https"}):
            assert url.startswith(expected), url


async def test_the_public_url_wins(make_settings: SettingsFactory) -> None:
    settings = make_settings(public_url="https://feeds.example.com", trusted_proxies=("*",))
    async with running_api(settings) as api:
        await api.create_feed("feed")
        await _publish_both(api)
        for url in await _urls(api, {"Host": "other.example", **FORWARDED}):
            assert url.startswith("https://feeds.example.com/"), url


@pytest.mark.parametrize("host", ["127.0.0.1:7071", "[::1]:8080", "feed.test.", "my_host.example", "A.Example"])
async def test_sane_hosts_are_accepted(api: Api, host: str) -> None:
    await api.create_feed("feed")
    r = await api.http.get(f"/{ORG}/_apis/packaging/feeds/feed", headers={**api.auth(), "Host": host})
    assert r.status_code == 200, r.text
    assert r.json()["url"].startswith(f"http://{host.lower()}/")


BAD_HOSTS = ["evil.example/path", "a b", "x" * 300, "h:99999", "h:abc", "[::1", "user@evil.example", "-x.example"]


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_an_invalid_host_is_400_in_each_protocols_shape(api: Api, host: str) -> None:
    await api.create_feed("feed")
    await _publish_both(api)
    headers = {**api.auth(), "Host": host}
    r = await api.http.get(api.registry() + "pkg", headers=headers)
    assert r.status_code == 400 and "Host" in r.json()["error"]
    r = await api.http.get(f"/{ORG}/_packaging/feed/pypi/simple/pypkg/", headers={**headers, **SIMPLE_JSON})
    assert r.status_code == 400 and "Host" in r.json()["message"]
    r = await api.http.get(f"/{ORG}/_apis/packaging/feeds/feed", headers=headers)
    assert r.status_code == 400 and "Host" in r.json()["message"]


@pytest.mark.parametrize(
    "headers",
    [{"X-Forwarded-Host": "evil.example/x"}, {"X-Forwarded-Proto": "gopher"}, {"X-Forwarded-Host": "a" * 300}],
)
async def test_invalid_forwarded_headers_from_a_trusted_proxy_are_400(
    make_settings: SettingsFactory, headers: dict[str, str]
) -> None:
    async with running_api(make_settings(trusted_proxies=("127.0.0.1",))) as api:
        await api.create_feed("feed")
        r = await api.http.get(f"/{ORG}/_apis/packaging/feeds/feed", headers={**api.auth(), **headers})
        assert r.status_code == 400, r.text
        assert "X-Forwarded" in r.json()["message"]


# --- the built-page cache ------------------------------------------------------------------------------


async def test_distinct_hosts_cannot_grow_the_page_cache_past_its_byte_limit(make_settings: SettingsFactory) -> None:
    limit = 150_000
    async with running_api(make_settings(page_cache_max_bytes=limit)) as api:
        await api.create_feed("feed")
        for i in range(30):  # a packument of a few dozen kilobytes
            r = await api.publish("pkg", f"1.0.{i}", extra={"description": f"{i} " + "d" * 200})
            assert r.status_code == 201, r.text
        filename, data, _ = make_wheel("pypkg", "1.0")
        fields, files = upload_form("pypkg", "1.0", filename, data)
        await api.http.post(f"/{ORG}/_packaging/feed/pypi/upload/", data=fields, files=files, headers=api.auth())
        pages = api.services.pages
        largest = 0
        for i in range(120):
            host = {"Host": f"h{i}.example"}
            r = await api.http.get(api.registry() + "pkg", headers={**api.auth(), **host})
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            largest = max(largest, len(r.content))
            r = await api.http.get(
                f"/{ORG}/_packaging/feed/pypi/simple/pypkg/", headers={**api.auth(), **host, **SIMPLE_JSON}
            )
            assert r.status_code == 200
            assert pages.size_bytes <= limit, (i, pages.size_bytes)
        assert largest > 15_000
        assert 2 <= len(pages) < 40
        # The most recently used pages are the ones kept.
        r = await api.http.get(api.registry() + "pkg", headers={**api.auth(), "Host": "h119.example"})
        assert r.status_code == 200


async def test_forwarded_hosts_from_untrusted_callers_share_one_page(api: Api) -> None:
    await api.create_feed("feed")
    await _publish_both(api)
    before = len(api.services.pages)
    for i in range(50):
        r = await api.http.get(api.registry() + "pkg", headers={**api.auth(), "X-Forwarded-Host": f"f{i}.example"})
        assert r.status_code == 200
    assert len(api.services.pages) == before + 1


async def test_a_page_larger_than_the_budget_is_served_but_not_kept(make_settings: SettingsFactory) -> None:
    async with running_api(make_settings(page_cache_max_bytes=1000)) as api:
        await api.create_feed("feed")
        await _publish_both(api, description="big " * 50)
        r = await api.http.get(api.registry() + "pkg", headers=api.auth())
        assert r.status_code == 200 and r.json()["name"] == "pkg"
        assert len(api.services.pages) == 0 and api.services.pages.size_bytes == 0


def test_httpx_sends_the_host_header_as_given() -> None:
    # The tests above rely on httpx passing a custom Host header through unchanged.
    request = httpx.Request("GET", "http://feed.test/", headers={"Host": "h1.example"})
    assert request.headers["host"] == "h1.example"
