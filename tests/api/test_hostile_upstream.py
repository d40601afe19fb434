"""The feed against a hostile upstream (issue 9 §4): one fixture server on 127.0.0.1 (tests/hostile_upstream.py)
that turns into a decompression bomb, a liar about names, a changer of bytes, a source of odd times, a slow
trickle or a garbage heap, driven through the npm and PyPI endpoints as reader and collaborator, and through
the refresh and health jobs (both backends).

Every case asserts the same three things: no server error (an upstream that fails is a 502 naming it,
never a 500), memory bounded (tracemalloc's peak, with a generous bound far below what a bomb inflates
to), and nothing unverified saved or served (version rows and content blobs are checked in the store).
"""

# ruff: noqa: F811
from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest

from feed_core import jobs
from feed_core.domain.clock import iso
from feed_core.service.stream_through import StreamAborted
from feed_core.storage.packages import CONTENT_PREFIX
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.hostile_upstream import (
    BOMB_BYTES,
    DOCUMENT_MODES,
    NPM_NAME,
    NPM_OTHER,
    PY_NAME,
    PY_OTHER,
    PY_VERSION,
    VERSION,
    HostileUpstream,
    Mode,
    gzip_bomb,
    hostile_upstream,  # noqa: F401
)

FEEDS = f"/{ORG}/_apis/packaging/feeds"
NPM = f"/{ORG}/_packaging/feed/npm/registry/"
PYPI = f"/{ORG}/_packaging/feed/pypi/"
PEP691 = {"Accept": "application/vnd.pypi.simple.v1+json"}
ABBREV = {"Accept": "application/vnd.npm.install-v1+json"}
TARBALL = f"{NPM}{NPM_NAME}/-/{NPM_NAME}-{VERSION}.tgz"
WHEEL = f"{PY_NAME.replace('-', '_')}-{PY_VERSION}-py3-none-any.whl"
WHEEL_URL = f"{PYPI}download/{PY_NAME}/{PY_VERSION}/{WHEEL}"
WHEEL_PREFIX = f"{PY_NAME.replace('-', '_')}-"
MEMORY_BOUND = 192 * 1024 * 1024  # generous, and far below the 512 MiB one bomb inflates to
MAX_FILE_BYTES = 8 * 1024 * 1024  # the upload limit, which also bounds upstream files

OpenFeed = Callable[..., Any]


@pytest.fixture
def open_feed(
    make_settings: SettingsFactory, clock: MutableClock, hostile_upstream: HostileUpstream
) -> Callable[..., Any]:
    """``async with open_feed(upstream_timeout=...) as api``: feed ``feed`` whose npm and Python upstreams are
    the hostile fixture (custom registries); alice contributes, bob reads, carol collaborates."""
    gzip_bomb()  # built before any memory is measured

    @asynccontextmanager
    async def open_(upstream_timeout: float = 2.0, **feed: Any) -> AsyncIterator[Api]:
        settings = make_settings(
            upstream_timeout=upstream_timeout,
            upstream_connect_timeout=1.0,
            upstream_download_timeout=3.0,
            max_upload_bytes=MAX_FILE_BYTES,
        )
        async with running_api(settings, clock) as api:  # make_settings allows the loopback fixture
            if (await api.http.get(f"{FEEDS}/feed", headers=api.auth())).status_code == 404:
                await api.create_feed("feed")  # a second open of the same store finds it there
            sources = [
                {"name": "hostile-npm", "protocol": "npm", "location": hostile_upstream.npm_url},
                {"name": "hostile-pypi", "protocol": "pypi", "location": hostile_upstream.pypi_url},
            ]
            r = await api.http.patch(f"{FEEDS}/feed", json={"upstreamSources": sources, **feed}, headers=api.auth())
            assert r.status_code == 200, r.text
            await api.staff("feed")
            yield api

    return open_


# --- what every case checks -------------------------------------------------------------------------------


