"""NuGet v2 (OData) in-process, on both stores: what PowerShellGet v2 and ``nuget list`` read and send."""

from __future__ import annotations

import base64
import hashlib
from xml.etree import ElementTree

import httpx

from tests.api.conftest import ORG, Api
from tests.nupkg_builder import build_nupkg, nuspec

HOST = "http://feed.test"
ATOM = "{http://www.w3.org/2005/Atom}"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


def v2(feed: str = "feed", view: str | None = None) -> str:
    return f"/{ORG}/_packaging/{feed}{'@' + view if view else ''}/nuget/v2"


def key(api: Api, who: str) -> dict[str, str]:
    return {"X-NuGet-ApiKey": api.tokens[who]}


async def push(api: Api, data: bytes, path: str = "/package", who: str = "alice") -> httpx.Response:
    files = {"package": ("package.nupkg", data, "application/octet-stream")}
    return await api.http.put(v2() + path, files=files, headers=key(api, who))


async def get(api: Api, path: str, who: str = "bob", feed: str = "feed") -> httpx.Response:
    url = path.removeprefix(HOST) if path.startswith(HOST) else v2(feed) + path
    return await api.http.get(url, headers=api.auth(who))


def props(entry: ElementTree.Element) -> dict[str, str]:
    found = entry.find(f"{M}properties")
    assert found is not None
    return {child.tag.removeprefix(D): child.text or "" for child in found}


def entries(body: bytes) -> list[dict[str, str]]:
    root = ElementTree.fromstring(body)  # noqa: S314 - our own answer, and parsing it is the test
    assert root.tag == f"{ATOM}feed"
    return [props(e) for e in root.findall(f"{ATOM}entry")]


def next_link(body: bytes) -> str | None:
    root = ElementTree.fromstring(body)  # noqa: S314
    link = next((e for e in root.findall(f"{ATOM}link") if e.get("rel") == "next"), None)
    return link.get("href") if link is not None else None


async def test_service_document_and_metadata(feed_api: Api) -> None:
    for path in ("", "/"):
        r = await get(feed_api, path)
        assert r.status_code == 200 and r.content.startswith(b"<?xml"), path
        root = ElementTree.fromstring(r.content)  # noqa: S314
        assert root.get("{http://www.w3.org/XML/1998/namespace}base") == f"{HOST}{v2()}"
    r = await feed_api.http.get(v2(view="Release") + "/", headers={**feed_api.auth("bob"), "Host": "other.test:8080"})
    root = ElementTree.fromstring(r.content)  # noqa: S314
    assert root.get("{http://www.w3.org/XML/1998/namespace}base") == f"http://other.test:8080{v2(view='Release')}"
    r = await get(feed_api, "/$metadata")
    assert r.status_code == 200 and b"FindPackagesById" in r.content
    # anonymous callers are challenged, as on v3
    r = await feed_api.http.get(v2())
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")


async def test_find_packages_by_id(feed_api: Api) -> None:
    api = feed_api
    for version in ("1.0.0", "1.1.0", "2.0.0-beta", "2.0.0-rc.1"):
        assert (await push(api, build_nupkg("Contoso.Lib", version))).status_code == 201
    r = await get(api, "/FindPackagesById()?id='contoso.lib'")
    assert r.status_code == 200
    shown = entries(r.content)
    assert [e["Version"] for e in shown] == ["1.0.0", "1.1.0", "2.0.0-beta"]  # SemVer 2 hidden by default
    assert {e["Id"] for e in shown} == {"Contoso.Lib"}
    assert [e["IsLatestVersion"] for e in shown] == ["false", "true", "false"]
    assert [e["IsAbsoluteLatestVersion"] for e in shown] == ["false", "false", "true"]
    assert [e["IsPrerelease"] for e in shown] == ["false", "false", "true"]
    r = await get(api, "/FindPackagesById()?id='Contoso.Lib'&semVerLevel=2.0.0")
    assert [e["Version"] for e in entries(r.content)] == ["1.0.0", "1.1.0", "2.0.0-beta", "2.0.0-rc.1"]
    # an unknown id is an empty feed (PowerShellGet probes a source with one), not a 404
    r = await get(api, "/FindPackagesById()?id='FoooBarr'")
    assert r.status_code == 200 and entries(r.content) == []
    r = await get(api, "/FindPackagesById()")
    assert r.status_code == 400 and "id" in r.json()["message"]


