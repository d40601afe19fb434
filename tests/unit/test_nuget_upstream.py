"""Reading NuGet upstream documents: v3 service indexes, registrations (inline and paged), catalog leaves and v2
feeds, real-shaped and hostile, from bytes (HTTP is an in-process mock transport: nothing leaves the test)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from feed_core.domain.integrity import Digests, first_mismatch
from feed_core.domain.nuget_metadata import version_manifest
from feed_core.domain.safe_xml import UnsafeXml, parse_xml
from feed_core.domain.source_models import CustomSource
from feed_core.upstreams import nuget, nuget_v2, nuget_v3
from feed_core.upstreams.http import UpstreamFailure
from feed_core.upstreams.models import BadDocument, UpstreamPackage, UpstreamVersion
from feed_core.upstreams.nuget_frames import frame, unframe
from tests.nupkg_builder import build_nupkg

BASE = "http://gallery.test"
INDEX = f"{BASE}/v3/index.json"
REG = f"{BASE}/v3/reg/"
FLAT = f"{BASE}/v3/flat/"
V2 = f"{BASE}/api/v2"
SERVICE = {"nuget": "v3", "registrations": REG, "packageBase": FLAT}
HASH = base64.b64encode(hashlib.sha512(b"package").digest()).decode()


def respond(status: int, body: object = b"") -> httpx.Response:
    """A mock answer whose body is streamed, as the upstream client reads bodies."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, stream=httpx.ByteStream(raw))


def leaf(package_id: str, version: str, **extra: Any) -> dict[str, Any]:
    lower = f"{package_id.lower()}.{version.lower()}"
    entry = {
        "@id": f"{BASE}/v3/catalog/{lower}.json",
        "id": package_id,
        "version": version,
        "description": f"{package_id} for tests",
        "authors": "someone",
        "published": "2024-01-01T00:00:00+00:00",
        "dependencyGroups": [{"targetFramework": "net8.0", "dependencies": [{"id": "Dep", "range": "[1.0.0, )"}]}],
        **extra,
    }
    return {
        "@id": f"{REG}{package_id.lower()}/{version}.json",
        "catalogEntry": entry,
        "packageContent": f"{FLAT}{package_id.lower()}/{version.lower()}/{lower}.nupkg",
    }


def inline_index(*leaves: dict[str, Any]) -> bytes:
    page = {"@id": f"{REG}x/index.json#page/a/b", "count": len(leaves), "items": list(leaves)}
    return json.dumps({"count": 1, "items": [page]}).encode()


async def read_v3(index: bytes, pages: dict[str, bytes] | None = None, name: str = "Tiny.Lib") -> UpstreamPackage:
    parts = [(f"{REG}{name.lower()}/index.json", index), *(pages or {}).items()]
    return await nuget.parse_document(frame(SERVICE, parts), name.lower(), INDEX)


# --- v3 registrations -------------------------------------------------------------------------------------------


async def test_an_inline_registration_gives_normalized_versions_with_their_metadata() -> None:
    deprecation = {"reasons": ["Legacy"], "message": "use Other", "alternatePackage": {"id": "Other", "range": "*"}}
    package = await read_v3(
        inline_index(
            leaf("Tiny.Lib", "1.0", tags=["a", "b"], deprecation=deprecation),
            leaf("Tiny.Lib", "2.0.0-Beta.1+build.5", vulnerabilities=[{"advisoryUrl": f"{BASE}/adv", "severity": "2"}]),
            leaf("Tiny.Lib", "0.9.0", listed=False, published="1900-01-01T00:00:00+00:00"),
        )
    )
    assert sorted(package.versions) == ["0.9.0", "1.0.0", "2.0.0-beta.1"] and not package.refused
    one = package.versions["1.0.0"]
    assert one.file_url == f"{FLAT}tiny.lib/1.0/tiny.lib.1.0.nupkg" and one.filename == "tiny.lib.1.0.0.nupkg"
    assert one.digests_url == f"{BASE}/v3/catalog/tiny.lib.1.0.json" and one.integrity == ""
    assert one.published == "2024-01-01T00:00:00+00:00"
    assert one.manifest["deprecation"] == deprecation and one.manifest["tags"] == ["a", "b"]
    assert one.manifest["dependencyGroups"] == [
        {"targetFramework": "net8.0", "dependencies": [{"id": "Dep", "range": "[1.0.0, )"}]}
    ]
    assert "@id" not in one.manifest and "packageContent" not in one.manifest  # no upstream API address is kept
    beta = package.versions["2.0.0-beta.1"]
    assert beta.manifest["version"] == "2.0.0-Beta.1+build.5"
    assert beta.manifest["vulnerabilities"] == [{"advisoryUrl": f"{BASE}/adv", "severity": "2"}]
    unlisted = package.versions["0.9.0"]
    assert unlisted.manifest["listed"] is False and unlisted.published is None  # 1900: the age is not believed


