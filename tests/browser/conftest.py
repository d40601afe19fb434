"""Browser tests: the web UI in Debian's Chromium, driven by Playwright (sync API), against a real server.

* ``ui_embedded_server`` / ``ui_azurite_server``: ``python -m feed_core serve`` in a subprocess on a free
  127.0.0.1 port, one per backend for this package's tests (started on first use, short upstream budgets).
  ``server`` picks one: the embedded store unless a test parametrises it with
  ``@pytest.mark.parametrize("server", BACKENDS, indirect=True)``.
* ``browser``: one Chromium for the package (``FEED_CHROMIUM`` overrides ``/usr/bin/chromium``; Playwright's own
  browser download is never used). A missing Chromium fails the tests with a hint; they never skip.
* ``context`` / ``page``: a fresh browser context (no cookies) per test, on the server's base URL, 1280x800.
  Its pages' dialogs and Content-Security-Policy violations are recorded (:class:`Watch`), and a test with
  any of them fails.
* ``api``: the REST management API as the organization administrator; ``feed``: a fresh feed with alice
  (contributor) and bob (reader) and their tokens (as in tests/e2e).
* ``screenshot(page, name)``: a PNG into docs/screenshots/ with FEED_UPDATE_SCREENSHOTS=1, else a temporary
  directory; ``other_site``: a page on another origin, for CSRF and framing attempts.

The tests are plain (sync) functions using Playwright's sync API, so pytest-asyncio's loops never meet
Playwright's own; the browser and the servers are package-scoped, so they are gone before other tiers run.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, sync_playwright

from tests.browser.other_site import OtherSite
from tests.e2e.conftest import (
    UPSTREAM_SERVER_ENV,
    Api,
    FeedEnv,
    FeedServer,
    new_feed,
    own_azurite_server,
    own_embedded_server,
    running,
)

CHROMIUM = os.environ.get("FEED_CHROMIUM") or "/usr/bin/chromium"
#: What headless Chromium needs in a container (no sandbox, no GPU, a small /dev/shm), and nothing it phones.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}

#: Storage backends the core flows run on; Azurite needs the emulator (tests/azurite.py).
BACKENDS = ["embedded", pytest.param("azurite", marks=pytest.mark.azurite)]

#: Short upstream budgets and no wait between refreshes, as tests/e2e's upstream modules use.
SERVER_ENV = {k: v for k, v in UPSTREAM_SERVER_ENV.items() if k != "FEED_STORAGE"}


def chromium_path() -> str:
    """The Chromium to drive, or a failure that says how to get one."""
    found = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which(CHROMIUM)
    if not found or not os.access(found, os.X_OK):
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(scripts/test does it through scripts/_browser.sh) or name another build with FEED_CHROMIUM",
            pytrace=False,
        )
    return found


# --- the servers -----------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def ui_embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedServer]:
    with own_embedded_server(tmp_path_factory.mktemp("ui-embedded"), **SERVER_ENV) as srv:
        yield srv


@pytest.fixture(scope="package")
def ui_azurite_server(tmp_path_factory: pytest.TempPathFactory, azurite_connection_string: str) -> Iterator[FeedServer]:
    with own_azurite_server(
        tmp_path_factory.mktemp("ui-azurite"), azurite_connection_string, "ui", **SERVER_ENV
    ) as srv:
        yield srv


@pytest.fixture
def server(request: pytest.FixtureRequest) -> FeedServer:
    """The embedded server, or the backend named by indirect parametrisation."""
    backend = getattr(request, "param", "embedded")
    if backend not in ("embedded", "azurite"):
        raise ValueError(f"unknown backend {backend!r}")
    srv: FeedServer = request.getfixturevalue(f"ui_{backend}_server")
    return running(srv)


@pytest.fixture
def api(server: FeedServer) -> Iterator[Api]:
    client = Api(server)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def feed(server: FeedServer, api: Api) -> FeedEnv:
    """A fresh feed: alice contributes (write token), bob reads (read token)."""
    return new_feed(server, api, "ui")


# --- the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for every browser test (contexts keep the tests apart)."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watch:
    """What a page did that a test may need to know: dialogs it opened (each dismissed at once) and the
    Content-Security-Policy violations Chromium reported on the console."""

    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def context(browser: Browser, server: FeedServer, watch: Watch) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.base_url, viewport=DESKTOP)  # type: ignore[arg-type]
    ctx.set_default_timeout(10_000)
    ctx.on("dialog", watch.on_dialog)
    ctx.on("console", watch.on_console)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Iterator[Page]:
    """A tab of the test's context. After the test: no page of it opened a dialog, and none reported a
    Content-Security-Policy violation (the pages have no inline script or style; a test that provokes one
    on purpose clears it from ``watch``)."""
    yield context.new_page()
    assert not watch.dialogs, f"a page opened dialogs: {watch.dialogs}"
    assert not watch.csp_violations, "Content-Security-Policy violations:\n" + "\n".join(watch.csp_violations)


@pytest.fixture(scope="package")
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: docs/screenshots/ with FEED_UPDATE_SCREENSHOTS=1, else a temporary directory."""
    if os.environ.get("FEED_UPDATE_SCREENSHOTS") == "1":
        target = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path_factory.mktemp("screenshots")


Screenshot = Callable[[Page, str], Path]


@pytest.fixture
def screenshot(shots_dir: Path) -> Screenshot:
    """``screenshot(page, name)``: the viewport as ``{name}.png`` in ``shots_dir``."""

    def take(page: Page, name: str) -> Path:
        path = shots_dir / f"{name}.png"
        page.screenshot(path=path, animations="disabled", caret="hide")
        return path

    return take


@pytest.fixture
def other_site() -> Iterator[OtherSite]:
    site = OtherSite()
    try:
        yield site
    finally:
        site.stop()
