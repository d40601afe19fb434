"""npm install through an upstream: the feed server against Verdaccio 6.8.0, both proxying the live npm registry.

    python bench/npm_upstream.py [--rounds 3] [--budget-minutes 10] [--access-log]

The live registry's URL is read at run time from `npm config get registry` (the machine's default config); it is
never written into a file: the clients get it through the environment, Verdaccio through a JS config that reads it
from the environment, the feed through its REST API.

Each round starts a FRESH feed (new data dir; one feed with the registry as its public upstream) and a FRESH
Verdaccio (new storage; the registry as its uplink), then, in an order that rotates every round:
  cold    the first `npm install` through each server (everything fetched from upstream and saved), and the same
          install straight from the live registry ("direct", the baseline);
  warm    a second install through each server, which now holds everything.
Every install starts with an empty npm cache, no lockfile and no node_modules. After the feed's cold install the
script checks that every installed package version was saved in the feed with a provenance block and the same
integrity as npm's lockfile. npm runs with --loglevel=http, so each request's latency as npm saw it is summarised
("where the time went"). Results go to bench/results/npm_upstream.json; servers are stopped on exit and on errors.
A failed install is reported (and left out of the medians), not fatal. No round is started that would likely end
after --budget-minutes (default 10): every round hits the live registry.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import _rounds as rounds
import httpx
from _common import (
    BENCH_DIR,
    WORK_DIR,
    Registry,
    clean_project,
    ensure_verdaccio,
    exit_on_sigterm,
    fmt,
    installed_tree,
    machine_basics,
    npm_env,
    print_summary,
    start_verdaccio_process,
    tool_version,
    write_results,
)

RUN_DIR = WORK_DIR / "upstream"
RESULTS_FILE = BENCH_DIR / "results" / "npm_upstream.json"
FEED_NAME = rounds.UPSTREAM_FEED
SOURCE_NAME = "npmjs"
UPSTREAM_ENV = "BENCH_UPSTREAM_REGISTRY"  # how Verdaccio's JS config learns the registry URL
MIN_PACKAGES = 150
NPM_TIMEOUT = 300
NPM_COMMAND = ["npm", "install", "--no-audit", "--no-fund", "--loglevel=http"]
TARGETS = ("feed", "verdaccio", "direct")
SERVERS = ("feed", "verdaccio")
CHECK_CONCURRENCY = 4
PACKAGE_RULE = {"access": "$all", "publish": "$authenticated", "unpublish": "$authenticated", "proxy": SOURCE_NAME}

# A small web app's direct dependencies (fixed majors); they resolve to ~200 packages.
DEPENDENCIES = {
    "express": "^4.21.0",
    "react": "^18.3.0",
    "react-dom": "^18.3.0",
    "lodash": "^4.17.21",
    "axios": "^1.7.0",
    "chalk": "^4.1.2",
    "commander": "^12.1.0",
    "debug": "^4.3.4",
    "dayjs": "^1.11.0",
    "uuid": "^9.0.0",
    "yargs": "^17.7.0",
    "dotenv": "^16.4.0",
    "jsonwebtoken": "^9.0.0",
    "cors": "^2.8.5",
    "helmet": "^7.1.0",
    "morgan": "^1.10.0",
    "winston": "^3.13.0",
    "pg": "^8.12.0",
    "zod": "^3.23.0",
    "glob": "^10.4.0",
}


# ---------------------------------------------------------------------------------------------------------------
# The live registry


def live_registry() -> str:
    """The registry URL of this machine's default npm config (run outside any project), ending with '/'."""
    with tempfile.TemporaryDirectory() as neutral:
        out = subprocess.run(
            ["npm", "config", "get", "registry"], cwd=neutral, capture_output=True, text=True, check=False, timeout=60
        )
    url = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return rounds.upstream_url(out, url, "`npm config get registry`")


def probe_registry(url: str) -> float:
    """Milliseconds for one small packument GET from the live registry; raises when it does not answer 200."""
    return rounds.probe(f"{url}ms", "application/vnd.npm.install-v1+json", "npm registry", "a packument")


class Redactor:
    """Replaces the live registry's address in text that may end up in a file or the summary."""

    def __init__(self, url: str) -> None:
        self.netloc = urlsplit(url).netloc
        self.url = url

    def __call__(self, text: str) -> str:
        return text.replace(self.url, "<registry>/").replace(self.netloc, "<registry>")


