"""Reminder deliveries (SPEC §5): plan them with the forecast, claim the due ones every
minute, send each through its channel and record the outcome.

The database is the source of truth and the broker only a messenger: nothing is scheduled
ahead in Celery. The tick finds due rows by an indexed column and claims them with
SELECT … FOR UPDATE SKIP LOCKED, so two schedulers running by mistake do no harm. A claimed
row holds a lease; a worker killed mid-send leaves the lease to expire and a later tick hands
the row out again (at most one duplicate per send in flight, with the same Message-ID).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from patients import services as patient_services
from patients.models import Patient, QueueItem

from . import channels, content, recipients, reminders
from .forecast import latest_at_hour_before
from .models import Acknowledgement, Delivery, RefillCycle

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
BATCH = 5000  # rows claimed per tick (each becomes one send task)
UNSENT = (Delivery.Status.PENDING, Delivery.Status.FAILED)
PLAN_KINDS = ("step_14", "step_7", "step_3", "step_1", "overdue", "overdue_clinic", "empty")


def backoff(attempts: int) -> timedelta:
    """Exponential with ±20% jitter, so retries of many rows do not arrive together."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.8, 1.2)


def _key(cycle_or_scope, kind: str, occasion: str, recipient: str, channel: str) -> str:
    scope = f"c{cycle_or_scope.pk}" if isinstance(cycle_or_scope, RefillCycle) else cycle_or_scope
    return f"{scope}:{kind}:{occasion}:{recipient}:{channel}"


def _create(
    *, patient, cycle, kind, occasion, recipient, due_at, status=Delivery.Status.PENDING, payload=None, scope=None
):
    rows = []
    for channel in recipient.channels:
        key = _key(scope or cycle, kind, occasion, recipient.key, channel)
        row, created = Delivery.objects.get_or_create(
            key=key,
            defaults={
                "patient": patient,
                "cycle": cycle,
                "kind": kind,
                "occasion": occasion,
                "recipient": recipient.key,
                "recipient_user": recipient.user,
                "channel": channel,
                "due_at": due_at,
                "next_attempt_at": due_at,
                "status": status,
                "payload": payload or {},
            },
        )
        if created:
            rows.append(row)
    return rows


# --- Planning ---------------------------------------------------------------------------


