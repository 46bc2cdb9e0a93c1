"""A patient's statuses in the clinic console (SPEC §7). Several may hold; lists sort by the
most urgent. `statuses` is pure; `annotate` adds what it needs to a patient queryset in the
same query, so a list page costs the same for 1 patient or 200."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery

ORDER = ("empty", "overdue", "due_soon", "discrepancy", "end_of_service_near", "ok")
LABELS = {
    "empty": "Predicted empty",
    "overdue": "Refill overdue",
    "due_soon": "Refill due soon",
    "discrepancy": "Refill discrepancy",
    "end_of_service_near": "End of service near",
    "ok": "OK",
}
END_OF_SERVICE_WARNING = timedelta(days=90)


@dataclass(frozen=True)
class Facts:
    refill_due_at: datetime | None
    empty_at: datetime | None
    first_step_at: datetime | None
    discrepancy_open: bool
    end_of_service_on: date | None


def statuses(facts: Facts, now: datetime) -> list[str]:
    found = []
    if facts.empty_at is not None and now >= facts.empty_at:
        found.append("empty")
    if facts.refill_due_at is not None and now >= facts.refill_due_at:
        found.append("overdue")
    elif facts.refill_due_at is not None and facts.first_step_at is not None and now >= facts.first_step_at:
        found.append("due_soon")
    if facts.discrepancy_open:
        found.append("discrepancy")
    if facts.end_of_service_on is not None and now.date() >= facts.end_of_service_on - END_OF_SERVICE_WARNING:
        found.append("end_of_service_near")
    return found or ["ok"]


def rank(found: list[str]) -> int:
    return min(ORDER.index(s) for s in found)


def annotate(patients: QuerySet) -> QuerySet:
    """Open-cycle columns (the forecast and the first step's instant) and an open discrepancy,
    in the same query."""
    from .models import PumpEvent, RefillCycle

    open_cycle = RefillCycle.objects.filter(patient=OuterRef("pk"), ended_at__isnull=True)
    latest_refill = PumpEvent.objects.filter(patient=OuterRef("pk"), kind=PumpEvent.Kind.REFILL).order_by(
        "-occurred_at", "-pk"
    )
    return patients.select_related("pump").annotate(
        cycle_id=Subquery(open_cycle.values("pk")[:1]),
        cycle_refill_due_at=Subquery(open_cycle.values("refill_due_at")[:1]),
        cycle_empty_at=Subquery(open_cycle.values("empty_at")[:1]),
        cycle_appointment_at=Subquery(open_cycle.values("appointment_at")[:1]),
        cycle_first_step_at=Subquery(open_cycle.values("first_step_at")[:1]),
        latest_refill_discrepancy=Subquery(latest_refill.values("discrepancy")[:1]),
        latest_refill_resolved_at=Subquery(latest_refill.values("discrepancy_resolved_at")[:1]),
    )


def facts_of(patient) -> Facts:
    """From a patient annotated by `annotate`."""
    pump = getattr(patient, "pump", None)
    return Facts(
        refill_due_at=patient.cycle_refill_due_at,
        empty_at=patient.cycle_empty_at,
        first_step_at=patient.cycle_first_step_at,
        discrepancy_open=bool(patient.latest_refill_discrepancy) and patient.latest_refill_resolved_at is None,
        end_of_service_on=pump.end_of_service_date if pump else None,
    )
