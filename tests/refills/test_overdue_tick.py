"""The overdue work of the minute tick (SPEC §5, issue 12): each open cycle stores when the tick
next has something to do for it (`next_overdue_at`, indexed): its refill date, then each reminder
hour on the patient's clock, or the empty date if sooner. The tick reads only the cycles whose
time has come, in-process with `now` passed in and the clock frozen at it."""

import importlib
import logging
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from patients import queue
from patients import services as patient_services
from patients.models import Patient, QueueItem
from refills import services
from refills.domain.clock import first_at_hour_after, latest_at_hour_before
from refills.models import Delivery, RefillCycle
from refills.notify import outbox, planning

from ..factories import CaregiverLinkFactory, PatientFactory, pump_with_refill
from .helpers import local, open_cycle, utc
from .helpers import tick_and_send_at as run

CHICAGO, PARIS = "America/Chicago", "Europe/Paris"
DUE = datetime(2026, 4, 6, 15, 0, tzinfo=UTC)  # Monday 6 April, 10:00 CDT
NINE_CDT = datetime(2026, 4, 7, 14, 0, tzinfo=UTC)  # the next reminder hour (09:00 CDT) after DUE
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # a refill of 18 mL above the alarm at 0.5 mL/day: due at DUE
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}


def next_at(cycle) -> datetime | None:
    return RefillCycle.objects.values_list("next_overdue_at", flat=True).get(pk=cycle.pk)


def repeats(cycle, day: date) -> list[tuple[str, str]]:
    rows = Delivery.objects.filter(cycle=cycle, kind="overdue", occasion=day.isoformat())
    return sorted(rows.values_list("recipient", "channel"))


