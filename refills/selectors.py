"""The reads of the refill record: what pages, the API and the console show, never a write
(writes are in refills.services).

- The "next refill due" card (`refill_cards`, `RefillCard`) of the home pages and a patient's
  page. It reads the forecast stored on the open RefillCycle (one query for any number of
  patients); only the volume now depends on the current instant, and it is worked out from the
  forecast inputs stored on the same row, so no events are loaded.
- The forecast stored on a cycle: `stored_inputs` reads its inputs back (the codec, both ways,
  is refills.domain.inputs_json; refills.services writes with its `inputs_to_json`).
- Statuses (SPEC §7): `annotate` puts the open cycle's columns and an open discrepancy on a
  patient queryset in the same query, so a list page costs the same for 1 patient or 200;
  `facts_of` reads them back for the pure rule, refills.domain.statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Patient

from .domain.forecast import ForecastInputs, forecast
from .domain.inputs_json import inputs_from_json
from .domain.statuses import Facts
from .models import PumpEvent, RefillCycle
from .words import date_in_words, days_left_in_words, local, reason_sentence, when_in_words

# --- The stored forecast ----------------------------------------------------------------------


def stored_inputs(cycle: RefillCycle, now: datetime) -> ForecastInputs | None:
    """The forecast inputs saved with the cycle's forecast, as of `now`."""
    return inputs_from_json(cycle.forecast_inputs or {}, now)


# --- The "next refill due" card -------------------------------------------------------------


@dataclass(frozen=True)
class RefillCard:
    patient: Patient
    has_forecast: bool
    no_forecast: str = ""  # why there is no date, in one plain sentence
    due_date: str = ""
    days_left: int | None = None
    days_left_words: str = ""
    reason: str = ""
    reason_sentence: str = ""
    appointment: str = ""
    volume_now_ml: Decimal | None = None
    concentration_mcg_per_ml: Decimal | None = None
    daily_dose_mcg: Decimal | None = None
    last_refill: str = ""

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    @property
    def due_today(self) -> bool:
        return self.days_left == 0


def open_cycles(patients) -> dict[int, RefillCycle]:
    """The open refill cycle of each patient, in one query."""
    ids = [p.pk for p in patients]
    if not ids:
        return {}
    return {c.patient_id: c for c in RefillCycle.objects.filter(patient_id__in=ids, ended_at__isnull=True)}


def build_card(patient: Patient, cycle: RefillCycle | None, now: datetime) -> RefillCard:
    if not patient.is_active:
        return RefillCard(
            patient,
            has_forecast=False,
            no_forecast=_("There is no refill date because this record is marked “%(status)s”.")
            % {"status": patient.get_status_display()},
        )
    if cycle is None or not cycle.has_forecast:
        return RefillCard(
            patient,
            has_forecast=False,
            no_forecast=_("There is no refill date yet. It will show here after the clinic records a refill."),
        )
    zone = patient.time_zone
    inputs = stored_inputs(cycle, now)
    days = (local(cycle.refill_due_at, zone).date() - local(now, zone).date()).days
    return RefillCard(
        patient,
        has_forecast=True,
        due_date=date_in_words(cycle.refill_due_at, zone, now=now),
        days_left=days,
        days_left_words=days_left_in_words(days),
        reason=cycle.refill_due_reason,
        reason_sentence=reason_sentence(cycle.refill_due_reason, inputs.max_days_in_pump if inputs else None),
        appointment=when_in_words(cycle.appointment_at, zone) if cycle.appointment_at else "",
        volume_now_ml=forecast(inputs).volume_now_ml if inputs else None,
        concentration_mcg_per_ml=inputs.program.concentration_mcg_per_ml if inputs else None,
        daily_dose_mcg=cycle.daily_dose_mcg,
        last_refill=date_in_words(inputs.last_fill_at, zone, year=True) if inputs else "",
    )


def refill_cards(patients, now: datetime | None = None) -> list[RefillCard]:
    """One card per patient, in the order given; one query whatever their number."""
    now = now or timezone.now()
    patients = list(patients)
    cycles = open_cycles(patients)
    return [build_card(p, cycles.get(p.pk), now) for p in patients]


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
