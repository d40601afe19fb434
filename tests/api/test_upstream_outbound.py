"""The outbound HTTP layer against hostile upstreams on 127.0.0.1 (both backends): the guard on every request and
redirect hop, decoded-size bounds, the per-origin connection cap, TLS trust, and permanent failures failing fast.

Non-loopback decisions are unit-tested in tests/unit/test_outbound.py; nothing here opens a socket beyond
127.0.0.0/8 (redirects to 127.0.0.2 and its odd spellings are refused before any connection).
"""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import functools
import json
import resource
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from feed_core import jobs
from feed_core.service.stream_through import StreamAborted
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import integrity, make_tarball
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry, make_fixture_registry  # noqa: F401
from tests.scripted_server import Reply, ScriptedServer, scripted_server, self_signed_tls  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
TIMEOUTS: dict[str, Any] = {"upstream_timeout": 3.0, "upstream_connect_timeout": 1.0, "upstream_download_timeout": 5.0}
JSON_PAGE = {"Accept": "application/vnd.pypi.simple.v1+json"}
MIB = 1024 * 1024


async def feed_with(api: Api, *sources: dict[str, Any], feed: str = "feed") -> None:
    await api.create_feed(feed)
    r = await api.http.patch(f"{FEEDS}/{feed}", json={"upstreamSources": list(sources)}, headers=api.auth())
    assert r.status_code == 200, r.text
    await api.staff(feed)


def npm_source(url: str, name: str = "partner", **extra: Any) -> dict[str, Any]:
    return {"name": name, "protocol": "npm", "location": url, "upstreamSourceType": "public", **extra}


async def packument(api: Api, name: str, feed: str = "feed", who: str = "admin") -> Any:
    """As the feed's administrator by default: only administrators are told why an upstream failed."""
    return await api.http.get(api.registry(feed) + name, headers=api.auth(who))


async def tarball(api: Api, name: str, version: str, feed: str = "feed", who: str = "admin") -> Any:
    return await api.http.get(f"{api.registry(feed)}{name}/-/{name}-{version}.tgz", headers=api.auth(who))


def npm_document(name: str, tarball_url: str, data: bytes, version: str = "1.0.0") -> bytes:
    """A well-formed packument of one version whose file is at ``tarball_url``."""
    dist = {"tarball": tarball_url, "integrity": integrity(data)}
    return json.dumps(
        {
            "name": name,
            "dist-tags": {"latest": version},
            "versions": {version: {"name": name, "version": version, "dist": dist}},
            "time": {"created": "2020-01-01T00:00:00.000Z", version: "2020-01-01T00:00:00.000Z"},
        }
    ).encode()


