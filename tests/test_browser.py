"""A patient logs in with a real browser (Debian's Chromium through Playwright), against a live server.

`live_server` runs in another thread with its own connection, hence `transactional_db`.
The launch options live in tests/browser_fixtures.py.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_fixtures import assert_accessible

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Everything the page logs as an error (CSP refusals and failed loads included), with its URL.

    The site has no favicon yet, so the browser's own /favicon.ico probe is left out.
    """
    errors: list[str] = []

    def on_console(msg) -> None:
        url = msg.location.get("url", "")
        if msg.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{msg.text} at {url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


def test_patient_logs_in_and_sees_home(page: Page, live_server, demo, console_errors):
    page.goto(live_server.url + "/accounts/login/")
    expect(page).to_have_title(re.compile("Log in"))

    # The emergency number is offered before any log-in.
    emergency = page.locator('a[href="tel:911"]')
    expect(emergency.first).to_be_visible()
    for i in range(emergency.count()):
        expect(emergency.nth(i)).to_be_visible()

    assert_accessible(page, "log-in")

    page.get_by_label("E-mail").fill("pat@riverside.example")
    page.get_by_label("Password").fill("demo-patient-2026")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", level=1, name="Hello, Pat Rivera")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/")

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "patient-home.png"
    screenshot.unlink(missing_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.is_file()
    assert screenshot.stat().st_size > 0

    assert_accessible(page, "home")
    assert console_errors == [], console_errors


def test_tab_first_reaches_the_skip_link(page: Page, live_server, transactional_db):
    page.goto(live_server.url + "/accounts/login/")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("Skip to main content")
    expect(focused).to_have_attribute("href", "#main")
    expect(focused).to_be_visible()  # a skip link must show itself when focused

    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
