"""The real cargo in tests: one isolated user per ``CargoClient``, and generated crate projects.

    def test_build(cargo, feed_index, token, tmp_path):
        client = cargo(feed_index, token)                              # its own CARGO_HOME and config.toml
        client.publish(crate_project(tmp_path / "base", "base", "1.0.0", message="base"))
        app = crate_project(tmp_path / "app", "app", "0.1.0", deps=[Dep("base", "1")], binary=True)
        assert client.run_binary(app) == "app < base"

Each client has a ``CARGO_HOME`` of its own (a fresh one whenever ``fresh_home()`` is called) holding only the
``config.toml`` written here: the feed as the registry ``feed`` (sparse, ``credential-provider = "cargo:token"``), and
``[source.crates-io] replace-with = "feed"`` when asked. The token goes in ``CARGO_REGISTRIES_FEED_TOKEN`` (or in
``credentials.toml`` after ``login``). Nothing of this machine's cargo configuration applies: every ``CARGO_*``
variable of the caller is dropped and the projects live under pytest's temporary folder. Output is plain (no colours,
no progress bars), a failed request is not retried (``CARGO_NET_RETRY=0``) and no request waits longer than
``HTTP_TIMEOUT_SECONDS``. A project that depends only on the feed makes cargo contact 127.0.0.1 only (``network``
traces it).

The toolchain is rustup's when cargo is rustup's proxy: its own cargo and rustc are run directly (found once with
``rustc --print sysroot``), so the user's HOME and rustup settings do not matter during a run. cargo 1.74 or later is
required (authenticated registries, the ``cargo:token`` provider); older or missing cargo fails the test with a hint.

``public_index_url()`` is the sparse index cargo uses for the public crate registry on this machine, found at run
time: a scratch ``cargo generate-lockfile`` with this machine's cargo configuration (so a source replacement there is
followed) whose HTTP goes through a proxy on a closed 127.0.0.1 port; cargo's error names the ``config.json`` it
tried. Nothing leaves the machine for that, and the URL is never written down.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MIN_CARGO = (1, 74)
REGISTRY = "feed"  # the registry name in config.toml; its token variable is CARGO_REGISTRIES_FEED_TOKEN
TOKEN_VARIABLE = f"CARGO_REGISTRIES_{REGISTRY.upper()}_TOKEN"
CARGO_TIMEOUT_SECONDS = 180.0
HTTP_TIMEOUT_SECONDS = 20
INSTALL_HINT = (
    "install a Rust toolchain with cargo >= 1.74 (rustup; Debian's cargo package is older) and put it on PATH"
)
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


# --- the toolchain ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Toolchain:
    cargo: str
    rustc: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def _version(text: str) -> tuple[int, int, int] | None:
    found = re.search(r"\b(\d+)\.(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


@functools.cache
def find_toolchain() -> Toolchain | str:
    """The cargo and rustc to run, or why there are none fit to run (missing, too old)."""
    cargo, rustc = shutil.which("cargo"), shutil.which("rustc")
    if cargo is None or rustc is None:
        return f"cargo or rustc is not on PATH: {INSTALL_HINT}"
    try:
        sysroot = subprocess.run(
            [rustc, "--print", "sysroot"], capture_output=True, text=True, timeout=60, check=False
        ).stdout.strip()
        if sysroot and (Path(sysroot) / "bin" / "cargo").is_file() and (Path(sysroot) / "bin" / "rustc").is_file():
            cargo, rustc = str(Path(sysroot) / "bin" / "cargo"), str(Path(sysroot) / "bin" / "rustc")
        shown = subprocess.run([cargo, "--version"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cargo could not be run ({exc}): {INSTALL_HINT}"
    version = _version(shown)
    if version is None:
        return f"`cargo --version` printed no version ({shown.strip()!r}): {INSTALL_HINT}"
    if version[:2] < MIN_CARGO:
        return f"cargo {'.'.join(map(str, version))} is too old, the Cargo tests need >= 1.74: {INSTALL_HINT}"
    return Toolchain(cargo, rustc, version)


def toolchain() -> Toolchain:
    """The toolchain; fails the test (never skips) when there is none fit to run."""
    found = find_toolchain()
    if isinstance(found, str):
        pytest.fail(found, pytrace=False)
    return found


# --- crate projects --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dep:
    """A dependency of a generated crate: ``name = { version = req, registry = "feed" }`` (``registry=None``: the
    public registry's name, which ``replace-with`` sends to the feed), renamed to ``alias`` when given."""

    name: str
    req: str
    registry: str | None = REGISTRY
    alias: str | None = None

    @property
    def key(self) -> str:
        return self.alias or self.name

    def toml(self) -> str:
        parts = [f'version = "{self.req}"']
        if self.registry:
            parts.append(f'registry = "{self.registry}"')
        if self.alias:
            parts.append(f'package = "{self.name}"')
        return f"{self.key} = {{ {', '.join(parts)} }}"


def rust_ident(name: str) -> str:
    return name.replace("-", "_")


def crate_manifest(name: str, version: str, *, deps: Sequence[Dep] = (), description: str | None = None) -> str:
    lines = [
        "[package]",
        f'name = "{name}"',
        f'version = "{version}"',
        'edition = "2021"',
        f'description = "{description or f"{name} for the feed end-to-end tests"}"',
        'license = "MIT"',
        "",
        "[dependencies]",
        *(d.toml() for d in deps),
    ]
    return "\n".join(lines) + "\n"


def library_source(message: str, calls: Sequence[Dep] = ()) -> str:
    """``pub fn message()``: ``message`` followed by ``" < "`` and the message of each crate in ``calls``."""
    joined = "".join(f' + " < " + &{rust_ident(d.key)}::message()' for d in calls)
    return f"pub fn message() -> String {{\n    String::from({_rust_string(message)}){joined}\n}}\n"


def _rust_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def crate_project(
    folder: Path,
    name: str,
    version: str,
    *,
    message: str | None = None,
    deps: Sequence[Dep] = (),
    calls: Sequence[Dep] | None = None,
    binary: bool = False,
    description: str | None = None,
) -> Path:
    """A crate whose ``message()`` returns ``message`` (default ``"{name} {version}"``) followed by the messages of
    the generated crates in ``calls`` (default: every dependency); ``binary`` adds a ``main`` printing it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src").mkdir(exist_ok=True)
    (folder / "Cargo.toml").write_text(crate_manifest(name, version, deps=deps, description=description))
    (folder / "src" / "lib.rs").write_text(
        library_source(message or f"{name} {version}", deps if calls is None else calls)
    )
    if binary:
        (folder / "src" / "main.rs").write_text(
            f'fn main() {{\n    println!("{{}}", {rust_ident(name)}::message());\n}}\n'
        )
    return folder


def locked_versions(project: Path) -> dict[str, str]:
    """Cargo.lock's packages that come from a registry: name -> version."""
    lock = tomllib.loads((project / "Cargo.lock").read_text())
    packages = lock.get("package", [])
    return {p["name"]: p["version"] for p in packages if str(p.get("source", "")).startswith(("registry+", "sparse+"))}


# --- the client ------------------------------------------------------------------------------------


def feed_cargo_index(base_url: str, org: str, feed: str, view: str | None = None) -> str:
    """The feed's sparse index URL, as it goes into config.toml (``sparse+…/cargo/index/``)."""
    ref = f"{feed}@{view}" if view else feed
    return f"sparse+{base_url}/{org}/_packaging/{ref}/cargo/index/"


def config_toml(index_url: str | None, *, replace_crates_io: bool = False) -> str:
    """A CARGO_HOME config.toml: the registry ``feed`` at ``index_url`` with the ``cargo:token`` provider, and the
    public registry replaced by it when asked."""
    lines = ["[net]", "retry = 0", "offline = false", "", "[http]", f"timeout = {HTTP_TIMEOUT_SECONDS}", ""]
    if index_url:
        lines += [f"[registries.{REGISTRY}]", f'index = "{index_url}"', 'credential-provider = "cargo:token"', ""]
    if replace_crates_io:
        lines += ["[source.crates-io]", f'replace-with = "{REGISTRY}"', ""]
    return "\n".join(lines)


def cargo_env(home: Path, token: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without proxies, feed settings or any cargo setting, then the client's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FEED_", "CARGO_", "RUSTC", "RUSTFLAGS", "RUSTDOCFLAGS")) and k.lower() not in _PROXY_VARS
    }
    env.update(
        {
            "CARGO_HOME": str(home),
            "CARGO_TERM_COLOR": "never",
            "CARGO_TERM_PROGRESS_WHEN": "never",
            "CARGO_NET_RETRY": "0",
            "CARGO_HTTP_TIMEOUT": str(HTTP_TIMEOUT_SECONDS),
            "CARGO_INCREMENTAL": "0",
            "NO_PROXY": "127.0.0.1",
        }
    )
    env.pop("RUST_BACKTRACE", None)
    if token is not None:
        env[TOKEN_VARIABLE] = token
    env.update(extra or {})
    return env


@dataclass
class CargoResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    def __str__(self) -> str:
        return (
            f"{' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


#: What cargo's network trace (CARGO_HTTP_DEBUG + CARGO_LOG=network=debug) says for each connection and request.
_CONNECTED = re.compile(r"http-debug: \* Connected to (\S+) ")
_FETCH = re.compile(r"network: fetch (\S+)")


def contacted_hosts(trace: str) -> set[str]:
    """The hosts a traced cargo run connected to or fetched from."""
    hosts = set(_CONNECTED.findall(trace))
    hosts |= {re.sub(r"^[a-z+]+://([^/:]+).*$", r"\1", url) for url in _FETCH.findall(trace)}
    return hosts


def run_cargo(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], input: str | None = None, timeout: float
) -> CargoResult:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv), cwd=cwd, env=dict(env), input=input, stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return CargoResult(
            list(argv), -9, out, err + f"\n(timed out after {timeout:.0f} s)", time.monotonic() - started
        )
    return CargoResult(list(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


@dataclass
class CargoClient:
    """One cargo user on one machine: a CARGO_HOME of its own under ``root``, the feed as registry ``feed``."""

    root: Path
    index_url: str | None  # the feed's sparse index, ``sparse+http://…/cargo/index/``
    token: str | None = None  # sent through CARGO_REGISTRIES_FEED_TOKEN when set
    replace_crates_io: bool = False
    tools: Toolchain = field(default_factory=toolchain)
    home: Path = field(init=False)
    _homes: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.fresh_home()

    def fresh_home(self) -> Path:
        """A new, empty CARGO_HOME (no index cache, no downloaded crates, no credentials) with the config."""
        self._homes += 1
        self.home = self.root / f"cargo-home-{self._homes}"
        self.home.mkdir()
        (self.home / "config.toml").write_text(config_toml(self.index_url, replace_crates_io=self.replace_crates_io))
        return self.home

    def env(self, *, trace: bool = False, with_token: bool = True) -> dict[str, str]:
        extra = {"RUSTC": self.tools.rustc}
        if trace:
            extra.update({"CARGO_HTTP_DEBUG": "true", "CARGO_LOG": "network=debug"})
        return cargo_env(self.home, self.token if with_token else None, extra)

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        trace: bool = False,
        with_token: bool = True,
        input: str | None = None,
        timeout: float = CARGO_TIMEOUT_SECONDS,
    ) -> CargoResult:
        """``cargo <args>`` in ``cwd`` (the client's root by default). With ``check`` a failure fails the test with
        the whole output; a run over ``timeout`` always does. ``trace`` logs cargo's HTTP (see contacted_hosts)."""
        argv = [self.tools.cargo, *args]
        env = self.env(trace=trace, with_token=with_token)
        result = run_cargo(argv, cwd=cwd or self.root, env=env, input=input, timeout=timeout)
        print(f"cargo {' '.join(args)} as {self.root.name}: exit {result.returncode}, {result.seconds:.1f} s")
        if result.returncode == -9 or (check and result.returncode != 0):
            pytest.fail(f"cargo failed:\n{result}", pytrace=False)
        return result

    # the everyday commands

    def publish(self, project: Path, *, check: bool = True) -> CargoResult:
        """``cargo publish --registry feed`` (the crate is built first, against the feed, as cargo always does)."""
        return self.run("publish", "--registry", REGISTRY, "--allow-dirty", cwd=project, check=check)

    def build(self, project: Path, *, check: bool = True, trace: bool = False) -> CargoResult:
        return self.run("build", cwd=project, check=check, trace=trace)

    def run_binary(self, project: Path) -> str:
        """``cargo run`` (building first); the program's output."""
        return self.run("run", "--quiet", cwd=project).stdout.strip()

    def yank(self, name: str, version: str, *, undo: bool = False, check: bool = True) -> CargoResult:
        args = ["yank", "--registry", REGISTRY, "--version", version, name]
        return self.run(*args, *(["--undo"] if undo else []), check=check)

    def search(self, query: str, *, limit: int | None = None, check: bool = True) -> CargoResult:
        args = ["search", "--registry", REGISTRY, query]
        return self.run(*args, *(["--limit", str(limit)] if limit else []), check=check)

    def owners(self, name: str, *, check: bool = False) -> CargoResult:
        return self.run("owner", "--registry", REGISTRY, "--list", name, check=check)

    def login(self, token: str) -> CargoResult:
        """``cargo login --registry feed`` with the token on stdin: it goes into CARGO_HOME's credentials.toml."""
        return self.run("login", "--registry", REGISTRY, with_token=False, input=token + "\n")


CargoFactory = Callable[..., CargoClient]


@pytest.fixture
def cargo(tmp_path: Path) -> CargoFactory:
    """``cargo(index_url, token=None, name="user", replace_crates_io=False)`` -> a fresh, isolated cargo user."""
    tools = toolchain()
    counter = iter(range(1000))

    def make(
        index_url: str | None, token: str | None = None, name: str = "user", replace_crates_io: bool = False
    ) -> CargoClient:
        root = tmp_path / f"cargo-{name}-{next(counter)}"
        return CargoClient(root, index_url, token, replace_crates_io, tools)

    return make


# --- the public crate registry as cargo's own configuration names it -------------------------------

_TRIED = re.compile(r"failed to download from `(https?://\S+?/)config\.json`")


def user_cargo_home() -> Path:
    """Where this machine's cargo configuration lives (``$CARGO_HOME``, else ``~/.cargo``)."""
    return Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")


@functools.cache
def public_index_url() -> str:
    """The sparse index URL (``https://…/``, without ``sparse+``) cargo reads the public crate registry from here.

    A scratch project depends on one crate from the public registry; cargo resolves it with this machine's cargo
    configuration copied into a scratch CARGO_HOME (so a ``[source.crates-io] replace-with`` there is followed) and
    every request sent to a proxy on a closed 127.0.0.1 port. Its first request is the index's ``config.json``,
    and the error it prints names it. Nothing is sent anywhere."""
    tools = toolchain()
    with tempfile.TemporaryDirectory(prefix="cargo-probe-") as scratch:
        folder = Path(scratch)
        home, project = folder / "home", folder / "probe"
        home.mkdir()
        for name in ("config.toml", "config"):
            if (user_cargo_home() / name).is_file():
                shutil.copyfile(user_cargo_home() / name, home / name)
        crate_project(project, "index-probe", "0.0.0", deps=[Dep("itoa", "1", registry=None)])
        env = cargo_env(home, None, {"RUSTC": tools.rustc, "CARGO_HTTP_PROXY": "http://127.0.0.1:9",
                                     "CARGO_NET_OFFLINE": "false"})  # fmt: skip
        result = run_cargo([tools.cargo, "generate-lockfile"], cwd=project, env=env, timeout=60)
    found = _TRIED.search(result.output)
    if found is None:
        raise RuntimeError(
            "cargo did not name the public registry's sparse index (is the public registry replaced by a git or "
            f"local source in this machine's cargo configuration?); it printed:\n{result.output[-2000:]}"
        )
    return found[1]


def main(argv: Sequence[str]) -> int:
    """``python -m tests.cargo_client check``: the precondition scripts/test checks (cargo >= 1.74)."""
    if list(argv) != ["check"]:
        print("usage: python -m tests.cargo_client check", file=sys.stderr)
        return 2
    found = find_toolchain()
    if isinstance(found, str):
        print(f"Cargo tests: {found}")
        return 1
    print(f"cargo {found.version_text} ({found.cargo})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
