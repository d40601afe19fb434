"""Cargo fetch benchmark: `cargo fetch` of a small CLI's dependencies into an empty CARGO_HOME, through the feed (the
public crate registry as its upstream) and straight from that registry.

    python bench/cargo_fetch.py [--rounds 3] [--budget-minutes 10] [--access-log] [--homes DIR]

The registry's sparse index URL is found at run time from cargo's own configuration (tests/cargo_client.py
`public_index_url`: a scratch cargo run names it without sending anything) and is never written into a file: the
feed gets it through its REST API, the direct fetches use this machine's cargo configuration, and it is redacted
from every log and result this script keeps. When the registry's addresses (its index and its download host) are
not public (a gateway in a reserved range), they are added to the feed's FEED_UPSTREAM_ALLOWED_NETWORKS for this
run only, as an operator would allow them.

The project (DEPENDENCIES: clap with derive, serde with derive, serde_json, regex, anyhow, tokio with a minimal
runtime, and a few everyday crates: logging, errors, iterators, TOML, random numbers, tracing) is resolved once,
untimed, straight from the registry: that Cargo.lock (at least MIN_CRATES crates) is then used by every fetch
(`cargo fetch --locked --target <host>`), so every fetch asks for the same crates: their index files, then their
.crate files.

Each round starts a FRESH feed (new data directory; one feed `bench` whose one upstream is the registry, as a
`cargo` upstream source) and then fetches, feed first in odd rounds and direct first in even ones:
  feed cold   the first fetch through the fresh feed (every index file and crate fetched from the registry, verified
              against its cksum and saved), cargo configured with `[source.crates-io] replace-with = "feed"`;
  feed warm   a second fetch through the same feed, which now holds everything;
  direct      the same fetch straight from the registry through cargo's own configuration (the baseline).
Every fetch starts with an empty CARGO_HOME (in a memory file system by default: cargo unpacks every crate it
fetches there, and on a slow disk that work, the same for both sides, drowns what the registries do; `--homes`
puts them elsewhere) and checks that it got exactly the .crate files of the lockfile. After
the cold fetch the script checks, through the feed's REST API, that every crate was saved with provenance.

Printed: medians, the ratios feed cold / direct (target <= 1.2) and feed warm / direct (target <= 1.0), the
server's CPU time per fetch. Written: bench/results/cargo_fetch.json. The server is stopped at the end, also on
errors. No round is started that would likely end after --budget-minutes: every round hits the live registry.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
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
    FeedProcess,
    create_feed,
    exit_on_sigterm,
    fmt,
    machine_basics,
    machine_line,
    print_summary,
    process_cpu_seconds,
    ratio,
    start_feed_process,
    tool_version,
    write_results,
)

sys.path.insert(0, str(REPO_DIR))
from tests.cargo_client import (
    TOKEN_VARIABLE,
    config_toml,
    public_index_url,
    toolchain,
    user_cargo_home,
)
from tests.maven_client import guard_allowances

RUN_DIR = WORK_DIR / "cargo"
RESULTS_FILE = BENCH_DIR / "results" / "cargo_fetch.json"
#: Where each fetch's empty CARGO_HOME is made (``--homes``): cargo unpacks every crate it fetches there, so on a
#: slow disk that work (the same for both sides) takes most of a fetch's time.
homes_dir = RUN_DIR / "clients"
FEED_NAME = rounds.UPSTREAM_FEED
SOURCE_NAME = "crates"
FETCH_TIMEOUT = 600.0
MIN_CRATES = 40
COLD_TARGET, WARM_TARGET = 1.2, 1.0

#: The benchmark project's dependencies, as they go into its Cargo.toml.
DEPENDENCIES = {
    "clap": '{ version = "4", default-features = false, features = ["std", "derive", "help", "usage"] }',
    "serde": '{ version = "1", features = ["derive"] }',
    "serde_json": '"1"',
    "regex": '"1"',
    "anyhow": '"1"',
    "tokio": '{ version = "1", default-features = false, features = ["rt", "macros", "time"] }',
    "log": '"0.4"',
    "thiserror": '"2"',
    "itertools": '"0.14"',
    "toml": '"0.8"',
    "rand": '"0.9"',
    "tracing": '"0.1"',
}


class Redactor:
    """Replaces the registry's addresses in text that may end up in a file or the summary."""

    def __init__(self, *urls: str) -> None:
        self.parts = sorted({u.rstrip("/") for u in urls} | {urlsplit(u).netloc for u in urls}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for part in self.parts:
            text = text.replace(part, "<registry>")
        return text


# ---------------------------------------------------------------------------------------------------------------
# The registry


def registry_config(index: str) -> tuple[str, float]:
    """The registry's download URL template (from its config.json) and the milliseconds that GET took."""
    started = time.perf_counter()
    try:
        resp = httpx.get(index + "config.json", timeout=30, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"the public crate registry's index did not answer: {type(exc).__name__}") from None
    if resp.status_code != 200 or not isinstance(resp.json().get("dl"), str):
        raise RuntimeError(f"the public crate registry's config.json: HTTP {resp.status_code}, or no `dl`")
    return str(resp.json()["dl"]), (time.perf_counter() - started) * 1000


# ---------------------------------------------------------------------------------------------------------------
# cargo


def host_triple() -> str:
    out = subprocess.run([toolchain().rustc, "-vV"], capture_output=True, text=True, check=True, timeout=60).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("host:"))


