"""NuGet restore benchmark: `nuget install` of a package tree from the feed against a static v3 layout of the
same packages served by a plain file server (the physical floor for a v3 source on this machine).

    python bench/nuget_restore.py [--packages 40] [--rounds 5]

Steps: build --packages deterministic .nupkg files (Bench.Root depends on a few packages, which depend on others:
all of them are reachable from the root; some ids have two versions); start the feed server on a free 127.0.0.1
port, create a feed and push every package to it (HTTP PUT, multipart, as `nuget push` sends it); write the static
layout (bench/_nuget_static.py) and serve it with the standard library's file server (bench/_static_server.py:
keep-alive, TCP_NODELAY). Then, each round, restart both servers and run `nuget install Bench.Root -Version 1.0.0
-OutputDirectory <empty>` (NuGet.exe 5.8 on mono) from each:

- cold: the first restore after the server started (a fresh feed process on the existing data: nothing in its
  memory caches), with empty client caches;
- warm: a second restore from the same, now warm, server, again with empty client caches.

Empty client caches means a fresh client folder per restore: NUGET_PACKAGES, the HTTP cache (v3-cache), the
plugins cache, HOME, the XDG directories and TMPDIR all point into it, so nothing is reused between restores. The
order of the two sources rotates every round. The feed is private, so the restore goes as users run it, with the
token as the source's ClearTextPassword: NuGet.exe 5.8 sends every request anonymously first and repeats it with
Basic credentials after the 401, so the feed answers about twice as many requests as the anonymous static server.

Printed: medians, the feed/static ratios cold and warm against the target (warm <= 1.2x the floor), the servers'
CPU time per restore (from /proc). Written: bench/results/nuget_restore.json. All servers are stopped at the end,
also on errors; nothing leaves 127.0.0.1 (the feed runs without public sources, NuGet.Config clears all others).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import httpx
from _common import (
    REPO_DIR,
    WORK_DIR,
    create_feed,
    exit_on_sigterm,
    fmt,
    free_port,
    machine_basics,
    machine_line,
    median_or_none,
    print_summary,
    process_cpu_seconds,
    process_group,
    ratio,
    start_feed_process,
    tool_version,
    wait_ready,
    write_results,
)
from _nuget_static import NuGetPackage, write_static_source
from _nupkg import build_nupkg

BENCH_DIR = Path(__file__).resolve().parent
RUN_DIR = WORK_DIR / "nuget"
RESULTS_FILE = BENCH_DIR / "results" / "nuget_restore.json"
NUGET_EXE = Path(os.environ.get("NUGET_EXE") or REPO_DIR / "tools" / "node_modules" / "nuget-exe" / "nuget-5.8.0.exe")

SEED = 20261204
FEED_NAME = "bench"
ROOT_ID, ROOT_VERSION = "Bench.Root", "1.0.0"
FANOUT = 3  # children per package in the spanning tree; extra cross edges make shared dependencies
PUSH_CONCURRENCY = 8
RESTORE_TIMEOUT = 300.0
TARGET_WARM = 1.2
SOURCES = ("feed", "static")


# ---------------------------------------------------------------------------------------------------------------
# Packages


def package_id(index: int) -> str:
    return ROOT_ID if index == 0 else f"Bench.Lib{index:02d}"


def versions_of(index: int) -> list[str]:
    return ["1.0.0", "1.1.0"] if index % 4 == 2 else ["1.0.0"]


def generate_packages(count: int) -> tuple[list[NuGetPackage], dict[str, str]]:
    """All package versions, and what a restore of the root must install (id -> version, NuGet's lowest
    applicable version: the highest lower bound any dependent asks for)."""
    rng = random.Random(SEED)  # noqa: S311 - deterministic test data, not cryptography
    deps_of: dict[int, set[int]] = {i: set() for i in range(count)}
    for child in range(1, count):
        deps_of[(child - 1) // FANOUT].add(child)  # a spanning tree: everything is reachable from the root
    for index in range(count):
        later = list(range(index + 1, count))
        deps_of[index].update(rng.sample(later, min(len(later), rng.randint(0, 2))))
    ranges: dict[tuple[int, int], str] = {}
    for index, dep_set in deps_of.items():
        for dep in sorted(dep_set):
            ranges[(index, dep)] = rng.choice(versions_of(dep))
    packages = []
    for index in range(count):
        deps = tuple((package_id(d), f"[{ranges[(index, d)]}, )") for d in sorted(deps_of[index]))
        for version in versions_of(index):
            payload = rng.randbytes(rng.randint(8_000, 60_000))
            nupkg = build_nupkg(package_id(index), version, deps, payload)
            packages.append(NuGetPackage(package_id(index), version, deps, nupkg))
    expected = {ROOT_ID: ROOT_VERSION}
    for (_, dep), lower in ranges.items():
        name = package_id(dep)
        expected[name] = max(expected.get(name, lower), lower, key=lambda v: tuple(map(int, v.split("."))))
    return packages, expected


def push_all(v3: str, token: str, packages: list[NuGetPackage]) -> float:
    """PUT every .nupkg to the feed's PackagePublish resource, PUSH_CONCURRENCY at a time; raises on a failure."""

    def push(client: httpx.Client, p: NuGetPackage) -> str | None:
        files = {"package": (f"{p.id}.{p.version}.nupkg", p.nupkg, "application/octet-stream")}
        resp = client.put(f"{v3}package", files=files)
        return (
            None
            if resp.status_code in (200, 201, 202)
            else f"{p.id} {p.version}: HTTP {resp.status_code} {resp.text[:200]}"
        )

    started = time.perf_counter()
    with (
        httpx.Client(headers={"X-NuGet-ApiKey": token}, timeout=60) as client,
        ThreadPoolExecutor(PUSH_CONCURRENCY) as pool,
    ):
        errors = [e for e in pool.map(lambda p: push(client, p), packages) if e]
    if errors:
        raise RuntimeError(f"{len(errors)} pushes failed:\n  " + "\n  ".join(errors[:10]))
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------------
# Servers


