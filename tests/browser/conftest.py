"""Browser fixtures: Debian's Chromium driven by Playwright's sync API.

Playwright cannot download a browser here, so the tests use /usr/bin/chromium
(install it with scripts/ensure-chromium). Two browsers are launched once per
session: the default one, flagged as automation (navigator.webdriver is true, as
for mail security scanners), and a "person" whose Chromium does not flag
automation, so the rating page's script records the score as it does for people.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs its asyncio event loop in this thread (it switches to
# it with greenlets), so Django's async-unsafe check sees a "running event loop"
# and refuses ORM queries made by the test between two browser actions. The
# queries are synchronous and never run inside that loop, so the check is moot.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000

# Reports every CSP violation with its directive, also when the page itself
# swallows it; runs before the page's own scripts (only where JavaScript runs).
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " +
                (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture(scope="session")
def playwright_driver():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. "
            "Install it with scripts/ensure-chromium (apt-get install chromium).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    yield driver
    driver.stop()


def _launch(driver, *extra_args: str):
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=[*LAUNCH_ARGS, *extra_args])


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """Chromium as automation: navigator.webdriver is true, like a link scanner."""
    browser = _launch(playwright_driver)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def person_browser(playwright_driver):
    """Chromium that does not flag automation: navigator.webdriver is false."""
    browser = _launch(playwright_driver, "--disable-blink-features=AutomationControlled")
    yield browser
    browser.close()


class BrowserWatch:
    """Opens browser contexts and collects console errors, page errors and CSP violations
    from every page they open (popups included)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._contexts = []

    def new_context(self, browser, **options):
        options.setdefault("locale", "en-US")  # Accept-Language: the app starts in English
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        context.on("page", self._watch)
        self._contexts.append(context)
        return context

    def _watch(self, page) -> None:
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught {exc}"))

    def _console(self, page, msg) -> None:
        if msg.type != "error":
            return
        source = msg.location.get("url", "")
        self.errors.append(f"{page.url}: console error: {msg.text} (source: {source or '-'})")

    def assert_clean(self) -> None:
        assert not self.errors, "errors in the browser:\n" + "\n".join(self.errors)

    def close(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture
def watch() -> Iterator[BrowserWatch]:
    watch = BrowserWatch()
    yield watch
    watch.close()


@pytest.fixture
def screenshot():
    """Saves a full-page screenshot to test-artifacts/<name>.png (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
