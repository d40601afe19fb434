"""The fixture npm registry behaves like the public one, and misbehaves on demand."""
# ruff: noqa: F811  (test parameters named after the imported fixtures)

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from tests.npm_packages import integrity
from tests.npm_registry_fixture import (  # noqa: F401  (pytest fixtures)
    ABBREVIATED,
    FixtureRegistry,
    fixture_registry,
    make_fixture_registry,
)


def get(registry: FixtureRegistry, path: str, **headers: str) -> httpx.Response:
    return httpx.get(registry.url + path, headers=headers, timeout=5)


def test_full_packument(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("left-pad", "1.0.0", deps={"tiny": "^1.0.0"}, extra={"description": "pads", "scripts": {"test": "x"}})
    reg.add("left-pad", "2.0.0-beta.1", tag="next", published="2024-05-01T12:00:00.000Z")
    response = get(reg, "left-pad")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["_id"] == doc["name"] == "left-pad"
    assert doc["description"] == "pads"
    assert doc["dist-tags"] == {"latest": "1.0.0", "next": "2.0.0-beta.1"}
    v1 = doc["versions"]["1.0.0"]
    assert v1["_id"] == "left-pad@1.0.0"
    assert v1["dependencies"] == {"tiny": "^1.0.0"}
    assert v1["scripts"] == {"test": "x"}
    assert v1["dist"]["tarball"] == reg.url + "left-pad/-/left-pad-1.0.0.tgz"
    assert doc["time"]["1.0.0"] == "2020-01-01T00:00:00.000Z"
    assert doc["time"]["2.0.0-beta.1"] == "2024-05-01T12:00:00.000Z"
    assert doc["time"]["created"] == "2020-01-01T00:00:00.000Z"
    assert doc["time"]["modified"] >= "2024-05-01T12:00:00.000Z"
    assert response.headers["etag"].startswith('"')
    assert "last-modified" in response.headers


def test_abbreviated_packument(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0", deps={"a": "1"}, extra={"scripts": {"postinstall": "node x"}, "readme": "long"})
    full = get(reg, "pkg")
    corgi = get(reg, "pkg", accept=f"{ABBREVIATED}; q=1.0, application/json; q=0.8, */*")
    assert corgi.headers["content-type"].startswith(ABBREVIATED)
    assert corgi.headers["etag"] != full.headers["etag"]
    doc = corgi.json()
    assert set(doc) == {"name", "modified", "dist-tags", "versions"}
    version = doc["versions"]["1.0.0"]
    assert version["dependencies"] == {"a": "1"}
    assert version["dist"] == full.json()["versions"]["1.0.0"]["dist"]
    assert version["hasInstallScript"] is True
    assert "scripts" not in version and "readme" not in version


@pytest.mark.parametrize("accept", ["", ABBREVIATED])
def test_conditional_requests(fixture_registry: FixtureRegistry, accept: str) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0")
    first = get(reg, "pkg", accept=accept)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert get(reg, "pkg", accept=accept, **{"if-none-match": etag}).status_code == 304
    assert get(reg, "pkg", accept=accept, **{"if-modified-since": last_modified}).status_code == 304
    assert get(reg, "pkg", accept=accept, **{"if-none-match": '"other"'}).status_code == 200
    reg.add("pkg", "1.0.1")  # the package changed: both validators are stale
    changed = get(reg, "pkg", accept=accept, **{"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert get(reg, "pkg", accept=accept, **{"if-modified-since": last_modified}).status_code == 200


def test_tarball_matches_integrity_until_tampered(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0", deps={"a": "1"})
    dist = get(reg, "pkg").json()["versions"]["1.0.0"]["dist"]
    tarball = httpx.get(dist["tarball"])
    assert tarball.status_code == 200
    assert tarball.headers["content-type"] == "application/octet-stream"
    assert integrity(tarball.content) == dist["integrity"]
    assert hashlib.sha1(tarball.content).hexdigest() == dist["shasum"]  # noqa: S324 - npm's shasum
    with tarfile.open(fileobj=io.BytesIO(tarball.content)) as tar:
        assert b'"dependencies": {"a": "1"}' in tar.extractfile("package/package.json").read()  # type: ignore[union-attr]
    etag = get(reg, "pkg").headers["etag"]
    reg.tamper("pkg", "1.0.0")
    tampered = httpx.get(dist["tarball"])
    assert tampered.status_code == 200
    assert integrity(tampered.content) != dist["integrity"]
    assert get(reg, "pkg").json()["versions"]["1.0.0"]["dist"] == dist
    assert get(reg, "pkg").headers["etag"] == etag


def test_custom_tarball_and_not_found(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0", tarball=b"not really a tgz")
    assert get(reg, "pkg/-/pkg-1.0.0.tgz").content == b"not really a tgz"
    assert get(reg, "pkg/-/pkg-9.9.9.tgz").status_code == 404
    missing = get(reg, "nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found"})
    for path in ["-/all", "-/v1/search?text=pkg", "pkg/1.0.0", ""]:
        assert get(reg, path).status_code == 404, path
    assert httpx.put(reg.url + "pkg", json={}).status_code == 405


def test_remove_unpublishes(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0")
    reg.add("pkg", "1.1.0")
    reg.remove("pkg", "1.1.0")
    doc = get(reg, "pkg").json()
    assert list(doc["versions"]) == ["1.0.0"]
    assert "1.1.0" not in doc["time"]
    assert doc["dist-tags"] == {"latest": "1.0.0"}
    assert get(reg, "pkg/-/pkg-1.1.0.tgz").status_code == 404
    reg.remove("pkg", "1.0.0")
    assert get(reg, "pkg").status_code == 404


@pytest.mark.parametrize("path", ["@scope%2fpkg", "@scope%2Fpkg", "@scope/pkg"])
def test_scoped_names(fixture_registry: FixtureRegistry, path: str) -> None:
    reg = fixture_registry
    reg.add("@scope/pkg", "1.0.0")
    doc = get(reg, path).json()
    assert doc["name"] == "@scope/pkg"
    url = doc["versions"]["1.0.0"]["dist"]["tarball"]
    assert url == reg.url + "@scope/pkg/-/pkg-1.0.0.tgz"
    assert integrity(httpx.get(url).content) == doc["versions"]["1.0.0"]["dist"]["integrity"]
    assert reg.count("GET", "/@scope/pkg") == 1


def test_down_refuse(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0")
    reg.set_down(True, mode="refuse")
    with pytest.raises(httpx.TransportError):
        get(reg, "pkg")
    assert reg.count("GET", "/pkg") == 1
    reg.set_down(False)
    assert get(reg, "pkg").status_code == 200


def test_down_503(fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("pkg", "1.0.0")
    fixture_registry.set_down(True, mode="503")
    assert get(fixture_registry, "pkg").status_code == 503
    assert get(fixture_registry, "pkg/-/pkg-1.0.0.tgz").status_code == 503


def test_down_hang_times_out_and_stops_promptly() -> None:
    reg = FixtureRegistry()
    reg.add("pkg", "1.0.0")
    reg.set_down(True, mode="hang")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(reg.url + "pkg", timeout=0.5)
    assert time.monotonic() - started < 2
    started = time.monotonic()
    reg.stop()
    assert time.monotonic() - started < 1.5
    assert not any(t.name.startswith("fixture-registry") for t in threading.enumerate())


def test_delay(fixture_registry: FixtureRegistry) -> None:
    fixture_registry.add("pkg", "1.0.0")
    fixture_registry.set_delay(0.3)
    started = time.monotonic()
    assert get(fixture_registry, "pkg").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(fixture_registry.url + "pkg", timeout=0.1)


def test_require_auth(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0")
    reg.require_auth("Bearer s3cret")
    assert get(reg, "pkg").status_code == 401
    assert get(reg, "pkg", authorization="Bearer wrong").status_code == 401
    assert get(reg, "pkg", authorization="Bearer s3cret").status_code == 200
    assert get(reg, "pkg/-/pkg-1.0.0.tgz").status_code == 401
    reg.require_auth(None)
    assert get(reg, "pkg").status_code == 200


def test_request_log(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "1.0.0")
    get(reg, "pkg", **{"X-Trace": "1"})
    get(reg, "pkg/-/pkg-1.0.0.tgz")
    httpx.delete(reg.url + "pkg")
    assert [(m, p) for m, p, _ in reg.requests] == [
        ("GET", "/pkg"),
        ("GET", "/pkg/-/pkg-1.0.0.tgz"),
        ("DELETE", "/pkg"),
    ]
    assert reg.requests[0][2]["x-trace"] == "1"
    assert reg.count("GET", "/pkg") == 1
    assert reg.count("GET", ".tgz") == 1
    assert reg.count("DELETE", "pkg") == 1
    reg.reset_requests()
    assert reg.requests == []


def test_mutation_while_serving(fixture_registry: FixtureRegistry) -> None:
    reg = fixture_registry
    reg.add("pkg", "0.0.0")

    def publish() -> None:
        for i in range(1, 50):
            reg.add("pkg", f"1.0.{i}")

    writer = threading.Thread(target=publish)
    writer.start()
    with httpx.Client(base_url=reg.url) as client:
        while writer.is_alive():
            assert client.get("pkg").status_code == 200
    writer.join()
    assert len(get(reg, "pkg").json()["versions"]) == 50


def test_factory_gives_independent_registries(make_fixture_registry: Callable[[], FixtureRegistry]) -> None:
    started = time.monotonic()
    one, two = make_fixture_registry(), make_fixture_registry()
    assert time.monotonic() - started < 1.0
    assert one.url != two.url and one.url.endswith("/")
    one.add("pkg", "1.0.0")
    assert get(one, "pkg").status_code == 200
    assert get(two, "pkg").status_code == 404
