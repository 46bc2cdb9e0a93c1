"""A caregiver logs a check-in with a red flag in a real browser (Debian's Chromium through
Playwright, against a live server) and lands on the emergency page with the call link first; the
clinic's queue has the emergency, and the clinic and the other caregiver are told.

JavaScript is off in this module: the form must work without it. `live_server` runs in another
thread with its own connection, hence `transactional_db`. Celery runs tasks eagerly here, so the
alert the check-in hands over after its commit is sent in the live server's thread.
"""

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from patients.models import QueueItem
from symptoms.models import CheckIn
from tests.browser_fixtures import assert_accessible
from tests.factories import PASSWORD, CaregiverLinkFactory, ClinicFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "java_script_enabled": False}


@pytest.fixture
def family(transactional_db):
    clinic = ClinicFactory(name="Lakeside Pump Clinic", alert_email="alerts@lakeside.example")
    patient = PatientFactory(clinic=clinic, full_name="Pat Rivera")
    carer = UserFactory(email="carer@lakeside.example", full_name="Chris Rivera")
    CaregiverLinkFactory(caregiver=carer, patient=patient)
    other = UserFactory(email="sister@lakeside.example", full_name="Sam Rivera", notification_channels=["email"])
    CaregiverLinkFactory(caregiver=other, patient=patient)
    return clinic, patient, carer, other


def test_a_caregiver_logs_a_red_flag_and_lands_on_the_emergency_page(page: Page, live_server, family, eager_tasks):
    clinic, patient, carer, _other = family
    mail.outbox = []
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("E-mail").fill(carer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Log symptoms for Pat Rivera").click()
    expect(page.get_by_role("heading", level=1, name="How is Pat Rivera?")).to_be_visible()

    # The keyboard alone: tick a danger sign with Space, press the button with Enter.
    seizure = page.get_by_role("checkbox", name="Had a seizure (a fit)")
    seizure.focus()
    page.keyboard.press("Space")
    expect(seizure).to_be_checked()
    page.get_by_role("button", name="See what to do").focus()
    page.keyboard.press("Enter")

    page.wait_for_url(f"{live_server.url}/checkins/*/")
    checkin = CheckIn.objects.get()
    assert page.url == f"{live_server.url}/checkins/{checkin.pk}/"
    first = page.locator("main > *").first
    expect(first).to_have_attribute("href", "tel:911")
    expect(first).to_have_text("Call 911 now")
    expect(first).to_be_visible()
    heading = page.get_by_role("heading", level=1, name="Get help now")
    call_box, heading_box = first.bounding_box(), heading.bounding_box()
    assert call_box["y"] < heading_box["y"] and call_box["height"] >= 64  # first, and big
    # Spoken to the caregiver about Pat ("Your clinic" spoke to Pat, who was not the one reading).
    expect(page.get_by_text("Pat's clinic has been told, but do not wait for them.")).to_be_visible()

    assert checkin.level == "emergency" and checkin.logged_by == carer and checkin.logged_by_role == "caregiver"
    item = QueueItem.objects.get(patient=patient)
    assert item.tier == QueueItem.Tier.EMERGENCY and item.clinic == clinic and item.resolved_at is None
    # Told at once: the clinic and the other caregiver, not the caregiver who is reading the page.
    assert sorted(m.to[0] for m in mail.outbox) == ["alerts@lakeside.example", "sister@lakeside.example"]


def test_the_public_checker_and_its_emergency_page_are_accessible(browser, live_server, transactional_db):
    context = browser.new_context()  # with JavaScript: axe runs in the page
    page = context.new_page()
    try:
        page.goto(live_server.url + "/emergency-check/")
        expect(page.get_by_role("heading", level=1, name="Is this an emergency?")).to_be_visible()
        assert_accessible(page, "the check-in form")
        page.get_by_role("checkbox", name="Slow, shallow or hard breathing").check()
        page.get_by_label("Temperature, if you took it").fill("abc")
        page.get_by_role("button", name="See what to do").click()
        expect(page.get_by_text("Enter the temperature as a number, such as 37.5.").first).to_be_visible()
        assert_accessible(page, "the form with errors")
        expect(page.get_by_role("checkbox", name="Slow, shallow or hard breathing")).to_be_checked()
        page.get_by_label("Temperature, if you took it").fill("")
        page.get_by_role("button", name="See what to do").click()
        expect(page.locator("main > *").first).to_have_attribute("href", "tel:911")
        assert_accessible(page, "the emergency page")
    finally:
        context.close()
    assert not CheckIn.objects.exists()
