"""The ASGI lifespan: what uvicorn runs once before serving."""

from __future__ import annotations

import gc
from collections.abc import MutableMapping
from typing import Any

from feed_core.app import FeedApp


async def test_startup_moves_what_is_loaded_out_of_the_collectors_reach() -> None:
    """Full collections would otherwise rescan every module and pydantic validator while requests wait
    (measured: p99 of warm packument GETs ~50 ms without, ~33 ms with, in bench/npm_install.py)."""
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    gc.unfreeze()
    try:
        await FeedApp()({"type": "lifespan"}, receive, send)
        assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
