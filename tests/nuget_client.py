"""The real NuGet client in tests: NuGet.exe 5.8 run on mono, one isolated user per ``NuGetClient``.

    def test_install(nuget, nuget_gallery):
        client = nuget(nuget_gallery.index_url)
        client.install("Tiny.Lib", "1.0.0")
        assert (client.output_dir / "Tiny.Lib.1.0.0" / "Tiny.Lib.1.0.0.nupkg").is_file()

``scripts/test`` installs the client (scripts/_nuget.sh): mono and its class libraries from Debian packages, and
NuGet.exe from the npm package ``nuget-exe`` pinned in tools/package.json, at ``NUGET_EXE_DEFAULT``. ``NUGET_EXE`` in
the environment points at another copy. A missing client fails the test with an install hint; it never skips.

What was found running it here (NuGet.exe 5.8.0.6930, mono 6.8):
- Each call costs about 0.65 s of mono start-up and JIT before NuGet does anything (``help``: 0.64-0.68 s wall,
  ~64 MB RSS); an ``install`` of two packages from a local gallery takes about 1.5 s in all. Keep the number of
  calls in a test small.
- State lives in four places, all moved per client: the global packages folder ``~/.nuget/packages``
  (``NUGET_PACKAGES``), the HTTP cache ``~/.local/share/NuGet/v3-cache`` (``NUGET_HTTP_CACHE_PATH``; NuGet keeps
  service indexes, registration and flat-container responses there for 30 minutes, so a second client sharing it
  would send no requests at all), the plugins cache (``NUGET_PLUGINS_CACHE_PATH``) and ``NuGetScratch`` under the
  temp directory (``TMPDIR``). HOME and the XDG directories point into the client's folder too, so the user-level
  ``~/.config/NuGet/NuGet.Config`` NuGet creates on first use is a fresh one, and ``-ConfigFile`` names ours.
- ``-NoCache`` makes one call skip the HTTP cache (it still revalidates nothing: every resource is fetched again);
  ``-DirectDownload`` downloads without writing to the caches. Neither is needed with the per-client folders.
- Credentials: a ``packageSourceCredentials`` entry keyed by the source's name, with ``Username`` and
  ``ClearTextPassword`` (mono cannot decrypt ``Password``). NuGet sends Basic only after a 401 challenge carrying
  ``WWW-Authenticate: Basic``, and matches ``-Source <url>`` to the configured source by URL to find them.
- mono's certificate store only matters for https; every test source here is http on 127.0.0.1. Proxy variables
  are removed from the environment, as mono's HTTP stack honours them.
- ``-NonInteractive`` is always passed: without it a 401 with no stored credentials waits for a password on stdin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NUGET_EXE_DEFAULT = REPO_ROOT / "tools" / "node_modules" / "nuget-exe" / "nuget-5.8.0.exe"
NUGET_TIMEOUT_SECONDS = 120.0
SOURCE_NAME = "feed"  # the one source in each client's NuGet.Config
INSTALL_HINT = (
    "run ./scripts/test once (it installs the NuGet client), or by hand: "
    "apt-get install nuget mono-runtime libmono-system-net-http4.0-cil ... (the list in scripts/_nuget.sh) "
    "and `cd tools && npm install` (nuget-exe, pinned in tools/package.json); NUGET_EXE may point at another copy"
)
_CONFIG_COMMANDS = {"push", "install", "delete", "list", "restore", "search", "sources", "locals", "update"}
_DROPPED_ENV = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "home", "tmpdir", "temp", "tmp"}


def nuget_exe() -> Path:
    """The NuGet.exe to run; fails the test (never skips) when it or mono is missing."""
    exe = Path(os.environ.get("NUGET_EXE") or NUGET_EXE_DEFAULT)
    if shutil.which("mono") is None:
        pytest.fail(f"mono is not installed, so the NuGet tests cannot run: {INSTALL_HINT}", pytrace=False)
    if not exe.is_file():
        pytest.fail(f"NuGet.exe is missing at {exe}: {INSTALL_HINT}", pytrace=False)
    return exe


@dataclass
class NuGetResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    def __iter__(self) -> Iterator[object]:  # rc, out, err = client.run(...)
        return iter((self.returncode, self.stdout, self.stderr))

    def __str__(self) -> str:
        return (
            f"{' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def nuget_config(source: str, username: str | None = None, password: str | None = None) -> str:
    """A NuGet.Config with exactly one source (every inherited one cleared), and its credentials if given."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<configuration>",
        "  <packageSources>",
        "    <clear />",
        f"    <add key={quoteattr(SOURCE_NAME)} value={quoteattr(source)} />",
        "  </packageSources>",
    ]
    if password is not None:
        lines += [
            "  <packageSourceCredentials>",
            f"    <{SOURCE_NAME}>",
            f'      <add key="Username" value={quoteattr(username or "user")} />',
            f'      <add key="ClearTextPassword" value={quoteattr(password)} />',
            f"    </{SOURCE_NAME}>",
            "  </packageSourceCredentials>",
        ]
    lines.append("</configuration>")
    return "\n".join(lines) + "\n"