async def test_a_paged_registration_is_read_from_its_pages() -> None:
    page_url = f"{REG}tiny.lib/page/1.0.0/1.1.0.json"
    index = json.dumps({"count": 1, "items": [{"@id": page_url, "count": 2, "lower": "1.0.0", "upper": "1.1.0"}]})
    page = json.dumps({"@id": page_url, "items": [leaf("Tiny.Lib", "1.0.0"), leaf("Tiny.Lib", "1.1.0")]})
    assert nuget_v3.pages_to_fetch(json.loads(index), "tiny.lib", f"{REG}tiny.lib/index.json") == [page_url]
    package = await read_v3(index.encode(), {page_url: page.encode()})
    assert sorted(package.versions) == ["1.0.0", "1.1.0"]
    with pytest.raises(BadDocument, match="without an items list"):
        await read_v3(index.encode(), {})  # the page is missing from the stored document


async def test_a_registration_fetch_reads_only_the_index_and_its_pages() -> None:
    page_url = f"{REG}tiny.lib/page/1.0.0/1.0.0.json"
    index = {"count": 1, "items": [{"@id": page_url, "count": 1}]}
    page = {"items": [leaf("Tiny.Lib", "1.0.0")]}
    documents = {f"{REG}tiny.lib/index.json": index, page_url: page}
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if str(request.url) == INDEX:
            resources = [
                {"@id": f"{BASE}/v3/old/", "@type": "RegistrationsBaseUrl/3.4.0"},
                {"@id": REG, "@type": "RegistrationsBaseUrl/3.6.0"},
                {"@id": FLAT, "@type": "PackageBaseAddress/3.0.0"},
                {"@id": f"{BASE}/v3/catalog/index.json", "@type": "Catalog/3.0.0"},
            ]
            return respond(200, {"version": "3.0.0", "resources": resources})
        found = documents.get(str(request.url))
        return respond(200, found) if found else respond(404)

    source = CustomSource(id="s", name="s", protocol="nuget", location=INDEX, credentials=None)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        fetched = await nuget.fetch_document(
            client, source, "tiny.lib", etag=None, last_modified=None, budget=5, max_bytes=1 << 20
        )
        assert fetched.status == "ok"
        package = await nuget.parse_document(fetched.body, "tiny.lib", "cache")  # as read back from the store
        assert list(package.versions) == ["1.0.0"]
        assert seen == [INDEX, f"{REG}tiny.lib/index.json", page_url]  # 3.6.0 preferred; no catalog, no id list
        header, _ = unframe(fetched.body, "tiny.lib")
        assert header["registrations"] == REG and header["packageBase"] == FLAT
        nuget._services.clear()
        limit = len(json.dumps(index)) + 50  # the index fits, its page does not
        with pytest.raises(UpstreamFailure, match="FEED_UPSTREAM_MAX_DOCUMENT_BYTES"):
            await nuget.fetch_document(
                client, source, "tiny.lib", etag=None, last_modified=None, budget=5, max_bytes=limit
            )


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (leaf("Other.Lib", "1.0.0"), "an entry of package 'Other.Lib'"),
        (leaf("Tiny.Lib", "1.0.0.0.0"), "invalid version"),
        (leaf("Tiny.Lib", "not-a-version"), "invalid version"),
        ({**leaf("Tiny.Lib", "1.0.0"), "packageContent": "file:///etc/passwd"}, "not an http(s) URL"),
        ({**leaf("Tiny.Lib", "1.0.0"), "packageContent": "http://[::1"}, "not an http(s) URL"),
        ({**leaf("Tiny.Lib", "1.0.0"), "packageContent": f"{FLAT}other/1.0.0/other.1.0.0.nupkg"}, "not the file"),
        ({**leaf("Tiny.Lib", "1.0.0"), "packageContent": f"{FLAT}tiny.lib/../x/tiny.lib.1.0.0.nupkg"}, "dot segm"),
        (leaf("Tiny.Lib", "1.0.0", dependencyGroups="everything"), "dependencyGroups is not a list"),
        (leaf("Tiny.Lib", "1.0.0", dependencyGroups=[{"dependencies": [{"range": "1.0"}]}]), "has no valid id"),
        (leaf("Tiny.Lib", "1.0.0", dependencyGroups=[{"dependencies": [{"id": "../../x"}]}]), "has no valid id"),
        (
            leaf("Tiny.Lib", "1.0.0", dependencyGroups=[{"dependencies": [{"id": "A", "range": "1.0|Evil:6.6.6:"}]}]),
            "is not a version range",
        ),
        (
            leaf("Tiny.Lib", "1.0.0", dependencyGroups=[{"targetFramework": "net8.0|Evil:6.6.6:"}]),
            "targetFramework is not",
        ),
        ({"catalogEntry": "https://elsewhere/leaf.json"}, "without a catalogEntry object"),
    ],
)
async def test_registration_entries_that_are_not_believed_are_refused(entry: dict[str, Any], why: str) -> None:
    package = await read_v3(inline_index(entry, leaf("Tiny.Lib", "3.0.0")))
    assert list(package.versions) == ["3.0.0"]
    (reason,) = package.refused.values()
    assert why in reason


