"""The reads of the refill record: what pages, the API and the console show, never a write
(writes are in refills.services).

- The forecast stored on a cycle: `stored_inputs` reads its inputs back (the codec, both ways,
  is refills.domain.inputs_json; refills.services writes with its `inputs_to_json`).
- Statuses (SPEC §7): `annotate` puts the open cycle's columns and an open discrepancy on a
  patient queryset in the same query, so a list page costs the same for 1 patient or 200;
  `facts_of` reads them back for the pure rule, refills.domain.statuses.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from .domain.forecast import ForecastInputs
from .domain.inputs_json import inputs_from_json
from .domain.statuses import Facts
from .models import PumpEvent, RefillCycle

# --- The stored forecast ----------------------------------------------------------------------


def stored_inputs(cycle: RefillCycle, now: datetime) -> ForecastInputs | None:
    """The forecast inputs saved with the cycle's forecast, as of `now`."""
    return inputs_from_json(cycle.forecast_inputs or {}, now)


# --- Statuses -------------------------------------------------------------------------------


def annotate(patients: QuerySet) -> QuerySet:
    """Open-cycle columns (the forecast and the first step's instant) and an open discrepancy,
    in the same query."""
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
