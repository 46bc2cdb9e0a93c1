"""A check-in's answers (SPEC §6), validated: the symptoms (with the pump-alarm answer's code),
the temperature and its unit, the note and when it was observed (staff may log up to a day
back). `clean` gives every problem at once as field errors and saves nothing; the form, the API
and the triage-only checker all go through it (symptoms.services)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from refills import services as refill_services

from . import triage
from .catalog import in_catalog_order
from .models import CheckIn

STAFF_BACKDATE = timedelta(hours=24)  # staff taking a phone call may log what was seen up to a day ago
CLOCK_SKEW = timedelta(minutes=1)  # a client clock a little ahead is "now", not "the future"
NOW_TOLERANCE = timedelta(minutes=5)  # patients and caregivers log "now"; a client's "now" may lag
NOTE_MAX_CHARS = 2000
TEMPERATURE_PLACES = Decimal("0.01")
MAX_ENTERED_TEMPERATURE = Decimal(1000)

# The form asks about pump alarms as one question. "Unsure" (a sound, but not sure which) is read
# as the two-tone alarm: the more urgent reading, as an alarm not recognised is never a reason
# to wait (the guidance page says so).
PUMP_ALARM_CODES: dict[str, tuple[str, ...]] = {
    "": (),
    CheckIn.PumpAlarm.NONE: (),
    CheckIn.PumpAlarm.SINGLE: ("pump_alarm_single",),
    CheckIn.PumpAlarm.TWO_TONE: ("pump_alarm_critical",),
    CheckIn.PumpAlarm.UNSURE: ("pump_alarm_critical",),
}


@dataclass(frozen=True)
class Answers:
    """A check-in's answers after validation."""

    symptoms: tuple[str, ...]  # what the triage reads: the codes, plus the pump-alarm answer's code
    temperature: Decimal | None  # as entered
    temperature_unit: str  # "C", "F", or "" without a temperature
    temperature_c: Decimal | None  # rounded once to 0.1 °C
    pump_alarm: str
    note: str
    observed_at: datetime


def _entered_number(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError  # Decimal() would also read a list such as [0, [3, 8], -1]
    if isinstance(value, float):
        value = repr(value)  # the digits as typed, not the binary approximation
    if isinstance(value, str):
        value = value.strip()
        if value.count(",") == 1 and "." not in value:
            value = value.replace(",", ".")  # 38,5: a decimal comma
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError from None
    if not number.is_finite():
        raise ValueError
    return number


def _clean_temperature(value, unit, errors: dict) -> tuple[Decimal | None, str, Decimal | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "", None  # a unit without a temperature is ignored: the form always sends one
    unit = unit.strip().upper() if isinstance(unit, str) else unit
    if unit in (None, ""):
        errors["temperature_unit"] = ["Choose °C or °F for the temperature."]
    elif unit not in CheckIn.Unit.values:
        errors["temperature_unit"] = ["Choose °C (C) or °F (F)."]
    try:
        entered = _entered_number(value)
    except ValueError:
        errors["temperature"] = ["Enter the temperature as a number, such as 37.5."]
        return None, "", None
    # No body temperature, and too big to round to 0.01. copy_abs, not abs(): abs() rounds in the
    # decimal context, which overflows on such as 9e999999999.
    if entered.copy_abs() >= MAX_ENTERED_TEMPERATURE:
        errors["temperature"] = ["That temperature looks wrong. Check the number and whether it is °C or °F."]
        return None, "", None
    if entered != entered.quantize(TEMPERATURE_PLACES):
        errors["temperature"] = ["Give the temperature with at most 2 digits after the point."]
        return None, "", None
    if "temperature_unit" in errors:
        return None, "", None
    try:
        celsius = triage.to_celsius(entered, unit)
    except triage.TemperatureError as error:
        errors["temperature"] = [str(error)]
        return None, "", None
    return entered.quantize(TEMPERATURE_PLACES), unit, celsius


def _clean_observed_at(value, now: datetime, may_backdate: bool, errors: dict) -> datetime:
    if value in (None, ""):
        return now
    if isinstance(value, str):
        parsed = parse_datetime(value.strip())
        if parsed is None:
            errors["observed_at"] = ["Give a date and time such as 2026-03-01T09:00:00-06:00."]
            return now
        value = parsed
    if not isinstance(value, datetime):
        errors["observed_at"] = ["Give a date and time such as 2026-03-01T09:00:00-06:00."]
        return now
    if timezone.is_naive(value):
        errors["observed_at"] = ["Give the UTC offset too, such as 2026-03-01T09:00:00-06:00."]
        return now
    at = refill_services.truncate(value)
    if at > now + CLOCK_SKEW:
        errors["observed_at"] = ["This time is in the future."]
        return now
    if may_backdate:
        if at < now - STAFF_BACKDATE:
            errors["observed_at"] = ["Clinic staff can log a check-in up to 24 hours back, not more."]
            return now
        return min(at, now)
    if at < now - NOW_TOLERANCE:
        errors["observed_at"] = ["Only clinic staff can log a check-in for an earlier time. Leave this out to use now."]
    return now


def clean(
    *,
    symptoms,
    temperature=None,
    temperature_unit=None,
    pump_alarm=None,
    note=None,
    observed_at=None,
    now: datetime,
    may_backdate: bool = False,
) -> Answers:
    """Every problem at once, as field errors (a ValidationError with a dict); nothing is saved."""
    errors: dict[str, list[str]] = {}
    try:
        codes = triage.validate_symptoms(symptoms)
    except triage.SymptomError as error:
        errors["symptoms"] = [str(error)]
        codes = ()
    pump_alarm = "" if pump_alarm is None else pump_alarm
    if not isinstance(pump_alarm, str) or pump_alarm not in PUMP_ALARM_CODES:
        errors["pump_alarm"] = ["Choose one of: none, single, two_tone, unsure."]
        pump_alarm = ""
    entered, unit, celsius = _clean_temperature(temperature, temperature_unit, errors)
    note = "" if note is None else note
    if not isinstance(note, str):
        errors["note"] = ["Write the note as text."]
        note = ""
    elif len(note) > NOTE_MAX_CHARS:
        errors["note"] = [f"Keep the note under {NOTE_MAX_CHARS} characters."]
    at = _clean_observed_at(observed_at, now, may_backdate, errors)
    if errors:
        raise ValidationError(errors)
    return Answers(
        symptoms=in_catalog_order((*codes, *PUMP_ALARM_CODES[pump_alarm])),
        temperature=entered,
        temperature_unit=unit,
        temperature_c=celsius,
        pump_alarm=pump_alarm,
        note=note.strip(),
        observed_at=at,
    )
