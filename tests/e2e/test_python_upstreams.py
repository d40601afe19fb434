"""Python upstream sources with the real pip and uv: the scenarios of tests/api/test_upstream_pypi.py, end to end.

The feed server runs under uvicorn in a subprocess (one for this module, with short upstream budgets and no
on-demand refresh delay); the upstream is a real PEP 691 index on 127.0.0.1 (tests/pypi_index_fixture.py).
Every test gets a fresh feed (alice contributor, bob reader, see conftest.py) and carol as a collaborator; the
clients run isolated from this machine's configuration (tests/e2e/test_python_clients.py).

``test_live_pypi_as_upstream`` is marked ``live``: its upstream is the index pip itself defaults to, read from pip
at run time; it is deselected by default (pyproject.toml's ``-m 'not live'``); run it with ``-m live``.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import readme
from tests.e2e.conftest import Api, FeedEnv, FeedServer, clean_env, running
from tests.e2e.test_python_clients import PY, PyClients, Result, dist_infos, failed, ok, sha256
from tests.pypi_index_fixture import FixtureIndex, fixture_index  # noqa: F401

API_VERSION = {"api-version": "7.1"}
SOURCE_NAME = "pypi-fixture"


# --- the server, the feed's users and the clients --------------------------------------------------


@pytest.fixture
def server(upstream_server: FeedServer) -> FeedServer:
    """Overrides conftest's ``server``: ``api`` and ``feed`` use this module's own server."""
    return running(upstream_server)


@pytest.fixture
def py(tmp_path: Path, server: FeedServer, feed: FeedEnv) -> PyClients:
    return PyClients(server, feed, tmp_path / "py")


def set_upstreams(api: Api, feed: str, *sources: dict[str, str]) -> None:
    r = api.request("PATCH", f"/_apis/packaging/feeds/{feed}", params=API_VERSION, json={"upstreamSources": sources})
    assert r.status_code == 200, r.text


@pytest.fixture
def upstream(api: Api, feed: FeedEnv, fixture_index: FixtureIndex) -> FixtureIndex:  # noqa: F811
    """The test's feed with the fixture index as its only upstream."""
    set_upstreams(api, feed.name, {"name": SOURCE_NAME, "protocol": "pypi", "location": fixture_index.url})
    return fixture_index


# --- helpers ---------------------------------------------------------------------------------------


def version_info(api: Api, feed: str, name: str, version: str) -> httpx.Response:
    return api.request(
        "GET", f"/_apis/packaging/feeds/{feed}/pypi/packages/{name}/versions/{version}", params=API_VERSION
    )


def saved(api: Api, feed: str, name: str, version: str) -> dict[str, Any]:
    """The saved version. A client has its file once it is verified; the feed commits it just after, so a check
    right after an install gives it a few seconds."""
    deadline = time.monotonic() + 10
    while (r := version_info(api, feed, name, version)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 200, f"{name} {version} is not saved in {feed}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def assert_saved_from_fixture(
    api: Api, feed: str, index: FixtureIndex, name: str, version: str, filename: str, data: bytes
) -> None:
    body = saved(api, feed, name, version)
    hop = body["sourceChain"][0]
    assert hop["name"] == SOURCE_NAME and hop["location"] == index.url, body["sourceChain"]
    prov = body["provenance"]
    assert prov["savedBy"] == "carol" and prov["verifiedWith"] == "sha256", prov
    assert prov["upstreamSha256"] == sha256(data), prov
    assert prov["url"] == index.url.removesuffix("simple/") + f"files/{filename}", prov


def installed_version(target: Path, dist: str) -> str:
    """The version of ``dist`` (its dist-info folder name) installed in ``target``; fails unless exactly one."""
    (info,) = target.glob(f"{dist}-*.dist-info")
    return info.name.removeprefix(f"{dist}-").removesuffix(".dist-info")


def value_of(py: PyClients, target: Path, *modules: str) -> str:
    code = f"import {', '.join(modules)}; print(' | '.join(str(m.VALUE) for m in ({', '.join(modules)},)))"
    return ok(py.python(code, target)).stdout.strip()


def install(py: PyClients, client: str, token: str, *reqs: str) -> tuple[Result, Path]:
    if client == "pip":
        return py.pip_install(*reqs, index=py.simple(token=token))
    return py.uv_install(*reqs, index=py.simple(token=token))


# --- 1. a collaborator installs a dependency chain and saves it -----------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("client", ["pip", "uv"])
def test_collaborator_installs_an_upstream_chain_and_saves_it(
    py: PyClients, api: Api, upstream: FixtureIndex, carol: str, client: str
) -> None:
    files = {
        "top-py": upstream.add("top-py", "1.0", requires=("dep-py>=1.0",), code="VALUE = 'top 1.0'\n"),
        "dep-py": upstream.add("dep-py", "1.0", code="VALUE = 'dep 1.0'\n"),
    }
    result, target = install(py, client, carol, "top-py")
    ok(result)
    assert dist_infos(target) == {"top_py-1.0.dist-info", "dep_py-1.0.dist-info"}, str(result)
    assert value_of(py, target, "top_py", "dep_py") == "top 1.0 | dep 1.0"

    for name, (filename, data) in files.items():
        assert upstream.count(f"/files/{filename}") == 1, upstream.requests
        assert_saved_from_fixture(api, py.feed.name, upstream, name, "1.0", filename, data)
    assert "/simple/" not in upstream.requests  # never the index's project list

    # saved: bob (a reader) now installs the same chain
    result, target = install(py, client, py.feed.bob_token, "top-py")
    ok(result)
    assert dist_infos(target) == {"top_py-1.0.dist-info", "dep_py-1.0.dist-info"}, str(result)