def write_project(project: Path) -> None:
    (project / "src").mkdir(parents=True, exist_ok=True)
    deps = "".join(f"{name} = {spec}\n" for name, spec in DEPENDENCIES.items())
    manifest = f'[package]\nname = "bench-cli"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n{deps}'
    (project / "Cargo.toml").write_text(manifest)
    (project / "src" / "main.rs").write_text("fn main() {}\n")


def locked_crates(project: Path) -> set[str]:
    """The registry crates of the lockfile, as .crate file names."""
    lock = tomllib.loads((project / "Cargo.lock").read_text())
    return {f"{p['name']}-{p['version']}.crate" for p in lock.get("package", []) if "source" in p}


@dataclass(frozen=True)
class Target:
    label: str  # "feed" or "direct"
    index: str | None = None  # the feed's sparse index (None: cargo's own configuration)
    token: str | None = None
    pid: int | None = None


def cargo_home(root: Path, target: Target) -> Path:
    """An empty CARGO_HOME: this machine's cargo configuration for direct fetches, the feed's for the feed."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    if target.index is not None:
        (root / "config.toml").write_text(config_toml(target.index, replace_crates_io=True))
    else:
        for name in ("config.toml", "config"):
            if (user_cargo_home() / name).is_file():
                shutil.copyfile(user_cargo_home() / name, root / name)
    return root


def fetch_env(home: Path, target: Target) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO_", "FEED_"))}
    env.update({"CARGO_HOME": str(home), "CARGO_TERM_COLOR": "never", "CARGO_TERM_PROGRESS_WHEN": "never"})
    env["NO_PROXY"] = ",".join(x for x in ("127.0.0.1", env.get("NO_PROXY", "")) if x)
    if target.token is not None:
        env[TOKEN_VARIABLE] = target.token
    return env


@dataclass
class Fetch:
    seconds: float
    crates: set[str]
    error: str | None = None


def fetch(target: Target, name: str, triple: str, redact: Redactor) -> Fetch:
    """One `cargo fetch --locked` into an empty CARGO_HOME; the .crate files it downloaded."""
    home = cargo_home(homes_dir / name, target)
    argv = [toolchain().cargo, "fetch", "--locked", "--target", triple]
    started = time.perf_counter()
    try:
        out = subprocess.run(
            argv, cwd=RUN_DIR / "project", env=fetch_env(home, target), capture_output=True, text=True,
            timeout=FETCH_TIMEOUT, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        code, text = out.returncode, out.stdout + out.stderr
    except subprocess.TimeoutExpired:
        code, text = -9, f"timed out after {FETCH_TIMEOUT:.0f} s"
    seconds = time.perf_counter() - started
    (RUN_DIR / "logs" / f"{name}.log").write_text(redact(text))
    crates = {p.name for p in (home / "registry" / "cache").glob("*/*.crate")}
    shutil.rmtree(home, ignore_errors=True)  # bounded disk
    if code != 0:
        return Fetch(seconds, crates, redact(f"cargo exit {code}: {text[-1500:]}"))
    return Fetch(seconds, crates)


def prime(triple: str, redact: Redactor) -> tuple[set[str], set[str], float]:
    """The untimed first resolve and fetch straight from the registry: it writes the Cargo.lock every timed fetch
    uses. Returns the lockfile's crates, those a fetch for this host downloads, and the seconds it took."""
    project = RUN_DIR / "project"
    started = time.perf_counter()
    home = cargo_home(homes_dir / "prime", Target("direct"))
    env = fetch_env(home, Target("direct"))
    out = subprocess.run([toolchain().cargo, "generate-lockfile"], cwd=project, env=env, capture_output=True,
                         text=True, timeout=FETCH_TIMEOUT, check=False)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"resolving the project failed:\n{redact(out.stderr)[-3000:]}")
    locked = locked_crates(project)
    if len(locked) < MIN_CRATES:
        raise RuntimeError(f"the project resolved to {len(locked)} crates, expected >= {MIN_CRATES}")
    got = fetch(Target("direct"), "prime", triple, redact)
    if got.error is not None:
        raise RuntimeError(f"the priming fetch failed: {got.error}")
    return locked, got.crates, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------------