def plan_cycle(cycle: RefillCycle, patient: Patient, now: datetime, *, old_due: datetime | None = None) -> None:
    """Replace the unsent plan of a cycle with one made from its current forecast. Call inside
    the transaction that stored the forecast."""
    unsent = Delivery.objects.filter(cycle=cycle, status__in=UNSENT, kind__in=PLAN_KINDS)
    if cycle.ended_at is not None or cycle.refill_due_at is None or not patient.is_active:
        unsent.update(status=Delivery.Status.SKIPPED, last_error="plan ended")
        cycle.first_step_at = None
        RefillCycle.objects.filter(pk=cycle.pk).update(first_step_at=None)
        return
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
    RefillCycle.objects.filter(pk=cycle.pk).update(first_step_at=cycle.first_step_at)
    acknowledged = Acknowledgement.objects.filter(cycle=cycle).exists()
    people = recipients.people(patient)
    for planned in reminders.plan(facts, now):
        if acknowledged and planned.kind in ("step_14", "step_3"):
            continue
        status = Delivery.Status.SKIPPED if planned.skipped else Delivery.Status.PENDING
        for person in people:
            _create(
                patient=patient,
                cycle=cycle,
                kind=planned.kind,
                occasion=planned.occasion,
                recipient=person,
                due_at=planned.due_at,
                status=status,
            )
    _create(
        patient=patient,
        cycle=cycle,
        kind="overdue_clinic",
        occasion="",
        recipient=recipients.for_clinic(patient.clinic),
        due_at=cycle.refill_due_at,
    )
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
    everyone. Only a refill cancels the 1-day step and the overdue messages."""
    now = now or timezone.now()
    with transaction.atomic():
        _, created = Acknowledgement.objects.get_or_create(
            cycle=cycle, recipient=recipient_key, defaults={"acknowledged_at": now}
        )
        Delivery.objects.filter(cycle=cycle, kind__in=("step_14", "step_3"), status__in=UNSENT).update(
            status=Delivery.Status.SKIPPED, last_error="acknowledged"
        )
    return created


# --- The minute tick ----------------------------------------------------------------------


def tick(now: datetime, *, batch: int = BATCH) -> list[int]:
    """Open what falls due, collapse stale catch-up messages, and claim due rows. Returns the
    claimed ids; the caller hands each to a worker after the transaction commits."""
    with transaction.atomic():
        _open_overdue(now)
        _collapse(now)
        return _claim(now, batch)


def _open_overdue(now: datetime) -> None:
    overdue = (
        RefillCycle.objects.filter(ended_at__isnull=True, refill_due_at__lte=now)
        .select_related("patient__clinic", "patient__user")
        .filter(patient__status=Patient.Status.ACTIVE)
    )
    for cycle in overdue:
        # Each cycle in its own savepoint: one that raises must not stop every reminder.
        try:
            with transaction.atomic():
                _open_overdue_cycle(cycle, now)
        except IntegrityError:  # a second scheduler opened the same item first; it is done
            log.warning("overdue cycle %s: opened by a concurrent tick", cycle.pk)
        except Exception:  # a poison cycle (e.g. an unreadable zone): skip it, log it
            log.exception("overdue cycle %s skipped in this tick", cycle.pk)


def _open_overdue_cycle(cycle: RefillCycle, now: datetime) -> None:
    patient = cycle.patient
    patient_services.open_queue_item(
        patient=patient, kind="overdue", tier=QueueItem.Tier.OVERDUE, source=f"cycle:{cycle.pk}", now=now
    )
    if cycle.empty_at is not None and cycle.empty_at <= now:
        patient_services.open_queue_item(
            patient=patient, kind="predicted_empty", tier=QueueItem.Tier.DEVICE, source=f"cycle:{cycle.pk}", now=now
        )
    # The daily repeat is the latest reminder hour on the patient's clock at or before now (not
    # the first one after now - 24 h, which on a 23-hour DST day is yesterday's, an hour late).
    repeat_at = latest_at_hour_before(now, patient.clinic.reminder_hour, patient.time_zone)
    if cycle.refill_due_at < repeat_at:
        for person in recipients.people(patient):
            _create(
                patient=patient,
                cycle=cycle,
                kind="overdue",
                occasion=reminders.local_date(repeat_at, patient.time_zone),
                recipient=person,
                due_at=repeat_at,
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


def _claim(now: datetime, batch: int) -> list[int]:
    due = (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(
            Q(status__in=UNSENT, next_attempt_at__lte=now)
            | Q(status=Delivery.Status.SENDING, lease_expires_at__lte=now)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    )
    ids = list(due)
    if ids:
        Delivery.objects.filter(pk__in=ids).update(status=Delivery.Status.SENDING, lease_expires_at=now + LEASE)
    return ids


# --- Sending ------------------------------------------------------------------------------


def deliver(delivery_id: int, now: datetime | None = None) -> str:
    """Send one claimed row and record the outcome. Returns the row's new status."""
    now = now or timezone.now()
    row = (
        Delivery.objects.select_related("patient__clinic", "patient__user", "cycle", "recipient_user")
        .filter(pk=delivery_id, status=Delivery.Status.SENDING)
        .first()
    )
    if row is None:
        return "not claimed"
    # An attempt counts when a worker tries to send, not when a lease is handed out again.
    Delivery.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
    row.attempts += 1
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


def claim_now(ids: list[int], now: datetime) -> list[int]:
    """Claim specific due rows at once (an emergency alert should not wait for the next tick).
    Rows another worker or the tick already claimed are left alone."""
    with transaction.atomic():
        mine = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status__in=UNSENT, next_attempt_at__lte=now)
            .values_list("pk", flat=True)
        )
        if mine:
            Delivery.objects.filter(pk__in=mine).update(status=Delivery.Status.SENDING, lease_expires_at=now + LEASE)
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
