"""Helpers shared by the benchmarks: server processes (the feed, Verdaccio), npm runs, machine facts, small
formatting and the results file. The rounds of the two upstream benchmarks are in _rounds.py.

Everything here binds to or talks to 127.0.0.1 only; the benchmarks decide what else (if anything) is reached.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
VERDACCIO_SRC = BENCH_DIR / "verdaccio"
VERDACCIO_DIR = WORK_DIR / "verdaccio"
VERDACCIO_USER = "bench"


# ---------------------------------------------------------------------------------------------------------------
# Processes and servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process_group(cmd: list[str], log: Path, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run cmd in its own session; on exit stop its whole process group (TERM, then KILL)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}; log:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s; log:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time process pid (all its threads) has used so far; None off Linux or once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Registry:
    label: str
    url: str  # npm registry URL, ends with '/'
    token: str
    pid: int
    startup_seconds: float = 0.0
    publish_seconds: float = 0.0

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process (all threads) has used so far; None off Linux."""
        return process_cpu_seconds(self.pid)

    @property
    def npmrc(self) -> str:
        auth_key = "//" + self.url.split("://", 1)[1]
        return f"registry={self.url}\n{auth_key}:_authToken={self.token}\n"


@dataclass(frozen=True)
class FeedProcess:
    base: str  # http://127.0.0.1:PORT
    token: str  # the organization administrator's token
    pid: int
    startup_seconds: float


def start_feed_process(
    stack: ExitStack, data_dir: Path, log: Path, env_overrides: dict[str, str], extra_args: tuple[str, ...] = ()
) -> FeedProcess:
    """Start `python -m feed_core serve` on a free port with a fresh admin token; wait until /_health answers."""
    port, token = free_port(), "bench-" + secrets.token_hex(16)
    env = {**os.environ, "FEED_ADMIN_TOKEN": token, **env_overrides}
    env.pop("FEED_PUBLIC_URL", None)
    cmd = [sys.executable, "-m", "feed_core", "serve", "--data-dir", str(data_dir), "--port", str(port), *extra_args]
    proc = stack.enter_context(process_group(cmd, log, env, REPO_DIR))
    base = f"http://127.0.0.1:{port}"
    startup = wait_ready(f"{base}/_health", proc, log)
    return FeedProcess(base, token, proc.pid, startup)


def create_feed(base: str, token: str, name: str) -> None:
    resp = httpx.post(
        f"{base}/local/_apis/packaging/feeds",
        params={"api-version": "7.1"},
        headers={"Authorization": f"Bearer {token}"},
        json={"name": name},
        timeout=30,
    )
    if resp.status_code != 201:
        raise RuntimeError(f"creating feed failed: HTTP {resp.status_code} {resp.text[:300]}")


def start_verdaccio_process(
    stack: ExitStack,
    vdir: Path,
    config_text: str,
    log: Path,
    label: str,
    *,
    config_name: str = "config.yaml",
    env_overrides: dict[str, str] | None = None,
) -> Registry:
    """Write vdir/config_name, start Verdaccio on a free port, wait for /-/ping and log in a fresh user (JWT)."""
    port = free_port()
    vdir.mkdir(parents=True)
    config = vdir / config_name
    config.write_text(config_text)
    cmd = [
        str(VERDACCIO_DIR / "node_modules" / ".bin" / "verdaccio"),
        "--config",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
    ]
    proc = stack.enter_context(process_group(cmd, log, {**os.environ, **(env_overrides or {})}, vdir))
    url = f"http://127.0.0.1:{port}/"
    startup = wait_ready(f"{url}-/ping", proc, log)
    return Registry(label, url, verdaccio_token(url), proc.pid, startup)


