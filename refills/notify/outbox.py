"""Reminder deliveries (SPEC §5): plan them with the forecast, claim the due ones every
minute, send each through its channel and record the outcome.

The database is the source of truth and the broker only a messenger: nothing is scheduled
ahead in Celery. The tick finds due rows by an indexed column and claims them with
SELECT … FOR UPDATE SKIP LOCKED, so two schedulers running by mistake do no harm. A claimed
row holds a short lease, and the worker that takes it renews the lease for the send. Taking is
a compare-and-set on the attempt count the claim handed out, so two copies of one task (a
broker redelivery, a second claim of a row whose task was lost) never send together. A worker
killed mid-send, or a broker that restarted empty, leaves the lease to expire and a later tick
hands the row out again (at most one duplicate per send in flight, with the same Message-ID).

Overdue cycles the same way: each open cycle stores when the tick next has overdue work for it
(`next_overdue_at`, indexed): its refill date, then each reminder hour on the patient's clock (or
the empty date, if sooner). The tick takes only the cycles whose time has come, so its cost grows
with what is due this minute, never with how many refills are overdue.

How soon (SPEC §5, issue 10): an alert's lease is 45 s and the urgent tick runs every 15 s, so
a stranded alert is handed out again at most 58 s after it was taken or claimed; a reminder's
lease is 90 s and the minute tick runs every 60 s, so at most 148 s (recovery_bound).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from patients import services as patient_services
from patients.models import Patient, QueueItem

from ..domain import reminders
from ..domain.forecast import first_at_hour_after, latest_at_hour_before
from ..models import Acknowledgement, Delivery, RefillCycle
from . import channels, content, recipients

log = logging.getLogger(__name__)

# Leases (claimed or being sent). A send waits at most EMAIL_TIMEOUT (15 s) for each answer of
# the mail server; the lease must outlast a normal send, and be short enough that a stranded row
# goes out again soon. Alerts about a check-in are urgent; everything else is a reminder.
URGENT_LEASE = timedelta(seconds=45)
LEASE = timedelta(seconds=90)
URGENT_TICK = timedelta(seconds=15)  # ibt_companion/celery.py: "refills-urgent-tick"
TICK = timedelta(seconds=60)  # ibt_companion/celery.py: "refills-tick"
# A lease that runs out a moment after a tick starts would otherwise wait a whole interval more
# (beat does not fire on the exact second): the tick takes leases ending within this slack.
TICK_SLACK = timedelta(seconds=2)
URGENT_PREFIX = "alert_"
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
BATCH = 5000  # rows claimed per tick (each becomes one send task)
OVERDUE_BATCH = 5000  # overdue cycles taken per tick (at most one repeat row per person and channel each)
POISON_RETRY = timedelta(hours=1)  # an overdue cycle whose work raised is tried again this much later
UNSENT = (Delivery.Status.PENDING, Delivery.Status.FAILED)
ACK_CANCELS = tuple(f"step_{days}" for days in sorted(reminders.ACK_CANCELS, reverse=True))  # step_14, step_3
COVERED = "covered by an acknowledgement"
PLAN_KINDS = ("step_14", "step_7", "step_3", "step_1", "overdue", "overdue_clinic", "empty")


def is_urgent(kind: str) -> bool:
    return kind.startswith(URGENT_PREFIX)


def lease_for(kind: str) -> timedelta:
    return URGENT_LEASE if is_urgent(kind) else LEASE


def recovery_bound(kind: str, *, tick: timedelta | None = None) -> timedelta:
    """The longest a row stranded while being sent (its worker killed, its task lost with the
    broker) waits before a tick hands it out again: its lease, then at most one tick interval
    (less the slack), measured from the moment the worker took it or the tick claimed it."""
    interval = tick or (URGENT_TICK if is_urgent(kind) else TICK)
    return lease_for(kind) + interval - TICK_SLACK


def reclaimed_by(lease_expires_at: datetime, tick_at: datetime) -> bool:
    """The tick's rule for a row in `sending`: its lease has run out, or runs out within the slack."""
    return lease_expires_at <= tick_at + TICK_SLACK


