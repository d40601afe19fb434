"""Web UI page benchmark: server time of the feed page over 10,000 packages and of a package page of 1,000
versions, on the embedded store, against the protocol request that lists the same thing.

    python bench/ui_pages.py [--packages 10000] [--versions 1000] [--requests 200]

The app runs in this process (the ASGI app behind httpx's in-process transport, as the API tests drive it), on a
fresh embedded store in a scratch directory; nothing listens on a socket. The feed `bench` is filled through the
package service, as the protocol adapters publish (content blob, version and meta rows in one transaction, the
index row and the package-id row after it): PACKAGES packages spread over the five protocols (about one in ten
with a version promoted to the Release view), and one npm package `big` with VERSIONS versions. Filling it
through HTTP would only time the publish path, which other benchmarks cover.

Then, signed in through the sign-in form (a session cookie, as a browser), each case is requested REQUESTS times
in turn, after one untimed warm-up round; the time measured is the server's: from the ASGI call to the end of the
response, without the client. The feed page's listing is kept per worker for FEED_CACHE_SECONDS (5 s by default)
and read again after it, so p99 includes those reloads. Cases:
  feed page        page 1; page 100; a search; a protocol filter; the Release view; newest first; source "local"
  package page     `…/feed/bench/npm/big` (when the route exists: it is built separately)
  peers            the npm search endpoint over the same feed (`-/v1/search?text=&size=50`, what `npm search` asks),
                   and the packument of `big` (what `npm install` reads)

Printed: p50 and p99 per case, the ratio of each page's p50 to its peer's, and whether each page meets the target
(p50 <= 50 ms). Written: bench/results/ui_pages.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import BENCH_DIR, REPO_DIR, WORK_DIR, fmt, machine_basics, machine_line, print_summary, write_results

sys.path.insert(0, str(REPO_DIR))

from feed_core.app import Receive, Scope, Send, create_app
from feed_core.domain.models import Caller, Feed
from feed_core.domain.roles import Scope as TokenScope
from feed_core.service.container import Services, build_services
from feed_core.service.packages import NewVersion
from feed_core.settings import Settings

ORG = "local"
FEED = "bench"
ADMIN_TOKEN = "bench-ui-admin-token-0123456789abcdef"
#: Share of the packages per protocol (npm takes the rest).
MIX = {"pypi": 0.2, "nuget": 0.1, "maven": 0.05, "cargo": 0.05}
TARGET_MS = 50.0
WORDS = ("http", "json", "parse", "render", "stream", "cache", "async", "color", "date", "test", "log", "path")


class TimedApp:
    """The app, timing each request from the ASGI call to the end of its response."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        await self._app(scope, receive, send)
        self.last = time.perf_counter() - started


@dataclass
class Case:
    label: str
    path: str
    peer: str | None = None  # the case this one is compared with
    target: bool = False  # held to the p50 target
    times: list[float] | None = None
    status: int = 0
    size: int = 0


def package_name(protocol: str, i: int) -> str:
    word = WORDS[i % len(WORDS)]
    if protocol == "maven":
        return f"org.bench.{word}:{word}-lib-{i:05d}"
    if protocol == "nuget":
        return f"bench.{word}.lib{i:05d}"
    if protocol == "npm" and i % 4 == 0:
        return f"@bench/{word}-{i:05d}"
    sep = "_" if protocol == "cargo" else "-"
    return f"{word}{sep}lib{sep}{i:05d}"


def new_version(protocol: str, name: str, number: str, i: int) -> NewVersion:
    content = f"{protocol}:{name}:{number}".encode()
    manifest = {
        "name": name,
        "version": number,
        "description": f"A {WORDS[i % len(WORDS)]} library for the benchmark, number {i}",
        "keywords": [WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)]],
    }
    sha512 = "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()
    return NewVersion(
        protocol=protocol,
        name=name,
        version=number,
        manifest=manifest,
        content=content,
        filename=f"{name.replace('/', '-').replace(':', '-')}-{number}.tgz",
        sha256=hashlib.sha256(content).hexdigest(),
        sha512_integrity=sha512,
        sha1=hashlib.sha1(content).hexdigest(),  # noqa: S324 - npm's shasum
        tags={},
    )


