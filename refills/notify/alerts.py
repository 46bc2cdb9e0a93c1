"""Check-in alerts (SPEC §6): their rows are made inside the transaction that saves the check-in,
and after the commit they are claimed and handed to a worker at once, rather than at the next
tick. A broker outage only delays them: the rows the broker did not take go back to pending,
and the urgent tick (or the minute tick) sends them once it can."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from django.db import DatabaseError, transaction
from django.utils import timezone

from patients.models import Patient

from ..tasks import send_delivery
from . import outbox

log = logging.getLogger(__name__)

BROKER_DOWN = "broker unavailable: the minute tick sends it"


def send(*, patient: Patient, scope: str, kind: str, people, due_at: datetime, payload: dict) -> list[int]:
    """The alert rows for `people` (outbox.create_alerts), handed over to workers once the
    transaction commits (nothing goes out if it rolls back). Call inside the transaction that
    saves what the alert is about. Returns the rows' ids."""
    ids = outbox.create_alerts(patient=patient, scope=scope, kind=kind, people=people, due_at=due_at, payload=payload)
    transaction.on_commit(partial(hand_over, ids))
    return ids


def hand_over(ids: list[int]) -> None:
    """After the commit: claim the alert rows and give each to a worker at once. If the broker
    cannot take them, the rest go back to pending with the reason, and the tick sends them once
    the broker is back: a delay, never a loss. The broker gets one try, not Celery's retries:
    the person waiting for the guidance page must not wait."""
    if not ids:
        return
    try:
        claimed = outbox.claim_now(list(ids), timezone.now())
    except DatabaseError:
        log.exception("could not claim check-in alerts %s; the tick will send them", ids)
        return
    handed = 0
    try:
        with send_delivery.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0)
            for pk, token in claimed:
                send_delivery.apply_async(args=[pk, token], connection=connection, retry=False)
                handed += 1
    except Exception:  # any broker failure: the rows wait in the database for the tick
        waiting = [pk for pk, _token in claimed[handed:]]
        log.warning("broker unavailable: %d check-in alert(s) wait for the tick", len(waiting), exc_info=True)
        outbox.release(waiting, BROKER_DOWN)
