"""Maven resolve benchmark: `mvn dependency:go-offline` of a small web application into an empty local repository,
through the feed (the public Maven registry as its upstream), straight from that registry, and from a static mirror
of the same files served by a plain file server (the floor).

    python bench/maven_resolve.py [--rounds 3] [--budget-minutes 12] [--access-log]

The registry's URL is read at run time from mvn's own configuration (the `central` repository of the super POM, or
the mirror this machine's settings put in front of it; tests/maven_client.py `central_url`) and is never written into
a file: the feed gets it through its REST API, and it is redacted from every log and result this script keeps. When
the registry's addresses are not public (a gateway in a reserved range), they are added to the feed's
FEED_UPSTREAM_ALLOWED_NETWORKS for this run only, as an operator would allow them.

The project (DEPENDENCIES: a Javalin web stack, JSON, logging, a connection pool, a JDBC driver and SQL mapper, a
cache, a CLI parser; JUnit 5, AssertJ, Mockito and H2 for tests; every plugin pinned as in the tests) resolves to
~290 jars and ~580 poms (~115 MB), plugins and their dependencies included. First an untimed resolve straight from
the registry primes the static mirror: its local repository, without mvn's bookkeeping files, is the mirror's tree.

Each round starts a FRESH feed (new data directory; one feed `bench` whose one upstream is the registry) and the
static server, then resolves, in an order that rotates every round:
  feed cold   the first resolve through the fresh feed (every file fetched from the registry, verified and saved);
  feed warm   a second resolve through the same feed, which now holds everything;
  direct      the same resolve straight from the registry through mvn's own configuration (the cold baseline);
  static      the same resolve from the static mirror (the warm floor).
Every resolve starts with an empty local repository and checks that it got exactly the files of the priming resolve.
The feed is private: mvn sends the token as the <server> password (Basic after a 401, as users set it up).

Printed: medians, the ratios feed cold / direct and feed warm / static against the targets (<= 1.2x each), the
servers' CPU time per resolve. Written: bench/results/maven_resolve.json. Servers are stopped at the end, also on
errors. No round is started that would likely end after --budget-minutes: every round hits the live registry.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import _rounds as rounds
import httpx
from _common import (
    BENCH_DIR,
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

sys.path.insert(0, str(REPO_DIR))
from tests.maven_client import (
    Dep,
    central_url,
    guard_allowances,
    mvn_env,
    pom_xml,
    run_mvn,
    settings_xml,
)

RUN_DIR = WORK_DIR / "maven"
RESULTS_FILE = BENCH_DIR / "results" / "maven_resolve.json"
FEED_NAME = rounds.UPSTREAM_FEED
SOURCE_NAME = "central"
MVN_GOAL = "dependency:go-offline"
MVN_TIMEOUT = 600.0
MIN_JARS = 60
TARGET = 1.2
KINDS = ("feed cold", "feed warm", "direct", "static")
UNITS = ("feed", "direct", "static")  # what rotates; the feed's cold resolve is always followed by its warm one
#: Files a local repository holds that a remote one does not (dropped from the static tree and from comparisons).
LOCAL_ONLY = ("_remote.repositories", "resolver-status.properties", "*.lastUpdated", "maven-metadata-*.xml*")

DEPENDENCIES = (
    Dep("io.javalin", "javalin", "6.7.0"),
    Dep("com.fasterxml.jackson.core", "jackson-databind", "2.21.3"),
    Dep("com.fasterxml.jackson.datatype", "jackson-datatype-jsr310", "2.21.3"),
    Dep("ch.qos.logback", "logback-classic", "1.5.35"),
    Dep("com.zaxxer", "HikariCP", "6.3.0"),
    Dep("org.postgresql", "postgresql", "42.7.7"),
    Dep("org.jdbi", "jdbi3-core", "3.49.5"),
    Dep("com.github.ben-manes.caffeine", "caffeine", "3.2.0"),
    Dep("org.yaml", "snakeyaml", "2.4"),
    Dep("info.picocli", "picocli", "4.7.7"),
    Dep("org.junit.jupiter", "junit-jupiter", "5.14.1", "test"),
    Dep("org.assertj", "assertj-core", "3.27.3", "test"),
    Dep("org.mockito", "mockito-core", "5.18.0", "test"),
    Dep("com.h2database", "h2", "2.3.232", "test"),
)


class Redactor:
    """Replaces the registry's address in text that may end up in a file or the summary."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.netloc = urlsplit(url).netloc

    def __call__(self, text: str) -> str:
        return text.replace(self.url, "<registry>").replace(self.netloc, "<registry>")


