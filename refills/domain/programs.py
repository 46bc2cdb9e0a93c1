"""Dose programs as plain data (SPEC §3): parse and validate a program written as a dict
(the API's and the forms' shape), and write one back. Pure: no Django here.

    {"concentration_mcg_per_ml": "500",
     "mode": "simple", "daily_dose_mcg": "250"}                       # or
    {"concentration_mcg_per_ml": "2000", "mode": "flex",
     "flex_steps": [{"start": "07:00", "rate_mcg_per_hour": "12.5"}, ...],   # 1..13 steps
     "boluses": [{"time": "12:00", "dose_mcg": "50"}],                 # optional, periodic
     "ptm": {"dose_mcg": "25", "max_per_day": 4}}                      # optional

Instead of mcg/mL, "concentration_mg_per_ml" may be given; it is converted exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from . import numbers
from .forecast import Bolus, DoseProgram, FlexStep, mg_to_mcg_per_ml

MAX_FLEX_STEPS = 13
# 100 mg a day is some 50 times the largest doses reported: a unit mistake, not a program.
MAX_DAILY_DOSE_MCG = Decimal(100_000)
# Below 1 mcg a day is no treatment: a unit mistake (mg typed as mcg the other way round).
MIN_DAILY_DOSE_MCG = Decimal(1)
# Five times the highest labelled strength (2000 mcg/mL, catalog.py): anything above is a unit mistake.
MAX_CONCENTRATION_MCG_PER_ML = Decimal(10_000)
TOO_STRONG = "At most 10,000 mcg/mL (10 mg/mL). Check the strength and its unit."
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ProgramError(ValueError):
    """Field errors, keyed like the input: {"flex_steps.2.start": ["..."]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def _decimal(
    value: object,
    field: str,
    errors: dict[str, list[str]],
    *,
    positive: bool = False,
    non_negative: bool = False,
    most: Decimal | None = None,
) -> Decimal | None:
    if isinstance(value, bool) or value is None or value == "":
        errors.setdefault(field, []).append("Enter a number.")
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append("Enter a number.")
        return None
    if not number.is_finite():
        errors.setdefault(field, []).append("Enter a number.")
        return None
    if most is not None and number > most:
        errors.setdefault(field, []).append(TOO_STRONG)
        return None
    if problem := numbers.problem(number):
        errors.setdefault(field, []).append(problem)
        return None
    if positive and number <= 0:
        errors.setdefault(field, []).append("Must be more than 0.")
    elif non_negative and number < 0:
        errors.setdefault(field, []).append("Cannot be negative.")
    return number


def _minute(value: object, field: str, errors: dict[str, list[str]]) -> int | None:
    match = HHMM.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        errors.setdefault(field, []).append("Write the time as HH:MM, from 00:00 to 23:59.")
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_program(data: object) -> DoseProgram:
    """A validated DoseProgram, or ProgramError with every problem found."""
    if not isinstance(data, dict):
        raise ProgramError({"program": ["Give the dose program as an object."]})
    errors: dict[str, list[str]] = {}

    if data.get("concentration_mg_per_ml") not in (None, "") and data.get("concentration_mcg_per_ml") in (None, ""):
        mg = _decimal(
            data["concentration_mg_per_ml"],
            "concentration_mg_per_ml",
            errors,
            positive=True,
            most=MAX_CONCENTRATION_MCG_PER_ML / 1000,
        )
        concentration = mg_to_mcg_per_ml(mg) if mg is not None else None
    else:
        concentration = _decimal(
            data.get("concentration_mcg_per_ml"),
            "concentration_mcg_per_ml",
            errors,
            positive=True,
            most=MAX_CONCENTRATION_MCG_PER_ML,
        )

    mode = data.get("mode", "simple")
    daily = None
    steps: list[FlexStep] = []
    if mode == "simple":
        daily = _decimal(data.get("daily_dose_mcg"), "daily_dose_mcg", errors, non_negative=True)
    elif mode == "flex":
        raw_steps = data.get("flex_steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            errors.setdefault("flex_steps", []).append("A flex program needs 1 to 13 steps.")
            raw_steps = []
        elif len(raw_steps) > MAX_FLEX_STEPS:
            errors.setdefault("flex_steps", []).append(f"A flex program has at most {MAX_FLEX_STEPS} steps.")
        seen: dict[int, int] = {}
        for i, step in enumerate(raw_steps):
            if not isinstance(step, dict):
                errors.setdefault(f"flex_steps.{i}", []).append("Give each step a start and a rate.")
                continue
            start = _minute(step.get("start"), f"flex_steps.{i}.start", errors)
            rate = _decimal(
                step.get("rate_mcg_per_hour"), f"flex_steps.{i}.rate_mcg_per_hour", errors, non_negative=True
            )
            if start is not None and start in seen:
                errors.setdefault(f"flex_steps.{i}.start", []).append(
                    f"Step {seen[start] + 1} already starts at {_hhmm(start)}."
                )
            elif start is not None:
                seen[start] = i
            if start is not None and rate is not None and rate >= 0:
                steps.append(FlexStep(start, rate))
    else:
        errors.setdefault("mode", []).append('Choose "simple" or "flex".')

    boluses: list[Bolus] = []
    raw_boluses = data.get("boluses") or []
    if not isinstance(raw_boluses, list):
        errors.setdefault("boluses", []).append("Give boluses as a list.")
        raw_boluses = []
    bolus_minutes: set[int] = set()
    for i, bolus in enumerate(raw_boluses):
        if not isinstance(bolus, dict):
            errors.setdefault(f"boluses.{i}", []).append("Give each bolus a time and a dose.")
            continue
        at = _minute(bolus.get("time"), f"boluses.{i}.time", errors)
        dose = _decimal(bolus.get("dose_mcg"), f"boluses.{i}.dose_mcg", errors, positive=True)
        if at is not None and at in bolus_minutes:
            errors.setdefault(f"boluses.{i}.time", []).append("Another bolus is at this time.")
        if at is not None and dose is not None and dose > 0:
            bolus_minutes.add(at)
            boluses.append(Bolus(at, dose))

    ptm_dose, ptm_max = Decimal(0), 0
    ptm = data.get("ptm")
    if ptm not in (None, {}, ""):
        if not isinstance(ptm, dict):
            errors.setdefault("ptm", []).append("Give the patient bolus as a dose and a maximum per day.")
        else:
            ptm_dose = _decimal(ptm.get("dose_mcg"), "ptm.dose_mcg", errors, positive=True) or Decimal(0)
            raw_max = ptm.get("max_per_day")
            text = str(raw_max).strip()
            # ASCII digits only: "²".isdigit() is true, and int() of 5,000 digits raises.
            if isinstance(raw_max, bool) or not re.fullmatch(r"[0-9]{1,2}", text) or not 1 <= int(text) <= 24:
                errors.setdefault("ptm.max_per_day", []).append("Enter a whole number from 1 to 24.")
            else:
                ptm_max = int(text)

    if errors:
        raise ProgramError(errors)
    assert concentration is not None  # _decimal records an error whenever it gives None
    program = DoseProgram(
        concentration_mcg_per_ml=concentration,
        daily_dose_mcg=daily if mode == "simple" else None,
        flex_steps=tuple(sorted(steps, key=lambda s: s.start_minute)),
        boluses=tuple(sorted(boluses, key=lambda b: b.minute)),
        ptm_dose_mcg=ptm_dose,
        ptm_max_per_day=ptm_max,
    )
    delivered = program.continuous_mcg_per_day + program.bolus_mcg_per_day
    if delivered <= 0:
        raise ProgramError({"program": ["This program delivers nothing. Check the dose."]})
    if delivered < MIN_DAILY_DOSE_MCG:
        raise ProgramError({"program": ["This program gives less than 1 mcg a day. Check the dose and its unit."]})
    if program.daily_dose_mcg_total > MAX_DAILY_DOSE_MCG:
        raise ProgramError({"program": ["This program delivers more than 100 mg a day. Check the units."]})
    return program


def program_to_dict(program: DoseProgram) -> dict[str, object]:
    data: dict[str, object] = {"concentration_mcg_per_ml": str(program.concentration_mcg_per_ml), "mode": program.mode}
    if program.mode == "simple":
        data["daily_dose_mcg"] = str(program.daily_dose_mcg)
    else:
        data["flex_steps"] = [
            {"start": _hhmm(s.start_minute), "rate_mcg_per_hour": str(s.rate_mcg_per_hour)} for s in program.flex_steps
        ]
    data["boluses"] = [{"time": _hhmm(b.minute), "dose_mcg": str(b.dose_mcg)} for b in program.boluses]
    data["ptm"] = (
        {"dose_mcg": str(program.ptm_dose_mcg), "max_per_day": program.ptm_max_per_day}
        if program.ptm_max_per_day
        else None
    )
    return data
