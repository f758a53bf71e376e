"""Browser tests: a real server process (daphne, websockets) and Debian's Chromium via Playwright.

Without Chromium or Playwright the tests are skipped with the reason; REQUIRE_BROWSER=1 (CI)
makes that a failure. The server runs `manage.py serve` against this test run's database.
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from tests.serve import serve
from tests.services import required

# Playwright's sync API keeps an event loop running in this thread; the ORM calls the tests make
# (building data, creating the user) are still plain synchronous calls, so allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "e2e-Password-42"


def _browser_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


# Per module, not per session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, which would break the async tests of any module collected after it.
@pytest.fixture(scope="module")
def browser():
    missing = _browser_missing()
    if missing:
        if required("BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(f"{missing}; set REQUIRE_BROWSER=1 to fail instead")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def server(db_url, tmp_path):
    """`manage.py serve` on a free port, against the test database; yields its base URL."""
    with serve(db_url, tmp_path, env={"SECRET_KEY": "e2e-secret-key-not-for-production",
                                      "BROKER_GROUP_SWEEP_INTERVAL_S": "1"}) as base:
        yield base


@pytest.fixture(autouse=True)
def _no_publish_from_the_test_process(monkeypatch):
    """Data the tests write with brokercore services reaches the server through its change watcher.

    The services' own event publishing cannot work here (Playwright's sync API runs an event loop
    in this thread, so async_to_sync refuses) and would only reach this process's channel layer;
    skip it, so a failing test's log is not buried under tracebacks.
    """
    from brokercore import events

    monkeypatch.setattr(events, "publish", lambda *args, **kwargs: None)


@pytest.fixture
def admin_user(transactional_db):
    return User.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def page(browser, server, admin_user):
    """A logged-in page (staff), through the real login form."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server)
    # Count the live fragments each page receives over its websocket (see live_ready).
    context.add_init_script(
        "window.__liveMessages = 0;"
        "document.addEventListener('htmx:wsAfterMessage', function () { window.__liveMessages++; });"
    )
    p = context.new_page()
    p.set_default_timeout(10_000)
    # Live updates cross processes (the change watcher polls every 0.5 s): give assertions the
    # same 10 s as actions, so a loaded machine slows the tests down rather than failing them.
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    p.goto("/login/")
    p.fill("input[name=username]", "admin")
    p.fill("input[name=password]", PASSWORD)
    p.click("button[type=submit]")
    p.wait_for_url(server + "/")
    yield p
    context.close()


def live_ready(page) -> None:
    """Wait until a live page can see writes made by other processes.

    The socket pushes every fragment once on connect; then the server's change watcher takes its
    first snapshot, the baseline later polls compare with. A write landing before that baseline is
    never announced, so tests writing from outside the server wait for the connect push and for
    one watcher poll period (console/live/watcher.py POLL_S) before writing.
    """
    from playwright.sync_api import expect

    from console.live.watcher import POLL_S

    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    page.wait_for_function("window.__liveMessages > 0")
    page.wait_for_timeout(POLL_S * 1000)


def htmx_settled(locator) -> None:
    """Wait until htmx has set up content it swapped in: it marks new elements htmx-added and
    removes the class as it processes them (after its settle delay). Typed into before that, a
    swapped-in input has no triggers yet, so the keys would ask the server nothing."""
    from playwright.sync_api import expect

    expect(locator).not_to_have_class(re.compile(r"\bhtmx-added\b"))


SCREENSHOTS = ROOT / "docs" / "screenshots"


def screenshot(page, name: str) -> None:
    """Save a screenshot for the README when SCREENSHOTS=1 (kept out of normal runs)."""
    if os.environ.get("SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # From the top: scrolled, the sticky top bar would be drawn in the middle of a full-page shot.
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
