"""Start-up and the first answer on Azure storage (Azurite), counted by the storage call counter.

Start-up creates the tables and the container once per process (when FEED_STORAGE_CREATE says so) and
reads the organization and administrator token; request paths never create anything, and a restarted
server's first authenticated answer costs at most 6 storage calls.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient

import feed_core.app
import feed_core.service.container
from feed_core.app import FeedApp
from feed_core.service.container import Services, build_services, open_storage
from feed_core.settings import Settings
from feed_core.storage.azure import physical_table_name
from feed_core.storage.calls import StorageCallCounter
from feed_core.storage.layout import ALL_TABLES
from feed_core.storage.packages import PACKAGES
from tests.npm_packages import publish_body

pytestmark = pytest.mark.azurite

ADMIN_TOKEN = "startup-admin-token-0123456789abcdef"
ORG = "local"
FEEDS = f"/{ORG}/_apis/packaging/feeds?api-version=7.1"
PACKUMENT = f"/{ORG}/_packaging/feed/npm/registry/left-pad"
#: What the first answer of a restarted server may cost (issue 11).
FIRST_ANSWER_MAX_CALLS = 6
CREATES = len(ALL_TABLES) + 1  # every table, and the container


def azure_settings(connection_string: str, **overrides: Any) -> Settings:
    unique = uuid.uuid4().hex[:10]
    base: dict[str, Any] = {
        "storage": "azure",
        "connection_string": connection_string,
        "table_prefix": f"t{unique}",
        "blob_container": f"c{unique}",
        "admin_token": ADMIN_TOKEN,
        "organization": ORG,
        "download_redirect": False,
    }
    return Settings(**{**base, **overrides})


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> StorageCallCounter:
    """Every storage client the app builds counts its requests here."""
    calls = StorageCallCounter()

    async def counted(settings: Settings, *, call_counter: StorageCallCounter | None = None) -> Any:
        return await open_storage(settings, call_counter=call_counter or calls)

    monkeypatch.setattr(feed_core.service.container, "open_storage", counted)
    return calls


@asynccontextmanager
async def client(app: FeedApp) -> AsyncIterator[httpx.AsyncClient]:
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://feed.test") as http:
            yield http
    finally:
        await app.close()


async def seed(settings: Settings) -> str:
    """A first life of the server: a feed with one package, and bob (reader) with a read token of his own."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with client(FeedApp(settings)) as http:
        r = await http.post(FEEDS, json={"name": "feed"}, headers=admin)
        assert r.status_code == 201, r.text
        r = await http.put(PACKUMENT, json=publish_body("left-pad", "1.0.0"), headers=admin)
        assert r.status_code == 201, r.text
        r = await http.patch(
            f"/{ORG}/_apis/packaging/Feeds/feed/permissions?api-version=7.1",
            json=[{"role": "reader", "identityDescriptor": "bob"}],
            headers=admin,
        )
        assert r.status_code == 200, r.text
        r = await http.post(
            f"/{ORG}/_apis/tokens/pats?api-version=7.1-preview.1",
            json={"user": "bob", "scope": "vso.packaging", "displayName": "bob"},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["patToken"]["token"])


def kinds(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_, kind), n in counts.items():
        out[kind] = out.get(kind, 0) + n
    return out


@pytest.mark.parametrize("create", [True, False], ids=["FEED_STORAGE_CREATE=true", "FEED_STORAGE_CREATE=false"])
async def test_a_restarted_server_answers_first_within_six_storage_calls(
    azurite_connection_string: str, counter: StorageCallCounter, create: bool
) -> None:
    """Start-up: the creates (when enabled, all at once) and the bootstrap's two reads. Then the first
    packument GET and the first feed list, each with a user's own token, stay within the budget and
    create nothing."""
    settings = azure_settings(azurite_connection_string)
    bob = await seed(settings)
    settings = settings.model_copy(update={"storage_create": create})
    bob_auth = {"Authorization": f"Bearer {bob}"}

    for path in (PACKUMENT, FEEDS):
        counter.reset()
        app = FeedApp(settings)
        await app.services()  # the start-up, as the lifespan runs it
        start_up = counter.reset()
        assert kinds(start_up).get("table-create", 0) == (len(ALL_TABLES) if create else 0), start_up
        assert kinds(start_up).get("container-create", 0) == (1 if create else 0), start_up
        assert sum(start_up.values()) == (CREATES if create else 0) + 2, start_up  # + the org and the admin token

        async with client(app) as http:
            r = await http.get(path, headers=bob_auth)
            assert r.status_code == 200, r.text
            first = counter.reset()
            assert sum(first.values()) <= FIRST_ANSWER_MAX_CALLS, f"GET {path}: {first}"
            assert not any(kind.endswith("-create") for kind in kinds(first)), first