@contextmanager
def overdue_errors(name: str = "refills.notify.planning"):
    """What the tick logs about overdue cycles (a send that fails logs too, about its row)."""
    records = []

    class Captured(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("overdue cycle"):
                records.append(record)

    handler, logger = Captured(level=logging.WARNING), logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def pump_patient(people):
    """A pump refilled at T0: due at DUE, through the services as staff record it."""
    with time_machine.travel(T0, tick=False):
        cycle = pump_with_refill(people.patient, by=people.staff, at=T0)
    assert cycle.refill_due_at == DUE
    return people, cycle


# --- The next reminder hour (pure) -----------------------------------------------------------

NEXT_HOUR = [
    # Chicago springs forward on 8 March 2026: from 09:00 CST to 09:00 CDT is 23 hours.
    (local(date(2026, 3, 7), 9, CHICAGO), 9, CHICAGO, utc(2026, 3, 8, 14)),
    # ... and falls back on 1 November: from 09:00 CDT to 09:00 CST is 25 hours.
    (local(date(2026, 10, 31), 9, CHICAGO), 9, CHICAGO, utc(2026, 11, 1, 15)),
    (local(date(2026, 3, 28), 9, PARIS), 9, PARIS, utc(2026, 3, 29, 7)),
    (local(date(2026, 10, 24), 9, PARIS), 9, PARIS, utc(2026, 10, 25, 8)),
    # A minute before the hour on the day of the change: that same morning.
    (local(date(2026, 3, 8), 8, CHICAGO, 59), 9, CHICAGO, utc(2026, 3, 8, 14)),
    (local(date(2026, 11, 1), 8, CHICAGO, 59), 9, CHICAGO, utc(2026, 11, 1, 15)),
    # 02:00 does not exist on 8 March in Chicago: the first instant after the gap (03:00 CDT).
    (local(date(2026, 3, 7), 2, CHICAGO), 2, CHICAGO, utc(2026, 3, 8, 8)),
    # 01:00 comes twice on 1 November: the hour is its first reading, and once a day only.
    (utc(2026, 11, 1, 6), 1, CHICAGO, utc(2026, 11, 2, 7)),
    (utc(2026, 11, 1, 5, 59), 1, CHICAGO, utc(2026, 11, 1, 6)),
]


@pytest.mark.parametrize(("after", "hour", "zone", "expected"), NEXT_HOUR)
def test_the_next_reminder_hour_across_dst_changes(after, hour, zone, expected):
    got = first_at_hour_after(after, hour, zone)
    assert got == expected
    # The counterpart of latest_at_hour_before: the tick at that instant makes that day's repeat,
    # and no reminder hour falls between `after` and it.
    assert latest_at_hour_before(got, hour, zone) == got
    assert latest_at_hour_before(got - timedelta(seconds=1), hour, zone) <= after


@pytest.mark.parametrize("zone", [CHICAGO, PARIS, "Australia/Lord_Howe", "Asia/Kolkata"])
def test_the_next_reminder_hour_every_hour_of_a_year(zone):
    hour, at = 9, utc(2026, 1, 1)
    while at < utc(2027, 1, 1):
        got = first_at_hour_after(at, hour, zone)
        local_got = got.astimezone(ZoneInfo(zone))
        assert got > at and (local_got.hour, local_got.minute) == (hour, 0), (at, got)
        assert got - at <= timedelta(hours=25)
        assert latest_at_hour_before(got, hour, zone) == got
        assert latest_at_hour_before(got - timedelta(seconds=1), hour, zone) <= at
        at += timedelta(minutes=53)


# --- The tick reads only what is due --------------------------------------------------------


def test_the_plan_sets_the_time_and_the_tick_moves_it(people):
    cycle = open_cycle(people.patient, DUE, empty_at=DUE + timedelta(days=10))
    assert next_at(cycle) == DUE
    run(DUE - timedelta(minutes=1))  # the plan's catch-up: its latest step
    assert not QueueItem.objects.filter(kind="overdue").exists() and next_at(cycle) == DUE
    run(DUE)
    assert QueueItem.objects.filter(kind="overdue", source=f"cycle:{cycle.pk}", resolved_at=None).count() == 1
    assert next_at(cycle) == NINE_CDT  # 09:00 CDT the next morning
    run(NINE_CDT)
    assert len(repeats(cycle, date(2026, 4, 7))) == 3
    assert next_at(cycle) == NINE_CDT + timedelta(days=1)


def test_a_tick_with_overdue_cycles_not_due_costs_what_one_with_none_does(people):
    """50 overdue cycles whose next repeat is tomorrow morning: an ordinary minute's tick reads
    none of them, in as many queries as a tick with no overdue cycle at all."""
    ordinary = DUE + timedelta(hours=3)

    def tick_queries():
        with time_machine.travel(ordinary, tick=False), CaptureQueriesContext(connection) as queries:
            assert outbox.tick(ordinary) == []
        return [q["sql"] for q in queries.captured_queries]

    without = tick_queries()
    cycles = [open_cycle(PatientFactory(clinic=people.clinic), DUE - timedelta(minutes=n)) for n in range(50)]
    run(DUE)  # the first tick after the refill date: queue items, the overdue messages
    assert QueueItem.objects.filter(kind="overdue", resolved_at=None).count() == 50
    assert {next_at(c) for c in cycles} == {NINE_CDT}
    items, rows = QueueItem.objects.count(), Delivery.objects.count()
    with_overdue = tick_queries()
    assert len(with_overdue) == len(without)
    assert not any(sql.startswith("UPDATE") and "refills_refillcycle" in sql for sql in with_overdue)
    assert {next_at(c) for c in cycles} == {NINE_CDT}
    assert (QueueItem.objects.count(), Delivery.objects.count()) == (items, rows)


def test_the_tick_takes_a_batch_in_as_many_queries_as_one_cycle(people):
    """The due cycles are read, opened and moved in a fixed number of statements (recipients,
    queue items, repeat rows, times): 20 due cycles cost the queries one does."""

    def queries_of_overdue_tick(n: int) -> int:
        QueueItem.objects.all().delete()
        Delivery.objects.all().delete()
        RefillCycle.objects.all().delete()
        for i in range(n):
            patient = PatientFactory(clinic=people.clinic, notification_channels=["email", "inbox"])
            if i % 2:
                CaregiverLinkFactory(patient=patient)
            RefillCycle.objects.filter(pk=open_cycle(patient, DUE - timedelta(days=2)).pk).update(
                next_overdue_at=NINE_CDT
            )
        Delivery.objects.all().delete()  # only the tick's own rows are claimed
        with time_machine.travel(NINE_CDT, tick=False), CaptureQueriesContext(connection) as queries:
            claimed = outbox.tick(NINE_CDT)
        caregivers = n // 2
        assert len(claimed) == 2 * (n + caregivers)  # e-mail and inbox to each patient and caregiver
        assert QueueItem.objects.filter(kind="overdue", resolved_at=None).count() == n
        return len(queries.captured_queries)

    assert queries_of_overdue_tick(20) == queries_of_overdue_tick(2)


DST_OVERDUE = [
    pytest.param(CHICAGO, date(2026, 3, 8), id="chicago-spring"),
    pytest.param(CHICAGO, date(2026, 11, 1), id="chicago-fall"),
    pytest.param(PARIS, date(2026, 3, 29), id="paris-spring"),
    pytest.param(PARIS, date(2026, 10, 25), id="paris-fall"),
]


@pytest.mark.parametrize(("zone", "change"), DST_OVERDUE)
def test_the_stored_repeat_time_keeps_the_reminder_hour_across_a_dst_change(people, zone, change):
    people.patient.time_zone = zone
    people.patient.save()
    due = local(change - timedelta(days=1), 10, zone)
    cycle = open_cycle(people.patient, due)
    run(due)
    for day in (change, change + timedelta(days=1)):
        at = local(day, 9, zone)
        assert next_at(cycle) == at, day
        assert run(at - timedelta(minutes=1)) == {}
        assert next_at(cycle) == at  # not touched before its time
        sent = run(at)
        assert sorted(sent.values()) == ["sent"] * 3 and repeats(cycle, day) == sorted(
            Delivery.objects.filter(pk__in=sent).values_list("recipient", "channel")
        )
        assert set(Delivery.objects.filter(pk__in=sent).values_list("due_at", flat=True)) == {at}
    assert next_at(cycle) == local(change + timedelta(days=2), 9, zone)


def test_the_empty_date_comes_before_the_next_reminder_hour(people):
    empty = DUE + timedelta(hours=6)  # 16:00 CDT, before 09:00 CDT the next morning
    cycle = open_cycle(people.patient, DUE, empty_at=empty)
    run(DUE)
    assert next_at(cycle) == empty
    assert not QueueItem.objects.filter(kind="predicted_empty").exists()
    run(empty)
    item = QueueItem.objects.get(kind="predicted_empty", source=f"cycle:{cycle.pk}")
    assert item.tier == QueueItem.Tier.DEVICE and item.resolved_at is None
    assert next_at(cycle) == NINE_CDT


def test_a_resolved_overdue_item_opens_again_at_the_next_daily_repeat(people):
    """The safety net: staff resolve the overdue item, the refill is still not recorded: the
    item opens again with the next day's repeat."""
    cycle = open_cycle(people.patient, DUE)
    run(DUE)
    item = QueueItem.objects.get(kind="overdue", source=f"cycle:{cycle.pk}")
    queue.resolve(by=people.staff, item=item, outcome="spoke_to_patient", note="Booked for Friday", now=DUE)
    run(DUE + timedelta(minutes=1))
    assert not QueueItem.objects.filter(kind="overdue", resolved_at=None).exists()
    run(NINE_CDT)
    reopened = QueueItem.objects.get(kind="overdue", source=f"cycle:{cycle.pk}", resolved_at=None)
    assert reopened.pk != item.pk and reopened.opened_at == NINE_CDT
    assert QueueItem.objects.get(pk=item.pk).resolved_at == DUE


def test_the_batch_is_bounded_and_takes_the_longest_waiting_first(people):
    cycles = [open_cycle(PatientFactory(clinic=people.clinic), DUE - timedelta(hours=n)) for n in range(3)]
    with transaction.atomic():
        assert planning._open_overdue(DUE, batch=2) == 2
    assert [next_at(c) for c in cycles] == [DUE, NINE_CDT, NINE_CDT]
    with transaction.atomic():
        assert planning._open_overdue(DUE, batch=2) == 1
    assert {next_at(c) for c in cycles} == {NINE_CDT}


def test_a_refill_recorded_ends_the_overdue_work(pump_patient):
    world, cycle = pump_patient
    overdue_at = cycle.refill_due_at + timedelta(hours=1)
    run(overdue_at)
    assert next_at(cycle) is not None
    with time_machine.travel(overdue_at + timedelta(hours=1), tick=False):
        services.record_event(
            patient=world.patient,
            kind="refill",
            values={"volume_ml": "20", "aspirated_ml": "2", "program": SIMPLE},
            occurred_at=overdue_at + timedelta(minutes=30),
            by=world.staff,
        )
    assert next_at(cycle) is None
    new = RefillCycle.objects.get(patient=world.patient, ended_at=None)
    assert next_at(new) == new.refill_due_at


def test_a_patient_made_inactive_then_active_again_is_covered_again(pump_patient):
    world, cycle = pump_patient
    with time_machine.travel(DUE - timedelta(days=1), tick=False):
        patient_services.update_patient(by=world.staff, patient=world.patient, changes={"status": "transferred"})
    assert next_at(cycle) is None
    run(DUE + timedelta(hours=1))
    assert not QueueItem.objects.filter(kind="overdue").exists()
    back = DUE + timedelta(hours=2)
    with time_machine.travel(back, tick=False):
        patient = Patient.objects.get(pk=world.patient.pk)
        patient_services.update_patient(by=world.staff, patient=patient, changes={"status": "active"})
    cycle.refresh_from_db()
    assert cycle.refill_due_at == DUE and next_at(cycle) == DUE  # overdue: the next tick takes it
    run(back + timedelta(minutes=1))
    assert QueueItem.objects.filter(kind="overdue", source=f"cycle:{cycle.pk}", resolved_at=None).count() == 1
    assert next_at(cycle) == NINE_CDT


def test_a_cycle_whose_patient_is_not_active_leaves_the_index(people):
    """Should a cycle be due for a patient no longer active (a status written around the
    services), the tick clears its time instead of reading it every minute."""
    cycle = open_cycle(people.patient, DUE)
    Patient.objects.filter(pk=people.patient.pk).update(status="deceased")
    run(DUE)
    assert next_at(cycle) is None
    assert not QueueItem.objects.filter(kind="overdue").exists()


# --- A poison cycle -------------------------------------------------------------------------


def test_a_poison_cycle_is_logged_pushed_aside_and_tried_again_later(people):
    mine = open_cycle(people.patient, DUE)
    poison = open_cycle(people.other_patient, DUE)
    Patient.objects.filter(pk=people.other_patient.pk).update(time_zone="Mars/Olympus_Mons")
    with overdue_errors() as errors:
        run(DUE)
    assert [r.getMessage() for r in errors] == [
        f"overdue cycle {poison.pk} skipped in this tick; tried again at {(DUE + planning.POISON_RETRY).isoformat()}"
    ]
    assert errors[0].exc_info is not None  # the traceback is logged
    assert QueueItem.objects.filter(kind="overdue", source=f"cycle:{mine.pk}").count() == 1
    assert next_at(mine) == NINE_CDT and next_at(poison) == DUE + planning.POISON_RETRY
    with overdue_errors() as errors:
        run(DUE + timedelta(minutes=1))  # not retried every minute
    assert errors == []
    Patient.objects.filter(pk=people.other_patient.pk).update(time_zone=CHICAGO)  # mended
    run(DUE + planning.POISON_RETRY)
    assert QueueItem.objects.filter(kind="overdue", source=f"cycle:{poison.pk}").count() == 1
    assert next_at(poison) == NINE_CDT


def test_a_cycle_whose_rows_cannot_be_stored_does_not_stop_the_others(people):
    """The batch is stored in one INSERT; when that fails, each cycle in its own savepoint, so
    only the one that cannot be stored is skipped (here the database refuses its rows)."""
    mine = open_cycle(people.patient, DUE)
    poison = open_cycle(people.other_patient, DUE)
    run(DUE)
    with connection.cursor() as cursor:  # rolled back with the test
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending: ALTER may run
        cursor.execute(
            "ALTER TABLE refills_delivery ADD CONSTRAINT poison_patient CHECK (kind <> 'overdue' OR patient_id <> %s "
            "OR occasion < '2026-04-07')",
            [people.other_patient.pk],
        )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    with overdue_errors() as errors:
        sent = run(NINE_CDT)
    assert f"overdue cycle {poison.pk} skipped in this tick" in errors[-1].getMessage()
    assert len(repeats(mine, date(2026, 4, 7))) == 3 and set(sent.values()) == {"sent"}
    assert repeats(poison, date(2026, 4, 7)) == []
    assert next_at(mine) == NINE_CDT + timedelta(days=1)
    assert next_at(poison) == NINE_CDT + planning.POISON_RETRY


# --- The migration --------------------------------------------------------------------------


def test_the_migration_fills_the_time_of_open_cycles_with_a_plan(people):
    from django.apps import apps

    overdue = open_cycle(people.patient, DUE)
    ended = open_cycle(PatientFactory(clinic=people.clinic), DUE)
    RefillCycle.objects.filter(pk=ended.pk).update(ended_at=DUE - timedelta(days=1))
    inactive = open_cycle(PatientFactory(clinic=people.clinic), DUE)
    Patient.objects.filter(pk=inactive.patient_id).update(status="transferred")
    RefillCycle.objects.update(next_overdue_at=None)  # as before the migration
    importlib.import_module("refills.migrations.0005_cycle_next_overdue_at").fill(apps, None)
    assert next_at(overdue) == DUE
    assert next_at(ended) is None and next_at(inactive) is None
    run(DUE + timedelta(days=3))  # the first tick after the deploy: nothing overdue is missed
    assert QueueItem.objects.filter(kind="overdue", source=f"cycle:{overdue.pk}").count() == 1
    assert len(repeats(overdue, date(2026, 4, 9))) == 3
