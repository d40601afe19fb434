"""The admin CLI, in-process on a temporary data directory."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from feed_core.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("FEED_ADMIN_TOKEN", "FEED_STORAGE", "FEED_ORGANIZATION", "FEED_CREDENTIALS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FEED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FEED_UPSTREAM_ALLOWED_NETWORKS", "127.0.0.0/8,::1")  # the fixture upstreams' network
    return tmp_path / "data"


def test_feed_permission_and_token_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feed", "create", "web", "--description", "team"]) == 0
    assert "created feed web" in capsys.readouterr().out
    assert main(["feed", "list"]) == 0
    assert "web" in capsys.readouterr().out
    assert main(["permission", "set", "web", "alice", "contributor"]) == 0
    assert "alice: contributor" in capsys.readouterr().out
    assert main(["token", "create", "--user", "alice", "--scope", "vso.packaging_write", "--json"]) == 0
    minted = json.loads(capsys.readouterr().out)
    assert minted["user"] == "alice" and minted["token"].startswith("fpat_")
    assert main(["token", "list", "--user", "alice"]) == 0
    assert minted["authorizationId"] in capsys.readouterr().out
    assert main(["token", "revoke", "--user", "alice", minted["authorizationId"]]) == 0
    assert main(["token", "list", "--user", "alice"]) == 0
    assert minted["authorizationId"] not in capsys.readouterr().out


def test_errors_are_one_clear_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feed", "create", "bad name"]) == 1
    assert "invalid feed name" in capsys.readouterr().err
    assert main(["permission", "set", "nosuch", "alice", "reader"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["feed", "create", "web"]) == 0
    assert main(["permission", "set", "web", "alice", "king"]) == 2
    assert "unknown role" in capsys.readouterr().err
    assert main(["token", "create", "--user", "x", "--scope", "vso.everything"]) == 2


def test_invalid_settings_stop_with_the_setting_named(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEED_STORAGE", "azure")
    assert main(["feed", "list"]) == 2
    assert "FEED_STORAGE_CONNECTION_STRING" in capsys.readouterr().err


def test_jobs_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from feed_core.domain.models import Caller
    from feed_core.domain.roles import Scope
    from feed_core.domain.upstream_sources import parse_source_requests
    from feed_core.service.container import build_services
    from feed_core.service.feeds import FeedUpdate
    from feed_core.settings import Settings
    from tests.npm_registry_fixture import dead_url

    dead = dead_url()

    async def prepare() -> None:
        services = await build_services(Settings.from_env())
        await services.identity.bootstrap("local", "admin", "", mint_if_missing=False)
        admin = Caller("admin", Scope.MANAGE, org_admin=True)
        feed = await services.feeds.create("local", None, admin, "web", "", True, [])
        await services.feeds.update(
            feed,
            admin,
            FeedUpdate(upstream_sources=parse_source_requests([{"name": "gone", "protocol": "npm", "location": dead}])),
        )
        await services.close()

    asyncio.run(prepare())
    assert main(["jobs", "health"]) == 1
    out = capsys.readouterr().out
    assert "1 upstreams checked, 1 failed" in out and "could not connect" in out
    assert main(["jobs", "refresh", "--budget", "5"]) == 0
    assert "refresh: 1 feeds, 0 packages" in capsys.readouterr().out


def test_feed_delete_restore_and_gc_commands(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["feed", "create", "web"]) == 0
    assert main(["feed", "delete", "web"]) == 0
    assert "recycle bin" in capsys.readouterr().out
    assert main(["feed", "list"]) == 0
    assert "web" not in capsys.readouterr().out
    assert main(["feed", "restore", "web"]) == 0
    assert "restored feed web" in capsys.readouterr().out
    assert main(["feed", "list"]) == 0
    assert "web" in capsys.readouterr().out
    assert main(["feed", "restore", "web"]) == 1
    assert "recycle bin holds no feed" in capsys.readouterr().err

    assert main(["feed", "delete", "web"]) == 0
    monkeypatch.setenv("FEED_DELETED_FEED_RETENTION_DAYS", "0")
    assert main(["jobs", "gc", "--dry-run"]) == 0
    assert "would remove 1 deleted feeds" in capsys.readouterr().out
    assert main(["jobs", "gc"]) == 0
    assert "removed 1 deleted feeds" in capsys.readouterr().out
    assert main(["feed", "restore", "web"]) == 1
    assert main(["feed", "create", "web"]) == 0  # the name is free once the feed is purged


def test_jobs_retention_reports_a_dry_run_then_removes(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import hashlib

    from feed_core.cli import _admin, _settings, build_parser
    from feed_core.domain.models import Caller, Feed
    from feed_core.domain.retention import RetentionPolicy
    from feed_core.service.container import Services, build_services
    from feed_core.service.packages import NewVersion
    from tests.npm_packages import integrity, make_tarball

    async def prepare() -> None:
        settings = _settings(build_parser().parse_args(["feed", "list"]))
        services = await build_services(settings)
        await services.identity.bootstrap("local", "admin", "", mint_if_missing=False)
        admin = _admin(settings)
        feed = await services.feeds.create("local", None, admin, "web", "", True, [])
        # A feed of the same name in a project: `--feed web` alone means the organization's own.
        in_project = await services.feeds.create("local", "site", admin, "web", "", True, [])
        for one in (feed, in_project):
            await publish_two(services, one, admin)
            await services.feeds.set_retention_policy(one, admin, RetentionPolicy(count_limit=1))
        await services.close()

    async def publish_two(services: Services, feed: Feed, admin: Caller) -> None:
        for number in ("1.0.0", "2.0.0"):
            data = make_tarball("lib", number)
            digest = hashlib.sha256(data).hexdigest()
            sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
            tags = {"latest": number}
            new = NewVersion("npm", "lib", number, {}, data, f"lib-{number}.tgz", digest, integrity(data), sha1, tags)
            await services.packages.publish(feed, feed.local_view, admin, new)

    asyncio.run(prepare())
    assert main(["jobs", "retention", "--dry-run", "--feed", "web"]) == 0
    out = capsys.readouterr().out
    assert "retention on feed local/web: would move 1 version of 1 package to the recycle bin" in out
    assert "would remove local/web npm lib@1.0.0: " in out and "site" not in out
    assert main(["jobs", "retention", "--dry-run", "--feed", "web", "--project", "site"]) == 0
    out = capsys.readouterr().out
    assert "would remove local/site/web npm lib@1.0.0: " in out and "local/web " not in out
    assert main(["jobs", "retention", "--dry-run", "--feed", "web", "--org", "elsewhere"]) == 1
    assert "there is no feed named 'web' in elsewhere" in capsys.readouterr().err
    assert main(["jobs", "retention"]) == 0
    out = capsys.readouterr().out
    assert "moved 2 versions of 2 packages" in out and "removed local/web npm lib@1.0.0" in out
    assert main(["jobs", "retention"]) == 0
    assert "moved 0 versions" in capsys.readouterr().out
    assert main(["jobs", "retention", "--feed", "nosuch"]) == 1
    assert "there is no feed named 'nosuch'" in capsys.readouterr().err


def test_the_embedded_store_keeps_its_own_credentials_key(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without FEED_CREDENTIALS_KEY, `serve` and the CLI on the embedded store make one key on first start and
    keep it, readable by its owner only, in the data directory; credentials then work with no setup."""
    import asyncio

    from feed_core.cli import _admin, _settings, build_parser
    from feed_core.domain.credentials import Credentials
    from feed_core.domain.upstream_sources import parse_source_requests
    from feed_core.service.container import build_services

    settings = _settings(build_parser().parse_args(["feed", "list"]))
    key_file = data_dir / "credentials.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert settings.credentials_key == key_file.read_text().strip()
    assert _settings(build_parser().parse_args(["serve"])).credentials_key == settings.credentials_key

    async def store_credentials() -> None:
        services = await build_services(settings)
        await services.identity.bootstrap("local", "admin", "", mint_if_missing=False)
        source = {"name": "corp", "protocol": "npm", "location": "https://corp.example/", "credentials": {"token": "t"}}
        await services.feeds.create("local", None, _admin(settings), "web", "", True, parse_source_requests([source]))
        await services.close()

    asyncio.run(store_credentials())
    assert main(["credentials", "rotate"]) == 0
    assert "re-encrypted the upstream credentials of 1 feeds" in capsys.readouterr().out

    async def read_back() -> object:
        services = await build_services(_settings(build_parser().parse_args(["feed", "list"])))
        feed = await services.catalog.find_feed("local", None, "web")
        await services.close()
        assert feed is not None
        return feed.upstream_sources[0].credentials

    assert asyncio.run(read_back()) == Credentials(token="t")
    key_file.write_text("garbage\n")
    assert main(["feed", "list"]) == 2
    assert "credentials.key must be base64 of 32 random bytes" in capsys.readouterr().err