@dataclass
class NuGetClient:
    """One NuGet user on one machine: its own HOME, NuGet.Config, caches, temp and output folders under ``root``."""

    root: Path
    source: str  # the configured source: a v3 index.json URL or a v2 URL
    username: str | None = None
    password: str | None = None  # the token, stored as ClearTextPassword
    exe: Path = field(default_factory=nuget_exe)
    config: Path = field(init=False)
    output_dir: Path = field(init=False)  # where install puts packages
    packages: Path = field(init=False)  # NUGET_PACKAGES, the global packages folder

    def __post_init__(self) -> None:
        for sub in ("home", "tmp", "http-cache", "plugins-cache", "packages", "out", "xdg-config", "xdg-data"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.config = self.root / "NuGet.Config"
        self.config.write_text(nuget_config(self.source, self.username, self.password))
        self.output_dir = self.root / "out"
        self.packages = self.root / "packages"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FEED_", "NUGET_", "XDG_", "MONO_")) and k.lower() not in _DROPPED_ENV
        }
        env.update(
            {
                "HOME": str(self.root / "home"),
                "TMPDIR": str(self.root / "tmp"),
                "XDG_CONFIG_HOME": str(self.root / "xdg-config"),
                "XDG_DATA_HOME": str(self.root / "xdg-data"),
                "NUGET_PACKAGES": str(self.packages),
                "NUGET_HTTP_CACHE_PATH": str(self.root / "http-cache"),
                "NUGET_PLUGINS_CACHE_PATH": str(self.root / "plugins-cache"),
                "NO_PROXY": "127.0.0.1",
                "TERM": "dumb",
            }
        )
        return env

    def run(self, *args: str, check: bool = True, timeout: float = NUGET_TIMEOUT_SECONDS) -> NuGetResult:
        """``mono nuget.exe <args> -NonInteractive [-ConfigFile ours]``. With ``check`` a non-zero exit fails the
        test with the whole output; a run longer than ``timeout`` always does."""
        argv = ["mono", str(self.exe), *args, "-NonInteractive"]
        if args and args[0].lower() in _CONFIG_COMMANDS:
            argv += ["-ConfigFile", str(self.config)]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                argv, cwd=self.root, env=self.env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(argv)} did not finish within {timeout:.0f} s:\n{exc.stdout!r}\n{exc.stderr!r}")
        result = NuGetResult(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
        if check and result.returncode != 0:
            pytest.fail(f"nuget failed:\n{result}", pytrace=False)
        return result

    # -- commands ---------------------------------------------------------------------------------------------------

    def push(
        self,
        package: Path,
        *,
        api_key: str | None = None,
        source: str | None = None,
        skip_duplicate: bool = False,
        check: bool = True,
    ) -> NuGetResult:
        """``nuget push``; the API key defaults to the client's password (the token), as the feed accepts it."""
        args = ["push", str(package), "-Source", source or self.source]
        if (key := api_key if api_key is not None else self.password) is not None:
            args += ["-ApiKey", key]
        if skip_duplicate:
            args.append("-SkipDuplicate")
        return self.run(*args, check=check)

    def install(
        self,
        package_id: str,
        version: str | None = None,
        *,
        source: str | None = None,
        output_dir: Path | None = None,
        dependency_version: str | None = None,
        prerelease: bool = False,
        no_cache: bool = False,
        check: bool = True,
    ) -> NuGetResult:
        """``nuget install`` into ``output_dir`` (default: the client's); ``dependency_version`` is Lowest (NuGet's
        default), HighestPatch, HighestMinor, Highest or Ignore."""
        args = ["install", package_id, "-Source", source or self.source]
        args += ["-OutputDirectory", str(output_dir or self.output_dir)]
        if version is not None:
            args += ["-Version", version]
        if dependency_version is not None:
            args += ["-DependencyVersion", dependency_version]
        if prerelease:
            args.append("-PreRelease")
        if no_cache:
            args.append("-NoCache")
        return self.run(*args, check=check)

    def delete(
        self,
        package_id: str,
        version: str,
        *,
        api_key: str | None = None,
        source: str | None = None,
        check: bool = True,
    ) -> NuGetResult:
        """``nuget delete`` (the server decides whether that unlists or deletes)."""
        args = ["delete", package_id, version, "-Source", source or self.source]
        if (key := api_key if api_key is not None else self.password) is not None:
            args += ["-ApiKey", key]
        return self.run(*args, check=check)

    def list(
        self,
        search: str = "",
        *,
        source: str | None = None,
        all_versions: bool = False,
        prerelease: bool = False,
        include_delisted: bool = False,
        check: bool = True,
    ) -> NuGetResult:
        """``nuget list``; on a v3 source NuGet 5.8 goes through the index's ``LegacyGallery`` (v2) resource."""
        args = ["list", *([search] if search else []), "-Source", source or self.source]
        args += [flag for flag, on in (("-AllVersions", all_versions), ("-PreRelease", prerelease)) if on]
        if include_delisted:
            args.append("-IncludeDelisted")
        return self.run(*args, check=check)

    def pack(self, nuspec: Path, out: Path) -> NuGetResult:
        """``nuget pack`` of a .nuspec whose files sit next to it (NuGet's own packer, to cross-check builders)."""
        return self.run("pack", str(nuspec), "-OutputDirectory", str(out), "-NoDefaultExcludes")


def listed(result: NuGetResult) -> list[tuple[str, str]]:
    """(id, version) pairs from ``nuget list`` output (lines "Id Version")."""
    pairs = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith(" "):
            pairs.append((parts[0], parts[1]))
    return pairs


NuGetFactory = Callable[..., NuGetClient]


@pytest.fixture
def nuget(tmp_path: Path) -> NuGetFactory:
    """``nuget(source, username=None, password=None)`` -> a fresh, isolated NuGet client (fails if not installed)."""
    exe = nuget_exe()
    counter = iter(range(1000))

    def make(source: str, username: str | None = None, password: str | None = None) -> NuGetClient:
        return NuGetClient(tmp_path / f"nuget-{next(counter)}", source, username, password, exe)

    return make
