"""NuGet v3 in-process: pushes as nuget.exe sends them, and the resources restore, search and the metadata
clients read, on both stores."""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any

import httpx
import pytest

from feed_core.storage.packages import content_key
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.nupkg_builder import build_nupkg, nuspec, zip_bytes

HOST = "http://feed.test"
FEEDS = f"/{ORG}/_apis/packaging/feeds"


def v3(feed: str = "feed", view: str | None = None) -> str:
    return f"/{ORG}/_packaging/{feed}{'@' + view if view else ''}/nuget/v3/"


def key(api: Api, who: str) -> dict[str, str]:
    """How nuget.exe pushes: the token as the API key."""
    return {"X-NuGet-ApiKey": api.tokens[who]}


def basic(token: str, user: str = "anything") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


async def push(
    api: Api, data: bytes, who: str = "alice", *, feed: str = "feed", view: str | None = None, symbols: bool = False
) -> httpx.Response:
    url = v3(feed, view) + ("symbolpackage" if symbols else "package")
    files = {"package": ("package.nupkg", data, "application/octet-stream")}
    return await api.http.put(url, files=files, headers=key(api, who))


async def get(api: Api, path: str, who: str = "bob", **params: Any) -> httpx.Response:
    """``path`` relative to the v3 directory, or an absolute URL from a document."""
    url = path.removeprefix(HOST) if path.startswith(HOST) else v3() + path
    return await api.http.get(url, params=params, headers=api.auth(who))


async def index(api: Api, who: str = "bob", feed: str = "feed", view: str | None = None) -> dict[str, str]:
    """@type -> @id of the service index."""
    r = await api.http.get(v3(feed, view) + "index.json", headers=api.auth(who))
    assert r.status_code == 200, r.text
    return {res["@type"]: res["@id"] for res in r.json()["resources"]}


# --- service index ----------------------------------------------------------------------------------------


async def test_service_index_advertises_every_resource_under_its_own_directory(feed_api: Api) -> None:
    r = await feed_api.http.get(v3() + "index.json", headers=basic(feed_api.tokens["bob"]))
    assert r.status_code == 200 and r.json()["version"] == "3.0.0"
    ids = {res["@type"]: res["@id"] for res in r.json()["resources"]}
    directory = f"{HOST}{v3()}"
    expected = {
        "PackagePublish/2.0.0": "package",
        "SymbolPackagePublish/4.9.0": "symbolpackage",
        "PackageBaseAddress/3.0.0": "flat2/",
        "RegistrationsBaseUrl": "registrations/",
        "RegistrationsBaseUrl/3.0.0-beta": "registrations/",
        "RegistrationsBaseUrl/3.0.0-rc": "registrations/",
        "RegistrationsBaseUrl/3.4.0": "registrations/",
        "RegistrationsBaseUrl/3.6.0": "registrations-semver2/",
        "RegistrationsBaseUrl/Versioned": "registrations-semver2/",
    }
    for kind, path in expected.items():
        assert ids[kind] == directory + path, kind
    for alias in ("", "/3.0.0-beta", "/3.0.0-rc", "/3.5.0"):
        assert ids[f"SearchQueryService{alias}"] == directory + "query"
        assert ids[f"SearchAutocompleteService{alias}"] == directory + "autocomplete"
    assert ids["LegacyGallery/2.0.0"] == f"{HOST}/{ORG}/_packaging/feed/nuget/v2"
    assert all(url.startswith(directory) for kind, url in ids.items() if kind != "LegacyGallery/2.0.0")
    # the request's own host, and the view in every URL of a view's index
    r = await feed_api.http.get(v3() + "index.json", headers={**feed_api.auth("bob"), "Host": "other.test:8080"})
    assert all(res["@id"].startswith("http://other.test:8080/") for res in r.json()["resources"])
    released = await index(feed_api, view="Release")
    assert released["PackageBaseAddress/3.0.0"] == f"{HOST}{v3(view='Release')}flat2/"