def backoff(attempts: int) -> timedelta:
    """Exponential with ±20% jitter, so retries of many rows do not arrive together."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.8, 1.2)


def _key(cycle_or_scope, kind: str, occasion: str, recipient: str, channel: str) -> str:
    scope = f"c{cycle_or_scope.pk}" if isinstance(cycle_or_scope, RefillCycle) else cycle_or_scope
    return f"{scope}:{kind}:{occasion}:{recipient}:{channel}"


def _rows(
    *,
    patient,
    cycle,
    kind,
    occasion,
    recipient,
    due_at,
    status=Delivery.Status.PENDING,
    payload=None,
    scope=None,
    only_keys: set[str] | None = None,
) -> list[Delivery]:
    """One unsaved row per channel of the recipient. With `only_keys`, a key not in it is
    stored as skipped (covered by an acknowledgement): planned, never sent."""
    rows = []
    for channel in recipient.channels:
        key = _key(scope or cycle, kind, occasion, recipient.key, channel)
        covered = only_keys is not None and key not in only_keys
        rows.append(
            Delivery(
                key=key,
                patient=patient,
                cycle=cycle,
                kind=kind,
                occasion=occasion,
                recipient=recipient.key,
                recipient_user=recipient.user,
                channel=channel,
                due_at=due_at,
                next_attempt_at=due_at,
                status=Delivery.Status.SKIPPED if covered else status,
                last_error=COVERED if covered else "",
                payload=payload or {},
            )
        )
    return rows


def _store(rows: list[Delivery], *, new: bool = False) -> list[Delivery]:
    """Save the rows whose key is not stored yet, in one statement; return the ones saved. A
    key is one message to one person on one channel, so a row planned twice is kept once.
    `new`: the rows belong to a cycle inserted in this transaction, whose keys nobody else can
    have stored: nothing to look up."""
    stored = (
        set() if new else set(Delivery.objects.filter(key__in=[row.key for row in rows]).values_list("key", flat=True))
    )
    unsaved = []
    for row in rows:
        if row.key not in stored:
            stored.add(row.key)
            unsaved.append(row)
    if not unsaved:
        return []
    if new:
        return Delivery.objects.bulk_create(unsaved)
    try:
        with transaction.atomic():
            return Delivery.objects.bulk_create(unsaved)
    except IntegrityError:  # another transaction stored one of the keys meanwhile
        saved = []
        for row in unsaved:
            fields = {f.attname: getattr(row, f.attname) for f in Delivery._meta.concrete_fields if not f.primary_key}
            fields.pop("key")
            made, created = Delivery.objects.get_or_create(key=row.key, defaults=fields)
            if created:
                saved.append(made)
        return saved


def _create(**kwargs) -> list[Delivery]:
    """One row per channel of the recipient, unless it exists (see `_rows`)."""
    return _store(_rows(**kwargs))


# --- Planning ---------------------------------------------------------------------------


def plan_cycle(
    cycle: RefillCycle, patient: Patient, now: datetime, *, old_due: datetime | None = None, new: bool = False
) -> None:
    """Replace the unsent plan of a cycle with one made from its current forecast. Call inside
    the transaction that stored the forecast. `new`: the cycle was inserted in this transaction,
    so it has no rows and no acknowledgement yet (nothing to look up or replace)."""
    unsent = Delivery.objects.filter(cycle=cycle, status__in=UNSENT, kind__in=PLAN_KINDS)
    # Planned before: a retry keeps its turn.
    waiting = set() if new else set(unsent.values_list("key", flat=True))
    if cycle.ended_at is not None or cycle.refill_due_at is None or not patient.is_active:
        unsent.update(status=Delivery.Status.SKIPPED, last_error="plan ended")
        cycle.first_step_at = cycle.next_overdue_at = None
        RefillCycle.objects.filter(pk=cycle.pk).update(first_step_at=None, next_overdue_at=None)
        return
    if waiting:
        unsent.delete()
    facts = reminders.CycleFacts(
        refill_due_at=cycle.refill_due_at,
        empty_at=cycle.empty_at,
        appointment_booked=cycle.appointment_at is not None,
        reminder_hour=patient.clinic.reminder_hour,
        zone=patient.time_zone,
        steps=tuple(patient.clinic.reminder_steps or reminders.DEFAULT_STEPS),
    )
    cycle.first_step_at = reminders.first_step_at(facts)
    # The tick looks at the cycle again from its refill date: an overdue one at its next tick,
    # which makes again what this re-plan removed (today's repeat, to whoever hears now).
    cycle.next_overdue_at = cycle.refill_due_at
    RefillCycle.objects.filter(pk=cycle.pk).update(
        first_step_at=cycle.first_step_at, next_overdue_at=cycle.next_overdue_at
    )
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
            planned_rows += _rows(
                patient=patient,
                cycle=cycle,
                kind=planned.kind,
                occasion=planned.occasion,
                recipient=person,
                due_at=planned.due_at,
                status=status,
                only_keys=waiting if covered else None,
            )
    planned_rows += _rows(
        patient=patient,
        cycle=cycle,
        kind="overdue_clinic",
        occasion="",
        recipient=recipients.for_clinic(patient.clinic),
        due_at=cycle.refill_due_at,
    )
    _store(planned_rows, new=new)
    if (
        reminders.date_moved_earlier(old_due, cycle.refill_due_at)
        and Delivery.objects.filter(cycle=cycle, kind__startswith="step_", status=Delivery.Status.SENT).exists()
    ):
        for person in people:
            _create(
                patient=patient,
                cycle=cycle,
                kind="date_changed",
                occasion=cycle.refill_due_at.isoformat(),
                recipient=person,
                due_at=now,
            )
    if not any(person.reachable_outside_app for person in people):
        # One open item per patient, not one per refill: it is about the patient's contacts.
        patient_services.open_queue_item(
            patient=patient,
            kind="nobody_to_remind",
            tier=QueueItem.Tier.FOLLOW_UP,
            source=f"cycle:{cycle.pk}",
            key=f"nobody_to_remind:{patient.pk}",
            now=now,
        )


def plan_end_of_service(patient: Patient, end_of_service_at: datetime | None, now: datetime) -> None:
    scope = f"p{patient.pk}:eos"
    Delivery.objects.filter(key__startswith=scope + ":", status__in=UNSENT).delete()
    if end_of_service_at is None or not patient.is_active:
        return
    payload = {"end_of_service_date": content.date_in_words(end_of_service_at, patient.time_zone)}
    everyone = [*recipients.people(patient), recipients.for_clinic(patient.clinic)]
    for notice in reminders.end_of_service_notices(end_of_service_at, patient.clinic.reminder_hour, patient.time_zone):
        status = Delivery.Status.SKIPPED if notice.due_at < now - timedelta(days=1) else Delivery.Status.PENDING
        for person in everyone:
            _create(
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


# --- The minute tick ----------------------------------------------------------------------


def tick(now: datetime, *, batch: int = BATCH) -> list[int]:
    """Open what falls due, collapse stale catch-up messages, and claim due rows. Returns the
    claimed ids; the caller hands each to a worker after the transaction commits."""
    return [pk for pk, _token in tick_claims(now, batch=batch)]


def tick_claims(now: datetime, *, batch: int = BATCH) -> list[tuple[int, int]]:
    """As tick, with each row's claim token (its attempt count) for send_delivery."""
    with transaction.atomic():
        _open_overdue(now)
        _collapse(now)
        return _claim(now, batch)