def no_server_error(r: httpx.Response) -> httpx.Response:
    """Never a 500: an upstream that failed is a 502 that names it; anything else is below 500."""
    if r.status_code >= 500:
        assert r.status_code == 502 and "hostile" in r.text, (str(r.request.url), r.status_code, r.text[:500])
    return r


@contextmanager
def bounded_memory(limit: int = MEMORY_BOUND) -> Iterator[None]:
    """Python allocations (this process, every thread) peak below ``limit`` inside the block."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        yield
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < limit, f"memory peaked {peak / 2**20:.0f} MiB above the start (bound {limit / 2**20:.0f} MiB)"


async def saved(api: Api) -> set[tuple[str, str, str]]:
    """(protocol, name, version) of every version row of the fixture's names, deleted ones included."""
    feed = await api.services.feeds.find(ORG, None, "feed")
    rows = set()
    for protocol, name in (("npm", NPM_NAME), ("npm", NPM_OTHER), ("pypi", PY_NAME), ("pypi", PY_OTHER)):
        _, versions = await api.services.packages.store.get_package(feed.id, protocol, name)
        rows |= {(protocol, name, v.version) for v in versions}
    return rows


async def stored_content(api: Api) -> set[str]:
    return {b.key.removeprefix(CONTENT_PREFIX) async for b in api.services.storage.blobs.list_blobs(CONTENT_PREFIX)}


async def held_hashes(api: Api) -> set[str]:
    """The sha-256 of every file (and core metadata file) the feed's version rows reference."""
    feed = await api.services.feeds.find(ORG, None, "feed")
    out = set()
    for protocol, name in (("npm", NPM_NAME), ("npm", NPM_OTHER), ("pypi", PY_NAME), ("pypi", PY_OTHER)):
        for v in (await api.services.packages.store.get_package(feed.id, protocol, name))[1]:
            out.add(v.sha256)
            out |= {f[k] for f in v.files for k in ("sha256", "metadata_sha256") if f.get(k)}
    return out


async def assert_nothing_unverified_stored(api: Api) -> None:
    """Every content blob is referenced by a version row: nothing fetched and refused stays behind."""
    assert await stored_content(api) <= await held_hashes(api)


async def get(api: Api, url: str, who: str = "carol", **headers: str) -> httpx.Response:
    return no_server_error(await api.http.get(url, headers={**api.auth(who), **headers}))


async def get_file(api: Api, url: str) -> httpx.Response | None:
    """A file as a collaborator; ``None`` when its response was cut short (it streamed through from the upstream
    and then failed: over HTTP the connection closes before the body is complete)."""
    try:
        return await get(api, url)
    except StreamAborted:
        return None


async def drive(api: Api) -> dict[str, httpx.Response]:
    """Every read a client makes, as collaborator (who may save) and reader."""
    answers = {}
    for who in ("carol", "bob"):
        answers[f"npm view ({who})"] = await get(api, NPM + NPM_NAME, who)
        answers[f"npm install ({who})"] = await get(api, NPM + NPM_NAME, who, **ABBREV)
        answers[f"version doc ({who})"] = await get(api, f"{NPM}{NPM_NAME}/{VERSION}", who)
        answers[f"tarball ({who})"] = await get(api, TARBALL, who)
        answers[f"pep 691 ({who})"] = await get(api, f"{PYPI}simple/{PY_NAME}/", who, **PEP691)
        answers[f"pep 503 ({who})"] = await get(api, f"{PYPI}simple/{PY_NAME}/", who)
        answers[f"wheel ({who})"] = await get(api, WHEEL_URL, who)
    return answers


async def run_jobs(api: Api) -> jobs.RefreshReport:
    """The refresh and health jobs against the fixture: they finish, whatever it sends."""
    report = await jobs.run_refresh(api.services, budget_seconds=60)
    await jobs.run_health(api.services)
    return report


async def revalidate(api: Api) -> None:
    """Fetch the fixture's documents afresh now, whatever their age (as the refresh job does for held ones)."""
    feed = await api.services.feeds.find(ORG, None, "feed")
    for source in feed.upstream_sources:
        name = NPM_NAME if source.protocol == "npm" else PY_NAME
        await api.services.upstreams.revalidate(feed, source, source.protocol, name)


