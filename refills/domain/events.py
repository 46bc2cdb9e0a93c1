"""Validating a pump event's values (SPEC §3). Pure: no Django here.

`parse_event` returns the typed values or raises EventError with every field error found, so
a form or the API can show them all at once and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from . import catalog, numbers
from .chain import ALARM_REPORTED, CORRECTION, EXPLANTED, PUMP_REPLACED, REFILL, REPROGRAM
from .forecast import DoseProgram
from .programs import ProgramError, parse_program, program_to_dict

KINDS = (REFILL, REPROGRAM, PUMP_REPLACED, EXPLANTED, ALARM_REPORTED, CORRECTION)
ALARM_TONES = ("single", "two_tone")
MAX_CAPACITY_ML = Decimal("999.99")  # what PumpProfile.capacity_ml holds
MAX_DATE_AHEAD = timedelta(days=30 * 366)  # a printout or ERI date further ahead is a typo
# Intrathecal baclofen pumps came into use in the mid-1980s; a date outside these years is a typo
# (and year 1 or 9999 would overflow date arithmetic).
EARLIEST_DATE = date(1980, 1, 1)
LATEST_DATE = date(2100, 12, 31)
DATE_OUT_OF_RANGE = "Enter a date from 1980 to 2100."


def date_in_range(day: date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE


class EventError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class EventContext:
    """What the rules need to know about the patient and their pump."""

    now: datetime
    capacity_ml: Decimal
    pump_family: str
    implant_date: date | None
    latest_event_at: datetime | None  # the latest non-correction event
    current_concentration: Decimal | None  # of the program in force
    has_fill: bool  # a refill or replacement exists (a reprogram needs one)


@dataclass(frozen=True)
class EventValues:
    kind: str
    program: DoseProgram | None = None
    volume_ml: Decimal | None = None
    aspirated_ml: Decimal | None = None
    printout_alarm_date: date | None = None
    tone: str = ""
    model: str = ""
    capacity_ml: Decimal | None = None
    alarm_volume_ml: Decimal | None = None
    eri_date: date | None = None


Values = Mapping[str, object]  # an event's values as typed or sent, before they are checked
Errors = dict[str, list[str]]  # field → messages


def _number(values: Values, field: str, errors: Errors, *, required: bool) -> Decimal | None:
    raw = values.get(field)
    if raw in (None, ""):
        if required:
            errors.setdefault(field, []).append("This field is required.")
        return None
    try:
        number = Decimal(str(raw).strip())
        if not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append("Enter a number.")
        return None
    if problem := numbers.problem(number):
        errors.setdefault(field, []).append(problem)
        return None
    return number


def _date(values: Values, field: str, errors: Errors) -> date | None:
    raw = values.get(field)
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime):
        raw = raw.date()
    if not isinstance(raw, date):
        try:
            raw = date.fromisoformat(str(raw).strip())
        except ValueError:
            errors.setdefault(field, []).append("Enter a date as YYYY-MM-DD.")
            return None
    if not date_in_range(raw):
        errors.setdefault(field, []).append(DATE_OUT_OF_RANGE)
        return None
    return raw


def _date_ahead(values: Values, field: str, errors: Errors, occurred_at: datetime) -> date | None:
    """A date from the event's day on (a day's slack for its zone), within MAX_DATE_AHEAD of it."""
    day = _date(values, field, errors)
    if day is None or not date_in_range(occurred_at.date()):  # check_time explains the latter
        return day
    first = occurred_at.date() - timedelta(days=1)
    if not first <= day <= first + MAX_DATE_AHEAD:
        errors.setdefault(field, []).append("Enter a date from the day of this event on, within 30 years.")
    return day


def check_time(occurred_at: datetime, ctx: EventContext, errors: Errors, *, correction: bool) -> None:
    if not date_in_range(occurred_at.date()):
        errors.setdefault("occurred_at", []).append(DATE_OUT_OF_RANGE)
        return
    if occurred_at > ctx.now:
        errors.setdefault("occurred_at", []).append("This is in the future.")
    if ctx.implant_date and occurred_at.date() < ctx.implant_date:
        errors.setdefault("occurred_at", []).append("This is before the pump was implanted.")
    if not correction and ctx.latest_event_at and occurred_at < ctx.latest_event_at:
        errors.setdefault("occurred_at", []).append(
            "This is before the latest event. To change a past event, record a correction."
        )


def _volume(
    values: Values, field: str, errors: Errors, capacity: Decimal, *, required: bool, allow_zero: bool
) -> Decimal | None:
    volume = _number(values, field, errors, required=required)
    if volume is None:
        return None
    if volume < 0 or (volume == 0 and not allow_zero):
        errors.setdefault(field, []).append("Must be more than 0 mL." if not allow_zero else "Cannot be negative.")
    elif volume > capacity:
        errors.setdefault(field, []).append(f"More than the pump holds ({numbers.shown(capacity)} mL).")
    return volume


def _program(values: Values, errors: Errors, family: str) -> DoseProgram | None:
    try:
        program = parse_program(values.get("program"))
    except ProgramError as error:
        for key, messages in error.errors.items():
            errors.setdefault("program" if key == "program" else f"program.{key}", []).extend(messages)
        return None
    model_range = next((m.concentration_range for m in catalog.CATALOG.values() if m.family == family), None)
    if model_range and not model_range[0] <= program.concentration_mcg_per_ml <= model_range[1]:
        errors.setdefault("program.concentration_mcg_per_ml", []).append(
            f"This pump is labelled for baclofen {model_range[0]}–{model_range[1]} mcg/mL only."
        )
    return program


def parse_event(kind: str, values: Values, occurred_at: datetime, ctx: EventContext) -> EventValues:
    """Typed, validated values for an event of `kind` (for a correction: of its target's kind)."""
    if kind not in KINDS or kind == CORRECTION:
        raise EventError({"kind": [f"Choose one of: {', '.join(k for k in KINDS if k != CORRECTION)}."]})
    if not isinstance(values, dict):
        raise EventError({"values": ["Give the event's values as an object."]})
    errors: Errors = {}
    capacity = ctx.capacity_ml
    family = ctx.pump_family
    model = values.get("model")
    if kind == PUMP_REPLACED:
        replaced: Decimal | None = capacity
        if not isinstance(model, str) or model not in catalog.CATALOG:
            errors.setdefault("model", []).append("Choose a pump model from the list.")
        else:
            family = catalog.CATALOG[model].family
            replaced = catalog.CATALOG[model].capacity_ml or _number(values, "capacity_ml", errors, required=True)
            if replaced is not None and replaced <= 0:
                errors.setdefault("capacity_ml", []).append("Must be more than 0 mL.")
            elif replaced is not None and replaced > MAX_CAPACITY_ML:
                errors.setdefault("capacity_ml", []).append(f"At most {MAX_CAPACITY_ML} mL.")
        capacity = replaced if replaced and replaced > 0 else Decimal("1000000")

    # What EventValues holds for this kind; the rest keeps its default.
    program: DoseProgram | None = None
    volume: Decimal | None = None
    aspirated: Decimal | None = None
    printout: date | None = None
    tone = ""
    new_model = ""
    new_capacity: Decimal | None = None
    alarm: Decimal | None = None
    eri: date | None = None
    if kind in (REFILL, REPROGRAM, PUMP_REPLACED):
        program = _program(values, errors, family)
        volume = _volume(values, "volume_ml", errors, capacity, required=kind != REPROGRAM, allow_zero=False)
        printout = _date_ahead(values, "printout_alarm_date", errors, occurred_at)
        if program is not None and program.daily_dose_mcg_total / program.concentration_mcg_per_ml > capacity:
            errors.setdefault("program", []).append(
                "This program would take more than the pump holds every day. Check the dose and concentration."
            )
    if kind == REFILL:
        aspirated = _volume(values, "aspirated_ml", errors, capacity, required=True, allow_zero=True)
    if kind == REPROGRAM:
        if not ctx.has_fill:
            errors.setdefault("kind", []).append("Record a refill before a reprogram.")
        if (
            program
            and ctx.current_concentration is not None
            and program.concentration_mcg_per_ml != ctx.current_concentration
        ):
            errors.setdefault("program.concentration_mcg_per_ml", []).append(
                "A reprogram cannot change the concentration: only a refill can."
            )
    if kind == PUMP_REPLACED and isinstance(model, str) and model in catalog.CATALOG:  # no "model" error
        new_model = model
        new_capacity = capacity
        default_alarm = catalog.CATALOG[model].alarm_volume_ml
        alarm = _number(values, "alarm_volume_ml", errors, required=default_alarm is None)
        alarm = alarm if alarm is not None else default_alarm
        if alarm is not None and (alarm < 0 or alarm >= capacity):
            errors.setdefault("alarm_volume_ml", []).append("Must be from 0 to less than the pump's capacity.")
        eri = _date_ahead(values, "eri_date", errors, occurred_at)
    if kind == ALARM_REPORTED:
        given_tone = values.get("tone")
        if not isinstance(given_tone, str) or given_tone not in ALARM_TONES:
            errors.setdefault("tone", []).append("Choose single tone or two-tone.")
        else:
            tone = given_tone
    if errors:
        raise EventError(errors)
    return EventValues(
        kind=kind,
        program=program,
        volume_ml=volume,
        aspirated_ml=aspirated,
        printout_alarm_date=printout,
        tone=tone,
        model=new_model,
        capacity_ml=new_capacity,
        alarm_volume_ml=alarm,
        eri_date=eri,
    )


def values_to_json(values: EventValues) -> dict[str, object]:
    """What is stored in PumpEvent.values (strings for decimals and dates)."""
    out: dict[str, object] = {}
    for name in ("volume_ml", "aspirated_ml", "capacity_ml", "alarm_volume_ml"):
        if getattr(values, name) is not None:
            out[name] = str(getattr(values, name))
    for name in ("printout_alarm_date", "eri_date"):
        if getattr(values, name) is not None:
            out[name] = getattr(values, name).isoformat()
    for name in ("tone", "model"):
        if getattr(values, name):
            out[name] = getattr(values, name)
    if values.program is not None:
        out["program"] = program_to_dict(values.program)
    return out