# The feed


def start_feed(stack: ExitStack, round_no: int, index: str, nets: list[str], access_log: bool) -> Target:
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
    feed: FeedProcess = start_feed_process(stack, RUN_DIR / f"round-{round_no}" / "feed-data", log, env, extra)
    create_feed(feed.base, feed.token, FEED_NAME)
    source = {"name": SOURCE_NAME, "protocol": "cargo", "location": index, "upstreamSourceType": "public"}
    rounds.set_upstream(feed.base, feed.token, source)
    return Target("feed", f"sparse+{feed.base}/local/_packaging/{FEED_NAME}/cargo/index/", feed.token, feed.pid)


def feed_base(target: Target) -> str:
    return (target.index or "").removeprefix("sparse+").split("/local/_packaging/", 1)[0]


def check_saved(target: Target, crates: set[str]) -> dict[str, Any]:
    """Every fetched crate is saved in the feed with a provenance block naming the registry source (REST API)."""
    problems: dict[str, str] = {}
    base = feed_base(target)
    with httpx.Client(headers={"Authorization": f"Bearer {target.token}"}, timeout=30) as client:
        for crate in sorted(crates):
            name, version = split_crate_file(crate)
            url = (
                f"{base}/local/_apis/packaging/feeds/{FEED_NAME}/cargo/packages/{quote(name)}/versions/{quote(version)}"
            )
            problem = rounds.provenance_problem(*rounds.saved_version(client, url), SOURCE_NAME)
            if problem is not None:
                problems[crate] = problem
    return {"checked": len(crates), "saved_ok": len(crates) - len(problems), "problems": problems}


def split_crate_file(filename: str) -> tuple[str, str]:
    """``serde_json-1.0.1.crate`` -> (``serde_json``, ``1.0.1``): the version starts after the last ``-`` that is
    followed by a digit and a dot-separated number."""
    stem = filename.removesuffix(".crate")
    for i in range(len(stem) - 1, 0, -1):
        if stem[i] == "-" and stem[i + 1 : i + 2].isdigit() and "." in stem[i + 1 :]:
            return stem[:i], stem[i + 1 :]
    raise ValueError(f"not a crate file name: {filename!r}")


# ---------------------------------------------------------------------------------------------------------------
# Rounds


@dataclass
class Run:
    round: int
    scenario: str  # cold | warm | direct
    target: str  # feed | direct
    seconds: float
    server_cpu_seconds: float | None
    crates: int
    error: str | None = None


Results = rounds.RoundResults[Run]


def measured(round_no: int, scenario: str, target: Target, ctx: Context, results: Results) -> set[str]:
    before = process_cpu_seconds(target.pid) if target.pid is not None else None
    got = fetch(target, f"{scenario}-{target.label}-{round_no}", ctx.triple, ctx.redact)
    after = process_cpu_seconds(target.pid) if target.pid is not None else None
    cpu = round(after - before, 2) if before is not None and after is not None else None
    if got.error is None and got.crates != ctx.reference:
        missing, extra = sorted(ctx.reference - got.crates), sorted(got.crates - ctx.reference)
        note = f"round {round_no} {scenario} {target.label}: {len(missing)} missing (e.g. {missing[:3]})"
        note += f", {len(extra)} extra"
        results.mismatches.append(note)
        print(f"  WARNING {note}", flush=True)
    run = Run(round_no, scenario, target.label, round(got.seconds, 3), cpu, len(got.crates), got.error)
    results.runs.append(run)
    outcome = f"{run.crates} crates" if run.error is None else f"FAILED: {run.error[:400]}"
    label = "direct" if scenario == "direct" else f"feed {scenario}"
    print(f"  round {round_no}  {label:<9} {run.seconds:6.2f} s  server CPU {fmt(cpu):>5} s  {outcome}", flush=True)
    return got.crates if got.error is None else set()


