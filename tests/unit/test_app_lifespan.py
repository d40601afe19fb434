"""The ASGI lifespan: what uvicorn runs once before serving."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

import feed_core.app
from feed_core.app import FeedApp
from feed_core.service.container import Services, build_services
from feed_core.settings import Settings

Message = MutableMapping[str, Any]


async def run_lifespan(app: FeedApp) -> list[Message]:
    """Start the app's lifespan, then shut it down; the messages it sent."""
    messages: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    return sent


async def test_startup_moves_what_is_loaded_out_of_the_collectors_reach(tmp_path: Path) -> None:
    """Full collections would otherwise rescan every module and pydantic validator while requests wait
    (measured: p99 of warm packument GETs ~50 ms without, ~33 ms with, in bench/npm_install.py)."""
    gc.unfreeze()
    try:
        sent = await run_lifespan(FeedApp(Settings(data_dir=tmp_path / "data")))
        assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_the_lifespan_runs_the_one_start_up_and_requests_reuse_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` starts once, in the lifespan: storage, bootstrap (with the administrator token it mints on
    first start, handed to ``on_started``), before any request; the requests reuse those services."""
    builds: list[Settings] = []

    async def counting_build(settings: Settings, **kwargs: Any) -> Services:
        builds.append(settings)
        return await build_services(settings, **kwargs)

    monkeypatch.setattr(feed_core.app, "build_services", counting_build)
    started: list[str | None] = []
    app = FeedApp(
        Settings(data_dir=tmp_path / "data"),
        mint_admin_token=True,
        on_started=lambda services, minted: started.append(minted),
    )
    messages: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await messages.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, messages.get, send))
    while not sent:
        await asyncio.sleep(0.01)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete"]
    assert len(builds) == 1 and len(started) == 1
    assert started[0] is not None and started[0].startswith("fpat_")
    services = await app.services()
    assert await services.identity.authenticate("local", started[0])
    assert len(builds) == 1, "a request after the lifespan start-up built the services again"
    await messages.put({"type": "lifespan.shutdown"})
    await lifespan
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_a_failed_start_up_fails_the_lifespan_with_the_reason(tmp_path: Path) -> None:
    """uvicorn then exits with the message instead of serving errors."""
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    sent = await run_lifespan(FeedApp(Settings(data_dir=blocker)))
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "start-up failed" in sent[0]["message"]


async def test_a_start_up_whose_storage_creation_fails_closes_the_storage_it_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the Functions host every request retries a failed start-up: each must not leave clients open."""
    import feed_core.service.container as container

    closed: list[bool] = []

    class FailingStorage:
        async def provision(self, tables: Any) -> None:
            raise ConnectionError("storage unreachable")

        async def close(self) -> None:
            closed.append(True)

    async def open_failing(settings: Settings, **kwargs: Any) -> Any:
        return FailingStorage()

    monkeypatch.setattr(container, "open_storage", open_failing)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await build_services(Settings(data_dir=tmp_path / "data", storage_create=True))
    assert closed == [True, True]