# ---------------------------------------------------------------------------------------------------------------
# The registry and the outbound guard


def probe_registry(url: str) -> float:
    """Milliseconds for one small GET (a pom) from the registry; raises when it does not answer 200."""
    pom = DEPENDENCIES[-1].path("pom")
    return rounds.probe(f"{url}/{pom}", "*/*", "Maven registry", "a pom")


# ---------------------------------------------------------------------------------------------------------------
# Servers


@dataclass
class Source:
    label: str  # "feed", "static" or "direct"
    url: str | None  # the mirror every repository goes to (None: mvn's own configuration)
    pid: int | None = None
    token: str | None = None
    startup_seconds: float = 0.0

    def cpu_seconds(self) -> float | None:
        return process_cpu_seconds(self.pid) if self.pid is not None else None


def start_feed(stack: ExitStack, round_no: int, upstream: str, nets: list[str], access_log: bool) -> Source:
    """A fresh feed server (new data dir) with feed `bench` whose one upstream is the registry."""
    env = {
        "FEED_STORAGE": "embedded",
        "FEED_PUBLIC_SOURCES": "{}",
        "FEED_LOG_LEVEL": "WARNING",
        "FEED_ORGANIZATION": "local",
        "FEED_UPSTREAM_ALLOWED_NETWORKS": ",".join(nets),
    }
    log = RUN_DIR / "logs" / f"feed-round-{round_no}.log"
    extra = ("--access-log",) if access_log else ()
    feed = start_feed_process(stack, RUN_DIR / f"round-{round_no}" / "feed-data", log, env, extra)
    create_feed(feed.base, feed.token, FEED_NAME)
    source = {"name": SOURCE_NAME, "protocol": "maven", "location": upstream, "upstreamSourceType": "public"}
    rounds.set_upstream(feed.base, feed.token, source)
    url = f"{feed.base}/local/_packaging/{FEED_NAME}/maven/v1"
    return Source("feed", url, feed.pid, feed.token, feed.startup_seconds)


def start_static(stack: ExitStack, root: Path, round_no: int) -> Source:
    port = free_port()
    log = RUN_DIR / "logs" / f"static-round-{round_no}.log"
    cmd = [sys.executable, str(BENCH_DIR / "_static_server.py"), str(port), str(root)]
    proc = stack.enter_context(process_group(cmd, log, dict(os.environ), root))
    url = f"http://127.0.0.1:{port}"
    startup = wait_ready(f"{url}/{DEPENDENCIES[0].path('pom')}", proc, log)
    return Source("static", url, proc.pid, None, startup)


# ---------------------------------------------------------------------------------------------------------------
# mvn


def write_project(project: Path) -> None:
    project.mkdir(parents=True, exist_ok=True)
    (project / "pom.xml").write_text(pom_xml("bench.app", "web-app", "1.0", dependencies=DEPENDENCIES))


def repository_files(repo: Path) -> set[str]:
    """The artifacts (jars, poms) a local repository holds, as repository paths."""
    return {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.suffix in (".jar", ".pom") and p.is_file()}


@dataclass
class Resolve:
    seconds: float
    files: set[str]
    error: str | None = None


