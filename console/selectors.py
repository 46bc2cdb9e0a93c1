"""Reads for the clinic console: the patient list, the refill board and the triage queue's
items (the patient panel's are in panel_selectors.py).

Statuses (SPEC §7) are worked out in the database as well as in Python: refills.selectors.annotate
puts the open cycle's columns on each patient, `with_statuses` turns them into one flag per
status and a rank (the most urgent status), so that filters, sorting and pagination happen in
the one query that fetches a page. refills.domain.statuses.statuses says the same thing in
Python for the rows shown; both read the same `now`.

Every function here runs a fixed number of queries, whatever the number of rows.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from django.db.models import (
    BooleanField,
    Case,
    F,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)

from patients import wording
from patients.access import staff_clinics, visible_patients
from patients.models import Patient, QueueItem
from refills import selectors as refill_selectors
from refills.domain import catalog
from refills.domain import statuses as refill_statuses
from refills.domain.clock import days_between

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class CycleColumns(TypedDict):
        """The open cycle's instants that refills.selectors.annotate adds to each patient."""

        cycle_refill_due_at: datetime | None
        cycle_empty_at: datetime | None
        cycle_appointment_at: datetime | None
        cycle_first_step_at: datetime | None

    StatusPatient = WithAnnotations[Patient, CycleColumns]  # a patient from `with_statuses`

P = TypeVar("P", bound=Patient)

ORDER = refill_statuses.ORDER
LABELS = refill_statuses.LABELS
EOS_WARNING = refill_statuses.END_OF_SERVICE_WARNING
BOARD_DAYS = 30


# --- Whose patients -------------------------------------------------------------------------


def console_patients(user) -> QuerySet[Patient]:
    """The patients of the clinics where this user is staff or admin; none for anyone else
    (a patient or caregiver sees no clinic list, even of people they can see)."""
    return visible_patients(user).filter(clinic__in=staff_clinics(user))


# --- Statuses in the database --------------------------------------------------------------


def latest_implant_date(by: date, years: int) -> date:
    """The latest implant date whose battery limit (implant + `years`, 29 February → 28
    February, as PumpProfile.end_of_service_date) is on or before `by`."""
    try:
        cutoff = by.replace(year=by.year - years)
    except ValueError:  # `by` is 29 February
        cutoff = by.replace(year=by.year - years, day=28)
    if by.month == 2 and by.day == 28 and calendar.isleap(cutoff.year):
        cutoff = cutoff.replace(day=29)  # 29 February + years is 28 February: on `by`
    return cutoff


def eos_on_or_before(by: date, prefix: str = "pump__") -> Q:
    """End of service (PumpProfile.end_of_service_date, the earlier of ERI + 90 days and the
    battery limit) falls on or before `by`, as plain comparisons on the stored columns."""
    condition = Q(**{f"{prefix}eri_date__lte": by - timedelta(days=catalog.END_OF_SERVICE_AFTER_ERI_DAYS)})
    for years in sorted({m.max_battery_years for m in catalog.CATALOG.values() if m.max_battery_years}):
        models = [key for key, m in catalog.CATALOG.items() if m.max_battery_years == years]
        condition |= Q(**{f"{prefix}model__in": models, f"{prefix}implant_date__lte": latest_implant_date(by, years)})
    return condition


def status_conditions(now: datetime) -> dict[str, Q]:
    """Each status of refills.domain.statuses.statuses as a condition on an annotated patient
    (`due_soon` here ignores `overdue`; the flags below keep them apart)."""
    return {
        "empty": Q(cycle_empty_at__lte=now),
        "overdue": Q(cycle_refill_due_at__lte=now),
        "due_soon": Q(cycle_first_step_at__lte=now, cycle_refill_due_at__isnull=False),
        "discrepancy": Q(latest_refill_discrepancy=True, latest_refill_resolved_at__isnull=True),
        "end_of_service_near": eos_on_or_before(now.date() + EOS_WARNING),
    }


def _flag(condition: Q) -> Case:
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def with_statuses(patients: QuerySet[Patient], now: datetime) -> QuerySet[StatusPatient]:
    """refills.selectors.annotate, plus one boolean per status (`is_<status>`) and `status_rank`
    (the index in ORDER of the most urgent status; 5 is "ok")."""
    conditions = status_conditions(now)
    annotated = refill_selectors.annotate(patients).annotate(
        **{f"is_{name}": _flag(condition) for name, condition in conditions.items() if name != "due_soon"}
    )
    annotated = annotated.annotate(
        is_due_soon=_flag(conditions["due_soon"] & Q(is_overdue=False)),
    )
    annotated = annotated.annotate(
        is_ok=_flag(
            Q(is_empty=False, is_overdue=False, is_due_soon=False, is_discrepancy=False, is_end_of_service_near=False)
        ),
    )
    return annotated.annotate(
        status_rank=Case(
            *(When(**{f"is_{name}": True}, then=Value(rank)) for rank, name in enumerate(ORDER[:-1])),
            default=Value(len(ORDER) - 1),
            output_field=IntegerField(),
        )
    )


def by_urgency(patients: QuerySet[P]) -> QuerySet[P]:
    """Most urgent status first, then the earliest refill due (none last), then by name."""
    return patients.order_by("status_rank", F("cycle_refill_due_at").asc(nulls_last=True), "full_name", "pk")


def statuses_of(patient: Patient, now: datetime) -> list[str]:
    """The statuses of a patient annotated by `with_statuses`, by refills.domain.statuses itself."""
    return refill_statuses.statuses(refill_selectors.facts_of(patient), now)