@dataclass(frozen=True)
class Context:
    index: str
    nets: list[str]
    triple: str
    reference: set[str]
    redact: Redactor
    access_log: bool


def run_round(round_no: int, ctx: Context, results: Results) -> None:
    order = ("feed", "direct") if round_no % 2 else ("direct", "feed")
    with ExitStack() as stack:
        feed = start_feed(stack, round_no, ctx.index, ctx.nets, ctx.access_log)
        print(f"round {round_no}: fresh feed started; order {', '.join(order)}", flush=True)
        for unit in order:
            if unit == "direct":
                measured(round_no, "direct", Target("direct"), ctx, results)
                continue
            fetched = measured(round_no, "cold", feed, ctx, results)
            if fetched:
                check = {"round": round_no, **check_saved(feed, fetched)}
                results.saved_checks.append(check)
                shown = "" if not check["problems"] else ": " + str(check["problems"])[:300]
                print(f"           feed saved {check['saved_ok']}/{check['checked']} crates with provenance{shown}")
            measured(round_no, "warm", feed, ctx, results)
    shutil.rmtree(RUN_DIR / f"round-{round_no}", ignore_errors=True)  # server data: bounded disk, no URLs


# ---------------------------------------------------------------------------------------------------------------
# Summary


def summarize(args: argparse.Namespace, results: Results, facts: dict[str, Any]) -> dict[str, Any]:
    scenarios = {
        "feed_cold": rounds.scenario_entry(results, "cold", "feed"),
        "feed_warm": rounds.scenario_entry(results, "warm", "feed"),
        "direct": rounds.scenario_entry(results, "direct", "direct"),
    }
    m = {k: v["median_seconds"] for k, v in scenarios.items()}
    fastest = {k: min(v["seconds"]) if v["seconds"] else None for k, v in scenarios.items()}
    return {
        "benchmark": "cargo fetch --locked of a small CLI's dependencies into an empty CARGO_HOME: through the feed "
        "(the public crate registry as its upstream, replace-with) and straight from the registry",
        "command": " ".join(["python", "bench/cargo_fetch.py", *sys.argv[1:]]),
        "upstream": "the public crate registry, index URL from cargo's own configuration (not recorded)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **facts,
        "dependencies": DEPENDENCIES,
        **rounds.round_fields(args, results),
        "scenarios": scenarios,
        "ratios": {
            "cold_feed_over_direct": ratio(m["feed_cold"], m["direct"]),
            "cold_target": COLD_TARGET,
            "warm_feed_over_direct": ratio(m["feed_warm"], m["direct"]),
            "warm_target": WARM_TARGET,
        },
        "ratios_of_fastest_runs": {  # less moved by other work on a shared machine than the medians
            "cold_feed_over_direct": ratio(fastest["feed_cold"], fastest["direct"]),
            "warm_feed_over_direct": ratio(fastest["feed_warm"], fastest["direct"]),
        },
        "feed_saved_checks": results.saved_checks,
        "crate_set_mismatches": results.mismatches,
        "runs": [asdict(r) for r in results.runs],
        "note": "ratios < 1 mean the feed is faster; server CPU is the feed process's user+system time during one "
        "fetch; the direct fetch has no server of ours",
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    s, r, f = summary["scenarios"], summary["ratios"], summary["ratios_of_fastest_runs"]
    lines = [
        f"SUMMARY  {summary['crates']['fetched']} crates per fetch ({summary['crates']['locked']} in Cargo.lock, "
        f"{len(DEPENDENCIES)} direct deps); {summary['rounds_done']} of {summary['rounds']} rounds; "
        f"registry config.json in {summary['upstream_probe_ms']:.0f} ms",
        *([f"  NOTE {summary['stopped_early']}"] if summary["stopped_early"] else []),
    ]
    for name in ("direct", "feed_cold", "feed_warm"):
        cpu = fmt(s[name]["server_cpu_median_seconds"])
        lines.append(rounds.run_row_head(name, s[name], 10) + f"  server CPU median {cpu} s")
    lines += [
        "  " + rounds.target_line("cold feed/direct", r["cold_feed_over_direct"], COLD_TARGET),
        "  " + rounds.target_line("warm feed/direct", r["warm_feed_over_direct"], WARM_TARGET),
        f"  fastest runs: cold {fmt(f['cold_feed_over_direct'], '.3f')}, warm {fmt(f['warm_feed_over_direct'], '.3f')}",
        "  feed saved  "
        + "; ".join(
            f"round {c['round']}: {c['saved_ok']}/{c['checked']} with provenance" for c in summary["feed_saved_checks"]
        ),
        f"  crate sets  {'MISMATCHES (see JSON)' if summary['crate_set_mismatches'] else 'identical in every fetch'}",
        f"  machine: {machine_line(summary['machine'])}",
    ]
    return lines


# ---------------------------------------------------------------------------------------------------------------
# Main


def _default_homes() -> Path | None:
    """A memory file system when there is one: cargo unpacks all it fetches into CARGO_HOME, and on this machine's
    disk that work took 1 to 7 s a fetch, drifting from run to run, which swamped what the registries did."""
    shm = Path("/dev/shm")
    return shm / "cargo-bench" if shm.is_dir() and os.access(shm, os.W_OK) else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rounds.upstream_arguments(parser)
    parser.add_argument(
        "--homes",
        type=Path,
        default=_default_homes(),
        help="folder for the empty CARGO_HOMEs (default: /dev/shm/cargo-bench, a memory file system, when there is "
        "one; pass bench/.work to put them on the disk)",
    )
    args = parser.parse_args(argv)
    rounds.check_upstream_arguments(parser, args, "crate registry")
    return args


def main(argv: list[str] | None = None) -> int:
    global homes_dir
    args = parse_args(argv)
    if args.homes is not None:
        homes_dir = args.homes / "clients"
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    (RUN_DIR / "logs").mkdir(parents=True)
    index = public_index_url()
    dl, probe_ms = registry_config(index)
    redact = Redactor(index, dl.split("{", 1)[0])
    nets = sorted(set(guard_allowances(index)) | set(guard_allowances(dl.split("{", 1)[0])))
    print(f"crate registry (from cargo's configuration) answers config.json in {probe_ms:.0f} ms; "
          f"{len(nets)} of its addresses need allowing in the feed's outbound guard", flush=True)  # fmt: skip
    machine = {**machine_basics(), "cargo": tool_version([toolchain().cargo, "--version"])}
    write_project(RUN_DIR / "project")
    triple = host_triple()
    results: Results = rounds.RoundResults.for_servers(("feed",))
    try:
        locked, reference, prime_seconds = prime(triple, redact)
        print(f"Resolved the project: {len(locked)} crates in Cargo.lock, {len(reference)} fetched for {triple} "
              f"({prime_seconds:.1f} s, untimed)", flush=True)  # fmt: skip
        ctx = Context(index, nets, triple, reference, redact, args.access_log)
        rounds.run_rounds(args, results, lambda n: run_round(n, ctx, results))
    finally:
        rounds.tidy_run_dir(RUN_DIR, redact, ("clients", "round-*"))
        shutil.rmtree(homes_dir, ignore_errors=True)
    machine["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    facts = {
        "upstream_probe_ms": round(probe_ms, 1),
        "machine": machine,
        "fetch_command": f"cargo fetch --locked --target {triple}  (empty CARGO_HOME)",
        "cargo_homes": "under bench/.work" if args.homes is None else f"under {args.homes}",
        "crates": {"locked": len(locked), "fetched": len(reference)},
        "priming_seconds": round(prime_seconds, 2),
    }
    summary = summarize(args, results, facts)
    print_summary(summary_lines(summary))
    write_results(RESULTS_FILE, summary, redact)
    return 0


if __name__ == "__main__":
    sys.exit(main())
