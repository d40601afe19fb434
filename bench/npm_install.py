"""npm install benchmark: the feed server against Verdaccio 6.8.0, both local, both without upstreams.

    python bench/npm_install.py [--packages 200] [--rounds 5] [--wrk-seconds 5] [--storage embedded|azure|both]

Steps: install Verdaccio (pinned in bench/verdaccio/package.json) into bench/.work/verdaccio; generate a
deterministic set of small npm packages with a dependency tree; start the feed server and Verdaccio on free
127.0.0.1 ports; publish the same packages to both; time clean `npm install` runs of a project that depends on all
of them, rotating which registry goes first; measure warm packument GET throughput with wrk; print a summary and
write it to bench/results/npm_install.json. All servers are stopped at the end, also on errors.

--storage picks the feed's store: `embedded` (the default: SQLite and files), `azure` (Azure Tables and Blobs on an
in-memory Azurite that the benchmark starts itself from tools/node_modules, on free loopback ports), or `both`
(the embedded feed and the Azurite feed side by side with Verdaccio, the same workload on each, and the
Azurite/embedded ratios against the issue's targets). For the Azure feed it also reports the storage calls
(requests in Azurite's access log) at start-up, per publish, per install and per warm GET, and Azurite's own CPU
time, apart from the server's.

Everything stays on 127.0.0.1: Verdaccio is configured without uplinks, the feed without public sources.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _azurite import Azurite, Calls, start_azurite
from _common import (
    REPO_DIR,
    WORK_DIR,
    Registry,
    clean_project,
    create_feed,
    ensure_verdaccio,
    exit_on_sigterm,
    fmt,
    installed_tree,
    machine_basics,
    median_or_none,
    npm_env,
    ratio,
    start_feed_process,
    start_verdaccio_process,
    tool_version,
)

BENCH_DIR = Path(__file__).resolve().parent
RUN_DIR = WORK_DIR / "run"
RESULTS_FILE = BENCH_DIR / "results" / "npm_install.json"

SEED = 20240611
FEED_NAME = "bench"
SCOPE = "@bench"
PUBLISH_CONCURRENCY = 8
ABBREVIATED = "application/vnd.npm.install-v1+json"
HOT_VERSIONS = 6  # versions of the package whose packument wrk hammers (package index 0)


# ---------------------------------------------------------------------------------------------------------------
# Package generation


@dataclass(frozen=True)
class PackageVersion:
    name: str
    version: str
    dependencies: dict[str, str]
    tarball: bytes

    @property
    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": f"benchmark package {self.name}",
            "main": "index.js",
            "license": "MIT",
            "dependencies": self.dependencies,
        }


@dataclass
class Package:
    name: str
    versions: list[PackageVersion] = field(default_factory=list)

    @property
    def latest(self) -> str:
        return self.versions[-1].version


def package_name(index: int) -> str:
    return f"{SCOPE}/pkg-{index:03d}" if index % 3 == 0 else f"bench-pkg-{index:03d}"


def version_list(index: int) -> list[str]:
    """Most packages have one version; some two minors, some two majors (which forces nested installs)."""
    if index == 0:
        return [f"1.{minor}.0" for minor in range(HOT_VERSIONS)]
    if index % 10 == 3:
        return ["1.0.0", "2.0.0"]
    if index % 5 == 1:
        return ["1.0.0", "1.1.0"]
    return ["1.0.0"]


def dependency_range(rng: random.Random, versions: list[str]) -> str:
    majors = sorted({v.split(".")[0] for v in versions})
    return f"^{rng.choice(majors)}.0.0"


def pick_dependencies(rng: random.Random, index: int, versions_of: list[list[str]]) -> dict[str, str]:
    count = min(index, rng.randint(0, 3))
    chosen = rng.sample(range(index), count) if count else []
    return {package_name(j): dependency_range(rng, versions_of[j]) for j in sorted(chosen)}


def make_tarball(manifest: dict[str, Any], body: str) -> bytes:
    """A deterministic .tgz with package/package.json and package/index.js."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, text in (("package/package.json", json.dumps(manifest, indent=2) + "\n"), ("package/index.js", body)):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 499162500, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def index_js(rng: random.Random, name: str, version: str, deps: dict[str, str]) -> str:
    requires = "".join(f"require({json.dumps(d)});\n" for d in deps)
    words = " ".join(f"w{rng.randrange(10_000)}" for _ in range(rng.randint(50, 400)))
    return f"{requires}// {words}\nmodule.exports = {{ name: {json.dumps(name)}, version: {json.dumps(version)} }};\n"