async def test_anonymous_callers_get_a_basic_challenge(feed_api: Api) -> None:
    for path in ("index.json", "flat2/x/index.json", "query"):
        r = await feed_api.http.get(v3() + path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == 'Basic realm="package feed"'
        assert "personal access token" in r.json()["message"]
    r = await feed_api.http.get(v3() + "index.json", headers=basic("not-a-token"))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    # a token as the API key reads too; a token as the Bearer credential as well
    r = await feed_api.http.get(v3() + "index.json", headers=key(feed_api, "bob"))
    assert r.status_code == 200


# --- push, flat container, download -------------------------------------------------------------------------


async def test_push_then_restore_the_exact_bytes(feed_api: Api) -> None:
    api = feed_api
    data = build_nupkg("Contoso.Lib", "1.2.0", description="Tools for Contoso.", tags=["contoso", "tools"])
    r = await push(api, data)
    assert r.status_code == 201, r.text
    ids = await index(api)
    listing = await get(api, ids["PackageBaseAddress/3.0.0"] + "contoso.lib/index.json")
    assert listing.status_code == 200 and listing.json() == {"versions": ["1.2.0"]}
    assert listing.headers["content-type"] == "application/json"
    nupkg = await get(api, ids["PackageBaseAddress/3.0.0"] + "contoso.lib/1.2.0/contoso.lib.1.2.0.nupkg")
    assert nupkg.status_code == 200
    assert hashlib.sha512(nupkg.content).digest() == hashlib.sha512(data).digest()
    spec = await get(api, "flat2/contoso.lib/1.2.0/contoso.lib.nuspec")
    assert spec.status_code == 200 and spec.content == nuspec(
        "Contoso.Lib", "1.2.0", description="Tools for Contoso.", tags=["contoso", "tools"]
    )
    # the registration points at the same content, with the catalog entry's hash
    reg = (await get(api, ids["RegistrationsBaseUrl/3.6.0"] + "contoso.lib/index.json")).json()
    assert reg["count"] == 1
    leaf = reg["items"][0]["items"][0]
    entry = leaf["catalogEntry"]
    assert entry["id"] == "Contoso.Lib" and entry["version"] == "1.2.0" and entry["listed"] is True
    assert entry["description"] == "Tools for Contoso." and entry["tags"] == ["contoso", "tools"]
    assert entry["packageHash"] == base64.b64encode(hashlib.sha512(data).digest()).decode()
    again = await get(api, leaf["packageContent"])
    assert again.content == data


async def test_ids_ignore_case_and_versions_normalize(feed_api: Api) -> None:
    api = feed_api
    assert (await push(api, build_nupkg("My.Package", "1.0"))).status_code == 201
    for path in ("flat2/my.package/index.json", "flat2/MY.PACKAGE/index.json"):
        r = await get(api, path)
        assert r.json() == {"versions": ["1.0.0"]}, path
    for url in ("flat2/my.package/1.0/my.package.1.0.nupkg", "flat2/My.Package/1.0.0.0/My.Package.1.0.0.nupkg"):
        assert (await get(api, url)).status_code == 200, url
    for other in (build_nupkg("my.package", "1.0.0"), build_nupkg("MY.PACKAGE", "1.0.0.0")):
        r = await push(api, other)
        assert r.status_code == 409, r.text
        assert "already exists" in r.json()["message"] and "already exists" in r.headers["x-nuget-warning"]
    entry = (await get(api, "registrations/my.package/index.json")).json()["items"][0]["items"][0]["catalogEntry"]
    assert entry["id"] == "My.Package"  # the casing of the first push


async def test_prerelease_labels_ignore_case(feed_api: Api) -> None:
    assert (await push(feed_api, build_nupkg("Pre", "2.0.0-Beta"))).status_code == 201
    assert (await push(feed_api, build_nupkg("Pre", "2.0.0-beta"))).status_code == 409
    r = await get(feed_api, "flat2/pre/index.json")
    assert r.json() == {"versions": ["2.0.0-beta"]}
    entry = (await get(feed_api, "registrations/pre/index.json")).json()["items"][0]["items"][0]["catalogEntry"]
    assert entry["version"] == "2.0.0-Beta"


async def test_unknown_ids_and_versions_are_404(feed_api: Api) -> None:
    await push(feed_api, build_nupkg("Known", "1.0.0"))
    for path in (
        "flat2/unknown/index.json",
        "flat2/known/2.0.0/known.2.0.0.nupkg",
        "flat2/known/1.0.0/other.1.0.0.nupkg",
        "registrations/unknown/index.json",
        "registrations-semver2/known/9.0.0.json",
        "nothing-here",
    ):
        r = await get(feed_api, path)
        assert r.status_code == 404, path
        assert r.json()["message"]


def two_nuspecs() -> bytes:
    return zip_bytes({"a.nuspec": nuspec("A", "1.0.0"), "b.nuspec": nuspec("B", "1.0.0")})


def with_dtd() -> bytes:
    xml = b'<?xml version="1.0"?><!DOCTYPE package [<!ENTITY x "y">]>' + nuspec("Dtd", "1.0.0").split(b"?>", 1)[1]
    return build_nupkg("Dtd", "1.0.0", nuspec_xml=xml)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"this is not a zip", "not a zip"),
        (zip_bytes({"content/readme.txt": b"hello"}), "no .nuspec"),
        (two_nuspecs(), "2 .nuspec files"),
        (with_dtd(), "DTD"),
        (build_nupkg("Bad", "1.0.0", nuspec_xml=nuspec("Bad", "one.two")), "invalid version"),
        (build_nupkg("Bad", "1.0.0", nuspec_xml=nuspec("Bad Id", "1.0.0")), "invalid package id"),
    ],
    ids=["not-a-zip", "no-nuspec", "two-nuspecs", "dtd", "bad-version", "bad-id"],
)
async def test_invalid_packages_are_refused_and_nothing_is_stored(feed_api: Api, data: bytes, words: str) -> None:
    r = await push(feed_api, data)
    assert r.status_code == 400, r.text
    assert words in r.json()["message"], r.json()
    assert words in r.headers["x-nuget-warning"]
    assert await feed_api.services.packages.store.blobs.stat(content_key(hashlib.sha256(data).hexdigest())) is None
    feed = await feed_api.services.feeds.find(ORG, None, "feed")
    assert await feed_api.services.packages.search(feed, "nuget", "") == []


