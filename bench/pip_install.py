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
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import _rounds as rounds
import httpx
from _common import (
    BENCH_DIR,
    REPO_DIR,
    WORK_DIR,
    Registry,
    exit_on_sigterm,
    fmt,
    free_port,
    machine_basics,
    median_or_none,
    print_summary,
    process_group,
    ratio,
    tool_version,
    wait_ready,
    write_results,
)

RUN_DIR = WORK_DIR / "pip"
DEVPI_VENV = WORK_DIR / "devpi-venv"
DEVPI_PINS = ("devpi-server==6.20.3", "devpi-client==7.3.0")
DEVPI_PASSWORD = "pw"
REQUIREMENTS = BENCH_DIR / "requirements-pip-bench.txt"
RESULTS_FILE = BENCH_DIR / "results" / "pip_install.json"
FEED_NAME = rounds.UPSTREAM_FEED
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
    return rounds.upstream_url(out, out.stdout.strip(), "pip's default index URL")


def probe_index(url: str) -> float:
    """Milliseconds for one small project page from the live index; raises when it does not answer 200."""
    return rounds.probe(f"{url}six/", "text/html", "index", "a project page")


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


def start_pip_feed(stack: ExitStack, round_dir: Path, log: Path, upstream: str, access_log: bool) -> Registry:
    source = {"name": SOURCE_NAME, "protocol": "pypi", "location": upstream}
    log_level = "INFO" if access_log else "WARNING"
    feed = rounds.start_upstream_feed(stack, round_dir / "feed-data", log, source, access_log, log_level)
    host = feed.base.split("://", 1)[1]
    url = f"http://__token__:{feed.token}@{host}/local/_packaging/{FEED_NAME}/pypi/simple/"
    return Registry("feed", url, feed.token, feed.pid, feed.startup_seconds)


def feed_base(registry: Registry) -> str:
    parts = urlsplit(registry.url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def start_round_servers(
    stack: ExitStack, round_no: int, upstream: str, redact: Redactor, access_log: bool
) -> rounds.RoundServers:
    round_dir = RUN_DIR / f"round-{round_no}"
    round_dir.mkdir(parents=True)
    logs = RUN_DIR / "logs"
    feed_log, devpi_log = logs / f"feed-round-{round_no}.log", logs / f"devpi-round-{round_no}.log"
    feed = start_pip_feed(stack, round_dir, feed_log, upstream, access_log)
    redact.secrets.add(feed.token)
    devpi_server = start_devpi(stack, round_dir, devpi_log, upstream, redact)
    return rounds.RoundServers({"feed": feed, "devpi": devpi_server}, {"feed": feed_log, "devpi": devpi_log})


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


def request_stats(requests: list[tuple[str, int, str, float]]) -> dict[str, Any]:
    if not requests:
        return {}
    return {
        "requests": len(requests),
        "non_200": sorted({f"{r[1]} {short_path(r[2])}" for r in requests if r[1] != 200})[:10],
        "pages": rounds.latency_stats([r[3] for r in requests if r[0] == "page"], 1),
        "files": rounds.latency_stats([r[3] for r in requests if r[0] == "file"], 1),
        "slowest": rounds.slowest_of(requests, short_path),
    }


# ---------------------------------------------------------------------------------------------------------------
# Checking what the feed saved


def version_url(base: str, name: str, version: str) -> str:
    return f"{base}/local/_apis/packaging/feeds/{FEED_NAME}/pypi/packages/{quote(name)}/versions/{quote(version)}"


def problem_of(status: int, doc: dict[str, Any], dist: Dist) -> str | None:
    """Why a saved version does not look right (None when it does)."""
    problem = rounds.provenance_problem(status, doc, SOURCE_NAME)
    if problem is not None:
        return problem
    provenance = doc["provenance"]
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
        urls = [version_url(base, name, dist.version) for name, dist in wanted]
        answers = list(pool.map(lambda url: rounds.saved_version(client, url), urls))
    problems = {
        f"{name}=={dist.version}": problem
        for (name, dist), (status, doc) in zip(wanted, answers, strict=True)
        if (problem := problem_of(status, doc, dist)) is not None
    }
    requests_doc = next((doc for (name, _), (_, doc) in zip(wanted, answers, strict=True) if name == "requests"), {})
    return {
        "checked": len(wanted),
        "saved_ok": len(wanted) - len(problems),
        "problems": dict(list(problems.items())[:20]),
        "requests": {
            **rounds.provenance_facts(requests_doc),
            "file": ((requests_doc.get("files") or [{}])[0]).get("name"),
        },
    }


def describe_saved(check: dict[str, Any]) -> str:
    req = check["requests"]
    return (
        f"feed saved {check['saved_ok']}/{check['checked']} distributions with provenance and pip's "
        f"sha256 (requests {req['version']}: {req['file']}, source {req['provenance_source']}, verified with "
        f"{req['verified_with']}, saved by {req['saved_by']})"
    )


# ---------------------------------------------------------------------------------------------------------------
# The rounds


@dataclass
class Run(rounds.RunTimes):
    pip_cpu_seconds: float | None  # the client's own CPU time; seconds - pip CPU ~ time pip spent waiting
    distributions: int
    pip_requests: dict[str, Any]
    error: str | None = None  # a failed run is reported, not counted in the medians


Results = rounds.RoundResults[Run]


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
    round_no: int, scenario: str, target: str, servers: rounds.RoundServers, upstream: str, ctx: RunContext
) -> tuple[Run, Install]:
    registry = servers.registries.get(target)
    url = registry.url if registry is not None else upstream
    install, cpu = rounds.timed_cpu(registry, lambda: run_install(target, url, ctx.redact, ctx.request_log))
    if install.error is None:
        install.error = check_set(install.dists, ctx.pins)
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
    rounds.print_run_details(req, run.error)


