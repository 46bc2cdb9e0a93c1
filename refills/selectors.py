"""The reads of the refill record: what pages, the API and the console show, never a write
(writes are in refills.services).

- The "next refill due" card (`refill_cards`, `RefillCard`) of the home pages and a patient's
  page. It reads the forecast stored on the open RefillCycle (one query for any number of
  patients); only the volume now depends on the current instant, and it is worked out from the
  forecast inputs stored on the same row, so no events are loaded.
- The forecast stored on a cycle: `stored_inputs` reads its inputs back (the codec, both ways,
  is refills.domain.inputs_json; refills.services writes with its `inputs_to_json`).
- A patient's reminder plan (SPEC §5): `reminder_plan` for the staff page and the API (every
  row, or one person's own), and `plan_deliveries` + `plan_lines`, the rows of the plan and the
  lines they make, which the console's panel reads too.
- Statuses (SPEC §7): `annotate` puts the open cycle's columns and an open discrepancy on a
  patient queryset in the same query, so a list page costs the same for 1 patient or 200;
  `facts_of` reads them back for the pure rule, refills.domain.statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy

from patients import wording
from patients.models import Patient

from .domain import chain
from .domain.clock import days_between
from .domain.forecast import Forecast, ForecastInputs, forecast
from .domain.inputs_json import inputs_from_json
from .domain.programs import parse_program
from .domain.statuses import Facts
from .models import Acknowledgement, Delivery, PumpEvent, PumpProfile, RefillCycle
from .notify import recipients
from .notify.kinds import END_OF_SERVICE, label_of
from .notify.outbox import UNSENT
from .words import date_in_words, days_left_in_words, reason_sentence, when_in_words

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

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
    no_appointment: str = ""  # what to do when none is booked, said to the reader
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


def build_card(patient: Patient, cycle: RefillCycle | None, now: datetime, role: str) -> RefillCard:
    """The card of `patient` as `role` (patient, caregiver or staff) reads it."""
    who = wording.reader(role, patient.full_name)
    if not patient.is_active:
        return RefillCard(
            patient,
            has_forecast=False,
            no_forecast=wording.say("refill.no_date_status", who, status=patient.get_status_display()),
        )
    if cycle is None or cycle.refill_due_at is None:  # no forecast (has_forecast, spelled out)
        return RefillCard(patient, has_forecast=False, no_forecast=wording.say("refill.no_date_yet", who))
    zone = patient.time_zone
    inputs = stored_inputs(cycle, now)
    days = days_between(cycle.refill_due_at, now, zone)
    return RefillCard(
        patient,
        has_forecast=True,
        due_date=date_in_words(cycle.refill_due_at, zone, now=now),
        days_left=days,
        days_left_words=days_left_in_words(days, who),
        reason=cycle.refill_due_reason,
        reason_sentence=reason_sentence(cycle.refill_due_reason, who, inputs.max_days_in_pump if inputs else None),
        appointment=when_in_words(cycle.appointment_at, zone) if cycle.appointment_at else "",
        no_appointment=wording.say("refill.no_appointment", who),
        volume_now_ml=forecast(inputs).volume_now_ml if inputs else None,
        concentration_mcg_per_ml=inputs.program.concentration_mcg_per_ml if inputs else None,
        daily_dose_mcg=cycle.daily_dose_mcg,
        last_refill=date_in_words(inputs.last_fill_at, zone, year=True) if inputs else "",
    )


def refill_cards(patients, roles: Sequence[str], now: datetime | None = None) -> list[RefillCard]:
    """One card per patient, in the order given, each worded for its reader (`roles`, one per
    patient: patient, caregiver or staff); one query whatever their number."""
    now = now or timezone.now()
    patients = list(patients)
    cycles = open_cycles(patients)
    return [build_card(p, cycles.get(p.pk), now, role) for p, role in zip(patients, roles, strict=True)]


# --- A patient's reminder plan (the staff page, the API and the console panel) --------------

STATUS_WORDS: dict[str, StrPromise] = {
    Delivery.Status.PENDING: gettext_lazy("Waiting to be sent"),
    Delivery.Status.SENDING: gettext_lazy("Being sent now"),
    Delivery.Status.SENT: gettext_lazy("Sent"),
    Delivery.Status.SKIPPED: gettext_lazy("Not sent: no longer needed"),
    Delivery.Status.FAILED: gettext_lazy("Not sent yet: will try again"),
    Delivery.Status.DEAD: gettext_lazy("Could not be sent"),
}
STATUS_SHORT: dict[str, StrPromise] = {
    Delivery.Status.PENDING: gettext_lazy("waiting"),
    Delivery.Status.SENDING: gettext_lazy("being sent"),
    Delivery.Status.SENT: gettext_lazy("sent"),
    Delivery.Status.SKIPPED: gettext_lazy("not needed"),
    Delivery.Status.FAILED: gettext_lazy("will try again"),
    Delivery.Status.DEAD: gettext_lazy("could not be sent"),
}
CHANNEL_WORDS: dict[str, StrPromise] = {
    Delivery.Channel.EMAIL: gettext_lazy("E-mail"),
    Delivery.Channel.SMS: gettext_lazy("Text message"),
    Delivery.Channel.INBOX: gettext_lazy("Message in the app"),
}
ROLE_WORDS = {
    "patient": gettext_lazy("Patient"),
    "caregiver": gettext_lazy("Caregiver"),
    "clinic": gettext_lazy("Clinic"),
    "former": gettext_lazy("Former caregiver"),
}


def kind_label(kind: str) -> str:
    return label_of(kind)


@dataclass(frozen=True)
class Addressee:
    key: str  # user:<id>, patient:<id> or clinic:<id>
    role: str  # patient | caregiver | clinic | former
    name: str

    @property
    def role_words(self) -> str:
        return str(ROLE_WORDS.get(self.role, self.role))


@dataclass(frozen=True)
class PlanLine:
    """One message of the plan: a kind at an instant, with how its rows stand."""

    kind: str
    occasion: str
    due_at: datetime
    statuses: dict[str, int]

    @property
    def label(self) -> str:
        return kind_label(self.kind)

    @property
    def status_words(self) -> str:
        return ", ".join(f"{n} {STATUS_SHORT.get(status, status)}" for status, n in sorted(self.statuses.items()))


@dataclass(frozen=True)
class DeliveryLine:
    row: Delivery
    to: Addressee

    @property
    def label(self) -> str:
        return kind_label(self.row.kind)

    @property
    def channel_words(self) -> str:
        return str(CHANNEL_WORDS.get(self.row.channel, self.row.channel))

    @property
    def status_words(self) -> str:
        return str(STATUS_WORDS.get(self.row.status, self.row.status))

    @property
    def next_attempt_at(self) -> datetime | None:
        return self.row.next_attempt_at if self.row.status in UNSENT else None


@dataclass(frozen=True)
class AckLine:
    ack: Acknowledgement
    by: Addressee


@dataclass
class ReminderPlan:
    patient: Patient
    cycle: RefillCycle | None
    lines: list[PlanLine]  # the open cycle's messages, by due instant
    end_of_service: list[PlanLine]
    acknowledged: bool  # by anyone: the 14- and 3-day steps are cancelled for everyone
    acknowledgements: list[AckLine]
    deliveries: QuerySet  # every row this viewer may see, ordered; paginate it
    addressees: dict[str, Addressee] = field(default_factory=dict)

    @property
    def appointment_warning(self) -> str:
        return appointment_warning(self.cycle)

    def addressee(self, row: Delivery) -> Addressee:
        known = self.addressees.get(row.recipient)
        if known is not None:
            return known
        if row.recipient_user is not None:  # a caregiver whose link has since been revoked
            return Addressee(row.recipient, "former", row.recipient_user.full_name)
        return Addressee(row.recipient, "", row.recipient)

    def delivery_lines(self, rows) -> list[DeliveryLine]:
        return [DeliveryLine(row, self.addressee(row)) for row in rows]


APPOINTMENT_AFTER_DUE = "This appointment is after the refill due date: the pump may alarm or run low first."


def appointment_warning(cycle: RefillCycle | None) -> str:
    """The warning shown to staff (the appointment is saved anyway) when the booked appointment
    is after the refill due date: on booking (appointments.book_appointment) and after."""
    if cycle is None or cycle.appointment_at is None or cycle.refill_due_at is None:
        return ""
    return APPOINTMENT_AFTER_DUE if cycle.appointment_at > cycle.refill_due_at else ""


def _addressees(patient: Patient) -> dict[str, Addressee]:
    everyone = [*recipients.people(patient), recipients.for_clinic(patient.clinic)]
    return {r.key: Addressee(r.key, r.role, r.name) for r in everyone}


def open_cycle(patient: Patient) -> RefillCycle | None:
    return RefillCycle.objects.filter(patient=patient, ended_at__isnull=True).first()


def plan_deliveries(patient: Patient, cycle: RefillCycle | None) -> QuerySet[Delivery]:
    """The rows of a patient's plan: the open cycle's messages and the end-of-service notices
    (which belong to no cycle)."""
    scope = Q(cycle__isnull=True, kind__in=END_OF_SERVICE)
    if cycle is not None:
        scope |= Q(cycle=cycle)
    return Delivery.objects.filter(scope, patient=patient)


def plan_lines(rows: QuerySet[Delivery], *, by_occasion: bool = True) -> tuple[list[PlanLine], list[PlanLine]]:
    """The rows as one line per message, by due instant, with how many rows are in each status:
    (the cycle's lines, the end-of-service notices' lines). A message is a kind at an instant
    and, by_occasion, its occasion (the console's panel groups without it, so its lines have
    none). One query."""
    occasion = ("occasion",) if by_occasion else ()
    grouped: dict[tuple[str, str, datetime], dict[str, int]] = {}
    for item in rows.order_by().values("kind", *occasion, "due_at", "status").annotate(n=Count("pk")):
        grouped.setdefault((item["kind"], item.get("occasion", ""), item["due_at"]), {})[item["status"]] = item["n"]
    lines = sorted(
        (PlanLine(*key, statuses) for key, statuses in grouped.items()), key=lambda line: (line.due_at, line.kind)
    )
    return (
        [line for line in lines if line.kind not in END_OF_SERVICE],
        [line for line in lines if line.kind in END_OF_SERVICE],
    )


def reminder_plan(patient: Patient, *, only_recipient: str | None = None) -> ReminderPlan:
    """The open cycle's plan, its deliveries, acknowledgements and the end-of-service notices.
    Staff see every row; pass only_recipient ("user:<id>") for a patient or caregiver, who see
    only their own rows. A constant number of queries, however many rows there are."""
    cycle = open_cycle(patient)
    rows = plan_deliveries(patient, cycle)
    if only_recipient is not None:
        rows = rows.filter(recipient=only_recipient)
    lines, end_of_service = plan_lines(rows)
    acks = list(Acknowledgement.objects.filter(cycle=cycle).order_by("acknowledged_at")) if cycle else []
    addressees = _addressees(patient)
    plan = ReminderPlan(
        patient=patient,
        cycle=cycle,
        lines=lines,
        end_of_service=end_of_service,
        acknowledged=bool(acks),
        acknowledgements=[],
        deliveries=rows.select_related("recipient_user").order_by("due_at", "kind", "recipient", "channel", "pk"),
        addressees=addressees,
    )
    plan.acknowledgements = [
        AckLine(ack, addressees.get(ack.recipient) or Addressee(ack.recipient, "former", ""))
        for ack in acks
        if only_recipient is None or ack.recipient == only_recipient
    ]
    return plan


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


# --- The pump-event chain ------------------------------------------------------------------


def effective_values(event: PumpEvent, corrections: list[PumpEvent]) -> dict:
    """The values in force: the latest correction's, else the event's own."""
    latest = max(
        (c for c in corrections if c.corrects_id == event.pk), key=lambda c: (c.recorded_at, c.pk), default=None
    )
    return latest.values if latest else event.values


def chain_event(event: PumpEvent, values: dict) -> chain.ChainEvent:
    def dec(name):
        return Decimal(values[name]) if values.get(name) not in (None, "") else None

    printout = values.get("printout_alarm_date")
    return chain.ChainEvent(
        key=event.pk,
        kind=event.kind,
        at=event.occurred_at,
        utc_offset_minutes=event.utc_offset_minutes,
        capacity_ml=event.capacity_ml,
        program=parse_program(values["program"]) if values.get("program") else None,
        volume_ml=dec("volume_ml"),
        aspirated_ml=dec("aspirated_ml"),
        printout_alarm_date=date.fromisoformat(printout) if printout else None,
    )


def chain_settings(patient: Patient, profile: PumpProfile) -> chain.Settings:
    return chain.Settings(
        alarm_volume_ml=profile.alarm_volume_ml,
        max_days_in_pump=profile.max_days_in_pump,
        zone=patient.time_zone,
        reminder_hour=patient.clinic.reminder_hour,
    )


def load_chain(patient: Patient, *, until: datetime | None = None) -> tuple[list[PumpEvent], list[chain.ChainEvent]]:
    events = list(PumpEvent.objects.filter(patient=patient).order_by("occurred_at", "pk"))
    corrections = [e for e in events if e.kind == PumpEvent.Kind.CORRECTION]
    originals = [e for e in events if e.kind != PumpEvent.Kind.CORRECTION and (until is None or e.occurred_at <= until)]
    return originals, [chain_event(e, effective_values(e, corrections)) for e in originals]


def forecast_for(patient: Patient, now: datetime, *, until: datetime | None = None) -> Forecast | None:
    """The forecast as it stands at `now` (from the events up to `until`, default all); None
    for a patient who is not active or has no refill yet."""
    profile = PumpProfile.objects.filter(patient=patient).first()
    if profile is None or not patient.is_active:
        return None
    _, chain_events = load_chain(patient, until=until)
    replayed = chain.replay(chain_events, chain_settings(patient, profile), now)
    return forecast(replayed.inputs) if replayed.inputs else None
