"""Names and identities in upstream documents must agree with the package asked for (pure rules)."""

from __future__ import annotations

from typing import Any

import pytest

from feed_core.domain.upstream_documents import (
    npm_document_problem,
    npm_version_problem,
    nuget_identity,
    python_file_url_problem,
    python_file_version,
    python_page_problem,
    tarball_url_problem,
)

U = "https://registry.test"


def manifest(name: str = "@s/pkg", version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": version, "dist": {"tarball": f"{U}/@s/pkg/-/pkg-{version}.tgz"}, **extra}


def test_the_document_must_name_the_package() -> None:
    assert npm_document_problem({"name": "@s/pkg", "versions": {}}, "@s/pkg") is None
    assert "names package 'other'" in str(npm_document_problem({"name": "other"}, "@s/pkg"))
    assert "not an object" in str(npm_document_problem({"versions": []}, "@s/pkg"))


@pytest.mark.parametrize("key", ["__proto__", "../../etc", "latest", "1.0", "v1.0.0", "1.0.0 ", ""])
def test_version_keys_must_be_versions(key: str) -> None:
    assert npm_version_problem("@s/pkg", key, manifest(version=key)) == "its key is not a semantic version"


def test_a_version_entry_must_be_about_this_package_and_version() -> None:
    assert npm_version_problem("@s/pkg", "1.0.0", manifest()) is None
    assert npm_version_problem("@s/pkg", "1.0.0", {"dist": manifest()["dist"]}) is None  # name/version may be left out
    assert "names package" in str(npm_version_problem("@s/pkg", "1.0.0", manifest(name="@s/other")))
    assert "names version" in str(npm_version_problem("@s/pkg", "1.0.0", manifest(version="2.0.0")))
    assert "not an object" in str(npm_version_problem("@s/pkg", "1.0.0", ["x"]))
    assert "no dist.tarball" in str(npm_version_problem("@s/pkg", "1.0.0", {"dist": {"tarball": 5}}))
    assert "description" in str(npm_version_problem("@s/pkg", "1.0.0", manifest(description="d" * 20_000)))
    assert "readme" in str(npm_version_problem("@s/pkg", "1.0.0", manifest(readme=["not", "text"])))


@pytest.mark.parametrize(
    "url",
    [
        f"{U}/@s/pkg/-/pkg-1.0.0.tgz",
        f"{U}/@s%2fpkg/-/pkg-1.0.0.tgz",
        f"{U}/api/npm/remote/@s/pkg/-/@s/pkg-1.0.0.tgz",
        f"{U}/download/@s/pkg/1.0.0/0123abcd",
    ],
)
def test_tarball_urls_of_this_file(url: str) -> None:
    assert tarball_url_problem("@s/pkg", "1.0.0", url) is None


@pytest.mark.parametrize(
    "url",
    [
        f"{U}/@s/other/-/other-1.0.0.tgz",
        f"{U}/@s/pkg/-/pkg-2.0.0.tgz",
        f"{U}/@s/evilpkg/-/pkg-1.0.0.tgz",
        f"{U}/@s/pkg/-/../../other/-/pkg-1.0.0.tgz",
        f"{U}/download/@s/other/1.0.0/0123abcd",
        f"{U}/download/@s/pkg/1.0.0/../../other/1.0.0/x",
        "file:///etc/passwd",
        "ftp://registry.test/@s/pkg/-/pkg-1.0.0.tgz",
    ],
)
def test_tarball_urls_of_another_file(url: str) -> None:
    assert tarball_url_problem("@s/pkg", "1.0.0", url) is not None


def test_python_pages_and_files_must_be_of_the_project() -> None:
    assert python_page_problem("My.Lib", "my-lib") is None and python_page_problem(None, "my-lib") is None
    assert "project 'other'" in str(python_page_problem("other", "my-lib"))
    assert python_file_version("my-lib", "My_Lib-1.0-py3-none-any.whl") == ("1.0", None)
    assert python_file_version("my-lib", "my-lib-2.0.tar.gz") == ("2.0", None)
    version, problem = python_file_version("my-lib", "evil-1.0-py3-none-any.whl")
    assert version == "1.0" and "project 'evil'" in str(problem)
    assert python_file_version("my-lib", "my-lib-1.0.exe")[1] is not None
    assert python_file_version("my-lib", "nonsense.whl")[1] is not None


def test_a_python_file_url_must_end_in_its_file_name() -> None:
    wheel = "lib-1.0-py3-none-any.whl"
    assert python_file_url_problem(wheel, f"https://files.example/ab/cd/{wheel}#sha256=00") is None
    assert python_file_url_problem(wheel, "https://files.example/x/lib-1.0-py3-none-any%2Ewhl") is None
    problem = python_file_url_problem(wheel, "https://files.example/x/other-1.0-py3-none-any.whl")
    assert problem is not None and "other-1.0-py3-none-any.whl" in problem


def test_a_nuget_entry_is_of_its_package_only_in_ascii() -> None:
    version, problem = nuget_identity("known", "KNOWN", "1.0")
    assert problem is None and version is not None and version.normalized == "1.0.0"
    version, problem = nuget_identity("known", "\u212anown", "1.0")  # the Kelvin sign lowers to "k"
    assert version is None and problem is not None and "not 'known'" in problem