def urgent_tick_claims(now: datetime, *, batch: int = BATCH) -> list[tuple[int, int]]:
    """Claim due and stranded alerts only (every 15 s): an alert must not wait for the minute
    tick, nor a whole reminder lease."""
    with transaction.atomic():
        return _claim(now, batch, urgent_only=True)


# What the overdue work never reads: not decoded for thousands of cycles a tick.
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
    if cycle.refill_due_at > now:  # not overdue (yet): its time was set before a re-plan moved the date
        return _OverdueWork(cycle, [], [], cycle.refill_due_at)
    source = f"cycle:{cycle.pk}"
    items = [{"patient": patient, "kind": "overdue", "tier": QueueItem.Tier.OVERDUE, "source": source}]
    if cycle.empty_at is not None and cycle.empty_at <= now:
        items.append({"patient": patient, "kind": "predicted_empty", "tier": QueueItem.Tier.DEVICE, "source": source})
    # The daily repeat is the latest reminder hour on the patient's clock at or before now (not
    # the first one after now - 24 h, which on a 23-hour DST day is yesterday's, an hour late).
    repeat_at = latest_at_hour_before(now, hour, zone)
    rows: list[Delivery] = []
    if cycle.refill_due_at < repeat_at:
        occasion = reminders.local_date(repeat_at, zone)
        for person in people:
            rows += _rows(
                patient=patient, cycle=cycle, kind="overdue", occasion=occasion, recipient=person, due_at=repeat_at
            )
    next_at = first_at_hour_after(now, hour, zone)
    if cycle.empty_at is not None and now < cycle.empty_at < next_at:
        next_at = cycle.empty_at
    return _OverdueWork(cycle, items, rows, next_at)


