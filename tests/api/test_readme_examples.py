"""The README's curl examples, run as a reader would paste them, against the app in-process.

The public registries of the upstream example are the fixture registry and index on 127.0.0.1: the example's own
``export FEED_PUBLIC_SOURCES=…`` line is run by bash with ``npm`` and ``.venv/bin/python`` standing in for the
real ones (they print the fixtures' URLs), and what it exports is read as the server reads its settings.
"""

# ruff: noqa: F811
from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from feed_core.settings import Settings
from tests import readme
from tests.api.conftest import ADMIN_TOKEN, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import publish_body
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.pypi_index_fixture import FixtureIndex, fixture_index  # noqa: F401

SERVER = "http://127.0.0.1:7071"  # where ./scripts/serve listens, as the README's examples say
UPSTREAMS = readme.section("Upstream sources")
AS_IS = readme.block_after(UPSTREAMS, "This works as it is against the local server")
OPTIONAL = readme.block_after(UPSTREAMS, "Optional, and not to paste as it is")


@pytest.fixture
def backend() -> str:
    """The examples are about what a user types, not storage: one backend is enough."""
    return "embedded"


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(user.encode()).decode()


async def send(api: Api, call: readme.Curl) -> httpx.Response:
    assert call.url.startswith(SERVER), call.url
    headers = {**call.headers, **({"Authorization": basic(call.user)} if call.user else {})}
    return await api.http.request(call.method, call.url.removeprefix(SERVER), content=call.data, headers=headers)


async def run(api: Api, block: str, variables: dict[str, str]) -> list[httpx.Response]:
    """Each curl of a block in turn; every one must succeed."""
    answers = []
    for call in readme.curls(block, {"ADMIN": ADMIN_TOKEN, **variables}):
        r = await send(api, call)
        assert r.is_success, f"{call.method} {call.url}: {r.status_code} {r.text}"
        answers.append(r)
    return answers


async def team_set_up(api: Api) -> dict[str, str]:
    """The README's team set-up with curl: feed web, three users; their tokens by user."""
    block = readme.sh_blocks(readme.section("Set up a feed for a team"))[1]
    tokens = {}
    for r in await run(api, block, {}):
        body = r.json()
        if "patToken" in body:
            tokens[body["patToken"]["user"]] = body["patToken"]["token"]
    return tokens


def exported_public_sources(tmp_path: Path, npm_registry: str, pypi_index: str) -> str:
    """What step 1's ``export FEED_PUBLIC_SOURCES=…`` sets, run by bash as written, with stand-ins for npm's and
    pip's answers (the fixtures' URLs)."""
    export = AS_IS[AS_IS.index("export FEED_PUBLIC_SOURCES=") : AS_IS.index("./scripts/serve")]
    stubs = tmp_path / "stubs"
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    stubs.mkdir()
    for path, url in ((stubs / "npm", npm_registry), (tmp_path / ".venv" / "bin" / "python", pypi_index)):
        path.write_text(f"#!/bin/sh\necho '{url}'\n")
        path.chmod(0o755)
    script = export + '\nprintf "%s" "$FEED_PUBLIC_SOURCES"\n'
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-euc", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Pasted:
    api: Api
    tokens: dict[str, str]
    npm: FixtureRegistry
    pypi: FixtureIndex

    def variables(self, **more: str) -> dict[str, str]:
        return {"CAROL_TOKEN": self.tokens["carol"], **more}

    def upstream_names(self, feed: dict[str, Any]) -> list[str]:
        return [s["name"] for s in feed["upstreamSources"]]


@pytest.fixture
async def pasted(
    tmp_path: Path,
    make_settings: SettingsFactory,
    clock: MutableClock,
    fixture_registry: FixtureRegistry,
    fixture_index: FixtureIndex,
) -> AsyncIterator[Pasted]:
    """The team set-up, then steps 1 and 2 of the upstream example, as pasted."""
    value = exported_public_sources(tmp_path, fixture_registry.url, fixture_index.url)
    public = Settings.from_env({"FEED_PUBLIC_SOURCES": value}).public_sources
    assert {k: dict(v) for k, v in public.items()} == {
        "npmjs": {"protocol": "npm", "url": fixture_registry.url},
        "pypi": {"protocol": "pypi", "url": fixture_index.url},
    }
    async with running_api(make_settings(public_sources=public), clock) as api:
        tokens = await team_set_up(api)
        (answer,) = await run(api, AS_IS, {"CAROL_TOKEN": tokens["carol"]})
        example = Pasted(api, tokens, fixture_registry, fixture_index)
        assert example.upstream_names(answer.json()) == ["npmjs", "pypi"]
        yield example