async def test_hostile_registrations_are_refused_whole() -> None:
    with pytest.raises(BadDocument, match="malformed registration"):
        await read_v3(b"[" * 100 + b"]" * 100)
    with pytest.raises(BadDocument, match="no items list"):
        await read_v3(b'{"items": "all of them"}')
    pages = [{"@id": f"{REG}p{i}.json"} for i in range(nuget_v3.MAX_PAGES + 1)]
    with pytest.raises(BadDocument, match="registration pages"):
        await read_v3(json.dumps({"items": pages}).encode())
    with pytest.raises(BadDocument, match="no http"):
        await read_v3(json.dumps({"items": [{"@id": "ftp://x/p.json"}]}).encode())
    with pytest.raises(BadDocument, match="not readable"):
        await nuget.parse_document(frame(SERVICE, [("u", b"{}")])[:-1], "tiny.lib", INDEX)


async def test_a_large_registration_is_read_off_the_event_loop() -> None:
    leaves = [leaf("Tiny.Lib", f"1.0.{i}", description="x" * 400) for i in range(700)]
    body = inline_index(*leaves)
    assert len(body) > 256 * 1024
    package = await read_v3(body)
    assert len(package.versions) == 700


def test_service_indexes_are_checked() -> None:
    assert nuget.read_service(b'<?xml version="1.0"?><service/>', V2) == {"nuget": "v2", "root": V2}
    with pytest.raises(UpstreamFailure, match="no version 3"):
        nuget.read_service(b'{"version": "2.0.0", "resources": []}', INDEX)
    with pytest.raises(UpstreamFailure, match="without a RegistrationsBaseUrl"):
        nuget.read_service(
            b'{"version": "3.0.0", "resources": [{"@id": "x", "@type": "PackageBaseAddress/3.0.0"}]}', INDEX
        )
    with pytest.raises(UpstreamFailure, match="neither"):
        nuget.read_service(b"hello", INDEX)
    insecure = {"version": "3.0.0", "resources": [{"@id": "file:///reg/", "@type": "RegistrationsBaseUrl/3.6.0"}]}
    with pytest.raises(UpstreamFailure, match="without a RegistrationsBaseUrl"):
        nuget.read_service(json.dumps(insecure).encode(), INDEX)


