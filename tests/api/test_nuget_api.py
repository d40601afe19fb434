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


# --- unlist and relist ----------------------------------------------------------------------------------------


async def test_delete_unlists_and_post_relists(feed_api: Api) -> None:
    api = feed_api
    for version in ("1.0.0", "2.0.0"):
        assert (await push(api, build_nupkg("Listed", version))).status_code == 201
    r = await api.http.delete(v3() + "package/Listed/2.0", headers=key(api, "alice"))
    assert r.status_code == 204, r.text
    # still restorable by its exact number, and still in the version list
    assert (await get(api, "flat2/listed/index.json")).json() == {"versions": ["1.0.0", "2.0.0"]}
    assert (await get(api, "flat2/listed/2.0.0/listed.2.0.0.nupkg")).status_code == 200
    items = (await get(api, "registrations/listed/index.json")).json()["items"][0]["items"]
    assert [(i["catalogEntry"]["version"], i["catalogEntry"]["listed"]) for i in items] == [
        ("1.0.0", True),
        ("2.0.0", False),
    ]
    leaf = (await get(api, "registrations/listed/2.0.0.json")).json()
    assert leaf["listed"] is False and leaf["packageContent"].endswith("/flat2/listed/2.0.0/listed.2.0.0.nupkg")
    # but hidden from search and autocomplete
    hit = (await get(api, "query", q="listed")).json()["data"][0]
    assert hit["version"] == "1.0.0" and [v["version"] for v in hit["versions"]] == ["1.0.0"]
    assert (await get(api, "autocomplete", id="listed")).json()["data"] == ["1.0.0"]
    info = await api.http.get(f"{FEEDS}/feed/nuget/packages/listed/versions/2.0.0", headers=api.auth())
    assert info.status_code == 200 and info.json()["isListed"] is False
    r = await api.http.post(v3() + "package/listed/2.0.0", headers=key(api, "alice"))
    assert r.status_code == 200
    assert (await get(api, "autocomplete", id="listed")).json()["data"] == ["1.0.0", "2.0.0"]
    assert (await api.http.post(v3() + "package/listed/2.0.0", headers=key(api, "alice"))).status_code == 200
    # unknown ids and versions, and readers
    assert (await api.http.delete(v3() + "package/listed/3.0.0", headers=key(api, "alice"))).status_code == 404
    assert (await api.http.delete(v3() + "package/nothing/1.0.0", headers=key(api, "alice"))).status_code == 404
    assert (await api.http.delete(v3() + "package/listed/1.0.0", headers=key(api, "bob"))).status_code == 403
    # the REST API in Azure's shape unlists too
    r = await api.http.patch(
        f"{FEEDS}/feed/nuget/packages/Listed/versions/1.0?api-version=7.1", json={"listed": False}, headers=api.auth()
    )
    assert r.status_code in (200, 202, 204), r.text
    assert (await get(api, "autocomplete", id="listed")).json()["data"] == ["2.0.0"]


async def test_a_deleted_version_stays_reserved(feed_api: Api) -> None:
    assert (await push(feed_api, build_nupkg("Reserved", "1.0.0"))).status_code == 201
    r = await feed_api.http.delete(f"{FEEDS}/feed/nuget/packages/reserved/versions/1.0.0", headers=feed_api.auth())
    assert r.status_code in (200, 202, 204), r.text
    assert (await get(feed_api, "flat2/reserved/1.0.0/reserved.1.0.0.nupkg")).status_code == 404
    r = await push(feed_api, build_nupkg("Reserved", "1.0"))
    assert r.status_code == 409 and "reserved" in r.json()["message"]


# --- SemVer 2.0.0 ---------------------------------------------------------------------------------------------


