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
