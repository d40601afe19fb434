"""`python -m feed_core serve`: first start prints an administrator token once; it works; restarts don't."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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