async def test_semver2_versions_are_hidden_from_semver1_clients(feed_api: Api) -> None:
    api = feed_api
    for version in ("1.0.0", "2.0.0-beta.1", "2.0.0+build.7"):
        assert (await push(api, build_nupkg("Modern", version))).status_code == 201
    # 2.0.0+build.7 is SemVer 2 by its metadata; 1.1.0 below only by its dependency's range
    dep = build_nupkg("Modern", "1.1.0", dependencies=[("Other", "[1.0.0-rc.1, )")])
    assert (await push(api, dep)).status_code == 201
    assert (await get(api, "flat2/modern/index.json")).json() == {
        "versions": ["1.0.0", "1.1.0", "2.0.0-beta.1", "2.0.0"]
    }
    old = (await get(api, "registrations/modern/index.json")).json()
    assert [i["catalogEntry"]["version"] for i in old["items"][0]["items"]] == ["1.0.0"]
    new = (await get(api, "registrations-semver2/modern/index.json")).json()
    versions = [i["catalogEntry"]["version"] for i in new["items"][0]["items"]]
    assert versions == ["1.0.0", "1.1.0", "2.0.0-beta.1", "2.0.0+build.7"]
    assert (await get(api, "registrations/modern/2.0.0.json")).status_code == 404
    assert (await get(api, "registrations-semver2/modern/2.0.0.json")).status_code == 200
    hit = (await get(api, "query", q="modern", prerelease="true")).json()["data"][0]
    assert [v["version"] for v in hit["versions"]] == ["1.0.0"]
    hit = (await get(api, "query", q="modern", prerelease="true", semVerLevel="2.0.0")).json()["data"][0]
    assert hit["version"] == "2.0.0+build.7"
    assert hit["registration"].endswith("/registrations-semver2/modern/index.json")
    assert (await get(api, "autocomplete", id="modern", semVerLevel="2.0.0")).json()["data"] == [
        "1.0.0",
        "1.1.0",
        "2.0.0+build.7",
    ]
    # a package with SemVer 2.0.0 versions only is not in the SemVer 1 hive at all
    assert (await push(api, build_nupkg("OnlyNew", "1.0.0-alpha.1"))).status_code == 201
    r = await get(api, "registrations/onlynew/index.json")
    assert r.status_code == 404 and "3.6.0" in r.json()["message"]
    assert (await get(api, "query", q="onlynew", prerelease="true")).json() == {"totalHits": 0, "data": []}


# --- registrations ----------------------------------------------------------------------------------------------


async def test_dependency_groups_link_their_registrations(feed_api: Api) -> None:
    groups: dict[str | None, list[tuple[str, str | None]]] = {
        "net8.0": [("Dep.One", "1.0"), ("Dep.Two", None)],
        None: [("Dep.Three", "[2.0.0]")],
    }
    assert (await push(feed_api, build_nupkg("WithDeps", "1.0.0", dependencies=groups))).status_code == 201
    entry = (await get(feed_api, "registrations-semver2/withdeps/index.json")).json()["items"][0]["items"][0][
        "catalogEntry"
    ]
    hive = f"{HOST}{v3()}registrations-semver2/"
    assert entry["dependencyGroups"] == [
        {
            "targetFramework": "net8.0",
            "dependencies": [
                {"id": "Dep.One", "range": "[1.0.0, )", "registration": hive + "dep.one/index.json"},
                {"id": "Dep.Two", "registration": hive + "dep.two/index.json"},
            ],
        },
        {
            "dependencies": [
                {"id": "Dep.Three", "range": "[2.0.0, 2.0.0]", "registration": hive + "dep.three/index.json"}
            ]
        },
    ]
    catalog = (await get(feed_api, entry["@id"])).json()
    assert catalog["id"] == "WithDeps" and catalog["dependencyGroups"] == entry["dependencyGroups"]