def set_differences(dists: dict[str, Dist], first: dict[str, Dist]) -> str:
    diff = sorted(
        f"{n}: {first.get(n)} -> {dists.get(n)}" for n in set(dists) | set(first) if dists.get(n) != first.get(n)
    )
    return f"{len(diff)} distributions differ from the first install, e.g. {diff[:2]}"


def bench_plan(upstream: str, ctx: RunContext) -> rounds.UpstreamBench[Run]:
    return rounds.UpstreamBench(
        run_dir=RUN_DIR,
        peer="devpi",
        peer_name="devpi",
        log_marks=("WARNING", "WARN ", "ERROR", "CRITICAL", "Traceback", "Exception"),
        start=lambda stack, round_no: start_round_servers(stack, round_no, upstream, ctx.redact, ctx.access_log),
        install=lambda round_no, scenario, target, servers: timed_install(
            round_no, scenario, target, servers, upstream, ctx
        ),
        installed=lambda install: install.dists,
        differences=set_differences,
        verify_saved=verify_saved,
        describe_saved=describe_saved,
    )


# ---------------------------------------------------------------------------------------------------------------
# Summary


SCENARIOS = (("direct", "direct"), ("cold", "feed"), ("cold", "devpi"), ("warm", "feed"), ("warm", "devpi"))


def pip_requests_of(run: Run) -> dict[str, Any]:
    return run.pip_requests


def scenario_summary(results: Results) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scenario, target in SCENARIOS:
        runs = results.ok_runs(scenario, target)
        out[rounds.scenario_name(scenario, target)] = {
            **rounds.scenario_entry(results, scenario, target),
            "pip_cpu_median_seconds": median_or_none(
                [r.pip_cpu_seconds for r in runs if r.pip_cpu_seconds is not None]
            ),
            "not_pip_cpu_median_seconds": median_or_none(
                [r.seconds - r.pip_cpu_seconds for r in runs if r.pip_cpu_seconds is not None]
            ),
            "pages_median_ms": rounds.median_of_medians(runs, pip_requests_of, "pages"),
            "files_median_ms": rounds.median_of_medians(runs, pip_requests_of, "files"),
        }
    return out


