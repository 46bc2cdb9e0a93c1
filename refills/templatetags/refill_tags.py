"""How refill dates and pump values are shown to people: the "next refill due" card, dates
in words in the patient's zone, and plain descriptions of an event's values.

The card reads the forecast stored on the open RefillCycle (one query for any number of
patients); only the volume now depends on the current instant, and it is worked out from
the forecast inputs stored on the same row, so no events are loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.translation import gettext as _

from patients import wording
from patients.access import reader_of
from patients.models import Patient
from refills.domain.catalog import CATALOG
from refills.domain.forecast import ForecastInputs, forecast
from refills.domain.programs import parse_program
from refills.models import RefillCycle

register = template.Library()


# --- Words for dates and numbers ------------------------------------------------------------


def _local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def date_in_words(at: datetime | date, zone: str, *, year: bool | None = None, now: datetime | None = None) -> str:
    """ "Thursday 26 November" on the patient's wall clock; the year is added when it is not
    this year (or always, with year=True)."""
    local = _local(at, zone) if isinstance(at, datetime) else at
    if year is None:
        year = local.year != _local(now or timezone.now(), zone).year
    return format_date(local, "l j F Y" if year else "l j F")


def time_in_words(at: datetime, zone: str) -> str:
    return format_date(_local(at, zone), "H:i")


def when_in_words(at: datetime, zone: str, *, year: bool | None = None) -> str:
    """ "Thursday 26 November at 10:30" (the patient's wall clock)."""
    return _("%(date)s at %(time)s") % {"date": date_in_words(at, zone, year=year), "time": time_in_words(at, zone)}


def number(value) -> str:
    """A decimal without trailing zeros: 20.00 → "20", 12.50 → "12.5"."""
    if value in (None, ""):
        return ""
    return f"{Decimal(str(value)).normalize():f}"


@register.filter
def num(value) -> str:
    return number(value)


@register.filter
def local_date(at, zone) -> str:
    """{{ event.occurred_at|local_date:patient.time_zone }} → "Sunday 1 March 2026"."""
    return date_in_words(at, zone, year=True) if at else ""


@register.filter
def local_when(at, zone) -> str:
    """{{ at|local_when:zone }} → "Sunday 1 March 2026 at 09:00 CST"."""
    if not at:
        return ""
    return f"{when_in_words(at, zone, year=True)} {format_date(_local(at, zone), 'T')}"


def days_left_in_words(days: int, who: wording.Reader) -> str:
    """ "in 3 days", "tomorrow", "today", or "2 days ago — call your clinic today" (said to `who`)."""
    return wording.days_left_words(days, who)


def reason_sentence(reason: str, who: wording.Reader, max_days: int | None = None) -> str:
    """Why the refill is due then, said to `who` (patients/wording.py)."""
    key = f"refill.reason.{reason}"
    if key not in wording.SENTENCES:
        return ""
    return wording.say(key, who, days=max_days or "—")


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


def stored_inputs(cycle: RefillCycle, now: datetime) -> ForecastInputs | None:
    """The forecast inputs saved with the cycle's forecast, as of `now`."""
    data = cycle.forecast_inputs or {}
    try:
        printout = data.get("printout_alarm_date")
        return ForecastInputs(
            t0=datetime.fromisoformat(data["t0"]),
            v0_ml=Decimal(data["v0_ml"]),
            program=parse_program(data["program"]),
            pump_utc_offset_minutes=int(data["pump_utc_offset_minutes"]),
            alarm_volume_ml=Decimal(data["alarm_volume_ml"]),
            last_fill_at=datetime.fromisoformat(data["last_fill_at"]),
            max_days_in_pump=int(data["max_days_in_pump"]),
            zone=data["zone"],
            reminder_hour=int(data["reminder_hour"]),
            now=now,
            printout_alarm_date=date.fromisoformat(printout) if printout else None,
            alarms_reported_at=tuple(datetime.fromisoformat(a) for a in data.get("alarms_reported_at") or ()),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None


def build_card(patient: Patient, cycle: RefillCycle | None, now: datetime, role: str) -> RefillCard:
    """The card of `patient` as `role` (patient, caregiver or staff) reads it."""
    who = wording.reader(role, patient.full_name)
    if not patient.is_active:
        return RefillCard(
            patient,
            has_forecast=False,
            no_forecast=wording.say("refill.no_date_status", who, status=patient.get_status_display()),
        )
    if cycle is None or not cycle.has_forecast:
        return RefillCard(patient, has_forecast=False, no_forecast=wording.say("refill.no_date_yet", who))
    zone = patient.time_zone
    inputs = stored_inputs(cycle, now)
    days = (_local(cycle.refill_due_at, zone).date() - _local(now, zone).date()).days
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


@register.inclusion_tag("refills/_patient_panel.html", takes_context=True)
def refill_panel(context, patient):
    """The card and the pump links on a patient's page (staff also get the staff pages)."""
    who = reader_of(context["request"].user, patient)
    return {"card": refill_cards([patient], [who.role])[0], "patient": patient, "is_staff": who.role == wording.STAFF}


# --- An event's values in plain words -------------------------------------------------------


@register.filter
def value_lines(values: dict) -> list[tuple[str, str]]:
    """(label, text) pairs describing a PumpEvent.values dict."""
    values = values or {}
    lines: list[tuple[str, str]] = []

    def ml(key, label):
        if values.get(key) not in (None, ""):
            lines.append((label, f"{number(values[key])} mL"))

    if values.get("model"):
        model = CATALOG.get(values["model"])
        lines.append((_("Pump model"), model.label if model else values["model"]))
    ml("capacity_ml", _("Reservoir size"))
    ml("alarm_volume_ml", _("Low-reservoir alarm volume"))
    if values.get("eri_date"):
        lines.append((_("Battery replacement (ERI) date"), values["eri_date"]))
    ml("volume_ml", _("Volume after the event (V0)"))
    ml("aspirated_ml", _("Volume taken out (aspirated)"))
    program = values.get("program")
    if program:
        lines.append((_("Strength"), f"{number(program.get('concentration_mcg_per_ml'))} mcg/mL"))
        if program.get("mode") == "flex":
            steps = ", ".join(
                f"{s.get('start')} {number(s.get('rate_mcg_per_hour'))} mcg/h" for s in program.get("flex_steps") or []
            )
            lines.append((_("Flex steps (from, rate)"), steps))
        else:
            lines.append((_("Daily dose"), f"{number(program.get('daily_dose_mcg'))} mcg/day"))
        boluses = program.get("boluses") or []
        if boluses:
            lines.append(
                (
                    _("Timed extra doses"),
                    ", ".join(f"{b.get('time')} {number(b.get('dose_mcg'))} mcg" for b in boluses),
                )
            )
        ptm = program.get("ptm")
        if ptm:
            lines.append(
                (
                    _("Patient-activated dose (PTM)"),
                    _("%(dose)s mcg, at most %(max)s a day")
                    % {"dose": number(ptm.get("dose_mcg")), "max": ptm.get("max_per_day")},
                )
            )
    if values.get("printout_alarm_date"):
        lines.append((_("Printout alarm date"), values["printout_alarm_date"]))
    if values.get("tone"):
        lines.append((_("Alarm sound"), _("two tones") if values["tone"] == "two_tone" else _("single tone")))
    return lines