# ---------------------------------------------------------------------------------------------------------------
# Servers


def start_npm_feed(stack: ExitStack, round_dir: Path, log: Path, upstream: str, access_log: bool) -> Registry:
    source = {"name": SOURCE_NAME, "protocol": "npm", "location": upstream, "upstreamSourceType": "public"}
    feed = rounds.start_upstream_feed(stack, round_dir / "feed-data", log, source, access_log)
    url = f"{feed.base}/local/_packaging/{FEED_NAME}/npm/registry/"
    return Registry("feed", url, feed.token, feed.pid, feed.startup_seconds)


def verdaccio_config(vdir: Path) -> str:
    """Verdaccio config as a CommonJS module, so the uplink URL comes from the environment, not the file."""
    config = {
        "storage": str(vdir / "storage"),
        "auth": {"htpasswd": {"file": str(vdir / "htpasswd"), "max_users": 100}},
        "uplinks": {SOURCE_NAME: {"url": "__UPLINK__"}},
        "packages": {pattern: dict(PACKAGE_RULE) for pattern in ("@*/*", "**")},
        "middlewares": {"audit": {"enabled": False}},
        "web": {"enable": False},
        "server": {"keepAliveTimeout": 60},
        "max_body_size": "100mb",
        # JWT API tokens: the default legacy token re-checks the bcrypt password on every request (see npm_install.py)
        "security": {"api": {"jwt": {"sign": {"expiresIn": "7d"}}}},
        "log": {"type": "stdout", "format": "pretty", "level": "warn"},
    }
    body = json.dumps(config, indent=2).replace('"__UPLINK__"', f"process.env.{UPSTREAM_ENV}")
    return f"module.exports = {body};\n"


def start_upstream_verdaccio(stack: ExitStack, round_dir: Path, log: Path, upstream: str) -> Registry:
    vdir = round_dir / "verdaccio"
    return start_verdaccio_process(
        stack,
        vdir,
        verdaccio_config(vdir),
        log,
        "verdaccio",
        config_name="config.js",
        env_overrides={UPSTREAM_ENV: upstream, "NODE_NO_WARNINGS": "1"},
    )


def start_round_servers(stack: ExitStack, round_no: int, upstream: str, access_log: bool) -> rounds.RoundServers:
    round_dir = RUN_DIR / f"round-{round_no}"
    logs = RUN_DIR / "logs"
    feed_log, verdaccio_log = logs / f"feed-round-{round_no}.log", logs / f"verdaccio-round-{round_no}.log"
    feed = start_npm_feed(stack, round_dir, feed_log, upstream, access_log)
    verdaccio = start_upstream_verdaccio(stack, round_dir, verdaccio_log, upstream)
    return rounds.RoundServers({"feed": feed, "verdaccio": verdaccio}, {"feed": feed_log, "verdaccio": verdaccio_log})


# ---------------------------------------------------------------------------------------------------------------
# npm install runs


@dataclass
class Install:
    seconds: float
    tree: dict[str, str]
    lock: dict[str, Any]
    requests: list[tuple[str, int, str, float]]  # (method, status, path, ms) as npm logged them
    error: str | None = None  # set when npm failed or the result was wrong


class InstallFailedError(RuntimeError):
    pass


HTTP_LINE = re.compile(r"^npm http fetch (\w+) (\d{3}) (\S+) (\d+)ms", re.MULTILINE)


