"""The refresh and health jobs, against real fixture registries on 127.0.0.1 and a dead port (both backends)."""

# ruff: noqa: F811
from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from feed_core import jobs
from feed_core.api.upstream_shapes import NOT_CHECKED
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_registry_fixture import FixtureRegistry, dead_url, make_fixture_registry  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"


@pytest.fixture
async def ops(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[Api]:
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        await api.grant("feed", "carol", "collaborator")
        await api.token("carol", "vso.packaging")
        yield api


async def set_sources(api: Api, *sources: dict[str, object]) -> None:
    r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": list(sources)}, headers=api.auth())
    assert r.status_code == 200, r.text


async def test_health_marks_live_upstreams_ok_and_dead_ones_failed_with_the_cause(
    ops: Api, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    live, locked = make_fixture_registry(), make_fixture_registry()
    locked.require_auth("Bearer right")
    await set_sources(
        ops,
        {"name": "live", "protocol": "npm", "location": live.url},
        {"name": "dead", "protocol": "npm", "location": dead_url()},
        {"name": "locked", "protocol": "npm", "location": locked.url, "credentials": {"token": "wrong"}},
    )
    report = await jobs.run_health(ops.services)
    assert report.upstreams == 3 and len(report.failed) == 2
    feed = (await ops.http.get(f"{FEEDS}/feed", headers=ops.auth())).json()
    by_name = {s["name"]: s for s in feed["upstreamSources"]}
    assert by_name["live"]["status"] == "ok" and by_name["live"]["health"]["latencyMs"] is not None
    assert by_name["live"]["health"]["lastSuccess"]
    dead = by_name["dead"]
    assert dead["status"] == "failed" and dead["health"]["consecutiveFailures"] == 1
    assert "could not connect" in dead["statusDetails"][0]["reason"] and "running" in dead["statusDetails"][0]["reason"]
    assert "credentials" in by_name["locked"]["statusDetails"][0]["reason"]
    await jobs.run_health(ops.services)
    health = (await ops.http.get(f"{FEEDS}/feed/health", headers=ops.auth("carol"))).json()
    assert health["healthy"] is False
    states = {u["name"]: u for u in health["upstreams"]}
    assert states["dead"]["consecutiveFailures"] == 2 and states["live"]["status"] == "ok"


async def test_health_of_internal_upstreams(ops: Api) -> None:
    await ops.create_feed("team")
    await ops.http.patch(f"{FEEDS}/team/views/Release", json={"visibility": "collection"}, headers=ops.auth())
    await set_sources(
        ops,
        {
            "name": "team",
            "protocol": "npm",
            "upstreamSourceType": "internal",
            "internalUpstreamFeedId": "team",
            "internalUpstreamViewId": "Release",
        },
    )
    await jobs.run_health(ops.services)
    health = (await ops.http.get(f"{FEEDS}/feed/health", headers=ops.auth())).json()
    assert health["healthy"] is True
    await ops.http.patch(f"{FEEDS}/team/views/Release", json={"visibility": "private"}, headers=ops.auth())
    await jobs.run_health(ops.services)
    (team,) = (await ops.http.get(f"{FEEDS}/feed/health", headers=ops.auth())).json()["upstreams"]
    assert team["status"] == "failed" and "no longer shared" in team["statusDetails"][0]["reason"]
    assert (await ops.http.delete(f"{FEEDS}/team", headers=ops.auth())).status_code == 204
    await jobs.run_health(ops.services)
    (team,) = (await ops.http.get(f"{FEEDS}/feed/health", headers=ops.auth())).json()["upstreams"]
    assert "no longer exists" in team["statusDetails"][0]["reason"]


async def test_unchecked_and_disabled_upstreams(ops: Api, make_fixture_registry: Callable[[], FixtureRegistry]) -> None:
    reg = make_fixture_registry()
    await set_sources(
        ops,
        {"name": "new", "protocol": "npm", "location": reg.url},
        {"name": "off", "protocol": "npm", "location": dead_url(), "status": "disabled"},
    )
    health = (await ops.http.get(f"{FEEDS}/feed/health", headers=ops.auth())).json()
    assert {u["name"]: u["status"] for u in health["upstreams"]} == {"new": "unknown", "off": "disabled"}
    report = await jobs.run_health(ops.services)
    assert report.upstreams == 1 and not report.failed  # disabled sources are not probed


async def test_the_feed_and_its_health_say_the_same_of_each_upstream(
    ops: Api, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    """Right after an upstream is added, nothing has checked it: both answers say so, and after the health job
    both say what it saw. A client sending back the feed it read (with status "unknown") changes nothing."""
    live = make_fixture_registry()
    await set_sources(
        ops,
        {"name": "live", "protocol": "npm", "location": live.url},
        {"name": "dead", "protocol": "npm", "location": dead_url()},
        {"name": "off", "protocol": "npm", "location": live.url, "status": "disabled"},
    )

    async def both(who: str) -> dict[str, tuple[str, list[dict[str, str]]]]:
        feed = (await ops.http.get(f"{FEEDS}/feed", headers=ops.auth(who))).json()
        health = (await ops.http.get(f"{FEEDS}/feed/health", headers=ops.auth(who))).json()
        in_feed = {s["name"]: (s["status"], s["statusDetails"]) for s in feed["upstreamSources"]}
        in_health = {u["name"]: (u["status"], u.get("statusDetails", [])) for u in health["upstreams"]}
        assert in_feed == in_health
        return in_feed

    not_checked = ("unknown", [{"reason": NOT_CHECKED}])
    before = await both("admin")
    assert before == {"live": not_checked, "dead": not_checked, "off": ("disabled", [])}
    assert await both("carol") == before
    shown = (await ops.http.get(f"{FEEDS}/feed", headers=ops.auth())).json()["upstreamSources"]
    await set_sources(ops, *shown)
    assert await both("admin") == before
    stored = await ops.services.catalog.find_feed(ORG, None, "feed")
    assert stored is not None and [s.status for s in stored.upstream_sources] == ["ok", "ok", "disabled"]

    await jobs.run_health(ops.services)
    after = await both("admin")
    assert after["live"] == ("ok", []) and after["off"] == ("disabled", [])
    assert after["dead"][0] == "failed" and "could not connect" in after["dead"][1][0]["reason"]
    seen_by_reader = await both("carol")
    assert seen_by_reader["dead"] == ("failed", [{"reason": "upstream 'dead' is unavailable"}])
    assert seen_by_reader["live"] == ("ok", [])


async def test_a_failing_upstream_is_skipped_for_a_cool_down(
    ops: Api, make_fixture_registry: Callable[[], FixtureRegistry], clock: MutableClock
) -> None:
    reg = make_fixture_registry()
    reg.set_down(True, "503")
    await set_sources(ops, {"name": "flaky", "protocol": "npm", "location": reg.url})
    for _ in range(3):
        await jobs.run_health(ops.services)
    reg.reset_requests()
    r = await ops.http.get(ops.registry() + "anything", headers=ops.auth("carol"))
    assert r.status_code == 502 and "upstream 'flaky' is unavailable" in r.json()["error"]
    assert reg.requests == []  # the circuit is open: no call at all
    clock.advance(seconds=31)
    reg.set_down(False)
    reg.add("anything", "1.0.0")
    r = await ops.http.get(ops.registry() + "anything", headers=ops.auth("carol"))
    assert r.status_code == 200  # after the cool-down one trial call goes through and closes it


async def test_refresh_notices_new_versions_and_flags_versions_removed_upstream(
    ops: Api, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    reg = make_fixture_registry()
    reg.add("lib", "1.0.0")
    reg.add("lib", "1.1.0")
    await set_sources(ops, {"name": "up", "protocol": "npm", "location": reg.url})
    tarball = ops.registry() + "lib/-/lib-1.0.0.tgz"
    assert (await ops.http.get(tarball, headers=ops.auth("carol"))).status_code == 200
    reg.add("lib", "1.2.0")
    reg.remove("lib", "1.0.0")
    report = await jobs.run_refresh(ops.services)
    assert report.complete and report.packages == 1 and report.flagged_removed == ["feed/lib@1.0.0"]
    # the new upstream version is visible without anyone asking for it (the cache was revalidated)
    doc = (await ops.http.get(ops.registry() + "lib", headers=ops.auth("carol"))).json()
    assert sorted(doc["versions"]) == ["1.0.0", "1.1.0", "1.2.0"]
    info = (await ops.http.get(f"{FEEDS}/feed/npm/lib/versions/1.0.0", headers=ops.auth("carol"))).json()
    assert info["upstreamRemovedDate"] and "no longer lists" in info["provenance"]["upstreamRemovedReason"]
    assert (await ops.http.get(tarball, headers=ops.auth("carol"))).status_code == 200  # still installable
    assert (await jobs.run_refresh(ops.services)).flagged_removed == []  # flagged once
    reg.add("lib", "1.0.0")
    assert (await jobs.run_refresh(ops.services)).restored == ["feed/lib@1.0.0"]
    info = (await ops.http.get(f"{FEEDS}/feed/npm/lib/versions/1.0.0", headers=ops.auth("carol"))).json()
    assert info["upstreamRemovedDate"] is None


async def test_refresh_keeps_to_its_budget_and_resumes(
    ops: Api, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    reg = make_fixture_registry()
    names = [f"pkg{i:02d}" for i in range(12)]
    for name in names:
        reg.add(name, "1.0.0")
    await set_sources(ops, {"name": "up", "protocol": "npm", "location": reg.url})
    for name in names:
        assert (
            await ops.http.get(ops.registry() + f"{name}/-/{name}-1.0.0.tgz", headers=ops.auth("carol"))
        ).status_code == 200
    reg.set_delay(0.3)
    first = await jobs.run_refresh(ops.services, budget_seconds=0.5, concurrency=4)
    assert not first.complete and first.seconds < 1.5
    reg.set_delay(0)
    second = await jobs.run_refresh(ops.services, budget_seconds=30, concurrency=4)
    assert second.complete
    assert first.packages + second.packages == len(names)  # resumed where it stopped, nothing twice


async def test_a_dead_upstream_during_refresh_is_reported_not_fatal(
    ops: Api, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    reg = make_fixture_registry()
    reg.add("solid", "1.0.0")
    await set_sources(ops, {"name": "up", "protocol": "npm", "location": reg.url})
    assert (
        await ops.http.get(ops.registry() + "solid/-/solid-1.0.0.tgz", headers=ops.auth("carol"))
    ).status_code == 200
    reg.set_down(True, "503")
    report = await jobs.run_refresh(ops.services)
    assert report.complete and report.failures and report.flagged_removed == []
    assert (
        await ops.http.get(ops.registry() + "solid/-/solid-1.0.0.tgz", headers=ops.auth("carol"))
    ).status_code == 200
