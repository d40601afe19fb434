"""The Python index in-process: uploads as twine sends them, the simple API as pip and uv read it."""

from __future__ import annotations

import hashlib

import pytest

from feed_core.storage.packages import content_key
from tests.api.conftest import ORG, Api
from tests.python_packages import make_sdist, make_wheel, upload_form

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
PIP_ACCEPT = {
    "Accept": "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
}


def base(feed: str = "feed", view: str | None = None) -> str:
    return f"/{ORG}/_packaging/{feed}{'@' + view if view else ''}/pypi/"


async def upload(
    api: Api, name: str, version: str, who: str = "alice", *, sdist: bool = False, feed: str = "feed", **overrides: str
) -> tuple[str, bytes, bytes, int]:
    filename, data, metadata = (make_sdist if sdist else make_wheel)(name, version)
    fields, files = upload_form(name, version, filename, data, **overrides)
    r = await api.http.post(base(feed) + "upload/", data=fields, files=files, headers=api.auth(who))
    return filename, data, metadata, r.status_code


async def test_upload_then_simple_json_and_html(feed_api: Api) -> None:
    api = feed_api
    wheel, wheel_bytes, metadata, status = await upload(api, "Demo.Pkg", "1.0")
    assert status == 200
    sdist, _, _, status = await upload(api, "Demo.Pkg", "1.0", sdist=True)
    assert status == 200
    r = await api.http.get(base() + "simple/demo-pkg/", headers={**PIP_ACCEPT, **api.auth("bob")})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.pypi.simple.v1+json"
    doc = r.json()
    assert doc["meta"]["api-version"] == "1.1" and doc["name"] == "demo-pkg" and doc["versions"] == ["1.0"]
    files = {f["filename"]: f for f in doc["files"]}
    assert set(files) == {wheel, sdist}
    w = files[wheel]
    assert w["hashes"] == {"sha256": hashlib.sha256(wheel_bytes).hexdigest()} and w["size"] == len(wheel_bytes)
    assert w["requires-python"] == ">=3.8" and w["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert w["upload-time"].endswith("Z") and w["yanked"] is False
    # the file and its metadata download with those hashes
    got = await api.http.get(w["url"].replace("http://feed.test", ""), headers=api.auth("bob"))
    assert got.status_code == 200 and got.content == wheel_bytes
    meta = await api.http.get(w["url"].replace("http://feed.test", "") + ".metadata", headers=api.auth("bob"))
    assert meta.status_code == 200 and meta.content == metadata
    html = await api.http.get(base() + "simple/demo-pkg/", headers={"Accept": "text/html", **api.auth("bob")})
    assert html.headers["content-type"].startswith("text/html")
    assert f">{wheel}</a>" in html.text and f"#sha256={hashlib.sha256(wheel_bytes).hexdigest()}" in html.text
    assert 'data-requires-python="&gt;=3.8"' in html.text and "data-core-metadata=" in html.text
    listing = await api.http.get(base() + "simple/", headers={**JSON, **api.auth("bob")})
    assert listing.json()["projects"] == [{"name": "demo-pkg"}]


async def test_names_are_normalised_with_redirects(feed_api: Api) -> None:
    await upload(feed_api, "My_Lib", "2.0")
    for path in ("simple/My_Lib/", "simple/my-lib", "simple/MY.LIB"):
        r = await feed_api.http.get(base() + path, headers=feed_api.auth("bob"))
        assert r.status_code == 301, path
        assert r.headers["location"].endswith("/pypi/simple/my-lib/")


async def test_etag_and_304(feed_api: Api) -> None:
    await upload(feed_api, "etagged", "1.0")
    r = await feed_api.http.get(base() + "simple/etagged/", headers={**JSON, **feed_api.auth("bob")})
    again = await feed_api.http.get(
        base() + "simple/etagged/", headers={**JSON, **feed_api.auth("bob"), "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


async def test_negotiation_406_and_format_override(feed_api: Api) -> None:
    await upload(feed_api, "neg", "1.0")
    r = await feed_api.http.get(base() + "simple/neg/", headers={"Accept": "image/png", **feed_api.auth("bob")})
    assert r.status_code == 406
    r = await feed_api.http.get(
        base() + "simple/neg/?format=application/vnd.pypi.simple.v1%2Bjson",
        headers={"Accept": "text/html", **feed_api.auth("bob")},
    )
    assert r.headers["content-type"] == "application/vnd.pypi.simple.v1+json"


async def test_duplicate_files(feed_api: Api) -> None:
    filename, data, _, status = await upload(feed_api, "dup", "1.0")
    assert status == 200
    fields, files = upload_form("dup", "1.0", filename, data)
    r = await feed_api.http.post(base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 200  # byte-identical re-send: accepted, nothing changes
    other = make_wheel("dup", "1.0", code="VALUE = 1\n")[1]
    fields, files = upload_form("dup", "1.0", filename, other)
    r = await feed_api.http.post(base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 409 and "File already exists" in r.text  # what twine --skip-existing looks for
    # the refused bytes were not stored either (refused before the content was written)
    refused = content_key(hashlib.sha256(other).hexdigest())
    assert await feed_api.services.packages.store.blobs.stat(refused) is None


async def test_upload_needs_a_contributor(feed_api: Api) -> None:
    _, _, _, status = await upload(feed_api, "nope", "1.0", who="bob")
    assert status == 403
    r = await feed_api.http.post(base() + "upload/", data={":action": "file_upload"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"name": "other"}, "name"),
        ({"version": "9.9"}, "version"),
        ({"sha256_digest": "0" * 64}, "sha256_digest"),
        ({":action": "remove_pkg"}, ":action"),
    ],
)
async def test_bad_upload_fields(feed_api: Api, overrides: dict[str, str], words: str) -> None:
    filename, data, _ = make_wheel("badup", "1.0")
    fields, files = upload_form("badup", "1.0", filename, data, **overrides)
    r = await feed_api.http.post(base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 400 and words in r.json()["message"]
    assert (await feed_api.http.get(base() + "simple/badup/", headers=feed_api.auth("bob"))).status_code == 404


async def test_corrupt_files_are_refused(feed_api: Api) -> None:
    fields, files = upload_form("junk", "1.0", "junk-1.0-py3-none-any.whl", b"not a zip at all")
    r = await feed_api.http.post(base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 400 and "zip" in r.json()["message"]
    fields, files = upload_form("junk", "1.0", "junk-1.0.exe", b"MZ")
    r = await feed_api.http.post(base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 400
    r = await feed_api.http.post(base() + "upload/", data={":action": "file_upload"}, headers=feed_api.auth("alice"))
    assert r.status_code == 400


async def test_deleted_versions_stay_reserved_and_views(feed_api: Api) -> None:
    api = feed_api
    await upload(api, "relpkg", "1.0")
    await upload(api, "relpkg", "2.0")
    url = f"/{ORG}/_apis/packaging/feeds/feed/pypi/packages/relpkg/versions"
    promote = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
    assert (await api.http.patch(f"{url}/1.0", json=promote, headers=api.auth("alice"))).status_code == 200
    r = await api.http.get(base(view="Release") + "simple/relpkg/", headers={**JSON, **api.auth("bob")})
    assert r.json()["versions"] == ["1.0"]
    info = await api.http.get(f"{url}/2.0", headers=api.auth("bob"))
    assert info.status_code == 200 and info.json()["version"] == "2.0"
    assert (await api.http.delete(f"{url}/2.0", headers=api.auth("alice"))).status_code == 200
    r = await api.http.get(base() + "simple/relpkg/", headers={**JSON, **api.auth("bob")})
    assert r.json()["versions"] == ["1.0"]
    _, _, _, status = await upload(api, "relpkg", "2.0")
    assert status == 409


async def test_yank_and_unyank(feed_api: Api) -> None:
    api = feed_api
    await upload(api, "yankme", "1.0")
    url = f"/{ORG}/_apis/packaging/feeds/feed/pypi/packages/yankme/versions/1.0"
    assert (
        await api.http.patch(url, json={"yanked": True, "yankedReason": "broken"}, headers=api.auth("alice"))
    ).status_code == 200
    doc = (await api.http.get(base() + "simple/yankme/", headers={**JSON, **api.auth("bob")})).json()
    assert doc["files"][0]["yanked"] == "broken"
    html = (await api.http.get(base() + "simple/yankme/", headers={"Accept": "text/html", **api.auth("bob")})).text
    assert 'data-yanked="broken"' in html
    assert (await api.http.patch(url, json={"yanked": False}, headers=api.auth("alice"))).status_code == 200
    doc = (await api.http.get(base() + "simple/yankme/", headers={**JSON, **api.auth("bob")})).json()
    assert doc["files"][0]["yanked"] is False


async def test_oversized_upload_is_413(feed_api: Api) -> None:
    r = await feed_api.http.post(
        base() + "upload/",
        content=b"x" * 10,
        headers={
            **feed_api.auth("alice"),
            "Content-Length": str(10**12),
            "Content-Type": "multipart/form-data; boundary=x",
        },
    )
    assert r.status_code == 413


async def test_files_answer_range_requests(feed_api: Api, backend: str) -> None:
    api = feed_api
    await upload(api, "ranged", "1.0")
    (f,) = (await api.http.get(base() + "simple/ranged/", headers={**JSON, **api.auth("bob")})).json()["files"]
    url = f["url"].replace("http://feed.test", "")
    whole = (await api.http.get(url, headers=api.auth("bob"))).content
    r = await api.http.get(url, headers={**api.auth("bob"), "Range": "bytes=10-19"})
    if backend == "embedded":
        assert r.status_code == 206 and r.content == whole[10:20]
    else:  # the Azure store streams the whole file (a SAS redirect serves ranges when enabled)
        assert r.status_code == 200 and r.content == whole


async def test_get_on_the_upload_url_is_405(feed_api: Api) -> None:
    r = await feed_api.http.get(base() + "upload/", headers=feed_api.auth("alice"))
    assert r.status_code == 405 and "POST" in r.json()["message"]
