"""What the README tells a new user, checked against the code: each statement is there and says what the code does.

tests/api/test_readme_examples.py runs the README's curl examples against the app; tests/e2e runs the clients.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from feed_core.cli import main
from feed_core.domain.operations import least_scope
from feed_core.domain.roles import Role
from tests import readme

CLI = ".venv/bin/python -m feed_core"


def test_curl_mints_every_token_the_cli_mints() -> None:
    team = readme.section("Set up a feed for a team")
    cli, curl = readme.sh_blocks(team)[:2]
    minted_by_cli = set()
    for words in readme.commands(cli):
        if words[3:5] == ["token", "create"]:
            options = dict(zip(words[5::2], words[6::2], strict=True))
            minted_by_cli.add((options["--user"], options["--scope"]))
    minted_by_curl = {
        (c.body["user"], c.body["scope"])
        for c in readme.curls(curl, {"ADMIN": "admin-token"})
        if c.url.endswith("/_apis/tokens/pats?api-version=7.1-preview.1")
    }
    assert minted_by_cli == {("alice", "vso.packaging_write"), ("bob", "vso.packaging"), ("carol", "vso.packaging")}
    assert minted_by_curl == minted_by_cli


def test_the_cli_set_up_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("FEED_ADMIN_TOKEN", "FEED_STORAGE", "FEED_ORGANIZATION", "FEED_CREDENTIALS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FEED_DATA_DIR", str(tmp_path / "data"))
    cli = readme.sh_blocks(readme.section("Set up a feed for a team"))[0]
    for words in readme.commands(cli):
        assert " ".join(words[:3]) == CLI, words
        assert main(words[3:]) == 0, (words, capsys.readouterr())
    out = capsys.readouterr().out
    assert "carol: collaborator" in out and out.count("fpat_") == 3, out


def test_curl_grants_every_role_the_cli_grants() -> None:
    cli, curl = readme.sh_blocks(readme.section("Set up a feed for a team"))[:2]
    granted_by_cli = {(w[6], w[7]) for w in readme.commands(cli) if w[3:5] == ["permission", "set"]}
    calls = readme.curls(curl, {"ADMIN": "admin-token"})
    (patch,) = [c for c in calls if c.url.endswith("/permissions?api-version=7.1")]
    assert {(p["identityDescriptor"], p["role"]) for p in patch.body} == granted_by_cli
    assert {role for _, role in granted_by_cli} == {"contributor", "reader", "collaborator"}


def test_the_scope_each_role_needs_is_the_narrowest_that_allows_it() -> None:
    team = readme.section("Set up a feed for a team")
    rows = {
        cells[0]: cells[2].strip("`")
        for line in team.splitlines()
        if line.startswith("| ") and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 3
    }
    assert rows.pop("role") == "token scope" and rows.pop("---") == "---"
    roles = (Role.READER, Role.COLLABORATOR, Role.CONTRIBUTOR, Role.ADMINISTRATOR)
    expected = {r.api_name: least_scope(r).value for r in roles}
    assert rows == expected


def test_live_tests_are_run_with_scripts_test_dash_m_live() -> None:
    said = readme.flat()
    assert "./scripts/test -m live   # only the tests that go to the live public registries" in readme.text()
    assert "`scripts/test` hands its arguments to pytest" in said
    assert "`./scripts/test -m live` runs just those" in said
    # scripts/test really hands its arguments to pytest, and the default run leaves `live` out
    script = (readme.ROOT / "scripts" / "test").read_text()
    assert script.rstrip().endswith('.venv/bin/python -m pytest "$@"'), script
    options = tomllib.loads((readme.ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "-m 'not live'" in options["addopts"]
    # a `-m live` on the command line wins over the default: it selects the live tests, and only them
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "live", "tests/e2e"],
        cwd=readme.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    selected = re.findall(r"^tests/\S+::(\S+)$", collected.stdout, flags=re.M)
    assert selected and all(name.startswith("test_live_") for name in selected), collected.stdout
    assert {"test_live_npm_registry_as_upstream", "test_live_pypi_as_upstream"} <= set(selected)


def test_patch_replacing_the_whole_source_list_is_said() -> None:
    assert "A PATCH with `upstreamSources` **replaces the whole list**: a source left out of it is removed" in (
        readme.flat()
    )


def test_the_pasted_upstream_example_is_apart_from_the_optional_placeholders() -> None:
    upstreams = readme.section("Upstream sources")
    as_is = readme.block_after(upstreams, "This works as it is against the local server")
    optional = readme.block_after(upstreams, "Optional, and not to paste as it is")
    assert "partner" not in as_is and "platform" not in as_is and "…" not in as_is
    assert '"partner"' in optional and '"platform"' in optional
    said = " ".join(upstreams.split())
    assert "`partner` (a registry with its credentials) and `platform` (another feed here" in said
    assert "are placeholders for your own" in said


def test_the_python_example_is_complete_and_names_no_registry_host() -> None:
    as_is = readme.block_after(readme.section("Upstream sources"), "This works as it is against the local server")
    steps = readme.commands(as_is)
    export = next(w for w in steps if w[0] == "export")
    assert '\\"pypi\\": {\\"protocol\\": \\"pypi\\"' in as_is and "$(npm config get registry)" in export[1]
    assert any(w[:2] == ["pip", "install"] for w in steps) and any(w[:3] == ["uv", "pip", "install"] for w in steps)
    assert ["./scripts/serve"] in steps
    # the public URLs come from the clients' own settings, never from a host written here
    urls = re.findall(r"https?://[^\s\"'$]+", as_is)
    assert urls and all(u.startswith(("http://127.0.0.1:7071/", "http://__token__:")) for u in urls), urls


def test_where_the_provenance_ids_come_from_is_said() -> None:
    said = readme.flat()
    assert "The two ids of that URL are the `packageId` and `id` fields of the version API's answer" in said
    block = readme.block_after(readme.section("Upstream sources"), "The two ids of that URL")
    assert '"id": "<versionId>", "packageId": "<packageId>"' in block
    assert "/Packages/<packageId>/Versions/<versionId>/provenance" in block


def test_why_a_reader_misses_a_version_is_said_for_each_client() -> None:
    said = readme.flat()
    assert "npm prints the feed's reason as a notice before its `ETARGET`" in said
    assert "pip and uv print nothing a server sends here" in said
    assert "a project page names the versions held back in `X-Feed-Notice`" in said
    assert "a page with no saved version is a 404 whose `message` says why" in said


def test_the_universal_packages_commands_parse_and_the_report_is_the_clients() -> None:
    from feed_core.cli import build_parser
    from feed_core.universal.publish import PublishReport

    upack = readme.section("Universal Packages")
    block = readme.sh_blocks(upack)[0]
    runs = [w for w in readme.commands(block) if w[0] != "export"]
    assert [w[3:5] for w in runs] == [["universal", "publish"], ["universal", "download"]]
    for words in runs:
        assert " ".join(words[:3]) == CLI, words
        args = build_parser().parse_args(words[3:])
        assert (args.organization, args.feed, args.name) == ("http://127.0.0.1:7071/local", "web", "my-tool")
    assert build_parser().parse_args(runs[1][3:]).version == "1.*"
    assert [w[1].split("=")[0] for w in readme.commands(block) if w[0] == "export"] == ["AZURE_DEVOPS_EXT_PAT"] * 2
    report = PublishReport("my-tool", "1.0.1", 52, 209_715_200, 396_615, 2, 800, "0" * 64)
    assert f"`{report.summary()}`" in " ".join(upack.split())
