"""Universal Packages benchmark: publish and download throughput of the project's client against `cp -r` of the
same directory on this disk (the floor), and the share of bytes a republish with one changed file uploads.

    python bench/universal.py [--size-mb 200] [--rounds 3] [--parallel 8]

Steps: generate a directory of --size-mb (mostly random bytes, so nothing compresses or dedupes by accident: ten
large files, forty small ones, an executable, an empty file) under bench/.work/universal; start the feed server
(embedded store, its data directory on the same disk) on a free 127.0.0.1 port. Each round then, in this order:
  cp          `cp -r` of the directory to a fresh copy (the floor: the same bytes read and written once);
  publish     `python -m feed_core universal publish` of the directory to a FRESH feed (every chunk uploaded);
  download    `python -m feed_core universal download` of that version to a fresh directory.
The first round's download is compared with the source (paths, modes, bytes). After the rounds, one large file is
changed in its middle and the directory published again as a new version to the last round's feed: its run time and
the bytes uploaded (from the client's report) against the package's size give the dedup ratio.

Printed: medians of each step, throughput (MB/s), the ratios publish / cp and download / cp, the republish's
uploaded share, and the CPU time of the client and of the server per step. Written: bench/results/universal.json.
The server is stopped at the end, also on errors.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import (
    REPO_DIR,
    WORK_DIR,
    FeedProcess,
    create_feed,
    exit_on_sigterm,
    fmt,
    machine_basics,
    machine_line,
    median_or_none,
    print_summary,
    process_cpu_seconds,
    ratio,
    start_feed_process,
    write_results,
)

RUN_DIR = WORK_DIR / "universal"
RESULTS = REPO_DIR / "bench" / "results" / "universal.json"
MB = 1024 * 1024
_REPORT = re.compile(r"([\d,]+) bytes, ([\d,]+) bytes uploaded")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the generated directory (default 200)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8, help="the client's --parallel (default 8)")
    return parser.parse_args(argv)


def generate(root: Path, total: int) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "small").mkdir()
    tool = root / "bin" / "tool"
    tool.write_bytes(b"#!/bin/sh\necho tool\n" + os.urandom(200_000))
    tool.chmod(0o755)
    (root / "empty").write_bytes(b"")
    for i in range(40):
        (root / "small" / f"f{i:02d}.bin").write_bytes(os.urandom(20_000 + 1_000 * i))
    left = total - sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    for i in range(10):
        size = left // 10 if i < 9 else left - 9 * (left // 10)
        with (root / f"large-{i}.bin").open("wb") as out:
            for start in range(0, size, 8 * MB):
                out.write(os.urandom(min(8 * MB, size - start)))


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            found[path.relative_to(root).as_posix()] = (
                stat.S_IMODE(info.st_mode),
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
    return found


#: CPU seconds of the client processes, and of the server, per step.
CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], server_pid: int | None = None, step: str = "") -> tuple[float, str]:
    cpu, server_cpu = _children_cpu(), process_cpu_seconds(server_pid) if server_pid else None
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO_DIR, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if step:
        CPU.setdefault(f"{step} client", []).append(round(_children_cpu() - cpu, 3))
        server_after = process_cpu_seconds(server_pid) if server_pid else None
        if server_cpu is not None and server_after is not None:
            CPU.setdefault(f"{step} server", []).append(round(server_after - server_cpu, 3))
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:5])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def universal(
    server: FeedProcess, action: str, feed: str, version: str, path: Path, parallel: int, env: dict[str, str]
) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "feed_core", "universal", action, "--organization", f"{server.base}/local"]
    cmd += ["--feed", feed, "--name", "bench", "--version", version, "--path", str(path), "--parallel", str(parallel)]
    return timed(cmd, env, server.pid, action)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    machine: dict[str, Any] = machine_basics()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    source = RUN_DIR / "src"
    generate(source, args.size_mb * MB)
    size = sum(f.stat().st_size for f in source.rglob("*") if f.is_file())
    print(f"Generated {source.relative_to(REPO_DIR)}: {size / MB:.0f} MiB", flush=True)
    steps: dict[str, list[float]] = {"cp": [], "publish": [], "download": []}
    republish: dict[str, Any] = {}
    with ExitStack() as stack:
        feed = start_feed_process(stack, RUN_DIR / "data", RUN_DIR / "server.log", {"FEED_STORAGE": "embedded"})
        env = {**os.environ, "AZURE_DEVOPS_EXT_PAT": feed.token}
        env.pop("AZURE_DEVOPS_EXT_PAT_FILE", None)
        last_feed = ""
        for n in range(1, args.rounds + 1):
            copy, out = RUN_DIR / f"cp-{n}", RUN_DIR / f"out-{n}"
            started = time.perf_counter()
            subprocess.run(["cp", "-r", str(source), str(copy)], check=True)
            steps["cp"].append(time.perf_counter() - started)
            last_feed = f"bench-{n}"
            create_feed(feed.base, feed.token, last_feed)
            seconds, _ = universal(feed, "publish", last_feed, "1.0.0", source, args.parallel, env)
            steps["publish"].append(seconds)
            seconds, _ = universal(feed, "download", last_feed, "1.0.0", out, args.parallel, env)
            steps["download"].append(seconds)
            if n == 1 and snapshot(out) != snapshot(source):
                raise RuntimeError("the downloaded directory differs from the published one")
            shutil.rmtree(copy)
            shutil.rmtree(out)
            print(
                f"round {n}: cp {steps['cp'][-1]:.2f} s, publish {steps['publish'][-1]:.2f} s, "
                f"download {steps['download'][-1]:.2f} s",
                flush=True,
            )
        with (source / "large-3.bin").open("r+b") as f:
            f.seek((size // 20) // 2)
            f.write(b"changed" * 100)
        seconds, report = universal(feed, "publish", last_feed, "1.0.1", source, args.parallel, env)
        match = _REPORT.search(report)
        if not match:
            raise RuntimeError(f"no report in the publish's output:\n{report}")
        total, uploaded = (int(g.replace(",", "")) for g in match.groups())
        republish = {"seconds": round(seconds, 3), "bytes": total, "uploaded": uploaded, "share": uploaded / total}
    machine["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    medians = {step: median_or_none(values) for step, values in steps.items()}
    mb = size / MB
    summary = {
        "machine": machine,
        "size_bytes": size,
        "rounds": args.rounds,
        "parallel": args.parallel,
        "seconds": steps,
        "median_seconds": medians,
        "mib_per_second": {k: round(mb / v, 1) if v else None for k, v in medians.items()},
        "ratio_publish_over_cp": ratio(medians["publish"], medians["cp"]),
        "ratio_download_over_cp": ratio(medians["download"], medians["cp"]),
        "republish_one_changed_file": republish,
        "cpu_seconds": CPU,
        "median_cpu_seconds": {k: median_or_none(v) for k, v in CPU.items()},
    }
    rate = summary["mib_per_second"]
    print_summary(
        [
            f"Universal Packages, {mb:.0f} MiB directory, {args.rounds} rounds, --parallel {args.parallel} "
            "(median; lower is better)",
            f"  cp -r (floor)  {fmt(medians['cp'])} s  {fmt(rate['cp'], '.0f')} MiB/s",
            f"  publish        {fmt(medians['publish'])} s  {fmt(rate['publish'], '.0f')} MiB/s  "
            f"{fmt(summary['ratio_publish_over_cp'])} x cp",
            f"  download       {fmt(medians['download'])} s  {fmt(rate['download'], '.0f')} MiB/s  "
            f"{fmt(summary['ratio_download_over_cp'])} x cp",
            f"  republish, one file changed: {republish['uploaded']:,} of {republish['bytes']:,} bytes uploaded "
            f"({republish['share'] * 100:.2f}%; {(1 - republish['share']) * 100:.2f}% deduplicated) "
            f"in {republish['seconds']:.2f} s",
            "  CPU seconds    " + ", ".join(f"{k} {fmt(v)}" for k, v in summary["median_cpu_seconds"].items()),
            f"  machine        {machine_line(machine)}",
        ]
    )
    write_results(RESULTS, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
