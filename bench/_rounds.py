"""The rounds of the upstream benchmarks (npm_upstream.py, pip_install.py) and their summaries.

Each round starts a fresh feed (one feed, UPSTREAM_FEED, with the live upstream as its source) and a fresh peer
(Verdaccio, devpi), then installs, in an order that rotates every round: cold through each server (everything fetched
from upstream and saved) and straight from the upstream ("direct", the baseline); then warm through each server.
What differs between the two benchmarks (the client, the peer, what is checked) comes in an UpstreamBench.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import httpx
from _common import FeedProcess, Registry, create_feed, fmt, machine_line, median_or_none, ratio, start_feed_process

UPSTREAM_FEED = "bench"  # the feed the upstream benchmarks install through


# ---------------------------------------------------------------------------------------------------------------
# Rounds through an upstream (npm_upstream.py and pip_install.py): a fresh feed and a fresh peer each round, a cold
# and a warm install through each, and the same install straight from the upstream ("direct") as the baseline.


def upstream_url(out: subprocess.CompletedProcess[str], url: str, source: str) -> str:
    """The live upstream's URL as `source` printed it, ending with '/'; raises when it printed none."""
    if out.returncode != 0 or not url.startswith(("http://", "https://")):
        raise RuntimeError(f"{source} gave no URL (exit {out.returncode}): {out.stderr[-500:]}")
    return url if url.endswith("/") else url + "/"


def probe(url: str, accept: str, upstream: str, what: str) -> float:
    """Milliseconds for one small GET from the live upstream; raises when it does not answer 200 (the error names
    neither the URL nor the exception text, which may hold it)."""
    started = time.perf_counter()
    try:
        resp = httpx.get(url, headers={"Accept": accept}, timeout=30, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"the live {upstream} did not answer: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise RuntimeError(f"the live {upstream} answered HTTP {resp.status_code} for {what}")
    return (time.perf_counter() - started) * 1000


def upstream_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each has fresh servers (default 3, max 10)")
    parser.add_argument("--access-log", action="store_true", help="start the feed with --access-log (diagnosis)")
    parser.add_argument(
        "--budget-minutes", type=float, default=10, help="start no round that would likely end later (default 10)"
    )


def check_upstream_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, upstream: str) -> None:
    if not 1 <= args.rounds <= 10 or args.budget_minutes <= 0:
        parser.error(f"need 1 <= --rounds <= 10 (every round hits the live {upstream}) and --budget-minutes > 0")


def start_upstream_feed(
    stack: ExitStack, data_dir: Path, log: Path, source: dict[str, str], access_log: bool, log_level: str = "WARNING"
) -> FeedProcess:
    """A fresh feed server with feed `bench` (UPSTREAM_FEED) whose one upstream source is `source`."""
    env = {
        "FEED_STORAGE": "embedded",
        "FEED_PUBLIC_SOURCES": "{}",
        "FEED_LOG_LEVEL": log_level,
        "FEED_ORGANIZATION": "local",
    }
    feed = start_feed_process(stack, data_dir, log, env, ("--access-log",) if access_log else ())
    create_feed(feed.base, feed.token, UPSTREAM_FEED)
    set_upstream(feed.base, feed.token, source)
    return feed


def set_upstream(base: str, token: str, source: dict[str, str]) -> None:
    """Make `source` the only upstream of feed UPSTREAM_FEED (no response text in errors: it names the upstream)."""
    resp = httpx.patch(
        f"{base}/local/_apis/packaging/feeds/{UPSTREAM_FEED}",
        params={"api-version": "7.1"},
        headers={"Authorization": f"Bearer {token}"},
        json={"upstreamSources": [source]},
        timeout=30,
    )
    if resp.status_code != 200:
        raise RuntimeError(f"setting the feed's upstream failed: HTTP {resp.status_code}")
    sources = resp.json().get("upstreamSources") or []
    if not any(s.get("name") == source["name"] and s.get("protocol") == source["protocol"] for s in sources):
        raise RuntimeError("the feed did not keep the upstream source")


