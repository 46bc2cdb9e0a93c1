"""Enrolment in a real browser against a live server: the whole flow with JavaScript turned off,
and every step (with field errors, the forecast and the "nobody to remind" warning) checked by
axe for serious or critical accessibility problems."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from patients.models import Invitation, Patient
from refills.models import PumpEvent, RefillCycle
from tests.browser_fixtures import assert_accessible, log_in

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
STAFF = ("nurse@riverside.example", "demo-staff-2026")
NOBODY = "Nobody can get refill reminders by e-mail or text. Add an e-mail address or invite a caregiver."


def fill_patient(page: Page, *, email: str) -> None:
    page.get_by_label("Full name").fill("Browser Enrol")
    page.get_by_label("Date of birth").fill("1975-03-04")
    page.get_by_label("Time zone where the patient lives").fill("America/Chicago")
    page.get_by_label("Patient's e-mail address").fill(email)
    if not email:
        page.get_by_label("E-mail", exact=True).uncheck()


def fill_pump(page: Page) -> None:
    page.get_by_label("Pump model").select_option("synchromed2_20")
    page.get_by_label("Implant date").fill("2025-01-15")


def fill_refill(page: Page) -> None:
    page.get_by_label("Volume in the pump after the refill, V0 (mL)").fill("20")
    page.check("input[name=concentration][value='500']")
    page.check("input[name=mode][value='simple']")
    page.get_by_label("Daily dose (mcg per day)").fill("250")


def test_enrol_without_javascript(browser: Browser, live_server, demo):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server.url, *STAFF)
    page.get_by_role("link", name="Add a patient").click()
    expect(page.get_by_role("heading", name="Step 1 of 5: The patient")).to_be_visible()
    fill_patient(page, email="browser@example.org")
    page.get_by_role("button", name="Continue").click()
    fill_pump(page)
    page.get_by_role("button", name="Continue").click()
    fill_refill(page)
    page.get_by_role("button", name="Check the refill date").click()
    expect(page.get_by_role("heading", name="What this refill gives")).to_be_visible()
    page.get_by_role("button", name="Continue").first.click()
    page.get_by_label("Send the patient an e-mail inviting them to log in").check()
    page.get_by_label("Caregiver 1: Their name").fill("Casey Carer")
    page.get_by_label("Caregiver 1: Their e-mail address").fill("casey@example.org")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Step 5 of 5: Check and enrol")).to_be_visible()
    expect(page.get_by_text(NOBODY)).not_to_be_visible()
    assert not Patient.objects.filter(full_name="Browser Enrol").exists()
    page.get_by_role("button", name="Enrol").click()
    expect(page.get_by_text("Browser Enrol is enrolled.")).to_be_visible()
    patient = Patient.objects.get(full_name="Browser Enrol")
    assert PumpEvent.objects.filter(patient=patient, kind="refill").count() == 1
    assert RefillCycle.objects.get(patient=patient).refill_due_at is not None
    assert Invitation.objects.filter(patient=patient).count() == 2
    context.close()


def test_every_step_is_accessible(page: Page, live_server, demo):
    log_in(page, live_server.url, *STAFF)
    page.goto(live_server.url + "/clinic/enrol/")
    assert_accessible(page, "step 1")
    page.get_by_label("Patient's e-mail address").fill("not an address")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Please fix these problems")).to_be_visible()
    assert_accessible(page, "step 1 with errors")
    fill_patient(page, email="")
    page.get_by_role("button", name="Continue").click()

    assert_accessible(page, "step 2")
    page.get_by_label("Pump model").select_option("other")
    page.get_by_role("button", name="Continue").click()
    assert_accessible(page, "step 2 with errors")
    fill_pump(page)
    page.get_by_role("button", name="Continue").click()

    assert_accessible(page, "step 3")
    fill_refill(page)
    page.get_by_label("Volume in the pump after the refill, V0 (mL)").fill("25")
    page.get_by_role("button", name="Check the refill date").click()
    expect(page.get_by_text("More than the pump holds (20 mL).").first).to_be_visible()
    assert_accessible(page, "step 3 with errors")
    page.get_by_label("Volume in the pump after the refill, V0 (mL)").fill("20")
    page.get_by_role("button", name="Check the refill date").click()
    assert_accessible(page, "step 3 with the forecast")
    page.get_by_role("button", name="Continue").first.click()

    assert_accessible(page, "step 4")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text(NOBODY)).to_be_visible()
    assert_accessible(page, "review with the warning")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "enrol-review-nobody-to-remind.png"), full_page=True)