async def fill(services: Services, feed: Feed, packages: int, versions: int) -> dict[str, float]:
    """Publish ``packages`` packages and the ``big`` package of ``versions`` versions through the package service."""
    caller = Caller("admin", TokenScope.MANAGE, org_admin=True)
    release = feed.view_named("Release")
    assert release is not None
    plan: list[tuple[str, int]] = []
    counts = {p: int(packages * share) for p, share in MIX.items()}
    counts["npm"] = packages - sum(counts.values()) - 1  # and `big`
    for protocol, n in counts.items():
        plan += [(protocol, i) for i in range(n)]
    started = time.perf_counter()
    for start in range(0, len(plan), 100):
        batch = plan[start : start + 100]
        published = await asyncio.gather(
            *(
                services.packages.publish(feed, feed.local_view, caller, new_version(p, package_name(p, i), "1.0.0", i))
                for p, i in batch
            )
        )
        await asyncio.gather(
            *(
                services.packages.promote(feed, caller, v.protocol, v.name, v.version, release)
                for (_, i), v in zip(batch, published, strict=True)
                if i % 10 == 0
            )
        )
        if start % 2000 == 0:
            print(f"  {start + len(batch)} of {len(plan)} packages", flush=True)
    filled = time.perf_counter() - started
    started = time.perf_counter()
    for v in range(versions):
        number = f"{v // 100}.{(v // 10) % 10}.{v % 10}"
        await services.packages.publish(feed, feed.local_view, caller, new_version("npm", "big", number, v))
    return {"packages_seconds": round(filled, 1), "big_seconds": round(time.perf_counter() - started, 1)}