# --- the declared hash: the catalog leaf ------------------------------------------------------------------------


def catalog_client(doc: object, status: int = 200) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return respond(status, doc)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


VERSION = UpstreamVersion(
    "1.0.0", {}, f"{FLAT}tiny.lib/1.0.0/tiny.lib.1.0.0.nupkg", "tiny.lib.1.0.0.nupkg", "", "", None,
    digests_url=f"{BASE}/v3/catalog/tiny.lib.1.0.0.json",
)  # fmt: skip
SOURCE = CustomSource(id="s", name="s", protocol="nuget", location=INDEX, credentials=None)


async def declared(doc: object, status: int = 200) -> UpstreamVersion:
    async with catalog_client(doc, status) as client:
        return await nuget.declared(client, SOURCE, "tiny.lib", VERSION, budget=5, max_bytes=1 << 20)


async def test_the_catalog_leaf_declares_the_sha512() -> None:
    found = await declared({"id": "Tiny.Lib", "version": "1.0", "packageHash": HASH, "packageHashAlgorithm": "SHA512"})
    assert found.integrity == f"sha512-{HASH}" and found.digests_url == ""
    digests = Digests()
    digests.update(b"package")
    assert first_mismatch(found.integrity, "", digests) is None
    other = Digests()
    other.update(b"tampered")
    assert first_mismatch(found.integrity, "", other) == "sha512"  # what the verify step refuses


async def test_catalog_leaves_that_are_not_believed() -> None:
    with pytest.raises(BadDocument, match=r"not about tiny\.lib 1\.0\.0"):
        await declared({"id": "Other", "version": "1.0.0", "packageHash": HASH})
    with pytest.raises(BadDocument, match=r"not about tiny\.lib 1\.0\.0"):
        await declared({"id": "Tiny.Lib", "version": "2.0.0", "packageHash": HASH})
    with pytest.raises(BadDocument, match="malformed"):
        await declared(b"[" * 1000)
    with pytest.raises(UpstreamFailure, match="answered 404"):
        await declared({}, 404)
    for bad in ({"packageHash": "short"}, {"packageHash": HASH, "packageHashAlgorithm": "MD5"}, {}):
        found = await declared({"id": "Tiny.Lib", "version": "1.0.0", **bad})
        assert found.integrity == ""  # declares no usable hash: the engine refuses to save it


# --- v2 feeds ---------------------------------------------------------------------------------------------------

