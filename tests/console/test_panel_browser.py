"""The patient list, the patient panel and the refill board in a real browser (Debian's Chromium
through Playwright, against a live server): no serious or critical axe violations, nothing
refused by the content security policy, and the filters work by keyboard without JavaScript.

`live_server` runs in another thread with its own connection, hence a transactional database.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from symptoms.models import CheckIn
from tests.browser_fixtures import log_in
from tests.test_browser import assert_accessible

from .test_patients_fixtures import give_pump, refill

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


@pytest.fixture
def staffed(world):
    """The world's patient refilled 25 days ago (due soon), then again 2 days ago with a
    discrepancy, with a check-in; an overdue patient; and the staff member's TOTP device."""
    now = timezone.now()
    world.patient.notification_channels = ["email"]
    world.patient.save()
    give_pump(world.patient, eri_date=now.date() - timedelta(days=70))
    refill(world.patient, world.staff, now - timedelta(days=20))
    refill(world.patient, world.staff, now - timedelta(days=2), aspirated="5")
    give_pump(world.other_patient)
    refill(world.other_patient, world.staff, now - timedelta(days=37))
    CheckIn.objects.create(
        patient=world.patient,
        logged_by=world.caregiver,
        logged_by_role=CheckIn.Role.CAREGIVER,
        observed_at=now - timedelta(hours=3),
        symptoms=["itching"],
        level="call_clinic",
        reasons=[],
        rule_set_version="2026.1",
    )
    TOTPDevice.objects.create(user=world.staff, name="app", confirmed=True)
    return world


def refusals(page: Page) -> list[str]:
    """Errors the pages log (CSP refusals included); the site has no favicon, so the browser's
    own /favicon.ico probe is left out."""
    errors: list[str] = []

    def on_console(msg) -> None:
        url = msg.location.get("url", "")
        if msg.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{msg.text} at {url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_list_panel_and_board_pass_axe(page: Page, live_server, staffed, password):
    errors = refusals(page)
    log_in(page, live_server.url, staffed.staff.email, password)
    ARTIFACTS.mkdir(exist_ok=True)

    page.get_by_role("link", name="Patients", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Patients")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Refill overdue")
    assert_accessible(page, "patient list")
    page.screenshot(path=str(ARTIFACTS / "console-patient-list.png"), full_page=True)

    page.get_by_role("link", name=staffed.patient.full_name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(staffed.patient.full_name)
    expect(page.get_by_role("img", name=re.compile("Predicted medicine in the pump"))).to_be_visible()
    expect(page.locator("#events-heading + ul + .table-wrap")).to_contain_text("Refill discrepancy")
    assert_accessible(page, "patient panel")
    page.screenshot(path=str(ARTIFACTS / "console-patient-panel.png"), full_page=True)

    page.get_by_role("link", name="Refill board").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Refill board")
    expect(page.get_by_role("heading", level=2, name=re.compile("Needs action now"))).to_be_visible()
    assert_accessible(page, "refill board")
    page.screenshot(path=str(ARTIFACTS / "console-refill-board.png"), full_page=True)
    assert errors == []


def test_filters_work_by_keyboard_without_javascript(browser, live_server, staffed, password):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server.url, staffed.staff.email, password)
        page.goto(live_server.url + "/clinic/patients/")
        overdue = page.get_by_label("Refill overdue")
        overdue.focus()
        page.keyboard.press("Space")
        expect(overdue).to_be_checked()
        box = page.locator("label[for=id_status_1]").bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box
        page.get_by_label("Name or e-mail").focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"status=overdue"))
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(staffed.other_patient.full_name)
        expect(page.get_by_label("Refill overdue")).to_be_checked()
    finally:
        context.close()