async def test_registrations_page_beyond_128_versions(feed_api: Api) -> None:
    api = feed_api
    for i in range(130):
        r = await push(api, build_nupkg("Many", f"1.0.{i}"))
        assert r.status_code == 201, r.text
    doc = (await get(api, "registrations/many/index.json")).json()
    assert doc["count"] == 3 and [p["count"] for p in doc["items"]] == [64, 64, 2]
    assert all("items" not in p for p in doc["items"])  # fetched by their @id
    assert (doc["items"][0]["lower"], doc["items"][0]["upper"]) == ("1.0.0", "1.0.63")
    seen = []
    for page in doc["items"]:
        got = (await get(api, page["@id"])).json()
        assert got["count"] == len(got["items"]) and got["parent"] == doc["@id"]
        seen += [item["catalogEntry"]["version"] for item in got["items"]]
    assert seen == [f"1.0.{i}" for i in range(130)]
    # at 128 versions or fewer, every page is inline
    for i in range(70):
        assert (await push(api, build_nupkg("Fewer", f"2.{i}.0"))).status_code == 201
    doc = (await get(api, "registrations/fewer/index.json")).json()
    assert [len(p["items"]) for p in doc["items"]] == [64, 6]
    assert doc["items"][1]["upper"] == "2.69.0"
    assert (await get(api, "registrations/fewer/page/2.0.0/2.5.0.json")).status_code == 404


# --- search and autocomplete ------------------------------------------------------------------------------------


async def test_search_and_autocomplete(feed_api: Api) -> None:
    api = feed_api
    await push(api, build_nupkg("Contoso.Core", "1.0.0", description="The core.", tags=["contoso"]))
    await push(api, build_nupkg("Contoso.Core", "2.0.0-preview", description="The next core.", tags=["contoso"]))
    await push(api, build_nupkg("Contoso.Web", "1.0.0", description="Web bits.", tags=["web"]))
    await push(api, build_nupkg("Fabrikam", "3.0.0", description="Nothing like the others."))
    tool = nuspec(
        "Contoso.Tool", "1.0.0", metadata_extra='<packageTypes><packageType name="DotnetTool" /></packageTypes>'
    )
    await push(api, build_nupkg("Contoso.Tool", "1.0.0", nuspec_xml=tool))
    everything = (await get(api, "query")).json()
    assert everything["totalHits"] == 4
    assert [d["id"] for d in everything["data"]] == ["Contoso.Core", "Contoso.Tool", "Contoso.Web", "Fabrikam"]
    core = everything["data"][0]
    assert core["version"] == "1.0.0" and core["description"] == "The core." and core["tags"] == ["contoso"]
    assert core["packageTypes"] == [{"name": "Dependency"}] and core["authors"] == ["tests"]
    assert core["versions"] == [
        {"version": "1.0.0", "downloads": 0, "@id": f"{HOST}{v3()}registrations/contoso.core/1.0.0.json"}
    ]
    pre = (await get(api, "query", q="core", prerelease="true")).json()
    assert pre["totalHits"] == 1 and pre["data"][0]["version"] == "2.0.0-preview"
    assert (await get(api, "query", q="contoso")).json()["totalHits"] == 3
    assert (await get(api, "query", q="web")).json()["data"][0]["id"] == "Contoso.Web"
    assert [d["id"] for d in (await get(api, "query", q="packageid:contoso.web")).json()["data"]] == ["Contoso.Web"]
    tools = (await get(api, "query", packageType="DotnetTool")).json()
    assert [d["id"] for d in tools["data"]] == ["Contoso.Tool"]
    paged = (await get(api, "query", skip="1", take="2")).json()
    assert paged["totalHits"] == 4 and [d["id"] for d in paged["data"]] == ["Contoso.Tool", "Contoso.Web"]
    assert (await get(api, "query", take="nope")).status_code == 400
    assert (await get(api, "query", skip="-1")).status_code == 400
    assert len((await get(api, "query", take="100000")).json()["data"]) == 4
    ids = (await get(api, "autocomplete", q="contoso")).json()
    assert ids == {"totalHits": 3, "data": ["Contoso.Core", "Contoso.Tool", "Contoso.Web"]}
    assert (await get(api, "autocomplete", q="CONTOSO.W")).json()["data"] == ["Contoso.Web"]
    assert (await get(api, "autocomplete", id="Contoso.Core")).json()["data"] == ["1.0.0"]
    assert (await get(api, "autocomplete", id="contoso.core", prerelease="true")).json()["data"] == [
        "1.0.0",
        "2.0.0-preview",
    ]
    assert (await get(api, "autocomplete", id="unknown")).json() == {"totalHits": 0, "data": []}


