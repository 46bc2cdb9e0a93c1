"""When reminders go out (SPEC §5), in-process with `now` passed in and the clock travelled to it:
after the scheduler was down, across DST changes, when a step is already past at planning
time, and with two schedulers ticking at once against real PostgreSQL."""

import smtplib
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

from patients.models import QueueItem
from refills import services
from refills.models import Delivery, PumpProfile, RefillCycle
from refills.notify import outbox

from ..factories import PatientFactory
from .helpers import local, open_cycle, utc
from .helpers import tick_and_send_at as run

CHICAGO, PARIS = "America/Chicago", "Europe/Paris"
DUE = datetime(2026, 4, 6, 15, 0, tzinfo=UTC)  # Monday 6 April, 10:00 CDT
EMPTY = datetime(2026, 4, 10, 15, 0, tzinfo=UTC)
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}  # 0.5 mL/day


def kinds(outcome: dict[int, str]) -> list[tuple[str, str, str]]:
    rows = Delivery.objects.in_bulk(list(outcome))
    return sorted((rows[pk].kind, rows[pk].channel, status) for pk, status in outcome.items())


def rows_of(cycle, kind) -> set[str]:
    return set(Delivery.objects.filter(cycle=cycle, kind=kind).values_list("status", flat=True))


# --- The scheduler was down ----------------------------------------------------------------


def test_scheduler_down_for_24_hours_sends_only_the_latest_step(people):
    people.clinic.reminder_steps = [7, 2, 1]
    people.clinic.save()
    cycle = open_cycle(people.patient, DUE)
    assert kinds(run(utc(2026, 3, 30, 14, 0))) == [("step_7", "email", "sent")] * 2 + [("step_7", "inbox", "sent")]
    assert run(utc(2026, 4, 4, 13, 59)) == {}  # the last tick before the outage
    mail.outbox.clear()
    # Down from 13:59Z on 4 April: the 2-day step (14:00Z) and the 1-day step (14:00Z on the
    # 5th) both fall due in the outage. The tick that runs again sends one current message each.
    back = utc(2026, 4, 5, 14, 0)
    assert kinds(run(back)) == [("step_1", "email", "sent")] * 2 + [("step_1", "inbox", "sent")]
    assert rows_of(cycle, "step_2") == {"skipped"}
    assert set(Delivery.objects.filter(kind="step_2").values_list("last_error", flat=True)) == {
        "superseded by a more current message"
    }
    assert [m.subject for m in mail.outbox] == ["Pump refill due tomorrow"] * 2
    assert run(back + timedelta(minutes=1)) == {}


def test_catch_up_collapse_keeps_the_most_current_message(people):
    cycle = open_cycle(people.patient, DUE, empty_at=EMPTY)
    for at in (utc(2026, 3, 23, 14), utc(2026, 3, 30, 14), utc(2026, 4, 3, 14), utc(2026, 4, 5, 14), DUE):
        assert run(at)
    # Daily overdue at 09:00 CDT (14:00Z); the scheduler is down after the one on the 7th.
    assert kinds(run(utc(2026, 4, 7, 14))) == [("overdue", "email", "sent")] * 2 + [("overdue", "inbox", "sent")]
    mail.outbox.clear()
    # Back on the 10th at 15:00Z: the overdue repeats of the 8th and 9th were never made, the
    # 10th's (14:00Z) and the empty-date message (15:00Z) are both due: only the empty one goes.
    assert kinds(run(EMPTY)) == [("empty", "email", "sent")] * 2 + [("empty", "inbox", "sent")]
    assert set(Delivery.objects.filter(kind="overdue").values_list("occasion", "status")) == {
        ("2026-04-06", "sent"),
        ("2026-04-07", "sent"),
        ("2026-04-10", "skipped"),
    }
    assert len(mail.outbox) == 2
    assert QueueItem.objects.filter(kind="predicted_empty", source=f"cycle:{cycle.pk}").count() == 1


class DownEmailBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_a_failed_step_is_not_sent_stale_after_the_scheduler_was_down(people, settings):
    """The 3-day e-mail fails (the mail server was away) and is due again a minute later, but
    the scheduler stops too and only returns at the 1-day step: one current message, not
    "due in 3 days" and "due tomorrow" at the same minute."""
    cycle = open_cycle(people.patient, DUE)
    for at in (utc(2026, 3, 23, 14), utc(2026, 3, 30, 14)):
        run(at)
    settings.EMAIL_BACKEND = f"{__name__}.DownEmailBackend"
    assert kinds(run(utc(2026, 4, 3, 14))) == [
        ("step_3", "email", "failed"),
        ("step_3", "email", "failed"),
        ("step_3", "inbox", "sent"),
    ]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    assert kinds(run(utc(2026, 4, 5, 14))) == [("step_1", "email", "sent")] * 2 + [("step_1", "inbox", "sent")]
    assert [m.subject for m in mail.outbox] == ["Pump refill due tomorrow"] * 2
    stale = Delivery.objects.filter(cycle=cycle, kind="step_3", channel="email")
    assert set(stale.values_list("status", "last_error")) == {("skipped", "superseded by a more current message")}


