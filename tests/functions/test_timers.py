"""The timer functions, invoked in-process as the Functions host would, against real upstreams."""

# ruff: noqa: F811
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import function_app
from feed_core.domain.models import Caller
from feed_core.domain.retention import RetentionPolicy
from feed_core.domain.roles import Scope
from feed_core.domain.upstream_sources import parse_source_requests
from feed_core.service.container import Services
from feed_core.service.feeds import FeedUpdate
from feed_core.service.packages import NewVersion
from tests.functions.test_function_app import FUNCTIONS, functions_env  # noqa: F401
from tests.npm_packages import integrity, make_tarball
from tests.npm_registry_fixture import FixtureRegistry, dead_url, make_fixture_registry  # noqa: F401

ADMIN = Caller("admin", Scope.MANAGE, org_admin=True)


class Timer(func.TimerRequest):
    def __init__(self, past_due: bool = False) -> None:
        self._past_due = past_due

    @property
    def past_due(self) -> bool:
        return self._past_due


def timer_binding(name: str) -> dict[str, Any]:
    (binding,) = [b for b in json.loads(FUNCTIONS[name].get_function_json())["bindings"] if b["type"] == "timerTrigger"]
    return dict(binding)


async def fire(name: str, past_due: bool = False) -> None:
    await FUNCTIONS[name].get_user_function()(Timer(past_due))


@pytest.fixture
async def services(functions_env: Path) -> Services:
    """The module-level app's services (built from the test environment), with one feed."""
    svc = await function_app.feed_app.services()
    await svc.feeds.create("local", None, ADMIN, "web", "", True, [])
    return svc


async def use_sources(services: Services, *sources: dict[str, Any]) -> str:
    feed = await services.feeds.find("local", None, "web")
    await services.feeds.update(feed, ADMIN, FeedUpdate(upstream_sources=parse_source_requests(list(sources))))
    return feed.id


def test_timer_schedules_come_from_app_settings_and_never_run_on_startup() -> None:
    refresh, health = timer_binding("refresh_upstreams"), timer_binding("check_upstream_health")
    assert refresh["schedule"] == "%FEED_REFRESH_SCHEDULE%"
    assert health["schedule"] == "%FEED_HEALTH_SCHEDULE%"
    for binding in (refresh, health):
        assert binding["runOnStartup"] is False and binding["name"] == "timer"


async def test_health_timer_marks_a_dead_upstream_failed_and_a_live_one_ok(
    services: Services, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    live = make_fixture_registry()
    feed_id = await use_sources(
        services,
        {"name": "live", "protocol": "npm", "location": live.url},
        {"name": "dead", "protocol": "npm", "location": dead_url()},
    )
    await fire("check_upstream_health")
    feed = await services.feeds.find("local", None, "web")
    ids = {s.name: s.id for s in feed.upstream_sources}
    health = await services.health.get_all(feed_id)
    assert health[ids["live"]].status == "ok" and health[ids["live"]].latency_ms is not None
    dead = health[ids["dead"]]
    assert dead.status == "failed" and dead.consecutive_failures == 1
    assert "could not connect" in dead.status_details[0]["reason"]
    await fire("check_upstream_health", past_due=True)  # a late firing still runs
    assert (await services.health.get_all(feed_id))[ids["dead"]].consecutive_failures == 2


async def test_refresh_timer_flags_a_version_removed_upstream(
    services: Services, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    reg = make_fixture_registry()
    reg.add("lib", "1.0.0")
    reg.add("lib", "2.0.0")
    await use_sources(services, {"name": "up", "protocol": "npm", "location": reg.url})
    feed = await services.feeds.find("local", None, "web")
    source, version = await services.resolver.find_offer(feed, "npm", "lib", "1.0.0") or (None, None)
    assert source is not None and version is not None
    record = await services.upstreams.fetch_for_save(feed, ADMIN, "npm", "lib", source, version)
    await services.packages.commit_saved(feed, record)
    reg.remove("lib", "1.0.0")
    await fire("refresh_upstreams")
    saved = await services.packages.store.get_version(feed.id, "npm", "lib", "1.0.0")
    assert saved is not None and saved.deleted is None and saved.provenance.get("upstreamRemoved")


async def test_gc_timer_runs_on_its_schedule_and_purges_deleted_feeds_past_retention(
    functions_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binding = timer_binding("collect_garbage")
    assert binding["schedule"] == "%FEED_GC_SCHEDULE%" and binding["runOnStartup"] is False
    monkeypatch.setenv("FEED_DELETED_FEED_RETENTION_DAYS", "0")
    svc = await function_app.feed_app.services()
    kept = await svc.feeds.create("local", None, ADMIN, "kept", "", True, [])
    gone = await svc.feeds.create("local", None, ADMIN, "gone", "", True, [])
    await svc.feeds.delete(gone, ADMIN)
    await fire("collect_garbage", past_due=True)
    assert await svc.catalog.get_feed_by_id("local", gone.id, include_deleted=True) is None
    assert await svc.catalog.get_feed_by_id("local", kept.id) is not None


def npm_version(name: str, number: str) -> NewVersion:
    data = make_tarball(name, number)
    return NewVersion(
        "npm",
        name,
        number,
        {"name": name, "version": number},
        data,
        f"{name}-{number}.tgz",
        hashlib.sha256(data).hexdigest(),
        integrity(data),
        hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        {"latest": number},
    )


async def test_retention_timer_runs_on_its_schedule_and_applies_the_feeds_policies(functions_env: Path) -> None:
    binding = timer_binding("apply_retention")
    assert binding["schedule"] == "%FEED_RETENTION_SCHEDULE%" and binding["runOnStartup"] is False
    svc = await function_app.feed_app.services()
    feed = await svc.feeds.create("local", None, ADMIN, "kept", "", True, [])
    for number in ("1.0.0", "2.0.0", "3.0.0"):
        await svc.packages.publish(feed, feed.local_view, ADMIN, npm_version("lib", number))
    await svc.feeds.set_retention_policy(feed, ADMIN, RetentionPolicy(count_limit=1))
    await fire("apply_retention", past_due=True)
    _, versions = await svc.packages.store.get_package(feed.id, "npm", "lib")
    assert {v.version: v.deleted_by for v in versions} == {"1.0.0": "retention", "2.0.0": "retention", "3.0.0": None}