async def save_honestly(api: Api, hostile: HostileUpstream) -> tuple[bytes, bytes]:
    """A collaborator saves the npm version and the wheel while the upstream is still honest."""
    assert hostile.mode is Mode.HONEST
    tarball = (await get(api, TARBALL)).content
    wheel = (await get(api, WHEEL_URL)).content
    assert tarball == hostile.npm_tarball() and wheel == hostile.wheel().data
    assert await saved(api) == {("npm", NPM_NAME, VERSION), ("pypi", PY_NAME, PY_VERSION)}
    return tarball, wheel


# --- the baseline: honest, the fixture is a working upstream ---------------------------------------------


async def test_the_fixture_is_a_working_upstream_while_honest(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream
) -> None:
    async with open_feed() as api:
        answers = await drive(api)
        assert list(answers["npm view (carol)"].json()["versions"]) == [VERSION]
        assert answers["tarball (carol)"].content == hostile_upstream.npm_tarball()
        assert answers["pep 691 (carol)"].json()["versions"] == [PY_VERSION]
        assert answers["wheel (bob)"].content == hostile_upstream.wheel().data
        assert await saved(api) == {("npm", NPM_NAME, VERSION), ("pypi", PY_NAME, PY_VERSION)}
        report = await run_jobs(api)
        assert report.failures == [] and report.flagged_removed == []


# --- hostile documents --------------------------------------------------------------------------------------

#: What a mode leaves honest, and so may be saved: the rest of the fixture's answers are refused.
HONEST_PARTS = {
    Mode.BAD_VERSION_KEYS: {("npm", NPM_NAME, VERSION), ("pypi", PY_NAME, PY_VERSION)},
    Mode.MISSING_FILENAME: {("npm", NPM_NAME, VERSION)},
}


@pytest.mark.parametrize("mode", DOCUMENT_MODES, ids=lambda m: m.value)
async def test_hostile_documents_fail_the_upstream_and_save_nothing(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream, mode: Mode
) -> None:
    hostile_upstream.set_mode(mode)
    # A budget long enough that only a bound on the decoded size, not the clock, can stop a bomb.
    timeout = 2.0 if mode is Mode.SLOW_BODY else 10.0
    async with open_feed(upstream_timeout=timeout) as api:
        started = time.monotonic()
        with bounded_memory():
            answers = await drive(api)
            report = await run_jobs(api)
        assert time.monotonic() - started < 60
        assert await saved(api) <= HONEST_PARTS.get(mode, set())
        await assert_nothing_unverified_stored(api)
        for what, r in answers.items():
            if r.status_code == 200 and what.startswith("npm"):
                assert set(r.json()["versions"]) <= {VERSION}, what  # never "__proto__", "../../etc", "latest"
                assert r.json()["name"] == NPM_NAME, what
            if r.status_code == 200 and what.startswith("pep 691"):  # never another project's files
                assert all(f["filename"].startswith(WHEEL_PREFIX) for f in r.json()["files"]), (what, r.text)
        assert report.flagged_removed == []  # a bad document is skipped, never read as "removed"
        # A failed document is not fetched again on every request.
        asked = [p for _, p in hostile_upstream.requests if p == f"/npm/{NPM_NAME}"]
        assert len(asked) <= 3, asked


@pytest.mark.parametrize("key", ["__proto__", "..%2f..%2fetc", "latest"])
async def test_version_keys_that_are_not_versions_are_never_offered(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream, key: str
) -> None:
    hostile_upstream.set_mode(Mode.BAD_VERSION_KEYS)
    async with open_feed() as api:
        doc = (await get(api, NPM + NPM_NAME)).json()
        assert list(doc["versions"]) == [VERSION] and doc["dist-tags"] == {"latest": VERSION}
        r = await get(api, f"{NPM}{NPM_NAME}/-/{NPM_NAME}-{key}.tgz")
        assert r.status_code in (400, 404)
        assert await saved(api) == set()


