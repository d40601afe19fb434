"""Defects found reviewing the web UI that need no storage: index rows within Azure's property limits, and
readme rendering kept off the event loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from feed_core.domain.models import PackageVersion
from feed_core.storage.packages import IndexEntry, _index_props
from feed_core.ui import package_data

#: Azure Tables: a string property holds at most 32K UTF-16 units; an entity at most 1 MiB.
AZURE_PROPERTY_CHARS = 32 * 1024
AZURE_ENTITY_BYTES = 1024 * 1024


def test_an_index_row_stays_within_azures_limits_however_many_views_and_keywords() -> None:
    """A feed may have ~290 views (its settings document is the limit) and a version number may be 256
    characters: the ``views`` property then needs ~75,000 characters, more than Azure stores in one."""
    version = "1.0.0-" + "a" * 200
    entry = IndexEntry(
        "pkg",
        version,
        "d" * 5000,
        ["k" * 2000] * 60,
        "2026-12-04T00:00:00Z",
        "alice",
        origin="local",
        origins={f"{i:08d}-0000-0000-0000-000000000000": "n" * 100 for i in range(300)},
        views={f"{i:08d}-0000-0000-0000-000000000000": (version, "local") for i in range(290)},
    )
    props = _index_props(entry)
    for name, value in props.items():
        assert len(str(value)) <= AZURE_PROPERTY_CHARS, name
    assert sum(2 * len(str(v)) for v in props.values()) < AZURE_ENTITY_BYTES


async def test_rendering_a_hostile_readme_does_not_stall_other_requests() -> None:
    """Markdown of 200,000 characters takes seconds of CPU to render (``![`` repeated: ~2.5 s here); rendered on
    the event loop, every other request of the worker waited for it, on each view of the readme tab."""
    manifest: dict[str, Any] = {"readme": "![" * 100_000}
    record = PackageVersion("npm", "p", "1.0.0", manifest, "", "", "", "", 0, "2026-01-01", "alice")
    row = package_data.VersionRow(record, True, [], [], [], True)
    gaps: list[float] = []
    done = False

    async def tick() -> None:
        last = time.monotonic()
        while not done:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    started = time.monotonic()
    shown = await package_data.readme(cast(Any, None), "npm", row)
    took = time.monotonic() - started
    done = True
    await ticker
    assert shown.html
    assert max(gaps) < max(0.5, took / 3), (max(gaps), took)