# --- DST ----------------------------------------------------------------------------------

# Refill due two days after the change at 10:00 local: the 14-, 7- and 3-day steps fall before
# it, the 1-day step after it, each at 09:00 on the patient's clock (the clinic's reminder hour).
DST_STEPS = [
    pytest.param(
        CHICAGO,
        date(2026, 3, 8),
        {"step_14": utc(2026, 2, 24, 15), "step_7": utc(2026, 3, 3, 15), "step_3": utc(2026, 3, 7, 15),
         "step_1": utc(2026, 3, 9, 14)},
        id="chicago-spring-8-march",
    ),
    pytest.param(
        CHICAGO,
        date(2026, 11, 1),
        {"step_14": utc(2026, 10, 20, 14), "step_7": utc(2026, 10, 27, 14), "step_3": utc(2026, 10, 31, 14),
         "step_1": utc(2026, 11, 2, 15)},
        id="chicago-fall-1-november",
    ),
    pytest.param(
        PARIS,
        date(2026, 3, 29),
        {"step_14": utc(2026, 3, 17, 8), "step_7": utc(2026, 3, 24, 8), "step_3": utc(2026, 3, 28, 8),
         "step_1": utc(2026, 3, 30, 7)},
        id="paris-spring-29-march",
    ),
    pytest.param(
        PARIS,
        date(2026, 10, 25),
        {"step_14": utc(2026, 10, 13, 7), "step_7": utc(2026, 10, 20, 7), "step_3": utc(2026, 10, 24, 7),
         "step_1": utc(2026, 10, 26, 8)},
        id="paris-fall-25-october",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "change", "expected"), DST_STEPS)
def test_steps_fall_at_the_reminder_hour_on_both_sides_of_a_dst_change(people, zone, change, expected):
    people.patient.time_zone = zone
    people.patient.save()
    due = local(change + timedelta(days=2), 10, zone)
    cycle = open_cycle(people.patient, due)
    planned = dict(
        Delivery.objects.filter(cycle=cycle, kind__startswith="step_", channel="inbox").values_list("kind", "due_at")
    )
    assert planned == expected
    for kind, at in expected.items():
        wall = at.astimezone(ZoneInfo(zone))
        days = int(kind.removeprefix("step_"))
        day = (due - timedelta(days=days)).astimezone(wall.tzinfo).date()
        assert (wall.hour, wall.minute, wall.date()) == (9, 0, day)
        assert due - at >= timedelta(days=days)
    offsets = {at.astimezone(ZoneInfo(zone)).utcoffset() for at in expected.values()}
    assert len(offsets) == 2  # both sides of the change
    for kind, at in sorted(expected.items(), key=lambda item: item[1]):
        assert run(at - timedelta(seconds=1)) == {}
        assert {row[0] for row in kinds(run(at))} == {kind}
    assert Delivery.objects.filter(kind__startswith="step_", status="sent").count() == 4 * 3


def test_the_24_hour_rule_across_a_dst_change(people):
    """A step is the latest reminder hour at least N × 24 hours before the refill: across the
    spring change, 72 hours before 09:30 CDT is 08:30 CST, so the 3-day step moves a day earlier."""
    due = local(date(2026, 3, 10), 9, CHICAGO, minute=30)
    cycle = open_cycle(people.patient, due)
    planned = dict(
        Delivery.objects.filter(cycle=cycle, kind__startswith="step_", channel="inbox").values_list("kind", "due_at")
    )
    assert planned["step_3"] == local(date(2026, 3, 6), 9, CHICAGO) == utc(2026, 3, 6, 15)
    assert planned["step_1"] == local(date(2026, 3, 9), 9, CHICAGO) == utc(2026, 3, 9, 14)


DST_OVERDUE = [
    pytest.param(CHICAGO, date(2026, 3, 8), id="chicago-spring"),
    pytest.param(CHICAGO, date(2026, 11, 1), id="chicago-fall"),
    pytest.param(PARIS, date(2026, 3, 29), id="paris-spring"),
    pytest.param(PARIS, date(2026, 10, 25), id="paris-fall"),
]


@pytest.mark.parametrize(("zone", "change"), DST_OVERDUE)
def test_the_daily_overdue_message_keeps_the_reminder_hour_across_a_dst_change(people, zone, change):
    people.patient.time_zone = zone
    people.patient.save()
    due = local(change - timedelta(days=1), 10, zone)
    cycle = open_cycle(people.patient, due)
    assert {row[0] for row in kinds(run(due))} == {"overdue", "overdue_clinic"}
    for day in (change, change + timedelta(days=1)):
        at = local(day, 9, zone)
        assert run(at - timedelta(minutes=1)) == {}
        assert kinds(run(at)) == [("overdue", "email", "sent")] * 2 + [("overdue", "inbox", "sent")], day
        repeats = Delivery.objects.filter(cycle=cycle, kind="overdue", occasion=day.isoformat())
        assert set(repeats.values_list("due_at", flat=True)) == {at}