# --- hostile files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "warm"),
    [
        (Mode.GZIP_BOMB, True),  # the documents were honest (and are cached); the files are bombs
        (Mode.SLOW_BODY, True),
        (Mode.FOREIGN_TARBALL, False),
        (Mode.FOREIGN_URL, False),
        (Mode.LYING_NAME, False),
        (Mode.METADATA_MISMATCH, False),
    ],
    ids=lambda v: v.value if isinstance(v, Mode) else ("warm" if v else "cold"),
)
async def test_hostile_files_are_refused_and_leave_nothing_stored(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream, mode: Mode, warm: bool
) -> None:
    async with open_feed() as api:
        if warm:
            assert (await get(api, NPM + NPM_NAME)).status_code == 200
            assert (await get(api, f"{PYPI}simple/{PY_NAME}/", **PEP691)).status_code == 200
        hostile_upstream.set_mode(mode)
        started = time.monotonic()
        with bounded_memory():
            tarball = await get_file(api, TARBALL)
            wheel = await get_file(api, WHEEL_URL)
        assert time.monotonic() - started < 30
        if mode is not Mode.METADATA_MISMATCH:  # the npm side of that mode is honest
            assert tarball is None or tarball.status_code != 200, "a tarball not the requested package was served"
        assert wheel is None or wheel.status_code != 200, "a file that is not the requested project's was served"
        assert not {s for s in await saved(api) if s[0] == "pypi"}
        assert await saved(api) <= ({("npm", NPM_NAME, VERSION)} if mode is Mode.METADATA_MISMATCH else set())
        await assert_nothing_unverified_stored(api)


# --- changed bytes ------------------------------------------------------------------------------------------


async def test_changed_bytes_upstream_keep_the_saved_bytes_and_are_flagged(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream, clock: MutableClock
) -> None:
    async with open_feed() as api:
        tarball, wheel = await save_honestly(api, hostile_upstream)
        hostile_upstream.set_mode(Mode.CHANGED_BYTES)
        assert hostile_upstream.npm_tarball() != tarball  # same name and version, new bytes and hashes
        clock.advance(hours=1)
        report = await run_jobs(api)
        await drive(api)
        assert (await get(api, TARBALL, "bob")).content == tarball
        assert (await get(api, WHEEL_URL, "bob")).content == wheel
        await assert_nothing_unverified_stored(api)
        # The change is flagged: in the version API and in the refresh report.
        for path in (f"npm/{NPM_NAME}/versions/{VERSION}", f"pypi/packages/{PY_NAME}/versions/{PY_VERSION}"):
            info = (await get(api, f"{FEEDS}/feed/{path}", "bob")).json()
            protocol = path.split("/")[0]
            assert "changed" in json.dumps(info).lower(), (protocol, info)
        assert "changed" in report.summary().lower(), report.summary()


# --- odd times, under a minimum release age -----------------------------------------------------------------

AGE = {"minimumReleaseAgeHours": 72}


@pytest.mark.parametrize(
    "published",
    [..., 1577836800000, "yesterday", "2020-13-45T99:99:99Z", ""],
    ids=["missing", "numeric", "garbage", "impossible", "empty"],
)
async def test_a_version_of_unknown_age_is_held(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream, published: Any
) -> None:
    hostile_upstream.time_value = published
    async with open_feed(**AGE) as api:
        answers = await drive(api)
        doc = answers["npm view (carol)"]
        assert doc.status_code != 200 or VERSION not in doc.json()["versions"], doc.text
        page = answers["pep 691 (carol)"]
        assert page.status_code != 200 or PY_VERSION not in page.json()["versions"], page.text
        assert answers["tarball (carol)"].status_code != 200 and answers["wheel (carol)"].status_code != 200
        assert await saved(api) == set()
        await run_jobs(api)


