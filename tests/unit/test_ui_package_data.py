"""What the package page prints, worked out from stored data of any shape: names and numbers per protocol,
dependencies from malformed manifests, when a held-back version becomes available."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta

import pytest

from feed_core.domain.errors import BadRequestError
from feed_core.ui.package_data import (
    Dependency,
    available_in_words,
    dependencies,
    stored_name,
    universal_download_command,
    version_number,
)


@pytest.mark.parametrize(
    ("protocol", "text", "stored"),
    [
        ("npm", "@scope/name", "@scope/name"),
        ("pypi", "Demo.Pkg", "demo-pkg"),
        ("nuget", "Contoso.Lib", "contoso.lib"),
        ("maven", "com.example:lib", "com.example:lib"),
        ("cargo", "Tiny_Crate", "tiny_crate"),
    ],
)
def test_names_are_stored_as_each_protocol_keys_them(protocol: str, text: str, stored: str) -> None:
    assert stored_name(protocol, text) == stored


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        ("npm", "<script>"),
        ("npm", "@/x"),
        ("pypi", "-x-"),
        ("nuget", "a..b"),
        ("maven", "nocolon"),
        ("maven", "com.example:"),
        ("maven", "../x:y"),
        ("cargo", "9lives"),
        ("cargo", "é"),
    ],
)
def test_malformed_names_are_a_400(protocol: str, text: str) -> None:
    with pytest.raises(BadRequestError):
        stored_name(protocol, text)


def test_version_numbers() -> None:
    assert version_number("pypi", "1.0.0-RC1") == "1.0.0rc1"
    assert version_number("nuget", "1.0") == "1.0.0"
    assert version_number("npm", "1.0.0") == "1.0.0"
    for protocol, text in (("pypi", "not a version"), ("cargo", "1.0"), ("npm", ""), ("npm", "1" * 300)):
        with pytest.raises(BadRequestError):
            version_number(protocol, text)


def test_dependencies_take_only_well_formed_entries() -> None:
    npm = {
        "dependencies": {"a": "^1", "b": 2, "c": None},
        "peerDependencies": ["x"],
        "optionalDependencies": {"d": "*"},
    }
    assert dependencies("npm", npm) == [
        Dependency("dependencies", "a", "^1"),
        Dependency("optionalDependencies", "d", "*"),
    ]
    assert dependencies("pypi", {"requires_dist": ["requests>=2", 3, None]}) == [
        Dependency("requires", "requests>=2", "")
    ]
    nuget = {
        "dependencyGroups": [
            {"targetFramework": "net8.0", "dependencies": [{"id": "X", "range": "[1.0.0, )"}, 5]},
            "bad",
        ]
    }
    assert dependencies("nuget", nuget) == [Dependency("net8.0", "X", "[1.0.0, )")]
    cargo = {"deps": [{"name": "alias", "package": "real", "req": "^1", "kind": "dev", "optional": True}, {"req": "1"}]}
    assert dependencies("cargo", cargo) == [Dependency("dev (optional)", "real", "^1")]
    for protocol in ("npm", "pypi", "nuget", "maven", "cargo"):
        assert (
            dependencies(protocol, {"dependencies": "x", "requires_dist": "x", "dependencyGroups": {}, "deps": 1}) == []
        )
    many = {"dependencies": {f"p{i}": "1" for i in range(2000)}}
    assert len(dependencies("npm", many)) == 500


def test_when_a_held_back_version_becomes_available() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert available_in_words(now + timedelta(hours=23), now) == "2026-11-02 11:00 UTC (in about 23 hours)"
    assert available_in_words(now + timedelta(minutes=20), now) == "2026-11-01 12:20 UTC (in about 20 minutes)"
    assert available_in_words(now - timedelta(minutes=1), now).startswith("now")
    assert "long enough" in available_in_words(None, now)


def test_the_universal_download_command_quotes_every_part_for_the_shell() -> None:
    plain = universal_download_command("http://127.0.0.1:7071/local", None, "feed", "tool", "1.2.0")
    assert plain == (
        "python -m feed_core universal download --organization http://127.0.0.1:7071/local --feed feed "
        "--name tool --version 1.2.0 --path tool"
    )
    odd_url = "http://feed.test/local?x=$(touch owned);`id` 'q'"
    command = universal_download_command(odd_url, "proj", "feed", "tool", "1.0.0-rc.1")
    assert shlex.split(command) == [
        *["python", "-m", "feed_core", "universal", "download", "--organization"],
        odd_url,
        *[
            "--project",
            "proj",
            "--scope",
            "project",
            "--feed",
            "feed",
            "--name",
            "tool",
            "--version",
            "1.0.0-rc.1",
            "--path",
            "tool",
        ],
    ]
