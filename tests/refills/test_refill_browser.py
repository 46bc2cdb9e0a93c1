"""Staff record a refill for a demo patient through the preview; the patient's home page then
shows the new date (a real browser against a live server)."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, expect

from patients.models import Patient
from refills.models import PumpEvent, RefillCycle
from refills.words import date_in_words
from tests.browser_fixtures import log_in

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


def test_staff_refill_through_the_preview_updates_the_patients_home(browser: Browser, live_server, transactional_db):
    call_command("seed_demo", stdout=io.StringIO())
    pat = Patient.objects.get(email="pat@riverside.example")
    before = RefillCycle.objects.get(patient=pat, ended_at__isnull=True).refill_due_at
    events_before = PumpEvent.objects.filter(patient=pat).count()

    staff = browser.new_context().new_page()
    log_in(staff, live_server.url, "nurse@riverside.example", "demo-staff-2026")
    staff.goto(f"{live_server.url}/patients/{pat.pk}/events/new/?kind=refill")
    staff.fill("input[name=volume_ml]", "20")
    staff.fill("input[name=aspirated_ml]", "2.0")
    staff.check("input[name=concentration][value='500']")
    staff.check("input[name=mode][value='simple']")
    staff.fill("input[name=daily_dose_mcg]", "250")
    staff.get_by_role("button", name="Check", exact=True).click()

    expect(staff.get_by_role("heading", name="Check before you save")).to_be_visible()
    assert PumpEvent.objects.filter(patient=pat).count() == events_before  # the preview saved nothing
    ARTIFACTS.mkdir(exist_ok=True)
    staff.screenshot(path=str(ARTIFACTS / "staff-refill-preview.png"), full_page=True)
    staff.get_by_role("button", name="Save", exact=True).first.click()
    expect(staff.get_by_text("Refill saved")).to_be_visible()

    cycle = RefillCycle.objects.get(patient=pat, ended_at__isnull=True)
    assert PumpEvent.objects.filter(patient=pat).count() == events_before + 1
    # 250 mcg/day at 500 mcg/mL = 0.5 mL/day: (20 − 2) mL lasts 36 days, later than before.
    assert cycle.refill_due_at > before
    words = date_in_words(cycle.refill_due_at, pat.time_zone, year=False, translated=False)

    patient = browser.new_context().new_page()
    log_in(patient, live_server.url, "pat@riverside.example", "demo-patient-2026")
    expect(patient.get_by_text(words)).to_be_visible()
    expect(patient.get_by_text("in 36 days").or_(patient.get_by_text("in 35 days"))).to_be_visible()
    patient.screenshot(path=str(ARTIFACTS / "patient-home-after-refill.png"), full_page=True)
