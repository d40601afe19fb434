"""API tests: the ASGI app in-process (httpx ASGITransport) on both storage backends."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from feed_core.app import Receive, Scope, Send, create_app
from feed_core.service.container import Services, build_services
from feed_core.settings import Settings
from tests.npm_packages import publish_body

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
CREDENTIALS_KEY = base64.b64encode(bytes(range(32))).decode()
ORG = "local"
#: FEED_UPSTREAM_ALLOWED_NETWORKS of the tests: the outbound guard refuses loopback upstreams otherwise.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1")
STAFF = (
    ("alice", "contributor", "vso.packaging_write"),
    ("bob", "reader", "vso.packaging"),
    ("carol", "collaborator", "vso.packaging"),
)


class MutableClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture(params=["embedded", "azurite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "admin_token": ADMIN_TOKEN,
            "organization": ORG,
            "data_dir": tmp_path / "data",
            "credentials_key": CREDENTIALS_KEY,
            "upstream_allowed_networks": LOOPBACK_NETWORKS,  # the fixture upstreams run on 127.0.0.1
        }
        if backend == "azurite":
            unique = uuid.uuid4().hex[:10]
            base.update(
                storage="azure",
                connection_string=request.getfixturevalue("azurite_connection_string"),
                table_prefix=f"t{unique}",
                blob_container=f"c{unique}",
                download_redirect=False,
            )
        base.update(overrides)
        return Settings(**base)

    return make


@pytest.fixture
async def services(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Services]:
    settings = make_settings()
    svc = await build_services(settings, clock=clock)
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    yield svc
    await svc.close()


def in_process(svc: Services) -> httpx.ASGITransport:
    """The app as an in-process transport. A response is handed over once the saves it started have been stored
    and committed: the app answers as soon as an upstream file is verified and commits it afterwards, which
    ``tests/api/test_stream_through.py`` shows over real HTTP; here each request sees the previous ones' saves."""
    app = create_app(services=svc)

    async def settled(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http":
            await svc.upstreams.stores_done()

    return httpx.ASGITransport(app=settled)


@asynccontextmanager
async def running_api(settings: Settings, clock: MutableClock | None = None) -> AsyncIterator[Api]:
    """Services built from ``settings`` behind the ASGI app, with an httpx client on it."""
    svc = await build_services(settings, clock=clock or MutableClock())
    await svc.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
    try:
        async with httpx.AsyncClient(transport=in_process(svc), base_url="http://feed.test") as http:
            yield Api(http, svc)
    finally:
        await svc.close()


@dataclass
class Api:
    """An httpx client on the app plus shortcuts for the set-up steps most tests share."""

    http: httpx.AsyncClient
    services: Services
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str = "admin") -> dict[str, str]:
        token = ADMIN_TOKEN if who == "admin" else self.tokens[who]
        return {"Authorization": f"Bearer {token}"}

    async def create_feed(self, name: str = "feed", **body: Any) -> dict[str, Any]:
        r = await self.http.post(
            f"/{ORG}/_apis/packaging/feeds?api-version=7.1", json={"name": name, **body}, headers=self.auth()
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def grant(self, feed: str, user: str, role: str) -> None:
        r = await self.http.patch(
            f"/{ORG}/_apis/packaging/Feeds/{feed}/permissions?api-version=7.1",
            json=[{"role": role, "identityDescriptor": user}],
            headers=self.auth(),
        )
        assert r.status_code == 200, r.text

    async def token(self, user: str, scope: str = "vso.packaging_write") -> str:
        r = await self.http.post(
            f"/{ORG}/_apis/tokens/pats?api-version=7.1-preview.1",
            json={"user": user, "scope": scope, "displayName": user},
            headers=self.auth(),
        )
        assert r.status_code == 200, r.text
        token = str(r.json()["patToken"]["token"])
        self.tokens[user] = token
        return token

    async def staff(self, feed: str = "feed") -> None:
        """alice (contributor, write token), bob (reader) and carol (collaborator), both with read tokens."""
        for user, role, scope in STAFF:
            await self.grant(feed, user, role)
            if user not in self.tokens:
                await self.token(user, scope)

    async def follow_internal_upstream(
        self, feed: str, upstream: str, protocols: tuple[str, ...] = ("npm", "pypi")
    ) -> None:
        """Share ``upstream``'s @Local view with the organization and make it ``feed``'s upstream source for
        each protocol (named ``{upstream}-{protocol}``)."""
        feeds = f"/{ORG}/_apis/packaging/feeds"
        r = await self.http.patch(
            f"{feeds}/{upstream}/views/Local", json={"visibility": "collection"}, headers=self.auth()
        )
        assert r.status_code == 200, r.text
        sources = [
            {
                "name": f"{upstream}-{protocol}",
                "protocol": protocol,
                "upstreamSourceType": "internal",
                "internalUpstreamFeedId": upstream,
                "internalUpstreamViewId": "Local",
            }
            for protocol in protocols
        ]
        r = await self.http.patch(f"{feeds}/{feed}", json={"upstreamSources": sources}, headers=self.auth())
        assert r.status_code == 200, r.text

    @staticmethod
    def registry(feed: str = "feed", view: str | None = None) -> str:
        ref = f"{feed}@{view}" if view else feed
        return f"/{ORG}/_packaging/{ref}/npm/registry/"

    async def publish(
        self, name: str, version: str, *, who: str = "admin", feed: str = "feed", **kwargs: Any
    ) -> httpx.Response:
        escaped = name.replace("/", "%2f")
        return await self.http.put(
            f"{self.registry(feed)}{escaped}", json=publish_body(name, version, **kwargs), headers=self.auth(who)
        )


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(transport=in_process(services), base_url="http://feed.test") as http:
        yield Api(http, services)


@pytest.fixture
async def feed_api(api: Api) -> Api:
    """A feed named ``feed`` with alice (contributor), bob (reader), carol (collaborator) and tokens for them."""
    await api.create_feed("feed")
    await api.staff("feed")
    return api
