"""Plain helpers shared by the refills tests (fixtures: tests/refills/conftest.py); the check-in
alert tests send through the same tick."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.db import transaction

from refills.models import Delivery, PumpEvent, RefillCycle
from refills.notify import outbox, planning


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(day: date, hour: int, zone: str, minute: int = 0) -> datetime:
    """That wall-clock time in `zone`, in UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def tick_and_send(now) -> list[str]:
    """One tick at `now` and the sends it hands out, in this process: their outcomes in order."""
    return [outbox.deliver(pk, now) for pk in outbox.tick(now)]


def tick_and_send_at(now: datetime) -> dict[int, str]:
    """One tick and the sends it hands out, in this process, with the clock at `now`."""
    with time_machine.travel(now, tick=False):
        return {pk: outbox.deliver(pk, now) for pk in outbox.tick(now)}


def open_cycle(patient, refill_due_at: datetime, *, empty_at=None, planned_at=None) -> RefillCycle:
    """An open cycle with this refill date (the forecast itself is tested elsewhere), planned
    at `planned_at` the way recording an event plans it."""
    planned_at = planned_at or refill_due_at - timedelta(days=40)
    event = PumpEvent.objects.create(
        patient=patient,
        kind="refill",
        occurred_at=planned_at,
        zone=patient.time_zone,
        utc_offset_minutes=0,
        capacity_ml=20,
        values={},
    )
    cycle = RefillCycle.objects.create(
        patient=patient, started_by=event, started_at=planned_at, refill_due_at=refill_due_at, empty_at=empty_at
    )
    with time_machine.travel(planned_at, tick=False), transaction.atomic():
        planning.plan_cycle(cycle, patient, planned_at)
    return cycle


def due_rows(patient, n: int, now: datetime, *, prefix: str) -> list[Delivery]:
    """n pending e-mails to the patient, due now, in a fixed order (distinct due instants, so
    every claim hands them out in primary-key order)."""
    recipient = f"user:{patient.user_id}"
    rows = [
        Delivery(
            key=f"{prefix}:{i}:test::{recipient}:email",
            patient=patient,
            kind="test",
            occasion=f"{prefix}-{i}",
            recipient=recipient,
            recipient_user_id=patient.user_id,
            channel="email",
            due_at=now - timedelta(minutes=1),
            next_attempt_at=now - timedelta(minutes=1) + timedelta(microseconds=i),
        )
        for i in range(n)
    ]
    return Delivery.objects.bulk_create(rows)