NS = (
    'xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)


def v2_entry(package_id: str, version: str, *, src: str | None = None, **props: str) -> str:
    fields = {
        "Id": package_id,
        "Version": version,
        "Tags": "PSModule PSIncludes_Cmdlet",
        "Dependencies": "Dep:[1.0.0, ):net45|::netstandard2.0",
        "Published": "2024-02-01T10:00:00.123",
        "PackageHash": HASH,
        "PackageHashAlgorithm": "SHA512",
        "Authors": "someone",
        **props,
    }
    content = src if src is not None else f"{V2}/package/{package_id}/{version}"
    body = "".join(f"<d:{k}>{v}</d:{k}>" for k, v in fields.items())
    return (
        f'<entry><title type="text">{package_id}</title><content type="application/zip" src="{content}"/>'
        f"<m:properties>{body}</m:properties></entry>"
    )


def v2_feed(*entries: str, following: str | None = None) -> bytes:
    link = f'<link rel="next" href="{following}"/>' if following else ""
    return f'<?xml version="1.0" encoding="utf-8"?><feed {NS}>{"".join(entries)}{link}</feed>'.encode()


async def read_v2(*pages: bytes, name: str = "PS.Module") -> UpstreamPackage:
    parts = [(f"{V2}/FindPackagesById()?p={i}", page) for i, page in enumerate(pages)]
    return await nuget.parse_document(frame({"nuget": "v2", "root": V2}, parts), name.lower(), V2)


async def test_a_v2_feed_gives_versions_with_hashes_tags_and_dependencies() -> None:
    package = await read_v2(
        v2_feed(v2_entry("PS.Module", "1.0"), v2_entry("PS.Module", "1.1.0-pre", Listed="false")),
        v2_feed(v2_entry("PS.Module", "2.0.0", Published="1900-01-01T00:00:00")),
    )
    assert sorted(package.versions) == ["1.0.0", "1.1.0-pre", "2.0.0"]
    one = package.versions["1.0.0"]
    assert one.integrity == f"sha512-{HASH}" and one.file_url == f"{V2}/package/PS.Module/1.0"
    assert one.published == "2024-02-01T10:00:00.123Z"  # OData times without a zone are UTC
    assert one.manifest["tags"] == ["PSModule", "PSIncludes_Cmdlet"] and one.manifest["listed"] is True
    assert one.manifest["dependencyGroups"] == [
        {"targetFramework": "net45", "dependencies": [{"id": "Dep", "range": "[1.0.0, )"}]},
        {"targetFramework": "netstandard2.0", "dependencies": []},
    ]
    assert package.versions["1.1.0-pre"].manifest["listed"] is False
    assert package.versions["2.0.0"].published is None and package.versions["2.0.0"].manifest["listed"] is False


async def test_v2_entries_that_are_not_believed_are_refused() -> None:
    package = await read_v2(
        v2_feed(
            v2_entry("Other.Module", "1.0.0"),
            v2_entry("PS.Module", "1..0"),
            v2_entry("PS.Module", "3.0.0", src="javascript:alert(1)"),
            v2_entry("PS.Module", "4.0.0", src=f"{V2}/package/Other/4.0.0"),
            v2_entry("PS.Module", "5.0.0", PackageHash="bm90IGEgaGFzaA=="),
        )
    )
    assert list(package.versions) == ["5.0.0"] and package.versions["5.0.0"].integrity == ""  # no usable hash
    reasons = " | ".join(package.refused.values())
    assert "Other.Module" in reasons and "invalid version" in reasons
    assert "not an http(s) URL" in reasons and "is not the file of PS.Module 4.0.0" in reasons


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaa">]><feed>&a;</feed>', "DTD"),
        ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE f SYSTEM "file:///etc/passwd"><f/>'.encode("utf-16"), "DTD"),
        (b"<feed>&xxe;</feed>", "undefined entity"),
        (b"<feed><entry></feed>", "not well-formed"),
        (b"<a>" * 100 + b"</a>" * 100, "nests deeper"),
    ],
)  # fmt: skip
async def test_hostile_v2_feeds_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(BadDocument, match=why):
        await read_v2(body)


async def test_v2_next_links_are_followed_within_bounds() -> None:
    calls: list[str] = []
    pages: dict[str, Callable[[int], bytes]] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url.path == "/api/v2":
            return respond(200, b'<?xml version="1.0"?><service/>')
        page = int(request.url.params.get("page", "0"))
        return respond(200, pages["feed"](page))

    source = CustomSource(id="s", name="s", protocol="nuget", location=V2, credentials=None)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:

        async def fetch() -> UpstreamPackage:
            fetched = await nuget.fetch_document(
                client, source, "ps.module", etag=None, last_modified=None, budget=5, max_bytes=1 << 20
            )
            return await nuget.parse_document(fetched.body, "ps.module", V2)

        pages["feed"] = lambda n: v2_feed(
            v2_entry("PS.Module", f"1.0.{n}"), following=f"{V2}/FindPackagesById()?page={n + 1}" if n < 2 else None
        )
        assert sorted((await fetch()).versions) == ["1.0.0", "1.0.1", "1.0.2"]
        assert "id=%27ps.module%27&semVerLevel=2.0.0" in calls[1]
        pages["feed"] = lambda n: v2_feed(v2_entry("PS.Module", "1.0.0"), following=f"{V2}/FindPackagesById()?page=0")
        calls.clear()
        assert list((await fetch()).versions) == ["1.0.0"] and len(calls) == 2  # a loop back is not followed
        pages["feed"] = lambda n: v2_feed(following=f"{V2}/FindPackagesById()?page={n + 1}")
        with pytest.raises(BadDocument, match="more than 50 feed pages"):
            await fetch()
        pages["feed"] = lambda n: v2_feed(following="file:///etc/passwd")
        assert (await fetch()).versions == {}


