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
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from _common import (
    BENCH_DIR,
    REPO_DIR,
    WORK_DIR,
    Registry,
    create_feed,
    ensure_verdaccio,
    exit_on_sigterm,
    fmt,
    installed_tree,
    median_or_none,
    npm_env,
    ratio,
    start_feed_process,
    start_verdaccio_process,
    tool_version,
)

RUN_DIR = WORK_DIR / "upstream"
RESULTS_FILE = BENCH_DIR / "results" / "npm_upstream.json"
FEED_NAME = "bench"
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
    if out.returncode != 0 or not url.startswith(("http://", "https://")):
        raise RuntimeError(f"`npm config get registry` gave no URL (exit {out.returncode}): {out.stderr[-500:]}")
    return url if url.endswith("/") else url + "/"


def probe_registry(url: str) -> float:
    """Milliseconds for one small packument GET from the live registry; raises when it does not answer 200."""
    started = time.perf_counter()
    try:
        resp = httpx.get(f"{url}ms", headers={"Accept": "application/vnd.npm.install-v1+json"}, timeout=30)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"the live npm registry did not answer: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        raise RuntimeError(f"the live npm registry answered HTTP {resp.status_code} for a packument")
    return (time.perf_counter() - started) * 1000


class Redactor:
    """Replaces the live registry's address in text that may end up in a file or the summary."""

    def __init__(self, url: str) -> None:
        self.netloc = urlsplit(url).netloc
        self.url = url

    def __call__(self, text: str) -> str:
        return text.replace(self.url, "<registry>/").replace(self.netloc, "<registry>")


# ---------------------------------------------------------------------------------------------------------------
# Servers


@dataclass
class RoundServers:
    feed: Registry
    verdaccio: Registry
    feed_log: Path
    verdaccio_log: Path


def start_upstream_feed(stack: ExitStack, round_dir: Path, log: Path, upstream: str, access_log: bool) -> Registry:
    env = {
        "FEED_STORAGE": "embedded",
        "FEED_PUBLIC_SOURCES": "{}",
        "FEED_LOG_LEVEL": "WARNING",
        "FEED_ORGANIZATION": "local",
    }
    extra = ("--access-log",) if access_log else ()
    feed = start_feed_process(stack, round_dir / "feed-data", log, env, extra)
    create_feed(feed.base, feed.token, FEED_NAME)
    set_upstream(feed.base, feed.token, upstream)
    url = f"{feed.base}/local/_packaging/{FEED_NAME}/npm/registry/"
    return Registry("feed", url, feed.token, feed.pid, feed.startup_seconds)


def set_upstream(base: str, token: str, upstream: str) -> None:
    source = {"name": SOURCE_NAME, "protocol": "npm", "location": upstream, "upstreamSourceType": "public"}
    resp = httpx.patch(
        f"{base}/local/_apis/packaging/feeds/{FEED_NAME}",
        params={"api-version": "7.1"},
        headers={"Authorization": f"Bearer {token}"},
        json={"upstreamSources": [source]},
        timeout=30,
    )
    if resp.status_code != 200:
        raise RuntimeError(f"setting the feed's upstream failed: HTTP {resp.status_code} {resp.text[:300]}")
    sources = resp.json().get("upstreamSources") or []
    if not any(s.get("name") == SOURCE_NAME and s.get("protocol") == "npm" for s in sources):
        raise RuntimeError(f"the feed did not keep the upstream source: {resp.text[:300]}")


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


def start_round_servers(stack: ExitStack, round_no: int, upstream: str, access_log: bool) -> RoundServers:
    round_dir = RUN_DIR / f"round-{round_no}"
    logs = RUN_DIR / "logs"
    feed_log, verdaccio_log = logs / f"feed-round-{round_no}.log", logs / f"verdaccio-round-{round_no}.log"
    feed = start_upstream_feed(stack, round_dir, feed_log, upstream, access_log)
    verdaccio = start_upstream_verdaccio(stack, round_dir, verdaccio_log, upstream)
    return RoundServers(feed, verdaccio, feed_log, verdaccio_log)


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


def clean_project(project: Path, cache: Path) -> None:
    shutil.rmtree(project / "node_modules", ignore_errors=True)
    (project / "package-lock.json").unlink(missing_ok=True)
    shutil.rmtree(cache, ignore_errors=True)


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