@functools.cache
def gzip_bomb(decoded_bytes: int) -> bytes:
    """Zeros, gzip-compressed about 1000:1, built without holding the decoded bytes."""
    compressor, block = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16), bytes(MIB)
    return b"".join([*(compressor.compress(block) for _ in range(decoded_bytes // MIB)), compressor.flush()])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the guard --------------------------------------------------------------------------------------------


async def test_loopback_upstream_is_refused_without_the_allowed_networks(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("internal-lib", "1.0.0")
    settings = make_settings(upstream_allowed_networks=(), **TIMEOUTS)
    async with running_api(settings, clock) as api:
        await feed_with(api, npm_source(fixture_registry.url))
        r = await packument(api, "internal-lib", who="carol")
        # a clear answer naming the upstream, which npm does not retry; the upstream was never contacted
        assert r.status_code == 424, r.text
        error = r.json()["error"]
        assert "upstream 'partner' is unavailable" in error and "loopback" not in error  # a collaborator
        # the feed's administrator is told why, and how to allow the network
        r = await packument(api, "internal-lib")
        assert r.status_code == 424
        assert "loopback" in r.json()["error"] and "FEED_UPSTREAM_ALLOWED_NETWORKS" in r.json()["error"]
        assert (await tarball(api, "internal-lib", "1.0.0")).status_code == 424
        assert fixture_registry.requests == []
        # the health job records it as a failed upstream, with the reason
        report = await jobs.run_health(api.services)
        assert report.failed
        feed = (await api.http.get(f"{FEEDS}/feed", headers=api.auth())).json()
        (source,) = feed["upstreamSources"]
        assert source["status"] == "failed" and "loopback" in source["statusDetails"][0]["reason"]
        assert fixture_registry.requests == []


async def test_a_host_name_is_checked_on_the_addresses_it_resolves_to(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.add("named", "1.0.0")
    url = fixture_registry.url.replace("127.0.0.1", "localhost")
    async with running_api(make_settings(upstream_allowed_networks=(), **TIMEOUTS), clock) as api:
        await feed_with(api, npm_source(url))
        r = await packument(api, "named")
        assert r.status_code == 424 and "refused to connect to localhost (" in r.json()["error"]
    assert fixture_registry.requests == []
    # allowed, the same name is reached at the address that was checked, with its own Host header
    allowed = make_settings(upstream_allowed_networks=("127.0.0.0/8", "::1"), **TIMEOUTS)
    async with running_api(allowed, clock) as api:
        await feed_with(api, npm_source(url), feed="allowed")
        assert (await packument(api, "named", feed="allowed")).status_code == 200
    assert fixture_registry.requests[0][2]["host"].startswith("localhost:")


@pytest.mark.parametrize(
    ("spelling", "status", "reason"),
    [
        ("127.0.0.2", 424, "refused to connect to 127.0.0.2: the address is loopback"),
        ("2130706434", 424, "refused to connect to 2130706434 (127.0.0.2): the address is loopback"),
        ("127.2", 424, "refused to connect to 127.2 (127.0.0.2): the address is loopback"),
        ("0x7f.0x2", 424, "(127.0.0.2): the address is loopback"),
        ("[::ffff:127.0.0.2]", 424, "(::ffff:7f00:2): the address is loopback"),
        ("0177.0.0.2", 502, "Invalid URL in location header"),  # httpx itself will not parse this one
    ],
)
async def test_a_redirect_to_an_internal_address_is_refused(
    make_settings: SettingsFactory,
    clock: MutableClock,
    scripted_server: Callable[..., ScriptedServer],
    spelling: str,
    status: int,
    reason: str,
) -> None:
    server = scripted_server({})
    server.routes["/lib"] = Reply(302, {"Location": f"http://{spelling}:{server.port}/lib"})
    # only the upstream's own address is allowed: 127.0.0.2 stands for an internal service
    settings = make_settings(upstream_allowed_networks=("127.0.0.1/32",), **TIMEOUTS)
    async with running_api(settings, clock) as api:
        await feed_with(api, npm_source(server.url))
        r = await packument(api, "lib")
        assert r.status_code == status and reason in r.json()["error"], r.text
    assert server.count("/lib") == (1 if status == 424 else 2)  # a protocol error is retried once


async def test_a_file_url_pointing_at_an_internal_address_is_refused(
    make_settings: SettingsFactory, clock: MutableClock, scripted_server: Callable[..., ScriptedServer]
) -> None:
    data = make_tarball("lib", "1.0.0")
    server = scripted_server({})
    server.routes["/lib"] = Reply(body=npm_document("lib", f"http://127.0.0.2:{server.port}/lib/-/lib-1.0.0.tgz", data))
    settings = make_settings(upstream_allowed_networks=("127.0.0.1/32",), **TIMEOUTS)
    async with running_api(settings, clock) as api:
        await feed_with(api, npm_source(server.url))
        assert (await packument(api, "lib")).status_code == 200
        r = await tarball(api, "lib", "1.0.0")
        # a file download names the upstream only, whoever asks; the cause is in the log
        assert r.status_code == 424 and "upstream 'partner' is unavailable" in r.json()["error"]
        saved = await api.http.get(f"{FEEDS}/feed/npm/packages/lib/versions/1.0.0", headers=api.auth())
        assert saved.status_code == 404


async def test_redirects_are_followed_five_hops_at_most_and_credentials_stay_with_their_host(
    make_settings: SettingsFactory, clock: MutableClock, scripted_server: Callable[..., ScriptedServer]
) -> None:
    data = make_tarball("lib", "1.0.0")
    other = scripted_server({})
    other.routes["/lib"] = Reply(body=npm_document("lib", f"{other.url}lib/-/lib-1.0.0.tgz", data))
    other.routes["/lib/-/lib-1.0.0.tgz"] = Reply(body=data)
    hops = {f"/h{i}/lib": Reply(302, {"Location": f"/h{i + 1}/lib"}) for i in range(1, 5)}
    chain = scripted_server({**hops, "/h5/lib": Reply(302, {"Location": f"{other.url}lib"})})
    loop = scripted_server({"*": Reply(307, {"Location": "/again"})})
    async with running_api(make_settings(**TIMEOUTS), clock) as api:
        # five hops (four here, one to another host): followed; the token was sent to its own host only
        await feed_with(api, npm_source(chain.url + "h1/", credentials={"token": "secret-upstream-token"}))
        assert (await packument(api, "lib")).status_code == 200
        assert [p for _, p, _ in chain.requests] == [f"/h{i}/lib" for i in range(1, 6)]
        assert all(h.get("authorization") == "Bearer secret-upstream-token" for _, _, h in chain.requests)
        assert other.requests and all("authorization" not in h for _, _, h in other.requests)
        # a redirect loop stops after the sixth request
        await feed_with(api, npm_source(loop.url, name="looping"), feed="loop")
        r = await packument(api, "lib", feed="loop")
        assert r.status_code == 502 and "redirected more than 5 times" in r.json()["error"]
        assert len(loop.requests) == 6


# --- decoded-size bounds ---------------------------------------------------------------------------------


BOMB_BYTES = 256 * MIB  # decoded; about 256 KiB on the wire


async def test_decompression_bombs_are_read_up_to_their_bound_only(
    make_settings: SettingsFactory, clock: MutableClock, scripted_server: Callable[..., ScriptedServer]
) -> None:
    bomb, gz = gzip_bomb(BOMB_BYTES), {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    data = make_tarball("tgz-bomb", "1.0.0")
    server = scripted_server({})
    server.routes.update(
        {
            "/doc-bomb": Reply(headers=gz, body=bomb),
            "/simple/page-bomb/": Reply(headers=gz, body=bomb),
            "/tgz-bomb": Reply(body=npm_document("tgz-bomb", f"{server.url}tgz-bomb/-/tgz-bomb-1.0.0.tgz", data)),
            "/tgz-bomb/-/tgz-bomb-1.0.0.tgz": Reply(headers={"Content-Encoding": "gzip"}, body=bomb),
        }
    )
    settings = make_settings(upstream_max_document_bytes=MIB, max_upload_bytes=2 * MIB, **TIMEOUTS)
    before = peak_rss_mib()
    async with running_api(settings, clock) as api:
        pypi = {"name": "py-partner", "protocol": "pypi", "location": server.url + "simple/"}
        await feed_with(api, npm_source(server.url), pypi)
        r = await packument(api, "doc-bomb")
        assert r.status_code == 502, r.text
        assert "partner" in r.json()["error"] and f"more than {MIB} bytes (decompressed)" in r.json()["error"]
        assert "FEED_UPSTREAM_MAX_DOCUMENT_BYTES" in r.json()["error"]
        r = await api.http.get(f"/{ORG}/_packaging/feed/pypi/simple/page-bomb/", headers={**JSON_PAGE, **api.auth()})
        assert r.status_code == 502 and f"more than {MIB} bytes (decompressed)" in r.json()["message"]
        assert (await packument(api, "tgz-bomb")).status_code == 200
        # The file streams through until the bound: the response is cut short (over HTTP the connection closes
        # before the body is complete; in process the app's error reaches the client), the cause goes to the log.
        with pytest.raises(StreamAborted):
            await tarball(api, "tgz-bomb", "1.0.0")
        saved = await api.http.get(f"{FEEDS}/feed/npm/packages/tgz-bomb/versions/1.0.0", headers=api.auth())
        assert saved.status_code == 404
    # three 256 MiB bombs went by; the feed's peak memory barely moved
    assert peak_rss_mib() - before < 100


# --- one upstream cannot starve the others -----------------------------------------------------------------


async def test_seventy_slow_downloads_from_one_upstream_do_not_starve_another(
    make_settings: SettingsFactory, clock: MutableClock, make_fixture_registry: Callable[[], FixtureRegistry]
) -> None:
    slow, healthy = make_fixture_registry(), make_fixture_registry()
    versions = [f"1.0.{i}" for i in range(70)]
    for version in versions:
        slow.add("slow-lib", version)
    healthy.add("fine-lib", "1.0.0")
    settings = make_settings(upstream_timeout=3.0, upstream_connect_timeout=1.0, upstream_download_timeout=30.0)
    async with running_api(settings, clock) as api:
        await feed_with(api, npm_source(slow.url, name="slow"), feed="a")
        await feed_with(api, npm_source(healthy.url, name="healthy"), feed="b")
        assert (await packument(api, "slow-lib", feed="a")).status_code == 200
        slow.set_delay(60)  # every answer now takes a minute: 70 downloads hang on it
        hanging = [asyncio.create_task(tarball(api, "slow-lib", v, feed="a")) for v in versions]
        try:
            for _ in range(200):
                if slow.count("GET", ".tgz") >= 32:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            assert slow.count("GET", ".tgz") == 32  # the per-origin cap, not the whole pool
            started = time.monotonic()
            assert (await packument(api, "fine-lib", feed="b")).status_code == 200
            assert (await tarball(api, "fine-lib", "1.0.0", feed="b")).status_code == 200
            assert time.monotonic() - started < 2.0
        finally:
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)
            slow.stop()


# --- TLS trust ----------------------------------------------------------------------------------------------


async def test_an_untrusted_certificate_names_the_fix_and_the_ca_bundle_setting_fixes_it(
    make_settings: SettingsFactory,
    clock: MutableClock,
    scripted_server: Callable[..., ScriptedServer],
    tmp_path: Path,
) -> None:
    tls, cert = self_signed_tls(tmp_path)
    data = make_tarball("tls-lib", "1.0.0")
    server = scripted_server({}, tls)
    server.routes["/tls-lib"] = Reply(body=npm_document("tls-lib", f"{server.url}tls-lib/-/tls-lib-1.0.0.tgz", data))
    server.routes["/tls-lib/-/tls-lib-1.0.0.tgz"] = Reply(body=data)
    async with running_api(make_settings(**TIMEOUTS), clock) as api:
        await feed_with(api, npm_source(server.url))
        r = await packument(api, "tls-lib")
        assert r.status_code == 424, r.text  # permanent: npm shows it at once
        error = r.json()["error"]
        assert "not trusted" in error and "FEED_UPSTREAM_CA_BUNDLE" in error and "SSL_CERT_FILE" in error
        assert "system's certificate store" in error
    async with running_api(make_settings(upstream_ca_bundle=str(cert), **TIMEOUTS), clock) as api:
        await feed_with(api, npm_source(server.url), feed="trusted")
        assert (await packument(api, "tls-lib", feed="trusted")).status_code == 200
        r = await tarball(api, "tls-lib", "1.0.0", feed="trusted")
        assert r.status_code == 200 and r.content == data


# --- failing fast -------------------------------------------------------------------------------------------


async def test_refused_credentials_open_the_circuit_at_once(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.require_auth("Bearer the-right-token")
    fixture_registry.add("first", "1.0.0")
    fixture_registry.add("second", "1.0.0")
    async with running_api(make_settings(**TIMEOUTS), clock) as api:
        await feed_with(api, npm_source(fixture_registry.url))
        r = await packument(api, "first")
        assert r.status_code == 424 and "refused the credentials (401)" in r.json()["error"]
        asked = len(fixture_registry.requests)
        assert asked == 1  # no retry of a 401 either
        # the next package is answered at once from the open circuit, without asking the upstream again
        r = await packument(api, "second")
        assert r.status_code == 424 and "skipped" in r.json()["error"] and "401" in r.json()["error"]
        assert len(fixture_registry.requests) == asked
        # after the cool-down, one trial call decides
        clock.advance(seconds=31)
        assert (await packument(api, "second")).status_code == 424
        assert len(fixture_registry.requests) == asked + 1


async def test_transient_failures_still_need_three_in_a_row(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> None:
    fixture_registry.set_down(True, "503")
    async with running_api(make_settings(upstream_refresh_min_seconds=0, **TIMEOUTS), clock) as api:
        await feed_with(api, npm_source(fixture_registry.url))
        for name in ("a", "b"):
            r = await packument(api, name)
            assert r.status_code == 502 and "skipped" not in r.json()["error"]
        fixture_registry.reset_requests()
        fixture_registry.set_down(False)
        fixture_registry.add("c", "1.0.0")
        assert (await packument(api, "c")).status_code == 200
        assert fixture_registry.requests