def verdaccio_token(url: str) -> str:
    password = secrets.token_hex(12)
    body = {
        "_id": f"org.couchdb.user:{VERDACCIO_USER}",
        "name": VERDACCIO_USER,
        "password": password,
        "type": "user",
        "roles": [],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    resp = httpx.put(f"{url}-/user/org.couchdb.user:{VERDACCIO_USER}", json=body, timeout=30)
    if resp.status_code not in (200, 201) or "token" not in resp.json():
        raise RuntimeError(f"creating the Verdaccio user failed: HTTP {resp.status_code} {resp.text[:300]}")
    return str(resp.json()["token"])


# ---------------------------------------------------------------------------------------------------------------
# Tools


def ensure_verdaccio() -> str:
    """Install the pinned Verdaccio into bench/.work/verdaccio unless it is already there; returns its version."""
    wanted = json.loads((VERDACCIO_SRC / "package.json").read_text())["dependencies"]["verdaccio"]
    installed = VERDACCIO_DIR / "node_modules" / "verdaccio" / "package.json"
    same_spec = (VERDACCIO_DIR / "package.json").is_file() and (
        (VERDACCIO_DIR / "package.json").read_bytes() == (VERDACCIO_SRC / "package.json").read_bytes()
    )
    if same_spec and installed.is_file() and json.loads(installed.read_text())["version"] == wanted:
        return str(wanted)
    print(f"Installing verdaccio {wanted} into {VERDACCIO_DIR} ...", flush=True)
    VERDACCIO_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", ".npmrc"):
        shutil.copyfile(VERDACCIO_SRC / name, VERDACCIO_DIR / name)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=VERDACCIO_DIR, check=True)
    return str(json.loads(installed.read_text())["version"])


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


# ---------------------------------------------------------------------------------------------------------------
# npm


def npm_env(userconfig: Path, cache: Path, globalconfig: Path) -> dict[str, str]:
    """The environment without any npm_config_* of the caller, with a private userconfig/cache/globalconfig."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(
        {
            "npm_config_userconfig": str(userconfig),
            "npm_config_cache": str(cache),
            "npm_config_globalconfig": str(globalconfig),
            "npm_config_update_notifier": "false",
        }
    )
    return env


def clean_project(project: Path, cache: Path) -> None:
    """No node_modules, no lockfile, an empty npm cache: the start of every timed install."""
    shutil.rmtree(project / "node_modules", ignore_errors=True)
    (project / "package-lock.json").unlink(missing_ok=True)
    shutil.rmtree(cache, ignore_errors=True)


def installed_tree(node_modules: Path, prefix: str = "") -> dict[str, str]:
    """Relative install path -> version for every package under node_modules (recursively)."""
    tree: dict[str, str] = {}
    if not node_modules.is_dir():
        return tree
    for entry in sorted(node_modules.iterdir()):
        dirs = sorted(entry.iterdir()) if entry.name.startswith("@") and entry.is_dir() else [entry]
        for pkg_dir in dirs:
            manifest = pkg_dir / "package.json"
            if pkg_dir.name.startswith(".") or not manifest.is_file():
                continue
            rel = f"{prefix}{pkg_dir.relative_to(node_modules).as_posix()}"
            tree[rel] = str(json.loads(manifest.read_text())["version"])
            tree.update(installed_tree(pkg_dir / "node_modules", f"{rel}/node_modules/"))
    return tree


# ---------------------------------------------------------------------------------------------------------------
# Figures and signals


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def median_or_none(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def exit_on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM into SystemExit so the finally blocks stop the servers."""
    del frame
    raise SystemExit(128 + signum)


def machine_basics() -> dict[str, Any]:
    """The machine facts every benchmark records at its start (the tools' versions are added by each)."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpus']} CPUs, load avg (1 min) {machine['load_avg_1m_start']} at start, "
        f"{machine['load_avg_1m_end']} at end (shared machine: wall times are noisy)"
    )


def print_summary(lines: list[str], width: int = 100) -> None:
    rule = "=" * width
    print("\n".join([rule, *lines, rule]))


def write_results(path: Path, summary: dict[str, Any], redact: Callable[[str], str] = str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(json.dumps(summary, indent=2)) + "\n")
    print(f"Results written to {path.relative_to(REPO_DIR)}")