# --- the team set-up -------------------------------------------------------------------------------


async def test_the_team_set_up_with_curl_gives_each_user_a_working_token(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings(), clock) as api:
        tokens = await team_set_up(api)
        assert set(tokens) == {"alice", "bob", "carol"}
        r = await api.http.get("/local/_apis/packaging/Feeds/web/permissions?api-version=7.1", headers=api.auth())
        roles = {p["identityDescriptor"]: p["role"] for p in r.json()["value"]}
        assert {u: roles[u] for u in tokens} == {"alice": "contributor", "bob": "reader", "carol": "collaborator"}
        for user, token in tokens.items():
            r = await api.http.get(
                "/local/_packaging/web/npm/registry/-/whoami", headers={"Authorization": basic(f":{token}")}
            )
            assert r.status_code == 200 and r.json() == {"username": user}, r.text


# --- the upstream example --------------------------------------------------------------------------


async def test_step_three_installs_through_the_public_python_source_and_saves(pasted: Pasted) -> None:
    filename, data = pasted.pypi.add("six", "1.0")
    installs = [w for w in readme.commands(AS_IS) if "install" in w]
    assert [w[:3] for w in installs] == [["pip", "install", "--index-url"], ["uv", "pip", "install"]]
    for words in installs:
        index = readme.fill(words[words.index("--index-url") + 1], pasted.variables())
        userinfo, _, rest = index.removeprefix("http://").partition("@")
        assert f"http://{rest}".startswith(SERVER) and words[-1] == "six"
        page = await pasted.api.http.get(
            f"http://{rest}".removeprefix(SERVER) + "six/",
            headers={"Authorization": basic(userinfo), "Accept": "application/vnd.pypi.simple.v1+json"},
        )
        assert page.status_code == 200, page.text
        (file,) = page.json()["files"]
        got = await pasted.api.http.get(
            file["url"].removeprefix("http://feed.test"), headers={"Authorization": basic(userinfo)}
        )
        assert got.status_code == 200 and got.content == data
    saved = await pasted.api.http.get(
        "/local/_apis/packaging/feeds/web/pypi/packages/six/versions/1.0?api-version=7.1", headers=pasted.api.auth()
    )
    assert saved.status_code == 200 and saved.json()["sourceChain"][0]["name"] == "pypi", saved.text
    assert pasted.pypi.count(f"/files/{filename}") == 1