async def test_a_time_without_a_zone_is_never_a_500_even_for_saved_versions(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream
) -> None:
    hostile_upstream.time_value = "2020-01-01T00:00:00"  # no time zone
    async with open_feed(**AGE) as api:
        await drive(api)  # not saved yet: no_server_error checks every answer
        await run_jobs(api)
    hostile_upstream.time_value = None
    async with open_feed(minimumReleaseAgeHours=None) as api:  # the same store, the release age off for now
        tarball, wheel = await save_honestly(api, hostile_upstream)
        hostile_upstream.time_value = "2020-01-01T00:00:00"
        r = await api.http.patch(f"{FEEDS}/feed", json=AGE, headers=api.auth())
        assert r.status_code == 200, r.text
        await revalidate(api)
        answers = await drive(api)
        assert answers["tarball (bob)"].content == tarball and answers["wheel (bob)"].content == wheel
        assert VERSION in answers["npm view (bob)"].json()["versions"]


async def test_a_back_dated_time_does_not_age_a_version_into_view(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream, clock: MutableClock
) -> None:
    hostile_upstream.published = iso(clock.now)  # brand new: held back by the release age
    async with open_feed(**AGE) as api:
        assert VERSION not in (await get(api, NPM + NPM_NAME)).json().get("versions", {})
        hostile_upstream.published = "2020-01-01T00:00:00.000Z"  # ... then claimed to be years old
        clock.advance(hours=1)
        await revalidate(api)
        answers = await drive(api)
        doc = answers["npm view (carol)"]
        assert doc.status_code != 200 or VERSION not in doc.json()["versions"], doc.text
        assert answers["tarball (carol)"].status_code != 200
        assert await saved(api) <= {("pypi", PY_NAME, PY_VERSION)}  # the Python side was never new


async def test_pep503_pages_carry_no_upload_time_so_a_release_age_holds_their_versions(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream
) -> None:
    hostile_upstream.set_mode(Mode.HTML_ONLY)
    async with open_feed(**AGE) as api:
        page = await get(api, f"{PYPI}simple/{PY_NAME}/", **PEP691)
        assert page.status_code != 200 or page.json()["versions"] == [], page.text
        assert (await get(api, WHEEL_URL)).status_code != 200
        assert await saved(api) == set()


# --- the jobs against documents that turn hostile after a save ----------------------------------------------


@pytest.mark.parametrize("mode", DOCUMENT_MODES, ids=lambda m: m.value)
async def test_refresh_and_health_keep_saved_versions_when_the_upstream_turns_hostile(
    open_feed: OpenFeed, hostile_upstream: HostileUpstream, clock: MutableClock, mode: Mode
) -> None:
    timeout = 2.0 if mode is Mode.SLOW_BODY else 10.0
    async with open_feed(upstream_timeout=timeout) as api:
        tarball, wheel = await save_honestly(api, hostile_upstream)
        hostile_upstream.set_mode(mode)
        clock.advance(hours=1)
        with bounded_memory():
            report = await run_jobs(api)
            second = await run_jobs(api)
        assert report.complete and second.complete
        assert report.flagged_removed == [] and second.flagged_removed == []
        for who in ("bob", "carol"):
            assert (await get(api, TARBALL, who)).content == tarball
            assert (await get(api, WHEEL_URL, who)).content == wheel
            assert (await get(api, NPM + NPM_NAME, who)).status_code == 200
            assert (await get(api, f"{PYPI}simple/{PY_NAME}/", who, **PEP691)).status_code == 200
        feed = await api.services.feeds.find(ORG, None, "feed")
        for protocol, name, version in (("npm", NPM_NAME, VERSION), ("pypi", PY_NAME, PY_VERSION)):
            row = await api.services.packages.store.get_version(feed.id, protocol, name, version)
            assert row is not None and not row.provenance.get("upstreamRemoved"), (protocol, row)
        await assert_nothing_unverified_stored(api)


def test_the_bomb_is_a_bomb() -> None:
    """The fixture's bomb is small on the wire and large decoded (so the memory bound means something)."""
    import zlib

    bomb = gzip_bomb()
    assert len(bomb) < BOMB_BYTES // 500
    assert len(zlib.decompressobj(31).decompress(bomb, 4 * 1024 * 1024)) == 4 * 1024 * 1024
