"""The page (SPEC §11) in a real headless browser: Debian's Chromium driven by Playwright.

Chromium comes from Debian (`make test` installs it, CHROMIUM_INSTALL); Playwright's own browser
download cannot work here, so it is launched with `executable_path`. Where it is missing the tests
FAIL rather than skip: CI must really run them.

Every test gets the real `orion-events serve` (tests/e2e's factory) on a temp data dir, a fresh
browser context whose requests, console errors and page errors are recorded (`Seen`), and
`shot(page, name)` that writes `<tmp_path>/<name>.png` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    WebError,
    sync_playwright,
)

# The real process and its factory, shared with tests/e2e (imported so pytest registers them here).
from tests.browser.api import Api
from tests.e2e.conftest import HOST, Server, ServerFactory, e2e_data_dir, serve_process

__all__ = ["e2e_data_dir", "serve_process"]  # fixtures, used by name

SYSTEM_CHROMIUM = "/usr/bin/chromium"
# Quiet, local-only Chromium: none of its own background traffic (updates, sync, QUIC probes),
# and no sandbox, which needs user namespaces a CI container (running as root) does not give.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # a container's /dev/shm is often 64 MB, too small for Chromium's shared memory: use /tmp
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Schemes that never leave the machine: Swagger UI's icons and the export's download.
LOCAL_SCHEMES = frozenset({"data", "blob"})


def chromium_path() -> str:
    found = shutil.which("chromium") or (SYSTEM_CHROMIUM if os.path.exists(SYSTEM_CHROMIUM) else "")
    if not found:
        pytest.fail(
            "Debian's Chromium is missing (no `chromium` on PATH, no /usr/bin/chromium): "
            "`make test` installs it (CHROMIUM_INSTALL); by hand: apt-get install -y chromium",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Module-scoped, not session: the sync API runs its own event loop, closed before the next
    # module's async tests (pytest-asyncio) run.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield launched
    finally:
        launched.close()


@dataclass
class Seen:
    """What one browser context did: every request, every response's headers, every error."""

    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)  # CSP violations land here too
    page_errors: list[str] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.requests.append(request)

    def on_response(self, response: Response) -> None:
        self.responses.append(response)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def on_web_error(self, error: WebError) -> None:
        self.page_errors.append(str(error.error))

    def urls(self) -> list[str]:
        return [r.url for r in self.requests]

    def foreign(self, base_url: str) -> list[str]:
        """Request URLs that went anywhere but the service under test on 127.0.0.1."""
        ours = urllib.parse.urlsplit(base_url)
        out = []
        for url in self.urls():
            parts = urllib.parse.urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES:
                continue
            if parts.hostname != HOST or parts.port != ours.port:
                out.append(url)
        return out

    def assert_local_and_quiet(
        self, base_url: str, allow: Callable[[str], bool] | None = None
    ) -> None:
        """No request left 127.0.0.1, no console error (CSP violations included), no page error.

        Chromium asks for /favicon.ico by itself on a page with no icon link, and
        docs/page-dom.md names no icon: that 404 is the browser's, not the page's, so it is let
        through. `allow` lets a test accept console errors it caused on purpose (an expected
        401).
        """
        assert self.requests, "the recorder saw no request at all"
        assert self.foreign(base_url) == []
        errors = [
            e
            for e in self.console_errors
            if not e.endswith(f"({base_url}/favicon.ico)") and (allow is None or not allow(e))
        ]
        assert errors == []
        assert self.page_errors == []


@dataclass
class Tab:
    page: Page
    seen: Seen


TabFactory = Callable[..., Tab]


@pytest.fixture
def open_tab(browser: Browser) -> Iterator[TabFactory]:
    """open_tab(viewport=DESKTOP) -> a page in a fresh context, recorded from its first request."""
    contexts = []

    def make(viewport: dict[str, int] | None = None) -> Tab:
        context = browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        contexts.append(context)
        seen = Seen()
        context.on("request", seen.on_request)
        context.on("response", seen.on_response)
        context.on("console", seen.on_console)
        context.on("weberror", seen.on_web_error)
        return Tab(context.new_page(), seen)

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def tab(open_tab: TabFactory) -> Tab:
    return open_tab()


@dataclass
class Orion:
    """The running service: its base URL and its API (with the key, when there are users)."""

    server: Server
    api: Api

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def orion(serve_process: ServerFactory) -> Orion:
    """The real `orion-events serve`, open (no users), on the test's temp data dir."""
    server = serve_process().start()
    return Orion(server, Api(server.url))


Shot = Callable[[Page, str], Path]


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    """shot(page, name) writes `<tmp_path>/<name>.png`, a full-page screenshot, and checks it."""

    def take(page: Page, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        return path

    return take