async def test_concurrent_first_requests_share_one_start_up(
    azurite_connection_string: str, counter: StorageCallCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a lifespan (Azure Functions), the first requests start the app; arriving together, they share
    that one start-up: one build, one set of creates, one bootstrap."""
    settings = azure_settings(azurite_connection_string)
    bob = await seed(settings)
    builds = 0

    async def counting_build(settings: Settings, **kwargs: Any) -> Services:
        nonlocal builds
        builds += 1
        return await build_services(settings, **kwargs)

    monkeypatch.setattr(feed_core.app, "build_services", counting_build)
    counter.reset()
    async with client(FeedApp(settings)) as http:
        answers = await asyncio.gather(
            *(http.get(PACKUMENT, headers={"Authorization": f"Bearer {bob}"}) for _ in range(8))
        )
    assert [r.status_code for r in answers] == [200] * 8
    assert builds == 1
    counts = kinds(counter.snapshot())
    assert counts["table-create"] == len(ALL_TABLES) and counts["container-create"] == 1, counts


async def test_a_missing_table_is_a_clear_error_not_a_create(
    azurite_connection_string: str, counter: StorageCallCounter
) -> None:
    """Deployment made every table but one: the request that needs it gets a 503 naming the table and the fix,
    and the table is still missing afterwards."""
    settings = azure_settings(azurite_connection_string, storage_create=False)
    storage = await open_storage(settings)
    try:
        await storage.provision([t for t in ALL_TABLES if t != PACKAGES])
    finally:
        await storage.close()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    missing = physical_table_name(settings.table_prefix, PACKAGES)

    async with client(FeedApp(settings)) as http:
        r = await http.post(FEEDS, json={"name": "feed"}, headers=admin)
        assert r.status_code == 201, r.text
        counter.reset()
        r = await http.get(PACKUMENT, headers=admin)
        assert r.status_code == 503, r.text
        assert missing in r.text and "FEED_STORAGE_CREATE=true" in r.text, r.text
        assert "table-create" not in kinds(counter.snapshot())

    async with TableServiceClient.from_connection_string(azurite_connection_string) as tables:
        names = {t.name async for t in tables.list_tables()}
    assert missing not in names


async def test_a_missing_container_is_a_clear_error_not_a_create(
    azurite_connection_string: str, counter: StorageCallCounter
) -> None:
    settings = azure_settings(azurite_connection_string, storage_create=False)
    storage = await open_storage(settings)
    try:
        await storage.tables.provision(ALL_TABLES)
    finally:
        await storage.close()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with client(FeedApp(settings)) as http:
        r = await http.post(FEEDS, json={"name": "feed"}, headers=admin)
        assert r.status_code == 201, r.text
        counter.reset()
        r = await http.put(PACKUMENT, json=publish_body("left-pad", "1.0.0"), headers=admin)
        assert r.status_code == 503, r.text
        assert repr(settings.blob_container) in r.text and "FEED_STORAGE_CREATE=true" in r.text, r.text
        assert "container-create" not in kinds(counter.snapshot())


async def test_provisioning_creates_every_table_and_the_container_and_may_run_again(
    azurite_connection_string: str, counter: StorageCallCounter
) -> None:
    settings = azure_settings(azurite_connection_string)
    for _ in range(2):  # a second start finds everything there (409s) and carries on
        counter.reset()
        services = await build_services(settings)
        await services.close()
        counts = kinds(counter.snapshot())
        assert counts == {"table-create": len(ALL_TABLES), "container-create": 1}, counts

    expected = {physical_table_name(settings.table_prefix, t) for t in ALL_TABLES}
    async with TableServiceClient.from_connection_string(azurite_connection_string) as tables:
        names = {t.name async for t in tables.list_tables()}
    assert expected <= names
    async with BlobServiceClient.from_connection_string(azurite_connection_string) as blobs:
        assert await blobs.get_container_client(settings.blob_container).exists()


async def test_embedded_provisioning_makes_the_database_and_the_blob_directory(tmp_path: Path) -> None:
    services = await build_services(Settings(data_dir=tmp_path / "data"))
    await services.close()
    assert (tmp_path / "data" / "feed.sqlite3").is_file()
    assert (tmp_path / "data" / "blobs").is_dir()


async def test_start_up_on_storage_nobody_created_answers_503_naming_the_table(
    azurite_connection_string: str, counter: StorageCallCounter
) -> None:
    """FEED_STORAGE_CREATE=false and a deployment that created nothing: the first request (which starts the
    app, as on Azure Functions) says what is missing and how to fix it, and creates nothing."""
    settings = azure_settings(azurite_connection_string, storage_create=False)
    async with client(FeedApp(settings)) as http:
        r = await http.get(FEEDS, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 503, r.text
    read_first = [physical_table_name(settings.table_prefix, t) for t in ("orgs", "tokens")]  # read at once
    assert any(f"table {name!r}" in r.text for name in read_first), r.text
    assert "FEED_STORAGE_CREATE=true" in r.text, r.text
    assert counter.creates == 0, counter.snapshot()