def _store_overdue(work: list[_OverdueWork], now: datetime) -> None:
    """The queue items and repeat rows of these cycles, in one look-up and one INSERT each."""
    patient_services.open_queue_items([item for each in work for item in each.items], now=now)
    _store([row for each in work for row in each.rows])


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


def _collapse(now: datetime) -> None:
    """After downtime each recipient gets one current message per cycle, not a burst. A row that
    failed before the downtime is as stale as one never tried."""
    due = list(
        Delivery.objects.filter(status__in=UNSENT, next_attempt_at__lte=now, cycle__isnull=False)
        .exclude(kind="overdue_clinic")
        .values_list("pk", "cycle_id", "recipient", "channel", "kind", "due_at")
    )
    groups: dict[tuple, list] = {}
    for pk, cycle_id, recipient, channel, kind, due_at in due:
        groups.setdefault((cycle_id, recipient, channel), []).append((pk, kind, due_at))
    skip = []
    for items in groups.values():
        if len(items) > 1:
            _, stale = reminders.collapse(items)
            skip += stale
    if skip:
        Delivery.objects.filter(pk__in=skip, status__in=UNSENT).update(
            status=Delivery.Status.SKIPPED, last_error="superseded by a more current message"
        )


def _claim(now: datetime, batch: int, *, urgent_only: bool = False) -> list[tuple[int, int]]:
    due = Delivery.objects.select_for_update(skip_locked=True).filter(
        Q(status__in=UNSENT, next_attempt_at__lte=now)
        | Q(status=Delivery.Status.SENDING, lease_expires_at__lte=now + TICK_SLACK)
    )
    if urgent_only:
        due = due.filter(kind__startswith=URGENT_PREFIX)
    claims = list(due.order_by("next_attempt_at").values_list("pk", "attempts", "kind")[:batch])
    urgent = [pk for pk, _attempts, kind in claims if is_urgent(kind)]
    other = [pk for pk, _attempts, kind in claims if not is_urgent(kind)]
    for ids, lease in ((urgent, URGENT_LEASE), (other, LEASE)):
        if ids:
            Delivery.objects.filter(pk__in=ids).update(status=Delivery.Status.SENDING, lease_expires_at=now + lease)
    return [(pk, attempts) for pk, attempts, _kind in claims]


# --- Sending ------------------------------------------------------------------------------


def take(row: Delivery, token: int | None, now: datetime) -> bool:
    """Make a claimed row this worker's for the send: one compare-and-set on (attempts, lease)
    that counts the attempt and renews the lease. `token` is the attempt count the claim handed
    out: a copy of the task from an older claim finds it changed and sends nothing, unless the
    row's lease has run out (the row is stranded, and rescuing it is what a tick would do).
    None (a caller that has no token) takes any claimed row."""
    stranded = row.lease_expires_at is None or reclaimed_by(row.lease_expires_at, now)
    if token is not None and row.attempts != token and not stranded:
        return False
    lease = now + lease_for(row.kind)
    updated = Delivery.objects.filter(
        pk=row.pk, status=Delivery.Status.SENDING, attempts=row.attempts, lease_expires_at=row.lease_expires_at
    ).update(attempts=F("attempts") + 1, lease_expires_at=lease)
    if updated:
        row.attempts += 1
        row.lease_expires_at = lease
    return bool(updated)


