"""What each client needs to use a feed (or one of its views): the configuration the README documents per
protocol, with this server's absolute URLs filled in. Pure: no I/O, no rendering.

The token never appears in a snippet: files that are committed get a placeholder (``PASTE-THE-TOKEN-HERE``)
or read ``FEED_TOKEN`` from the environment, as the README's examples do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from feed_core.ui.render import path_segment

PROTOCOLS = ("npm", "pypi", "nuget", "maven", "cargo", "upack")
LABELS = {
    "npm": "npm",
    "pypi": "Python",
    "nuget": "NuGet",
    "maven": "Maven and Gradle",
    "cargo": "Cargo",
    "upack": "Universal Packages",
}
PLACEHOLDER = "PASTE-THE-TOKEN-HERE"


@dataclass(frozen=True)
class Snippet:
    """One block to copy: where it goes (``title``), what it is for (``note``), and its text."""

    key: str
    title: str
    text: str
    note: str = ""


@dataclass(frozen=True)
class Endpoints:
    """The feed's client URLs (absolute), for the whole feed or one view."""

    base: str  # https://host[:port]
    scope_path: str  # /{org}[/{project}], percent-encoded
    ref: str  # feed or feed@view, as one path segment

    @property
    def root(self) -> str:
        return f"{self.base}{self.scope_path}/_packaging/{self.ref}"

    @property
    def npm(self) -> str:
        return f"{self.root}/npm/registry/"

    @property
    def pypi_simple(self) -> str:
        return f"{self.root}/pypi/simple/"

    @property
    def pypi_upload(self) -> str:
        return f"{self.root}/pypi/upload/"

    @property
    def nuget(self) -> str:
        return f"{self.root}/nuget/v3/index.json"

    @property
    def maven(self) -> str:
        return f"{self.root}/maven/v1"

    @property
    def cargo(self) -> str:
        return f"{self.root}/cargo/index/"

    @property
    def universal_scope(self) -> str:
        """The Universal Packages client's ``--organization`` (and ``--project``) options for this feed."""
        org, _, project = self.scope_path.strip("/").partition("/")
        options = f"--organization {self.base}/{org}"
        return f"{options} --project {unquote(project)} --scope project" if project else options


def endpoints(base: str, scope_path: str, feed: str, view: str | None) -> Endpoints:
    return Endpoints(base.rstrip("/"), scope_path, path_segment(f"{feed}@{view}" if view else feed))


def client_name(feed: str, view: str | None) -> str:
    """A name the clients accept for the feed (registry, index, server or source id): letters, digits, ``-``
    and ``_``, starting with a letter (cargo's rule, the strictest)."""
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{feed}-{view}" if view else feed).strip("-") or "feed"
    return text if text[0].isalpha() else f"feed-{text}"