def status_words(found: list[str]) -> str:
    return ", ".join(str(LABELS[s]) for s in found)


# --- The patient list ----------------------------------------------------------------------


def patient_list(
    user, now: datetime, *, search: str = "", statuses: Sequence[str] = (), states: Sequence[str] = ()
) -> QuerySet[Patient]:
    """The staff member's patients, filtered and sorted by urgency; unevaluated, so that a
    paginator fetches one page in one query (plus its count)."""
    patients = with_statuses(console_patients(user), now)
    search = search.strip()
    if search:
        match = Q(full_name__icontains=search) | Q(email__icontains=search) | Q(user__email__icontains=search)
        reference = wording.patient_id_of_reference(search)  # "P42", the name e-mails to the clinic use
        if reference is not None:
            match |= Q(pk=reference)
        patients = patients.filter(match)
    if states:
        patients = patients.filter(status__in=states)
    if statuses:
        wanted = Q()
        for name in statuses:
            wanted |= Q(**{f"is_{name}": True})
        patients = patients.filter(wanted)
    return by_urgency(patients.select_related("clinic"))


@dataclass(frozen=True)
class ListRow:
    patient: Patient
    statuses: list[str]
    refill_due_at: datetime | None
    days_left: int | None
    appointment_at: datetime | None

    @property
    def status_words(self) -> str:
        return status_words(self.statuses)

    @property
    def zone(self) -> str:
        return self.patient.time_zone


def list_rows(patients, now: datetime) -> list[ListRow]:
    return [
        ListRow(
            patient=p,
            statuses=statuses_of(p, now),
            refill_due_at=p.cycle_refill_due_at,
            days_left=days_between(p.cycle_refill_due_at, now, p.time_zone) if p.cycle_refill_due_at else None,
            appointment_at=p.cycle_appointment_at,
        )
        for p in patients
    ]


# --- The refill board -----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    patient: Patient
    statuses: list[str]
    refill_due_at: datetime | None  # shown when within the window (or overdue)
    empty_at: datetime | None
    appointment_at: datetime | None
    end_of_service_on: date | None
    day: date | None  # the clinic-local day it is listed under; None: "needs action now"
    clinic_zone: str

    @property
    def status_words(self) -> str:
        return status_words(self.statuses)

    @property
    def needs_action_now(self) -> bool:
        return self.day is None


@dataclass
class Board:
    start: datetime
    end: datetime
    now_rows: list[BoardRow] = field(default_factory=list)  # overdue, empty, end of service passed
    days: list[tuple[date, list[BoardRow]]] = field(default_factory=list)

    @property
    def rows(self) -> list[BoardRow]:
        return self.now_rows + [row for _, rows in self.days for row in rows]


def board_patients(user, now: datetime, days: int = BOARD_DAYS) -> QuerySet[StatusPatient]:
    """Active patients whose refill falls due before the window ends (overdue ones included),
    or whose pump reaches end of service by then. One query."""
    until = now + timedelta(days=days)
    patients = with_statuses(console_patients(user), now).filter(status=Patient.Status.ACTIVE)
    patients = patients.filter(Q(cycle_refill_due_at__lt=until) | eos_on_or_before(until.date()))
    return by_urgency(patients.select_related("clinic"))


def refill_board(user, now: datetime, days: int = BOARD_DAYS) -> Board:
    """The board: what needs action now on top (overdue, predicted empty, end of service
    passed), then one group per day of the clinic's clock, earliest first."""
    until = now + timedelta(days=days)
    board = Board(start=now, end=until)
    grouped: dict[date, list[BoardRow]] = {}
    for patient in board_patients(user, now, days):
        zone = ZoneInfo(patient.clinic.time_zone)
        today = now.astimezone(zone).date()
        found = statuses_of(patient, now)
        due = patient.cycle_refill_due_at
        due = due if due is not None and due < until else None
        pump = getattr(patient, "pump", None)
        eos = pump.end_of_service_date if pump else None
        eos_due = eos if eos is not None and eos <= until.date() else None
        urgent = "empty" in found or "overdue" in found or (eos_due is not None and eos_due < today)
        candidates = [d for d in ((due.astimezone(zone).date() if due else None), eos_due) if d is not None]
        row = BoardRow(
            patient=patient,
            statuses=found,
            refill_due_at=due,
            empty_at=patient.cycle_empty_at,
            appointment_at=patient.cycle_appointment_at,
            end_of_service_on=eos,
            day=None if urgent or not candidates else min(candidates),
            clinic_zone=patient.clinic.time_zone,
        )
        if row.day is None:
            board.now_rows.append(row)
        else:
            grouped.setdefault(row.day, []).append(row)
    board.days = [(day, rows) for day, rows in sorted(grouped.items())]
    return board


# --- The triage queue -----------------------------------------------------------------------
# patients.queue selects the items a user may work (open_items, recently_resolved, get_item).


def without_patient(items):
    """The items without their patient joined: attach_statuses fetches the patients."""
    return items.select_related(None).select_related("clinic", "acknowledged_by", "resolved_by")


def attach_statuses(items: list[QueueItem]) -> list[QueueItem]:
    """Each item's patient, annotated for its statuses: one query for any number of items."""
    prefetch_related_objects(items, Prefetch("patient", queryset=refill_selectors.annotate(Patient.objects.all())))
    return items


def annotated_patient(item: QueueItem) -> QueueItem:
    item.patient = refill_selectors.annotate(Patient.objects.filter(pk=item.patient_id)).get()
    return item