# --- A step already past when the plan is made ----------------------------------------------


@pytest.fixture
def pump(people):
    PumpProfile.objects.create(
        patient=people.patient, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date=date(2025, 1, 1)
    )
    return people


def refill(world, volume_ml: str, at: datetime) -> RefillCycle:
    with time_machine.travel(at, tick=False):
        services.record_event(
            patient=world.patient,
            kind="refill",
            values={"volume_ml": volume_ml, "aspirated_ml": "0", "program": SIMPLE},
            occurred_at=at,
            by=world.staff,
            now=at,
        )
    return RefillCycle.objects.get(patient=world.patient, ended_at__isnull=True)


def test_a_step_already_past_when_planned_goes_at_once(pump):
    now = utc(2026, 4, 1, 15)
    cycle = refill(pump, "7", now)  # 5 mL above the alarm at 0.5 mL/day: due in 10 days
    assert cycle.refill_due_at == utc(2026, 4, 11, 15)
    assert rows_of(cycle, "step_14") == {"pending"}  # the only past step is the latest: sent at once
    assert kinds(run(now)) == [("step_14", "email", "sent")] * 2 + [("step_14", "inbox", "sent")]
    assert run(now + timedelta(minutes=1)) == {}
    assert rows_of(cycle, "step_7") == {"pending"}


def test_only_the_latest_of_several_past_steps_goes_and_earlier_ones_are_skipped(pump):
    now = utc(2026, 4, 1, 15)
    cycle = refill(pump, "4.5", now)  # due in 5 days: the 14- and 7-day steps are already past
    assert cycle.refill_due_at == DUE
    assert rows_of(cycle, "step_14") == {"skipped"}
    assert rows_of(cycle, "step_7") == {"pending"}
    assert rows_of(cycle, "step_3") == rows_of(cycle, "step_1") == {"pending"}
    assert kinds(run(now)) == [("step_7", "email", "sent")] * 2 + [("step_7", "inbox", "sent")]
    # The 7-day step goes 5 days before: the subject says so, as the body does ("in about a week" before).
    assert [m.subject for m in mail.outbox] == ["Pump refill due in 5 days"] * 2
    assert all(", in 5 days." in m.body for m in mail.outbox)
    assert kinds(run(utc(2026, 4, 3, 14))) == [("step_3", "email", "sent")] * 2 + [("step_3", "inbox", "sent")]
    assert rows_of(cycle, "step_14") == {"skipped"}


# --- Two schedulers at once -----------------------------------------------------------------


def tick_twice_at_once(now: datetime, batch: int):
    """Two "beat schedulers" calling the tick at the same instant, each on its own connection."""
    barrier = threading.Barrier(2)
    claims, errors = {}, {}

    def scheduler(name):
        try:
            barrier.wait(timeout=10)
            claims[name] = outbox.tick(now, batch=batch)
        except Exception as error:
            errors[name] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a tick hung"
    return claims, errors


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_claim_disjoint_rows_and_make_no_duplicates(people):
    now = utc(2026, 4, 6, 20)  # 15:00 CDT
    open_cycle(people.patient, DUE)  # overdue since 10:00 CDT: its queue item is not open yet
    for n in range(4):
        patient = PatientFactory(clinic=people.clinic, user__email=f"p{n}@home.example")
        open_cycle(patient, DUE - timedelta(hours=n))
    recipient = f"user:{people.patient_user.pk}"
    Delivery.objects.bulk_create(
        Delivery(
            key=f"race:{i}:test::{recipient}:email",
            patient=people.patient,
            kind="test",
            recipient=recipient,
            channel="email",
            due_at=now - timedelta(minutes=i),
            next_attempt_at=now - timedelta(minutes=i),
        )
        for i in range(300)
    )
    before = Delivery.objects.count()
    claimed: list[int] = []
    for _ in range(20):
        claims, errors = tick_twice_at_once(now, batch=40)
        assert errors == {}, errors
        assert not set(claims["a"]) & set(claims["b"])
        claimed += claims["a"] + claims["b"]
        if not claims["a"] and not claims["b"]:
            break
    assert len(claimed) == len(set(claimed)), "a row was claimed twice"
    assert set(claimed) == set(Delivery.objects.filter(status="sending").values_list("pk", flat=True))
    assert not Delivery.objects.filter(status__in=["pending", "failed"], next_attempt_at__lte=now).exists()
    assert Delivery.objects.count() == before  # the unique key: nothing planned twice
    assert QueueItem.objects.filter(kind="overdue").count() == 5  # one per overdue cycle