async def test_urls_that_are_not_urls_are_refused_not_raised() -> None:
    """``urljoin`` raises on an unclosed IPv6 host: a page, a next link or a file URL like that is refused."""
    with pytest.raises(BadDocument, match="no http"):
        nuget_v3.pages_to_fetch({"items": [{"@id": "http://[::1"}]}, "tiny.lib", f"{REG}tiny.lib/index.json")
    feed = parse_xml(v2_feed(following="http://[::1/next"))
    assert nuget_v2.next_link(feed, V2) is None
    package = await read_v2(v2_feed(v2_entry("PS.Module", "1.0.0", src="http://[::1"), v2_entry("PS.Module", "2.0.0")))
    assert list(package.versions) == ["2.0.0"] and "not an http(s) URL" in package.refused["1.0.0"]


# --- the downloaded package -------------------------------------------------------------------------------------


def test_a_downloaded_package_must_be_the_version_it_is_listed_as() -> None:
    data = build_nupkg("Tiny.Lib", "1.0")
    nuget.check_package("tiny.lib", "1.0.0", "tiny.lib.1.0.0.nupkg", data)
    with pytest.raises(BadDocument, match=r"holds Tiny\.Lib 1\.0\.0, not other 1\.0\.0"):
        nuget.check_package("other", "1.0.0", "other.1.0.0.nupkg", data)
    with pytest.raises(BadDocument, match=r"holds Tiny\.Lib 1\.0\.0, not tiny\.lib 2\.0\.0"):
        nuget.check_package("tiny.lib", "2.0.0", "tiny.lib.2.0.0.nupkg", data)
    with pytest.raises(BadDocument, match=r"tiny\.lib\.1\.0\.0\.nupkg: "):
        nuget.check_package("tiny.lib", "1.0.0", "tiny.lib.1.0.0.nupkg", b"not a zip")


# --- pieces -----------------------------------------------------------------------------------------------------


def test_metadata_out_of_bounds_is_left_out() -> None:
    manifest, problem = version_manifest(
        {"description": "x" * 5000, "projectUrl": "javascript:x", "tags": "a, b c", "authors": ["A", "B"]},
        "Tiny.Lib",
        "1.0.0",
    )
    assert problem is None
    assert manifest == {
        "id": "Tiny.Lib",
        "version": "1.0.0",
        "listed": True,
        "authors": "A, B",
        "tags": ["a", "b", "c"],
    }


def test_safe_xml_keeps_namespaces_and_refuses_too_many_elements() -> None:
    root = parse_xml(f"<feed {NS}><entry><m:properties><d:Id>X</d:Id></m:properties></entry></feed>".encode())
    assert root.find(f"{nuget_v2.ATOM}entry/{nuget_v2.META}properties/{nuget_v2.DATA}Id").text == "X"  # type: ignore[union-attr]
    with pytest.raises(UnsafeXml, match="more than 10 elements"):
        parse_xml(b"<a>" + b"<b/>" * 11 + b"</a>", max_elements=10)


async def test_the_service_index_is_remembered_until_the_health_check_reads_it_afresh() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return respond(200, {"version": "3.0.0", "resources": [{"@id": REG, "@type": "RegistrationsBaseUrl"}]})

    source = CustomSource(
        id="s", name="s", protocol="nuget", location=f"{BASE}/remembered/index.json", credentials=None
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        first = await nuget.discover(client, source, 5, 1 << 20)
        assert await nuget.discover(client, source, 5, 1 << 20) == first and len(calls) == 1
        await nuget.ping(client, source, 5)
        assert len(calls) == 2 and first == {"nuget": "v3", "registrations": REG, "packageBase": ""}
