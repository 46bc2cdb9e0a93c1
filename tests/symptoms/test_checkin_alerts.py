"""Check-in alerts go through the reminder delivery machinery (SPEC §6): an emergency alerts every
linked caregiver and the clinic at once; a call-clinic check-in enters the queue and tells the
caregivers who chose it. The alert rows are saved with the check-in, in one transaction."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail

from patients.models import QueueItem
from refills.models import Delivery, InboxMessage
from symptoms import services
from symptoms.models import CheckIn
from tests.factories import CaregiverLinkFactory, UserFactory
from tests.refills.helpers import tick_and_send as send_all

from .test_checkin_fixtures import QUIET

pytestmark = pytest.mark.django_db


CHICAGO_0905 = QUIET.replace(hour=15, minute=5)  # Wednesday 11 March 2026, 15:05Z = 10:05 CDT


@pytest.fixture
def carers(pump):
    """A second caregiver who asked to hear about call-clinic check-ins, with e-mail only."""
    second = UserFactory(email="carer2@home.example", full_name="Sam Second", notification_channels=["email"])
    CaregiverLinkFactory(caregiver=second, patient=pump.patient, notify_call_clinic=True)
    return second


def record(world, by, symptoms, now=CHICAGO_0905):
    return services.record_checkin(patient=world.patient, by=by, symptoms=symptoms, now=now)


def rows(checkin):
    return {(d.recipient, d.channel) for d in Delivery.objects.filter(key__startswith=f"checkin:{checkin.pk}:")}


def test_an_emergency_alerts_every_caregiver_and_the_clinic(pump, carers):
    recorded = record(pump, pump.patient_user, ["seizure"])
    checkin = recorded.checkin
    assert rows(checkin) == {
        (f"user:{pump.caregiver.pk}", "email"),
        (f"user:{pump.caregiver.pk}", "inbox"),
        (f"user:{carers.pk}", "email"),
        (f"clinic:{pump.clinic.pk}", "email"),
    }
    assert set(Delivery.objects.filter(kind="alert_emergency").values_list("status", flat=True)) == {"pending"}
    assert sorted(recorded.alert_ids) == sorted(
        Delivery.objects.filter(kind="alert_emergency").values_list("pk", flat=True)
    )
    item = QueueItem.objects.get(patient=pump.patient)
    assert (
        item.tier == QueueItem.Tier.EMERGENCY and item.clinic == pump.clinic and item.source == f"checkin:{checkin.pk}"
    )


def test_the_caregiver_who_logged_it_is_not_alerted(pump, carers):
    checkin = record(pump, pump.caregiver, ["seizure"]).checkin
    assert rows(checkin) == {(f"user:{carers.pk}", "email"), (f"clinic:{pump.clinic.pk}", "email")}


def test_revoked_caregivers_are_not_alerted(pump):
    checkin = record(pump, pump.patient_user, ["seizure"]).checkin
    assert f"user:{pump.revoked_caregiver.pk}" not in {r for r, _ in rows(checkin)}


def test_the_alerts_go_out_through_the_tick_and_say_what_the_spec_says(pump, carers):
    checkin = record(pump, pump.patient_user, ["seizure"]).checkin
    assert sorted(send_all(CHICAGO_0905)) == ["sent"] * 4
    assert len(mail.outbox) == 3
    by_address = {m.to[0]: m for m in mail.outbox}
    carer = by_address[pump.caregiver.email]
    assert carer.subject == "Urgent: check on someone you care for"
    assert "Pat reported emergency signs at 10:05; the app told them to call 911; check on them now." in carer.body
    assert f"/checkins/{checkin.pk}/" in carer.body
    clinic = by_address[pump.clinic.alert_email]
    # The clinic's address reads the patient's reference, never their name (docs/security.md).
    assert clinic.subject == f"Urgent: emergency check-in for patient P{pump.patient.pk}"
    assert f"Patient P{pump.patient.pk} reported emergency signs at 10:05" in clinic.body  # Chicago's clock too
    assert "Pat" not in clinic.body.replace(f"Patient P{pump.patient.pk}", "")
    for message in mail.outbox:
        assert "Home" not in message.subject and "seizure" not in message.subject.lower()
        assert "seizure" not in message.body.lower()  # no symptoms travel by e-mail
        assert message.extra_headers["Message-ID"].startswith("<delivery-")
    inbox = InboxMessage.objects.get(user=pump.caregiver)
    assert inbox.subject == carer.subject and inbox.link.endswith(f"/checkins/{checkin.pk}/")
    assert send_all(CHICAGO_0905 + timedelta(minutes=1)) == []  # each once


def test_the_time_is_on_the_recipients_clock(pump):
    pump.caregiver.time_zone = "Europe/London"
    pump.caregiver.save()
    record(pump, pump.patient_user, ["seizure"])
    send_all(CHICAGO_0905)
    carer = next(m for m in mail.outbox if m.to == [pump.caregiver.email])
    assert "at 15:05;" in carer.body


def test_a_staff_phone_call_is_worded_as_such(pump):
    checkin = services.record_checkin(
        patient=pump.patient,
        by=pump.staff,
        symptoms=["seizure"],
        observed_at=CHICAGO_0905 - timedelta(hours=20),
        now=CHICAGO_0905,
    ).checkin
    assert checkin.logged_by_role == "staff"
    send_all(CHICAGO_0905)
    carer = next(m for m in mail.outbox if m.to == [pump.caregiver.email])
    assert "Pat's clinic took a call about emergency signs at 14:05 on Tuesday 10 March" in carer.body


def test_an_sms_alert_carries_no_symptom_and_no_full_name(pump, settings, tmp_path):
    settings.SMS_FILE = str(tmp_path / "sms.jsonl")
    pump.caregiver.phone = "+15550102000"
    pump.caregiver.phone_verified_at = CHICAGO_0905
    pump.caregiver.notification_channels = ["sms"]
    pump.caregiver.save()
    record(pump, pump.patient_user, ["seizure"])
    send_all(CHICAGO_0905)
    text = (tmp_path / "sms.jsonl").read_text()
    assert "Pat reported emergency signs at 10:05; the app told them to call 911; check on them now." in text
    assert "Pat Home" not in text and "seizure" not in text


def test_call_clinic_enters_the_queue_and_tells_only_the_caregivers_who_chose_it(pump, carers):
    checkin = record(pump, pump.patient_user, ["itching"]).checkin
    assert checkin.level == "call_clinic"
    item = QueueItem.objects.get(patient=pump.patient)
    assert item.tier == QueueItem.Tier.CALL_CLINIC and item.kind == "checkin_call_clinic"
    assert rows(checkin) == {(f"user:{carers.pk}", "email")}  # not the clinic's alert address
    send_all(CHICAGO_0905)
    (message,) = mail.outbox
    assert message.subject == "Please check on someone you care for"
    assert "need a call to the pump clinic" in message.body


def test_a_routine_check_in_alerts_nobody(pump, carers):
    record(pump, pump.patient_user, ["constipation"])
    assert not Delivery.objects.filter(kind__startswith="alert_").exists()
    assert not QueueItem.objects.exists()


def test_an_inactive_patient_gets_a_queue_item_but_no_alerts(pump):
    pump.patient.status = "transferred"
    pump.patient.save()
    record(pump, pump.patient_user, ["seizure"])
    assert QueueItem.objects.filter(tier=QueueItem.Tier.EMERGENCY).count() == 1
    assert not Delivery.objects.filter(kind__startswith="alert_").exists()


def test_a_failure_after_the_alert_rows_saves_nothing(pump):
    """One transaction: if anything fails after the rows are made, no check-in, queue item or row remains."""
    with (
        mock.patch("symptoms.services.audit.record", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        record(pump, pump.patient_user, ["seizure"])
    assert not CheckIn.objects.exists() and not QueueItem.objects.exists()
    assert not Delivery.objects.filter(kind__startswith="alert_").exists()


# --- Handing over to a worker after the commit ---------------------------------------------------------


def test_after_the_commit_each_alert_is_claimed_and_queued(pump, django_capture_on_commit_callbacks):
    with (
        mock.patch("refills.tasks.send_delivery.apply_async") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        recorded = record(pump, pump.patient_user, ["seizure"], now=None)
    assert sorted(call.kwargs["args"][0] for call in queued.call_args_list) == sorted(recorded.alert_ids)
    # Each task carries the attempt count of its claim, so an older copy of it sends nothing.
    assert {call.kwargs["args"][1] for call in queued.call_args_list} == {0}
    assert set(Delivery.objects.filter(pk__in=recorded.alert_ids).values_list("status", flat=True)) == {"sending"}


def test_a_broker_failure_puts_the_alerts_back_for_the_tick(pump, django_capture_on_commit_callbacks):
    with (
        mock.patch("refills.tasks.send_delivery.apply_async", side_effect=ConnectionRefusedError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        recorded = record(pump, pump.patient_user, ["seizure"], now=None)
    waiting = Delivery.objects.filter(pk__in=recorded.alert_ids)
    assert set(waiting.values_list("status", flat=True)) == {"pending"}
    assert "broker unavailable" in waiting.first().last_error
    assert CheckIn.objects.filter(level="emergency").count() == 1