def deliver(delivery_id: int, now: datetime | None = None, *, token: int | None = None) -> str:
    """Send one claimed row and record the outcome. Returns the row's new status."""
    now = now or timezone.now()
    row = (
        Delivery.objects.select_related("patient__clinic", "patient__user", "cycle", "recipient_user")
        .filter(pk=delivery_id, status=Delivery.Status.SENDING)
        .first()
    )
    # An attempt counts when a worker tries to send, not when a lease is handed out again.
    if row is None or not take(row, token, now):
        return "not claimed"
    try:
        recipient = recipients.by_key(row.recipient, row.patient)
        if recipient is None or row.channel not in recipient.channels:
            return _finish(row, Delivery.Status.SKIPPED, error="recipient or channel no longer chosen")
        if not row.patient.is_active and row.kind not in ("test",):
            return _finish(row, Delivery.Status.SKIPPED, error="patient not active")
        message = content.render(row, recipient, now)
        provider_id = channels.send(row.channel, recipient, message, row)
    except channels.PermanentError as error:
        return _dead(row, str(error), now)
    except channels.TransientError as error:
        return _retry(row, str(error), now)
    except Exception as error:  # a poison row: push it aside, log it, let the rest go out
        log.exception("delivery %s failed unexpectedly", row.pk)
        return _retry(row, f"{type(error).__name__}: {error}", now)
    if row.kind.startswith("eos_") and row.recipient.startswith("clinic:"):
        patient_services.open_queue_item(
            patient=row.patient,
            kind="end_of_service",
            tier=QueueItem.Tier.FOLLOW_UP,
            source=f"patient:{row.patient_id}",
            key=f"end_of_service:{row.patient_id}:{row.occasion}",
            now=now,
        )
    return _finish(row, Delivery.Status.SENT, provider_id=provider_id, sent_at=now)


def _finish(row, status, *, error="", provider_id="", sent_at=None) -> str:
    Delivery.objects.filter(pk=row.pk, status=Delivery.Status.SENDING).update(
        status=status, last_error=error[:500], provider_message_id=provider_id, sent_at=sent_at, lease_expires_at=None
    )
    return status


def _retry(row, error: str, now: datetime) -> str:
    if row.attempts >= MAX_ATTEMPTS:
        return _dead(row, error, now)
    Delivery.objects.filter(pk=row.pk, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.FAILED,
        last_error=error[:500],
        next_attempt_at=now + backoff(row.attempts),
        lease_expires_at=None,
    )
    return Delivery.Status.FAILED


def _dead(row, error: str, now: datetime) -> str:
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=row.pk, status=Delivery.Status.SENDING).update(
            status=Delivery.Status.DEAD, last_error=error[:500], lease_expires_at=None
        )
        if updated:
            patient_services.open_queue_item(
                patient=row.patient,
                kind="dead_delivery",
                tier=QueueItem.Tier.FOLLOW_UP,
                source=f"delivery:{row.pk}",
                now=now,
            )
    return Delivery.Status.DEAD


def oldest_due_age_seconds(now: datetime) -> float | None:
    oldest = (
        Delivery.objects.filter(status__in=UNSENT, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return (now - oldest).total_seconds() if oldest else None


def claim_now(ids: list[int], now: datetime) -> list[tuple[int, int]]:
    """Claim specific due rows at once (an emergency alert should not wait for the next tick).
    Rows another worker or the tick already claimed are left alone. Returns (id, attempt count)
    pairs: the count goes with the send task, as the tick's claims do (see `take`)."""
    with transaction.atomic():
        mine = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status__in=UNSENT, next_attempt_at__lte=now)
            .values_list("pk", "attempts")
        )
        if mine:
            Delivery.objects.filter(pk__in=[pk for pk, _attempts in mine]).update(
                status=Delivery.Status.SENDING, lease_expires_at=now + URGENT_LEASE
            )
    return mine


def create_alerts(*, patient: Patient, scope: str, kind: str, people, due_at: datetime, payload: dict) -> list[int]:
    """Alert rows (e.g. for an emergency check-in) through the same machinery as reminders.
    Call inside the transaction that saves what the alert is about."""
    rows = []
    for person in people:
        rows += _create(
            patient=patient,
            cycle=None,
            kind=kind,
            occasion="",
            recipient=person,
            due_at=due_at,
            payload=payload,
            scope=scope,
        )
    return [row.pk for row in rows]