@dataclass
class Source:
    """One source under test: its v3 service index URL, the server's pid and (static only) its request log."""

    label: str
    url: str
    pid: int
    credentials: tuple[str, str] | None = None  # (user, token) for packageSourceCredentials
    log: Path | None = None

    def cpu_seconds(self) -> float | None:
        return process_cpu_seconds(self.pid)

    def requests_logged(self) -> int | None:
        """GETs the static server has logged so far (http.server logs one line per request)."""
        if self.log is None:
            return None
        return len(re.findall(r'"GET ', self.log.read_text(errors="replace")))


FEED_ENV = {
    "FEED_STORAGE": "embedded",
    "FEED_PUBLIC_SOURCES": "{}",
    "FEED_LOG_LEVEL": "WARNING",
    "FEED_ORGANIZATION": "local",
}


def start_feed(stack: ExitStack, token: str, round_no: int, access_log: bool = False) -> tuple[Source, float]:
    """The feed on its data directory (the same every round: a restart keeps what was pushed), with a fixed token."""
    log = RUN_DIR / "logs" / f"feed-{round_no}.log"
    env = {**FEED_ENV, "FEED_ADMIN_TOKEN": token}
    extra = ("--access-log",) if access_log else ()
    feed = start_feed_process(stack, RUN_DIR / "feed-data", log, env, extra)
    v3 = f"{feed.base}/local/_packaging/{FEED_NAME}/nuget/v3/"
    return Source("feed", f"{v3}index.json", feed.pid, ("bench", token)), feed.startup_seconds


def start_static(stack: ExitStack, root: Path, port: int, round_no: int) -> Source:
    log = RUN_DIR / "logs" / f"static-{round_no}.log"
    cmd = [sys.executable, str(BENCH_DIR / "_static_server.py"), str(port), str(root)]
    proc = stack.enter_context(process_group(cmd, log, dict(os.environ), root))
    url = f"http://127.0.0.1:{port}/v3/index.json"
    wait_ready(url, proc, log)
    return Source("static", url, proc.pid, None, log)


