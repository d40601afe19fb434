"""The project's Universal Packages client against a running server: ``python -m feed_core universal ...``
in a subprocess, as a user runs it, with the token in AZURE_DEVOPS_EXT_PAT.

The large scenario publishes a generated 200 MB directory (mostly random bytes, a few modes including an
executable, an empty file, nested directories), downloads it and compares the trees; republishes it with
one file changed and shows that under 5% of the bytes travel again, from the CLI's report and from the
feed's own chunk rows (asked through ``chunks/query``); and downloads ``1.*`` to get the new version.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from feed_core.universal.publish import prepare
from tests.e2e.conftest import BACKENDS, ORG, REPO_ROOT, Api, FeedEnv, FeedServer, clean_env, new_feed

MB = 1024 * 1024
DESCRIPTION = "two hundred megabytes & more"
CLI_TIMEOUT_SECONDS = 300.0
_REPORT = re.compile(
    r"Published (\S+) (\S+): (\d+) files, ([\d,]+) bytes, ([\d,]+) bytes uploaded \(([\d.]+)% reused\)$"
)


def universal(
    server: FeedServer, action: str, token: str | None, feed: str, name: str, version: str, path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _argv(server, action, feed, name, version, path, *extra),
        cwd=REPO_ROOT,
        env=_env(token),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )


def _argv(server: FeedServer, action: str, feed: str, name: str, version: str, path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "feed_core",
        "universal",
        action,
        "--organization",
        f"{server.base_url}/{ORG}",
        "--feed",
        feed,
        "--name",
        name,
        "--version",
        version,
        "--path",
        str(path),
        *extra,
    ]


def _env(token: str | None) -> dict[str, str]:
    env = clean_env()
    env.pop("AZURE_DEVOPS_EXT_PAT", None)
    if token:
        env["AZURE_DEVOPS_EXT_PAT"] = token
    return env


def published(result: subprocess.CompletedProcess[str]) -> tuple[int, int, int]:
    """Files, bytes and bytes uploaded from the publish's last line."""
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    match = _REPORT.search(result.stdout.strip().splitlines()[-1])
    assert match, result.stdout
    return int(match[3]), int(match[4].replace(",", "")), int(match[5].replace(",", ""))


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: its mode bits and SHA-256."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        assert stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode), path
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while block := f.read(4 * MB):
                    digest.update(block)
            found[path.relative_to(root).as_posix()] = (stat.S_IMODE(info.st_mode), digest.hexdigest())
    return found


