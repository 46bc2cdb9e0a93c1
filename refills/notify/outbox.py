"""Reminder deliveries (SPEC §5): claim the due ones every minute, send each through its
channel and record the outcome.

The database is the source of truth and the broker only a messenger: nothing is scheduled
ahead in Celery. The tick finds due rows by an indexed column and claims them with
SELECT … FOR UPDATE SKIP LOCKED, so two schedulers running by mistake do no harm. A claimed
row holds a short lease, and the worker that takes it renews the lease for the send. Taking is
a compare-and-set on the attempt count the claim handed out, so two copies of one task (a
broker redelivery, a second claim of a row whose task was lost) never send together. A worker
killed mid-send, or a broker that restarted empty, leaves the lease to expire and a later tick
hands the row out again (at most one duplicate per send in flight, with the same Message-ID).

Overdue cycles are taken the same way, on a stored due time (planning.py). Plans are made in
planning.py, rows through rows.py; check-in alerts are handed to workers by alerts.py.

How soon (SPEC §5, issue 10): an alert's lease is 45 s and the urgent tick runs every 15 s, so
a stranded alert is handed out again at most 58 s after it was taken or claimed; a reminder's
lease is 90 s and the minute tick runs every 60 s, so at most 148 s (recovery_bound).
"""

from __future__ import annotations

import functools
import logging
import random
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import ForeignKey, Q
from django.utils import timezone

from patients import services as patient_services
from patients.models import Clinic, Patient, QueueItem, QueueKind, User

from ..domain import reminders
from ..models import Delivery, RefillCycle
from . import channels, content, planning, recipients
from .kinds import END_OF_SERVICE, MessageKind
from .rows import UNSENT, create_rows

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


# --- The minute tick ----------------------------------------------------------------------


def tick(now: datetime, *, batch: int = BATCH) -> list[int]:
    """Open what falls due, collapse stale catch-up messages, and claim due rows. Returns the
    claimed ids; the caller hands each to a worker after the transaction commits."""
    return [pk for pk, _token in tick_claims(now, batch=batch)]


def tick_claims(now: datetime, *, batch: int = BATCH) -> list[tuple[int, int]]:
    """As tick, with each row's claim token (its attempt count) for send_delivery."""
    with transaction.atomic():
        planning._open_overdue(now)
        _collapse(now)
        return _claim(now, batch)


def urgent_tick_claims(now: datetime, *, batch: int = BATCH) -> list[tuple[int, int]]:
    """Claim due and stranded alerts only (every 15 s): an alert must not wait for the minute
    tick, nor a whole reminder lease."""
    with transaction.atomic():
        return _claim(now, batch, urgent_only=True)


# What the overdue work never reads: not decoded for thousands of cycles a tick.
def _collapse(now: datetime) -> None:
    """After downtime each recipient gets one current message per cycle, not a burst. A row that
    failed before the downtime is as stale as one never tried."""
    due = list(
        Delivery.objects.filter(status__in=UNSENT, next_attempt_at__lte=now, cycle__isnull=False)
        .exclude(kind=MessageKind.OVERDUE_CLINIC)
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
    """Make a claimed row this worker's for the send: one compare-and-set on the attempt count
    that counts the attempt and renews the lease. `token` is the attempt count the claim handed
    out: a copy of the task from an older claim finds it changed and sends nothing, unless the
    row's lease has run out (the row is stranded, and rescuing it is what a tick would do).
    None (a caller that has no token) takes the row as it was read, whatever claim it is under."""
    taken = _take(row.pk, row.attempts if token is None else token, now)
    if taken is not None:
        row.attempts, row.lease_expires_at = taken.attempts, taken.lease_expires_at
    return taken is not None


def _key(model, name: str) -> ForeignKey:
    return cast(ForeignKey, model._meta.get_field(name))


# What a send reads besides its row, as select_related("patient__clinic", "patient__user",
# "cycle"): (alias, the alias whose foreign key leads to it, that key, its model).
_READS = (
    ("p", "taken", _key(Delivery, "patient"), Patient),
    ("c", "p", _key(Patient, "clinic"), Clinic),
    ("u", "p", _key(Patient, "user"), User),
    ("cy", "taken", _key(Delivery, "cycle"), RefillCycle),
)


def _take(pk: int, token: int, now: datetime) -> Delivery | None:
    """`take`'s one UPDATE, and the row as taken with what its send reads: on PostgreSQL one
    statement (the UPDATE … RETURNING in a WITH, joined to the patient, clinic, log-in and
    cycle), one round trip for both; elsewhere the UPDATE, then a read. None if not taken."""
    moment = connection.ops.adapt_datetimefield_value
    params = [
        *(len(URGENT_PREFIX), URGENT_PREFIX, moment(now + URGENT_LEASE), moment(now + LEASE)),  # lease_for
        *(pk, Delivery.Status.SENDING.value, token, moment(now + TICK_SLACK)),  # reclaimed_by
    ]
    update = _TAKE.format(table=connection.ops.quote_name(Delivery._meta.db_table))
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(update, params)
            if not cursor.rowcount:
                return None
        return Delivery.objects.select_related("patient__clinic", "patient__user", "cycle").get(pk=pk)
    select, models = _read_taken()
    with connection.cursor() as cursor:
        cursor.execute(f"WITH taken AS ({update} RETURNING *) {select}", params)
        values = cursor.fetchone()
    if values is None:
        return None
    found: dict[str, Any] = {}
    for alias, model, fields, at in models:
        found[alias] = _from_db(model, fields, values[at : at + len(fields)])
    for alias, parent, key, _model in _READS:
        if found[parent] is not None:
            key.set_cached_value(found[parent], found[alias])
    return found["taken"]


# The compare-and-set: the attempt count the task carries, or a lease that has run out (as the
# tick's `reclaimed_by`); it counts the attempt and renews the lease (`lease_for`). Plain SQL
# (the same on PostgreSQL and SQLite): built by the ORM it cost more CPU than its round trip.
_TAKE = (
    "UPDATE {table} SET attempts = attempts + 1,"
    " lease_expires_at = CASE WHEN substr(kind, 1, %s) = %s THEN %s ELSE %s END"
    " WHERE id = %s AND status = %s AND (attempts = %s OR lease_expires_at IS NULL OR lease_expires_at <= %s)"
)


@functools.cache
def _read_taken() -> tuple[str, list[tuple[str, Any, list, int]]]:
    """The SELECT of the taken row and _READS; for each model, where its columns begin, and its
    fields with the converters a queryset applies to each (e.g. JSON)."""
    name = connection.ops.quote_name
    models: list[tuple[str, Any, list, int]] = []
    columns: list[str] = []
    for alias, model in [("taken", Delivery), *((alias, model) for alias, _parent, _fk, model in _READS)]:
        fields = []
        for field in model._meta.concrete_fields:
            column = field.get_col(alias)
            converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)  # type: ignore[attr-defined]
            fields.append((field, column, converters))
        models.append((alias, model, fields, len(columns)))
        columns += [f"{alias}.{name(field.column)}" for field, _, _ in fields]
    joins = " ".join(
        f"LEFT JOIN {name(model._meta.db_table)} {alias} "
        f"ON {alias}.{name(key.target_field.column)} = {parent}.{name(key.column)}"
        for alias, parent, key, model in _READS
    )
    return f"SELECT {', '.join(columns)} FROM taken {joins}", models  # noqa: S608 (names from the models)


