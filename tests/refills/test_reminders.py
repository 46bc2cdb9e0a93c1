"""The reminder plan and the tick, in-process with `now` passed in (SPEC §5)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client

from patients.models import QueueItem
from refills import services
from refills.models import Delivery, InboxMessage
from refills.notify import acks, outbox, planning
from tests.refills.helpers import tick_and_send as run

pytestmark = pytest.mark.usefixtures("early_march")  # tests/conftest.py: time stands still at EARLY_MARCH

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}
# 0.5 mL/day; 18 mL to the 2 mL alarm = 36 days → due 6 April 15:00Z (10:00 CDT); reminder hour 09 CDT = 14:00Z.
DUE = datetime(2026, 4, 6, 15, 0, tzinfo=UTC)


def test_the_plan(cycle, world):
    rows = Delivery.objects.filter(cycle=cycle)
    steps = {r.kind: r.due_at for r in rows if r.recipient == f"user:{world.patient_user.pk}" and r.channel == "email"}
    assert steps["step_14"] == datetime(2026, 3, 23, 14, 0, tzinfo=UTC)
    assert steps["step_7"] == datetime(2026, 3, 30, 14, 0, tzinfo=UTC) == cycle.reminder_at
    assert steps["step_3"] == datetime(2026, 4, 3, 14, 0, tzinfo=UTC)
    assert steps["step_1"] == datetime(2026, 4, 5, 14, 0, tzinfo=UTC)
    assert steps["overdue"] == DUE
    # patient: e-mail and inbox; caregiver: e-mail; the clinic: one overdue e-mail.
    assert rows.filter(kind="step_7").count() == 3
    assert rows.filter(kind="overdue_clinic", recipient=f"clinic:{world.clinic.pk}").count() == 1


def test_tick_sends_each_due_message_once(cycle, world):
    assert run(datetime(2026, 3, 23, 13, 59, tzinfo=UTC)) == []
    assert sorted(run(datetime(2026, 3, 23, 14, 0, tzinfo=UTC))) == ["sent", "sent", "sent"]
    assert run(datetime(2026, 3, 23, 14, 1, tzinfo=UTC)) == []
    assert len(mail.outbox) == 2
    message = mail.outbox[0]
    assert message.extra_headers["Message-ID"].startswith("<delivery-")
    assert "Pat Home" not in message.subject and "Monday 6 April" in message.body
    assert any(a[0] == "refill.ics" for a in message.attachments)
    assert InboxMessage.objects.filter(user=world.patient_user).count() == 1


def test_after_downtime_only_the_latest_step_goes_out(cycle):
    # The scheduler was down from before the 14-day step until after the 3-day step.
    statuses = run(datetime(2026, 4, 3, 20, 0, tzinfo=UTC))
    assert statuses == ["sent", "sent", "sent"]
    kinds = set(Delivery.objects.filter(status="sent").values_list("kind", flat=True))
    assert kinds == {"step_3"}
    assert set(Delivery.objects.filter(kind__in=["step_14", "step_7"]).values_list("status", flat=True)) == {"skipped"}


def test_two_ticks_at_once_claim_disjoint_rows(cycle):
    now = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)
    first = outbox.tick(now)
    second = outbox.tick(now)
    assert first and second == []


def test_acknowledgement_cancels_14_and_3_day_steps_for_everyone_not_the_1_day(cycle, world):
    token = acks.make_token(cycle, f"user:{world.caregiver.pk}")
    client = Client()
    assert client.get(f"/r/ack/{token}/").status_code == 200
    assert not Delivery.objects.filter(status="skipped", last_error="acknowledged").exists()  # GET does nothing
    assert client.post(f"/r/ack/{token}/").status_code == 200
    cancelled = Delivery.objects.filter(status="skipped", last_error="acknowledged")
    assert set(cancelled.values_list("kind", flat=True)) == {"step_14", "step_3"}
    assert cancelled.count() == 6
    assert Delivery.objects.filter(kind__in=["step_7", "step_1", "overdue"], status="pending").count() == 9


def test_tampered_and_expired_ack_tokens(cycle, world):
    token = acks.make_token(cycle, f"user:{world.caregiver.pk}")
    assert Client().post(f"/r/ack/{token[:-2]}xx/").status_code == 404
    assert acks.load(token, now=DUE + timedelta(days=7)) is not None
    assert acks.load(token, now=DUE + timedelta(days=7, seconds=1)) is None
    assert Client().post(f"/api/v1/reminders/ack/{token}/").json()["acknowledged"] is True


def test_overdue_opens_a_queue_item_and_repeats_daily(cycle, world):
    run(DUE)
    assert QueueItem.objects.filter(kind="overdue", patient=world.patient, resolved_at__isnull=True).count() == 1
    assert Delivery.objects.filter(kind="overdue_clinic", status="sent").count() == 1
    next_day = datetime(2026, 4, 7, 14, 0, tzinfo=UTC)  # 09:00 CDT
    run(next_day)
    assert Delivery.objects.filter(kind="overdue", occasion="2026-04-07", status="sent").count() == 3


def test_a_refill_ends_the_plan(cycle, world):
    services.record_event(
        patient=world.patient,
        kind="refill",
        values={"volume_ml": "20", "aspirated_ml": "2", "program": SIMPLE},
        occurred_at=datetime(2026, 4, 2, 15, 0, tzinfo=UTC),
        by=world.staff,
        now=datetime(2026, 4, 2, 15, 5, tzinfo=UTC),
    )
    old = Delivery.objects.filter(cycle=cycle)
    assert not old.filter(status="pending").exists()
    assert old.filter(kind="step_1", status="skipped").exists()


def test_date_moved_earlier_after_a_step_was_sent(cycle, world):
    run(datetime(2026, 3, 23, 14, 0, tzinfo=UTC))  # the 14-day step went out
    # An alarm reported on 25 March pulls refill-due to that instant.
    services.record_event(
        patient=world.patient,
        kind="alarm_reported",
        values={"tone": "single"},
        occurred_at=datetime(2026, 3, 25, 12, 0, tzinfo=UTC),
        by=world.staff,
        now=datetime(2026, 3, 25, 12, 1, tzinfo=UTC),
    )
    changed = Delivery.objects.filter(kind="date_changed")
    assert changed.count() == 3 and set(changed.values_list("status", flat=True)) == {"pending"}


def test_permanent_failure_is_dead_and_opens_a_queue_item(cycle, world, settings):
    settings.SMS_BACKEND = "tests.refills.test_reminders.RefusingSms"
    world.patient.phone = "+15550101"
    world.patient.phone_verified_at = T0
    world.patient.notification_channels = ["sms", "email"]
    world.patient.save()
    services.recompute(world.patient, now=T0 + timedelta(hours=1))
    statuses = run(datetime(2026, 3, 23, 14, 0, tzinfo=UTC))
    assert statuses.count("dead") == 1 and statuses.count("sent") == 2
    assert QueueItem.objects.filter(kind="dead_delivery").count() == 1


class RefusingSms:
    def send(self, to, text, reference):
        from refills.notify.channels import PermanentError

        raise PermanentError("number refused")


def test_a_clinic_changing_its_steps_replans_the_unsent_steps(cycle, world):
    from patients import services as patient_services
    from patients.forms import ClinicSettingsForm

    clinic = world.clinic
    data = {
        "name": clinic.name,
        "phone": clinic.phone,
        "after_hours_phone": clinic.after_hours_phone,
        "emergency_number": "911",
        "alert_email": clinic.alert_email,
        "time_zone": clinic.time_zone,
        "reminder_hour": "9",
        "reminder_steps": "21, 7, 1",
    }
    form = ClinicSettingsForm(data, instance=clinic)
    assert form.is_valid(), form.errors
    patient_services.update_clinic(by=world.admin, clinic=clinic, changes=form.changes())
    kinds = set(Delivery.objects.filter(cycle=cycle, status="pending").values_list("kind", flat=True))
    assert {"step_21", "step_7", "step_1"} <= kinds and not {"step_14", "step_3"} & kinds
    step_21 = Delivery.objects.filter(cycle=cycle, kind="step_21").first()
    assert step_21.due_at == datetime(2026, 3, 16, 14, 0, tzinfo=UTC)  # 6 April 15:00Z − 21 days → 09:00 CDT


def test_end_of_service_notice_to_the_clinic_opens_a_queue_item(cycle, world):
    eos = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
    planning.plan_end_of_service(world.patient, eos, datetime(2026, 1, 1, tzinfo=UTC))
    statuses = run(datetime(2026, 1, 31, 15, 0, tzinfo=UTC))  # 90 days before
    assert statuses and set(statuses) == {"sent"}
    item = QueueItem.objects.get(kind="end_of_service", patient=world.patient)
    assert item.tier == QueueItem.Tier.FOLLOW_UP
    run(datetime(2026, 4, 1, 15, 0, tzinfo=UTC))  # 30 days before: still one open item
    assert QueueItem.objects.filter(kind="end_of_service", resolved_at__isnull=True).count() == 1