def generate(root: Path, total: int, seed: int = 1) -> None:
    """A directory of about ``total`` bytes: a few large files of random bytes, small ones, text, an
    executable, a read-only file, an empty file, nested directories."""
    root.mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "data" / "deep" / "er").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\necho tool\n" + os.urandom(300_000))
    (root / "bin" / "tool").chmod(0o755)
    (root / "README.txt").write_text("a generated package\n" * 500)
    (root / "readonly.cfg").write_bytes(os.urandom(5_000))
    (root / "readonly.cfg").chmod(0o444)
    (root / "private.key").write_bytes(os.urandom(64))
    (root / "private.key").chmod(0o600)
    (root / "empty").write_bytes(b"")
    for i in range(40):
        (root / "data" / "deep" / "er" / f"small-{i:02d}.bin").write_bytes(os.urandom(10_000 + 997 * i))
    left = total - sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    sizes = [left // 10 + (seed * 7919 * i) % MB for i in range(9)]
    sizes.append(left - sum(sizes))
    for i, size in enumerate(sizes):
        with (root / "data" / f"blob-{i}.bin").open("wb") as f:
            for start in range(0, size, 8 * MB):
                f.write(os.urandom(min(8 * MB, size - start)))


def feed_chunks_present(
    server: FeedServer, feed: str, token: str, root: Path, sizes: dict[str, int] | None = None
) -> tuple[int, int, int]:
    """How many of the directory's distinct chunks, and bytes, the feed has (its own chunk rows, via
    chunks/query), and the bytes of all its distinct chunks."""
    sizes = sizes or prepare(root).manifest.chunk_sizes()
    url = f"{server.base_url}/{ORG}/_packaging/{feed}/upack/chunks/query"
    hashes = sorted(sizes)
    with httpx.Client(trust_env=False, timeout=60.0) as client:
        r = client.post(url, json={"chunks": hashes}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    missing = set(r.json()["missing"])
    present = sum(size for h, size in sizes.items() if h not in missing)
    return len(sizes) - len(missing), present, sum(sizes.values())


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("upack-big") / "pkg"
    generate(root, 200 * MB)
    return root


@pytest.mark.parametrize("server", BACKENDS, indirect=True)
def test_publish_download_and_republish_a_200_mb_directory(
    server: FeedServer, feed: FeedEnv, big_tree: Path, tmp_path: Path
) -> None:
    files, total, uploaded = published(
        universal(
            server, "publish", feed.alice_token, feed.name, "big", "1.0.0", big_tree, "--description", DESCRIPTION
        )
    )
    r = Api(server).request("GET", f"/_apis/packaging/feeds/{feed.name}/upack/packages/big/versions/1.0.0")
    assert r.status_code == 200 and DESCRIPTION in r.text, r.text
    before = snapshot(big_tree)
    assert files == len(before) and total >= 200 * MB and uploaded == total

    out = tmp_path / "out-1"
    assert "Downloaded big 1.0.0" in ok(universal(server, "download", feed.bob_token, feed.name, "big", "1.0.0", out))
    assert snapshot(out) == before
    assert stat.S_IMODE((out / "bin" / "tool").stat().st_mode) == 0o755
    shutil.rmtree(out)  # 200 MB less in the temporary directory

    # One file changed in its middle: only the chunks around the change travel again.
    with (big_tree / "data" / "blob-3.bin").open("r+b") as f:
        f.seek(7 * MB)
        f.write(b"changed" * 100)
    _, present_bytes, distinct_bytes = feed_chunks_present(server, feed.name, feed.alice_token, big_tree)
    files2, total2, uploaded2 = published(
        universal(server, "publish", feed.alice_token, feed.name, "big", "1.0.1", big_tree)
    )
    assert (files2, total2) == (files, total)
    assert uploaded2 == distinct_bytes - present_bytes  # the CLI sent exactly what the feed's chunk rows lacked
    assert uploaded2 < 0.05 * total2, f"{uploaded2} of {total2} bytes uploaded again"
    _, present_after, _ = feed_chunks_present(server, feed.name, feed.alice_token, big_tree)
    assert present_after == distinct_bytes

    out2 = tmp_path / "out-2"
    assert "Downloaded big 1.0.1" in ok(universal(server, "download", feed.bob_token, feed.name, "big", "1.*", out2))
    assert snapshot(out2) == snapshot(big_tree)


def test_an_interrupted_publish_resumes(server: FeedServer, feed: FeedEnv, tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    generate(root, 48 * MB, seed=2)
    sizes = prepare(root).manifest.chunk_sizes()
    proc = subprocess.Popen(
        _argv(server, "publish", feed.name, "resume", "2.0.0", root, "--parallel", "1"),
        cwd=REPO_ROOT,
        env=_env(feed.alice_token),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + CLI_TIMEOUT_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            if feed_chunks_present(server, feed.name, feed.alice_token, root, sizes)[0] >= 5:
                break
            time.sleep(0.02)
        proc.kill()
    finally:
        out, err = proc.communicate(timeout=30)
    assert proc.returncode < 0, f"the publish ended before it could be interrupted:\n{out!r}\n{err!r}"
    present, present_bytes, distinct_bytes = feed_chunks_present(server, feed.name, feed.alice_token, root)
    assert present >= 5 and present_bytes < distinct_bytes

    r = httpx.get(
        f"{server.base_url}/{ORG}/_packaging/{feed.name}/upack/packages/resume",
        headers={"Authorization": f"Bearer {feed.alice_token}"},
        timeout=30.0,
    )
    assert r.status_code == 404, "an interrupted publish must not leave a version behind"

    _, _, uploaded = published(universal(server, "publish", feed.alice_token, feed.name, "resume", "2.0.0", root))
    assert uploaded == distinct_bytes - present_bytes  # only what the first run had not sent
    out = tmp_path / "out"
    ok(universal(server, "download", feed.bob_token, feed.name, "resume", "2.0.0", out))
    assert snapshot(out) == snapshot(root)


def small_tree(root: Path, text: str) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "run.sh").write_text(f"#!/bin/sh\necho {text}\n")
    (root / "sub" / "run.sh").chmod(0o755)
    (root / "notes.txt").write_text(text * 1000)
    return root


def test_wildcards_pick_the_highest_release(server: FeedServer, feed: FeedEnv, tmp_path: Path) -> None:
    for version in ["1.0.0", "1.2.0", "1.10.0", "2.0.0-beta.1", "0.9.0"]:
        src = small_tree(tmp_path / f"src-{version}", version)
        ok(universal(server, "publish", feed.alice_token, feed.name, "tool", version, src))
    for pattern, expected in [("1.*", "1.10.0"), ("*", "1.10.0"), ("1.2.*", "1.2.0"), ("2.0.0-beta.1", "2.0.0-beta.1")]:
        out = tmp_path / f"out-{pattern}"
        assert f"Downloaded tool {expected}" in ok(
            universal(server, "download", feed.bob_token, feed.name, "tool", pattern, out)
        )
        assert (out / "notes.txt").read_text() == expected * 1000
    result = universal(server, "download", feed.bob_token, feed.name, "tool", "3.*", tmp_path / "none")
    assert result.returncode == 1 and "no version of tool matches '3.*'" in result.stderr


def test_roles_and_refusals(server: FeedServer, api: Api, feed: FeedEnv, tmp_path: Path) -> None:
    src = small_tree(tmp_path / "src", "roles")
    # a reader cannot publish
    result = universal(server, "publish", feed.bob_token, feed.name, "roles", "1.0.0", src)
    assert result.returncode == 1 and "403" in result.stderr, result.stderr
    # no token at all
    result = universal(server, "publish", None, feed.name, "roles", "1.0.0", src)
    assert result.returncode == 1 and "401" in result.stderr, result.stderr
    ok(universal(server, "publish", feed.alice_token, feed.name, "roles", "1.0.0", src))
    # the same version with the same content again (a publish whose answer was lost, run again): nothing is sent
    assert "roles 1.0.0 is already published in the feed with this content" in ok(
        universal(server, "publish", feed.alice_token, feed.name, "roles", "1.0.0", src)
    )
    # with other content: refused before anything is sent
    (src / "notes.txt").write_text("changed")
    result = universal(server, "publish", feed.alice_token, feed.name, "roles", "1.0.0", src)
    assert result.returncode == 1 and "roles 1.0.0 already exists" in result.stderr, result.stderr
    src = small_tree(tmp_path / "src-again", "roles")  # the published content, for the downloads below
    # a collaborator reads too
    api.set_permissions(feed.name, [("carol", "collaborator")])
    carol = api.mint("carol", "vso.packaging")
    out = tmp_path / "carol"
    ok(universal(server, "download", carol, feed.name, "roles", "1.0.0", out))
    assert snapshot(out) == snapshot(src)
    # an unknown package
    result = universal(server, "download", feed.bob_token, feed.name, "nothing", "*", tmp_path / "x")
    assert result.returncode == 1 and "does not exist" in result.stderr
    # a deleted version keeps its number: the feed's 409, in one line
    r = api.request("DELETE", f"/_apis/packaging/feeds/{feed.name}/upack/packages/roles/versions/1.0.0")
    assert r.status_code in (200, 202, 204), r.text
    result = universal(server, "publish", feed.alice_token, feed.name, "roles", "1.0.0", src)
    assert result.returncode == 1 and "409" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_symlink_in_the_directory_is_refused(server: FeedServer, feed: FeedEnv, tmp_path: Path) -> None:
    src = small_tree(tmp_path / "src", "links")
    (src / "sub" / "link").symlink_to("/etc/hostname")
    result = universal(server, "publish", feed.alice_token, feed.name, "links", "1.0.0", src)
    assert result.returncode == 1
    assert "sub/link is a symbolic link: a Universal Package holds regular files only" in result.stderr


def test_download_replaces_listed_files_and_keeps_others(server: FeedServer, feed: FeedEnv, tmp_path: Path) -> None:
    src = small_tree(tmp_path / "src", "keep")
    ok(universal(server, "publish", feed.alice_token, feed.name, "keep", "1.0.0", src))
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "run.sh").write_text("old")
    (out / "mine.txt").write_text("not the package's")
    ok(universal(server, "download", feed.bob_token, feed.name, "keep", "1.0.0", out))
    assert (out / "sub" / "run.sh").read_text() == "#!/bin/sh\necho keep\n"
    assert (out / "mine.txt").read_text() == "not the package's"
    assert not list(out.rglob(".upack-*.part"))


def test_a_reader_a_collaborator_and_a_feed_upstream(
    server: FeedServer, api: Api, feed: FeedEnv, tmp_path: Path
) -> None:
    """Feed ``up`` is ``feed``'s upstream (its @Local view): a reader of ``feed`` gets only saved versions;
    a collaborator's download saves the version it picks, with its provenance; then the reader gets it."""
    up = new_feed(server, api, "up")
    r = api.request("PATCH", f"/_apis/packaging/feeds/{up.name}/views/Local", json={"visibility": "collection"})
    assert r.status_code == 200, r.text
    source = {
        "name": "up-upack",
        "protocol": "upack",
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": up.name,
        "internalUpstreamViewId": "Local",
    }
    r = api.request("PATCH", f"/_apis/packaging/feeds/{feed.name}", json={"upstreamSources": [source]})
    assert r.status_code == 200, r.text
    for version in ["1.0.0", "1.1.0"]:
        src = small_tree(tmp_path / version, version)
        ok(universal(server, "publish", up.alice_token, up.name, "shared", version, src))

    result = universal(server, "download", feed.bob_token, feed.name, "shared", "*", tmp_path / "bob-1")
    assert result.returncode == 1 and "not saved in feed" in result.stderr, result.stderr

    api.set_permissions(feed.name, [("carol", "collaborator")])
    carol = api.mint("carol", "vso.packaging")
    out = tmp_path / "carol"
    assert "Downloaded shared 1.1.0" in ok(universal(server, "download", carol, feed.name, "shared", "1.*", out))
    assert snapshot(out) == snapshot(tmp_path / "1.1.0")

    out = tmp_path / "bob-2"
    assert "Downloaded shared 1.1.0" in ok(universal(server, "download", feed.bob_token, feed.name, "shared", "*", out))
    assert snapshot(out) == snapshot(tmp_path / "1.1.0")
    result = universal(server, "download", feed.bob_token, feed.name, "shared", "1.0.0", tmp_path / "bob-3")
    assert result.returncode == 1, "a version nobody saved stays out of a reader's reach"
    info = api.request("GET", f"/_apis/packaging/feeds/{feed.name}/upack/packages/shared/versions/1.1.0").json()
    assert [hop["name"] for hop in info["sourceChain"]] == ["up-upack"]
    # a version the upstream has (offered, 1.0.0, or saved, 1.1.0) cannot be published downstream, with other
    # content or its very content: only a rerun of the feed's own version is a success
    listed = api.request("GET", f"/_packaging/{feed.name}/upack/packages/shared", token=carol).json()
    assert {v["version"]: v["source"] for v in listed["versions"]} == {"1.0.0": "upstream", "1.1.0": "upstream"}
    for version, content in [("1.0.0", "1.1.0"), ("1.0.0", "1.0.0")]:
        result = universal(server, "publish", feed.alice_token, feed.name, "shared", version, tmp_path / content)
        assert result.returncode == 1, result.stdout
        assert "shared@1.0.0 already exists in the feed's upstream source up-upack" in result.stderr, result.stderr
    result = universal(server, "publish", feed.alice_token, feed.name, "shared", "1.1.0", tmp_path / "1.1.0")
    assert result.returncode == 1 and "shared@1.1.0 already exists in feed" in result.stderr, result.stderr


def test_a_project_scoped_feed(server: FeedServer, api: Api, feed: FeedEnv, tmp_path: Path) -> None:
    name = f"proj-{feed.name}"
    r = api.request("POST", "/tools/_apis/packaging/feeds", json={"name": name})
    assert r.status_code == 201, r.text
    r = api.request(
        "PATCH",
        f"/tools/_apis/packaging/Feeds/{name}/permissions",
        json=[{"role": "contributor", "identityDescriptor": "alice"}, {"role": "reader", "identityDescriptor": "bob"}],
    )
    assert r.status_code == 200, r.text
    src = small_tree(tmp_path / "src", "project")
    ok(universal(server, "publish", feed.alice_token, name, "scoped", "1.0.0", src, "--project", "tools"))
    out = tmp_path / "out"
    ok(
        universal(
            server, "download", feed.bob_token, name, "scoped", "*", out, "--project", "tools", "--scope", "project"
        )
    )
    assert snapshot(out) == snapshot(src)
    result = universal(server, "download", feed.bob_token, name, "scoped", "*", tmp_path / "x")
    assert result.returncode == 1 and "404" in result.stderr, result.stderr  # not an organization-scoped feed
    assert "proj-" in result.stderr and "feed" in result.stderr, result.stderr