def saved_version(client: httpx.Client, base: str, name: str, version: str) -> tuple[int, dict[str, Any]]:
    url = f"{base}/local/_apis/packaging/feeds/{FEED_NAME}/npm/{quote(name, safe='@/')}/versions/{quote(version)}"
    resp = client.get(url, params={"api-version": "7.1"})
    return resp.status_code, resp.json() if resp.status_code == 200 else {}


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
    if status != 200:
        return f"HTTP {status}"
    provenance = doc.get("provenance")
    if not isinstance(provenance, dict) or not provenance:
        return "no provenance block"
    if (provenance.get("source") or {}).get("name") != SOURCE_NAME:
        return f"provenance source is {provenance.get('source')!r}"
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
        answers = list(pool.map(lambda nv: saved_version(client, base, *nv), wanted))
    problems = {
        f"{name}@{version}": problem
        for (name, version), (status, doc) in zip(wanted, answers, strict=True)
        if (problem := problem_of(status, doc, wanted[(name, version)])) is not None
    }
    express = next((doc for (name, _), (_, doc) in zip(wanted, answers, strict=True) if name == "express"), {})
    provenance = express.get("provenance") or {}
    return {
        "checked": len(wanted),
        "saved_ok": len(wanted) - len(problems),
        "problems": dict(list(problems.items())[:20]),
        "express": {
            "version": express.get("version"),
            "provenance_source": (provenance.get("source") or {}).get("name"),
            "verified_with": provenance.get("verifiedWith"),
            "saved_by": provenance.get("savedBy"),
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# Where the time went (npm's own per-request timings)


def latency_stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered)),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]),
        "max_ms": round(ordered[-1]),
        "sum_s": round(sum(ordered) / 1000, 2),
    }


def request_stats(requests: list[tuple[str, int, str, float]]) -> dict[str, Any]:
    tarballs = [r for r in requests if "/-/" in r[2] and r[2].endswith(".tgz")]
    metadata = [r for r in requests if r not in tarballs]
    slowest = sorted(requests, key=lambda r: -r[3])[:5]
    return {
        "requests": len(requests),
        "non_200": sorted({f"{r[1]} {r[2]}" for r in requests if r[1] != 200})[:10],
        "packuments": latency_stats([r[3] for r in metadata]),
        "tarballs": latency_stats([r[3] for r in tarballs]),
        "slowest": [f"{r[3]:.0f} ms {r[0]} {r[1]} {short_path(r[2])}" for r in slowest],
    }


def short_path(path: str) -> str:
    """The package part of a request path (drops the feed's /local/_packaging/bench/npm/registry prefix)."""
    return path.split("/npm/registry/", 1)[-1].lstrip("/")


# ---------------------------------------------------------------------------------------------------------------
# The rounds


@dataclass
class Run:
    round: int
    scenario: str  # cold | warm | direct
    target: str  # feed | verdaccio | direct
    seconds: float
    server_cpu_seconds: float | None
    packages: int
    npm_requests: dict[str, Any]
    error: str | None = None  # a failed run is reported, not counted in the medians


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    saved_checks: list[dict[str, Any]] = field(default_factory=list)
    tree_mismatches: list[str] = field(default_factory=list)
    server_log_issues: dict[str, list[str]] = field(default_factory=dict)
    startup_seconds: dict[str, list[float]] = field(default_factory=lambda: {"feed": [], "verdaccio": []})
    reference_tree: dict[str, str] = field(default_factory=dict)
    rounds_done: int = 0
    stopped_early: str | None = None

    def ok_runs(self, scenario: str, target: str) -> list[Run]:
        return [r for r in self.runs if r.scenario == scenario and r.target == target and r.error is None]


def cpu_seconds(registry: Registry | None) -> float | None:
    return registry.cpu_seconds() if registry is not None else None


def timed_install(
    round_no: int, scenario: str, target: str, servers: RoundServers, upstream: str, redact: Redactor
) -> tuple[Run, Install]:
    registry = getattr(servers, target) if target in SERVERS else None
    url, token = (registry.url, registry.token) if registry is not None else (upstream, "")
    before = cpu_seconds(registry)
    install = run_install(target, url, token, redact)
    after = cpu_seconds(registry)
    if install.error is None:
        try:
            check_tree(f"{scenario} {target}", install.tree)
        except InstallFailedError as exc:
            install.error = str(exc)
    cpu = round(after - before, 3) if before is not None and after is not None else None
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
    print(f"           slowest: {'; '.join(run.npm_requests['slowest'][:3])}", flush=True)
    if run.npm_requests["non_200"]:
        print(f"           non-200 answers: {', '.join(run.npm_requests['non_200'][:5])}", flush=True)
    if run.error:
        print(f"           error: {run.error.replace(chr(10), chr(10) + '           ')}", flush=True)