def resolve(source: Source, name: str, redact: Redactor) -> Resolve:
    """One `mvn dependency:go-offline` into an empty local repository (and fresh HOME) from `source`."""
    root = RUN_DIR / "clients" / name
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("home", "tmp", "repository"):
        (root / sub).mkdir(parents=True)
    argv = ["mvn", "-B", "-ntp", f"-Dmaven.repo.local={root / 'repository'}"]
    if source.url is not None:  # the feed or the static mirror: every repository goes there, nothing else applies
        (root / "settings.xml").write_text(settings_xml(source.url, "bench", source.token))
        (root / "global-settings.xml").write_text(settings_xml(None))
        argv += ["-s", str(root / "settings.xml"), "-gs", str(root / "global-settings.xml")]
    argv.append(MVN_GOAL)
    env = mvn_env(root / "home", root / "tmp")
    result = run_mvn(argv, cwd=RUN_DIR / "project", env=env, timeout=MVN_TIMEOUT)
    (root / "mvn.log").write_text(redact(str(result)))
    files = repository_files(root / "repository")
    shutil.rmtree(root / "repository", ignore_errors=True)  # bounded disk
    if result.returncode != 0:
        errors = redact(result.errors() or result.output[-1500:])
        return Resolve(result.seconds, files, f"mvn exit {result.returncode}: {errors[:1500]}")
    return Resolve(result.seconds, files)


def prime_static_tree(redact: Redactor) -> tuple[Path, set[str], float]:
    """One untimed resolve straight from the registry; its local repository, less mvn's own bookkeeping, becomes the
    static mirror's tree. Returns the tree, the artifacts and the seconds it took."""
    tree = RUN_DIR / "static-tree"
    shutil.rmtree(tree, ignore_errors=True)
    root = RUN_DIR / "clients" / "prime"
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("home", "tmp"):
        (root / sub).mkdir(parents=True)
    argv = ["mvn", "-B", "-ntp", f"-Dmaven.repo.local={tree}", MVN_GOAL]
    result = run_mvn(argv, cwd=RUN_DIR / "project", env=mvn_env(root / "home", root / "tmp"), timeout=MVN_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"the priming resolve failed:\n{redact(str(result))[-4000:]}")
    for pattern in LOCAL_ONLY:
        for path in tree.rglob(pattern):
            path.unlink()
    files = repository_files(tree)
    jars = sum(1 for f in files if f.endswith(".jar"))
    if jars < MIN_JARS:
        raise RuntimeError(f"the project resolved only {jars} jars, expected >= {MIN_JARS}")
    return tree, files, result.seconds


# ---------------------------------------------------------------------------------------------------------------
# Checking what the feed saved


def version_url(base: str, dep: Dep) -> str:
    g, a, v = (quote(x, safe="") for x in (dep.group_id, dep.artifact_id, dep.version))
    return f"{base}/local/_apis/packaging/feeds/{FEED_NAME}/maven/groups/{g}/artifacts/{a}/versions/{v}"


def check_saved(feed: Source) -> dict[str, Any]:
    """The project's direct dependencies are saved in the feed with a provenance block naming the registry source
    (the version REST API); where that API is not there (404 for every one), at least that a reader's token, which
    may not save anything, gets each jar."""
    base = (feed.url or "").split("/local/_packaging/", 1)[0]
    problems: dict[str, str] = {}
    with httpx.Client(headers={"Authorization": f"Bearer {feed.token}"}, timeout=30) as client:
        answers = [(dep, *rounds.saved_version(client, version_url(base, dep))) for dep in DEPENDENCIES]
    if all(status == 404 for _, status, _ in answers):
        return {"checked": len(DEPENDENCIES), **check_readable(feed), "provenance": "version REST API answered 404"}
    for dep, status, doc in answers:
        problem = rounds.provenance_problem(status, doc, SOURCE_NAME)
        if problem is not None:
            problems[dep.coordinate] = problem
    return {"checked": len(DEPENDENCIES), "saved_ok": len(DEPENDENCIES) - len(problems), "problems": problems}