async def test_one_package_download_and_hash(feed_api: Api) -> None:
    api = feed_api
    data = build_nupkg(
        "Contoso.Module", "1.2.0", tags=["PSModule", "PSIncludes_Cmdlet"], dependencies=[("Contoso.Lib", "1.0")]
    )
    assert (await push(api, data)).status_code == 201
    r = await get(api, "/Packages(Id='Contoso.Module',Version='1.2')")
    assert r.status_code == 200
    root = ElementTree.fromstring(r.content)  # noqa: S314
    assert root.tag == f"{ATOM}entry"
    p = props(root)
    assert p["Id"] == "Contoso.Module" and p["NormalizedVersion"] == "1.2.0"
    assert p["Tags"].split() == ["PSModule", "PSIncludes_Cmdlet"]
    assert p["Dependencies"] == "Contoso.Lib:[1.0.0, ):"
    assert p["PackageHashAlgorithm"] == "SHA512" and p["PackageSize"] == str(len(data))
    assert p["Listed"] == "true" and p["Published"].startswith("20")
    content = root.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "application/zip"
    src = content.get("src") or ""
    assert src == f"{HOST}{v2()}/package/Contoso.Module/1.2.0"
    nupkg = await get(api, src)
    assert nupkg.status_code == 200 and nupkg.content == data
    assert p["PackageHash"] == base64.b64encode(hashlib.sha512(nupkg.content).digest()).decode()
    assert (await get(api, "/Packages(Id='Contoso.Module',Version='9.0.0')")).status_code == 404
    assert (await get(api, "/package/Contoso.Module/9.0.0")).status_code == 404


async def test_search_latest_filters_and_paging(feed_api: Api) -> None:
    api = feed_api
    for i in range(5):
        assert (await push(api, build_nupkg(f"Pkg.{i}", "1.0.0", description="widget"))).status_code == 201
        assert (await push(api, build_nupkg(f"Pkg.{i}", "1.1.0-beta", description="widget"))).status_code == 201
    assert (await push(api, build_nupkg("Other", "1.0.0", description="gadget"))).status_code == 201
    query = "/Search()?$filter=IsLatestVersion&$orderby=Id&searchTerm=''&targetFramework=''&includePrerelease=false"
    r = await get(api, query + "&$skip=0&$top=30&semVerLevel=2.0.0")
    assert [(e["Id"], e["Version"]) for e in entries(r.content)] == [
        ("Other", "1.0.0"),
        *((f"Pkg.{i}", "1.0.0") for i in range(5)),
    ]
    assert next_link(r.content) is None
    r = await get(api, "/Search()?$filter=IsAbsoluteLatestVersion&searchTerm='widget'&includePrerelease=true")
    assert [(e["Id"], e["Version"]) for e in entries(r.content)] == [(f"Pkg.{i}", "1.1.0-beta") for i in range(5)]
    # every version without a filter, two at a time, following the next links
    seen: list[tuple[str, str]] = []
    url: str | None = "/Search()?searchTerm='widget'&includePrerelease=true&$skip=0&$top=2"
    while url is not None:
        r = await get(api, url)
        assert r.status_code == 200, r.text
        page = entries(r.content)
        assert len(page) <= 2
        seen += [(e["Id"], e["Version"]) for e in page]
        url = next_link(r.content)
        assert url is None or url.startswith(f"{HOST}{v2()}/Search()?")
    assert seen == [(f"Pkg.{i}", v) for i in range(5) for v in ("1.0.0", "1.1.0-beta")]
    # Packages() with an id filter; a filter term we do not serve is a clear 400
    r = await get(api, "/Packages()?$filter=tolower(Id) eq 'pkg.3'&$top=1&$inlinecount=allpages")
    assert [(e["Id"], e["Version"]) for e in entries(r.content)] == [("Pkg.3", "1.0.0")]
    assert next_link(r.content) is not None
    assert ElementTree.fromstring(r.content).findtext(f"{M}count") == "2"  # noqa: S314
    r = await get(api, "/Packages()?$filter=DownloadCount gt 3")
    assert r.status_code == 400 and "$filter" in r.json()["message"]
    r = await get(api, "/Search()?$top=many")
    assert r.status_code == 400