async def sign_in(http: httpx.AsyncClient) -> None:
    form = await http.get(f"/{ORG}/_artifacts/signin")
    nonce = re.search(r'name="nonce" value="([^"]*)"', form.text)
    assert nonce, form.text[:300]
    done = await http.post(
        f"/{ORG}/_artifacts/signin", data={"nonce": nonce.group(1), "next": "", "token": ADMIN_TOKEN}
    )
    assert done.status_code == 303, done.text[:300]
    assert "feed_session" in http.cookies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(http: httpx.AsyncClient, app: TimedApp, cases: list[Case], requests: int) -> None:
    """One untimed round (which also tells which pages exist), then ``requests`` timed rounds over every case."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # the protocol peers; the pages go by the session

    def auth(case: Case) -> dict[str, str]:
        return headers if "/_packaging/" in case.path else {}

    for case in cases:
        first = await http.get(case.path, headers=auth(case))
        case.status, case.size, case.times = first.status_code, len(first.content), []
    for _ in range(requests):
        for case in cases:
            if case.status != 200 or case.times is None:
                continue
            r = await http.get(case.path, headers=auth(case))
            assert r.status_code == 200, (case.path, r.status_code, r.text[:300])
            case.times.append(app.last * 1000)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="ui-pages-", dir=WORK_DIR))
    settings = Settings(admin_token=ADMIN_TOKEN, organization=ORG, data_dir=data_dir)
    services = await build_services(settings)
    try:
        await services.identity.bootstrap(ORG, settings.admin_user, ADMIN_TOKEN)
        app = TimedApp(create_app(services=services))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://feed.test") as http:
            created = await http.post(
                f"/{ORG}/_apis/packaging/feeds?api-version=7.1",
                json={"name": FEED},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert created.status_code == 201, created.text
            feed = await services.feeds.find(ORG, None, FEED)
            print(f"Filling feed {FEED}: {args.packages} packages and one of {args.versions} versions ...", flush=True)
            setup = await fill(services, feed, args.packages, args.versions)
            print(f"  done in {setup['packages_seconds'] + setup['big_seconds']:.0f} s", flush=True)
            await sign_in(http)
            page = f"/{ORG}/_artifacts/feed/{FEED}"
            registry = f"/{ORG}/_packaging/{FEED}/npm/registry"
            cases = [
                Case("feed page, page 1", page, "npm search", True),
                Case("feed page, page 100", f"{page}?page=100", "npm search", True),
                Case("feed page, search", f"{page}?q=json+lib", "npm search", True),
                Case("feed page, protocol pypi", f"{page}?protocol=pypi&page=3", "npm search", True),
                Case("feed page, view Release", f"{page}?view=Release", "npm search", True),
                Case("feed page, newest first", f"{page}?sort=-modified&page=7", "npm search", True),
                Case("feed page, source local", f"{page}?source=local&page=2", "npm search", True),
                Case("package page", f"{page}/npm/big", "npm packument", True),
                Case("npm search", f"{registry}/-/v1/search?text=&size=50"),
                Case("npm packument", f"{registry}/big"),
            ]
            cold_started = time.perf_counter()
            cold = await http.get(page)
            cold_ms = (time.perf_counter() - cold_started) * 1000
            assert cold.status_code == 200, cold.text[:500]
            shown = re.search(r"([\d,]+) packages, page 1 of (\d+)", cold.text)
            print(f"Feed page (first request, listing read from storage): {cold_ms:.0f} ms; {shown and shown.group(0)}")
            print(f"Measuring {len(cases)} cases x {args.requests} requests ...", flush=True)
            await measure(http, app, cases, args.requests)
    finally:
        await services.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    by_label = {c.label: c for c in cases}
    results = []
    for c in cases:
        row: dict[str, Any] = {"case": c.label, "path": c.path, "status": c.status, "bytes": c.size}
        if c.times:
            row |= {"p50_ms": round(statistics.median(c.times), 2), "p99_ms": round(percentile(c.times, 0.99), 2)}
            peer = by_label.get(c.peer or "")
            if peer is not None and peer.times:
                row["peer"] = peer.label
                row["ratio_p50"] = round(statistics.median(c.times) / statistics.median(peer.times), 2)
            if c.target:
                row["meets_target"] = row["p50_ms"] <= TARGET_MS
        results.append(row)
    return {"setup": setup, "cold_feed_page_ms": round(cold_ms, 1), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    machine = machine_basics()
    outcome = asyncio.run(run(args))
    machine["load_avg_1m_end"] = round(__import__("os").getloadavg()[0], 2)
    lines = [
        f"Web UI pages: {args.packages} packages, a package of {args.versions} versions, embedded store, "
        f"{args.requests} requests per case; server time in ms (target p50 <= {TARGET_MS:.0f} ms)",
        machine_line(machine),
        f"{'case':<28} {'p50':>8} {'p99':>8} {'KiB':>7}  vs peer (p50 ratio)",
    ]
    for r in outcome["results"]:
        if r["status"] != 200:
            note = "not yet built" if r["status"] == 404 else f"HTTP {r['status']}"
            lines.append(f"{r['case']:<28} {note}")
            continue
        versus = f"{r['ratio_p50']:.2f}x {r['peer']}" if "ratio_p50" in r else ""
        mark = "" if "meets_target" not in r else ("  ok" if r["meets_target"] else "  OVER TARGET")
        lines.append(
            f"{r['case']:<28} {fmt(r['p50_ms']):>8} {fmt(r['p99_ms']):>8} {r['bytes'] / 1024:>7.1f}  {versus}{mark}"
        )
    lines.append(f"first feed page request (listing read from storage): {outcome['cold_feed_page_ms']:.0f} ms")
    print_summary(lines)
    write_results(BENCH_DIR / "results" / "ui_pages.json", {"machine": machine, "args": vars(args), **outcome})


if __name__ == "__main__":
    main()