def generate_packages(count: int) -> list[Package]:
    rng = random.Random(SEED)  # noqa: S311 - deterministic test data, not cryptography
    versions_of = [version_list(i) for i in range(count)]
    packages: list[Package] = []
    for index in range(count):
        name = package_name(index)
        deps = pick_dependencies(rng, index, versions_of)
        package = Package(name)
        for version in versions_of[index]:
            manifest = PackageVersion(name, version, deps, b"").manifest
            tarball = make_tarball(manifest, index_js(rng, name, version, deps))
            package.versions.append(PackageVersion(name, version, deps, tarball))
        packages.append(package)
    return packages


def write_project(project_dir: Path, packages: list[Package]) -> None:
    project_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "feed-bench-project",
        "version": "1.0.0",
        "private": True,
        "dependencies": {p.name: f"^{p.latest}" for p in packages},
    }
    (project_dir / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Publishing


def escape_name(name: str) -> str:
    return name.replace("/", "%2f")


def publish_body(pv: PackageVersion, registry: str) -> dict[str, Any]:
    filename = f"{pv.name.split('/')[-1]}-{pv.version}.tgz"
    dist = {
        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(pv.tarball).digest()).decode(),
        "shasum": hashlib.sha1(pv.tarball).hexdigest(),  # noqa: S324 - npm's shasum is SHA-1 by definition
        "tarball": f"{registry}{pv.name}/-/{filename}",
    }
    version_doc = {**pv.manifest, "_id": f"{pv.name}@{pv.version}", "dist": dist}
    return {
        "_id": pv.name,
        "name": pv.name,
        "description": pv.manifest["description"],
        "dist-tags": {"latest": pv.version},
        "versions": {pv.version: version_doc},
        "access": None,
        "_attachments": {
            f"{pv.name}-{pv.version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(pv.tarball).decode(),
                "length": len(pv.tarball),
            }
        },
    }


def publish_package(client: httpx.Client, registry: str, package: Package) -> list[str]:
    """Publish every version in order; returns error descriptions (empty when all succeeded)."""
    errors = []
    for pv in package.versions:
        resp = client.put(f"{registry}{escape_name(pv.name)}", json=publish_body(pv, registry))
        if resp.status_code not in (200, 201):
            errors.append(f"{pv.name}@{pv.version}: HTTP {resp.status_code} {resp.text[:200]}")
    return errors


def publish_all(registry: str, token: str, packages: list[Package]) -> float:
    """Publish all packages with PUBLISH_CONCURRENCY threads; raises on any failure; returns seconds."""
    headers = {"Authorization": f"Bearer {token}", "npm-command": "publish"}
    limits = httpx.Limits(max_connections=PUBLISH_CONCURRENCY)
    started = time.perf_counter()
    with (
        httpx.Client(headers=headers, timeout=60, limits=limits) as client,
        ThreadPoolExecutor(PUBLISH_CONCURRENCY) as pool,
    ):
        results = list(pool.map(lambda p: publish_package(client, registry, p), packages))
    elapsed = time.perf_counter() - started
    errors = [e for errs in results for e in errs]
    if errors:
        raise RuntimeError(f"{len(errors)} publishes failed against {registry}:\n  " + "\n  ".join(errors[:10]))
    return elapsed


# ---------------------------------------------------------------------------------------------------------------
# Processes and servers


STORAGES = {"embedded": ("feed",), "azure": ("azure",), "both": ("feed", "azure")}


@dataclass(frozen=True)
class Sample:
    """What a backend has used so far (or, as a difference, during one step); None where it cannot be measured."""

    server_cpu: float | None  # the registry process alone (for the Azure feed: not Azurite)
    storage_cpu: float | None  # Azurite's own process (Azure feed only)
    calls: Calls | None  # storage calls Azurite answered (Azure feed only)

    def __sub__(self, before: Sample) -> Sample:
        def sub(a: Any, b: Any) -> Any:
            return a - b if a is not None and b is not None else None

        return Sample(
            sub(self.server_cpu, before.server_cpu),
            sub(self.storage_cpu, before.storage_cpu),
            sub(self.calls, before.calls),
        )