def test_the_pip_default_index_command_prints_an_index_url() -> None:
    """Step 1 asks pip for the index it uses by default: that command works with this interpreter's pip."""
    (code,) = re.findall(r"\.venv/bin/python -c '([^']+)'", AS_IS)
    done = subprocess.run(
        [str(readme.ROOT / ".venv" / "bin" / "python"), "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"https://\S+/simple/?\n", done.stdout), done.stdout  # the feed adds a missing slash


async def test_the_optional_sources_work_once_their_placeholders_exist_and_a_patch_replaces_the_list(
    pasted: Pasted,
) -> None:
    api = pasted.api
    await api.create_feed("platform")
    r = await api.http.patch(
        "/local/_apis/packaging/feeds/platform/views/Release", json={"visibility": "collection"}, headers=api.auth()
    )
    assert r.status_code == 200, r.text
    (answer,) = await run(api, OPTIONAL, {"B": f"{SERVER}/local"})  # B: set by step 2, in the same shell
    sources = answer.json()["upstreamSources"]
    assert pasted.upstream_names(answer.json()) == ["npmjs", "pypi", "partner", "platform"]
    assert next(s for s in sources if s["name"] == "partner")["hasCredentials"] is True
    # the pasted example again: the list is what it sends, the optional sources are gone
    (answer,) = await run(api, AS_IS, pasted.variables())
    assert pasted.upstream_names(answer.json()) == ["npmjs", "pypi"]


async def test_the_provenance_ids_come_from_the_version_api(pasted: Pasted) -> None:
    api = pasted.api
    pasted.npm.add("left-pad", "1.3.0")
    carol = {"Authorization": basic(f":{pasted.tokens['carol']}")}
    saved = await api.http.get("/local/_packaging/web/npm/registry/left-pad/-/left-pad-1.3.0.tgz", headers=carol)
    assert saved.status_code == 200, saved.text

    block = readme.block_after(UPSTREAMS, "The two ids of that URL")
    version, provenance = readme.curls(block, {"FEED_TOKEN": pasted.tokens["bob"], "B": f"{SERVER}/local"})
    r = await send(api, version)
    assert r.status_code == 200, r.text
    ids = {"<packageId>": r.json()["packageId"], "<versionId>": r.json()["id"]}
    provenance.url = re.sub("<packageId>|<versionId>", lambda m: ids[m.group(0)], provenance.url)
    r = await send(api, provenance)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["packageId"], body["packageVersionId"]) == (ids["<packageId>"], ids["<versionId>"])
    assert body["provenance"]["provenanceSource"] == "Upstream"
    assert body["provenance"]["publisherUserIdentity"] == "carol"


async def test_the_npm_notice_reads_as_the_readme_shows(pasted: Pasted) -> None:
    (shown,) = re.findall(r"e\.g\. `npm notice (.*?)`;", readme.flat())
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        pasted.npm.add("left-pad", version)
    carol = {"Authorization": basic(f":{pasted.tokens['carol']}")}
    r = await pasted.api.http.get("/local/_packaging/web/npm/registry/left-pad/-/left-pad-1.1.0.tgz", headers=carol)
    assert r.status_code == 200, r.text
    bob = {"Authorization": basic(f":{pasted.tokens['bob']}")}
    r = await pasted.api.http.get("/local/_packaging/web/npm/registry/left-pad", headers=bob)
    assert r.status_code == 200 and r.headers["npm-notice"] == shown


async def test_the_curl_for_pip_users_shows_the_reason(pasted: Pasted) -> None:
    block = readme.block_after(UPSTREAMS, "a page with no saved version is a 404 whose `message` says why")
    (call,) = readme.curls(block, {"FEED_TOKEN": pasted.tokens["bob"]})
    assert call.url.endswith("/pypi/simple/six/")
    pasted.pypi.add("six", "1.0")
    pasted.pypi.add("six", "2.0")
    r = await send(pasted.api, call)  # nothing saved yet: a 404 saying why
    assert r.status_code == 404 and "is not saved in feed web yet" in r.json()["message"], r.text
    assert '"message"' in r.text  # what the README's grep looks for

    carol = {"Authorization": basic(f":{pasted.tokens['carol']}"), "Accept": "application/vnd.pypi.simple.v1+json"}
    files = (await pasted.api.http.get("/local/_packaging/web/pypi/simple/six/", headers=carol)).json()["files"]
    (file,) = [f for f in files if f["filename"].startswith("six-1.0-")]
    assert (await pasted.api.http.get(file["url"].removeprefix("http://feed.test"), headers=carol)).status_code == 200
    r = await send(pasted.api, call)  # 1.0 saved, 2.0 not
    assert r.status_code == 200
    assert r.headers["x-feed-notice"].startswith("1 version of six (2.0) is available from upstream pypi but not saved")


# --- retention, the recycle bin and storage usage ----------------------------------------------------


async def test_the_retention_recycle_bin_and_usage_calls_run_as_written(
    make_settings: SettingsFactory, clock: MutableClock
) -> None:
    async with running_api(make_settings(usage_max_age_seconds=0), clock) as api:
        tokens = await team_set_up(api)
        alice = {"Authorization": basic(f"alice:{tokens['alice']}")}
        registry = "/local/_packaging/web/npm/registry"
        for number in ("1.0.0", "1.1.0"):
            r = await api.http.put(f"{registry}/hello-world", json=publish_body("hello-world", number), headers=alice)
            assert r.status_code in (200, 201), r.text
        feed_api = "/local/_apis/packaging/feeds/web"
        r = await api.http.delete(f"{feed_api}/npm/hello-world/versions/1.0.0", headers=alice)
        assert r.is_success, r.text

        block = readme.sh_blocks(readme.section("Retention, the recycle bin and storage usage"))[0]
        policy, listing, restored, usage = await run(api, block, {})
        assert policy.json()["countLimit"] == 20 and policy.json()["daysToKeepRecentlyDownloadedPackages"] == 30
        (package,) = listing.json()["value"]
        assert package["name"] == "hello-world" and [v["version"] for v in package["versions"]] == ["1.0.0"]
        assert restored.is_success
        body = usage.json()
        assert body["recycleBinBytes"] == 0 and body["publishedBytes"] == body["totalBytes"] > 0
        assert [p["name"] for p in body["packages"]] == ["hello-world"]
        versions = await api.http.get(f"{registry}/hello-world", headers=alice)
        assert set(versions.json()["versions"]) == {"1.0.0", "1.1.0"}