def compare_tree(results: Results, label: str, tree: dict[str, str]) -> None:
    if not results.reference_tree:
        results.reference_tree = tree
        return
    if tree != results.reference_tree:
        diff = sorted(set(tree.items()) ^ set(results.reference_tree.items()))
        note = f"{label}: node_modules differs from the first install in {len(diff)} entries, e.g. {diff[:3]}"
        results.tree_mismatches.append(note)
        print(f"  WARNING {note}", flush=True)


def log_issues(log: Path, redact: Redactor) -> list[str]:
    """Warning/error lines (and tracebacks) a server wrote to its log."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    marks = ("WARNING", "ERROR", "CRITICAL", "Traceback", " warn ", " error ", " fatal ", "WARN ", "ERR ")
    return [redact(line.strip())[:400] for line in lines if any(m in line for m in marks)]


def run_round(round_no: int, upstream: str, results: Results, redact: Redactor, access_log: bool) -> None:
    order = [TARGETS[(round_no - 1 + i) % len(TARGETS)] for i in range(len(TARGETS))]
    with ExitStack() as stack:
        servers = start_round_servers(stack, round_no, upstream, access_log)
        for label in SERVERS:
            results.startup_seconds[label].append(round(getattr(servers, label).startup_seconds, 2))
        print(f"round {round_no}: fresh feed and Verdaccio started; order {', '.join(order)}", flush=True)
        for target in order:
            cold_install(round_no, target, servers, upstream, results, redact)
        for target in (t for t in order if t in SERVERS):
            run, install = timed_install(round_no, "warm", target, servers, upstream, redact)
            results.runs.append(run)
            if run.error is None:
                compare_tree(results, f"round {round_no} warm {target}", install.tree)
    collect_log_issues(round_no, servers, results, redact)
    shutil.rmtree(RUN_DIR / f"round-{round_no}", ignore_errors=True)  # stored packages: bounded disk use


def cold_install(
    round_no: int, target: str, servers: RoundServers, upstream: str, results: Results, redact: Redactor
) -> None:
    """The first install through a fresh server (or straight from the registry); for the feed, check what it saved."""
    scenario = "direct" if target == "direct" else "cold"
    run, install = timed_install(round_no, scenario, target, servers, upstream, redact)
    results.runs.append(run)
    if run.error is not None:
        if target == "feed":
            results.saved_checks.append({"round": round_no, "skipped": "the cold install failed"})
        return
    compare_tree(results, f"round {round_no} {scenario} {target}", install.tree)
    if target != "feed":
        return
    check = {"round": round_no, **verify_saved(servers.feed, install)}
    results.saved_checks.append(check)
    express = check["express"]
    print(
        f"           feed saved {check['saved_ok']}/{check['checked']} versions with provenance and npm's integrity "
        f"(express {express['version']}: source {express['provenance_source']}, verified with "
        f"{express['verified_with']})",
        flush=True,
    )
    for what, problem in list(check["problems"].items())[:5]:
        print(f"           NOT SAVED RIGHT: {what}: {problem}", flush=True)


def collect_log_issues(round_no: int, servers: RoundServers, results: Results, redact: Redactor) -> None:
    for label, log in (("feed", servers.feed_log), ("verdaccio", servers.verdaccio_log)):
        issues = log_issues(log, redact)
        if issues:
            results.server_log_issues[f"{label} round {round_no}"] = issues[:20]
            print(f"  NOTE {label} log of round {round_no}: {len(issues)} warning/error lines, e.g. {issues[0]}")


# ---------------------------------------------------------------------------------------------------------------
# Summary


def scenario_summary(results: Results) -> dict[str, Any]:
    keys = [("direct", "direct"), *((s, t) for s in ("cold", "warm") for t in SERVERS)]
    out: dict[str, Any] = {}
    for scenario, target in keys:
        name = "direct" if scenario == "direct" else f"{scenario}_{target}"
        runs = results.ok_runs(scenario, target)
        failed = [r for r in results.runs if r.scenario == scenario and r.target == target and r.error is not None]
        out[name] = {
            "seconds": [r.seconds for r in runs],
            "median_seconds": median_or_none([r.seconds for r in runs]),
            "failed_runs": [{"round": r.round, "seconds": r.seconds, "error": r.error} for r in failed],
            "server_cpu_seconds": [r.server_cpu_seconds for r in runs],
            "server_cpu_median_seconds": median_or_none(
                [r.server_cpu_seconds for r in runs if r.server_cpu_seconds is not None]
            ),
            "packuments_median_ms": median_of_medians(runs, "packuments"),
            "tarballs_median_ms": median_of_medians(runs, "tarballs"),
        }
    return out


def median_of_medians(runs: list[Run], kind: str) -> float | None:
    return median_or_none([float(r.npm_requests[kind]["median_ms"]) for r in runs if r.npm_requests[kind]["count"]])


def ratios(s: dict[str, Any]) -> dict[str, Any]:
    m = {k: v["median_seconds"] for k, v in s.items()}
    warm = ratio(m["warm_feed"], m["warm_verdaccio"])
    cold_direct = ratio(m["cold_feed"], m["direct"])
    return {
        "warm_feed_over_verdaccio": warm,
        "warm_target": 1.0,
        "warm_meets_target": warm is not None and warm <= 1.0,
        "cold_feed_over_direct": cold_direct,
        "cold_direct_target": 1.2,
        "cold_direct_meets_target": cold_direct is not None and cold_direct <= 1.2,
        "cold_feed_over_verdaccio": ratio(m["cold_feed"], m["cold_verdaccio"]),
        "cold_verdaccio_over_direct": ratio(m["cold_verdaccio"], m["direct"]),
        "warm_feed_over_direct": ratio(m["warm_feed"], m["direct"]),
        "cpu_cold_feed_over_verdaccio": ratio(
            s["cold_feed"]["server_cpu_median_seconds"], s["cold_verdaccio"]["server_cpu_median_seconds"]
        ),
        "cpu_warm_feed_over_verdaccio": ratio(
            s["warm_feed"]["server_cpu_median_seconds"], s["warm_verdaccio"]["server_cpu_median_seconds"]
        ),
    }


def slowest_requests(results: Results) -> dict[str, list[str]]:
    """Per scenario, the slowest requests npm saw in any of its runs (where the time went)."""
    out: dict[str, list[str]] = {}
    for run in results.runs:
        key = run.target if run.scenario == "direct" else f"{run.scenario}_{run.target}"
        out.setdefault(key, []).extend(f"round {run.round}: {entry}" for entry in run.npm_requests["slowest"][:3])
    return {k: sorted(v, key=lambda e: -float(e.split(": ", 1)[1].split(" ", 1)[0]))[:5] for k, v in out.items()}


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
        "installed_packages": len(results.reference_tree),
        "rounds": args.rounds,
        "rounds_done": results.rounds_done,
        "stopped_early": results.stopped_early,
        "budget_minutes": args.budget_minutes,
        "startup_seconds": results.startup_seconds,
        "scenarios": scenarios,
        "ratios": ratios(scenarios),
        "feed_saved_checks": results.saved_checks,
        "slowest_requests": slowest_requests(results),
        "tree_mismatches": results.tree_mismatches,
        "server_log_issues": results.server_log_issues,
        "runs": [asdict(r) for r in results.runs],
        "note": "ratios < 1 mean the feed is faster/cheaper; server CPU is the server process's user+system time "
        "during one install; npm request latencies are as npm logged them (time to response headers)",
    }


def row(name: str, s: dict[str, Any]) -> str:
    runs = ", ".join(f"{x:.2f}" for x in s["seconds"])
    failed = f" + {len(s['failed_runs'])} FAILED" if s["failed_runs"] else ""
    return (
        f"  {name:<15} median {fmt(s['median_seconds']):>6} s   runs [{runs}]{failed}   server CPU median "
        f"{fmt(s['server_cpu_median_seconds']):>5} s   npm p50 packument {fmt(s['packuments_median_ms'], '.0f')} ms, "
        f"tarball {fmt(s['tarballs_median_ms'], '.0f')} ms"
    )


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "meets target" if value <= target else "MISSES target"


def saved_line(check: dict[str, Any]) -> str:
    if "skipped" in check:
        return f"round {check['round']}: not checked ({check['skipped']})"
    return f"round {check['round']}: {check['saved_ok']}/{check['checked']} with provenance and npm's integrity"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    s, r, machine = summary["scenarios"], summary["ratios"], summary["machine"]
    saved = summary["feed_saved_checks"]
    return [
        f"SUMMARY  {summary['installed_packages']} packages installed per run ({len(DEPENDENCIES)} direct deps); "
        f"{summary['rounds_done']} of {summary['rounds']} rounds; live registry probe "
        f"{summary['upstream_probe_ms']:.0f} ms",
        *([f"  NOTE           {summary['stopped_early']}"] if summary["stopped_early"] else []),
        f"  machine        {machine['cpus']} CPUs, load avg (1 min) {machine['load_avg_1m_start']} at start, "
        f"{machine['load_avg_1m_end']} at end (shared machine: wall times are noisy)",
        *(row(name, s[name]) for name in ("direct", "cold_feed", "cold_verdaccio", "warm_feed", "warm_verdaccio")),
        f"  warm feed/verdaccio  = {fmt(r['warm_feed_over_verdaccio'], '.3f')}  (target <= 1.0: "
        f"{verdict(r['warm_feed_over_verdaccio'], 1.0)})",
        f"  cold feed/direct     = {fmt(r['cold_feed_over_direct'], '.3f')}  (target <= 1.2: "
        f"{verdict(r['cold_feed_over_direct'], 1.2)})",
        f"  cold feed/verdaccio  = {fmt(r['cold_feed_over_verdaccio'], '.3f')}   "
        f"(cold verdaccio/direct = {fmt(r['cold_verdaccio_over_direct'], '.3f')}, "
        f"warm feed/direct = {fmt(r['warm_feed_over_direct'], '.3f')})",
        f"  server CPU per install, feed/verdaccio: cold {fmt(r['cpu_cold_feed_over_verdaccio'], '.3f')}, "
        f"warm {fmt(r['cpu_warm_feed_over_verdaccio'], '.3f')}  (< 1: feed cheaper)",
        "  feed saved     " + "; ".join(saved_line(c) for c in saved),
        *(
            f"  slowest {name:<14} {', '.join(e.split(': ', 1)[1] for e in entries[:3])}"
            for name, entries in summary["slowest_requests"].items()
            if name in ("cold_feed", "warm_feed", "cold_verdaccio", "direct")
        ),
        f"  trees          {'MISMATCHES (see JSON)' if summary['tree_mismatches'] else 'identical in every install'}",
        f"  server logs    {sum(len(v) for v in summary['server_log_issues'].values())} warning/error lines"
        + (f" ({', '.join(summary['server_log_issues'])})" if summary["server_log_issues"] else ""),
    ]


def print_summary(summary: dict[str, Any]) -> None:
    rule = "=" * 100
    print("\n".join([rule, *summary_lines(summary), rule]))


def write_results(summary: dict[str, Any]) -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"Results written to {RESULTS_FILE.relative_to(REPO_DIR)}")


# ---------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each has fresh servers (default 3, max 10)")
    parser.add_argument("--access-log", action="store_true", help="start the feed with --access-log (diagnosis)")
    parser.add_argument(
        "--budget-minutes", type=float, default=10, help="start no round that would likely end later (default 10)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10 or args.budget_minutes <= 0:
        parser.error("need 1 <= --rounds <= 10 (every round hits the live registry) and --budget-minutes > 0")
    return args


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
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
    results = Results()
    print(f"{' '.join(NPM_COMMAND)}  (empty cache, no lockfile, no node_modules), {len(DEPENDENCIES)} direct deps:")
    try:
        run_rounds(args, upstream, results, redact)
    finally:
        tidy_run_dir(redact)
    summary = summarize(args, results, machine, probe_ms)
    print_summary(summary)
    write_results(summary)
    return 0


def run_rounds(args: argparse.Namespace, upstream: str, results: Results, redact: Redactor) -> None:
    """Up to args.rounds rounds; a round is not started when it would likely end past the time budget."""
    started = time.perf_counter()
    longest = 0.0
    for round_no in range(1, args.rounds + 1):
        elapsed = time.perf_counter() - started
        if round_no > 1 and elapsed + longest > args.budget_minutes * 60:
            results.stopped_early = (
                f"stopped after {round_no - 1} of {args.rounds} rounds: another round (~{longest:.0f} s) would end "
                f"past the {args.budget_minutes} min budget ({elapsed:.0f} s used)"
            )
            print(f"NOTE {results.stopped_early}", flush=True)
            return
        round_started = time.perf_counter()
        run_round(round_no, upstream, results, redact, args.access_log)
        longest = max(longest, time.perf_counter() - round_started)
        results.rounds_done = round_no


def tidy_run_dir(redact: Redactor) -> None:
    """Drop what holds registry URLs (npm caches and lockfiles, server data); redact the kept server logs."""
    for path in [RUN_DIR / "npm", *RUN_DIR.glob("round-*"), *RUN_DIR.glob("project-*")]:
        shutil.rmtree(path, ignore_errors=True)
    for log in (RUN_DIR / "logs").glob("*.log"):
        log.write_text(redact(log.read_text(errors="replace")))


if __name__ == "__main__":
    sys.exit(main())