@dataclass
class Backend:
    """A registry under test; for the feed on Azure storage also the Azurite it talks to (it has its own)."""

    registry: Registry
    azurite: Azurite | None = None
    startup_calls: int | None = None
    first_request_calls: int | None = None
    publish_calls: int | None = None

    def sample(self, settle: bool = False) -> Sample:
        """CPU used and calls served so far; settle=True first waits until Azurite's log has caught up."""
        if self.azurite is None:
            return Sample(self.registry.cpu_seconds(), None, None)
        calls = self.azurite.settled_calls() if settle else self.azurite.calls()
        return Sample(self.registry.cpu_seconds(), self.azurite.cpu_seconds(), calls)


def start_feed(stack: ExitStack, label: str) -> Backend:
    """The feed server on the embedded store ("feed") or on a fresh Azurite of its own ("azure")."""
    env = {
        "FEED_STORAGE": "embedded",
        "FEED_PUBLIC_SOURCES": "{}",
        "FEED_LOG_LEVEL": "WARNING",
        "FEED_ORGANIZATION": "local",
    }
    azurite = None
    if label == "azure":
        suffix = secrets.token_hex(4)
        azurite = start_azurite(stack, RUN_DIR / "azurite", RUN_DIR / "logs" / "azurite.log", f"bench-{suffix}")
        env |= {
            "FEED_STORAGE": "azure",
            "FEED_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "FEED_TABLE_PREFIX": f"bench{suffix}",
            "FEED_BLOB_CONTAINER": azurite.container,
            # Stated, so the warm GET's revalidation bound is computed from what the server really runs with.
            "FEED_READ_FRESHNESS_SECONDS": str(READ_FRESHNESS_SECONDS),
            "FEED_CACHE_SECONDS": str(CACHE_SECONDS),
        }
    feed = start_feed_process(stack, RUN_DIR / f"{label}-data", RUN_DIR / "logs" / f"{label}.log", env)
    backend = Backend(
        Registry(
            label, f"{feed.base}/local/_packaging/{FEED_NAME}/npm/registry/", feed.token, feed.pid, feed.startup_seconds
        ),
        azurite,
    )
    if azurite is not None:
        backend.startup_calls = azurite.settled_calls().total  # serve's bootstrap and start-up, until /_health answers
        list_feeds(feed.base, feed.token)
        backend.first_request_calls = azurite.settled_calls().total - backend.startup_calls
    create_feed(feed.base, feed.token, FEED_NAME)
    return backend


def list_feeds(base: str, token: str) -> None:
    """The first authenticated request a fresh server answers (what it costs in storage calls is reported)."""
    headers = {"Authorization": f"Bearer {token}"}
    resp = httpx.get(f"{base}/local/_apis/packaging/feeds", params={"api-version": "7.1"}, headers=headers, timeout=30)
    if resp.status_code != 200:
        raise RuntimeError(f"listing feeds failed: HTTP {resp.status_code} {resp.text[:300]}")


# Verdaccio's default API token is a "legacy" token that makes it re-check the bcrypt password on every request
# (~200-600 ms each here); JWT API tokens are what a real deployment uses, so the benchmark configures those.
VERDACCIO_CONFIG = """\
storage: {storage}
auth:
  htpasswd:
    file: {htpasswd}
    max_users: 100
uplinks: {{}}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
middlewares:
  audit:
    enabled: false
web:
  enable: false
server:
  keepAliveTimeout: 60
max_body_size: 100mb
security:
  api:
    jwt:
      sign:
        expiresIn: 7d
log: {{type: stdout, format: pretty, level: warn}}
"""


def start_verdaccio(stack: ExitStack) -> Backend:
    vdir = RUN_DIR / "verdaccio"
    config = VERDACCIO_CONFIG.format(storage=vdir / "storage", htpasswd=vdir / "htpasswd")
    return Backend(start_verdaccio_process(stack, vdir, config, RUN_DIR / "logs" / "verdaccio.log", "verdaccio"))


def start_backends(stack: ExitStack, storage: str) -> dict[str, Backend]:
    backends = {label: start_feed(stack, label) for label in STORAGES[storage]}
    return {**backends, "verdaccio": start_verdaccio(stack)}


