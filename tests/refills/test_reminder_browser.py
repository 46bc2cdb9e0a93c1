"""A caregiver acknowledges a real reminder e-mail in a real browser (Debian's Chromium through
Playwright, against a live server): the link opens a page with one big button, the visit
alone changes nothing (mail scanners fetch links), and pressing the button cancels the
cycle's unsent 14- and 3-day steps for everyone (SPEC §5).

The e-mail is made in-process: the refill is recorded a few days before the real now, so the
token (valid until refill_due_at + 7 days) is valid when the browser uses it, and the tick is
run at the instant its step falls due. `live_server` runs in another thread with its own
connection, hence a transactional database.
"""

import re
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from refills import services
from refills.models import Acknowledgement, Delivery, PumpProfile, RefillCycle
from refills.notify import outbox
from tests.browser_fixtures import assert_accessible, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}
ACK_LINK = re.compile(r"https?://\S+/r/ack/\S+/")


@pytest.fixture
def cycle(world):
    # A 21-day step first, so that both the 14- and the 3-day steps are still unsent when the
    # caregiver acknowledges the first e-mail.
    world.clinic.reminder_steps = [21, 14, 7, 3, 1]
    world.clinic.save()
    world.patient.notification_channels = ["email", "inbox"]
    world.patient.save()
    world.caregiver.notification_channels = ["email"]
    world.caregiver.save()
    PumpProfile.objects.create(
        patient=world.patient, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date="2025-01-01"
    )
    # 0.5 mL/day from 20 mL to the 2 mL alarm: due 36 days after the refill, 33 days from now.
    services.record_event(
        patient=world.patient,
        kind="refill",
        values={"volume_ml": "20", "aspirated_ml": "0", "program": SIMPLE},
        occurred_at=timezone.now() - timedelta(days=3),
        by=world.staff,
    )
    return RefillCycle.objects.get(patient=world.patient, ended_at__isnull=True)


def caregiver_link(cycle, world, mailoutbox, live_server) -> str:
    """Send the first step in-process and take the link from the caregiver's e-mail."""
    first = Delivery.objects.filter(cycle=cycle, kind="step_21").order_by("due_at").first()
    statuses = [outbox.deliver(pk, first.due_at) for pk in outbox.tick(first.due_at)]
    assert statuses == ["sent"] * 3  # patient e-mail and inbox, caregiver e-mail
    [message] = [m for m in mailoutbox if m.to == [world.caregiver.email]]
    link = ACK_LINK.search(message.body).group(0)
    return live_server.url + urlsplit(link).path


def steps(cycle, *kinds) -> set[tuple[str, str]]:
    return set(Delivery.objects.filter(cycle=cycle, kind__in=kinds).values_list("status", "last_error"))


def test_caregiver_acknowledges_the_reminder_with_one_button(page: Page, live_server, world, cycle, mailoutbox):
    url = caregiver_link(cycle, world, mailoutbox, live_server)
    assert steps(cycle, "step_14", "step_3") == {("pending", "")}

    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pump refill due")
    buttons = page.locator("main").get_by_role("button")
    expect(buttons).to_have_count(1)
    expect(buttons.first).to_have_text("I got the reminder")
    expect(buttons.first).to_have_class(re.compile(r"\bbig\b"))
    assert_accessible(page, "acknowledgement")
    # Opening the link did nothing.
    assert not Acknowledgement.objects.exists()
    assert steps(cycle, "step_14", "step_3") == {("pending", "")}

    buttons.first.click()
    expect(page.get_by_role("heading", level=1, name="Thank you")).to_be_visible()
    assert_accessible(page, "thank-you")

    assert Acknowledgement.objects.filter(cycle=cycle, recipient=f"user:{world.caregiver.pk}").count() == 1
    assert steps(cycle, "step_14", "step_3") == {("skipped", "acknowledged")}
    assert Delivery.objects.filter(cycle=cycle, kind__in=["step_14", "step_3"]).count() == 6  # for everyone
    # Only a refill cancels the 1-day step and the overdue messages; the 7-day step stays too.
    assert steps(cycle, "step_7", "step_1", "overdue") == {("pending", "")}


def test_the_new_pages_pass_axe_and_the_appointment_warning_shows(page: Page, live_server, world, cycle, password):
    TOTPDevice.objects.create(user=world.staff, name="app", confirmed=True)
    log_in(page, live_server.url, world.staff.email, password)
    expect(page.get_by_role("link", name="Log in")).to_have_count(0)

    patient = f"{live_server.url}/patients/{world.patient.pk}"
    page.goto(f"{patient}/appointment/")
    assert_accessible(page, "appointment")
    due = timezone.localtime(cycle.refill_due_at, timezone=ZoneInfo(world.patient.time_zone))
    page.get_by_label("Date of the appointment").fill((due + timedelta(days=1)).date().isoformat())
    page.get_by_label("Time").fill("10:30")
    page.get_by_role("button", name="Save the appointment").click()

    expect(page.get_by_role("heading", level=1, name="Reminders for Pat Home")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("after the refill due date: the pump may alarm or run low first")
    assert_accessible(page, "reminders")

    page.goto(f"{patient}/calendar/")
    expect(page.get_by_label("Your private calendar link")).to_have_value(re.compile(r"/calendar/.+\.ics$"))
    assert_accessible(page, "calendar link")
    old_link = page.get_by_label("Your private calendar link").input_value()
    page.get_by_role("button", name="Get a new link").click()
    expect(page.locator(".messages")).to_contain_text("The old one no longer works")
    expect(page.get_by_label("Your private calendar link")).not_to_have_value(old_link)
    assert_accessible(page, "calendar link renewed")
