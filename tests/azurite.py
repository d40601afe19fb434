"""Azurite for tests: start the pinned emulator on free loopback ports, or use an external one.

* ``FEED_TEST_AZURITE_CONNECTION_STRING`` set: that connection string is used and nothing is started
  (CI may run Azurite as a service container).
* Otherwise Azurite is started from ``tools/node_modules/.bin/azurite`` (``cd tools && npm install``)
  in memory, bound to 127.0.0.1 on three free ports, and stopped by PID at the end of the session.
  A missing install FAILS the tests that need it (it is never a skip).

Use the session fixture from a conftest with ``from tests.azurite import azurite_connection_string``,
or build another one with :func:`azurite_fixture`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Literal

import pytest

from feed_core.storage.azure import StorageCallCounter, open_azure_storage
from feed_core.storage.ports import Storage

ENV_CONNECTION_STRING = "FEED_TEST_AZURITE_CONNECTION_STRING"
REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO_ROOT / "tools" / "node_modules" / ".bin" / "azurite"

#: Azurite's well-known development account (public, documented; not a secret).
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

START_TIMEOUT_SECONDS = 20.0
_HOST = "127.0.0.1"

Scope = Literal["session", "package", "module", "class", "function"]


class AzuriteError(RuntimeError):
    """Azurite could not be started."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((_HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def connection_string(blob_port: int, queue_port: int, table_port: int, host: str = _HOST) -> str:
    """The explicit connection string of an Azurite listening on the given ports."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob_port}/{DEV_ACCOUNT_NAME};"
        f"QueueEndpoint=http://{host}:{queue_port}/{DEV_ACCOUNT_NAME};"
        f"TableEndpoint=http://{host}:{table_port}/{DEV_ACCOUNT_NAME};"
    )


def port_answers(port: int, host: str = _HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def azurite_command(blob_port: int, queue_port: int, table_port: int) -> list[str]:
    return [
        str(AZURITE_BIN),
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--blobHost",
        _HOST,
        "--blobPort",
        str(blob_port),
        "--queueHost",
        _HOST,
        "--queuePort",
        str(queue_port),
        "--tableHost",
        _HOST,
        "--tablePort",
        str(table_port),
    ]


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def running_azurite(timeout: float = START_TIMEOUT_SECONDS, attempts: int = 3) -> Iterator[str]:
    """Start Azurite on free ports, yield its connection string, stop it afterwards.

    Raises :class:`FileNotFoundError` when Azurite is not installed and :class:`AzuriteError` when it
    does not answer within ``timeout`` seconds.
    """
    if not AZURITE_BIN.exists():
        raise FileNotFoundError(
            f"Azurite is not installed ({AZURITE_BIN} is missing): run `npm install` in {AZURITE_BIN.parents[2]}"
        )
    with tempfile.TemporaryDirectory(prefix="feed-azurite-") as workdir:
        log_path = Path(workdir) / "azurite.log"
        last_error = "not started"
        for _ in range(attempts):  # a port taken between probing and binding: try other ports
            ports = free_ports(3)
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    azurite_command(ports[0], ports[1], ports[2]),
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                deadline = time.monotonic() + timeout
                while proc.poll() is None and time.monotonic() < deadline:
                    if all(port_answers(p) for p in ports):
                        break
                    time.sleep(0.05)
                else:
                    code = proc.poll()
                    last_error = (
                        f"exited with code {code}" if code is not None else f"did not answer within {timeout:.0f} s"
                    )
                    _stop(proc)
                    continue
                yield connection_string(ports[0], ports[1], ports[2])
                return
            finally:
                _stop(proc)
        raise AzuriteError(f"Azurite {last_error}; log:\n{_log_tail(log_path)}")


@contextmanager
def azurite_connection() -> Iterator[str]:
    """The external Azurite from ``FEED_TEST_AZURITE_CONNECTION_STRING``, or a fresh one."""
    external = os.environ.get(ENV_CONNECTION_STRING, "").strip()
    if external:
        yield external
        return
    with running_azurite() as conn:
        yield conn


def azurite_fixture(scope: Scope = "session", name: str = "azurite_connection_string") -> Callable[[], Iterator[str]]:
    """A pytest fixture yielding an Azurite connection string; failures fail (never skip) the tests."""

    @pytest.fixture(scope=scope, name=name)
    def _azurite() -> Iterator[str]:
        with ExitStack() as stack:
            problem = ""
            try:
                conn = stack.enter_context(azurite_connection())
            except FileNotFoundError as exc:
                problem = f"{exc} (the pinned Azurite of tools/package.json)"
            except AzuriteError as exc:
                problem = str(exc)
            if problem:
                pytest.fail(problem, pytrace=False)
            yield conn

    return _azurite


azurite_connection_string = azurite_fixture()


async def open_unique_storage(connection_string: str, call_counter: StorageCallCounter | None = None) -> Storage:
    """Azure storage on Azurite under a table prefix and container of its own, so tests never share rows."""
    unique = uuid.uuid4().hex[:12]
    return await open_azure_storage(
        connection_string=connection_string,
        table_url=None,
        blob_url=None,
        client_id=None,
        table_prefix=f"t{unique}",
        container=f"c{unique}",
        call_counter=call_counter,
    )
