"""Reads for the clinic console's patient panel: everything about one patient for the staff of
their clinic, in a fixed number of queries (console.selectors has the list, board and queue)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, F, OuterRef

from patients.models import AuditEvent, CaregiverLink, Patient
from refills import selectors as refill_selectors
from refills.domain.forecast import Forecast, forecast
from refills.models import Acknowledgement, Delivery, PumpEvent, PumpProfile, RefillCycle
from refills.selectors import PlanLine, effective_values, stored_inputs
from symptoms.models import CheckIn

from .selectors import console_patients, status_words, statuses_of, with_statuses

PANEL_EVENTS = 50
PANEL_CHECKINS = 20
PANEL_AUDIT = 50
FLOOR_ML = Decimal("4.0")  # withdrawal starts above the 2 mL alarm in about a quarter of patients


@dataclass(frozen=True)
class EventLine:
    event: PumpEvent
    values_in_force: dict
    corrected: bool


@dataclass
class Panel:
    patient: Patient  # annotated by `with_statuses`, with clinic and pump
    statuses: list[str]
    pump: PumpProfile | None
    cycle: RefillCycle | None
    forecast: Forecast | None
    events: list[EventLine]
    more_events: bool
    checkins: list[CheckIn]
    caregivers: list[CaregiverLink]
    plan: list[PlanLine]
    end_of_service_plan: list[PlanLine]
    audit: list[AuditEvent]

    @property
    def status_words(self) -> str:
        return status_words(self.statuses)

    @property
    def acknowledged(self) -> bool:
        return bool(self.cycle is not None and getattr(self.cycle, "acknowledged", False))

    @property
    def undelivered(self) -> int:
        return sum(line.statuses.get(Delivery.Status.DEAD, 0) for line in [*self.plan, *self.end_of_service_plan])


def panel_patient(user, patient_id, now: datetime) -> Patient | None:
    """The patient with statuses, clinic and pump, if this user is staff of their clinic."""
    try:
        return with_statuses(console_patients(user), now).select_related("clinic").get(pk=int(patient_id))
    except (Patient.DoesNotExist, TypeError, ValueError):
        return None


def patient_panel(patient: Patient, now: datetime) -> Panel:
    """Everything the panel shows, in a fixed number of queries (seven), however many events,
    check-ins, caregivers, messages or audit rows there are."""
    cycle = (
        RefillCycle.objects.filter(patient=patient, ended_at__isnull=True)
        .annotate(acknowledged=Exists(Acknowledgement.objects.filter(cycle=OuterRef("pk"))))
        .first()
    )
    inputs = stored_inputs(cycle, now) if cycle is not None and cycle.has_forecast else None
    events = list(
        PumpEvent.objects.filter(patient=patient)
        .exclude(kind=PumpEvent.Kind.CORRECTION)
        .select_related("recorded_by")
        .prefetch_related("corrections")
        .order_by("-occurred_at", "-pk")[: PANEL_EVENTS + 1]
    )
    plan, end_of_service_plan = refill_selectors.plan_lines(
        refill_selectors.plan_deliveries(patient, cycle), by_occasion=False
    )
    return Panel(
        patient=patient,
        statuses=statuses_of(patient, now),
        pump=getattr(patient, "pump", None),
        cycle=cycle,
        forecast=forecast(inputs) if inputs else None,
        events=[
            EventLine(e, effective_values(e, list(e.corrections.all())), bool(e.corrections.all()))
            for e in events[:PANEL_EVENTS]
        ],
        more_events=len(events) > PANEL_EVENTS,
        checkins=list(
            CheckIn.objects.filter(patient=patient)
            .select_related("logged_by")
            .order_by("-observed_at", "-pk")[:PANEL_CHECKINS]
        ),
        caregivers=list(
            CaregiverLink.objects.filter(patient=patient)
            .select_related("caregiver")
            .order_by(F("revoked_at").desc(nulls_first=True), "caregiver__full_name", "pk")
        ),
        plan=plan,
        end_of_service_plan=end_of_service_plan,
        audit=list(AuditEvent.objects.filter(patient_id=patient.pk).order_by("-at", "-pk")[:PANEL_AUDIT]),
    )
