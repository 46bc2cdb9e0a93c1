"""The booked refill appointment of the open cycle (SPEC §5): book, move or clear it, raise the
calendar SEQUENCE and re-plan the reminders, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients import audit
from patients.models import AuditEvent, Patient, User

from . import selectors, services
from .domain.clock import truncate
from .models import RefillCycle
from .notify import planning

APPOINTMENT_MAX_AHEAD = timedelta(days=365)


@dataclass
class Booked:
    cycle: RefillCycle
    warning: str = ""  # shown to staff; the appointment is saved anyway


def _conflict(message: str) -> ValidationError:
    """A request that does not fit the record as it stands (the API answers 409)."""
    return ValidationError({"appointment_at": ValidationError(message, code="conflict")})


def book_appointment(patient: Patient, at: datetime | None, by: User, *, now: datetime | None = None) -> Booked:
    """Record the booked refill appointment of the open cycle (at=None clears it), raise the
    calendar SEQUENCE and re-plan the reminders (no "book your refill" step while one is booked),
    in one transaction."""
    now = truncate(now or timezone.now())
    with transaction.atomic():
        patient = services.lock_patient(patient, "clinic")
        cycle = RefillCycle.objects.select_for_update().filter(patient=patient, ended_at__isnull=True).first()
        if not patient.is_active:
            status = patient.get_status_display().lower()
            raise _conflict(f"This patient is {status}: there are no refill appointments.")
        if cycle is None or cycle.refill_due_at is None:  # no forecast (has_forecast, spelled out)
            raise _conflict("There is no refill date yet, so there is nothing to book. Record a refill first.")
        if at is not None:
            if timezone.is_naive(at):
                raise ValidationError({"appointment_at": ["Give the time zone of the appointment time."]})
            if at < now:
                raise ValidationError({"appointment_at": ["The appointment cannot be in the past."]})
            if at > now + APPOINTMENT_MAX_AHEAD:
                raise ValidationError({"appointment_at": ["The appointment must be within a year from now."]})
            at = truncate(at)
        cycle.appointment_at = at
        cycle.sequence += 1
        cycle.save(update_fields=["appointment_at", "sequence"])
        planning.plan_cycle(cycle, patient, now)
        action = AuditEvent.Action.UPDATE if at is not None else AuditEvent.Action.DELETE
        audit.record(by, action, "refill_appointment", [patient])
    warning = selectors.appointment_warning(cycle)
    return Booked(cycle=cycle, warning=warning)