def write_project(project: Path) -> None:
    project.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "feed-upstream-bench-app", "version": "1.0.0", "private": True, "dependencies": DEPENDENCIES}
    (project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")


def run_install(label: str, registry_url: str, token: str, redact: Redactor) -> Install:
    """One clean `npm install` (empty cache, no lockfile, no node_modules) against registry_url."""
    home = RUN_DIR / "npm" / label
    project = RUN_DIR / f"project-{label}"
    home.mkdir(parents=True, exist_ok=True)
    write_project(project)
    userconfig, cache, globalconfig = home / "npmrc", home / "cache", home / "globalnpmrc"
    auth = f"//{registry_url.split('://', 1)[1]}:_authToken={token}\n" if token else ""
    userconfig.write_text(auth)  # the registry itself comes through the environment (never written to a file)
    globalconfig.write_text("")
    clean_project(project, cache)
    env = {**npm_env(userconfig, cache, globalconfig), "npm_config_registry": registry_url}
    started = time.perf_counter()
    try:
        out = subprocess.run(
            NPM_COMMAND, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=NPM_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return Install(time.perf_counter() - started, {}, {}, [], f"npm install took longer than {NPM_TIMEOUT} s")
    elapsed = time.perf_counter() - started
    requests = [
        (m.group(1), int(m.group(2)), urlsplit(m.group(3)).path, float(m.group(4)))
        for m in HTTP_LINE.finditer(out.stderr)
    ]
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "npm http" not in line and "npm error" in line]
        return Install(elapsed, {}, {}, requests, redact("\n".join(errors[:6]))[:1500] or f"exit {out.returncode}")
    lock = json.loads((project / "package-lock.json").read_text())
    return Install(elapsed, installed_tree(project / "node_modules"), lock, requests)


def check_tree(label: str, tree: dict[str, str]) -> None:
    """The install has every direct dependency at the expected major and at least MIN_PACKAGES packages."""
    wrong = []
    for name, spec in DEPENDENCIES.items():
        major = spec.lstrip("^~").split(".")[0]
        if tree.get(name, "").split(".")[0] != major:
            wrong.append(f"{name}@{tree.get(name, 'missing')} (wanted {spec})")
    if wrong:
        raise InstallFailedError(f"{label}: node_modules is missing or wrong for {', '.join(wrong)}")
    if len(tree) < MIN_PACKAGES:
        raise InstallFailedError(f"{label}: only {len(tree)} packages in node_modules, expected >= {MIN_PACKAGES}")


def package_of(install_path: str) -> str:
    return install_path.rsplit("node_modules/", 1)[-1]


# ---------------------------------------------------------------------------------------------------------------
# Checking what the feed saved


def version_url(base: str, name: str, version: str) -> str:
    return f"{base}/local/_apis/packaging/feeds/{FEED_NAME}/npm/{quote(name, safe='@/')}/versions/{quote(version)}"


def lock_integrity(lock: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(package name, version) -> integrity for every installed package; aliases (npm:...) under their real name."""
    packages = lock.get("packages") or {}
    return {
        (str(entry.get("name") or package_of(path)), entry["version"]): entry.get("integrity", "")
        for path, entry in packages.items()
        if path and isinstance(entry, dict) and "version" in entry
    }


def problem_of(status: int, doc: dict[str, Any], integrity: str) -> str | None:
    """Why a saved version does not look right (None when it does)."""
    problem = rounds.provenance_problem(status, doc, SOURCE_NAME)
    if problem is not None:
        return problem
    files = doc.get("files") or [{}]
    stored = ((files[0].get("protocolMetadata") or {}).get("data") or {}).get("integrity")
    if integrity and stored != integrity:
        return f"integrity {stored} != lockfile {integrity}"
    return None


def verify_saved(feed: Registry, install: Install) -> dict[str, Any]:
    """Every package version of the cold install is in the feed, with provenance and npm's integrity."""
    base = feed.url.split("/local/_packaging/", 1)[0]
    wanted = lock_integrity(install.lock)
    headers = {"Authorization": f"Bearer {feed.token}"}
    with httpx.Client(headers=headers, timeout=30) as client, ThreadPoolExecutor(CHECK_CONCURRENCY) as pool:
        answers = list(pool.map(lambda nv: rounds.saved_version(client, version_url(base, *nv)), wanted))
    problems = {
        f"{name}@{version}": problem
        for (name, version), (status, doc) in zip(wanted, answers, strict=True)
        if (problem := problem_of(status, doc, wanted[(name, version)])) is not None
    }
    express = next((doc for (name, _), (_, doc) in zip(wanted, answers, strict=True) if name == "express"), {})
    return {
        "checked": len(wanted),
        "saved_ok": len(wanted) - len(problems),
        "problems": dict(list(problems.items())[:20]),
        "express": rounds.provenance_facts(express),
    }


def describe_saved(check: dict[str, Any]) -> str:
    express = check["express"]
    return (
        f"feed saved {check['saved_ok']}/{check['checked']} versions with provenance and npm's integrity "
        f"(express {express['version']}: source {express['provenance_source']}, verified with "
        f"{express['verified_with']})"
    )


# ---------------------------------------------------------------------------------------------------------------
# Where the time went (npm's own per-request timings)


def request_stats(requests: list[tuple[str, int, str, float]]) -> dict[str, Any]:
    tarballs = [r for r in requests if "/-/" in r[2] and r[2].endswith(".tgz")]
    metadata = [r for r in requests if r not in tarballs]
    return {
        "requests": len(requests),
        "non_200": sorted({f"{r[1]} {r[2]}" for r in requests if r[1] != 200})[:10],
        "packuments": rounds.latency_stats([r[3] for r in metadata]),
        "tarballs": rounds.latency_stats([r[3] for r in tarballs]),
        "slowest": rounds.slowest_of(requests, short_path),
    }


def short_path(path: str) -> str:
    """The package part of a request path (drops the feed's /local/_packaging/bench/npm/registry prefix)."""
    return path.split("/npm/registry/", 1)[-1].lstrip("/")


# ---------------------------------------------------------------------------------------------------------------
# The rounds


@dataclass
class Run(rounds.RunTimes):
    packages: int
    npm_requests: dict[str, Any]
    error: str | None = None  # a failed run is reported, not counted in the medians


Results = rounds.RoundResults[Run]


def timed_install(
    round_no: int, scenario: str, target: str, servers: rounds.RoundServers, upstream: str, redact: Redactor
) -> tuple[Run, Install]:
    registry = servers.registries.get(target)
    url, token = (registry.url, registry.token) if registry is not None else (upstream, "")
    install, cpu = rounds.timed_cpu(registry, lambda: run_install(target, url, token, redact))
    if install.error is None:
        try:
            check_tree(f"{scenario} {target}", install.tree)
        except InstallFailedError as exc:
            install.error = str(exc)
    stats = request_stats(install.requests)
    run = Run(round_no, scenario, target, round(install.seconds, 3), cpu, len(install.tree), stats, install.error)
    print_run(run)
    return run, install


def print_run(run: Run) -> None:
    pk, tb = run.npm_requests["packuments"], run.npm_requests["tarballs"]
    outcome = f"{run.packages} pkgs" if run.error is None else "FAILED"
    print(
        f"  round {run.round}  {run.scenario:<6} {run.target:<9} {run.seconds:6.2f} s  server CPU "
        f"{fmt(run.server_cpu_seconds):>5} s  {outcome}  npm saw: {pk.get('count', 0)} packuments p50 "
        f"{pk.get('median_ms', '-')} / p90 {pk.get('p90_ms', '-')} / max {pk.get('max_ms', '-')} ms, "
        f"{tb.get('count', 0)} tarballs p50 {tb.get('median_ms', '-')} / p90 {tb.get('p90_ms', '-')} ms",
        flush=True,
    )
    rounds.print_run_details(run.npm_requests, run.error)


def tree_differences(tree: dict[str, str], first: dict[str, str]) -> str:
    diff = sorted(set(tree.items()) ^ set(first.items()))
    return f"node_modules differs from the first install in {len(diff)} entries, e.g. {diff[:3]}"


def bench_plan(upstream: str, redact: Redactor, access_log: bool) -> rounds.UpstreamBench[Run]:
    return rounds.UpstreamBench(
        run_dir=RUN_DIR,
        peer="verdaccio",
        peer_name="Verdaccio",
        log_marks=("WARNING", "ERROR", "CRITICAL", "Traceback", " warn ", " error ", " fatal ", "WARN ", "ERR "),
        start=lambda stack, round_no: start_round_servers(stack, round_no, upstream, access_log),
        install=lambda round_no, scenario, target, servers: timed_install(
            round_no, scenario, target, servers, upstream, redact
        ),
        installed=lambda install: install.tree,
        differences=tree_differences,
        verify_saved=verify_saved,
        describe_saved=describe_saved,
    )


# ---------------------------------------------------------------------------------------------------------------
# Summary


def npm_requests_of(run: Run) -> dict[str, Any]:
    return run.npm_requests


def scenario_summary(results: Results) -> dict[str, Any]:
    keys = [("direct", "direct"), *((s, t) for s in ("cold", "warm") for t in SERVERS)]
    out: dict[str, Any] = {}
    for scenario, target in keys:
        runs = results.ok_runs(scenario, target)
        out[rounds.scenario_name(scenario, target)] = {
            **rounds.scenario_entry(results, scenario, target),
            "packuments_median_ms": rounds.median_of_medians(runs, npm_requests_of, "packuments"),
            "tarballs_median_ms": rounds.median_of_medians(runs, npm_requests_of, "tarballs"),
        }
    return out


def summarize(args: argparse.Namespace, results: Results, machine: dict[str, Any], probe_ms: float) -> dict[str, Any]:
    scenarios = scenario_summary(results)
    return {
        "benchmark": "npm install through an upstream: feed server vs Verdaccio, both proxying the live npm registry",
        "command": " ".join(["python", "bench/npm_upstream.py", *sys.argv[1:]]),
        "npm_command": " ".join(NPM_COMMAND) + "  (empty cache, no lockfile, no node_modules)",
        "upstream": "the live npm registry, URL from `npm config get registry` (not recorded)",
        "upstream_probe_ms": round(probe_ms, 1),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine, "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "dependencies": DEPENDENCIES,
        "installed_packages": len(results.reference or {}),
        **rounds.round_fields(args, results),
        "startup_seconds": results.startup_seconds,
        "scenarios": scenarios,
        "ratios": rounds.upstream_ratios(scenarios, "verdaccio"),
        "feed_saved_checks": results.saved_checks,
        "slowest_requests": rounds.slowest_requests(results.runs, npm_requests_of),
        "tree_mismatches": results.mismatches,
        "server_log_issues": results.server_log_issues,
        "runs": [asdict(r) for r in results.runs],
        "note": "ratios < 1 mean the feed is faster/cheaper; server CPU is the server process's user+system time "
        "during one install; npm request latencies are as npm logged them (time to response headers)",
    }


def row(name: str, s: dict[str, Any]) -> str:
    return (
        f"{rounds.run_row_head(name, s, 15)}   server CPU median {fmt(s['server_cpu_median_seconds']):>5} s   npm p50 "
        f"packument {fmt(s['packuments_median_ms'], '.0f')} ms, tarball {fmt(s['tarballs_median_ms'], '.0f')} ms"
    )


REPORT = rounds.Report(
    peer="verdaccio",
    width=15,
    ratio_width=20,
    saved_what="npm's integrity",
    mismatch_key="tree_mismatches",
    mismatch_label="trees",
    slowest_shown=("cold_feed", "warm_feed", "cold_verdaccio", "direct"),
)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    s = summary["scenarios"]
    first = (
        f"SUMMARY  {summary['installed_packages']} packages installed per run ({len(DEPENDENCIES)} direct deps); "
        f"{summary['rounds_done']} of {summary['rounds']} rounds; live registry probe "
        f"{summary['upstream_probe_ms']:.0f} ms"
    )
    rows = [row(name, s[name]) for name in ("direct", "cold_feed", "cold_verdaccio", "warm_feed", "warm_verdaccio")]
    return rounds.summary_lines(summary, REPORT, first, rows)


# ---------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rounds.upstream_arguments(parser)
    args = parser.parse_args(argv)
    rounds.check_upstream_arguments(parser, args, "registry")
    return args


def machine_info() -> dict[str, Any]:
    return {
        **machine_basics(),
        "node": tool_version(["node", "--version"]),
        "npm": tool_version(["npm", "--version"]),
        "verdaccio": ensure_verdaccio(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    upstream = live_registry()
    redact = Redactor(upstream)
    machine = machine_info()
    probe_ms = probe_registry(upstream)
    print(f"live npm registry (from npm config) answers a packument in {probe_ms:.0f} ms", flush=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    results = Results.for_servers(SERVERS)
    plan = bench_plan(upstream, redact, args.access_log)
    print(f"{' '.join(NPM_COMMAND)}  (empty cache, no lockfile, no node_modules), {len(DEPENDENCIES)} direct deps:")
    try:
        rounds.run_rounds(args, results, lambda round_no: rounds.run_round(plan, round_no, results, redact))
    finally:
        # npm caches and lockfiles, server data: they hold registry URLs
        rounds.tidy_run_dir(RUN_DIR, redact, ("npm", "round-*", "project-*"))
    summary = summarize(args, results, machine, probe_ms)
    print_summary(summary_lines(summary))
    write_results(RESULTS_FILE, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
