"""How the Azure storage clients reach the account: no per-call environment lookups, one explicit proxy; and
the counter that sees each request they send."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from feed_core.storage.azure import client_transport_options
from feed_core.storage.calls import StorageCallCounter
from feed_core.storage.ports import Entity
from tests.azurite import open_unique_storage


def test_the_transport_reads_no_environment_and_takes_one_explicit_proxy() -> None:
    assert client_transport_options(None) == {"use_env_settings": False}
    proxy = "http://proxy.internal.test:3128"
    assert client_transport_options(proxy) == {"use_env_settings": False, "proxies": {"http": proxy, "https": proxy}}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.azurite
async def test_proxy_variables_of_the_process_do_not_reroute_storage_calls(
    azurite_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy variable meant for something else (here: a dead proxy, and no NO_PROXY) leaves storage alone."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, dead)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    store = await open_unique_storage(azurite_connection_string)
    try:
        await store.provision(["things"])
        await store.tables.insert("things", Entity("p", "r", {"v": "1"}))
        found = await store.tables.get("things", "p", "r")
        assert found is not None and found.get_str("v") == "1"
    finally:
        await store.close()


@pytest.mark.azurite
async def test_the_call_counter_sees_every_request_of_both_clients(azurite_connection_string: str) -> None:
    counter = StorageCallCounter()
    store = await open_unique_storage(azurite_connection_string, counter)

    async def one_chunk() -> AsyncIterator[bytes]:
        yield b"bytes"

    try:
        await store.provision(["things", "others"])
        assert counter.reset() == {("POST", "table-create"): 2, ("PUT", "container-create"): 1}
        await store.tables.insert("things", Entity("p", "r", {"v": "1"}))
        await store.tables.get("things", "p", "r")
        await store.tables.query("things", "p")
        await store.blobs.put_if_absent("k/1", one_chunk(), "application/octet-stream")
        assert await store.blobs.read_all("k/1") == b"bytes"
        assert counter.reset() == {
            ("POST", "table-insert"): 1,
            ("GET", "table-entity"): 1,
            ("GET", "table-query"): 1,
            ("PUT", "blob"): 1,
            ("GET", "blob"): 1,
        }
    finally:
        await store.close()
