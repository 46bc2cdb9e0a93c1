"""How soon a stranded delivery goes out again (issue 10), as rules: a row whose worker died
mid-send, or whose task the broker lost, is handed out again by a tick once its lease runs out.

Targets: an alert (emergency or call-clinic check-in) reaches the mail server within 90 s of the
fault, a reminder within 3 minutes. The end-to-end run with a real worker, a private Redis and a
real SMTP server is in test_delivery_faults.py; here the same rule is checked for every phase of
the tick against the lease, with the production lease and the production beat schedule.

A second copy of a send task (a broker redelivery, a second claim of a row whose task was lost)
must not send a second time while the first is on its way: taking a row is a compare-and-set.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from ibt_companion.celery import app as celery_app
from refills import tasks
from refills.models import Delivery
from refills.notify import outbox

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SEND = timedelta(seconds=settings.EMAIL_TIMEOUT)  # a send that lasts as long as the mail server may make it
TARGET = {"alert_emergency": timedelta(seconds=90), "alert_call_clinic": timedelta(seconds=90)}
REMINDER_TARGET = timedelta(minutes=3)


def beat_interval(task: str) -> timedelta:
    [entry] = [e for e in celery_app.conf.beat_schedule.values() if e["task"] == task]
    return timedelta(seconds=entry["schedule"])


def test_the_ticks_in_the_rules_are_the_ticks_beat_runs():
    assert outbox.URGENT_TICK == beat_interval("refills.tasks.tick_urgent")
    assert outbox.TICK == beat_interval("refills.tasks.tick")
    entry = next(e for e in celery_app.conf.beat_schedule.values() if e["task"] == "refills.tasks.tick_urgent")
    assert entry["options"]["expires"] < entry["schedule"]  # a late urgent tick is dropped, not stacked


@pytest.mark.parametrize("kind", [*TARGET, "step_7", "step_1", "overdue", "empty", "eos_30", "test"])
def test_a_stranded_row_is_handed_out_again_within_its_target(kind):
    target = TARGET.get(kind, REMINDER_TARGET)
    assert outbox.recovery_bound(kind) + SEND <= target, (kind, outbox.recovery_bound(kind))
    # The lease outlasts a send that uses the mail server's whole timeout three times over
    # (connect, RCPT, DATA), so a send still on its way is not handed out a second time.
    assert outbox.lease_for(kind) >= 3 * SEND


def _row(patient, kind: str, n: int = 0) -> Delivery:
    recipient = f"user:{patient.user_id}"
    return Delivery.objects.create(
        key=f"recovery:{kind}:{n}::{recipient}:email",
        patient=patient,
        kind=kind,
        recipient=recipient,
        recipient_user_id=patient.user_id,
        channel="email",
        due_at=NOW,
        next_attempt_at=NOW,
        payload={"observed_at": NOW.isoformat(), "logged_by_role": "patient", "path": "/"},
    )


def _claims(kind: str, at: datetime) -> list[tuple[int, int]]:
    with time_machine.travel(at, tick=False):
        if outbox.is_urgent(kind):
            return outbox.urgent_tick_claims(at)
        return outbox.tick_claims(at)


# Where the tick grid falls against the claim: seconds after it, or (negative) seconds before
# a whole number of intervals after it: -0.001 is the tick that comes a millisecond early, the
# one that used to miss an expired lease by that millisecond and wait a whole interval more.
PHASES = [0.0, 0.001, 0.5, 2.0, 7.5, -0.001, -1.999, -2.001]


@pytest.mark.parametrize("kind", ["alert_emergency", "alert_call_clinic", "step_7"])
@pytest.mark.parametrize("fault", ["worker killed mid-send", "task lost with the broker"])
@pytest.mark.parametrize("phase", PHASES)
def test_the_next_ticks_hand_a_stranded_row_out_within_the_bound(world, kind, fault, phase):
    """Ticks run every interval (beat is in step with nothing). The row is stranded at the claim
    (its task lost with the broker) or when a worker took it, 3 s later, and died."""
    row = _row(world.patient, kind)
    interval = outbox.URGENT_TICK if outbox.is_urgent(kind) else outbox.TICK
    if phase < 0:
        phase += interval.total_seconds()
    claimed_at = NOW
    assert _claims(kind, claimed_at) == [(row.pk, 0)]
    stranded_at = claimed_at
    if fault == "worker killed mid-send":
        stranded_at = claimed_at + timedelta(seconds=3)
        row.refresh_from_db()
        assert outbox.take(row, 0, stranded_at)  # the worker counts the attempt, renews the lease
    tick_at = claimed_at + timedelta(seconds=phase)
    while True:
        tick_at += interval
        claims = _claims(kind, tick_at)
        if claims:
            break
        assert tick_at - stranded_at < timedelta(minutes=10), "never handed out again"
    assert claims == [(row.pk, 1 if fault == "worker killed mid-send" else 0)]
    waited = tick_at - stranded_at
    assert waited <= outbox.recovery_bound(kind), waited
    assert waited >= outbox.lease_for(kind) - outbox.TICK_SLACK  # not while it may still be on its way


def test_the_minute_tick_also_hands_out_stranded_alerts_and_the_urgent_tick_no_reminders(world):
    alert, reminder = _row(world.patient, "alert_emergency"), _row(world.patient, "step_1")
    assert outbox.urgent_tick_claims(NOW) == [(alert.pk, 0)]
    assert outbox.tick_claims(NOW) == [(reminder.pk, 0)]
    assert outbox.tick_claims(NOW + outbox.URGENT_LEASE) == [(alert.pk, 0)]


def test_two_copies_of_a_send_task_send_once(world, settings):
    """A copy from an older claim (the broker redelivered it, or the tick claimed the row again
    after its task was lost) finds the row taken and sends nothing."""
    row = _row(world.patient, "alert_emergency")
    [(pk, token)] = outbox.urgent_tick_claims(NOW)
    assert pk == row.pk
    assert outbox.deliver(pk, NOW + timedelta(seconds=1), token=token) == "sent"
    assert outbox.deliver(pk, NOW + timedelta(seconds=2), token=token) == "not claimed"
    assert len(mail.outbox) == 1

    # Taken, then the worker dies: a copy with the old token waits until the lease runs out.
    second = _row(world.patient, "alert_emergency", 1)
    [(pk, token)] = outbox.urgent_tick_claims(NOW)
    second.refresh_from_db()
    taken_at = NOW + timedelta(seconds=1)
    assert outbox.take(second, token, taken_at)
    assert outbox.deliver(pk, taken_at + timedelta(seconds=10), token=token) == "not claimed"
    assert len(mail.outbox) == 1
    # Once it ran out, the row is stranded: whichever copy comes first sends it, the other not.
    expired = taken_at + outbox.URGENT_LEASE
    [(_, reclaimed)] = outbox.urgent_tick_claims(expired)
    assert reclaimed == 1
    assert outbox.deliver(pk, expired + timedelta(seconds=1), token=reclaimed) == "sent"
    assert outbox.deliver(pk, expired + timedelta(seconds=1), token=token) == "not claimed"
    assert [m.extra_headers["Message-ID"] for m in mail.outbox[1:]] == [Delivery.objects.get(pk=pk).message_id]


def test_the_urgent_task_hands_each_alert_to_a_worker_with_its_token(world, monkeypatch):
    row = _row(world.patient, "alert_call_clinic")
    handed = []
    monkeypatch.setattr(tasks.send_delivery, "delay", lambda *args: handed.append(args))
    with time_machine.travel(NOW, tick=False):
        assert tasks.tick_urgent() == 1
    assert handed == [(row.pk, 0)]