def ratios(s: dict[str, Any]) -> dict[str, Any]:
    return {
        **rounds.upstream_ratios(s, "devpi", also_direct=True),
        "rest_warm_feed_over_devpi": ratio(
            s["warm_feed"]["not_pip_cpu_median_seconds"], s["warm_devpi"]["not_pip_cpu_median_seconds"]
        ),
        "rest_cold_feed_over_direct": ratio(
            s["cold_feed"]["not_pip_cpu_median_seconds"], s["direct"]["not_pip_cpu_median_seconds"]
        ),
    }


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
        "installed_distributions": len(results.reference or {}),
        "installed": {n: asdict(d) for n, d in sorted((results.reference or {}).items())},
        **rounds.round_fields(args, results),
        "request_log": args.request_log,
        "access_log": args.access_log,
        "startup_seconds": results.startup_seconds,
        "scenarios": scenarios,
        "ratios": ratios(scenarios),
        "feed_saved_checks": results.saved_checks,
        "slowest_requests": rounds.slowest_requests(results.runs, pip_requests_of),
        "set_mismatches": results.mismatches,
        "server_log_issues": results.server_log_issues,
        "runs": [asdict(r) for r in results.runs],
        "note": "ratios < 1 mean the feed is faster/cheaper; server CPU is the server process's user+system time "
        "during one install; pip CPU is the pip process's user+system time and 'rest' = wall time - pip CPU "
        "(time pip waited for the index, or for a CPU on this shared 2-core machine); devpi startup includes "
        "devpi-init and creating root/pypi; pip request latencies (--request-log only) are the ms from pip's "
        "previous log line to the response headers",
    }


def row(name: str, s: dict[str, Any]) -> str:
    extra = ""
    if s["pages_median_ms"] is not None:
        extra = f"   pip p50 page {fmt(s['pages_median_ms'], '.0f')} ms, file {fmt(s['files_median_ms'], '.0f')} ms"
    return (
        f"{rounds.run_row_head(name, s, 12)}   pip CPU {fmt(s['pip_cpu_median_seconds']):>5} s, rest "
        f"{fmt(s['not_pip_cpu_median_seconds']):>5} s   server CPU {fmt(s['server_cpu_median_seconds']):>5} s{extra}"
    )


REPORT = rounds.Report(
    peer="devpi",
    width=13,
    ratio_width=17,
    saved_what="pip's sha256",
    mismatch_key="set_mismatches",
    mismatch_label="sets",
    mismatch_note=" (name, version, file sha256)",
)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    s, r = summary["scenarios"], summary["ratios"]
    startup = summary["startup_seconds"]
    first = (
        f"SUMMARY  {summary['installed_distributions']} distributions installed per run "
        f"({summary['pinned_distributions']} pinned); {summary['rounds_done']} of {summary['rounds']} rounds; "
        f"live index probe {summary['upstream_probe_ms']:.0f} ms"
        + ("; WITH pip --log (timings inflated)" if summary["request_log"] else "")
    )
    body = [
        f"  startup      feed {startup['feed']} s, devpi {startup['devpi']} s (not in the install times)",
        *(row(rounds.scenario_name(sc, t), s[rounds.scenario_name(sc, t)]) for sc, t in SCENARIOS),
    ]
    rest = (
        f"  time outside pip's CPU (waiting on the index, scheduling): warm feed/devpi "
        f"{fmt(r['rest_warm_feed_over_devpi'], '.3f')}, cold feed/direct {fmt(r['rest_cold_feed_over_direct'], '.3f')}"
    )
    warm_devpi = f", warm devpi/direct = {fmt(r['warm_devpi_over_direct'], '.3f')}"
    return rounds.summary_lines(summary, REPORT, first, body, warm_devpi, (rest,))


# ---------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rounds.upstream_arguments(parser)
    parser.add_argument(
        "--request-log", action="store_true", help="pip --log on every install: per-request latencies (diagnosis)"
    )
    args = parser.parse_args(argv)
    rounds.check_upstream_arguments(parser, args, "index")
    return args


def machine_info() -> dict[str, Any]:
    return {
        **machine_basics(),
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
    results = Results.for_servers(SERVERS)
    plan = bench_plan(upstream, RunContext(redact, pins, args.access_log, args.request_log))
    print(f"pip install {' '.join(PIP_FLAGS)} -r {REQUIREMENTS.name} ({len(pins)} pinned), fresh --target each run:")
    try:
        rounds.run_rounds(args, results, lambda round_no: rounds.run_round(plan, round_no, results, redact))
    except RuntimeError as exc:  # a server did not start or could not be set up: report it redacted
        print(f"error: {redact(str(exc))}", file=sys.stderr, flush=True)
        return 1
    finally:
        # server data and pip work dirs: they hold upstream URLs
        rounds.tidy_run_dir(RUN_DIR, redact, ("round-*", "install-*"))
    summary = summarize(args, results, machine, probe_ms)
    print_summary(summary_lines(summary))
    write_results(RESULTS_FILE, summary, redact)
    return 0


if __name__ == "__main__":
    sys.exit(main())