def saved_version(client: httpx.Client, url: str) -> tuple[int, dict[str, Any]]:
    """A package version as the feed's REST API describes it: (status, document or {})."""
    resp = client.get(url, params={"api-version": "7.1"})
    return resp.status_code, resp.json() if resp.status_code == 200 else {}


def provenance_problem(status: int, doc: dict[str, Any], source_name: str) -> str | None:
    """Why a saved version has no right provenance block (None when it has)."""
    if status != 200:
        return f"HTTP {status}"
    provenance = doc.get("provenance")
    if not isinstance(provenance, dict) or not provenance:
        return "no provenance block"
    if (provenance.get("source") or {}).get("name") != source_name:
        return f"provenance source is {(provenance.get('source') or {}).get('name')!r}"
    return None


def provenance_facts(doc: dict[str, Any]) -> dict[str, Any]:
    provenance = doc.get("provenance") or {}
    return {
        "version": doc.get("version"),
        "provenance_source": (provenance.get("source") or {}).get("name"),
        "verified_with": provenance.get("verifiedWith"),
        "saved_by": provenance.get("savedBy"),
    }


def latency_stats(values: list[float], digits: int | None = None) -> dict[str, Any]:
    """Count, median, p90, max (ms, rounded to `digits`) and sum (s) of request latencies."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered), digits),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], digits),
        "max_ms": round(ordered[-1], digits),
        "sum_s": round(sum(ordered) / 1000, 2),
    }


def slowest_of(requests: list[tuple[str, int, str, float]], short: Callable[[str], str]) -> list[str]:
    """The five slowest requests, one line each: `ms kind status path`."""
    return [f"{r[3]:.0f} ms {r[0]} {r[1]} {short(r[2])}" for r in sorted(requests, key=lambda r: -r[3])[:5]]


T = TypeVar("T")


def timed_cpu(registry: Registry | None, work: Callable[[], T]) -> tuple[T, float | None]:
    """work()'s result and the CPU seconds the server spent meanwhile (None without a server or off Linux)."""
    before = registry.cpu_seconds() if registry is not None else None
    result = work()
    after = registry.cpu_seconds() if registry is not None else None
    return result, round(after - before, 3) if before is not None and after is not None else None


def print_run_details(requests: dict[str, Any], error: str | None) -> None:
    """The lines under a run's line: the slowest requests, answers other than 200, the error."""
    if requests:
        print(f"           slowest: {'; '.join(requests['slowest'][:3])}", flush=True)
        if requests["non_200"]:
            print(f"           non-200 answers: {', '.join(requests['non_200'][:5])}", flush=True)
    if error:
        print(f"           error: {error.replace(chr(10), chr(10) + '           ')}", flush=True)


class RoundRun(Protocol):
    round: int
    scenario: str
    target: str
    seconds: float
    server_cpu_seconds: float | None
    error: str | None


@dataclass
class RunTimes:
    """The first fields of every benchmark's Run (which adds its client's figures, then `error`)."""

    round: int
    scenario: str  # cold | warm | direct
    target: str  # feed | the peer | direct
    seconds: float
    server_cpu_seconds: float | None


R = TypeVar("R", bound=RoundRun)


@dataclass
class RoundServers:
    registries: dict[str, Registry]  # "feed" and the peer
    logs: dict[str, Path]


@dataclass
class RoundResults(Generic[R]):
    runs: list[R] = field(default_factory=list)
    saved_checks: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # installs that differ from the first one
    server_log_issues: dict[str, list[str]] = field(default_factory=dict)
    startup_seconds: dict[str, list[float]] = field(default_factory=dict)
    reference: Any = None  # what the first good install installed
    rounds_done: int = 0
    stopped_early: str | None = None

    @classmethod
    def for_servers(cls, servers: tuple[str, ...]) -> RoundResults[R]:
        return cls(startup_seconds={label: [] for label in servers})

    def ok_runs(self, scenario: str, target: str) -> list[R]:
        return [r for r in self.runs if r.scenario == scenario and r.target == target and r.error is None]

    def failed_runs(self, scenario: str, target: str) -> list[R]:
        return [r for r in self.runs if r.scenario == scenario and r.target == target and r.error is not None]

    def compare(self, label: str, installed: Any, differences: Callable[[Any, Any], str]) -> None:
        """Every install must install what the first one did; differences(installed, first) says how it does not."""
        if not self.reference:
            self.reference = installed
            return
        if installed != self.reference:
            note = f"{label}: {differences(installed, self.reference)}"
            self.mismatches.append(note)
            print(f"  WARNING {note}", flush=True)


