"""What each message says, and to whom (SPEC §5, issue: words): every kind of message as the
patient, a caregiver and the clinic's alert address read it, on many days before and after the
refill date. A subject's time phrase is the body's; the clinic reads a reference, never a name."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from patients import wording
from refills.models import Delivery
from refills.notify import content, recipients
from refills.notify.kinds import MessageKind, step_days
from tests.factories import pump_with_refill

from .helpers import tick_and_send

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # the refill; the 2 mL alarm falls 36 days later
TIME_PHRASE = re.compile(r"\b(in \d+ days?|tomorrow|today|\d+ days? ago)\b")
KINDS = [*MessageKind.values, "step_5", "step_21"]  # a clinic's own steps too
LOGGED_BY = ("patient", "caregiver", "staff")


@pytest.fixture
def due(world):
    """Pat Home's open cycle, with a caregiver and a clinic alert address; e-mail for everyone."""
    world.patient.notification_channels = ["email", "sms"]
    world.patient.save()
    cycle = pump_with_refill(world.patient, by=world.staff, at=T0)
    return world, cycle


def everyone(patient):
    return [*recipients.people(patient), recipients.for_clinic(patient.clinic)]


def rows_of_every_kind(patient, cycle):
    """One unsaved row of each kind; a check-in alert once per role that can log one."""
    for kind in KINDS:
        if kind.startswith("alert_"):
            for role in LOGGED_BY:
                payload = {"observed_at": T0.isoformat(), "path": "/checkins/1/", "logged_by_role": role}
                yield Delivery(patient=patient, cycle=None, kind=kind, payload=payload)
        else:
            yield Delivery(patient=patient, cycle=cycle, kind=kind, payload={"end_of_service_date": "Monday 1 June"})


DAYS_BEFORE = (20, 14, 10, 7, 5, 3, 1, 0, -1, -3)


@pytest.mark.parametrize("days_before", DAYS_BEFORE)
def test_every_subject_says_when_as_its_body_does(due, days_before):
    world, cycle = due
    now = cycle.refill_due_at - timedelta(days=days_before)
    checked = set()
    for row in rows_of_every_kind(world.patient, cycle):
        for person in everyone(world.patient):
            message = content.render(row, person, now)
            days = content.days_left(cycle.refill_due_at, person.zone, now)
            in_subject = TIME_PHRASE.findall(message.subject)
            for phrase in in_subject:
                assert phrase in message.text, (row.kind, person.role, message.subject, message.text)
            if step_days(row.kind) is not None:
                assert in_subject == [wording.when_words(days)], (row.kind, message.subject)
                assert f", {wording.when_words(days)}." in message.text
                if person.role != "clinic":
                    assert f"({wording.when_words(days)})" in message.sms
            checked.add(row.kind)
    assert checked == set(KINDS)


def test_a_late_seven_day_step_says_five_days_in_subject_and_body(due):
    world, cycle = due
    row = Delivery(patient=world.patient, cycle=cycle, kind="step_7")
    message = content.render(row, recipients.for_patient(world.patient), cycle.refill_due_at - timedelta(days=5))
    assert message.subject == "Pump refill due in 5 days"
    assert "Your pump refill is due on Monday 6 April, in 5 days." in message.text
    assert "about a week" not in message.subject + message.text


CLINIC_KINDS = {"overdue_clinic", "eos_90", "eos_30", "alert_emergency", "alert_call_clinic"}


def reaches(kind: str, role: str) -> bool:
    """Who is ever sent a kind: the clinic its own; the patient never an alert or the clinic's notice."""
    if role == "clinic":
        return kind in CLINIC_KINDS
    if role == "patient" and kind.startswith("alert_"):
        return False
    return kind != "overdue_clinic"


def test_each_reader_is_addressed_as_themselves(due):
    world, cycle = due
    now = cycle.refill_due_at - timedelta(days=3)
    for row in rows_of_every_kind(world.patient, cycle):
        for person in everyone(world.patient):
            if not reaches(row.kind, person.role):
                continue
            message = content.render(row, person, now)
            greeting, words = message.text.split("\n", 1)  # "Hello <their own name>,"
            assert greeting == f"Hello {person.name},"
            words = f"{message.subject}\n{words}"
            if person.role == "patient":
                assert not re.search(r"\bPat\b", words), (row.kind, words)
            else:  # a caregiver or the clinic: never "your pump", "your refill", "your clinic"
                assert not re.search(r"\byour (pump|refill|clinic)\b", words, re.I), (row.kind, person.role, words)


def test_the_clinic_reads_a_reference_and_a_link_never_the_name(due, settings):
    settings.SITE_URL = "https://ibt.example.org"
    world, cycle = due
    patient = world.patient
    clinic = recipients.for_clinic(patient.clinic)
    reference = f"patient P{patient.pk}"
    for row in rows_of_every_kind(patient, cycle):
        message = content.render(row, clinic, cycle.refill_due_at + timedelta(days=1))
        for part in (message.subject, message.text, message.html):
            assert not re.search(r"\bPat\b|\bHome\b(?! Clinic)", part), (row.kind, part)
        if row.kind in CLINIC_KINDS:
            assert reference in message.subject, (row.kind, message.subject)
            assert re.search(rf"[Pp]atient P{patient.pk}\b", message.text), (row.kind, message.text)
        if row.kind in ("overdue_clinic", "eos_90", "eos_30"):
            assert f"https://ibt.example.org/clinic/patients/{patient.pk}/" in message.text
            assert f'href="https://ibt.example.org/clinic/patients/{patient.pk}/"' in message.html
        if row.kind.startswith("alert_"):
            assert "https://ibt.example.org/checkins/1/" in message.text


def test_the_overdue_mails_to_the_clinic_and_to_the_caregiver(due):
    world, cycle = due
    tick_and_send(cycle.refill_due_at + timedelta(minutes=1))
    by_address = {m.to[0]: m for m in mail.outbox}
    clinic = by_address[world.clinic.alert_email]
    assert clinic.subject == f"Overdue pump refill: patient P{world.patient.pk}"
    assert f"Patient P{world.patient.pk}'s pump refill was due on Monday 6 April" in clinic.body
    carer = by_address[world.caregiver.email]
    assert carer.subject == "Pump refill overdue: call the clinic today"
    assert "Pat's pump refill was due on Monday 6 April. Call Home Clinic today: +1 555 0100." in carer.body
    patient = by_address[world.patient.user.email]
    assert patient.subject == "Pump refill overdue: call your clinic today"
    assert "Your pump refill was due on Monday 6 April. Call Home Clinic today: +1 555 0100." in patient.body
