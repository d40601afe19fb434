"""The NuGet test tooling proves itself: the real NuGet.exe 5.8 (tests/nuget_client.py) against the fixture gallery
(tests/nuget_gallery.py) on v3 and v2, and the gallery's knobs over plain HTTP.

If the gallery speaks what the real client expects here, tests that point NuGet.exe at the feed, or the feed at the
gallery as an upstream, test the feed and not the fixture. The request logs asserted below are what NuGet.exe 5.8
sends, in order.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.nuget_client import NuGetFactory, listed, nuget, nuget_exe  # noqa: F401
from tests.nuget_gallery import NuGetGallery, nuget_gallery  # noqa: F401
from tests.nupkg_builder import build_nupkg

pytestmark = pytest.mark.e2e
ATOM = {"a": "http://www.w3.org/2005/Atom", "d": "http://schemas.microsoft.com/ado/2007/08/dataservices"}


def _sha512(data: bytes) -> str:
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def _paths(gallery: NuGetGallery) -> list[str]:
    return [str(r) for r in gallery.requests]


@pytest.fixture
def stocked(nuget_gallery: NuGetGallery) -> NuGetGallery:  # noqa: F811
    """Tiny.Dep 1.0.0 and 1.1.0, Tiny.Lib 2.0.0 (needs Tiny.Dep >= 1.0.0), unlisted Tiny.Lib 3.0.0, and a SemVer 2
    prerelease Tiny.Lib 2.1.0-beta.1."""
    nuget_gallery.add("Tiny.Dep", "1.0.0")
    nuget_gallery.add("Tiny.Dep", "1.1.0")
    nuget_gallery.add("Tiny.Lib", "2.0.0", dependencies=[("Tiny.Dep", "1.0.0")], tags=["tiny", "PSModule"])
    nuget_gallery.add("Tiny.Lib", "3.0.0", listed=False)
    nuget_gallery.add("Tiny.Lib", "2.1.0-beta.1", dependencies=[("Tiny.Dep", "[1.1.0, )")])
    return nuget_gallery


def _installed(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in out.glob("*/*.nupkg")}


def test_install_with_a_dependency_from_the_v3_index(stocked: NuGetGallery, nuget: NuGetFactory) -> None:  # noqa: F811
    client = nuget(stocked.index_url)
    client.install("Tiny.Lib", "2.0.0")
    files = _installed(client.output_dir)
    assert set(files) == {"Tiny.Lib.2.0.0", "Tiny.Dep.1.0.0"}  # Lowest: the dependency's minimum
    assert _sha512(files["Tiny.Dep.1.0.0"]) == stocked.hash("Tiny.Dep", "1.0.0")  # bytes untouched
    requests = _paths(stocked)
    assert requests[:3] == [
        "GET /v3/index.json",
        "GET /v3/registration-semver2/tiny.lib/index.json",  # RegistrationsBaseUrl/Versioned, not /3.6.0
        "GET /v3/registration-semver2/tiny.dep/index.json",
    ]
    assert sorted(requests[3:]) == [  # downloaded in parallel
        "GET /v3/flat/tiny.dep/1.0.0/tiny.dep.1.0.0.nupkg",
        "GET /v3/flat/tiny.lib/2.0.0/tiny.lib.2.0.0.nupkg",
    ]

    stocked.reset_requests()
    client.install("Tiny.Lib", "2.1.0-beta.1", dependency_version="Highest", output_dir=client.root / "highest")
    assert set(_installed(client.root / "highest")) == {"Tiny.Lib.2.1.0-beta.1", "Tiny.Dep.1.1.0"}
    # The service index and registrations come from the client's HTTP cache now: only the new .nupkg files move.
    assert sorted(_paths(stocked)) == [
        "GET /v3/flat/tiny.dep/1.1.0/tiny.dep.1.1.0.nupkg",
        "GET /v3/flat/tiny.lib/2.1.0-beta.1/tiny.lib.2.1.0-beta.1.nupkg",
    ]


def test_list_on_v3_goes_through_the_legacy_gallery(stocked: NuGetGallery, nuget: NuGetFactory) -> None:  # noqa: F811
    client = nuget(stocked.index_url)
    assert listed(client.list()) == [("Tiny.Dep", "1.1.0"), ("Tiny.Lib", "2.0.0")]  # 3.0.0 is unlisted
    assert _paths(stocked) == [
        "GET /v3/index.json",
        "GET /api/v2/",
        "GET /api/v2/$metadata",  # a 404 here gives the same search query
        "GET /api/v2/Search()?$filter=IsLatestVersion&$orderby=Id&searchTerm=''&targetFramework=''"
        "&includePrerelease=false&$skip=0&$top=30&semVerLevel=2.0.0",
    ]

    stocked.reset_requests()
    result = client.list("tiny", all_versions=True, prerelease=True)
    everything = [("Tiny.Dep", "1.0.0"), ("Tiny.Dep", "1.1.0"), ("Tiny.Lib", "2.0.0"), ("Tiny.Lib", "2.1.0-beta.1")]
    assert sorted(listed(result)) == everything  # NuGet.exe prints each id's versions newest first
    assert [r.query for r in stocked.requests if r.path == "/api/v2/Search()"] == [
        "$orderby=Id&searchTerm='tiny'&targetFramework=''&includePrerelease=true&$skip=0&$top=30&semVerLevel=2.0.0"
    ]

    bare = NuGetGallery(legacy_gallery=False)
    try:
        result = nuget(bare.index_url).list()
        assert "No packages found" in result.stdout and "does not support" in result.output
    finally:
        bare.stop()


def test_install_from_the_v2_endpoint(stocked: NuGetGallery, nuget: NuGetFactory) -> None:  # noqa: F811
    client = nuget(stocked.v2_url)
    client.install("Tiny.Lib", "2.0.0")
    files = _installed(client.output_dir)
    assert set(files) == {"Tiny.Lib.2.0.0", "Tiny.Dep.1.0.0"}
    assert _sha512(files["Tiny.Lib.2.0.0"]) == stocked.hash("Tiny.Lib", "2.0.0")
    requests = _paths(stocked)
    assert requests[:3] == [
        "GET /api/v2/",  # the probe: v2 or v3?
        "GET /api/v2/Packages(Id='Tiny.Lib',Version='2.0.0')",  # an exact version: the one entry
        # the dependency's range: every version
        "GET /api/v2/FindPackagesById()?id='Tiny.Dep'&semVerLevel=2.0.0",
    ]
    assert sorted(requests[3:]) == ["GET /api/v2/package/Tiny.Dep/1.0.0", "GET /api/v2/package/Tiny.Lib/2.0.0"]

    # Without -Version NuGet.exe 5.8 takes the highest version even when it is unlisted (NuGet/Home#7466), on v2 as
    # on v3, although d:Listed and the registration's "listed" say false: feed tests must not expect otherwise.
    stocked.reset_requests()
    client.install("Tiny.Lib", output_dir=client.root / "latest")
    assert set(_installed(client.root / "latest")) == {"Tiny.Lib.3.0.0"}
    assert _paths(stocked) == [
        "GET /api/v2/",  # every call probes again
        "GET /api/v2/FindPackagesById()?id='Tiny.Lib'&semVerLevel=2.0.0",
        "GET /api/v2/package/Tiny.Lib/3.0.0",
    ]


def test_push_skip_duplicate_and_delete_with_stored_credentials(tmp_path: Path, nuget: NuGetFactory) -> None:  # noqa: F811
    with NuGetGallery(api_key="the-token") as gallery:
        basic = "Basic " + base64.b64encode(b"alice:the-token").decode()
        gallery.require_auth(basic)
        package = tmp_path / "Pushed.Lib.1.0.0.nupkg"
        package.write_bytes(build_nupkg("Pushed.Lib", "1.0.0"))
        client = nuget(gallery.index_url, "alice", "the-token")

        client.push(package)
        assert gallery.hash("Pushed.Lib", "1.0.0") == _sha512(package.read_bytes())
        requests = gallery.requests
        # NuGet.exe 5.8 never sends credentials first: each request is repeated with Basic after the 401.
        assert [(str(r), r.headers.get("authorization")) for r in requests] == [
            ("GET /v3/index.json", None),
            ("GET /v3/index.json", basic),
            ("PUT /api/v2/package/", None),  # the PackagePublish @id with a "/" added
            ("PUT /api/v2/package/", basic),
        ]
        put = requests[-1].headers
        assert put["x-nuget-apikey"] == "the-token" and put["transfer-encoding"] == "chunked"
        assert put["content-type"].startswith("multipart/form-data; boundary=")

        duplicate = client.push(package, check=False)
        assert duplicate.returncode == 1 and "409 (Conflict)" in duplicate.output
        assert "-SkipDuplicate" in duplicate.output
        skipped = client.push(package, skip_duplicate=True)
        assert "already exists" in skipped.output

        gallery.reset_requests()
        client.delete("Pushed.Lib", "1.0.0")
        assert _paths(gallery)[-1] == "DELETE /api/v2/package/Pushed.Lib/1.0.0"
        assert listed(client.list()) == []  # unlisted by the gallery

        anonymous = nuget(gallery.index_url).install("Pushed.Lib", "1.0.0", check=False)
        assert anonymous.returncode == 1 and "401 (Unauthorized)" in anonymous.output


def test_push_and_delete_on_a_v2_source_go_to_the_source_url(tmp_path: Path, nuget: NuGetFactory) -> None:  # noqa: F811
    with NuGetGallery(api_key="k") as gallery:
        package = tmp_path / "V2.Lib.1.0.0.nupkg"
        package.write_bytes(build_nupkg("V2.Lib", "1.0.0"))
        client = nuget(gallery.v2_url, password="k")
        client.push(package)
        client.delete("V2.Lib", "1.0.0")
        assert _paths(gallery) == ["PUT /api/v2/", "DELETE /api/v2/V2.Lib/1.0.0"]


# -- the gallery over plain HTTP -----------------------------------------------------------------------------------


def test_registration_points_at_a_catalog_leaf_with_the_hash(stocked: NuGetGallery) -> None:
    with httpx.Client(trust_env=False) as http:
        index = http.get(stocked.index_url).json()
        kinds = {r["@type"]: r["@id"] for r in index["resources"]}
        assert {"PackageBaseAddress/3.0.0", "RegistrationsBaseUrl/3.6.0", "RegistrationsBaseUrl/3.4.0"} <= set(kinds)
        assert {"RegistrationsBaseUrl/3.0.0-beta", "SearchQueryService", "LegacyGallery/2.0.0"} <= set(kinds)
        assert "PackagePublish/2.0.0" not in kinds  # no api_key: no writes

        semver2 = http.get(kinds["RegistrationsBaseUrl/3.6.0"] + "tiny.lib/index.json").json()
        leaves = semver2["items"][0]["items"]
        assert [leaf["catalogEntry"]["version"] for leaf in leaves] == ["2.0.0", "2.1.0-beta.1", "3.0.0"]
        entry = leaves[0]["catalogEntry"]
        assert entry["listed"] is True and entry["published"] == "2020-01-01T00:00:00+00:00"
        assert entry["dependencyGroups"][0]["dependencies"][0] | {"registration": ""} == {
            "id": "Tiny.Dep",
            "range": "[1.0.0, )",
            "registration": "",
        }
        assert "packageHash" not in entry  # as on the public gallery: only on the catalog leaf
        assert leaves[2]["catalogEntry"]["listed"] is False
        assert leaves[2]["catalogEntry"]["published"].startswith("1900-01-01")
        semver1 = http.get(kinds["RegistrationsBaseUrl/3.4.0"] + "tiny.lib/index.json").json()
        assert [leaf["catalogEntry"]["version"] for leaf in semver1["items"][0]["items"]] == ["2.0.0", "3.0.0"]

        leaf = http.get(entry["@id"]).json()
        nupkg = http.get(leaves[0]["packageContent"]).content
        assert leaf["packageHashAlgorithm"] == "SHA512" and leaf["packageHash"] == _sha512(nupkg)
        assert leaf["packageSize"] == len(nupkg) and leaf["id"] == "Tiny.Lib"

        stocked.deprecate("Tiny.Lib", "2.0.0", ["CriticalBugs"], "use 2.1", alternate=("Tiny.Next", "[1.0.0, )"))
        again = http.get(kinds["RegistrationsBaseUrl/3.6.0"] + "tiny.lib/index.json").json()
        deprecation = again["items"][0]["items"][0]["catalogEntry"]["deprecation"]
        assert deprecation["reasons"] == ["CriticalBugs"] and deprecation["message"] == "use 2.1"
        assert deprecation["alternatePackage"] == {"id": "Tiny.Next", "range": "[1.0.0, )"}

        gz = http.get(kinds["RegistrationsBaseUrl/3.6.0"] + "tiny.lib/index.json", headers={"Accept-Encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip" and gz.json() == again
        assert http.get(kinds["PackageBaseAddress/3.0.0"] + "tiny.lib/index.json").json() == {
            "versions": ["2.0.0", "2.1.0-beta.1", "3.0.0"]  # unlisted too, as the flat container does
        }
        assert http.get(kinds["PackageBaseAddress/3.0.0"] + "nope/index.json").status_code == 404
        assert http.get(kinds["RegistrationsBaseUrl/3.6.0"] + "nope/index.json").status_code == 404


def test_many_versions_are_paged_apart(nuget_gallery: NuGetGallery) -> None:  # noqa: F811
    data = build_nupkg("Many", "1.0.0")
    for minor in range(130):
        nuget_gallery.add_nupkg(build_nupkg("Many", f"1.{minor}.0") if minor else data)
    with httpx.Client(trust_env=False) as http:
        index = http.get(f"{nuget_gallery.base}/v3/registration-semver2/many/index.json").json()
        assert index["count"] == 3 and [p["count"] for p in index["items"]] == [64, 64, 2]
        assert all("items" not in page for page in index["items"])
        page = http.get(index["items"][2]["@id"]).json()
        assert [leaf["catalogEntry"]["version"] for leaf in page["items"]] == ["1.128.0", "1.129.0"]
        assert page["lower"] == "1.128.0" and page["upper"] == "1.129.0"


def test_v2_entries_carry_the_hash_and_tampering_breaks_it(stocked: NuGetGallery) -> None:
    with httpx.Client(trust_env=False) as http:
        assert http.get(stocked.v2_url).text.startswith("<?xml")
        assert "IsAbsoluteLatestVersion" in http.get(stocked.v2_url + "$metadata").text
        found = http.get(stocked.v2_url + "FindPackagesById()?id='tiny.lib'")
        feed = ElementTree.fromstring(found.content)  # noqa: S314 - the fixture's own XML
        entries = feed.findall("a:entry", ATOM)
        versions = [e.findtext("*/d:Version", namespaces=ATOM) for e in entries]
        assert versions == ["2.0.0", "2.1.0-beta.1", "3.0.0"]
        first = entries[0]
        assert first.findtext("*/d:Tags", namespaces=ATOM) == "tiny PSModule"
        assert first.findtext("*/d:Dependencies", namespaces=ATOM) == "Tiny.Dep:1.0.0:"
        assert first.findtext("*/d:IsLatestVersion", namespaces=ATOM) == "true"
        assert entries[2].findtext("*/d:Listed", namespaces=ATOM) == "false"
        source = first.find("a:content", ATOM).attrib["src"]  # type: ignore[union-attr]
        assert source == stocked.v2_url + "package/Tiny.Lib/2.0.0"
        declared = first.findtext("*/d:PackageHash", namespaces=ATOM)
        assert first.findtext("*/d:PackageHashAlgorithm", namespaces=ATOM) == "SHA512"
        assert _sha512(http.get(source).content) == declared

        stocked.tamper("Tiny.Lib", "2.0.0")
        tampered = http.get(source).content
        assert _sha512(tampered) != declared and tampered.startswith(b"PK")
        assert _sha512(http.get(f"{stocked.base}/v3/flat/tiny.lib/2.0.0/tiny.lib.2.0.0.nupkg").content) != declared
        assert stocked.hash("Tiny.Lib", "2.0.0") == declared

        empty = http.get(stocked.v2_url + "FindPackagesById()?id='FoooBarr'")
        assert empty.status_code == 200 and "<entry" not in empty.text
        one = http.get(stocked.v2_url + "Packages(Id='Tiny.Dep',Version='1.1')")
        assert one.status_code == 200 and "<d:NormalizedVersion>1.1.0<" in one.text
        assert http.get(stocked.v2_url + "Packages(Id='Tiny.Dep',Version='9.0.0')").status_code == 404
        paged = http.get(stocked.v2_url + "Search()?searchTerm=''&includePrerelease=true&$skip=0&$top=2").text
        assert paged.count("<entry") == 2 and re.search(r'rel="next" href="[^"]*\$skip=2', paged)


def test_counts_down_and_stop(stocked: NuGetGallery) -> None:
    url = f"{stocked.base}/v3/flat/tiny.dep/index.json"
    with httpx.Client(trust_env=False) as http:
        http.get(url)
        stocked.set_down(True)
        assert http.get(url).status_code == 503
        stocked.set_down(False)
        assert stocked.count("GET", "/tiny.dep/index.json") == 2
        stocked.stop()
        with pytest.raises(httpx.ConnectError):
            http.get(url)


def test_a_missing_client_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NUGET_EXE", str(tmp_path / "nowhere.exe"))
    with pytest.raises(pytest.fail.Exception, match=r"NuGet.exe is missing at .*nowhere.exe: run ./scripts/test"):
        nuget_exe()