# --- 2. a reader gets only what a collaborator saved -----------------------------------------------


@pytest.mark.e2e
def test_reader_installs_only_after_a_collaborator_saved(
    py: PyClients, api: Api, upstream: FixtureIndex, carol: str
) -> None:
    filename, _ = upstream.add("shy-py", "1.0", code="VALUE = 'shy'\n")
    result, target = py.pip_install("shy-py")  # bob
    assert "No matching distribution found for shy-py" in failed(result).output, str(result)
    assert dist_infos(target) == set()
    assert upstream.count(f"/files/{filename}") == 0
    assert version_info(api, py.feed.name, "shy-py", "1.0").status_code == 404

    result, target = py.pip_install("shy-py", index=py.simple(token=carol))
    ok(result)
    assert value_of(py, target, "shy_py") == "shy"

    result, target = py.pip_install("shy-py")  # bob again
    ok(result)
    assert dist_infos(target) == {"shy_py-1.0.dist-info"}, str(result)
    assert value_of(py, target, "shy_py") == "shy"
    assert upstream.count(f"/files/{filename}") == 1


@pytest.mark.e2e
@pytest.mark.parametrize("client", ["pip", "uv"])
def test_reader_sees_why_a_version_is_missing_with_the_readme_curl(
    py: PyClients, upstream: FixtureIndex, carol: str, client: str
) -> None:
    """pip and uv print nothing a server sends about a version a page does not list, so the README shows a curl
    command that does: run as written (curl and grep), against this server and feed."""
    upstream.add("told-py", "1.0")
    upstream.add("told-py", "2.0")
    result, target = install(py, client, py.feed.bob_token, "told-py==2.0")
    failed(result)
    assert dist_infos(target) == set(), str(result)
    rule = "a collaborator (Feed and Upstream Reader) or higher must install"
    shown = readme_curl(py, "told-py")
    assert shown.startswith('{"message":"told-py@') and f"is not saved in feed {py.feed.name} yet; {rule}" in shown

    ok(py.pip_install("told-py==1.0", index=py.simple(token=carol))[0])
    result, target = install(py, client, py.feed.bob_token, "told-py==2.0")
    failed(result)
    if client == "pip":
        assert "(from versions: 1.0)" in result.output, str(result)  # all pip says
    assert dist_infos(target) == set(), str(result)
    assert readme_curl(py, "told-py") == (
        "x-feed-notice: 1 version of told-py (2.0) is available from upstream pypi-fixture but not saved in feed "
        f"{py.feed.name}; {rule} it first"
    )


