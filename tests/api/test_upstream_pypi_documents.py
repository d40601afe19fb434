"""What the feed believes from a Python index's project pages: other projects' files and names, malformed
entries, and error pages sent with a 200, on the request path and in the refresh job (both backends)."""

# ruff: noqa: F811
from __future__ import annotations

import hashlib
import json

import pytest

from feed_core import jobs
from tests.api.conftest import ORG, Api, MutableClock
from tests.api.test_upstream_pypi import py  # noqa: F401 - the same feed with a fixture index upstream
from tests.pypi_index_fixture import JSON_V1, FixtureIndex, fixture_index  # noqa: F401

FEEDS = f"/{ORG}/_apis/packaging/feeds"
JSON = {"Accept": JSON_V1}
BASE = f"/{ORG}/_packaging/feed/pypi/"


def page_doc(name: str, files: list[dict[str, object]]) -> bytes:
    return json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}).encode()


def entry(filename: str, data: bytes = b"x") -> dict[str, object]:
    return {
        "filename": filename,
        "url": f"../../files/{filename}",
        "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
    }


async def save(api: Api, fixture_index: FixtureIndex, name: str, version: str) -> None:
    filename, _ = fixture_index.add(name, version)
    r = await api.http.get(f"{BASE}download/{name}/{version}/{filename}", headers=api.auth("carol"))
    assert r.status_code == 200, r.text


async def test_files_of_another_project_are_not_offered(py: Api, fixture_index: FixtureIndex) -> None:
    fixture_index.raw["/simple/mine/"] = (
        page_doc(
            "mine", [entry("mine-1.0-py3-none-any.whl"), entry("evil-6.6-py3-none-any.whl"), entry("evil-7.0.tar.gz")]
        ),
        JSON_V1,
    )
    r = await py.http.get(f"{BASE}simple/mine/", headers={**JSON, **py.auth("carol")})
    assert r.status_code == 200, r.text
    assert [f["filename"] for f in r.json()["files"]] == ["mine-1.0-py3-none-any.whl"]
    assert r.json()["versions"] == ["1.0"]
    r = await py.http.get(f"{BASE}download/mine/6.6/evil-6.6-py3-none-any.whl", headers=py.auth("carol"))
    assert r.status_code == 404 and "evil" in r.json()["message"]
    assert fixture_index.count("evil-6.6-py3-none-any.whl") == 0


@pytest.mark.parametrize(
    "body",
    [
        page_doc("someone-else", [entry("mine-1.0-py3-none-any.whl")]),  # the page of another project
        page_doc("mine", [{"url": "../../files/mine-1.0-py3-none-any.whl"}]),  # an entry without a filename
        page_doc("mine", ["mine-1.0-py3-none-any.whl"]),  # an entry that is no object
        b'{"name": "mine", "files": {"a": 1}}',
        b'{"name": "mine", "files": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
    ],
    ids=["another project", "no filename", "entry not an object", "files not a list", "nested 100k deep"],
)
async def test_a_malformed_or_foreign_page_is_a_failed_upstream_not_a_500(
    py: Api, fixture_index: FixtureIndex, body: bytes
) -> None:
    fixture_index.raw["/simple/mine/"] = (body, JSON_V1)
    for _ in range(2):
        r = await py.http.get(f"{BASE}simple/mine/", headers={**JSON, **py.auth("carol")})
        assert r.status_code == 502, r.text
        assert "pypi-fixture" in r.json()["message"]
    assert fixture_index.count("/simple/mine/") == 1  # the refused page is not fetched again at once


async def test_refresh_skips_a_bad_document_with_a_reason_and_goes_on(
    py: Api, fixture_index: FixtureIndex, clock: MutableClock
) -> None:
    for name in ("aaa", "bbb", "ccc"):
        await save(py, fixture_index, name, "1.0")
    fixture_index.raw["/simple/aaa/"] = (page_doc("aaa", [{"url": "x"}]), JSON_V1)  # no filename
    fixture_index.raw["/simple/bbb/"] = (b"<html><body><h1>Service unavailable</h1></body></html>", "text/html")
    fixture_index.add("ccc", "2.0")
    report = await jobs.run_refresh(py.services)
    assert report.complete and report.packages == 3 and report.flagged_removed == []
    failures = "\n".join(report.failures)
    assert "aaa skipped" in failures and "filename" in failures
    assert "bbb skipped" in failures and "not a project page" in failures
    assert not any("ccc" in f for f in report.failures)
    # the refreshed package is served with its new version; the saved ones are not flagged as removed
    r = await py.http.get(f"{BASE}simple/ccc/", headers={**JSON, **py.auth("carol")})
    assert r.json()["versions"] == ["1.0", "2.0"]
    for name in ("aaa", "bbb"):
        info = await py.http.get(f"{FEEDS}/feed/pypi/packages/{name}/versions/1.0", headers=py.auth("bob"))
        assert info.status_code == 200 and "upstreamRemoved" not in info.json()["provenance"]
        r = await py.http.get(f"{BASE}simple/{name}/", headers={**JSON, **py.auth("carol")})
        assert r.status_code == 200, r.text  # the saved version is still served
