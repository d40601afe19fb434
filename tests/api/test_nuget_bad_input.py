"""Hostile NuGet pushes and read URLs, on both stores and through both push endpoints (v3 and v2).

Every refusal is a 400 or 413 whose message names the problem, in the JSON body and in ``X-NuGet-Warning`` (which
nuget.exe prints), and nothing is half-stored: no blob is written and the id stays unknown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.hostile_nupkgs import (
    BILLION_LAUGHS,
    XXE,
    MiB,
    declared_total_bomb,
    lying_stored_size,
    ratio_bomb,
    too_many_members,
    with_doctype,
    with_member,
)
from tests.nupkg_builder import build_nupkg, nuspec

V3 = f"/{ORG}/_packaging/feed/nuget/v3/"
V2 = f"/{ORG}/_packaging/feed/nuget/v2"
PUSH_URLS = {"v3": V3 + "package", "v2": V2 + "/package"}


@pytest.fixture(params=sorted(PUSH_URLS))
def push_url(request: pytest.FixtureRequest) -> str:
    return PUSH_URLS[str(request.param)]


async def blob_keys(api: Api) -> set[str]:
    return {b.key async for b in api.services.storage.blobs.list_blobs()}


def key(api: Api, who: str = "alice") -> dict[str, str]:
    return {"X-NuGet-ApiKey": api.tokens[who]}


async def push(api: Api, url: str, data: bytes) -> httpx.Response:
    files = {"package": ("package.nupkg", data, "application/octet-stream")}
    return await api.http.put(url, files=files, headers=key(api))


# --- hostile packages, built by hand --------------------------------------------------------------------------


CASES: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "ratio-bomb": (ratio_bomb, 413, "zip bomb"),
    "declared-total": (declared_total_bomb, 413, "zip bomb"),
    "too-many-members": (too_many_members, 413, "files this feed accepts"),
    "dotdot": (lambda: with_member("../evil.txt"), 400, "unsafe path '../evil.txt'"),
    "absolute": (lambda: with_member("/abs.txt"), 400, "unsafe path '/abs.txt'"),
    "backslash": (lambda: with_member("..\\win.txt"), 400, "unsafe path"),
    "billion-laughs": (lambda: with_doctype(BILLION_LAUGHS), 400, "DTD"),
    "xxe": (lambda: with_doctype(XXE), 400, "DTD"),
    "plain-dtd": (lambda: with_doctype(""), 400, "DTD"),
    "bad-id": (lambda: build_nupkg("X", "1.0.0", nuspec_xml=nuspec("no/slashes", "1.0.0")), 400, "invalid package id"),
    "bad-version": (lambda: build_nupkg("X", "1.0.0", nuspec_xml=nuspec("X", "1.0.0.0.0")), 400, "invalid version"),
    "truncated": (lambda: build_nupkg("Cut", "1.0.0")[:-40], 400, "not a zip"),
    "empty-file": (lambda: b"", 400, "not a zip"),
    "lying-stored-size": (lying_stored_size, 413, "'x.nuspec' expands 3145728 bytes from 4"),
}


async def assert_refused(api: Api, r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    message = r.json()["message"]
    assert words in message, message
    assert words in r.headers["x-nuget-warning"], r.headers
    for package_id in ("bomb", "trav", "xml", "x", "cut"):
        assert (await api.http.get(f"{V3}flat2/{package_id}/index.json", headers=api.auth("bob"))).status_code == 404


@pytest.mark.parametrize("case", sorted(CASES))
async def test_hostile_packages_are_refused_with_nothing_stored(feed_api: Api, push_url: str, case: str) -> None:
    build, status, words = CASES[case]
    before = await blob_keys(feed_api)
    r = await push(feed_api, push_url, build())
    await assert_refused(feed_api, r, status, words)
    assert await blob_keys(feed_api) == before


async def test_a_form_without_a_file_part_or_without_a_body_is_400(feed_api: Api, push_url: str) -> None:
    before = await blob_keys(feed_api)
    r = await feed_api.http.put(
        push_url, data={"note": "no package here"}, files={"x": ("", b"")}, headers=key(feed_api)
    )
    await assert_refused(feed_api, r, 400, "holds no package")
    r = await feed_api.http.put(
        push_url,
        content=b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nx\r\n--b--\r\n',
        headers={**key(feed_api), "Content-Type": "multipart/form-data; boundary=b"},
    )
    await assert_refused(feed_api, r, 400, "holds no package")
    r = await feed_api.http.put(
        push_url, content=b"", headers={**key(feed_api), "Content-Type": "multipart/form-data; boundary=b"}
    )
    await assert_refused(feed_api, r, 400, "holds no package")
    assert await blob_keys(feed_api) == before


async def test_a_chunked_oversized_push_is_413_before_it_is_all_read(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    limit, chunk = 64 * 1024, 8 * 1024
    async with running_api(make_settings(max_upload_bytes=limit), clock) as api:
        await api.create_feed("feed")
        await api.staff("feed")
        for url in PUSH_URLS.values():
            sent = 0

            async def body() -> AsyncIterator[bytes]:
                nonlocal sent
                head = b'--b\r\nContent-Disposition: form-data; name="package"; filename="p.nupkg"\r\n\r\n'
                sent += len(head)
                yield head
                while sent < 50 * MiB:  # far past the limit: the feed must stop pulling long before
                    sent += chunk
                    yield bytes(chunk)

            headers = {**key(api), "Content-Type": "multipart/form-data; boundary=b"}
            r = await api.http.put(url, content=body(), headers=headers)
            assert "content-length" not in r.request.headers  # chunked: no declared length to refuse up front
            await assert_refused(api, r, 413, str(limit))
            assert sent <= limit + 2 * chunk, sent
        assert [b async for b in api.services.storage.blobs.list_blobs()] == []


# --- hostile read URLs ----------------------------------------------------------------------------------------


READS = [
    "flat2/%2e%2e/%2e%2e/index.json",
    "flat2/..%2f..%2fsecrets/index.json",
    "flat2/known/%2e%2e/index.json",
    "flat2/known/1.0.0/..%2f..%2fknown.1.0.0.nupkg",
    "flat2/" + "a" * 5000 + "/index.json",
    "flat2/known/" + "1" * 5000 + "/known.1.0.0.nupkg",
    "flat2/bad%00id/index.json",
    "flat2/bad%3Cid%3E/index.json",
    "flat2/bad id/index.json",
    "flat2/known/not-a-version!/known.not-a-version!.nupkg",
    "registrations/" + "a" * 5000 + "/index.json",
    "registrations/bad%00id/index.json",
    "registrations-semver2/known/%2e%2e.json",
    "query?q=known&take=-1",
    "query?q=known&take=banana&skip=banana",
    "autocomplete?q=known&take=1e9",
]
V2_READS = [
    "/FindPackagesById()?id='..%2f..%2fx'",
    "/FindPackagesById()?id='" + "a" * 5000 + "'",
    "/Packages(Id='known',Version='not a version')",
    "/Packages(Id='..',Version='1.0.0')",
    "/Search()?searchTerm='known'&$top=banana",
    "/Search()?searchTerm='known'&$skip=-5",
    "/Search()?searchTerm='known'&$filter=IsLatestVersion%20or%201%20eq%201",
    "/package/%2e%2e/1.0.0",
    "/package/known/" + "9" * 5000,
]


@pytest.mark.parametrize("path", [V3 + p for p in READS] + [V2 + p for p in V2_READS])
async def test_hostile_read_urls_are_400_or_404(feed_api: Api, path: str) -> None:
    assert (await push(feed_api, PUSH_URLS["v3"], build_nupkg("Known", "1.0.0"))).status_code == 201
    r = await feed_api.http.get(path, headers=feed_api.auth("bob"))
    assert r.status_code in (400, 404), (r.status_code, r.text[:300])
    assert r.json()["message"], r.text


#: Options the public gallery reads leniently: an unknown semVerLevel is SemVer 1, an unreadable flag is off.
LENIENT = {
    V3 + "query?q=known&semVerLevel=banana": "known",
    V3 + "query?q=known&prerelease=maybe": "known",
    V3 + "query?q=known&skip=99999999999999999999999": '"data":[]',
    V3 + "autocomplete?id=known&semVerLevel=%00": "1.0.0",
    V2 + "/FindPackagesById()?id=unquoted": "<feed",
    V2 + "/Search()?semVerLevel=banana": "Known",
    V3 + "query?q=known&semVerLevel=%C2%B2": "known",  # a digit to str.isdigit, not to int()
    V3 + "query?q=known&semVerLevel=" + "9" * 5000: "known",  # past int()'s digit limit
    V3 + "autocomplete?q=kn&semVerLevel=%C2%B2": "Known",
    V2 + "/Search()?semVerLevel=%C2%B2": "Known",
    V2 + "/FindPackagesById()?id='known'&semVerLevel=%C2%B2": "Known",
}


@pytest.mark.parametrize("path", sorted(LENIENT))
async def test_garbage_options_the_gallery_tolerates_are_read_leniently(feed_api: Api, path: str) -> None:
    assert (await push(feed_api, PUSH_URLS["v3"], build_nupkg("Known", "1.0.0"))).status_code == 201
    r = await feed_api.http.get(path, headers=feed_api.auth("bob"))
    assert r.status_code == 200 and LENIENT[path] in r.text, r.text[:300]


async def test_a_nuspec_with_a_script_is_served_so_that_no_browser_runs_it(feed_api: Api) -> None:
    """The .nuspec is the pusher's XML on the feed's origin: an XHTML script in it must not run in a browser."""
    script = '<h:script xmlns:h="http://www.w3.org/1999/xhtml">alert(document.domain)</h:script>'
    spec = nuspec("Scripted", "1.0.0", metadata_extra=script)
    assert (await push(feed_api, PUSH_URLS["v3"], build_nupkg("Scripted", "1.0.0", nuspec_xml=spec))).status_code == 201
    for method in ("GET", "HEAD"):
        r = await feed_api.http.request(
            method, V3 + "flat2/scripted/1.0.0/scripted.nuspec", headers=feed_api.auth("bob")
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        assert "default-src 'none'" in r.headers["content-security-policy"]