async def test_hostile_metadata_stays_well_formed(feed_api: Api) -> None:
    api = feed_api
    hostile = "a <b> & c ]]> d \"quoted\" 'single'"
    data = build_nupkg(
        "Hostile.Pkg",
        "1.0.0",
        nuspec_xml=nuspec("Hostile.Pkg", "1.0.0", description=hostile, tags=["PSModule", "<x>&amp;"]),
    )
    assert (await push(api, data)).status_code == 201
    for path in ("/FindPackagesById()?id='Hostile.Pkg'", "/Search()?searchTerm=''&includePrerelease=true"):
        shown = entries((await get(api, path)).content)
        assert shown[0]["Description"] == hostile
        assert shown[0]["Tags"] == "PSModule <x>&amp;"


async def test_push_at_both_urls_unlist_and_relist(feed_api: Api) -> None:
    api = feed_api
    assert (await push(api, build_nupkg("Pushed.One", "1.0.0"), path="/package")).status_code == 201
    assert (await push(api, build_nupkg("Pushed.Two", "1.0.0"), path="/")).status_code == 201
    assert (await push(api, build_nupkg("Pushed.Two", "1.0.0"), path="/")).status_code == 409
    assert (await push(api, build_nupkg("Pushed.Three", "1.0.0"), who="bob")).status_code == 403
    r = await api.http.delete(v2() + "/Pushed.One/1.0.0", headers=key(api, "alice"))
    assert r.status_code == 204
    r = await api.http.delete(v2() + "/package/Pushed.Two/1.0.0", headers=key(api, "alice"))
    assert r.status_code == 204
    # unlisted: never in searches; still found by id (Published 1900) and downloadable
    r = await get(api, "/Search()?searchTerm=''&includePrerelease=true")
    assert entries(r.content) == []
    shown = entries((await get(api, "/FindPackagesById()?id='Pushed.One'")).content)
    assert shown[0]["Listed"] == "false" and shown[0]["Published"].startswith("1900-01-01")
    assert shown[0]["IsLatestVersion"] == "false"
    assert (await get(api, "/package/Pushed.One/1.0.0")).status_code == 200
    r = await api.http.post(v2() + "/package/Pushed.One/1.0.0", headers=key(api, "alice"))
    assert r.status_code == 200
    r = await get(api, "/Search()?searchTerm=''")
    assert [e["Id"] for e in entries(r.content)] == ["Pushed.One"]


async def test_upstream_versions_show_and_a_collaborator_download_saves_them(feed_api: Api) -> None:
    api = feed_api
    await api.create_feed("upstream")
    await api.staff("upstream")
    data = build_nupkg("Shared.Lib", "3.0.0", tags=["PSModule"])
    files = {"package": ("package.nupkg", data, "application/octet-stream")}
    r = await api.http.put(v2("upstream") + "/package", files=files, headers=key(api, "alice"))
    assert r.status_code == 201, r.text
    await api.follow_internal_upstream("feed", "upstream", ("nuget",))
    shown = entries((await get(api, "/FindPackagesById()?id='Shared.Lib'", who="carol")).content)
    assert [(e["Id"], e["Version"], e["Tags"]) for e in shown] == [("Shared.Lib", "3.0.0", "PSModule")]
    # not saved yet: searches show only what the feed holds
    assert entries((await get(api, "/Search()?searchTerm=''", who="carol")).content) == []
    r = await get(api, "/package/Shared.Lib/3.0.0", who="carol")
    assert r.status_code == 200 and r.content == data
    shown = entries((await get(api, "/Search()?searchTerm=''", who="bob")).content)
    assert [(e["Id"], e["Version"]) for e in shown] == [("Shared.Lib", "3.0.0")]
    assert shown[0]["PackageHash"] == base64.b64encode(hashlib.sha512(data).digest()).decode()
