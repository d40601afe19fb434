"""The real npm CLI against the feed server (uvicorn in a subprocess).

Every test gets a fresh feed where alice is a contributor (write token) and bob a reader (read token);
every npm client has its own userconfig, cache and project directory. See conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api, FeedEnv, FeedServer, NpmClient, NpmFactory, NpmResult, PackageFactory

BACKENDS = ["embedded", pytest.param("azurite", marks=pytest.mark.azurite)]
ABBREVIATED = "application/vnd.npm.install-v1+json"


# --- helpers ---------------------------------------------------------------------------------------


def ok(result: NpmResult) -> NpmResult:
    assert result.returncode == 0, str(result)
    return result


def failed(result: NpmResult) -> NpmResult:
    assert result.returncode != 0, str(result)
    return result


def publish(client: NpmClient, folder: Path, *args: str) -> NpmResult:
    result = ok(client.run("publish", str(folder), *args))
    manifest = json.loads((folder / "package.json").read_text())
    assert f"+ {manifest['name']}@{manifest['version']}" in result.stdout, str(result)
    return result


def installed_version(client: NpmClient, name: str) -> str:
    manifest = json.loads((client.project / "node_modules" / name / "package.json").read_text())
    assert manifest["name"] == name
    version: str = manifest["version"]
    return version


def lockfile(client: NpmClient) -> dict[str, Any]:
    lock: dict[str, Any] = json.loads((client.project / "package-lock.json").read_text())
    return lock


def view_json(client: NpmClient, *args: str) -> Any:
    result = ok(client.run("view", *args, "--json"))
    return json.loads(result.stdout) if result.stdout.strip() else None


def versions_seen(client: NpmClient, name: str) -> list[str]:
    value = view_json(client, name, "versions")
    return [value] if isinstance(value, str) else list(value)


def dist_tags(client: NpmClient, name: str) -> dict[str, str]:
    result = ok(client.run("dist-tag", "ls", name))
    tags = {}
    for line in result.stdout.splitlines():
        if line.strip():
            tag, _, version = line.partition(":")
            tags[tag.strip()] = version.strip()
    return tags


def packument(api: Api, feed: FeedEnv, name: str, *, abbreviated: bool = False) -> dict[str, Any]:
    path = name.replace("/", "%2f")
    headers = {"Accept": ABBREVIATED} if abbreviated else {}
    r = api.npm_get(feed.name, path, token=feed.bob_token, headers=headers)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def sha512_sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


# --- 1. publish and install, on both storage backends ---------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_publish_scoped_and_unscoped_then_reader_installs(
    server: FeedServer, feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory
) -> None:
    alice = npm(feed.alice_token, name="alice")
    util = package("@team/util", "1.2.3", value="util-1.2.3")
    app = package(
        "e2e-app",
        "1.0.0",
        dependencies={"@team/util": "^1.2.0"},
        index='module.exports = "app+" + require("@team/util");\n',
    )
    publish(alice, util)
    publish(alice, app)

    bob = npm(feed.bob_token, name="bob")
    ok(bob.run("install", "e2e-app"))
    assert installed_version(bob, "e2e-app") == "1.0.0"
    assert installed_version(bob, "@team/util") == "1.2.3"
    ran = ok(bob.node('console.log(require("e2e-app"))'))
    assert ran.stdout.strip() == "app+util-1.2.3"

    lock = lockfile(bob)
    for name, version in (("e2e-app", "1.0.0"), ("@team/util", "1.2.3")):
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        assert entry["integrity"].startswith("sha512-"), entry
        assert entry["resolved"].startswith(feed.registry), entry
        doc = packument(api, feed, name)
        assert entry["integrity"] == doc["versions"][version]["dist"]["integrity"]
        assert entry["resolved"] == doc["versions"][version]["dist"]["tarball"]
    assert lock["packages"][""]["dependencies"]["e2e-app"].startswith("^1.0.0")

    # What was downloaded is what was published, byte for byte: a tarball this small is sent by the feed
    # itself on Azurite too, not redirected (FEED_DOWNLOAD_REDIRECT_MIN_BYTES; tests/api/test_small_blobs.py
    # follows the SAS redirect of a large file).
    tarball_url = lock["packages"]["node_modules/@team/util"]["resolved"]
    with httpx.Client(trust_env=False, timeout=30) as client:
        r = client.get(tarball_url, headers={"Authorization": f"Bearer {feed.bob_token}"})
        assert r.status_code == 200, r.text
        assert sha512_sri(r.content) == lock["packages"]["node_modules/@team/util"]["integrity"]


# --- 2. dist-tags ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_dist_tags(feed: FeedEnv, npm: NpmFactory, package: PackageFactory) -> None:
    alice = npm(feed.alice_token, name="alice")
    publish(alice, package("tagged", "1.0.0"))
    publish(alice, package("tagged", "1.1.0-beta.1"), "--tag", "beta")
    assert dist_tags(alice, "tagged") == {"latest": "1.0.0", "beta": "1.1.0-beta.1"}

    added = ok(alice.run("dist-tag", "add", "tagged@1.0.0", "stable"))
    assert "+stable: tagged@1.0.0" in added.stdout
    assert dist_tags(alice, "tagged") == {"latest": "1.0.0", "beta": "1.1.0-beta.1", "stable": "1.0.0"}

    removed = ok(alice.run("dist-tag", "rm", "tagged", "stable"))
    assert "-stable: tagged@1.0.0" in removed.stdout
    assert dist_tags(alice, "tagged") == {"latest": "1.0.0", "beta": "1.1.0-beta.1"}

    bob = npm(feed.bob_token, name="bob")
    ok(bob.run("install", "tagged@beta"))
    assert installed_version(bob, "tagged") == "1.1.0-beta.1"
    assert ok(bob.node('console.log(require("tagged"))')).stdout.strip() == "tagged@1.1.0-beta.1"


# --- 3. deprecate ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_deprecate_and_undeprecate(feed: FeedEnv, npm: NpmFactory, package: PackageFactory) -> None:
    alice = npm(feed.alice_token, name="alice")
    publish(alice, package("old-thing", "1.0.0"))
    publish(alice, package("old-thing", "2.0.0"))
    ok(alice.run("deprecate", "old-thing@1.0.0", "use 2"))

    bob = npm(feed.bob_token, name="bob")
    installed = ok(bob.run("install", "old-thing@1.0.0"))
    assert "npm warn deprecated old-thing@1.0.0: use 2" in installed.stderr, str(installed)
    assert installed_version(bob, "old-thing") == "1.0.0"
    assert ok(bob.run("view", "old-thing@1.0.0", "deprecated")).stdout.strip() == "use 2"
    assert ok(bob.run("view", "old-thing@2.0.0", "deprecated")).stdout.strip() == ""

    ok(alice.run("deprecate", "old-thing@1.0.0", ""))
    assert ok(bob.run("view", "old-thing@1.0.0", "deprecated")).stdout.strip() == ""
    carol = npm(feed.bob_token, name="clean")  # a clean cache: no warning any more
    again = ok(carol.run("install", "old-thing@1.0.0"))
    assert "deprecated" not in again.stderr, str(again)


# --- 4. unpublish ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_unpublish_keeps_the_number_reserved(feed: FeedEnv, npm: NpmFactory, package: PackageFactory) -> None:
    alice = npm(feed.alice_token, name="alice")
    publish(alice, package("gone", "1.0.0"))
    publish(alice, package("gone", "1.0.1"))
    assert versions_seen(alice, "gone") == ["1.0.0", "1.0.1"]

    result = alice.run("unpublish", "gone@1.0.1")
    if result.returncode != 0 and "--force" in result.output:
        result = alice.run("unpublish", "gone@1.0.1", "--force")
    ok(result)
    assert "- gone@1.0.1" in result.stdout, str(result)

    bob = npm(feed.bob_token, name="bob")
    assert versions_seen(bob, "gone") == ["1.0.0"]
    assert view_json(bob, "gone", "dist-tags") == {"latest": "1.0.0"}

    again = failed(alice.run("publish", str(package("gone", "1.0.1", value="second try"))))
    assert "409" in again.output, str(again)
    assert "reserved" in again.output, str(again)

    missing = failed(bob.run("install", "gone@1.0.1"))
    assert "ETARGET" in missing.output or "E404" in missing.output, str(missing)
    assert not (bob.project / "node_modules" / "gone").exists()


@pytest.mark.e2e
def test_an_unpublished_version_restored_from_the_recycle_bin_installs_again(
    feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory
) -> None:
    alice = npm(feed.alice_token, name="alice")
    publish(alice, package("undo", "1.0.0", value="one"))
    publish(alice, package("undo", "1.1.0", value="one-one"))
    result = alice.run("unpublish", "undo@1.1.0")
    if result.returncode != 0 and "--force" in result.output:
        result = alice.run("unpublish", "undo@1.1.0", "--force")
    ok(result)

    bin_url = f"/_apis/packaging/feeds/{feed.name}/npm/RecycleBin/packages/undo/versions/1.1.0"
    listed = api.request("GET", f"/_apis/packaging/feeds/{feed.name}/RecycleBin/Packages", token=feed.alice_token)
    assert listed.status_code == 200, listed.text
    assert [v["version"] for v in listed.json()["value"][0]["versions"]] == ["1.1.0"]
    assert api.request("PATCH", bin_url, json={"deleted": False}, token=feed.alice_token).status_code == 403
    restored = api.request("PATCH", bin_url, json={"deleted": False})  # the organization administrator owns it
    assert restored.status_code == 200, restored.text

    bob = npm(feed.bob_token, name="bob")
    assert view_json(bob, "undo", "dist-tags") == {"latest": "1.1.0"}
    ok(bob.run("install", "undo"))
    assert installed_version(bob, "undo") == "1.1.0"
    assert ok(bob.node('console.log(require("undo"))')).stdout.strip() == "one-one"


# --- 4b. publish checks: npm shows the feed's reason ------------------------------------------------


@pytest.mark.e2e
def test_oversized_fields_are_refused_with_a_message_npm_prints(
    feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory
) -> None:
    alice = npm(feed.alice_token, name="alice")
    refused = failed(alice.run("publish", str(package("wordy", "1.0.0", description="d" * 20_000))))
    assert "description is longer than the 16384 characters" in refused.output, str(refused)

    readme = "# Big\n\n" + "A long README line with text.\n" * 40_000  # about 1.2 MB, as large real ones are
    publish(alice, package("documented", "1.0.0", files={"README.md": readme}))
    assert packument(api, feed, "documented")["readme"] == readme


# --- 5. immutability -------------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_version_cannot_be_published_twice(feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory) -> None:
    alice = npm(feed.alice_token, name="alice")
    publish(alice, package("stable-pkg", "1.0.0", value="first"))
    before = packument(api, feed, "stable-pkg")["versions"]["1.0.0"]["dist"]

    second = package("stable-pkg", "1.0.0", value="second")
    # npm 11 refuses by itself when the packument already lists the version ...
    refused = failed(alice.run("publish", str(second)))
    assert "cannot publish over the previously published versions: 1.0.0" in refused.stderr, str(refused)
    # ... and --force skips that check, so the PUT reaches the server, which must refuse it.
    forced = failed(alice.run("publish", str(second), "--force"))
    assert re.search(r"EPUBLISHCONFLICT|E409|E403|\b409\b|\b403\b", forced.output), str(forced)
    assert "already exists" in forced.output, str(forced)

    after = packument(api, feed, "stable-pkg")["versions"]["1.0.0"]["dist"]
    assert after == before
    bob = npm(feed.bob_token, name="bob")
    ok(bob.run("install", "stable-pkg@1.0.0"))
    assert lockfile(bob)["packages"]["node_modules/stable-pkg"]["integrity"] == before["integrity"]
    assert ok(bob.node('console.log(require("stable-pkg"))')).stdout.strip() == "first"


# --- 6. roles and credentials ----------------------------------------------------------------------


@pytest.mark.e2e
def test_roles_and_credentials(feed: FeedEnv, npm: NpmFactory, package: PackageFactory) -> None:
    alice = npm(feed.alice_token, name="alice")
    publish(alice, package("guarded", "1.0.0"))

    bob = npm(feed.bob_token, name="bob")
    denied = failed(bob.run("publish", str(package("bobs-pkg", "1.0.0"))))
    assert "403" in denied.output, str(denied)
    assert "contributor" in denied.output or "Publisher" in denied.output, str(denied)
    assert "E404" not in denied.output  # npm must not turn the refusal into "not found"

    mallory = npm("nonsense", name="bad-token")
    bad = failed(mallory.run("install", "guarded"))
    assert "E401" in bad.output, str(bad)

    anonymous = npm(None, name="anonymous")
    anon = failed(anonymous.run("install", "guarded"))
    assert "E401" in anon.output, str(anon)
    for client in (mallory, anonymous):
        assert not (client.project / "node_modules" / "guarded").exists()


# --- 7. whoami, ping, view, search, login ----------------------------------------------------------


@pytest.mark.e2e
def test_whoami_ping_view_search_and_login(feed: FeedEnv, npm: NpmFactory, package: PackageFactory) -> None:
    alice = npm(feed.alice_token, name="alice")
    description = "Finds widgets in haystacks"
    keyword = "zebrawidget"
    publish(alice, package("widget-finder", "1.0.0", description=description, keywords=[keyword, "e2e"]))
    publish(alice, package("widget-finder", "1.1.0", description=description, keywords=[keyword, "e2e"]))
    # Azure-style credentials (`:username=` + base64 `:_password=`, sent as Basic) publish and read too.
    azure_style = npm(feed.alice_token, name="alice-basic", auth="basic")
    publish(azure_style, package("unrelated", "1.0.0", description="something else"))
    assert view_json(azure_style, "unrelated", "_npmUser") == {"name": "alice", "email": ""}

    assert ok(alice.run("whoami")).stdout.strip() == "alice"
    bob = npm(feed.bob_token, name="bob")
    assert ok(bob.run("whoami")).stdout.strip() == "bob"

    pinged = ok(bob.run("ping"))
    assert "PONG" in pinged.output, str(pinged)

    viewed = ok(bob.run("view", "widget-finder"))
    assert "widget-finder@1.1.0" in viewed.stdout, str(viewed)
    assert description in viewed.stdout
    assert "versions: 2" in viewed.stdout
    assert re.search(r"latest:\s*1\.1\.0", viewed.stdout), str(viewed)
    assert versions_seen(bob, "widget-finder") == ["1.0.0", "1.1.0"]
    assert view_json(bob, "widget-finder", "description") == description

    found = ok(bob.run("search", keyword))
    assert "widget-finder" in found.stdout, str(found)
    assert "unrelated" not in found.stdout
    found_json = json.loads(ok(bob.run("search", keyword, "--json")).stdout)
    assert [p["name"] for p in found_json] == ["widget-finder"]
    assert found_json[0]["version"] == "1.1.0"

    # `npm login` (couch flow), as npm sends it: no Authorization, the token is the password.
    login_url = f"{feed.registry}-/user/org.couchdb.user:alice"
    body = {
        "_id": "org.couchdb.user:alice",
        "name": "alice",
        "password": feed.alice_token,
        "type": "user",
        "roles": [],
        "date": "2025-01-01T00:00:00.000Z",
    }
    with httpx.Client(trust_env=False, timeout=30) as client:
        r = client.put(login_url, json=body)
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert token
        who = client.get(f"{feed.registry}-/whoami", headers={"Authorization": f"Bearer {token}"})
        assert who.status_code == 200, who.text
        assert who.json() == {"username": "alice"}

        wrong = client.put(login_url, json={**body, "password": "not-a-token"})
        assert wrong.status_code == 401, wrong.text
        assert wrong.json().get("error"), wrong.text
        assert "token" not in wrong.json()


# --- 8. views --------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_release_view_shows_only_promoted_versions(
    feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory
) -> None:
    alice = npm(feed.alice_token, name="alice")
    publish(alice, package("viewed", "1.0.0"))
    publish(alice, package("viewed", "2.0.0"))
    r = api.promote(feed.name, "viewed", "1.0.0", "Release", token=feed.alice_token)
    assert r.status_code == 200, r.text

    release = npm(feed.bob_token, name="bob-release", registry=feed.view_registry("Release"))
    assert versions_seen(release, "viewed") == ["1.0.0"]
    assert ok(release.run("view", "viewed", "dist-tags.latest")).stdout.strip() == "1.0.0"
    ok(release.run("install", "viewed"))
    assert installed_version(release, "viewed") == "1.0.0"
    entry = lockfile(release)["packages"]["node_modules/viewed"]
    assert entry["resolved"].startswith(feed.view_registry("Release")), entry
    missing = failed(release.run("install", "viewed@2.0.0"))
    assert "ETARGET" in missing.output or "E404" in missing.output, str(missing)

    local = npm(feed.bob_token, name="bob-local")
    assert versions_seen(local, "viewed") == ["1.0.0", "2.0.0"]
    assert ok(local.run("view", "viewed", "dist-tags.latest")).stdout.strip() == "2.0.0"


# --- 9. install scripts ----------------------------------------------------------------------------


@pytest.mark.e2e
def test_postinstall_script_runs(feed: FeedEnv, api: Api, npm: NpmFactory, package: PackageFactory) -> None:
    alice = npm(feed.alice_token, name="alice")
    script = (
        "const fs = require('fs'), path = require('path');\n"
        "const marker = path.join(process.env.INIT_CWD, 'postinstall-marker.txt');\n"
        "fs.writeFileSync(marker, 'ran ' + process.env.npm_package_name);\n"
    )
    publish(
        alice,
        package(
            "with-script", "1.0.0", scripts={"postinstall": "node postinstall.js"}, files={"postinstall.js": script}
        ),
    )
    corgi = packument(api, feed, "with-script", abbreviated=True)
    assert corgi["versions"]["1.0.0"].get("hasInstallScript") is True, corgi

    bob = npm(feed.bob_token, name="bob")
    ok(bob.run("install", "with-script"))
    marker = bob.project / "postinstall-marker.txt"
    assert marker.exists(), "the postinstall script did not run"
    assert marker.read_text() == "ran with-script"
    assert lockfile(bob)["packages"]["node_modules/with-script"].get("hasInstallScript") is True


# --- 10. npm audit ---------------------------------------------------------------------------------


@pytest.mark.e2e
def test_npm_audit_says_it_is_not_available_instead_of_reporting_clean(
    feed: FeedEnv, npm: NpmFactory, package: PackageFactory
) -> None:
    """The feed has no advisory database: npm must not print "found 0 vulnerabilities" (false reassurance)."""
    publish(npm(feed.alice_token, name="alice"), package("audited-lib", "1.0.0"))
    bob = npm(feed.bob_token, name="bob")
    ok(bob.run("install", "audited-lib"))
    audit = failed(bob.run("audit"))
    assert "npm audit is not available on this feed" in audit.output, str(audit)
    assert "audit endpoint returned an error" in audit.output, str(audit)
    assert "vulnerabilities" not in audit.output, str(audit)
    as_json = failed(bob.run("audit", "--json"))
    assert "npm audit is not available on this feed" in as_json.output, str(as_json)
    # An install with auditing on still works, and claims no clean audit either.
    again = ok(bob.run("install", "--audit", "audited-lib"))
    assert "vulnerabilities" not in again.output and installed_version(bob, "audited-lib") == "1.0.0", str(again)
