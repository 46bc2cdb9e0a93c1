"""The dose-program half of the event form (refill, reprogram, new pump): its fields, the program
refills.services takes from them, and the form's initial values from a stored program."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from ..words import number
from .forms import ClockInput, number_field

FLEX_ROWS = 4  # shown by default; ?rows=13 shows them all
MAX_FLEX_ROWS = 13
BOLUS_ROWS = 4
STANDARD_STRENGTHS = {Decimal(c): c for c in ("50", "500", "1000", "2000")}


def _text(value) -> str:
    return "" if value is None else str(value)


def program_fields(flex_row_count: int) -> dict:
    """The fields of a dose program: strength, mode, daily dose, flex steps, extra doses, PTM."""
    fields = {
        "concentration": forms.ChoiceField(
            label=_("Strength of the medicine"),
            choices=[(c, f"{c} mcg/mL") for c in STANDARD_STRENGTHS.values()]
            + [("other", _("Another strength (type it below)"))],
            widget=forms.RadioSelect,
        ),
        "concentration_other": number_field(
            _("Another strength"), help_text=_("Only if you chose “Another strength” above.")
        ),
        "concentration_unit": forms.ChoiceField(
            label=_("Unit of the other strength"),
            choices=[("mcg", "mcg/mL"), ("mg", _("mg/mL (changed to mcg/mL exactly: 2 mg/mL is 2000 mcg/mL)"))],
            widget=forms.RadioSelect,
            initial="mcg",
            required=False,
        ),
        "mode": forms.ChoiceField(
            label=_("How is the dose given?"),
            choices=[
                ("simple", _("The same rate all day (simple continuous)")),
                ("flex", _("Different rates at different times (flex)")),
            ],
            widget=forms.RadioSelect,
            initial="simple",
        ),
        "daily_dose_mcg": number_field(_("Daily dose (mcg per day)"), help_text=_("Only for the same rate all day.")),
    }
    for i in range(flex_row_count):
        fields[f"flex_start_{i}"] = forms.CharField(
            label=_("Step %(n)d starts at") % {"n": i + 1}, required=False, widget=ClockInput
        )
        fields[f"flex_rate_{i}"] = number_field(_("Step %(n)d rate (mcg per hour)") % {"n": i + 1})
    for i in range(BOLUS_ROWS):
        fields[f"bolus_time_{i}"] = forms.CharField(
            label=_("Extra dose %(n)d time") % {"n": i + 1}, required=False, widget=ClockInput
        )
        fields[f"bolus_dose_{i}"] = number_field(_("Extra dose %(n)d (mcg)") % {"n": i + 1})
    fields["ptm_dose_mcg"] = number_field(_("Dose of each patient-activated bolus (mcg)"))
    fields["ptm_max_per_day"] = forms.IntegerField(label=_("Most patient-activated boluses a day"), required=False)
    return fields


def program_from(data: dict, flex_row_count: int) -> tuple[dict, list[int], list[int]]:
    """The program the service takes, from the form's values; with the form row of each flex
    step and each extra dose sent (so a service error on step 2 goes to the row it came from)."""
    program: dict = {"mode": data.get("mode") or "simple"}
    flex_rows: list[int] = []
    if data.get("concentration") == "other":
        unit_key = "concentration_mg_per_ml" if data.get("concentration_unit") == "mg" else "concentration_mcg_per_ml"
        program[unit_key] = _text(data.get("concentration_other"))
    else:
        program["concentration_mcg_per_ml"] = data.get("concentration") or ""
    if program["mode"] == "simple":
        program["daily_dose_mcg"] = _text(data.get("daily_dose_mcg"))
    else:
        program["flex_steps"] = []
        for i in range(flex_row_count):
            start, rate = data.get(f"flex_start_{i}") or "", data.get(f"flex_rate_{i}")
            if start or rate is not None:
                program["flex_steps"].append({"start": start.strip(), "rate_mcg_per_hour": _text(rate)})
                flex_rows.append(i)
    program["boluses"] = []
    bolus_rows: list[int] = []
    for i in range(BOLUS_ROWS):
        at, dose = data.get(f"bolus_time_{i}") or "", data.get(f"bolus_dose_{i}")
        if at or dose is not None:
            program["boluses"].append({"time": at.strip(), "dose_mcg": _text(dose)})
            bolus_rows.append(i)
    if data.get("ptm_dose_mcg") is not None or data.get("ptm_max_per_day") is not None:
        program["ptm"] = {
            "dose_mcg": _text(data.get("ptm_dose_mcg")),
            "max_per_day": _text(data.get("ptm_max_per_day")),
        }
    return program, flex_rows, bolus_rows


def initial_from_program(program: dict) -> dict:
    initial: dict = {"mode": program.get("mode", "simple")}
    try:
        strength = Decimal(str(program.get("concentration_mcg_per_ml")))
    except ArithmeticError:
        strength = None
    if strength in STANDARD_STRENGTHS:
        initial["concentration"] = STANDARD_STRENGTHS[strength]
    elif strength is not None:
        initial.update(concentration="other", concentration_other=number(strength), concentration_unit="mcg")
    if program.get("daily_dose_mcg") not in (None, ""):
        initial["daily_dose_mcg"] = number(program["daily_dose_mcg"])
    for i, step in enumerate(program.get("flex_steps") or []):
        initial[f"flex_start_{i}"] = step.get("start", "")
        initial[f"flex_rate_{i}"] = number(step.get("rate_mcg_per_hour"))
    for i, bolus in enumerate((program.get("boluses") or [])[:BOLUS_ROWS]):
        initial[f"bolus_time_{i}"] = bolus.get("time", "")
        initial[f"bolus_dose_{i}"] = number(bolus.get("dose_mcg"))
    ptm = program.get("ptm")
    if ptm:
        initial["ptm_dose_mcg"] = number(ptm.get("dose_mcg"))
        initial["ptm_max_per_day"] = ptm.get("max_per_day")
    return initial


def flex_rows_needed(requested, initial: dict) -> int:
    """4 rows, or as many as asked (?rows=13) or as the prefilled program has, at most 13."""
    try:
        asked = int(requested)
    except (TypeError, ValueError):
        asked = FLEX_ROWS
    prefilled = sum(1 for key in initial if key.startswith("flex_start_"))
    return max(FLEX_ROWS, min(MAX_FLEX_ROWS, max(asked, prefilled)))