def publish_to(backend: Backend, packages: list[Package]) -> None:
    registry = backend.registry
    before = backend.sample()
    registry.publish_seconds = publish_all(registry.url, registry.token, packages)
    used = backend.sample(settle=True) - before
    backend.publish_calls = used.calls.total if used.calls is not None else None
    calls = f", {backend.publish_calls} storage calls" if backend.publish_calls is not None else ""
    print(f"  published {len(packages)} packages in {registry.publish_seconds:.2f} s{calls}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Tools


def ensure_wrk() -> str | None:
    """Path of wrk, installing it with apt-get if needed; None (with a note) when it cannot be had."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get"):
        print("wrk not found; trying apt-get install -y wrk ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        print("NOTE: wrk is not available and could not be installed: the packument throughput part is SKIPPED.")
    return found


# ---------------------------------------------------------------------------------------------------------------
# npm install runs


def run_install(registry: Registry, project: Path) -> float:
    """One clean `npm install` against registry; returns seconds; raises when npm fails."""
    home = RUN_DIR / "npm" / registry.label
    home.mkdir(parents=True, exist_ok=True)
    userconfig, cache, globalconfig = home / "npmrc", home / "cache", home / "globalnpmrc"
    userconfig.write_text(registry.npmrc)
    globalconfig.write_text("")
    clean_project(project, cache)
    cmd = ["npm", "install", "--no-audit", "--no-fund", "--prefer-online"]
    started = time.perf_counter()
    out = subprocess.run(
        cmd,
        cwd=project,
        env=npm_env(userconfig, cache, globalconfig),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"npm install against {registry.label} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return elapsed


def verify_install(project: Path, packages: list[Package]) -> dict[str, str]:
    tree = installed_tree(project / "node_modules")
    published = {(p.name, v.version) for p in packages for v in p.versions}
    wrong_top = [p.name for p in packages if tree.get(p.name) != p.latest]
    if wrong_top:
        raise RuntimeError(f"install is missing/wrong for {len(wrong_top)} top-level packages, e.g. {wrong_top[:5]}")
    unknown = [k for k, v in tree.items() if (k.rsplit("node_modules/", 1)[-1], v) not in published]
    if unknown:
        raise RuntimeError(f"install contains packages that were never published: {unknown[:5]}")
    return tree


@dataclass
class InstallResults:
    labels: list[str]
    runs: dict[str, list[float]] = field(default_factory=dict)
    server_cpu: dict[str, list[float]] = field(default_factory=dict)
    storage_cpu: dict[str, list[float]] = field(default_factory=dict)
    storage_calls: dict[str, list[float]] = field(default_factory=dict)
    warmup: dict[str, float] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for per_label in (self.runs, self.server_cpu, self.storage_cpu, self.storage_calls):
            per_label.update({label: [] for label in self.labels})

    def add(self, label: str, seconds: float, used: Sample) -> None:
        self.runs[label].append(seconds)
        for per_label, value in (
            (self.server_cpu, used.server_cpu),
            (self.storage_cpu, used.storage_cpu),
            (self.storage_calls, used.calls.total if used.calls is not None else None),
        ):
            if value is not None:
                per_label[label].append(value)


def install_once(
    backend: Backend, project: Path, packages: list[Package], results: InstallResults
) -> tuple[float, Sample]:
    """One verified install: wall seconds and what the server (and its storage) used for it."""
    registry = backend.registry
    before = backend.sample()
    seconds = run_install(registry, project)
    used = backend.sample(settle=True) - before
    tree = verify_install(project, packages)
    previous = results.trees.setdefault(registry.label, tree)
    if previous != tree:
        raise RuntimeError(f"{registry.label}: install tree differs between runs")
    return seconds, used


def bench_installs(
    backends: dict[str, Backend], project: Path, packages: list[Package], rounds: int, warmup: bool
) -> InstallResults:
    labels = list(backends)
    results = InstallResults(labels)
    if warmup:
        for label, backend in backends.items():
            results.warmup[label] = install_once(backend, project, packages, results)[0]
            print(f"  warm-up      {label:<9} {results.warmup[label]:6.2f} s (not counted)", flush=True)
    for round_no in range(1, rounds + 1):
        shift = (round_no - 1) % len(labels)  # who goes first rotates every round
        for label in labels[shift:] + labels[:shift]:
            seconds, used = install_once(backends[label], project, packages, results)
            results.add(label, seconds, used)
            storage = ""
            if used.calls is not None:
                storage = f"; {used.calls.total} storage calls, Azurite CPU {fmt(used.storage_cpu)} s"
            print(
                f"  round {round_no:<2}     {label:<9} {seconds:6.2f} s  "
                f"(server CPU {fmt(used.server_cpu)} s{storage}; "
                f"{len(results.trees[label])} packages in node_modules)",
                flush=True,
            )
    first = results.trees[labels[0]]
    differing = [label for label in labels if results.trees[label] != first]
    if differing:
        raise RuntimeError(f"{', '.join(differing)} produced a different node_modules tree than {labels[0]}")
    return results


# ---------------------------------------------------------------------------------------------------------------
# wrk


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_latency(text: str, percentile: str) -> float | None:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * UNIT_MS[match.group(2)] if match else None


def parse_wrk(text: str) -> dict[str, Any]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    sock = re.search(r"Socket errors: (.*)", text)
    return {
        "requests_per_sec": float(rps.group(1)) if rps else None,
        "p50_ms": parse_latency(text, "50"),
        "p90_ms": parse_latency(text, "90"),
        "p99_ms": parse_latency(text, "99"),
        "requests": int(total.group(1)) if total else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sock.group(1).strip() if sock else None,
    }


def warm_packument(url: str, token: str) -> int:
    headers = {"Accept": ABBREVIATED, "Authorization": f"Bearer {token}"}
    resp = httpx.get(url, headers=headers, timeout=30)
    if resp.status_code != 200:
        raise RuntimeError(f"warm-up GET {url} gave HTTP {resp.status_code}: {resp.text[:300]}")
    versions = resp.json().get("versions", {})
    return len(versions)


def wrk_command(wrk: str, url: str, token: str, seconds: int) -> list[str]:
    headers = ["-H", f"Accept: {ABBREVIATED}", "-H", f"Authorization: Bearer {token}"]
    return [wrk, "-t2", "-c32", f"-d{seconds}s", "--latency", *headers, url]


def run_wrk(wrk: str, backend: Backend, url: str, seconds: int) -> dict[str, Any]:
    """A 1 s untimed warm-up, then the measured run; its figures and what the server used per request."""
    token = backend.registry.token
    subprocess.run(wrk_command(wrk, url, token, 1), capture_output=True, check=False, timeout=60)
    before = backend.sample(settle=True)
    out = subprocess.run(
        wrk_command(wrk, url, token, seconds), capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    used = backend.sample(settle=True) - before
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-1000:]}")
    stats = parse_wrk(out.stdout)
    requests = stats["requests"]

    def per_request(value: float | None, scale: float = 1.0, digits: int = 3) -> float | None:
        return round(value * scale / requests, digits) if value is not None and requests else None

    calls = used.calls.total if used.calls is not None else None
    return {
        **stats,
        "server_cpu_ms_per_request": per_request(used.server_cpu, 1000),
        "storage_cpu_ms_per_request": per_request(used.storage_cpu, 1000),
        "storage_calls_per_request": per_request(calls, digits=4),
        "storage_calls": calls,
        "revalidation_bound": None if calls is None else revalidation_bound(seconds),
    }


#: What the Azure feed runs with (the settings' defaults; the benchmark does not change them).
READ_FRESHNESS_SECONDS, CACHE_SECONDS = 2.0, 5.0
#: Lookups a warm GET revalidates: the package's revision every freshness window; the token, the
#: organization and the feed every cache period.
CACHED_LOOKUPS = 3


def revalidation_bound(seconds: float) -> int:
    """The most storage calls a run of ``seconds`` of warm GETs of one package may make when no GET makes
    a call of its own: the periodic revalidations only (one per window, plus one at each edge)."""
    windows = int(seconds // READ_FRESHNESS_SECONDS) + 2
    cache_periods = int(seconds // CACHE_SECONDS) + 2
    return windows + CACHED_LOOKUPS * cache_periods


def bench_packument(wrk: str, backends: dict[str, Backend], package: Package, seconds: int) -> dict[str, Any]:
    results: dict[str, Any] = {"package": package.name, "versions": len(package.versions)}
    for label, backend in backends.items():
        url = f"{backend.registry.url}{escape_name(package.name)}"
        versions = warm_packument(url, backend.registry.token)
        if versions != len(package.versions):
            raise RuntimeError(
                f"{label}: packument of {package.name} lists {versions} versions, expected {len(package.versions)}"
            )
        results[label] = run_wrk(wrk, backend, url, seconds)
        stats = results[label]
        errors = f"   socket errors: {stats['socket_errors']}" if stats["socket_errors"] else ""
        storage = ""
        if stats["storage_calls_per_request"] is not None:
            storage = (
                f"   storage calls {stats['storage_calls']} in {stats['requests']} GETs (revalidations allow "
                f"{stats['revalidation_bound']}), Azurite CPU "
                f"{fmt(stats['storage_cpu_ms_per_request'], '.3f')} ms/req"
            )
        print(
            f"  {label:<9} {fmt(stats['requests_per_sec'], '9.1f')} req/s   p50 {fmt(stats['p50_ms'])} ms   "
            f"p99 {fmt(stats['p99_ms'])} ms   non-2xx {stats['non_2xx']}   server CPU "
            f"{fmt(stats['server_cpu_ms_per_request'], '.3f')} ms/req{storage}{errors}",
            flush=True,
        )
    return results


# ---------------------------------------------------------------------------------------------------------------
# Summary


PAIRS = (("feed", "verdaccio"), ("azure", "verdaccio"), ("azure", "feed"))
NAMES = {"feed": "feed (embedded)", "azure": "feed (Azurite)", "verdaccio": "Verdaccio"}


def pair_ratios(prefix: str, values: dict[str, Any]) -> dict[str, float | None]:
    """prefix_A_over_B for every pair of PAIRS whose both sides ran."""
    return {f"{prefix}_{a}_over_{b}": ratio(values[a], values[b]) for a, b in PAIRS if a in values and b in values}


def rounded_runs(per_label: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: [round(s, 3) for s in v] for k, v in per_label.items()}


def install_summary(installs: InstallResults) -> dict[str, Any]:
    medians = {label: median_or_none(runs) for label, runs in installs.runs.items()}
    cpu = {label: median_or_none(runs) for label, runs in installs.server_cpu.items()}
    return {
        "warmup": {k: round(v, 3) for k, v in installs.warmup.items()},
        "runs": rounded_runs(installs.runs),
        "median": medians,
        **pair_ratios("ratio", medians),
        "server_cpu_seconds_runs": rounded_runs(installs.server_cpu),
        "server_cpu_seconds_median": cpu,
        **pair_ratios("server_cpu_ratio", cpu),
        "storage_cpu_seconds_median": {k: median_or_none(v) for k, v in installs.storage_cpu.items() if v},
        "storage_calls_runs": {k: [int(c) for c in v] for k, v in installs.storage_calls.items() if v},
        "storage_calls_median": {k: median_or_none(v) for k, v in installs.storage_calls.items() if v},
        "note": "wall time and server CPU per install; ratios < 1 mean the first-named is faster / cheaper; server "
        "CPU is the registry process alone, Azurite's own CPU is storage_cpu; storage calls are the requests "
        "Azurite's access log shows during the install (the embedded store makes none it could count)",
    }


def packument_summary(args: argparse.Namespace, packument: dict[str, Any]) -> dict[str, Any]:
    labels = [k for k in NAMES if k in packument]
    return {
        **packument,
        "command": f"wrk -t2 -c32 -d{args.wrk_seconds}s --latency -H 'Accept: {ABBREVIATED}' "
        "-H 'Authorization: Bearer <token>'",
        **pair_ratios("throughput_ratio", {k: packument[k]["requests_per_sec"] for k in labels}),
        **pair_ratios("p50_ratio", {k: packument[k]["p50_ms"] for k in labels}),
        **pair_ratios("p99_ratio", {k: packument[k]["p99_ms"] for k in labels}),
        "note": "throughput ratio > 1 means the first-named serves more req/s; latency ratios < 1 mean it is faster; "
        "CPU per request is the process's CPU time during the measured run / wrk's request count",
    }


TARGETS = {  # Azure (Azurite) against embedded: (summary key, limit, "min" or "max")
    "warm_get_throughput": ("throughput", 0.8, "min"),
    "install_time": ("install", 1.1, "max"),
    "publish_time": ("publish", 3.0, "max"),
    "storage_calls_beyond_revalidation": ("calls", 0, "max"),
}


def calls_beyond_revalidation(stats: dict[str, Any]) -> int | None:
    """Storage calls the warm GET run made beyond the periodic revalidations (target 0: a warm GET inside
    the freshness window makes none)."""
    calls, bound = stats.get("storage_calls"), stats.get("revalidation_bound")
    return None if calls is None or bound is None else max(0, calls - bound)


def azure_targets(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Azure against embedded, with the issue's targets; None unless both ran."""
    if "azure" not in summary["publish_seconds"] or "feed" not in summary["publish_seconds"]:
        return None
    wrk = summary["packument_wrk"] or {}
    values = {
        "throughput": wrk.get("throughput_ratio_azure_over_feed"),
        "install": summary["install_seconds"]["ratio_azure_over_feed"],
        "publish": ratio(summary["publish_seconds"]["azure"], summary["publish_seconds"]["feed"]),
        "calls": calls_beyond_revalidation(wrk.get("azure") or {}),
    }
    out = {}
    for name, (key, limit, kind) in TARGETS.items():
        value = values[key]
        meets = None if value is None else (value >= limit if kind == "min" else value <= limit)
        out[name] = {"value": value, "target": f"{'>=' if kind == 'min' else '<='} {limit}", "meets": meets}
    return out


def summarize(
    args: argparse.Namespace,
    packages: list[Package],
    backends: dict[str, Backend],
    installs: InstallResults,
    packument: dict[str, Any] | None,
    machine: dict[str, Any],
) -> dict[str, Any]:
    registries = {k: b.registry for k, b in backends.items()}
    summary = {
        "benchmark": "npm install: feed server vs Verdaccio (both local, no upstream)",
        "command": " ".join(["python", "bench/npm_install.py", *sys.argv[1:]]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine, "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "storage": args.storage,
        "backends": {k: NAMES[k] for k in backends},
        "packages": len(packages),
        "package_versions": sum(len(p.versions) for p in packages),
        "installed_packages": len(next(iter(installs.trees.values()))),
        "rounds": args.rounds,
        "startup_seconds": {k: round(r.startup_seconds, 2) for k, r in registries.items()},
        "publish_seconds": {k: round(r.publish_seconds, 2) for k, r in registries.items()},
        "startup_storage_calls": {k: b.startup_calls for k, b in backends.items() if b.azurite is not None},
        "first_request_storage_calls": {k: b.first_request_calls for k, b in backends.items() if b.azurite is not None},
        "publish_storage_calls": {k: b.publish_calls for k, b in backends.items() if b.azurite is not None},
        "install_seconds": install_summary(installs),
        "packument_wrk": packument_summary(args, packument) if packument else None,
    }
    summary["azure_over_embedded"] = azure_targets(summary)
    return summary


def table_row(name: str, values: dict[str, Any], labels: list[str], spec: str = ".2f") -> str:
    """One measure, one column per backend; n/a where the backend has no such figure."""
    return f"  {name:<34}" + "".join(f"{fmt(values.get(label), spec):>18}" for label in labels)


def wrk_column(wrk: dict[str, Any] | None, key: str) -> dict[str, Any]:
    return {label: stats[key] for label, stats in (wrk or {}).items() if isinstance(stats, dict) and key in stats}


def summary_lines(summary: dict[str, Any]) -> list[str]:
    inst, machine, wrk = summary["install_seconds"], summary["machine"], summary["packument_wrk"]
    labels = list(summary["backends"])
    with_azure = "azure" in labels
    lines = [
        f"SUMMARY  {summary['packages']} packages / {summary['package_versions']} versions published; "
        f"{summary['installed_packages']} installed per run; {summary['rounds']} rounds",
        f"  machine        {machine['cpus']} CPUs, load avg (1 min) {machine['load_avg_1m_start']} at start, "
        f"{machine['load_avg_1m_end']} at end (shared machine: wall times are noisy)",
        "  " + " " * 34 + "".join(f"{summary['backends'][label]:>18}" for label in labels),
        table_row("startup (s)", summary["startup_seconds"], labels),
        table_row(f"publish, {PUBLISH_CONCURRENCY} in parallel (s)", summary["publish_seconds"], labels),
        table_row("npm install, median (s)", inst["median"], labels),
        table_row("server CPU per install (s)", inst["server_cpu_seconds_median"], labels),
    ]
    if wrk:
        lines += [
            table_row("warm packument GET (req/s)", wrk_column(wrk, "requests_per_sec"), labels, ".1f"),
            table_row("  p50 (ms)", wrk_column(wrk, "p50_ms"), labels),
            table_row("  p99 (ms)", wrk_column(wrk, "p99_ms"), labels),
            table_row("  server CPU per GET (ms)", wrk_column(wrk, "server_cpu_ms_per_request"), labels, ".3f"),
        ]
    if with_azure:
        lines += [
            table_row("storage calls at start-up", summary["startup_storage_calls"], labels, ".0f"),
            table_row("  then first authenticated GET", summary["first_request_storage_calls"], labels, ".0f"),
            table_row("storage calls per publish (all)", summary["publish_storage_calls"], labels, ".0f"),
            table_row("storage calls per install", inst["storage_calls_median"], labels, ".0f"),
            table_row("Azurite CPU per install (s)", inst["storage_cpu_seconds_median"], labels),
        ]
        if wrk:
            lines += [
                table_row("storage calls per warm GET", wrk_column(wrk, "storage_calls_per_request"), labels, ".4f"),
                table_row(
                    "Azurite CPU per warm GET (ms)", wrk_column(wrk, "storage_cpu_ms_per_request"), labels, ".3f"
                ),
            ]
        lines.append(
            "  (server CPU is the registry process alone; Azurite's CPU is counted apart, on the same 2 cores)"
        )
    return lines + ratio_lines(summary)


def ratio_lines(summary: dict[str, Any]) -> list[str]:
    inst, wrk = summary["install_seconds"], summary["packument_wrk"] or {}
    lines = []
    for a, b in PAIRS[:2]:
        if f"ratio_{a}_over_{b}" not in inst:
            continue
        lines.append(
            f"  {a}/{b}: install time {fmt(inst[f'ratio_{a}_over_{b}'], '.3f')}, server CPU "
            f"{fmt(inst[f'server_cpu_ratio_{a}_over_{b}'], '.3f')} (< 1: {a} faster/cheaper); warm GET throughput "
            f"{fmt(wrk.get(f'throughput_ratio_{a}_over_{b}'), '.3f')} (> 1: {a} faster), latency p50 "
            f"{fmt(wrk.get(f'p50_ratio_{a}_over_{b}'), '.3f')}, p99 {fmt(wrk.get(f'p99_ratio_{a}_over_{b}'), '.3f')}"
        )
    targets = summary["azure_over_embedded"]
    if targets:
        lines.append(
            "  Azurite/embedded: "
            + "; ".join(
                f"{name.replace('_', ' ')} {fmt(t['value'], '.3f')} (target {t['target']}: "
                f"{'n/a' if t['meets'] is None else 'meets' if t['meets'] else 'MISSES'})"
                for name, t in targets.items()
            )
        )
    return lines


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
    parser.add_argument("--packages", type=int, default=200, help="number of generated packages (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="timed install rounds per registry (default 5)")
    parser.add_argument("--wrk-seconds", type=int, default=5, help="duration of each wrk run (default 5)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first install per registry")
    parser.add_argument(
        "--storage",
        choices=sorted(STORAGES),
        default="embedded",
        help="the feed's store: embedded (default), azure (a fresh in-memory Azurite the benchmark starts) or both "
        "(embedded and Azurite side by side, with Azurite/embedded ratios); Verdaccio always runs",
    )
    args = parser.parse_args(argv)
    if args.packages < 2 or args.rounds < 1 or not 1 <= args.wrk_seconds <= 30:
        parser.error("need --packages >= 2, --rounds >= 1 and 1 <= --wrk-seconds <= 30")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    machine: dict[str, Any] = {
        **machine_basics(),
        "node": tool_version(["node", "--version"]),
        "npm": tool_version(["npm", "--version"]),
        "verdaccio": ensure_verdaccio(),
    }
    wrk = ensure_wrk()
    if wrk:
        machine["wrk"] = tool_version([wrk, "-v"])
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    packages = generate_packages(args.packages)
    project = RUN_DIR / "project"
    write_project(project, packages)
    print(f"Generated {len(packages)} packages ({sum(len(p.versions) for p in packages)} versions)", flush=True)
    with ExitStack() as stack:
        backends = start_backends(stack, args.storage)
        for label, backend in backends.items():
            registry = backend.registry
            calls = ""
            if backend.startup_calls is not None:
                calls = f", {backend.startup_calls} storage calls, then {backend.first_request_calls} for the first GET"
            print(f"{label}: {registry.url} (ready in {registry.startup_seconds:.2f} s{calls})", flush=True)
            publish_to(backend, packages)
        print("npm install --no-audit --no-fund --prefer-online (clean cache, no node_modules/lock):", flush=True)
        installs = bench_installs(backends, project, packages, args.rounds, not args.no_warmup)
        packument = None
        if wrk:
            print(f"Warm packument GET with wrk ({args.wrk_seconds} s each; higher req/s is better):", flush=True)
            packument = bench_packument(wrk, backends, packages[0], args.wrk_seconds)
    summary = summarize(args, packages, backends, installs, packument, machine)
    print_summary(summary)
    write_results(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
