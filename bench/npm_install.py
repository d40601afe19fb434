"""npm install benchmark: the feed server against Verdaccio 6.8.0, both local, both without upstreams.

    python bench/npm_install.py [--packages 200] [--rounds 5]

Steps: install Verdaccio (pinned in bench/verdaccio/package.json) into bench/.work/verdaccio; generate a
deterministic set of small npm packages with a dependency tree; start the feed server and Verdaccio on free
127.0.0.1 ports; publish the same packages to both; time clean `npm install` runs of a project that depends on all
of them, alternating registries; measure warm packument GET throughput with wrk; print a summary and write it to
bench/results/npm_install.json. Both servers are stopped at the end, also on errors.

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
import platform
import random
import re
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
from _common import (
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


def start_feed(stack: ExitStack) -> Registry:
    env = {
        "FEED_STORAGE": "embedded",
        "FEED_PUBLIC_SOURCES": "{}",
        "FEED_LOG_LEVEL": "WARNING",
        "FEED_ORGANIZATION": "local",
    }
    feed = start_feed_process(stack, RUN_DIR / "feed-data", RUN_DIR / "logs" / "feed.log", env)
    create_feed(feed.base, feed.token, FEED_NAME)
    return Registry(
        "feed", f"{feed.base}/local/_packaging/{FEED_NAME}/npm/registry/", feed.token, feed.pid, feed.startup_seconds
    )


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


def start_verdaccio(stack: ExitStack) -> Registry:
    vdir = RUN_DIR / "verdaccio"
    config = VERDACCIO_CONFIG.format(storage=vdir / "storage", htpasswd=vdir / "htpasswd")
    return start_verdaccio_process(stack, vdir, config, RUN_DIR / "logs" / "verdaccio.log", "verdaccio")


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


def clean_project(project: Path, cache: Path) -> None:
    shutil.rmtree(project / "node_modules", ignore_errors=True)
    (project / "package-lock.json").unlink(missing_ok=True)
    shutil.rmtree(cache, ignore_errors=True)


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
    runs: dict[str, list[float]] = field(default_factory=lambda: {"feed": [], "verdaccio": []})
    server_cpu: dict[str, list[float]] = field(default_factory=lambda: {"feed": [], "verdaccio": []})
    warmup: dict[str, float] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)


def install_once(
    registry: Registry, project: Path, packages: list[Package], results: InstallResults
) -> tuple[float, float | None]:
    """One verified install: (wall seconds, CPU seconds the server spent on it, if measurable)."""
    cpu_before = registry.cpu_seconds()
    seconds = run_install(registry, project)
    cpu_after = registry.cpu_seconds()
    tree = verify_install(project, packages)
    previous = results.trees.setdefault(registry.label, tree)
    if previous != tree:
        raise RuntimeError(f"{registry.label}: install tree differs between runs")
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return seconds, cpu


def bench_installs(
    registries: dict[str, Registry], project: Path, packages: list[Package], rounds: int, warmup: bool
) -> InstallResults:
    results = InstallResults()
    if warmup:
        for label, registry in registries.items():
            results.warmup[label] = install_once(registry, project, packages, results)[0]
            print(f"  warm-up      {label:<9} {results.warmup[label]:6.2f} s (not counted)", flush=True)
    for round_no in range(1, rounds + 1):
        order = ["feed", "verdaccio"] if round_no % 2 else ["verdaccio", "feed"]
        for label in order:
            seconds, cpu = install_once(registries[label], project, packages, results)
            results.runs[label].append(seconds)
            if cpu is not None:
                results.server_cpu[label].append(cpu)
            print(
                f"  round {round_no:<2}     {label:<9} {seconds:6.2f} s  (server CPU {fmt(cpu)} s; "
                f"{len(results.trees[label])} packages in node_modules)",
                flush=True,
            )
    if results.trees["feed"] != results.trees["verdaccio"]:
        raise RuntimeError("the feed and Verdaccio produced different node_modules trees")
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


def run_wrk(wrk: str, url: str, token: str, seconds: int) -> dict[str, Any]:
    headers = ["-H", f"Accept: {ABBREVIATED}", "-H", f"Authorization: Bearer {token}"]
    subprocess.run([wrk, "-t2", "-c32", "-d1s", *headers, url], capture_output=True, check=False, timeout=60)
    out = subprocess.run(
        [wrk, "-t2", "-c32", f"-d{seconds}s", "--latency", *headers, url],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-1000:]}")
    return parse_wrk(out.stdout)


def bench_packument(wrk: str, registries: dict[str, Registry], package: Package, seconds: int) -> dict[str, Any]:
    results: dict[str, Any] = {"package": package.name, "versions": len(package.versions)}
    for label, registry in registries.items():
        url = f"{registry.url}{escape_name(package.name)}"
        versions = warm_packument(url, registry.token)
        if versions != len(package.versions):
            raise RuntimeError(
                f"{label}: packument of {package.name} lists {versions} versions, expected {len(package.versions)}"
            )
        results[label] = run_wrk(wrk, url, registry.token, seconds)
        stats = results[label]
        errors = f"   socket errors: {stats['socket_errors']}" if stats["socket_errors"] else ""
        print(
            f"  {label:<9} {fmt(stats['requests_per_sec'], '9.1f')} req/s   p50 {fmt(stats['p50_ms'])} ms   "
            f"p99 {fmt(stats['p99_ms'])} ms   non-2xx {stats['non_2xx']}{errors}",
            flush=True,
        )
    return results


# ---------------------------------------------------------------------------------------------------------------
# Summary


def install_summary(installs: InstallResults) -> dict[str, Any]:
    medians = {label: median_or_none(runs) for label, runs in installs.runs.items()}
    cpu = {label: median_or_none(runs) for label, runs in installs.server_cpu.items()}
    return {
        "warmup": {k: round(v, 3) for k, v in installs.warmup.items()},
        "runs": {k: [round(s, 3) for s in v] for k, v in installs.runs.items()},
        "median": medians,
        "ratio_feed_over_verdaccio": ratio(medians["feed"], medians["verdaccio"]),
        "server_cpu_seconds_runs": {k: [round(s, 3) for s in v] for k, v in installs.server_cpu.items()},
        "server_cpu_seconds_median": cpu,
        "server_cpu_ratio_feed_over_verdaccio": ratio(cpu["feed"], cpu["verdaccio"]),
        "note": "wall time and server CPU per install; ratios < 1 mean the feed is faster / cheaper",
    }


def packument_summary(args: argparse.Namespace, packument: dict[str, Any]) -> dict[str, Any]:
    feed, verd = packument["feed"], packument["verdaccio"]
    return {
        **packument,
        "command": f"wrk -t2 -c32 -d{args.wrk_seconds}s --latency -H 'Accept: {ABBREVIATED}' "
        "-H 'Authorization: Bearer <token>'",
        "throughput_ratio_feed_over_verdaccio": ratio(feed["requests_per_sec"], verd["requests_per_sec"]),
        "p50_ratio_feed_over_verdaccio": ratio(feed["p50_ms"], verd["p50_ms"]),
        "p99_ratio_feed_over_verdaccio": ratio(feed["p99_ms"], verd["p99_ms"]),
        "note": "throughput ratio > 1 means the feed serves more req/s; latency ratios < 1 mean the feed is faster",
    }


def summarize(
    args: argparse.Namespace,
    packages: list[Package],
    registries: dict[str, Registry],
    installs: InstallResults,
    packument: dict[str, Any] | None,
    machine: dict[str, Any],
) -> dict[str, Any]:
    return {
        "benchmark": "npm install: feed server vs Verdaccio (both local, no upstream)",
        "command": " ".join(["python", "bench/npm_install.py", *sys.argv[1:]]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine, "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "packages": len(packages),
        "package_versions": sum(len(p.versions) for p in packages),
        "installed_packages": len(installs.trees["feed"]),
        "rounds": args.rounds,
        "startup_seconds": {k: round(r.startup_seconds, 2) for k, r in registries.items()},
        "publish_seconds": {k: round(r.publish_seconds, 2) for k, r in registries.items()},
        "install_seconds": install_summary(installs),
        "packument_wrk": packument_summary(args, packument) if packument else None,
    }


def pair(values: dict[str, Any], unit: str, spec: str = ".2f") -> str:
    return f"feed {fmt(values['feed'], spec)} {unit}   verdaccio {fmt(values['verdaccio'], spec)} {unit}"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    inst, machine = summary["install_seconds"], summary["machine"]
    return [
        f"SUMMARY  {summary['packages']} packages / {summary['package_versions']} versions published; "
        f"{summary['installed_packages']} installed per run; {summary['rounds']} rounds",
        f"  machine        {machine['cpus']} CPUs, load avg (1 min) {machine['load_avg_1m_start']} at start, "
        f"{machine['load_avg_1m_end']} at end (shared machine: wall times are noisy)",
        f"  startup        {pair(summary['startup_seconds'], 's')}",
        f"  publish        {pair(summary['publish_seconds'], 's')}   (all versions, {PUBLISH_CONCURRENCY} in parallel)",
        f"  npm install    median {pair(inst['median'], 's')}",
        f"                 time ratio feed/verdaccio = {fmt(inst['ratio_feed_over_verdaccio'], '.3f')}  "
        "(< 1: feed faster, > 1: feed slower)",
        f"  server CPU     per install, median {pair(inst['server_cpu_seconds_median'], 's')}",
        f"                 CPU ratio feed/verdaccio = {fmt(inst['server_cpu_ratio_feed_over_verdaccio'], '.3f')}  "
        "(< 1: feed cheaper)",
    ]


def packument_lines(wrk: dict[str, Any] | None) -> list[str]:
    if not wrk:
        return ["  packument GET  skipped (no wrk)"]
    feed, verd = wrk["feed"], wrk["verdaccio"]
    return [
        f"  packument GET  {wrk['package']} ({wrk['versions']} versions, abbreviated, warm, wrk -t2 -c32)",
        f"    feed         {fmt(feed['requests_per_sec'], '.1f')} req/s  p50 {fmt(feed['p50_ms'])} ms  "
        f"p99 {fmt(feed['p99_ms'])} ms",
        f"    verdaccio    {fmt(verd['requests_per_sec'], '.1f')} req/s  p50 {fmt(verd['p50_ms'])} ms  "
        f"p99 {fmt(verd['p99_ms'])} ms",
        f"    throughput ratio feed/verdaccio = {fmt(wrk['throughput_ratio_feed_over_verdaccio'], '.3f')}  "
        "(> 1: feed faster)",
        f"    latency ratio feed/verdaccio: p50 {fmt(wrk['p50_ratio_feed_over_verdaccio'], '.3f')}, "
        f"p99 {fmt(wrk['p99_ratio_feed_over_verdaccio'], '.3f')}  (< 1: feed faster)",
    ]


def print_summary(summary: dict[str, Any]) -> None:
    rule = "=" * 78
    print("\n".join([rule, *summary_lines(summary), *packument_lines(summary["packument_wrk"]), rule]))


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
    args = parser.parse_args(argv)
    if args.packages < 2 or args.rounds < 1 or not 1 <= args.wrk_seconds <= 30:
        parser.error("need --packages >= 2, --rounds >= 1 and 1 <= --wrk-seconds <= 30")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    machine: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
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
        registries = {"feed": start_feed(stack), "verdaccio": start_verdaccio(stack)}
        for label, registry in registries.items():
            print(f"{label}: {registry.url} (ready in {registry.startup_seconds:.2f} s)", flush=True)
            registry.publish_seconds = publish_all(registry.url, registry.token, packages)
            print(f"  published {len(packages)} packages in {registry.publish_seconds:.2f} s", flush=True)
        print("npm install --no-audit --no-fund --prefer-online (clean cache, no node_modules/lock):", flush=True)
        installs = bench_installs(registries, project, packages, args.rounds, not args.no_warmup)
        packument = None
        if wrk:
            print(f"Warm packument GET with wrk ({args.wrk_seconds} s each; higher req/s is better):", flush=True)
            packument = bench_packument(wrk, registries, packages[0], args.wrk_seconds)
    summary = summarize(args, packages, registries, installs, packument, machine)
    print_summary(summary)
    write_results(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
