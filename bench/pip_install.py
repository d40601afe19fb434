"""pip install through an upstream: the feed server against devpi-server 6.20.3, both mirroring the live PyPI.

    python bench/pip_install.py [--rounds 3] [--budget-minutes 10] [--access-log] [--request-log]

The live index URL is read at run time from pip's own default (`pip._internal.models.index.PyPI.simple_url`) and is
never written into a file: the feed gets it through its REST API, devpi through `devpi index -c` arguments, pip on
its command line; server logs are redacted when the run ends and server data is deleted after each round.

The install set is bench/requirements-pip-bench.txt (55 pinned distributions, wheels for CPython 3.11). Every
install is the main interpreter's pip, isolated from this machine's configuration, into a fresh --target:

    env -u PIP_* PIP_CONFIG_FILE=/dev/null python -m pip install --isolated --disable-pip-version-check
        --no-cache-dir --target NEW --index-url URL -r bench/requirements-pip-bench.txt

Each round starts a FRESH feed (new data dir; feed `bench` with PyPI as its upstream) and a FRESH devpi-server (new
serverdir; root/pypi a mirror created WITHOUT the project list), then, in an order that rotates every round:
  cold    the first install through each server (everything fetched from upstream and saved), and the same
          install straight from the live index ("direct", the baseline);
  warm    a second install through each server, which now holds everything (pip has no cache either way).
After the feed's cold install the script checks that every installed distribution was saved in the feed with a
provenance block and the sha256 pip verified; every install must produce the same set of distributions (name,
version, file hash). Server CPU is the server process's user+system time during one install.

--request-log adds pip's debug log (`--log`) to every install and reports pip's per-request latencies (pages vs
files, slowest). It costs pip several seconds per install (tens of MB of debug lines), so timings taken with it are
for diagnosis only. --access-log starts the feed with --access-log and INFO logging (kept, redacted, in
bench/.work/pip/logs/).

Results go to bench/results/pip_install.json; servers are stopped on exit, on errors and on SIGTERM. A failed
install is reported (and left out of the medians), not fatal. No round is started that would likely end after
--budget-minutes (default 10): every round hits the live index.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
from _common import (
    BENCH_DIR,
    REPO_DIR,
    WORK_DIR,
    Registry,
    create_feed,
    exit_on_sigterm,
    fmt,
    free_port,
    median_or_none,
    process_group,
    ratio,
    start_feed_process,
    tool_version,
    wait_ready,
)

RUN_DIR = WORK_DIR / "pip"
DEVPI_VENV = WORK_DIR / "devpi-venv"
DEVPI_PINS = ("devpi-server==6.20.3", "devpi-client==7.3.0")
DEVPI_PASSWORD = "pw"
REQUIREMENTS = BENCH_DIR / "requirements-pip-bench.txt"
RESULTS_FILE = BENCH_DIR / "results" / "pip_install.json"
FEED_NAME = "bench"
SOURCE_NAME = "pypi"
MIN_DISTRIBUTIONS = 40
PIP_TIMEOUT = 300
TARGETS = ("feed", "devpi", "direct")
SERVERS = ("feed", "devpi")
CHECK_CONCURRENCY = 4
PIP_FLAGS = (
    "--isolated",
    "--disable-pip-version-check",
    "--no-cache-dir",
    "--root-user-action=ignore",
    "--quiet",
)


def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements() -> dict[str, str]:
    """name -> version of every `name==version` line in the requirements file."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec:
            name, sep, version = spec.partition("==")
            if not sep:
                raise RuntimeError(f"{REQUIREMENTS.name}: every line must pin a version with ==, got {spec!r}")
            pins[normalize(name)] = version.strip()
    return pins


# ---------------------------------------------------------------------------------------------------------------
# The live index


def live_index() -> str:
    """pip's own default index URL (PyPI's simple API), ending with '/'."""
    code = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    url = out.stdout.strip()
    if out.returncode != 0 or not url.startswith(("http://", "https://")):
        raise RuntimeError(f"could not read pip's default index URL (exit {out.returncode}): {out.stderr[-500:]}")
    return url if url.endswith("/") else url + "/"


