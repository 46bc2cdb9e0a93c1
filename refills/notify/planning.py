"""Reminder plans (SPEC §4–§5): the rows of a refill cycle made from its forecast, end-of-service
notices, acknowledgements, and the overdue work the minute tick takes on stored due times.

Overdue cycles: each open cycle stores when the tick next has overdue work for it
(`next_overdue_at`, indexed): its refill date, then each reminder hour on the patient's clock (or
the empty date, if sooner). The tick takes only the cycles whose time has come, so its cost grows
with what is due this minute, never with how many refills are overdue. Call every function here
inside the transaction of the change (or of the tick) that causes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from patients import services as patient_services
from patients.models import Patient, QueueItem, QueueKind

from ..domain import reminders
from ..domain.clock import first_at_hour_after, latest_at_hour_before, local_date
from ..models import Acknowledgement, Delivery, RefillCycle
from ..words import date_in_words
from . import recipients
from .kinds import ACK_CANCELS, PLAN_KINDS, MessageKind
from .rows import UNSENT, build_rows, create_rows, store_rows

log = logging.getLogger(__name__)

OVERDUE_BATCH = 5000  # overdue cycles taken per tick (at most one repeat row per person and channel each)
POISON_RETRY = timedelta(hours=1)  # an overdue cycle whose work raised is tried again this much later


def _facts(cycle: RefillCycle, patient: Patient) -> reminders.CycleFacts | None:
    """What the plan of a cycle is made from; None when it has no plan (ended, no forecast,
    or the patient is not active)."""
    if cycle.ended_at is not None or cycle.refill_due_at is None or not patient.is_active:
        return None
    return reminders.CycleFacts(
        refill_due_at=cycle.refill_due_at,
        empty_at=cycle.empty_at,
        appointment_booked=cycle.appointment_at is not None,
        reminder_hour=patient.clinic.reminder_hour,
        zone=patient.time_zone,
        steps=tuple(patient.clinic.reminder_steps or reminders.DEFAULT_STEPS),
    )


def schedule(cycle: RefillCycle, patient: Patient) -> None:
    """Put on the cycle (unsaved) when its first reminder step falls and when the tick next
    has overdue work for it: from its refill date, so an overdue cycle is looked at again at
    the next tick, which makes again what a re-plan removed (today's repeat, to whoever hears
    now). Neither, for a cycle without a plan."""
    facts = _facts(cycle, patient)
    cycle.first_step_at = reminders.first_step_at(facts) if facts else None
    cycle.next_overdue_at = cycle.refill_due_at if facts else None


def plan_cycle(
    cycle: RefillCycle,
    patient: Patient,
    now: datetime,
    *,
    old_due: datetime | None = None,
    new: bool = False,
    scheduled: bool = False,
) -> None:
    """Replace the unsent plan of a cycle with one made from its current forecast. Call inside
    the transaction that stored the forecast. `new`: the cycle was inserted in this transaction,
    so it has no rows and no acknowledgement yet (nothing to look up or replace). `scheduled`:
    the caller has just saved the cycle after `schedule`."""
    if not scheduled:
        schedule(cycle, patient)
        RefillCycle.objects.filter(pk=cycle.pk).update(
            first_step_at=cycle.first_step_at, next_overdue_at=cycle.next_overdue_at
        )
    unsent = Delivery.objects.filter(cycle=cycle, status__in=UNSENT).filter(
        Q(kind__in=PLAN_KINDS) | Q(kind__startswith=reminders.STEP_PREFIX)
    )
    facts = _facts(cycle, patient)
    if facts is None:
        if not new:
            unsent.update(status=Delivery.Status.SKIPPED, last_error="plan ended")
        return
    # Planned before: a retry keeps its turn.
    waiting = set() if new else set(unsent.values_list("key", flat=True))
    if waiting:
        unsent.delete()
    acknowledged_until = None if new else latest_acknowledgement(cycle)
    people = recipients.people(patient)
    planned_rows: list[Delivery] = []
    for planned in reminders.plan(facts, now):
        if acknowledged_until is not None and planned.kind in ACK_CANCELS:
            continue
        status = Delivery.Status.SKIPPED if planned.skipped else Delivery.Status.PENDING
        # A re-plan (a new channel, a checked phone, a caregiver who accepts, START) sends a
        # step already due at once to whoever lacks it, unless the cycle's acknowledgement
        # covers it: then nobody gets it again, on any channel (issue 10).
        covered = reminders.covered_by_acknowledgement(planned, acknowledged_until)
        for person in people:
            planned_rows += build_rows(
                patient=patient,
                cycle=cycle,
                kind=planned.kind,
                occasion=planned.occasion,
                recipient=person,
                due_at=planned.due_at,
                status=status,
                only_keys=waiting if covered else None,
            )
    planned_rows += build_rows(
        patient=patient,
        cycle=cycle,
        kind=MessageKind.OVERDUE_CLINIC,
        occasion="",
        recipient=recipients.for_clinic(patient.clinic),
        due_at=cycle.refill_due_at,
    )
    store_rows(planned_rows, new=new)
    if (
        reminders.date_moved_earlier(old_due, facts.refill_due_at)
        and Delivery.objects.filter(
            cycle=cycle, kind__startswith=reminders.STEP_PREFIX, status=Delivery.Status.SENT
        ).exists()
    ):
        for person in people:
            create_rows(
                patient=patient,
                cycle=cycle,
                kind=MessageKind.DATE_CHANGED,
                occasion=facts.refill_due_at.isoformat(),
                recipient=person,
                due_at=now,
            )
    if not any(person.reachable_outside_app for person in people):
        # One open item per patient, not one per refill: it is about the patient's contacts.
        patient_services.open_queue_item(
            patient=patient,
            kind=QueueKind.NOBODY_TO_REMIND,
            tier=QueueItem.Tier.FOLLOW_UP,
            source=f"cycle:{cycle.pk}",
            key=f"{QueueKind.NOBODY_TO_REMIND}:{patient.pk}",
            now=now,
        )


def plan_end_of_service(patient: Patient, end_of_service_at: datetime | None, now: datetime) -> None:
    scope = f"p{patient.pk}:eos"
    Delivery.objects.filter(key__startswith=scope + ":", status__in=UNSENT).delete()
    if end_of_service_at is None or not patient.is_active:
        return
    words = date_in_words(end_of_service_at, patient.time_zone, year=False, translated=False)
    payload = {"end_of_service_date": words}
    everyone = [*recipients.people(patient), recipients.for_clinic(patient.clinic)]
    for notice in reminders.end_of_service_notices(end_of_service_at, patient.clinic.reminder_hour, patient.time_zone):
        status = Delivery.Status.SKIPPED if notice.due_at < now - timedelta(days=1) else Delivery.Status.PENDING
        for person in everyone:
            create_rows(
                patient=patient,
                cycle=None,
                kind=notice.kind,
                occasion=end_of_service_at.date().isoformat(),
                recipient=person,
                due_at=notice.due_at,
                status=status,
                payload=payload,
                scope=f"{scope}:{end_of_service_at.date().isoformat()}",
            )


# --- Acknowledgement ----------------------------------------------------------------------


def acknowledge(cycle: RefillCycle, recipient_key: str, now: datetime | None = None) -> bool:
    """Any recipient's acknowledgement cancels the cycle's unsent 14- and 3-day steps for
    everyone, and covers every step due by then: a re-plan never sends one of those again.
    Only a refill cancels the 1-day step and the overdue messages."""
    now = now or timezone.now()
    with transaction.atomic():
        ack, created = Acknowledgement.objects.get_or_create(
            cycle=cycle, recipient=recipient_key, defaults={"acknowledged_at": now, "last_acknowledged_at": now}
        )
        if not created and (ack.last_acknowledged_at is None or ack.last_acknowledged_at < now):
            Acknowledgement.objects.filter(pk=ack.pk).update(last_acknowledged_at=now)
        Delivery.objects.filter(cycle=cycle, kind__in=ACK_CANCELS, status__in=UNSENT).update(
            status=Delivery.Status.SKIPPED, last_error="acknowledged"
        )
    return created


def latest_acknowledgement(cycle: RefillCycle) -> datetime | None:
    """When anyone last acknowledged a reminder of this cycle (None: nobody has)."""
    return Acknowledgement.objects.filter(cycle=cycle).aggregate(
        at=Max(Coalesce("last_acknowledged_at", "acknowledged_at"))
    )["at"]


# --- Overdue work on stored due times ---------------------------------------------------


OVERDUE_UNREAD = (
    "forecast_inputs",
    "patient__emergency_contacts",
    "patient__clinic__opening_hours",
    "patient__clinic__reminder_steps",
    "patient__user__notification_channels",
)


@dataclass
class _OverdueWork:
    cycle: RefillCycle
    items: list[dict]  # queue items to open (patients.services.open_queue_items)
    rows: list[Delivery]  # the daily repeat, one row per person and channel (unsaved)
    next_at: datetime  # the cycle's next_overdue_at after this tick


def _open_overdue(now: datetime, batch: int = OVERDUE_BATCH) -> int:
    """The overdue work of the open cycles whose `next_overdue_at` has come, and of no other:
    the overdue queue item (opened again if staff resolved it while the refill is still not
    recorded), the predicted-empty item once empty_at has passed, and the daily repeat to each
    person at the latest reminder hour on the patient's clock; then each cycle's time moves on
    to the next moment it can have work. Cycles locked by a change in progress are left to the
    next tick (that change plans them again anyway). Returns how many cycles it took."""
    cycles = list(
        RefillCycle.objects.select_for_update(skip_locked=True, no_key=True, of=("self", "patient"))
        .select_related("patient__clinic", "patient__user")
        .defer(*OVERDUE_UNREAD)
        .filter(ended_at__isnull=True, next_overdue_at__isnull=False, next_overdue_at__lte=now)
        .order_by("next_overdue_at")[:batch]
    )
    if not cycles:
        return 0
    # A cycle with no plan (no forecast, a patient not active) has nothing to do until a re-plan
    # sets its time again.
    moves: dict[int, datetime | None] = {cycle.pk: None for cycle in cycles}
    live = [c for c in cycles if c.refill_due_at is not None and c.patient.is_active]
    people = recipients.people_of(cycle.patient for cycle in live)
    work = []
    for cycle in live:
        try:
            each = _overdue_work(cycle, people[cycle.patient_id], now)
        except Exception:  # a poison cycle (e.g. an unreadable zone): skip it, log it, try later
            moves[cycle.pk] = _poison(cycle, now)
            continue
        work.append(each)
        moves[cycle.pk] = each.next_at
    try:
        with transaction.atomic():
            _store_overdue(work, now)
    except Exception:  # one of them cannot be stored: each in its own savepoint, to find it
        log.warning("overdue work of %s cycles stored one cycle at a time", len(work), exc_info=True)
        for each in work:
            try:
                with transaction.atomic():
                    _store_overdue([each], now)
            except Exception:
                moves[each.cycle.pk] = _poison(each.cycle, now)
    _move_overdue(moves)
    return len(cycles)


def _poison(cycle: RefillCycle, now: datetime) -> datetime:
    """Log a cycle whose overdue work raised (with the traceback) and say when to try again: not
    every minute, nor never (the cause may be mended)."""
    retry = now + POISON_RETRY
    log.exception("overdue cycle %s skipped in this tick; tried again at %s", cycle.pk, retry.isoformat())
    return retry


def _overdue_work(cycle: RefillCycle, people: list[recipients.Recipient], now: datetime) -> _OverdueWork:
    """What the tick does for one cycle at `now` (nothing stored yet), and when it next can have
    something to do: the next reminder hour after now on the patient's clock, or empty_at if
    that comes first."""
    patient = cycle.patient
    hour, zone = patient.clinic.reminder_hour, patient.time_zone
    due_at = cycle.refill_due_at
    assert due_at is not None  # _open_overdue passes only cycles with a refill date
    if due_at > now:  # not overdue (yet): its time was set before a re-plan moved the date
        return _OverdueWork(cycle, [], [], due_at)
    source = f"cycle:{cycle.pk}"
    items = [{"patient": patient, "kind": QueueKind.OVERDUE, "tier": QueueItem.Tier.OVERDUE, "source": source}]
    if cycle.empty_at is not None and cycle.empty_at <= now:
        items.append(
            {"patient": patient, "kind": QueueKind.PREDICTED_EMPTY, "tier": QueueItem.Tier.DEVICE, "source": source}
        )
    # The daily repeat is the latest reminder hour on the patient's clock at or before now (not
    # the first one after now - 24 h, which on a 23-hour DST day is yesterday's, an hour late).
    repeat_at = latest_at_hour_before(now, hour, zone)
    rows: list[Delivery] = []
    if due_at < repeat_at:
        occasion = local_date(repeat_at, zone)
        for person in people:
            rows += build_rows(
                patient=patient,
                cycle=cycle,
                kind=MessageKind.OVERDUE,
                occasion=occasion,
                recipient=person,
                due_at=repeat_at,
            )
    next_at = first_at_hour_after(now, hour, zone)
    if cycle.empty_at is not None and now < cycle.empty_at < next_at:
        next_at = cycle.empty_at
    return _OverdueWork(cycle, items, rows, next_at)


def _store_overdue(work: list[_OverdueWork], now: datetime) -> None:
    """The queue items and repeat rows of these cycles, in one look-up and one INSERT each."""
    patient_services.open_queue_items([item for each in work for item in each.items], now=now)
    store_rows([row for each in work for row in each.rows])


def _move_overdue(moves: dict[int, datetime | None]) -> None:
    """Each cycle's next_overdue_at, in one statement (on SQLite, the embedded default of
    `make run`, through bulk_update)."""
    if connection.vendor != "postgresql":
        cycles = [RefillCycle(pk=pk, next_overdue_at=at) for pk, at in moves.items()]
        RefillCycle.objects.bulk_update(cycles, ["next_overdue_at"], batch_size=500)
        return
    table = RefillCycle._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET next_overdue_at = m.at "  # noqa: S608 (the model's own table name)
            "FROM unnest(%s::bigint[], %s::timestamptz[]) AS m(id, at) WHERE c.id = m.id",
            [list(moves), list(moves.values())],
        )