async def test_oversized_pushes_are_413(make_settings: SettingsFactory, clock: MutableClock) -> None:
    async with running_api(make_settings(max_upload_bytes=4096), clock) as api:
        await api.create_feed("feed")
        await api.staff("feed")
        noise = random.Random(1).randbytes(8000)  # noqa: S311 - incompressible test bytes, not a secret
        big = build_nupkg("Big", "1.0.0", extra_files={"content/blob.bin": noise})
        r = await push(api, big)
        assert r.status_code == 413, r.text
        assert "4096" in r.json()["message"]
        assert (await get(api, "flat2/big/index.json")).status_code == 404


async def test_push_needs_a_contributor_and_the_feed_url(feed_api: Api) -> None:
    data = build_nupkg("Guarded", "1.0.0")
    r = await push(feed_api, data, who="bob")
    assert r.status_code == 403 and "(contributor) role" in r.json()["message"]
    r = await push(feed_api, data, who="carol")
    assert r.status_code == 403
    r = await feed_api.http.put(v3() + "package", files={"package": ("p.nupkg", data)})
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="package feed"'
    r = await push(feed_api, data, view="Release")
    assert r.status_code == 400 and "@Release" in r.json()["message"]
    # Basic credentials win over the API key nuget.exe sends along (any text)
    files = {"package": ("package.nupkg", data, "application/octet-stream")}
    headers = {"X-NuGet-ApiKey": "AzureArtifacts", **basic(feed_api.tokens["alice"])}
    r = await feed_api.http.put(v3() + "package", files=files, headers=headers)
    assert r.status_code == 201, r.text
    r = await feed_api.http.get(v3() + "package", headers=feed_api.auth("alice"))
    assert r.status_code == 405


async def test_push_must_be_multipart(feed_api: Api) -> None:
    r = await feed_api.http.put(v3() + "package", content=build_nupkg("Raw", "1.0.0"), headers=key(feed_api, "alice"))
    assert r.status_code == 400 and "multipart/form-data" in r.json()["message"]
    r = await feed_api.http.put(v3() + "package", data={"note": "x"}, files={}, headers=key(feed_api, "alice"))
    assert r.status_code == 400