def _from_db(model, fields, values):
    """A model instance from its columns as the database returned them, converted as a
    queryset would; None for a row the LEFT JOIN did not find."""
    if values[model._meta.concrete_fields.index(model._meta.pk)] is None:
        return None
    converted = []
    for (_field, column, converters), value in zip(fields, values, strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [field.attname for field, _, _ in fields], converted)


def deliver(delivery_id: int, now: datetime | None = None, *, token: int | None = None) -> str:
    """Send one claimed row and record the outcome. Returns the row's new status."""
    now = now or timezone.now()
    if token is None:  # a caller that has no token takes the row as it finds it
        token = (
            Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING)
            .values_list("attempts", flat=True)
            .first()
        )
    row = None if token is None else _take(delivery_id, token, now)
    # An attempt counts when a worker tries to send, not when a lease is handed out again.
    if row is None:
        return "not claimed"
    try:
        recipient = recipients.by_key(row.recipient, row.patient)
        if recipient is None or row.channel not in recipient.channels:
            return _finish(row, Delivery.Status.SKIPPED, error="recipient or channel no longer chosen")
        if not row.patient.is_active and row.kind != MessageKind.TEST:
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
    if row.kind in END_OF_SERVICE and row.recipient.startswith("clinic:"):
        patient_services.open_queue_item(
            patient=row.patient,
            kind=QueueKind.END_OF_SERVICE,
            tier=QueueItem.Tier.FOLLOW_UP,
            source=f"patient:{row.patient_id}",
            key=f"{QueueKind.END_OF_SERVICE}:{row.patient_id}:{row.occasion}",
            now=now,
        )
    return _finish(row, Delivery.Status.SENT, provider_id=provider_id, sent_at=now)


def _finish(row, status, *, error="", provider_id="", sent_at=None) -> str:
    """Record a send's end (sent, or skipped). Every send ends here: plain SQL, which costs less
    CPU than the ORM's UPDATE (as _TAKE)."""
    sent_at = None if sent_at is None else connection.ops.adapt_datetimefield_value(sent_at)
    with connection.cursor() as cursor:
        cursor.execute(
            _FINISH.format(table=connection.ops.quote_name(Delivery._meta.db_table)),
            [str(status), error[:500], provider_id, sent_at, row.pk, Delivery.Status.SENDING.value],
        )
    return status


_FINISH = (
    "UPDATE {table} SET status = %s, last_error = %s, provider_message_id = %s, sent_at = %s,"
    " lease_expires_at = NULL WHERE id = %s AND status = %s"
)


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
                kind=QueueKind.DEAD_DELIVERY,
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


def release(ids: list[int], reason: str) -> None:
    """Put claimed rows that no worker was given back to pending with the reason (the broker
    would not take their tasks): the next tick claims them again."""
    Delivery.objects.filter(pk__in=ids, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.PENDING, lease_expires_at=None, last_error=reason
    )


def create_alerts(*, patient: Patient, scope: str, kind: str, people, due_at: datetime, payload: dict) -> list[int]:
    """Alert rows (e.g. for an emergency check-in) through the same machinery as reminders.
    Call inside the transaction that saves what the alert is about."""
    rows = []
    for person in people:
        rows += create_rows(
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


def create_test(*, patient: Patient, recipient, now: datetime) -> list[Delivery]:
    """A test message to `recipient` (about `patient`, whom every row belongs to): one row per
    channel, due now, which the minute tick sends. Returns the rows made."""
    return create_rows(
        patient=patient,
        cycle=None,
        kind=MessageKind.TEST,
        occasion=now.isoformat(),
        recipient=recipient,
        due_at=now,
        scope=f"p{patient.pk}:test",
    )
