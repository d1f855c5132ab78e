"""Helpers for the real-browser tests: Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``
(``.ci/run`` installs the ``chromium`` package). Without Chromium or the
``playwright`` package the browser tests are skipped, with the reason.

``UPDATE_SCREENSHOTS=1`` makes :func:`screenshot` write the PNGs the README
shows (``docs/screenshot-*.png``); otherwise (CI) it writes nothing.
"""

import os
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT = {"width": 1100, "height": 720}


def sync_playwright_or_skip():
    """``playwright.sync_api.sync_playwright``, or skip the module with the reason."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    if os.environ.get("BROWSER_TESTS", "1") == "0":
        pytest.skip(
            "BROWSER_TESTS=0: the matrix runs the browser tests in one session",
            allow_module_level=True,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "playwright is not installed (pip install -e '.[dev]')", allow_module_level=True
        )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
    return sync_playwright


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@contextmanager
def running_chromium():
    """One Chromium for a module's tests (each test gets its own context).

    Playwright's sync API keeps an asyncio loop running in this thread, which
    makes Django refuse ORM calls here (the test's own, and the database flush
    after each test); they are still synchronous, so that check is lifted while
    the browser runs.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def new_page(browser, base_url):
    """A fresh context (own cookies) whose requests can only reach ``base_url``:
    anything else is aborted, so a test never touches the network."""
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, locale="en-US")
    allowed = urlsplit(base_url).netloc

    def only_the_live_server(route):
        netloc = urlsplit(route.request.url).netloc
        if netloc == allowed or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_the_live_server)
    context.set_default_timeout(15_000)
    return context.new_page()


class PageRecorder:
    """Keeps the HTML of every page state a test looked at, to check for leaks."""

    def __init__(self, page):
        self.page = page
        self.seen = []

    def snapshot(self):
        html = self.page.content()
        self.seen.append((self.page.url, html))
        return html

    def assert_absent(self, *secrets):
        self.snapshot()
        for secret in secrets:
            assert secret, "checking for an empty secret proves nothing"
            leaks = [url for url, html in self.seen if secret in html]
            assert not leaks, f"a secret appeared in the HTML of {leaks}"


def screenshot(page, name):
    """Save ``docs/screenshot-<name>.png`` when UPDATE_SCREENSHOTS=1 (not in CI)."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return None
    DOCS.mkdir(exist_ok=True)
    path = DOCS / f"screenshot-{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
