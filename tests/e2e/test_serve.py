"""`python -m feed_core serve`: first start prints an administrator token once; it works; restarts don't."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from feed_core.storage.download_times import DownloadTimesStore
from feed_core.storage.embedded import EmbeddedTableStore
from tests.npm_packages import publish_body

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEED_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "feed_core", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("serve did not start")
    return proc, []


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.mark.e2e
def test_first_start_prints_a_working_admin_token_once(tmp_path: Path) -> None:
    port = _free_port()
    proc, _ = _serve(tmp_path / "data", port)
    output = _stop(proc)
    assert "Administrator token (shown once" in output
    token = next(line.strip() for line in output.splitlines() if line.strip().startswith("fpat_"))

    proc, _ = _serve(tmp_path / "data", port)
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/local/_apis/packaging/feeds?api-version=7.1",
            json={"name": "first"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201
        # cargo offers HTTP/2 over plain http on every request; the server declines it without a log line each
        upgrade = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQCAAAA"}
        assert httpx.get(f"http://127.0.0.1:{port}/_health", headers=upgrade).status_code == 200
    finally:
        second = _stop(proc)
    assert "fpat_" not in second
    assert "Unsupported upgrade" not in second


@pytest.mark.e2e
def test_serve_with_jobs_runs_them_on_their_schedules(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEED_")}
    env.update(
        FEED_HEALTH_SCHEDULE="* * * * * *",
        FEED_REFRESH_SCHEDULE="*/2 * * * * *",
        FEED_GC_SCHEDULE="*/2 * * * * *",
        FEED_RETENTION_SCHEDULE="*/2 * * * * *",
        FEED_LOG_LEVEL="INFO",
        FEED_ADMIN_TOKEN="with-jobs-admin-token-0123",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feed_core",
            "serve",
            "--with-jobs",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(4)
    finally:
        output = _stop(proc)
    assert "jobs scheduled" in output
    assert "health: 0 feeds" in output and "refresh: 0 feeds" in output
    assert "gc: removed 0 deleted feeds" in output
    assert "retention on 0 feeds with a policy: moved 0 versions" in output


@pytest.mark.e2e
def test_download_times_noted_in_memory_are_written_at_shutdown(tmp_path: Path) -> None:
    """The background flush waits a few seconds; a server stopped before it still writes what it noted."""
    port, data = _free_port(), tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEED_")}
    env["FEED_ADMIN_TOKEN"] = token = "shutdown-admin-token-0123"
    proc = subprocess.Popen(
        [sys.executable, "-m", "feed_core", "serve", "--port", str(port), "--data-dir", str(data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base, auth = f"http://127.0.0.1:{port}/local", {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.post(f"{base}/_apis/packaging/feeds", json={"name": "f"}, headers=auth).status_code == 201
        registry = f"{base}/_packaging/f/npm/registry/"
        assert httpx.put(f"{registry}lib", json=publish_body("lib", "1.0.0"), headers=auth).status_code == 201
        assert httpx.get(f"{registry}lib/-/lib-1.0.0.tgz", headers=auth).status_code == 200
    finally:
        _stop(proc)  # SIGTERM: uvicorn shuts the app down (lifespan), then ends by the signal

    async def recorded() -> set[str]:
        tables = EmbeddedTableStore(data / "feed.sqlite3")
        try:
            (feed,) = [e for e in await tables.query("feeds", "local") if e.row_key.startswith("id:")]
            return set(await DownloadTimesStore(tables).package(feed.row_key[3:], "npm", "lib"))
        finally:
            await tables.close()

    assert asyncio.run(recorded()) == {"1.0.0"}