def check_readable(feed: Source) -> dict[str, Any]:
    """Every direct dependency's jar as a reader (who may not save from upstreams) gets it: saved."""
    base = (feed.url or "").split("/local/_packaging/", 1)[0]
    create = httpx.post(f"{base}/local/_apis/tokens/pats", headers={"Authorization": f"Bearer {feed.token}"},
                        json={"user": "reader", "scope": "vso.packaging"}, timeout=30)  # fmt: skip
    grant = httpx.patch(f"{base}/local/_apis/packaging/Feeds/{FEED_NAME}/permissions", timeout=30,
                        headers={"Authorization": f"Bearer {feed.token}"},
                        json=[{"role": "reader", "identityDescriptor": "reader"}])  # fmt: skip
    if create.status_code != 200 or grant.status_code != 200:
        return {"saved_ok": 0, "problems": {"reader": f"HTTP {create.status_code}/{grant.status_code}"}}
    token = create.json()["patToken"]["token"]
    problems = {}
    with httpx.Client(auth=("reader", token), timeout=60) as client:
        for dep in DEPENDENCIES:
            status = client.get(f"{feed.url}/{dep.path()}").status_code
            if status != 200:
                problems[dep.coordinate] = f"a reader got HTTP {status}"
    return {"saved_ok": len(DEPENDENCIES) - len(problems), "problems": problems}


# ---------------------------------------------------------------------------------------------------------------
# Rounds


@dataclass
class Run:
    round: int
    kind: str  # one of KINDS
    seconds: float
    server_cpu_seconds: float | None
    files: int
    error: str | None = None


@dataclass
class Results:
    runs: list[Run]
    saved_checks: list[dict[str, Any]]
    mismatches: list[str]
    feed_startup: list[float]
    rounds_done: int = 0
    stopped_early: str | None = None

    def ok(self, kind: str) -> list[float]:
        return [r.seconds for r in self.runs if r.kind == kind and r.error is None]


def measured(round_no: int, kind: str, source: Source, reference: set[str], results: Results, redact: Redactor) -> None:
    cpu = source.cpu_seconds()
    got = resolve(source, f"{kind.replace(' ', '-')}-{round_no}", redact)
    cpu_after = source.cpu_seconds()
    used = round(cpu_after - cpu, 2) if cpu is not None and cpu_after is not None else None
    if got.error is None and got.files != reference:
        missing, extra = sorted(reference - got.files), sorted(got.files - reference)
        note = f"round {round_no} {kind}: {len(missing)} files missing (e.g. {missing[:3]}), {len(extra)} extra"
        results.mismatches.append(note)
        print(f"  WARNING {note}", flush=True)
    run = Run(round_no, kind, round(got.seconds, 3), used, len(got.files), got.error)
    results.runs.append(run)
    outcome = f"{run.files} files" if run.error is None else f"FAILED: {run.error[:300]}"
    print(f"  round {round_no}  {kind:<9} {run.seconds:6.2f} s  server CPU {fmt(used):>5} s  {outcome}", flush=True)


def run_round(
    args: argparse.Namespace,
    round_no: int,
    tree: Path,
    reference: set[str],
    results: Results,
    ctx: tuple[str, list[str], Redactor],
) -> None:
    upstream, nets, redact = ctx
    order = [UNITS[(round_no - 1 + i) % len(UNITS)] for i in range(len(UNITS))]
    with ExitStack() as stack:
        feed = start_feed(stack, round_no, upstream, nets, args.access_log)
        static = start_static(stack, tree, round_no)
        results.feed_startup.append(round(feed.startup_seconds, 2))
        print(f"round {round_no}: fresh feed and static server started; order {', '.join(order)}", flush=True)
        for unit in order:
            if unit == "feed":
                measured(round_no, "feed cold", feed, reference, results, redact)
                check = {"round": round_no, **check_saved(feed)}
                results.saved_checks.append(check)
                how = "readable by a reader" if "provenance" in check else "with provenance"
                shown = "" if not check["problems"] else ": " + str(check["problems"])[:300]
                print(f"           feed saved {check['saved_ok']}/{check['checked']} direct dependencies {how}{shown}")
                measured(round_no, "feed warm", feed, reference, results, redact)
            elif unit == "direct":
                measured(round_no, "direct", Source("direct", None), reference, results, redact)
            else:
                measured(round_no, "static", static, reference, results, redact)
    shutil.rmtree(RUN_DIR / f"round-{round_no}", ignore_errors=True)  # server data: bounded disk, no URLs