@dataclass(frozen=True)
class UpstreamBench(Generic[R]):
    """What differs between the npm and the pip benchmark; the rounds themselves are run_round's."""

    run_dir: Path
    peer: str  # "verdaccio" | "devpi"
    peer_name: str  # as printed
    log_marks: tuple[str, ...]  # what makes a server log line worth reporting
    start: Callable[[ExitStack, int], RoundServers]
    install: Callable[[int, str, str, RoundServers], tuple[R, Any]]  # (round, scenario, target) -> (run, install)
    installed: Callable[[Any], Any]  # what an install installed, compared between installs
    differences: Callable[[Any, Any], str]
    verify_saved: Callable[[Registry, Any], dict[str, Any]]
    describe_saved: Callable[[dict[str, Any]], str]

    @property
    def targets(self) -> tuple[str, ...]:
        return ("feed", self.peer, "direct")


def scenario_name(scenario: str, target: str) -> str:
    return "direct" if scenario == "direct" else f"{scenario}_{target}"


def run_rounds(args: argparse.Namespace, results: RoundResults[R], run_one: Callable[[int], None]) -> None:
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
        run_one(round_no)
        longest = max(longest, time.perf_counter() - round_started)
        results.rounds_done = round_no


def run_round(bench: UpstreamBench[R], round_no: int, results: RoundResults[R], redact: Callable[[str], str]) -> None:
    """Fresh servers; a cold install through each (and the direct one), then a warm one through each server."""
    targets = bench.targets
    order = [targets[(round_no - 1 + i) % len(targets)] for i in range(len(targets))]
    with ExitStack() as stack:
        servers = bench.start(stack, round_no)
        for label, registry in servers.registries.items():
            results.startup_seconds.setdefault(label, []).append(round(registry.startup_seconds, 2))
        print(f"round {round_no}: fresh feed and {bench.peer_name} started; order {', '.join(order)}", flush=True)
        for target in order:
            cold_install(bench, round_no, target, servers, results)
        for target in (t for t in order if t in servers.registries):
            run, install = bench.install(round_no, "warm", target, servers)
            results.runs.append(run)
            if run.error is None:
                results.compare(f"round {round_no} warm {target}", bench.installed(install), bench.differences)
    for label, log in servers.logs.items():
        issues = log_issues(log, redact, bench.log_marks)
        if issues:
            results.server_log_issues[f"{label} round {round_no}"] = issues[:20]
            print(f"  NOTE {label} log of round {round_no}: {len(issues)} warning/error lines, e.g. {issues[0]}")
    shutil.rmtree(bench.run_dir / f"round-{round_no}", ignore_errors=True)  # server data: bounded disk, no URLs


def cold_install(
    bench: UpstreamBench[R], round_no: int, target: str, servers: RoundServers, results: RoundResults[R]
) -> None:
    """The first install through a fresh server (or straight from upstream); for the feed, check what it saved."""
    scenario = "direct" if target == "direct" else "cold"
    run, install = bench.install(round_no, scenario, target, servers)
    results.runs.append(run)
    if run.error is not None:
        if target == "feed":
            results.saved_checks.append({"round": round_no, "skipped": "the cold install failed"})
        return
    results.compare(f"round {round_no} {scenario} {target}", bench.installed(install), bench.differences)
    if target != "feed":
        return
    check = {"round": round_no, **bench.verify_saved(servers.registries["feed"], install)}
    results.saved_checks.append(check)
    print(f"           {bench.describe_saved(check)}", flush=True)
    for what, problem in list(check["problems"].items())[:5]:
        print(f"           NOT SAVED RIGHT: {what}: {problem}", flush=True)