def _with_token_in_url(url: str, token: str) -> str:
    """``url`` with ``__token__:{token}@`` as its user information (pip and uv send it as Basic auth)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://__token__:{token}@{parts.netloc}{url[len(parts.scheme) + 3 + len(parts.netloc) :]}"


def snippets(protocol: str, urls: Endpoints, name: str) -> list[Snippet]:
    """The set-up of ``protocol``'s clients for ``urls``; ``name`` is :func:`client_name`'s."""
    makers = {"npm": _npm, "pypi": _pypi, "nuget": _nuget, "maven": _maven, "cargo": _cargo, "upack": _upack}
    return makers[protocol](urls, name)


def _npm(urls: Endpoints, name: str) -> list[Snippet]:
    auth_key = "//" + urls.npm.split("://", 1)[1]
    return [
        Snippet(
            "npmrc",
            "Project .npmrc",
            f"registry={urls.npm}\n",
            "Commit this one: every install and publish of the project goes through the feed.",
        ),
        Snippet(
            "npmrc-user",
            "User ~/.npmrc",
            f"{auth_key}:_authToken=${{FEED_TOKEN}}\n",
            "Keep the token line out of the repository; npm reads FEED_TOKEN from the environment and sends it "
            "with every request to the feed (always-auth is not needed: current npm warns about it).",
        ),
        Snippet("npm-use", "Then", "npm install\nnpm publish\n"),
    ]


def _pypi(urls: Endpoints, name: str) -> list[Snippet]:
    with_token = _with_token_in_url(urls.pypi_simple, "$FEED_TOKEN")
    return [
        Snippet(
            "pip",
            "pip and uv from the command line",
            f'pip install --index-url "{with_token}" mylib\nuv pip install --index-url "{with_token}" mylib\n',
            "The token goes in the index URL (any user name; pip and uv send it as Basic auth).",
        ),
        Snippet(
            "pip-conf",
            "pip.conf (user configuration)",
            f"[global]\nindex-url = {_with_token_in_url(urls.pypi_simple, PLACEHOLDER)}\n",
        ),
        Snippet(
            "uv-index",
            "pyproject.toml for uv",
            f'[[tool.uv.index]]\nname = "{name}"\nurl = "{urls.pypi_simple}"\n'
            f'publish-url = "{urls.pypi_upload}"\ndefault = true\n',
            f"uv reads the credentials from UV_INDEX_{_env(name)}_USERNAME=__token__ and "
            f"UV_INDEX_{_env(name)}_PASSWORD=$FEED_TOKEN.",
        ),
        Snippet(
            "pypirc",
            "~/.pypirc for twine",
            f"[distutils]\nindex-servers =\n    {name}\n\n[{name}]\nrepository = {urls.pypi_upload}\n"
            f"username = __token__\npassword = {PLACEHOLDER}\n",
            f"Then twine upload --repository {name} dist/*",
        ),
        Snippet(
            "publish",
            "Publish from the command line",
            f'twine upload --repository-url {urls.pypi_upload} -u __token__ -p "$FEED_TOKEN" dist/*\n'
            f'uv publish --publish-url {urls.pypi_upload} --token "$FEED_TOKEN" dist/*\n',
        ),
    ]


def _nuget(urls: Endpoints, name: str) -> list[Snippet]:
    return [
        Snippet(
            "nuget-config",
            "nuget.config",
            "<configuration>\n  <packageSources>\n    <clear />\n"
            f'    <add key="{name}" value="{urls.nuget}" />\n  </packageSources>\n'
            f'  <packageSourceCredentials>\n    <{name}>\n      <add key="Username" value="anything" />\n'
            f'      <add key="ClearTextPassword" value="{PLACEHOLDER}" />\n    </{name}>\n'
            "  </packageSourceCredentials>\n</configuration>\n",
            "Keep packageSourceCredentials in your user-level nuget.config, not in the repository.",
        ),
        Snippet(
            "nuget-cli",
            "Or add the source from the command line",
            f'nuget sources add -Name {name} -Source {urls.nuget} -Username anything -Password "$FEED_TOKEN"\n'
            f"nuget push MyPackage.1.0.0.nupkg -Source {name} -ApiKey az\n",
        ),
    ]


def _maven(urls: Endpoints, name: str) -> list[Snippet]:
    repo = f"<id>{name}</id><url>{urls.maven}</url>"
    return [
        Snippet(
            "pom",
            "pom.xml",
            f"<repositories>\n  <repository>{repo}</repository>\n</repositories>\n"
            f"<distributionManagement>\n  <repository>{repo}</repository>\n"
            f"  <snapshotRepository>{repo}</snapshotRepository>\n</distributionManagement>\n",
        ),
        Snippet(
            "maven-settings",
            "~/.m2/settings.xml",
            f"<settings><servers><server>\n  <id>{name}</id><username>anything</username>"
            f"<password>{PLACEHOLDER}</password>\n</server></servers></settings>\n",
            "Any user name; the token is the password.",
        ),
        Snippet(
            "gradle",
            "build.gradle",
            "repositories {\n    maven {\n"
            f"        url '{urls.maven}'\n"
            "        credentials {\n            username 'anything'\n"
            "            password System.getenv('FEED_TOKEN')\n        }\n    }\n}\n",
        ),
    ]


def _cargo(urls: Endpoints, name: str) -> list[Snippet]:
    return [
        Snippet(
            "cargo-config",
            ".cargo/config.toml",
            f'[registries.{name}]\nindex = "sparse+{urls.cargo}"\ncredential-provider = "cargo:token"\n',
            "Cargo 1.74 or later.",
        ),
        Snippet(
            "cargo-login",
            "Store the token",
            f"cargo login --registry {name}\n",
            f"It reads the token from standard input; CI sets CARGO_REGISTRIES_{_env(name)}_TOKEN instead.",
        ),
        Snippet(
            "cargo-toml",
            "Cargo.toml",
            f'[package]\npublish = ["{name}"]\n\n[dependencies]\nmy-crate = {{ version = "1", registry = "{name}" }}\n',
            f"Then cargo publish --registry {name}.",
        ),
    ]


def _upack(urls: Endpoints, name: str) -> list[Snippet]:
    del name  # the client takes the feed (and view) itself
    feed = f"--feed {unquote(urls.ref)}"
    return [
        Snippet(
            "upack-token",
            "The token",
            'export AZURE_DEVOPS_EXT_PAT="$FEED_TOKEN"\n',
            "The client reads the token from AZURE_DEVOPS_EXT_PAT, as the Azure CLI does.",
        ),
        Snippet(
            "upack-publish",
            "Publish a directory",
            f"python -m feed_core universal publish {urls.universal_scope} {feed} "
            "--name my-tool --version 1.0.0 --path ./dist\n",
            "Only the chunks the feed does not have yet are uploaded; run it again to resume.",
        ),
        Snippet(
            "upack-download",
            "Download a version",
            f"python -m feed_core universal download {urls.universal_scope} {feed} "
            "--name my-tool --version '1.*' --path ./my-tool\n",
            "A wildcard takes the highest matching version.",
        ),
    ]


def _env(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())