def probe_index(url: str) -> float:
    """Milliseconds for one small project page from the live index; raises when it does not answer 200."""
    started = time.perf_counter()
    try:
        resp = httpx.get(f"{url}six/", headers={"Accept": "text/html"}, timeout=30, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"the live index did not answer: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise RuntimeError(f"the live index answered HTTP {resp.status_code} for a project page")
    return (time.perf_counter() - started) * 1000


class Redactor:
    """Replaces every non-loopback host (the index, its file host) and the feed tokens in text bound for a file."""

    URL_HOST = re.compile(r"(?i)\b(https?://)(?:[^/\s\"'<>@]*@)?(?!127\.0\.0\.1[:/])[^/\s\"'<>)]+")

    def __init__(self, url: str) -> None:
        self.hosts = {urlsplit(url).hostname or ""} - {""}
        self.secrets: set[str] = set()

    def add_url(self, url: str) -> None:
        host = urlsplit(url).hostname
        if host and host != "127.0.0.1":
            self.hosts.add(host)

    def __call__(self, text: str) -> str:
        text = self.URL_HOST.sub(r"\1<upstream>", text)
        for host in sorted(self.hosts, key=len, reverse=True):
            text = text.replace(host, "<upstream>")
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        return text


# ---------------------------------------------------------------------------------------------------------------
# devpi


def devpi_bin(name: str) -> str:
    return str(DEVPI_VENV / "bin" / name)


def ensure_devpi() -> dict[str, str]:
    """Install the pinned devpi-server and devpi-client into bench/.work/devpi-venv unless they are there."""
    wanted = dict(pin.split("==") for pin in DEVPI_PINS)
    installed = devpi_versions()
    if installed == wanted:
        return installed
    print(f"Installing {' '.join(DEVPI_PINS)} into {DEVPI_VENV.relative_to(REPO_DIR)} ...", flush=True)
    if not (DEVPI_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(DEVPI_VENV)], check=True)
    cmd = [devpi_bin("python"), "-m", "pip", "install", *PIP_FLAGS, *DEVPI_PINS]
    subprocess.run(cmd, env=pip_env(), check=True, timeout=600)
    installed = devpi_versions()
    if installed != wanted:
        raise RuntimeError(f"devpi venv has {installed}, wanted {wanted}")
    return installed