def log_issues(log: Path, redact: Callable[[str], str], marks: tuple[str, ...]) -> list[str]:
    """Warning/error lines (and tracebacks) a server wrote to its log."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [redact(line.strip())[:400] for line in lines if any(m in line for m in marks)]


def tidy_run_dir(run_dir: Path, redact: Callable[[str], str], patterns: tuple[str, ...]) -> None:
    """Drop what holds upstream URLs (server data, client work dirs); redact the kept server logs."""
    for pattern in patterns:
        for path in run_dir.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
    for log in (run_dir / "logs").glob("*.log"):
        log.write_text(redact(log.read_text(errors="replace")))


# ---------------------------------------------------------------------------------------------------------------
# Summaries of upstream rounds


def scenario_entry(results: RoundResults[R], scenario: str, target: str) -> dict[str, Any]:
    """The figures every upstream benchmark keeps per scenario (each adds its client's own)."""
    runs = results.ok_runs(scenario, target)
    return {
        "seconds": [r.seconds for r in runs],
        "median_seconds": median_or_none([r.seconds for r in runs]),
        "failed_runs": [
            {"round": r.round, "seconds": r.seconds, "error": r.error} for r in results.failed_runs(scenario, target)
        ],
        "server_cpu_seconds": [r.server_cpu_seconds for r in runs],
        "server_cpu_median_seconds": median_or_none(
            [r.server_cpu_seconds for r in runs if r.server_cpu_seconds is not None]
        ),
    }


def median_of_medians(runs: list[R], requests_of: Callable[[R], dict[str, Any]], kind: str) -> float | None:
    values = [float(req[kind]["median_ms"]) for r in runs if ((req := requests_of(r)).get(kind) or {}).get("count")]
    return median_or_none(values)


def upstream_ratios(s: dict[str, Any], peer: str, also_direct: bool = False) -> dict[str, Any]:
    """Install-time and server-CPU ratios between the feed, the peer and direct, with the issue's targets
    (also_direct: the peer's warm install against direct too)."""
    m = {k: v["median_seconds"] for k, v in s.items()}
    warm = ratio(m["warm_feed"], m[f"warm_{peer}"])
    cold_direct = ratio(m["cold_feed"], m["direct"])
    return {
        f"warm_feed_over_{peer}": warm,
        "warm_target": 1.0,
        "warm_meets_target": warm is not None and warm <= 1.0,
        "cold_feed_over_direct": cold_direct,
        "cold_direct_target": 1.2,
        "cold_direct_meets_target": cold_direct is not None and cold_direct <= 1.2,
        f"cold_feed_over_{peer}": ratio(m["cold_feed"], m[f"cold_{peer}"]),
        f"cold_{peer}_over_direct": ratio(m[f"cold_{peer}"], m["direct"]),
        "warm_feed_over_direct": ratio(m["warm_feed"], m["direct"]),
        **({f"warm_{peer}_over_direct": ratio(m[f"warm_{peer}"], m["direct"])} if also_direct else {}),
        **{
            f"cpu_{when}_feed_over_{peer}": ratio(
                s[f"{when}_feed"]["server_cpu_median_seconds"], s[f"{when}_{peer}"]["server_cpu_median_seconds"]
            )
            for when in ("cold", "warm")
        },
    }


def slowest_requests(runs: list[R], requests_of: Callable[[R], dict[str, Any]]) -> dict[str, list[str]]:
    """Per scenario, the slowest requests the client saw in any of its runs (where the time went)."""
    out: dict[str, list[str]] = {}
    for run in runs:
        for entry in (requests_of(run).get("slowest") or [])[:3]:
            out.setdefault(scenario_name(run.scenario, run.target), []).append(f"round {run.round}: {entry}")
    return {k: sorted(v, key=lambda e: -float(e.split(": ", 1)[1].split(" ", 1)[0]))[:5] for k, v in out.items()}


def round_fields(args: argparse.Namespace, results: RoundResults[R]) -> dict[str, Any]:
    return {
        "rounds": args.rounds,
        "rounds_done": results.rounds_done,
        "stopped_early": results.stopped_early,
        "budget_minutes": args.budget_minutes,
    }


def run_row_head(name: str, s: dict[str, Any], width: int) -> str:
    runs = ", ".join(f"{x:.2f}" for x in s["seconds"])
    failed = f" + {len(s['failed_runs'])} FAILED" if s["failed_runs"] else ""
    return f"  {name:<{width}} median {fmt(s['median_seconds']):>6} s   runs [{runs}]{failed}"


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "meets target" if value <= target else "MISSES target"


@dataclass(frozen=True)
class Report:
    """How a benchmark's summary reads: its peer, the width of the label column, what it checks."""

    peer: str
    width: int  # of the label column
    ratio_width: int  # of the names of the ratio lines
    saved_what: str  # what each saved version is checked against
    mismatch_key: str  # the summary's list of installs that differ from the first
    mismatch_label: str
    mismatch_note: str = ""
    slowest_shown: tuple[str, ...] | None = None  # the scenarios whose slowest requests are printed (None: all)


def summary_lines(
    summary: dict[str, Any],
    report: Report,
    first: str,
    body: list[str],
    direct_extra: str = "",
    after_ratios: tuple[str, ...] = (),
) -> list[str]:
    """The printed summary: `first`, the machine, `body` (a row per scenario), the ratios with their targets, the
    saved-version checks, the slowest requests, whether the installs matched, the server logs."""
    r, peer, width = summary["ratios"], report.peer, report.width
    pad = report.ratio_width

    def label(name: str) -> str:
        return f"  {name:<{width}}"

    mismatches = "MISMATCHES (see JSON)" if summary[report.mismatch_key] else "identical in every install"
    return [
        first,
        *([label("NOTE") + summary["stopped_early"]] if summary["stopped_early"] else []),
        label("machine") + machine_line(summary["machine"]),
        *body,
        "  " + target_line(f"{'warm feed/' + peer:<{pad}}", r[f"warm_feed_over_{peer}"], 1.0),
        "  " + target_line(f"{'cold feed/direct':<{pad}}", r["cold_feed_over_direct"], 1.2),
        f"  {'cold feed/' + peer:<{pad}} = {fmt(r[f'cold_feed_over_{peer}'], '.3f')}   (cold {peer}/direct = "
        f"{fmt(r[f'cold_{peer}_over_direct'], '.3f')}, warm feed/direct = {fmt(r['warm_feed_over_direct'], '.3f')}"
        f"{direct_extra})",
        f"  server CPU per install, feed/{peer}: cold {fmt(r[f'cpu_cold_feed_over_{peer}'], '.3f')}, "
        f"warm {fmt(r[f'cpu_warm_feed_over_{peer}'], '.3f')}  (< 1: feed cheaper)",
        *after_ratios,
        label("feed saved") + "; ".join(saved_line(c, report.saved_what) for c in summary["feed_saved_checks"]),
        *(
            f"  slowest {name:<{width - 1}} {', '.join(e.split(': ', 1)[1] for e in entries[:3])}"
            for name, entries in summary["slowest_requests"].items()
            if report.slowest_shown is None or name in report.slowest_shown
        ),
        label(report.mismatch_label) + mismatches + report.mismatch_note,
        label("server logs") + log_issues_line(summary["server_log_issues"]),
    ]


def target_line(name: str, value: float | None, target: float) -> str:
    return f"{name} = {fmt(value, '.3f')}  (target <= {target}: {verdict(value, target)})"


def saved_line(check: dict[str, Any], what: str) -> str:
    if "skipped" in check:
        return f"round {check['round']}: not checked ({check['skipped']})"
    return f"round {check['round']}: {check['saved_ok']}/{check['checked']} with provenance and {what}"


def log_issues_line(issues: dict[str, list[str]]) -> str:
    return f"{sum(len(v) for v in issues.values())} warning/error lines" + (f" ({', '.join(issues)})" if issues else "")
