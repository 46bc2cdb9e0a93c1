"""Playwright launch options for the browser tests: Debian's Chromium, headless, no network chatter.

Loaded from tests/conftest.py through `pytest_plugins`, so one browser serves the whole session.
`playwright install` cannot download browsers here; CHROMIUM_PATH overrides the executable.
"""

import os

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's options (e.g. --slowmo), launched with the system Chromium."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "headless": browser_type_launch_args.get("headless", True),
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


def log_in(page, base_url: str, email: str, password: str) -> None:
    """Log in through the real form; for clinic staff, also type the code from their device
    (the demo seeds one with a known key)."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page.goto(base_url + "/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if "/account/2fa/verify/" in page.url:
        device = TOTPDevice.objects.get(user__email=email, confirmed=True)
        page.get_by_label("Code").fill(f"{totp(device.bin_key):06d}")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()


BLOCKING_IMPACTS = {"serious", "critical"}


def assert_accessible(page, name: str, *, allowed: frozenset = frozenset()) -> None:
    """axe-core (offline) finds no serious or critical violation on the page, except the rule
    ids in `allowed`; the ones it finds are printed with their targets."""
    import json

    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS and v["id"] not in allowed]
    for v in blocking:
        targets = [node["target"] for node in v["nodes"]]
        print(json.dumps({"id": v["id"], "impact": v["impact"], "help": v["help"], "targets": targets}))
    assert not blocking, f"{name}: " + ", ".join(f"{v['id']} ({v['impact']})" for v in blocking)


@pytest.fixture
def eager_tasks():
    """Celery tasks run in the test process (the check-in's alerts are sent at once)."""
    from ibt_companion.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
