"""Reading a Cargo registry's answers: index files into offered versions, config.json and its ``dl`` template, crate
checks, and what the client sends (against the fixture registry on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from feed_core.domain.credentials import Credentials
from feed_core.domain.source_models import CustomSource
from feed_core.upstreams import cargo
from feed_core.upstreams.http import UpstreamFailure, source_auth_headers
from feed_core.upstreams.models import BadDocument, UpstreamVersion
from tests.cargo_packages import crate_bytes
from tests.cargo_registry import CargoRegistry, index_dep

LOCATION = "http://registry.test/index/"
CKSUM = hashlib.sha256(b"x").hexdigest()


def line(name: str = "Serde_mini", vers: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "vers": vers,
        "deps": [],
        "cksum": CKSUM,
        "features": {},
        "yanked": False,
        "links": None,
        "v": 2,
        **fields,
    }


def index(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def stored(body: bytes, location: str = LOCATION) -> bytes:
    """A document as ``fetch_document`` hands it to the engine (which stores it as it is)."""
    return b"#feed-cargo-upstream " + json.dumps({"location": location}).encode() + b"\n" + body


# --- addresses -----------------------------------------------------------------------------------------------


def test_the_location_is_the_sparse_index_url() -> None:
    for location in ("sparse+http://r.test/index/", "http://r.test/index", "http://r.test/index/"):
        assert cargo.index_base(location) == "http://r.test/index/"
    assert cargo.index_url("http://r.test/index", "Serde_Mini") == "http://r.test/index/se/rd/serde_mini"
    assert cargo.index_url(LOCATION, "a") == LOCATION + "1/a"
    assert cargo.index_url(LOCATION, "abc") == LOCATION + "3/a/abc"
    assert cargo.config_url("sparse+http://r.test/index/") == "http://r.test/index/config.json"
    assert set(cargo.own_locations("http://r.test/index")) == {
        "http://r.test/index/",
        "http://r.test/index",
        "sparse+http://r.test/index/",
        "sparse+http://r.test/index",
    }


@pytest.mark.parametrize(
    ("dl", "expected"),
    [
        ("https://dl.test/api/v1/crates", "https://dl.test/api/v1/crates/Serde_mini/1.0.0+b/download"),
        ("https://dl.test/{crate}/{version}/download", "https://dl.test/Serde_mini/1.0.0+b/download"),
        ("https://dl.test/{prefix}/{crate}-{version}.crate", "https://dl.test/Se/rd/Serde_mini-1.0.0+b.crate"),
        ("https://dl.test/{lowerprefix}/{crate}", "https://dl.test/se/rd/Serde_mini"),
        ("https://dl.test/by-hash/{sha256-checksum}", f"https://dl.test/by-hash/{CKSUM}"),
        ("https://dl.test/{crate}/{crate}?v={version}", "https://dl.test/Serde_mini/Serde_mini?v=1.0.0+b"),
    ],
)
def test_dl_templates_expand_as_cargo_expands_them(dl: str, expected: str) -> None:
    assert cargo.download_url(dl, "Serde_mini", "1.0.0+b", CKSUM) == expected


def test_prefixes_of_short_names() -> None:
    assert [cargo.dep_prefix(n) for n in ("a", "Ab", "Abc", "AbCd")] == ["1", "2", "3/A", "Ab/Cd"]
    assert cargo.download_url("http://d/{lowerprefix}", "Abc", "1.0.0", CKSUM) == "http://d/3/a"


# --- config.json ---------------------------------------------------------------------------------------------


def test_config_json_gives_the_dl_template() -> None:
    body = json.dumps({"dl": "https://dl.test/{crate}", "api": "https://api.test", "auth-required": True})
    assert cargo.read_config(body.encode(), LOCATION) == "https://dl.test/{crate}"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>not json</html>", "not a config.json"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "no download address"),
        (b'{"dl": 7}', "no download address"),
        (b'{"dl": "file:///etc/passwd"}', "not an http(s) URL"),
        (b'{"dl": "/relative/{crate}"}', "not an http(s) URL"),
        (b'{"dl": "https://d.test/a b"}', "spaces"),
        (json.dumps({"dl": "https://d.test/" + "a" * 3000}).encode(), "longer than"),
        (b'{"dl": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "not a config.json"),
    ],
)
def test_hostile_config_json_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(BadDocument, match=r"config\.json") as refused:
        cargo.read_config(body, LOCATION)
    assert why in refused.value.reason


# --- index files ---------------------------------------------------------------------------------------------


def test_lines_become_offered_versions() -> None:
    body = index(
        line(vers="1.0.0", pubtime="2024-05-01T10:00:00Z", rust_version="1.70"),
        line(vers="1.1.0", yanked=True, deps=[index_dep("itoa", "^1", registry=LOCATION)]),
    )
    package = cargo.parse(stored(body), "serde_mini", LOCATION)
    assert sorted(package.versions) == ["1.0.0", "1.1.0"] and not package.refused and package.dist_tags == {}
    first, second = package.versions["1.0.0"], package.versions["1.1.0"]
    assert first.sha256 == CKSUM and not first.integrity and not first.sha1  # cksum is the declared hash
    assert first.filename == "Serde_mini-1.0.0.crate"  # the crate's own spelling, the key lower-case
    assert first.published is not None and first.published.startswith("2024-05-01T10:00:00")
    assert second.published is None  # no pubtime: the engine counts from first sight
    assert first.file_url == "" and first.digests_url == LOCATION + "config.json"  # the address comes from there
    assert first.manifest["name"] == "Serde_mini" and first.manifest["rust_version"] == "1.70"
    assert "yanked" not in first.manifest and second.manifest["yanked"] is True
    (dep,) = second.manifest["deps"]
    assert dep["name"] == "itoa" and dep["registry"] is None  # the registry's own index: "this registry"


def test_the_stored_location_decides_which_registry_is_this_one() -> None:
    """A document read back from the cache (the engine names no location then) still knows its registry."""
    other = "https://elsewhere.test/index/"
    deps = [index_dep("a1", registry=LOCATION.rstrip("/")), index_dep("b1", registry=other)]
    package = cargo.parse(stored(index(line(deps=deps))), "serde_mini", "cache")
    registries = [d["registry"] for d in package.versions["1.0.0"].manifest["deps"]]
    assert registries == [None, other]
    assert package.versions["1.0.0"].digests_url == LOCATION + "config.json"


def test_bad_lines_are_refused_one_by_one() -> None:
    body = (
        index(
            line(vers="1.0.0"),
            line(vers="1.0.1", cksum="not-a-digest"),
            line(name="other-crate", vers="1.0.2"),
            line(vers="01.0.3"),
        )
        + b"{not json\n"
    )
    package = cargo.parse(stored(body), "serde_mini", LOCATION)
    assert list(package.versions) == ["1.0.0"]
    assert len(package.refused) == 4, package.refused


def test_a_version_listed_twice_is_offered_once() -> None:
    body = index(line(vers="1.0.0"), line(vers="1.0.0+other", cksum="0" * 64), line(vers="2.0.0"))
    package = cargo.parse(stored(body), "serde_mini", LOCATION)
    assert sorted(package.versions) == ["1.0.0", "2.0.0"] and package.versions["1.0.0"].sha256 == CKSUM
    assert "repeats a version" in package.refused["1.0.0+other"]


@pytest.mark.parametrize("body", [b"\x89PNG\r\n\x1a\n\x00\x00binary", b"<html><body>login</body></html>\n"])
def test_a_document_that_is_no_index_file_is_refused_whole(body: bytes) -> None:
    with pytest.raises(BadDocument, match="serde_mini"):
        cargo.parse(stored(body), "serde_mini", LOCATION)


async def test_large_index_files_are_read_off_the_event_loop() -> None:
    body = index(*(line(vers=f"1.0.{n}", features={f"f{i}": [] for i in range(20)}) for n in range(800)))
    assert len(body) > 256 * 1024
    package = await cargo.parse_document(stored(body), "serde_mini", LOCATION)
    assert len(package.versions) == 800


# --- crate checks --------------------------------------------------------------------------------------------


def test_a_crate_must_be_the_one_it_is_listed_as() -> None:
    cargo.check_file("serde_mini", "1.0.0", "Serde_mini-1.0.0.crate", crate_bytes("Serde_mini", "1.0.0"))
    for filename, data in (
        ("Serde_mini-1.0.0.crate", crate_bytes("Serde_mini", "2.0.0")),
        ("Serde_mini-1.0.0.crate", crate_bytes("evil", "1.0.0")),
        ("Serde_mini-1.0.0.crate", b"not a gzip stream"),
        ("evil-1.0.0.crate", crate_bytes("evil", "1.0.0")),
    ):
        with pytest.raises(BadDocument):
            cargo.check_file("serde_mini", "1.0.0", filename, data)


# --- against a registry --------------------------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[CargoRegistry]:
    cargo.forget_configs()
    with CargoRegistry(tmp_path / "registry") as served:
        yield served
    cargo.forget_configs()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        yield http


def source(registry: CargoRegistry, token: str | None = None) -> CustomSource:
    creds = Credentials(token=SecretStr(token)) if token else None
    return CustomSource(id="s", name="up", protocol="cargo", location=registry.index_url, credentials=creds)


async def fetch(client: httpx.AsyncClient, src: CustomSource, name: str, etag: str | None = None) -> Any:
    return await cargo.fetch_document(client, src, name, etag=etag, last_modified=None, budget=5, max_bytes=1 << 20)


async def test_index_files_are_asked_for_as_cargo_asks_and_revalidated(
    registry: CargoRegistry, client: httpx.AsyncClient
) -> None:
    registry.add("Serde_mini", "1.0.0")
    fetched = await fetch(client, source(registry), "serde_mini")
    assert fetched.status == "ok" and fetched.etag
    (_, path, headers), *_ = registry.requests
    assert path == "/index/se/rd/serde_mini"
    assert headers["accept"] == "text/plain" and headers["cargo-protocol"] == "version=1"
    package = await cargo.parse_document(fetched.body, "serde_mini", "cache")
    assert list(package.versions) == ["1.0.0"]
    again = await fetch(client, source(registry), "serde_mini", etag=fetched.etag)
    assert again.status == "not_modified"
    assert (await fetch(client, source(registry), "nothing")).status == "not_found"
    assert (await fetch(client, source(registry), "../../etc")).status == "not_found"  # never sent
    assert registry.count("/nothing") == 1 and not [p for _, p, _ in registry.requests if "etc" in p]


async def test_a_token_goes_to_the_registry_that_asks_for_it(
    registry: CargoRegistry, client: httpx.AsyncClient
) -> None:
    registry.require_token("s3cret")
    registry.add("tok", "1.0.0")
    with pytest.raises(UpstreamFailure, match="refused the credentials"):
        await fetch(client, source(registry), "tok")
    assert (await fetch(client, source(registry, "s3cret"), "tok")).status == "ok"
    await cargo.ping(client, source(registry, "s3cret"), 5)


def test_source_credentials_go_only_to_its_own_host_and_never_over_plain_http_for_an_https_source() -> None:
    creds = Credentials(token=SecretStr("s3cret"))
    secure = CustomSource(
        id="s", name="up", protocol="cargo", location="https://registry.test/index/", credentials=creds
    )
    plain = CustomSource(id="p", name="up", protocol="cargo", location="http://registry.test/index/", credentials=creds)
    sent = {"Authorization": "Bearer s3cret"}
    assert source_auth_headers(secure, "https://registry.test/api/v1/crates/x/1.0.0/download") == sent
    assert source_auth_headers(secure, "http://registry.test/api/v1/crates/x/1.0.0/download") == {}  # a downgrade
    assert source_auth_headers(secure, "https://elsewhere.test/api/v1/crates/x/1.0.0/download") == {}
    assert source_auth_headers(plain, "http://registry.test/api/v1/crates/x/1.0.0/download") == sent
    assert source_auth_headers(plain, "http://elsewhere.test/dl") == {}


async def test_declared_reads_config_json_once_per_location_for_a_while(
    registry: CargoRegistry, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = registry.add("Serde_mini", "1.0.0")
    package = cargo.parse((await fetch(client, source(registry), "serde_mini")).body, "serde_mini", "cache")
    uv = package.versions["1.0.0"]

    async def declared() -> UpstreamVersion:
        return await cargo.declared(client, source(registry), "serde_mini", uv, budget=5, max_bytes=1 << 20)

    results = await asyncio.gather(*(declared() for _ in range(10)))
    assert {r.file_url for r in results} == {f"{registry.url}crates/Serde_mini/1.0.0/download"}
    assert registry.count("config.json") == 1  # shared by concurrent saves, then kept
    assert (await client.get(results[0].file_url)).content == data
    registry.set_dl(no_marker=True)
    assert (await declared()).file_url == results[0].file_url  # still the one read before
    now = cargo._now()
    monkeypatch.setattr(cargo, "_now", lambda: now + cargo.CONFIG_TTL_SECONDS + 1)
    assert (await declared()).file_url == f"{registry.url}api/v1/crates/Serde_mini/1.0.0/download"
    monkeypatch.setattr(cargo, "_now", lambda: now + 3 * cargo.CONFIG_TTL_SECONDS)
    registry.down = True  # stale-if-error: what it said before still names where its files are
    assert (await declared()).file_url == f"{registry.url}api/v1/crates/Serde_mini/1.0.0/download"
    assert registry.count("config.json") == 4  # the last one asked twice (a 503 is retried once)


async def test_declared_fails_with_the_cause_when_config_json_is_missing_or_bad(
    registry: CargoRegistry, client: httpx.AsyncClient
) -> None:
    uv = UpstreamVersion("1.0.0", {}, "", "a1-1.0.0.crate", "", "", None, sha256=CKSUM, digests_url="x")
    registry.write("index/config.json", b'{"api": "http://x"}')
    with pytest.raises(BadDocument, match="no download address"):
        await cargo.declared(client, source(registry), "a1", uv, budget=5, max_bytes=1)
    (registry.root / "index" / "config.json").unlink()
    with pytest.raises(UpstreamFailure, match="does not point at a Cargo sparse index"):
        await cargo.declared(client, source(registry), "a1", uv, budget=5, max_bytes=1)


async def test_ping_reads_config_json(registry: CargoRegistry, client: httpx.AsyncClient) -> None:
    await cargo.ping(client, source(registry), 5)
    assert registry.count("/index/config.json") == 1
    registry.down = True
    with pytest.raises(UpstreamFailure, match="503"):
        await cargo.ping(client, source(registry), 5)
    registry.down = False
    registry.write("index/config.json", b"<html>a web page</html>")
    with pytest.raises(BadDocument, match=r"not a config\.json"):
        await cargo.ping(client, source(registry), 5)
    wrong = CustomSource(id="w", name="w", protocol="cargo", location=registry.url + "nothing/", credentials=None)
    with pytest.raises(UpstreamFailure, match="does not point at a Cargo sparse index"):
        await cargo.ping(client, wrong, 5)
