"""Upstream health records and job cursors on the table port.

Table ``upstreamhealth``: partition = feed id, row = upstream source id; what the health job (and
the request path) last saw of that upstream. Table ``jobstate``: partition ``job``, row = job name;
where a job that ran out of time stopped, so the next run resumes there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from feed_core.storage.bulk import delete_rows
from feed_core.storage.ports import Entity, TableStore

HEALTH, JOB_STATE = "upstreamhealth", "jobstate"


@dataclass
class UpstreamHealth:
    source_id: str
    status: str = "ok"  # "ok" | "failed"
    last_success: str | None = None
    last_failure: str | None = None
    consecutive_failures: int = 0
    latency_ms: int | None = None
    last_checked: str | None = None
    status_details: list[dict[str, str]] = field(default_factory=list)  # [{"reason": ...}]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "lastSuccess": self.last_success,
            "lastFailure": self.last_failure,
            "consecutiveFailures": self.consecutive_failures,
            "latencyMs": self.latency_ms,
            "lastChecked": self.last_checked,
            "statusDetails": self.status_details,
        }


class HealthStore:
    def __init__(self, tables: TableStore) -> None:
        self._t = tables

    async def get_all(self, feed_id: str) -> dict[str, UpstreamHealth]:
        out = {}
        for e in await self._t.query(HEALTH, feed_id):
            data = json.loads(e.get_str("doc", "{}"))
            out[e.row_key] = UpstreamHealth(**{**data, "source_id": e.row_key})
        return out

    async def put(self, feed_id: str, health: UpstreamHealth) -> None:
        data = asdict(health)
        del data["source_id"]
        await self._t.upsert(HEALTH, Entity(feed_id, health.source_id, {"doc": json.dumps(data)}))

    async def delete_feed(self, feed_id: str) -> int:
        """Delete a feed's upstream health rows; the number of rows."""
        rows = await self._t.query(HEALTH, feed_id)
        return await delete_rows(self._t, HEALTH, [(r.partition_key, r.row_key) for r in rows])

    async def feed_ids(self) -> set[str]:
        """The ids of every feed with health rows (for garbage collection)."""
        return {e.partition_key async for e in self._t.scan(HEALTH)}

    async def get_cursor(self, job: str) -> dict[str, Any]:
        e = await self._t.get(JOB_STATE, "job", job)
        return {} if e is None else dict(json.loads(e.get_str("doc", "{}")))

    async def put_cursor(self, job: str, cursor: dict[str, Any]) -> None:
        await self._t.upsert(JOB_STATE, Entity("job", job, {"doc": json.dumps(cursor)}))