# --- shared storage options, anywhere on the command line -----------------------------------------------------

#: The smallest valid arguments of every command (leaf parsers), by its verbs.
COMMANDS: dict[tuple[str, ...], list[str]] = {
    ("serve",): [],
    ("token", "create"): ["--user", "alice"],
    ("token", "list"): ["--user", "alice"],
    ("token", "revoke"): ["--user", "alice", "some-id"],
    ("jobs", "refresh"): [],
    ("jobs", "health"): [],
    ("jobs", "gc"): [],
    ("jobs", "retention"): ["--dry-run"],
    ("jobs", "reindex"): [],
    ("credentials", "rotate"): [],
    ("feed", "create"): ["web"],
    ("feed", "list"): [],
    ("feed", "delete"): ["web"],
    ("feed", "restore"): ["web"],
    ("permission", "set"): ["web", "alice", "reader"],
}


def _leaf_commands(parser: argparse.ArgumentParser, verbs: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        return {verbs}
    return {leaf for name, sub in subparsers[0].choices.items() for leaf in _leaf_commands(sub, (*verbs, name))}


#: Client commands: they talk to a server over HTTP and take no storage options.
CLIENT_COMMANDS = {("universal", "publish"), ("universal", "download")}


def test_the_table_covers_every_command() -> None:
    assert _leaf_commands(build_parser()) == set(COMMANDS) | CLIENT_COMMANDS


@pytest.mark.parametrize("verbs", sorted(CLIENT_COMMANDS), ids=" ".join)
def test_client_commands_take_no_storage_options(verbs: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    required = ["--organization", "http://127.0.0.1:1/o", "--feed", "f", "--name", "n", "--version", "1.0.0"]
    args = build_parser().parse_args([*verbs, *required, "--path", "p"])
    assert args.func is not None and not hasattr(args, "data_dir")
    with pytest.raises(SystemExit):
        build_parser().parse_args([*verbs, *required, "--path", "p", "--data-dir", "D"])
    assert "unrecognized arguments: --data-dir D" in capsys.readouterr().err


def test_universal_publish_refuses_a_symlink_before_contacting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "real").write_text("x")
    (tmp_path / "pkg" / "link").symlink_to("real")
    argv = ["universal", "publish", "--organization", "http://127.0.0.1:9/local", "--feed", "f"]
    assert main([*argv, "--name", "tool", "--version", "1.0.0", "--path", str(tmp_path / "pkg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: link is a symbolic link: a Universal Package holds regular files only")
    assert main([*argv, "--name", "Tool", "--version", "1.0.0", "--path", str(tmp_path / "pkg")]) == 1
    assert "lower-case" in capsys.readouterr().err


@pytest.mark.parametrize("verbs", list(COMMANDS), ids=" ".join)
def test_storage_options_work_before_between_and_after_the_verbs(verbs: tuple[str, ...]) -> None:
    rest = COMMANDS[verbs]
    options = ["--data-dir", "D", "--org", "acme"]
    placements = [
        [*options, *verbs, *rest],  # before the verbs
        [*verbs, *rest, *options],  # after the command and its arguments
        [*verbs[:1], *options, *verbs[1:], *rest],  # between a group and its verb (or right after `serve`)
        ["--data-dir", "D", *verbs, *rest, "--org", "acme"],  # split
    ]
    for argv in placements:
        args = build_parser().parse_args(argv)
        assert (args.data_dir, args.org) == ("D", "acme"), argv
        assert args.func is not None
    # the later one counts when given twice; absent, the settings' defaults apply
    args = build_parser().parse_args(["--data-dir", "first", *verbs, *rest, "--data-dir", "second"])
    assert args.data_dir == "second"
    args = build_parser().parse_args([*verbs, *rest])
    assert not hasattr(args, "data_dir") and not hasattr(args, "org")


def test_jobs_health_takes_the_data_dir_after_the_verb(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `jobs health --data-dir D`: it runs on D, not on FEED_DATA_DIR."""
    other = tmp_path / "other"
    assert main(["jobs", "health", "--data-dir", str(other), "--org", "acme"]) == 0
    assert "0 upstreams checked" in capsys.readouterr().out
    assert (other / "credentials.key").is_file() and not data_dir.exists()


# --- the banner `serve` prints ----------------------------------------------------------------------------------


def test_the_banner_suggests_the_running_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from feed_core.cli import banner
    from feed_core.settings import Settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", "/opt/my tools/bin/python3")
    text = banner(Settings(), "http://127.0.0.1:7071", "fpat_secret")
    assert "Administrator token (shown once; keep it safe)" in text and "  fpat_secret" in text
    assert "Create a feed:  '/opt/my tools/bin/python3' -m feed_core feed create myfeed\n" in text
    assert "POST http://127.0.0.1:7071/local/_apis/packaging/feeds" in text
    assert " python -m" not in text

    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    assert "Create a feed:  /usr/bin/python3 -m feed_core feed create myfeed\n" in banner(Settings(), "b", "t")
    # the repository's own venv (here a link to one, as in a worktree), as the README writes it
    real_venv = tmp_path / "real-venv"
    (real_venv / "bin").mkdir(parents=True)
    (tmp_path / ".venv").symlink_to(real_venv)
    monkeypatch.setattr(sys, "executable", str(real_venv / "bin" / "python"))
    assert "Create a feed:  .venv/bin/python -m feed_core feed create myfeed\n" in banner(Settings(), "b", "t")
    # options the store needs come along
    text = banner(Settings(data_dir=Path("my data"), organization="acme"), "b", "t")
    assert f"myfeed --data-dir '{tmp_path / 'my data'}' --org acme\n" in text
    # not the first start: no token, no suggestion
    assert "Create a feed" not in banner(Settings(), "b", None)


def test_the_banners_command_works_as_printed(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pasted into a shell in the directory `serve` runs in, with no venv on PATH, it creates the feed in the
    served store."""
    from feed_core.cli import banner
    from feed_core.settings import Settings

    served = Settings(data_dir=tmp_path / "served data", organization="acme")
    command = next(
        line.split("Create a feed:  ", 1)[1]
        for line in banner(served, "http://127.0.0.1:7071", "fpat_x").splitlines()
        if line.startswith("Create a feed:")
    )
    assert command.split()[0] != "python"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["/bin/sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "created feed myfeed" in done.stdout
    assert main(["feed", "list", "--data-dir", str(tmp_path / "served data"), "--org", "acme"]) == 0
    assert capsys.readouterr().out.startswith("myfeed ")