def run_rounds(args: argparse.Namespace, run_one: Any, results: Results) -> None:
    started, longest = time.perf_counter(), 0.0
    for round_no in range(1, args.rounds + 1):
        elapsed = time.perf_counter() - started
        if round_no > 1 and elapsed + longest > args.budget_minutes * 60:
            results.stopped_early = (
                f"stopped after {round_no - 1} of {args.rounds} rounds: another (~{longest:.0f} s) would end past "
                f"the {args.budget_minutes} min budget"
            )
            print(f"NOTE {results.stopped_early}", flush=True)
            return
        round_started = time.perf_counter()
        run_one(round_no)
        longest = max(longest, time.perf_counter() - round_started)
        results.rounds_done = round_no


# ---------------------------------------------------------------------------------------------------------------
# Summary


def summarize(args: argparse.Namespace, results: Results, facts: dict[str, Any]) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for kind in KINDS:
        seconds = results.ok(kind)
        cpus = [r.server_cpu_seconds for r in results.runs if r.kind == kind and r.server_cpu_seconds is not None]
        scenarios[kind.replace(" ", "_")] = {
            "median_seconds": median_or_none(seconds),
            "min_seconds": min(seconds) if seconds else None,
            "runs_ok": len(seconds),
            "runs_failed": sum(1 for r in results.runs if r.kind == kind and r.error is not None),
            "server_cpu_median_seconds": round(statistics.median(cpus), 2) if cpus else None,
        }
    cold = ratio(scenarios["feed_cold"]["median_seconds"], scenarios["direct"]["median_seconds"])
    warm = ratio(scenarios["feed_warm"]["median_seconds"], scenarios["static"]["median_seconds"])
    return {
        "benchmark": "mvn dependency:go-offline into an empty local repository: through the feed (the public Maven "
        "registry as its upstream), straight from the registry, and from a static mirror of the same files",
        "command": " ".join(["python", "bench/maven_resolve.py", *sys.argv[1:]]),
        "mvn_command": f"mvn -B -ntp {MVN_GOAL}  (empty local repository, fresh HOME)",
        "upstream": "the public Maven registry, URL from mvn's own configuration (not recorded)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **facts,
        "dependencies": [d.coordinate + (f" ({d.scope})" if d.scope else "") for d in DEPENDENCIES],
        "rounds": args.rounds,
        "rounds_done": results.rounds_done,
        "stopped_early": results.stopped_early,
        "feed_startup_seconds": results.feed_startup,
        "scenarios": scenarios,
        "ratios": {"cold_feed_vs_direct": cold, "warm_feed_vs_static_floor": warm, "target": TARGET},
        "ratios_of_fastest_runs": {  # less moved by other work on a shared machine than the medians
            "cold_feed_vs_direct": ratio(scenarios["feed_cold"]["min_seconds"], scenarios["direct"]["min_seconds"]),
            "warm_feed_vs_static_floor": ratio(
                scenarios["feed_warm"]["min_seconds"], scenarios["static"]["min_seconds"]
            ),
        },
        "feed_saved_checks": results.saved_checks,
        "file_set_mismatches": results.mismatches,
        "runs": [asdict(r) for r in results.runs],
        "note": "ratios < 1 mean the feed is faster; server CPU is the server process's user+system time during one "
        "resolve; the direct resolve has no server of ours, so no CPU figure",
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    s, r, f = summary["scenarios"], summary["ratios"], summary["ratios_of_fastest_runs"]
    lines = [
        f"SUMMARY  {summary['artifacts']['jars']} jars + {summary['artifacts']['poms']} poms per resolve "
        f"({len(DEPENDENCIES)} direct deps, plugins included); {summary['rounds_done']} of {summary['rounds']} "
        f"rounds; registry probe {summary['upstream_probe_ms']:.0f} ms",
    ]
    for kind in ("direct", "feed_cold", "static", "feed_warm"):
        e = s[kind]
        lines.append(
            f"  {kind:<10} median {fmt(e['median_seconds']):>6} s  min {fmt(e['min_seconds']):>6} s  "
            f"ok {e['runs_ok']} failed {e['runs_failed']}  server CPU median {fmt(e['server_cpu_median_seconds'])} s"
        )
    lines += [
        f"  cold: feed / direct        = {fmt(r['cold_feed_vs_direct'], '.3f')}  "
        f"({rounds.verdict(r['cold_feed_vs_direct'], TARGET)})",
        f"  warm: feed / static floor  = {fmt(r['warm_feed_vs_static_floor'], '.3f')}  "
        f"({rounds.verdict(r['warm_feed_vs_static_floor'], TARGET)})",
        f"  fastest runs: cold {fmt(f['cold_feed_vs_direct'], '.3f')}, "
        f"warm {fmt(f['warm_feed_vs_static_floor'], '.3f')}",
        f"  machine: {machine_line(summary['machine'])}",
    ]
    if summary["file_set_mismatches"]:
        lines.append(f"  file sets differed {len(summary['file_set_mismatches'])} times (see the results file)")
    bad = [c for c in summary["feed_saved_checks"] if c.get("problems")]
    if bad:
        lines.append(f"  the feed's saved versions had problems in {len(bad)} rounds (see the results file)")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rounds.upstream_arguments(parser)
    parser.set_defaults(budget_minutes=12)
    args = parser.parse_args(argv)
    rounds.check_upstream_arguments(parser, args, "Maven registry")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    (RUN_DIR / "logs").mkdir(parents=True)
    upstream = central_url(RUN_DIR)
    redact = Redactor(upstream)
    nets = guard_allowances(upstream)
    probe_ms = probe_registry(upstream)
    print(f"Maven registry (from mvn's configuration) answers a pom in {probe_ms:.0f} ms; "
          f"{len(nets)} of its addresses need allowing in the feed's outbound guard", flush=True)  # fmt: skip
    machine = {**machine_basics(), "mvn": tool_version(["mvn", "-v"]), "java": tool_version(["java", "-version"])}
    write_project(RUN_DIR / "project")
    results = Results([], [], [], [])
    try:
        tree, reference, prime_seconds = prime_static_tree(redact)
        jars = sum(1 for f in reference if f.endswith(".jar"))
        print(f"Primed the static mirror: {jars} jars, {len(reference) - jars} poms ({prime_seconds:.1f} s, untimed)")
        run_rounds(args, lambda n: run_round(args, n, tree, reference, results, (upstream, nets, redact)), results)
    finally:
        for log in (RUN_DIR / "logs").glob("*.log"):
            log.write_text(redact(log.read_text(errors="replace")))
    machine["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    facts = {
        "upstream_probe_ms": round(probe_ms, 1),
        "machine": machine,
        "artifacts": {"jars": jars, "poms": len(reference) - jars},
        "priming_seconds": round(prime_seconds, 2),
    }
    summary = summarize(args, results, facts)
    print_summary(summary_lines(summary))
    write_results(RESULTS_FILE, summary, redact)
    return 0


if __name__ == "__main__":
    sys.exit(main())