def devpi_versions() -> dict[str, str]:
    python = DEVPI_VENV / "bin" / "python"
    if not python.exists():
        return {}
    names = json.dumps([pin.split("==")[0] for pin in DEVPI_PINS])
    code = f"import importlib.metadata as m, json; print(json.dumps({{n: m.version(n) for n in {names}}}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def devpi(clientdir: Path, *args: str) -> str:
    out = subprocess.run(
        [devpi_bin("devpi"), "--clientdir", str(clientdir), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"devpi {args[0]} failed (exit {out.returncode}): {(out.stdout + out.stderr)[-800:]}")
    return out.stdout


def start_devpi(stack: ExitStack, round_dir: Path, log: Path, upstream: str, redact: Redactor) -> Registry:
    """A fresh devpi-server with root/pypi mirroring the live index WITHOUT its project list (TOOLING.md §3)."""
    serverdir, clientdir = round_dir / "devpi-server", round_dir / "devpi-client"
    started = time.perf_counter()
    init = subprocess.run(
        [devpi_bin("devpi-init"), "--serverdir", str(serverdir), "--no-root-pypi", "--root-passwd", DEVPI_PASSWORD],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if init.returncode != 0:
        raise RuntimeError(f"devpi-init failed (exit {init.returncode}): {redact(init.stderr[-800:])}")
    port = free_port()
    cmd = [devpi_bin("devpi-server"), "--serverdir", str(serverdir), "--host", "127.0.0.1", "--port", str(port)]
    proc = stack.enter_context(process_group(cmd, log, dict(os.environ), round_dir))
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/+api", proc, log)
    devpi(clientdir, "use", url)
    devpi(clientdir, "login", "root", "--password", DEVPI_PASSWORD)
    created = devpi(
        clientdir, "index", "-c", "root/pypi", "type=mirror", f"mirror_url={upstream}", "mirror_no_project_list=True"
    )
    if "mirror_no_project_list=True" not in created:
        raise RuntimeError(f"devpi did not confirm mirror_no_project_list=True: {redact(created)[:400]}")
    return Registry("devpi", f"{url}/root/pypi/+simple/", "", proc.pid, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------------------
# The feed


def start_feed(stack: ExitStack, round_dir: Path, log: Path, upstream: str, access_log: bool) -> Registry:
    env = {
        "FEED_STORAGE": "embedded",
        "FEED_PUBLIC_SOURCES": "{}",
        "FEED_LOG_LEVEL": "INFO" if access_log else "WARNING",
        "FEED_ORGANIZATION": "local",
    }
    extra = ("--access-log",) if access_log else ()
    feed = start_feed_process(stack, round_dir / "feed-data", log, env, extra)
    create_feed(feed.base, feed.token, FEED_NAME)
    set_upstream(feed.base, feed.token, upstream)
    host = feed.base.split("://", 1)[1]
    url = f"http://__token__:{feed.token}@{host}/local/_packaging/{FEED_NAME}/pypi/simple/"
    return Registry("feed", url, feed.token, feed.pid, feed.startup_seconds)


def set_upstream(base: str, token: str, upstream: str) -> None:
    source = {"name": SOURCE_NAME, "protocol": "pypi", "location": upstream}
    resp = httpx.patch(
        f"{base}/local/_apis/packaging/feeds/{FEED_NAME}",
        params={"api-version": "7.1"},
        headers={"Authorization": f"Bearer {token}"},
        json={"upstreamSources": [source]},
        timeout=30,
    )
    if resp.status_code != 200:
        raise RuntimeError(f"setting the feed's upstream failed: HTTP {resp.status_code}")
    sources = resp.json().get("upstreamSources") or []
    if not any(s.get("name") == SOURCE_NAME and s.get("protocol") == "pypi" for s in sources):
        raise RuntimeError("the feed did not keep the upstream source")


def feed_base(registry: Registry) -> str:
    parts = urlsplit(registry.url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


@dataclass
class RoundServers:
    feed: Registry
    devpi: Registry
    feed_log: Path
    devpi_log: Path


def start_round_servers(
    stack: ExitStack, round_no: int, upstream: str, redact: Redactor, access_log: bool
) -> RoundServers:
    round_dir = RUN_DIR / f"round-{round_no}"
    round_dir.mkdir(parents=True)
    logs = RUN_DIR / "logs"
    feed_log, devpi_log = logs / f"feed-round-{round_no}.log", logs / f"devpi-round-{round_no}.log"
    feed = start_feed(stack, round_dir, feed_log, upstream, access_log)
    redact.secrets.add(feed.token)
    devpi_server = start_devpi(stack, round_dir, devpi_log, upstream, redact)
    return RoundServers(feed, devpi_server, feed_log, devpi_log)


# ---------------------------------------------------------------------------------------------------------------
# pip install runs


@dataclass(frozen=True)
class Dist:
    version: str
    sha256: str
    filename: str


@dataclass
class Install:
    seconds: float
    dists: dict[str, Dist]  # normalized name -> what pip installed (from its --report)
    requests: list[tuple[str, int, str, float]]  # (kind, status, path, ms) from pip's --log, when asked for
    error: str | None = None
    pip_cpu: float | None = None  # user+system CPU seconds of the pip process


def pip_env() -> dict[str, str]:
    """The environment without any PIP_* of the caller and with no pip config file."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def pip_command(target: Path, index_url: str, report: Path, log: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "install", *PIP_FLAGS, "--target", str(target), "--index-url", index_url]
    cmd += ["--report", str(report), "-r", str(REQUIREMENTS)]
    return cmd + (["--log", str(log)] if log is not None else [])


def run_install(label: str, index_url: str, redact: Redactor, request_log: bool) -> Install:
    """One pip install into a fresh --target (no pip cache); the target, report and log are deleted afterwards."""
    work = RUN_DIR / f"install-{label}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    target, report, log = work / "target", work / "report.json", work / "pip.log" if request_log else None
    cpu_before = children_cpu()
    started = time.perf_counter()
    try:
        out = subprocess.run(
            pip_command(target, index_url, report, log),
            env=pip_env(),
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
            timeout=PIP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(work, ignore_errors=True)
        return Install(time.perf_counter() - started, {}, [], f"pip install took longer than {PIP_TIMEOUT} s")
    elapsed = time.perf_counter() - started
    pip_cpu = round(children_cpu() - cpu_before, 3)
    try:
        requests = pip_requests(log) if log is not None else []
        if out.returncode != 0:
            lines = [ln for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
            error = redact("\n".join(lines[-8:]))[:1500] or f"exit {out.returncode}"
            return Install(elapsed, {}, requests, error, pip_cpu)
        dists = report_dists(report, redact)
        on_disk = len(list(target.glob("*.dist-info")))
        error = None if on_disk == len(dists) else f"{on_disk} .dist-info dirs but {len(dists)} in pip's report"
        return Install(elapsed, dists, requests, error, pip_cpu)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # holds upstream URLs (report, log) and ~50 MB of packages


def children_cpu() -> float:
    """User + system CPU seconds of all waited-for child processes so far (pip runs as one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report_dists(report: Path, redact: Redactor) -> dict[str, Dist]:
    doc = json.loads(report.read_text())
    dists = {}
    for item in doc.get("install", []):
        info = item.get("download_info") or {}
        url = str(info.get("url", ""))
        redact.add_url(url)  # learn the file host of the live index, so logs can be redacted
        hashes = (info.get("archive_info") or {}).get("hashes") or {}
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        meta = item["metadata"]
        dists[normalize(meta["name"])] = Dist(str(meta["version"]), str(hashes.get("sha256", "")), filename)
    return dists


# pip's log (urllib3 debug): `2024-01-01T10:00:00,123   https://host:443 "GET /path HTTP/1.1" 200 1234`
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3}) (.*)$")
HTTP_LINE = re.compile(r'^\s*\S+ "(?:GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3}) ')


def pip_requests(log: Path) -> list[tuple[str, int, str, float]]:
    """Each request pip made with the ms since pip's previous log line (pip logs just before each request and
    urllib3 logs when the response headers arrive; pip downloads one thing at a time)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    out, previous = [], None
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m is None:
            continue
        stamp = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S,%f").timestamp()
        http = HTTP_LINE.match(m.group(2))
        if http is not None and previous is not None:
            path = urlsplit(http.group(1)).path
            kind = "page" if "/simple/" in path or "/+simple/" in path else "file"
            out.append((kind, int(http.group(2)), path, round((stamp - previous) * 1000, 1)))
        previous = stamp
    return out


def short_path(path: str) -> str:
    """The project or file part of a request path (drops the server's index prefix)."""
    for marker in ("/simple/", "/+simple/", "/download/", "/+f/"):
        if marker in path:
            return path.split(marker, 1)[1].rstrip("/")
    return path.rsplit("/", 1)[-1] or path


def latency_stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
        "sum_s": round(sum(ordered) / 1000, 2),
    }


def request_stats(requests: list[tuple[str, int, str, float]]) -> dict[str, Any]:
    if not requests:
        return {}
    slowest = sorted(requests, key=lambda r: -r[3])[:5]
    return {
        "requests": len(requests),
        "non_200": sorted({f"{r[1]} {short_path(r[2])}" for r in requests if r[1] != 200})[:10],
        "pages": latency_stats([r[3] for r in requests if r[0] == "page"]),
        "files": latency_stats([r[3] for r in requests if r[0] == "file"]),
        "slowest": [f"{r[3]:.0f} ms {r[0]} {r[1]} {short_path(r[2])}" for r in slowest],
    }


# ---------------------------------------------------------------------------------------------------------------
# Checking what the feed saved


def saved_version(client: httpx.Client, base: str, name: str, version: str) -> tuple[int, dict[str, Any]]:
    url = f"{base}/local/_apis/packaging/feeds/{FEED_NAME}/pypi/packages/{quote(name)}/versions/{quote(version)}"
    resp = client.get(url, params={"api-version": "7.1"})
    return resp.status_code, resp.json() if resp.status_code == 200 else {}


def problem_of(status: int, doc: dict[str, Any], dist: Dist) -> str | None:
    """Why a saved version does not look right (None when it does)."""
    if status != 200:
        return f"HTTP {status}"
    provenance = doc.get("provenance")
    if not isinstance(provenance, dict) or not provenance:
        return "no provenance block"
    if (provenance.get("source") or {}).get("name") != SOURCE_NAME:
        return f"provenance source is {(provenance.get('source') or {}).get('name')!r}"
    stored = {((f.get("protocolMetadata") or {}).get("data") or {}).get("sha256") for f in doc.get("files") or []}
    stored |= {doc.get("storageId"), provenance.get("upstreamSha256")}
    if dist.sha256 and dist.sha256 not in stored:
        return f"sha256 pip verified ({dist.sha256[:12]}...) is not the saved file's"
    return None


def verify_saved(feed: Registry, install: Install) -> dict[str, Any]:
    """Every distribution of the cold install is in the feed, with provenance and the sha256 pip verified."""
    base = feed_base(feed)
    wanted = sorted(install.dists.items())
    with (
        httpx.Client(headers={"Authorization": f"Bearer {feed.token}"}, timeout=30) as client,
        ThreadPoolExecutor(CHECK_CONCURRENCY) as pool,
    ):
        answers = list(pool.map(lambda nd: saved_version(client, base, nd[0], nd[1].version), wanted))
    problems = {
        f"{name}=={dist.version}": problem
        for (name, dist), (status, doc) in zip(wanted, answers, strict=True)
        if (problem := problem_of(status, doc, dist)) is not None
    }
    requests_doc = next((doc for (name, _), (_, doc) in zip(wanted, answers, strict=True) if name == "requests"), {})
    provenance = requests_doc.get("provenance") or {}
    return {
        "checked": len(wanted),
        "saved_ok": len(wanted) - len(problems),
        "problems": dict(list(problems.items())[:20]),
        "requests": {
            "version": requests_doc.get("version"),
            "provenance_source": (provenance.get("source") or {}).get("name"),
            "verified_with": provenance.get("verifiedWith"),
            "saved_by": provenance.get("savedBy"),
            "file": ((requests_doc.get("files") or [{}])[0]).get("name"),
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# The rounds


@dataclass
class Run:
    round: int
    scenario: str  # cold | warm | direct
    target: str  # feed | devpi | direct
    seconds: float
    server_cpu_seconds: float | None
    pip_cpu_seconds: float | None  # the client's own CPU time; seconds - pip CPU ~ time pip spent waiting
    distributions: int
    pip_requests: dict[str, Any]
    error: str | None = None  # a failed run is reported, not counted in the medians


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    saved_checks: list[dict[str, Any]] = field(default_factory=list)
    set_mismatches: list[str] = field(default_factory=list)
    server_log_issues: dict[str, list[str]] = field(default_factory=dict)
    startup_seconds: dict[str, list[float]] = field(default_factory=lambda: {"feed": [], "devpi": []})
    reference: dict[str, Dist] = field(default_factory=dict)
    rounds_done: int = 0
    stopped_early: str | None = None

    def ok_runs(self, scenario: str, target: str) -> list[Run]:
        return [r for r in self.runs if r.scenario == scenario and r.target == target and r.error is None]


@dataclass(frozen=True)
class RunContext:
    redact: Redactor
    pins: dict[str, str]
    access_log: bool
    request_log: bool


def check_set(dists: dict[str, Dist], pins: dict[str, str]) -> str | None:
    """Why an install's distributions are not the pinned set (None when they are)."""
    wrong = [
        f"{name}=={dists[name].version if name in dists else 'missing'} (pinned {version})"
        for name, version in pins.items()
        if name not in dists or dists[name].version != version
    ]
    wrong += [f"{name}=={dists[name].version} (not pinned)" for name in sorted(set(dists) - set(pins))]
    if wrong:
        return f"not the pinned set: {', '.join(wrong[:6])}"
    if len(dists) < MIN_DISTRIBUTIONS:
        return f"only {len(dists)} distributions installed, expected >= {MIN_DISTRIBUTIONS}"
    return None


def timed_install(
    round_no: int, scenario: str, target: str, servers: RoundServers, upstream: str, ctx: RunContext
) -> tuple[Run, Install]:
    registry: Registry | None = getattr(servers, target) if target in SERVERS else None
    url = registry.url if registry is not None else upstream
    before = registry.cpu_seconds() if registry is not None else None
    install = run_install(target, url, ctx.redact, ctx.request_log)
    after = registry.cpu_seconds() if registry is not None else None
    if install.error is None:
        install.error = check_set(install.dists, ctx.pins)
    cpu = round(after - before, 3) if before is not None and after is not None else None
    stats = request_stats(install.requests)
    run = Run(
        round_no,
        scenario,
        target,
        round(install.seconds, 3),
        cpu,
        install.pip_cpu,
        len(install.dists),
        stats,
        install.error,
    )
    print_run(run)
    return run, install


def print_run(run: Run) -> None:
    outcome = f"{run.distributions} dists" if run.error is None else "FAILED"
    line = (
        f"  round {run.round}  {run.scenario:<6} {run.target:<6} {run.seconds:6.2f} s  pip CPU "
        f"{fmt(run.pip_cpu_seconds):>5} s  server CPU {fmt(run.server_cpu_seconds):>5} s  {outcome}"
    )
    req = run.pip_requests
    if req:
        pg, fl = req["pages"], req["files"]
        line += (
            f"  pip saw: {pg.get('count', 0)} pages p50 {pg.get('median_ms', '-')} / p90 {pg.get('p90_ms', '-')} / "
            f"max {pg.get('max_ms', '-')} ms, {fl.get('count', 0)} files p50 {fl.get('median_ms', '-')} / p90 "
            f"{fl.get('p90_ms', '-')} ms"
        )
    print(line, flush=True)
    if req:
        print(f"           slowest: {'; '.join(req['slowest'][:3])}", flush=True)
        if req["non_200"]:
            print(f"           non-200 answers: {', '.join(req['non_200'][:5])}", flush=True)
    if run.error:
        print(f"           error: {run.error.replace(chr(10), chr(10) + '           ')}", flush=True)


def compare_set(results: Results, label: str, dists: dict[str, Dist]) -> None:
    """Every install must produce the same distributions (name, version, file hash) as the first one."""
    if not results.reference:
        results.reference = dists
        return
    if dists != results.reference:
        diff = sorted(
            f"{n}: {results.reference.get(n)} -> {dists.get(n)}"
            for n in set(dists) | set(results.reference)
            if dists.get(n) != results.reference.get(n)
        )
        note = f"{label}: {len(diff)} distributions differ from the first install, e.g. {diff[:2]}"
        results.set_mismatches.append(note)
        print(f"  WARNING {note}", flush=True)


def run_round(round_no: int, upstream: str, results: Results, ctx: RunContext) -> None:
    order = [TARGETS[(round_no - 1 + i) % len(TARGETS)] for i in range(len(TARGETS))]
    with ExitStack() as stack:
        servers = start_round_servers(stack, round_no, upstream, ctx.redact, ctx.access_log)
        for label in SERVERS:
            results.startup_seconds[label].append(round(getattr(servers, label).startup_seconds, 2))
        print(f"round {round_no}: fresh feed and devpi started; order {', '.join(order)}", flush=True)
        for target in order:
            cold_install(round_no, target, servers, upstream, results, ctx)
        for target in (t for t in order if t in SERVERS):
            run, install = timed_install(round_no, "warm", target, servers, upstream, ctx)
            results.runs.append(run)
            if run.error is None:
                compare_set(results, f"round {round_no} warm {target}", install.dists)
    collect_log_issues(round_no, servers, results, ctx.redact)
    shutil.rmtree(RUN_DIR / f"round-{round_no}", ignore_errors=True)  # server data: bounded disk, no upstream URLs


def cold_install(
    round_no: int, target: str, servers: RoundServers, upstream: str, results: Results, ctx: RunContext
) -> None:
    """The first install through a fresh server (or straight from the index); for the feed, check what it saved."""
    scenario = "direct" if target == "direct" else "cold"
    run, install = timed_install(round_no, scenario, target, servers, upstream, ctx)
    results.runs.append(run)
    if run.error is not None:
        if target == "feed":
            results.saved_checks.append({"round": round_no, "skipped": "the cold install failed"})
        return
    compare_set(results, f"round {round_no} {scenario} {target}", install.dists)
    if target != "feed":
        return
    check = {"round": round_no, **verify_saved(servers.feed, install)}
    results.saved_checks.append(check)
    req = check["requests"]
    print(
        f"           feed saved {check['saved_ok']}/{check['checked']} distributions with provenance and pip's "
        f"sha256 (requests {req['version']}: {req['file']}, source {req['provenance_source']}, verified with "
        f"{req['verified_with']}, saved by {req['saved_by']})",
        flush=True,
    )
    for what, problem in list(check["problems"].items())[:5]:
        print(f"           NOT SAVED RIGHT: {what}: {problem}", flush=True)


def log_issues(log: Path, redact: Redactor) -> list[str]:
    """Warning/error lines (and tracebacks) a server wrote to its log."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    marks = ("WARNING", "WARN ", "ERROR", "CRITICAL", "Traceback", "Exception")
    return [redact(line.strip())[:400] for line in lines if any(m in line for m in marks)]


def collect_log_issues(round_no: int, servers: RoundServers, results: Results, redact: Redactor) -> None:
    for label, log in (("feed", servers.feed_log), ("devpi", servers.devpi_log)):
        issues = log_issues(log, redact)
        if issues:
            results.server_log_issues[f"{label} round {round_no}"] = issues[:20]
            print(f"  NOTE {label} log of round {round_no}: {len(issues)} warning/error lines, e.g. {issues[0]}")


# ---------------------------------------------------------------------------------------------------------------
# Summary


SCENARIOS = (("direct", "direct"), ("cold", "feed"), ("cold", "devpi"), ("warm", "feed"), ("warm", "devpi"))


def scenario_name(scenario: str, target: str) -> str:
    return "direct" if scenario == "direct" else f"{scenario}_{target}"


def scenario_summary(results: Results) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scenario, target in SCENARIOS:
        runs = results.ok_runs(scenario, target)
        failed = [r for r in results.runs if r.scenario == scenario and r.target == target and r.error is not None]
        out[scenario_name(scenario, target)] = {
            "seconds": [r.seconds for r in runs],
            "median_seconds": median_or_none([r.seconds for r in runs]),
            "failed_runs": [{"round": r.round, "seconds": r.seconds, "error": r.error} for r in failed],
            "server_cpu_seconds": [r.server_cpu_seconds for r in runs],
            "server_cpu_median_seconds": median_or_none(
                [r.server_cpu_seconds for r in runs if r.server_cpu_seconds is not None]
            ),
            "pip_cpu_median_seconds": median_or_none(
                [r.pip_cpu_seconds for r in runs if r.pip_cpu_seconds is not None]
            ),
            "not_pip_cpu_median_seconds": median_or_none(
                [r.seconds - r.pip_cpu_seconds for r in runs if r.pip_cpu_seconds is not None]
            ),
            "pages_median_ms": median_of_medians(runs, "pages"),
            "files_median_ms": median_of_medians(runs, "files"),
        }
    return out


def median_of_medians(runs: list[Run], kind: str) -> float | None:
    values = [float(r.pip_requests[kind]["median_ms"]) for r in runs if (r.pip_requests.get(kind) or {}).get("count")]
    return median_or_none(values)


def ratios(s: dict[str, Any]) -> dict[str, Any]:
    m = {k: v["median_seconds"] for k, v in s.items()}
    warm = ratio(m["warm_feed"], m["warm_devpi"])
    cold_direct = ratio(m["cold_feed"], m["direct"])
    return {
        "warm_feed_over_devpi": warm,
        "warm_target": 1.0,
        "warm_meets_target": warm is not None and warm <= 1.0,
        "cold_feed_over_direct": cold_direct,
        "cold_direct_target": 1.2,
        "cold_direct_meets_target": cold_direct is not None and cold_direct <= 1.2,
        "cold_feed_over_devpi": ratio(m["cold_feed"], m["cold_devpi"]),
        "cold_devpi_over_direct": ratio(m["cold_devpi"], m["direct"]),
        "warm_feed_over_direct": ratio(m["warm_feed"], m["direct"]),
        "warm_devpi_over_direct": ratio(m["warm_devpi"], m["direct"]),
        "cpu_cold_feed_over_devpi": ratio(
            s["cold_feed"]["server_cpu_median_seconds"], s["cold_devpi"]["server_cpu_median_seconds"]
        ),
        "cpu_warm_feed_over_devpi": ratio(
            s["warm_feed"]["server_cpu_median_seconds"], s["warm_devpi"]["server_cpu_median_seconds"]
        ),
        "rest_warm_feed_over_devpi": ratio(
            s["warm_feed"]["not_pip_cpu_median_seconds"], s["warm_devpi"]["not_pip_cpu_median_seconds"]
        ),
        "rest_cold_feed_over_direct": ratio(
            s["cold_feed"]["not_pip_cpu_median_seconds"], s["direct"]["not_pip_cpu_median_seconds"]
        ),
    }


def slowest_requests(results: Results) -> dict[str, list[str]]:
    """Per scenario, the slowest requests pip saw in any of its runs (only with --request-log)."""
    out: dict[str, list[str]] = {}
    for run in results.runs:
        for entry in (run.pip_requests.get("slowest") or [])[:3]:
            out.setdefault(scenario_name(run.scenario, run.target), []).append(f"round {run.round}: {entry}")
    return {k: sorted(v, key=lambda e: -float(e.split(": ", 1)[1].split(" ", 1)[0]))[:5] for k, v in out.items()}


def summarize(args: argparse.Namespace, results: Results, machine: dict[str, Any], probe_ms: float) -> dict[str, Any]:
    scenarios = scenario_summary(results)
    pins = pinned_requirements()
    return {
        "benchmark": "pip install through an upstream: feed server vs devpi-server, both mirroring the live PyPI",
        "command": " ".join(["python", "bench/pip_install.py", *sys.argv[1:]]),
        "pip_command": "env -u PIP_* PIP_CONFIG_FILE=/dev/null python -m pip install "
        + " ".join(PIP_FLAGS)
        + " --target NEW --index-url URL --report R -r bench/requirements-pip-bench.txt"
        + (" --log L" if args.request_log else "")
        + "  (fresh target, no pip cache)",
        "upstream": "the live PyPI, URL from pip's default index (not recorded)",
        "upstream_probe_ms": round(probe_ms, 1),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine, "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "requirements": str(REQUIREMENTS.relative_to(REPO_DIR)),
        "pinned_distributions": len(pins),
        "installed_distributions": len(results.reference),
        "installed": {n: asdict(d) for n, d in sorted(results.reference.items())},
        "rounds": args.rounds,
        "rounds_done": results.rounds_done,
        "stopped_early": results.stopped_early,
        "budget_minutes": args.budget_minutes,
        "request_log": args.request_log,
        "access_log": args.access_log,
        "startup_seconds": results.startup_seconds,
        "scenarios": scenarios,
        "ratios": ratios(scenarios),
        "feed_saved_checks": results.saved_checks,
        "slowest_requests": slowest_requests(results),
        "set_mismatches": results.set_mismatches,
        "server_log_issues": results.server_log_issues,
        "runs": [asdict(r) for r in results.runs],
        "note": "ratios < 1 mean the feed is faster/cheaper; server CPU is the server process's user+system time "
        "during one install; pip CPU is the pip process's user+system time and 'rest' = wall time - pip CPU "
        "(time pip waited for the index, or for a CPU on this shared 2-core machine); devpi startup includes "
        "devpi-init and creating root/pypi; pip request latencies (--request-log only) are the ms from pip's "
        "previous log line to the response headers",
    }


def row(name: str, s: dict[str, Any]) -> str:
    runs = ", ".join(f"{x:.2f}" for x in s["seconds"])
    failed = f" + {len(s['failed_runs'])} FAILED" if s["failed_runs"] else ""
    extra = ""
    if s["pages_median_ms"] is not None:
        extra = f"   pip p50 page {fmt(s['pages_median_ms'], '.0f')} ms, file {fmt(s['files_median_ms'], '.0f')} ms"
    return (
        f"  {name:<12} median {fmt(s['median_seconds']):>6} s   runs [{runs}]{failed}   pip CPU "
        f"{fmt(s['pip_cpu_median_seconds']):>5} s, rest {fmt(s['not_pip_cpu_median_seconds']):>5} s   server CPU "
        f"{fmt(s['server_cpu_median_seconds']):>5} s{extra}"
    )


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "meets target" if value <= target else "MISSES target"


def saved_line(check: dict[str, Any]) -> str:
    if "skipped" in check:
        return f"round {check['round']}: not checked ({check['skipped']})"
    return f"round {check['round']}: {check['saved_ok']}/{check['checked']} with provenance and pip's sha256"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    s, r, machine = summary["scenarios"], summary["ratios"], summary["machine"]
    startup = summary["startup_seconds"]
    return [
        f"SUMMARY  {summary['installed_distributions']} distributions installed per run "
        f"({summary['pinned_distributions']} pinned); {summary['rounds_done']} of {summary['rounds']} rounds; "
        f"live index probe {summary['upstream_probe_ms']:.0f} ms"
        + ("; WITH pip --log (timings inflated)" if summary["request_log"] else ""),
        *([f"  NOTE         {summary['stopped_early']}"] if summary["stopped_early"] else []),
        f"  machine      {machine['cpus']} CPUs, load avg (1 min) {machine['load_avg_1m_start']} at start, "
        f"{machine['load_avg_1m_end']} at end (shared machine: wall times are noisy)",
        f"  startup      feed {startup['feed']} s, devpi {startup['devpi']} s (not in the install times)",
        *(row(scenario_name(sc, t), s[scenario_name(sc, t)]) for sc, t in SCENARIOS),
        f"  warm feed/devpi   = {fmt(r['warm_feed_over_devpi'], '.3f')}  (target <= 1.0: "
        f"{verdict(r['warm_feed_over_devpi'], 1.0)})",
        f"  cold feed/direct  = {fmt(r['cold_feed_over_direct'], '.3f')}  (target <= 1.2: "
        f"{verdict(r['cold_feed_over_direct'], 1.2)})",
        f"  cold feed/devpi   = {fmt(r['cold_feed_over_devpi'], '.3f')}   (cold devpi/direct = "
        f"{fmt(r['cold_devpi_over_direct'], '.3f')}, warm feed/direct = {fmt(r['warm_feed_over_direct'], '.3f')}, "
        f"warm devpi/direct = {fmt(r['warm_devpi_over_direct'], '.3f')})",
        f"  server CPU per install, feed/devpi: cold {fmt(r['cpu_cold_feed_over_devpi'], '.3f')}, "
        f"warm {fmt(r['cpu_warm_feed_over_devpi'], '.3f')}  (< 1: feed cheaper)",
        f"  time outside pip's CPU (waiting on the index, scheduling): warm feed/devpi "
        f"{fmt(r['rest_warm_feed_over_devpi'], '.3f')}, cold feed/direct {fmt(r['rest_cold_feed_over_direct'], '.3f')}",
        "  feed saved   " + "; ".join(saved_line(c) for c in summary["feed_saved_checks"]),
        *(
            f"  slowest {name:<12} {', '.join(e.split(': ', 1)[1] for e in entries[:3])}"
            for name, entries in summary["slowest_requests"].items()
        ),
        f"  sets         {'MISMATCHES (see JSON)' if summary['set_mismatches'] else 'identical in every install'}"
        " (name, version, file sha256)",
        f"  server logs  {sum(len(v) for v in summary['server_log_issues'].values())} warning/error lines"
        + (f" ({', '.join(summary['server_log_issues'])})" if summary["server_log_issues"] else ""),
    ]


def print_summary(summary: dict[str, Any]) -> None:
    rule = "=" * 100
    print("\n".join([rule, *summary_lines(summary), rule]))


def write_results(summary: dict[str, Any], redact: Redactor) -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(redact(json.dumps(summary, indent=2)) + "\n")
    print(f"Results written to {RESULTS_FILE.relative_to(REPO_DIR)}")


# ---------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each has fresh servers (default 3, max 10)")
    parser.add_argument("--access-log", action="store_true", help="start the feed with --access-log (diagnosis)")
    parser.add_argument(
        "--request-log", action="store_true", help="pip --log on every install: per-request latencies (diagnosis)"
    )
    parser.add_argument(
        "--budget-minutes", type=float, default=10, help="start no round that would likely end later (default 10)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10 or args.budget_minutes <= 0:
        parser.error("need 1 <= --rounds <= 10 (every round hits the live index) and --budget-minutes > 0")
    return args


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "pip": tool_version([sys.executable, "-m", "pip", "--version"]).split(" from ")[0],
        **ensure_devpi(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    upstream = live_index()
    redact = Redactor(upstream)
    machine = machine_info()
    probe_ms = probe_index(upstream)
    print(f"live index (pip's default) answers a project page in {probe_ms:.0f} ms", flush=True)
    pins = pinned_requirements()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    results = Results()
    ctx = RunContext(redact, pins, args.access_log, args.request_log)
    print(f"pip install {' '.join(PIP_FLAGS)} -r {REQUIREMENTS.name} ({len(pins)} pinned), fresh --target each run:")
    try:
        run_rounds(args, upstream, results, ctx)
    except RuntimeError as exc:  # a server did not start or could not be set up: report it redacted
        print(f"error: {redact(str(exc))}", file=sys.stderr, flush=True)
        return 1
    finally:
        tidy_run_dir(redact)
    summary = summarize(args, results, machine, probe_ms)
    print_summary(summary)
    write_results(summary, redact)
    return 0


def run_rounds(args: argparse.Namespace, upstream: str, results: Results, ctx: RunContext) -> None:
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
        run_round(round_no, upstream, results, ctx)
        longest = max(longest, time.perf_counter() - round_started)
        results.rounds_done = round_no


def tidy_run_dir(redact: Redactor) -> None:
    """Drop what holds upstream URLs (server data, pip work dirs); redact the kept server logs."""
    for path in [*RUN_DIR.glob("round-*"), *RUN_DIR.glob("install-*")]:
        shutil.rmtree(path, ignore_errors=True)
    for log in (RUN_DIR / "logs").glob("*.log"):
        log.write_text(redact(log.read_text(errors="replace")))


if __name__ == "__main__":
    sys.exit(main())
