"""Under `serve` (real uvicorn), forwarded headers are judged by the feed's settings alone: uvicorn's own
proxy handling would believe a local caller's X-Forwarded-For/-Proto and hand the feed a forged client
address and scheme."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import ORG, FeedServer, own_embedded_server
from tests.npm_packages import publish_body

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedServer]:
    """A server that trusts proxies in 10.0.0.0/8 only; the tests call it from 127.0.0.1."""
    with own_embedded_server(tmp_path_factory.mktemp("feed-proxied"), FEED_TRUSTED_PROXIES="10.0.0.0/8") as server:
        yield server


def _tarball_url(server: FeedServer, headers: dict[str, str]) -> str:
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30.0, headers=auth) as client:
        if client.get(f"/{ORG}/_apis/packaging/feeds/fwd").status_code == 404:
            assert client.post(f"/{ORG}/_apis/packaging/feeds", json={"name": "fwd"}).status_code == 201
            r = client.put(server.npm_registry("fwd") + "pkg", json=publish_body("pkg", "1.0.0"))
            assert r.status_code in (200, 201), r.text
        r = client.get(server.npm_registry("fwd") + "pkg", headers=headers)
        assert r.status_code == 200, r.text
        url: str = r.json()["versions"]["1.0.0"]["dist"]["tarball"]
        return url


@pytest.mark.parametrize(
    "forged",
    [
        {"X-Forwarded-Proto": "https"},
        {"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
        {"X-Forwarded-For": "10.1.2.3, 127.0.0.1", "X-Forwarded-Host": "evil.example"},
    ],
)
def test_forged_forwarded_headers_from_localhost_do_not_change_urls(
    proxied_server: FeedServer, forged: dict[str, str]
) -> None:
    expected = f"{proxied_server.base_url}/{ORG}/_packaging/fwd/npm/registry/pkg/-/pkg-1.0.0.tgz"
    assert _tarball_url(proxied_server, {}) == expected
    assert _tarball_url(proxied_server, forged) == expected