# --- views ------------------------------------------------------------------------------------------------------


async def test_views_show_promoted_versions(feed_api: Api) -> None:
    api = feed_api
    for version in ("1.0.0", "2.0.0"):
        assert (await push(api, build_nupkg("Viewed", version))).status_code == 201
    release = await index(api, view="Release")
    r = await get(api, release["PackageBaseAddress/3.0.0"] + "viewed/index.json")
    assert r.status_code == 404
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    r = await api.http.patch(f"{FEEDS}/feed/nuget/packages/viewed/versions/1.0.0", json=promote, headers=api.auth())
    assert r.status_code in (200, 202, 204), r.text
    assert (await get(api, release["PackageBaseAddress/3.0.0"] + "viewed/index.json")).json() == {"versions": ["1.0.0"]}
    assert (await get(api, release["PackageBaseAddress/3.0.0"] + "viewed/2.0.0/viewed.2.0.0.nupkg")).status_code == 404
    reg = (await get(api, release["RegistrationsBaseUrl/3.6.0"] + "viewed/index.json")).json()
    leaf = reg["items"][0]["items"][0]
    assert leaf["packageContent"].startswith(f"{HOST}{v3(view='Release')}flat2/")
    hits = (await get(api, release["SearchQueryService/3.5.0"], q="viewed")).json()["data"]
    assert [v["version"] for v in hits[0]["versions"]] == ["1.0.0"]
    assert (await get(api, release["SearchQueryService/3.5.0"], q="viewed", who="bob")).status_code == 200


# --- symbols ----------------------------------------------------------------------------------------------------


def snupkg(package_id: str, version: str) -> bytes:
    spec = nuspec(
        package_id, version, metadata_extra='<packageTypes><packageType name="SymbolsPackage" /></packageTypes>'
    )
    return build_nupkg(package_id, version, nuspec_xml=spec, extra_files={"lib/net8.0/lib.pdb": b"pdb bytes"})


async def test_symbol_packages_join_their_package(feed_api: Api) -> None:
    api = feed_api
    assert (await push(api, snupkg("Symbolic", "1.0.0"), symbols=True)).status_code == 404
    r = await push(api, snupkg("Symbolic", "1.0.0"))
    assert r.status_code == 400 and "SymbolPackagePublish" in r.json()["message"]
    assert (await push(api, build_nupkg("Symbolic", "1.0.0"))).status_code == 201
    r = await push(api, build_nupkg("Symbolic", "1.0.0"), symbols=True)
    assert r.status_code == 400 and "SymbolsPackage" in r.json()["message"]
    symbols = snupkg("Symbolic", "1.0.0")
    assert (await push(api, symbols, symbols=True)).status_code == 201
    assert (await push(api, symbols, symbols=True)).status_code == 409
    stored = await api.services.packages.version(
        await api.services.feeds.find(ORG, None, "feed"), "nuget", "symbolic", "1.0.0"
    )
    assert stored is not None
    assert [f["filename"] for f in stored.files] == ["symbolic.1.0.0.nupkg", "symbolic.1.0.0.snupkg"]
    assert stored.files[1]["sha256"] == hashlib.sha256(symbols).hexdigest()
    # the package itself is unchanged
    got = await get(api, "flat2/symbolic/1.0.0/symbolic.1.0.0.nupkg")
    assert got.content == build_nupkg("Symbolic", "1.0.0")