# ---------------------------------------------------------------------------------------------------------------
# The client


def nuget_config(source: Source) -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<configuration>",
        "  <packageSources>",
        "    <clear />",
        f"    <add key={quoteattr(source.label)} value={quoteattr(source.url)} />",
        "  </packageSources>",
    ]
    if source.credentials:
        user, token = source.credentials
        lines += [
            "  <packageSourceCredentials>",
            f"    <{source.label}>",
            f'      <add key="Username" value={quoteattr(user)} />',
            f'      <add key="ClearTextPassword" value={quoteattr(token)} />',
            f"    </{source.label}>",
            "  </packageSourceCredentials>",
        ]
    return "\n".join([*lines, "</configuration>"]) + "\n"


def client_env(root: Path) -> dict[str, str]:
    """The caller's environment without NuGet, mono, XDG or proxy settings; every NuGet cache inside root."""
    dropped = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "home", "tmpdir", "temp", "tmp"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FEED_", "NUGET_", "XDG_", "MONO_")) and k.lower() not in dropped
    }
    dirs = {
        "HOME": "home",
        "TMPDIR": "tmp",
        "XDG_CONFIG_HOME": "xdg-config",
        "XDG_DATA_HOME": "xdg-data",
        "NUGET_PACKAGES": "packages",
        "NUGET_HTTP_CACHE_PATH": "http-cache",
        "NUGET_PLUGINS_CACHE_PATH": "plugins-cache",
    }
    for var, sub in dirs.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(root / sub)
    return {**env, "NO_PROXY": "127.0.0.1", "TERM": "dumb"}