def readme_curl(py: PyClients, project: str) -> str:
    """The README's command for seeing why a version is missing, pointed at this server, feed and project."""
    (command,) = re.findall(r"^ *(curl -si .*?)\n *```", readme.text(), flags=re.M | re.S)
    command = command.replace("\\\n", " ").replace("http://127.0.0.1:7071", py.server.base_url)
    command = command.replace("/_packaging/web/", f"/_packaging/{py.feed.name}/").replace("/six/", f"/{project}/")
    env = {**clean_env(), "FEED_TOKEN": py.feed.bob_token}
    done = subprocess.run(
        ["bash", "-c", command], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()


# --- 3. dependency confusion -----------------------------------------------------------------------


@pytest.mark.e2e
def test_private_name_is_not_shadowed_by_a_higher_upstream_version(
    py: PyClients, api: Api, upstream: FixtureIndex, carol: str
) -> None:
    public, _ = upstream.add("corp-py", "99.0", code="VALUE = 'public 99.0'\n")
    ok(py.twine(py.wheel("corp-py", "1.0", code="VALUE = 'private 1.0'\n")[0]))

    result, target = py.pip_install("corp-py", index=py.simple(token=carol))
    ok(result)
    assert installed_version(target, "corp_py") == "1.0", str(result)
    assert value_of(py, target, "corp_py") == "private 1.0"
    assert upstream.count(f"/files/{public}") == 0
    result, _ = py.pip_install("corp-py==99.0", index=py.simple(token=carol))
    assert "No matching distribution found for corp-py==99.0" in failed(result).output, str(result)
    assert upstream.count(f"/files/{public}") == 0

    url = f"/_apis/packaging/feeds/{py.feed.name}/pypi/packages/corp-py/upstreaming"
    allow = {"versionsFromExternalUpstreams": "AllowExternalVersions"}
    assert api.request("PATCH", url, params=API_VERSION, json=allow, token=py.feed.alice_token).status_code == 403
    r = api.request("PATCH", url, params=API_VERSION, json=allow)  # the organization administrator owns the feed
    assert r.status_code == 200, r.text

    result, target = py.pip_install("corp-py", index=py.simple(token=carol))
    ok(result)
    assert installed_version(target, "corp_py") == "99.0", str(result)
    assert value_of(py, target, "corp_py") == "public 99.0"
    assert upstream.count(f"/files/{public}") == 1


# --- 4. the upstream goes down ---------------------------------------------------------------------


@pytest.mark.e2e
def test_saved_files_install_while_the_upstream_is_down(py: PyClients, upstream: FixtureIndex, carol: str) -> None:
    filename, _ = upstream.add("sturdy-py", "1.0", code="VALUE = 'sturdy'\n")
    result, target = py.pip_install("sturdy-py", index=py.simple(token=carol))
    ok(result)
    assert value_of(py, target, "sturdy_py") == "sturdy"

    upstream.down = True
    for who, token in (("bob", py.feed.bob_token), ("carol", carol)):
        before = len(upstream.requests)
        result, target = py.pip_install("sturdy-py", index=py.simple(token=token))  # new target, no cache
        ok(result)
        assert dist_infos(target) == {"sturdy_py-1.0.dist-info"}, f"{who}:\n{result}"
        assert value_of(py, target, "sturdy_py") == "sturdy"
        assert f"/files/{filename}" not in upstream.requests[before:], who
    assert upstream.count(f"/files/{filename}") == 1


# --- 5. a tampered upstream file -------------------------------------------------------------------


@pytest.mark.e2e
def test_tampered_upstream_file_fails_the_install_and_is_not_saved(
    py: PyClients, api: Api, upstream: FixtureIndex, carol: str
) -> None:
    filename, _ = upstream.add("evil-py", "1.0")
    upstream.tampered.add(filename)
    result, target = py.pip_install("evil-py", index=py.simple(token=carol))
    assert "502 Server Error" in failed(result).output, str(result)
    assert dist_infos(target) == set(), str(result)
    assert upstream.count(f"/files/{filename}") >= 1  # the feed did try, and refused what it got
    assert version_info(api, py.feed.name, "evil-py", "1.0").status_code == 404
    result, target = py.pip_install("evil-py")  # bob: nothing was saved for him to see
    assert "No matching distribution found for evil-py" in failed(result).output, str(result)


# --- 6. hash-checking mode through the upstream ----------------------------------------------------


@pytest.mark.e2e
def test_require_hashes_with_the_upstream_sha256(py: PyClients, api: Api, upstream: FixtureIndex, carol: str) -> None:
    filename, data = upstream.add("hashed-py", "1.0", code="VALUE = 'hashed'\n")
    req = py.root / "req.txt"
    req.write_text(f"hashed-py==1.0 --hash=sha256:{sha256(data)}\n")
    result, target = py.pip_install("--require-hashes", "-r", str(req), index=py.simple(token=carol))
    ok(result)
    assert value_of(py, target, "hashed_py") == "hashed"
    assert_saved_from_fixture(api, py.feed.name, upstream, "hashed-py", "1.0", filename, data)

    # a wrong pin is refused by pip
    req.write_text(f"hashed-py==1.0 --hash=sha256:{'0' * 64}\n")
    result, target = py.pip_install("--require-hashes", "-r", str(req), index=py.simple(token=carol))
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in failed(result).output, str(result)
    assert dist_infos(target) == set()


# --- 7. the live public index (deselected by default) ----------------------------------------------


def pip_default_index() -> str:
    """The index pip itself defaults to, asked of this interpreter's pip (no configuration involved)."""
    code = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"
    result = subprocess.run(
        [PY, "-I", "-c", code], env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://"), url
    return url


@pytest.mark.e2e
@pytest.mark.live
def test_live_pypi_as_upstream(py: PyClients, api: Api, carol: str) -> None:
    index = pip_default_index()
    set_upstreams(api, py.feed.name, {"name": "live", "protocol": "pypi", "location": index})
    result, target = py.pip_install("six==1.16.0", index=py.simple(token=carol))
    ok(result)
    assert dist_infos(target) == {"six-1.16.0.dist-info"}, str(result)
    assert ok(py.python("import six; print(six.__version__)", target)).stdout.strip() == "1.16.0"

    body = saved(api, py.feed.name, "six", "1.16.0")
    hop = body["sourceChain"][0]
    assert hop["name"] == "live" and hop["location"] == index, body["sourceChain"]
    prov = body["provenance"]
    assert prov["savedBy"] == "carol" and prov["verifiedWith"] == "sha256", prov
    assert prov["url"].startswith("https://") and prov["url"].endswith("/six-1.16.0-py2.py3-none-any.whl"), prov
    wheel = (target.parent / "dl").resolve()
    result = ok(py.pip("download", "--index-url", py.simple(), "--no-deps", "-d", str(wheel), "six==1.16.0"))
    assert sha256((wheel / "six-1.16.0-py2.py3-none-any.whl").read_bytes()) == prov["upstreamSha256"], str(result)