def restore(source: Source, name: str, expected: dict[str, str]) -> float:
    """One `nuget install` of the root into an empty folder with empty caches; returns seconds; checks the tree."""
    root = RUN_DIR / "clients" / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = root / "NuGet.Config"
    config.write_text(nuget_config(source))
    out = root / "out"
    argv = ["mono", str(NUGET_EXE), "install", ROOT_ID, "-Version", ROOT_VERSION, "-Source", source.url]
    argv += ["-OutputDirectory", str(out), "-NonInteractive", "-ConfigFile", str(config)]
    started = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=root, env=client_env(root), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=RESTORE_TIMEOUT, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    (root / "nuget.log").write_text(f"{' '.join(argv)}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        raise RuntimeError(f"nuget install from {source.label} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    installed = {d.name for d in out.iterdir() if d.is_dir()}
    wanted = {f"{i}.{v}" for i, v in expected.items()}
    if installed != wanted:
        raise RuntimeError(
            f"{source.label}: installed {len(installed)} packages, expected {len(wanted)}; missing "
            f"{sorted(wanted - installed)[:5]}, unexpected {sorted(installed - wanted)[:5]}"
        )
    return elapsed


def count_feed_requests(log: Path) -> dict[str, int]:
    """Requests in the feed's access log: all, and those answered 401 (the anonymous first try of each)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if '"GET ' in line or '"HEAD ' in line]
    return {"requests": len(lines), "answered_401": sum(1 for line in lines if re.search(r'" 401\b', line))}


def setup_feed(token: str, packages: list[NuGetPackage], expected: dict[str, str]) -> tuple[float, dict[str, int]]:
    """Create the feed, push every package, then one untimed restore with the access log on, to count the requests
    a restore sends the feed (the timed rounds run without the access log)."""
    with ExitStack() as stack:
        feed, _ = start_feed(stack, token, 0, access_log=True)
        create_feed(feed.url.split("/local/", 1)[0], token, FEED_NAME)
        push_seconds = push_all(feed.url.removesuffix("index.json"), token, packages)
        print(f"Pushed {len(packages)} versions to the feed in {push_seconds:.2f} s", flush=True)
        log = RUN_DIR / "logs" / "feed-0.log"
        before = count_feed_requests(log)
        restore(feed, "feed-probe", expected)
        after = count_feed_requests(log)
    counted = {key: after[key] - before[key] for key in after}
    print(
        f"Untimed probe restore from the feed: {counted['requests']} requests, {counted['answered_401']} of them "
        "anonymous tries answered 401",
        flush=True,
    )
    return push_seconds, counted


# ---------------------------------------------------------------------------------------------------------------
# Rounds


@dataclass
class Results:
    seconds: dict[str, list[float]] = field(default_factory=dict)  # "feed cold" -> per round
    cpu: dict[str, list[float]] = field(default_factory=dict)
    requests: dict[str, list[float]] = field(default_factory=dict)
    feed_startup: list[float] = field(default_factory=list)

    def add(self, key: str, seconds: float, cpu: float | None, requests: int | None) -> None:
        self.seconds.setdefault(key, []).append(seconds)
        if cpu is not None:
            self.cpu.setdefault(key, []).append(cpu)
        if requests is not None:
            self.requests.setdefault(key, []).append(requests)


def measured(source: Source, name: str, expected: dict[str, str]) -> tuple[float, float | None, int | None]:
    cpu, requests = source.cpu_seconds(), source.requests_logged()
    seconds = restore(source, name, expected)
    cpu_after, requests_after = source.cpu_seconds(), source.requests_logged()
    used = cpu_after - cpu if cpu is not None and cpu_after is not None else None
    sent = requests_after - requests if requests is not None and requests_after is not None else None
    return seconds, used, sent


def run_round(round_no: int, token: str, static_root: Path, port: int, expected: dict[str, str], res: Results) -> None:
    """Fresh servers; cold then warm restore from each, the order rotating per round."""
    order = list(SOURCES) if round_no % 2 else list(reversed(SOURCES))
    with ExitStack() as stack:
        feed, startup = start_feed(stack, token, round_no)
        res.feed_startup.append(startup)
        sources = {"feed": feed, "static": start_static(stack, static_root, port, round_no)}
        for kind in ("cold", "warm"):
            for label in order:
                seconds, cpu, requests = measured(sources[label], f"{label}-{kind}-{round_no}", expected)
                res.add(f"{label} {kind}", seconds, cpu, requests)
                extra = f", {requests} requests" if requests is not None else ""
                print(
                    f"  round {round_no:<2} {kind}  {label:<6} {seconds:6.2f} s  (server CPU {fmt(cpu)} s{extra})",
                    flush=True,
                )


# ---------------------------------------------------------------------------------------------------------------
# Summary


def summarize(
    args: argparse.Namespace, packages: list[NuGetPackage], expected: dict[str, str], push_seconds: float,
    feed_requests: dict[str, int], res: Results, machine: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    medians = {k: median_or_none(v) for k, v in res.seconds.items()}
    cpu = {k: median_or_none(v) for k, v in res.cpu.items()}
    warm = ratio(medians.get("feed warm"), medians.get("static warm"))
    return {
        "benchmark": "nuget install: the feed against a static v3 layout on a plain file server (both local)",
        "command": " ".join(["python", "bench/nuget_restore.py", *sys.argv[1:]]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine, "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "packages": len({p.id for p in packages}),
        "package_versions": len(packages),
        "installed_packages": len(expected),
        "rounds": args.rounds,
        "push_seconds": round(push_seconds, 2),
        "feed_startup_seconds_median": median_or_none(res.feed_startup),
        "restore_seconds_runs": {k: [round(s, 3) for s in v] for k, v in res.seconds.items()},
        "restore_seconds_median": medians,
        "ratio_feed_over_static_cold": ratio(medians.get("feed cold"), medians.get("static cold")),
        "ratio_feed_over_static_warm": warm,
        "target_warm": f"<= {TARGET_WARM}",
        "meets_target_warm": None if warm is None else warm <= TARGET_WARM,
        "server_cpu_seconds_runs": {k: [round(s, 3) for s in v] for k, v in res.cpu.items()},
        "server_cpu_seconds_median": cpu,
        "static_requests_per_restore": {k: median_or_none(v) for k, v in res.requests.items()},
        "feed_requests_per_restore": feed_requests,
        "note": "cold: first restore after the server (re)started; warm: second restore from the same server; every "
        "restore with empty client caches. The feed is private and restored with credentials: NuGet.exe 5.8 sends "
        "each request anonymously first, then again with Basic after the 401, so the feed answers about twice "
        "the static server's requests. Server CPU is the server process alone (from /proc).",
    }


def summary_lines(s: dict[str, Any]) -> list[str]:
    med, cpu = s["restore_seconds_median"], s["server_cpu_seconds_median"]
    warm = s["ratio_feed_over_static_warm"]
    verdict = "n/a" if warm is None else "meets" if warm <= TARGET_WARM else "MISSES"
    reqs, feed = s["static_requests_per_restore"], s["feed_requests_per_restore"]
    return [
        f"SUMMARY  nuget install {ROOT_ID} {ROOT_VERSION}: {s['installed_packages']} packages restored of "
        f"{s['packages']} ids / {s['package_versions']} versions; {s['rounds']} rounds",
        f"  machine   {machine_line(s['machine'])}",
        f"  {'':<30}{'feed':>12}{'static':>12}{'feed/static':>14}",
        *(
            f"  {f'restore {kind}, median (s)':<30}{fmt(med.get(f'feed {kind}')):>12}"
            f"{fmt(med.get(f'static {kind}')):>12}{fmt(s[f'ratio_feed_over_static_{kind}'], '.3f'):>14}"
            for kind in ("cold", "warm")
        ),
        *(
            f"  {f'server CPU per {kind} restore (s)':<30}{fmt(cpu.get(f'feed {kind}')):>12}"
            f"{fmt(cpu.get(f'static {kind}')):>12}"
            for kind in ("cold", "warm")
        ),
        f"  requests per restore: static {fmt(reqs.get('static warm'), '.0f')}; feed {feed['requests']}, of which "
        f"{feed['answered_401']} anonymous first tries answered 401 (NuGet.exe then repeats each with credentials)",
        f"  warm feed/static {fmt(warm, '.3f')} (target <= {TARGET_WARM}: {verdict}); push of "
        f"{s['package_versions']} versions, {PUSH_CONCURRENCY} in parallel: {s['push_seconds']:.2f} s",
    ]


# ---------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=40, help="number of package ids (default 40)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each a cold and a warm restore (default 5)")
    args = parser.parse_args(argv)
    if not 2 <= args.packages <= 99 or args.rounds < 1:
        parser.error("need 2 <= --packages <= 99 and --rounds >= 1")
    return args


def check_client() -> None:
    if shutil.which("mono") is None or not NUGET_EXE.is_file():
        raise SystemExit(f"needs mono and NuGet.exe at {NUGET_EXE} (./scripts/test installs both; NUGET_EXE may "
                         "point at another copy)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_client()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    machine = {**machine_basics(), "mono": tool_version(["mono", "--version"]), "nuget_exe": NUGET_EXE.name}
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    packages, expected = generate_packages(args.packages)
    port = free_port()
    static_root = RUN_DIR / "static"
    write_static_source(static_root, f"http://127.0.0.1:{port}/", packages)
    print(
        f"Built {len(packages)} package versions ({args.packages} ids); a restore installs {len(expected)}", flush=True
    )
    token = "bench-" + secrets.token_hex(16)
    push_seconds, feed_requests = setup_feed(token, packages, expected)
    results = Results()
    for round_no in range(1, args.rounds + 1):
        run_round(round_no, token, static_root, port, expected, results)
    summary = summarize(args, packages, expected, push_seconds, feed_requests, results, machine)
    print_summary(summary_lines(summary))
    write_results(RESULTS_FILE, summary, lambda text: text.replace(token, "<token>"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
