"""Forms of the pump pages: the pump profile, and one event form whose fields follow the kind
of event. Forms only turn what a person typed into the shapes refills.services takes, and put
the service's field errors back next to the inputs they are about."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..domain import catalog
from ..domain.events import DATE_OUT_OF_RANGE, date_in_range
from ..models import PumpEvent, PumpProfile
from ..words import number

Kind = PumpEvent.Kind
PROGRAMMING_KINDS = (Kind.REFILL, Kind.REPROGRAM, Kind.PUMP_REPLACED)
CORRECTABLE_KINDS = PROGRAMMING_KINDS
FLEX_ROWS = 4  # shown by default; ?rows=13 shows them all
MAX_FLEX_ROWS = 13
BOLUS_ROWS = 4
STANDARD_STRENGTHS = {Decimal(c): c for c in ("50", "500", "1000", "2000")}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class ClockInput(forms.TextInput):
    """HH:MM. A plain string reaches the service, which explains a malformed time itself."""

    input_type = "time"


def _text(value) -> str:
    return "" if value is None else str(value)


class ServiceErrorsMixin:
    def add_service_errors(self, error: ValidationError, *, only_new=False, ignore=()) -> None:
        """Put a service's errors on the fields they name; the rest on the form. With
        only_new, a field that already shows an error keeps just its own."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, messages in error.message_dict.items():
            field = self.field_for(key)
            field = field if field in self.fields else None
            if key in ignore or (only_new and field is not None and field in self.errors):
                continue
            self.add_error(field, messages)

    def field_for(self, key: str) -> str | None:
        return key


# --- Pump profile ---------------------------------------------------------------------------


class PumpProfileForm(ServiceErrorsMixin, forms.Form):
    RISK_FIELDS = ("risk_sci_t6_or_above", "risk_communication_difficulty", "risk_prior_withdrawal")

    model = forms.ChoiceField(label=_("Pump model"), choices=catalog.choices())
    capacity_ml = forms.DecimalField(
        label=_("Reservoir size (mL)"),
        required=False,
        help_text=_(
            "Only for SynchroMed III, Codman MedStream and Other. The other models have a fixed size, which is used."
        ),
    )
    alarm_volume_ml = forms.DecimalField(
        label=_("Low-reservoir alarm volume (mL)"),
        required=False,
        help_text=_(
            "Leave empty for the model's usual volume (SynchroMed 2 mL, Prometra 3 mL). Raise it, for example to"
            " 4 mL, if withdrawal signs start before the alarm."
        ),
    )
    implant_date = forms.DateField(label=_("Implant date"), widget=DateInput)
    eri_date = forms.DateField(label=_("Expected battery replacement (ERI) date"), required=False, widget=DateInput)
    max_days_in_pump = forms.IntegerField(
        label=_("Most days the medicine may stay in the pump"),
        min_value=1,
        max_value=180,
        initial=catalog.DEFAULT_MAX_DAYS_IN_PUMP,
    )
    catheter_tip_level = forms.CharField(
        label=_("Catheter tip level"), required=False, max_length=20, help_text=_("For example T10.")
    )
    risk_sci_t6_or_above = forms.BooleanField(label=_("Spinal cord injury at T6 or above"), required=False)
    risk_communication_difficulty = forms.BooleanField(
        label=_("Finds it hard to tell others how they feel (communication difficulty)"), required=False
    )
    risk_prior_withdrawal = forms.BooleanField(label=_("Has had baclofen withdrawal before"), required=False)

    @classmethod
    def initial_for(cls, profile: PumpProfile | None) -> dict:
        if profile is None:
            return {}
        return {name: getattr(profile, name) for name in cls.base_fields}

    @property
    def main_fields(self):
        return [self[name] for name in self.fields if name not in self.RISK_FIELDS]

    @property
    def risk_fields(self):
        return [self[name] for name in self.RISK_FIELDS]

    def clean(self):
        data = super().clean()
        model = catalog.CATALOG.get(data.get("model"))
        if model is not None:
            if model.capacity_ml is None and data.get("capacity_ml") is None:
                self.add_error("capacity_ml", _("Enter the reservoir size: this pump model has no fixed size."))
            if model.alarm_volume_ml is None and data.get("alarm_volume_ml") is None:
                self.add_error("alarm_volume_ml", _("Enter the alarm volume: this pump model has no usual volume."))
        return data

    def values(self) -> dict:
        values = dict(self.cleaned_data)
        if values.get("capacity_ml") is None:
            values.pop("capacity_ml", None)  # a fixed-size model: the service uses the catalog's
        return values


# --- Pump events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What record_event needs from the form."""

    kind: str
    values: dict
    occurred_at: datetime | None  # None for a correction: it keeps its target's instant
    note: str

    def fingerprint(self, corrects_id: int | None) -> str:
        """Identifies exactly what was checked, so "Save" saves what the preview showed."""
        payload = {
            "kind": self.kind,
            "values": self.values,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "note": self.note,
            "corrects": corrects_id,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


FLEX_KEY = re.compile(r"^program\.flex_steps\.(\d+)(?:\.(start|rate_mcg_per_hour))?$")
BOLUS_KEY = re.compile(r"^program\.boluses\.(\d+)(?:\.(time|dose_mcg))?$")
SERVICE_KEYS = {
    "occurred_at": "occurred_date",
    "program.concentration_mcg_per_ml": "concentration",
    "program.concentration_mg_per_ml": "concentration_other",
    "program.daily_dose_mcg": "daily_dose_mcg",
    "program.mode": "mode",
    "program.flex_steps": "flex_start_0",
    "program.ptm": "ptm_dose_mcg",
    "program.ptm.dose_mcg": "ptm_dose_mcg",
    "program.ptm.max_per_day": "ptm_max_per_day",
}


def _number_field(label, *, required=False, help_text=""):
    return forms.DecimalField(label=label, required=required, help_text=help_text)


class EventForm(ServiceErrorsMixin, forms.Form):
    """One form for every kind of event; its fields follow the kind (a correction's follow
    the kind of the event it corrects)."""

    def __init__(self, data=None, *, kind: str, zone: str, target_kind: str | None = None, rows=FLEX_ROWS, **kwargs):
        super().__init__(data, **kwargs)
        self.kind = kind
        self.target_kind = target_kind or kind
        self.zone = zone
        self.flex_row_count = rows
        self._flex_rows: list[int] = []  # the form row of each flex step sent to the service
        self._bolus_rows: list[int] = []
        self.fields = self._build_fields()
        if self.has_program:
            # The daily dose is needed for the simple mode only.
            mode = self.data.get("mode") if self.is_bound else self.initial.get("mode", "simple")
            self.fields["daily_dose_mcg"].required = mode != "flex"

    # The fields ------------------------------------------------------------------------------

    def _build_fields(self) -> dict:
        kind, fields = self.target_kind, {}
        if self.kind != Kind.CORRECTION:
            fields["occurred_date"] = forms.DateField(label=_("Date"), widget=DateInput)
            fields["occurred_time"] = forms.TimeField(
                label=_("Time"), widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"})
            )
        if kind == Kind.PUMP_REPLACED:
            fields["model"] = forms.ChoiceField(label=_("New pump model"), choices=catalog.choices())
            fields["capacity_ml"] = _number_field(
                _("Reservoir size (mL)"), help_text=_("Only for models without a fixed size.")
            )
            fields["alarm_volume_ml"] = _number_field(
                _("Low-reservoir alarm volume (mL)"), help_text=_("Leave empty for the model's usual volume.")
            )
            fields["eri_date"] = forms.DateField(
                label=_("Expected battery replacement (ERI) date"), required=False, widget=DateInput
            )
        if kind in (Kind.REFILL, Kind.PUMP_REPLACED):
            fields["volume_ml"] = _number_field(
                _("Volume in the pump after the refill, V0 (mL)"),
                required=True,
                help_text=_("As the programmer shows it, after any bridge or priming bolus."),
            )
        if kind == Kind.REFILL:
            fields["aspirated_ml"] = _number_field(
                _("Volume taken out before the refill, aspirated (mL)"), required=True
            )
        if kind == Kind.REPROGRAM:
            fields["volume_ml"] = _number_field(
                _("Volume in the pump now (mL)"),
                help_text=_("As the programmer shows it. Leave empty and the app works it out."),
            )
        if kind in PROGRAMMING_KINDS:
            fields.update(self._program_fields())
            fields["printout_alarm_date"] = forms.DateField(
                label=_("Low-reservoir alarm date on the programmer printout"), required=False, widget=DateInput
            )
        if kind == Kind.ALARM_REPORTED:
            fields["tone"] = forms.ChoiceField(
                label=_("What did the alarm sound like?"),
                choices=[
                    ("single", _("A single tone, about every hour (low reservoir)")),
                    ("two_tone", _("Two tones (critical alarm)")),
                ],
                widget=forms.RadioSelect,
            )
        fields["note"] = forms.CharField(
            label=_("Why are you correcting it? (note)") if self.kind == Kind.CORRECTION else _("Note"),
            required=self.kind == Kind.CORRECTION,
            widget=forms.Textarea(attrs={"rows": 3}),
        )
        fields["rows"] = forms.IntegerField(widget=forms.HiddenInput, required=False, initial=self.flex_row_count)
        return fields

    def _program_fields(self) -> dict:
        fields = {
            "concentration": forms.ChoiceField(
                label=_("Strength of the medicine"),
                choices=[(c, f"{c} mcg/mL") for c in STANDARD_STRENGTHS.values()]
                + [("other", _("Another strength (type it below)"))],
                widget=forms.RadioSelect,
            ),
            "concentration_other": _number_field(
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
            "daily_dose_mcg": _number_field(
                _("Daily dose (mcg per day)"), help_text=_("Only for the same rate all day.")
            ),
        }
        for i in range(self.flex_row_count):
            fields[f"flex_start_{i}"] = forms.CharField(
                label=_("Step %(n)d starts at") % {"n": i + 1}, required=False, widget=ClockInput
            )
            fields[f"flex_rate_{i}"] = _number_field(_("Step %(n)d rate (mcg per hour)") % {"n": i + 1})
        for i in range(BOLUS_ROWS):
            fields[f"bolus_time_{i}"] = forms.CharField(
                label=_("Extra dose %(n)d time") % {"n": i + 1}, required=False, widget=ClockInput
            )
            fields[f"bolus_dose_{i}"] = _number_field(_("Extra dose %(n)d (mcg)") % {"n": i + 1})
        fields["ptm_dose_mcg"] = _number_field(_("Dose of each patient-activated bolus (mcg)"))
        fields["ptm_max_per_day"] = forms.IntegerField(label=_("Most patient-activated boluses a day"), required=False)
        return fields

    # Groups of fields for the template ------------------------------------------------------

    def _present(self, *names):
        return [self[n] for n in names if n in self.fields]

    @property
    def when_fields(self):
        return self._present("occurred_date", "occurred_time")

    @property
    def pump_fields(self):
        return self._present("model", "capacity_ml", "alarm_volume_ml", "eri_date")

    @property
    def volume_fields(self):
        return self._present("volume_ml", "aspirated_ml")

    @property
    def has_program(self) -> bool:
        return "concentration" in self.fields

    @property
    def strength_fields(self):
        return self._present("concentration", "concentration_other", "concentration_unit")

    @property
    def flex_rows(self):
        return [
            {"n": i + 1, "start": self[f"flex_start_{i}"], "rate": self[f"flex_rate_{i}"]}
            for i in range(self.flex_row_count)
        ]

    @property
    def bolus_rows(self):
        return [
            {"n": i + 1, "time": self[f"bolus_time_{i}"], "dose": self[f"bolus_dose_{i}"]} for i in range(BOLUS_ROWS)
        ]

    @property
    def ptm_fields(self):
        return self._present("ptm_dose_mcg", "ptm_max_per_day")

    @property
    def last_fields(self):
        return self._present("printout_alarm_date", "tone", "note")

    # From the form to the service -----------------------------------------------------------

    def clean_occurred_date(self):
        day = self.cleaned_data["occurred_date"]
        if not date_in_range(day):  # year 1 or 9999 would overflow on the way to UTC
            raise ValidationError(DATE_OUT_OF_RANGE)
        return day

    def clean(self):
        data = super().clean()
        if self.has_program:
            other = data.get("concentration_other")
            if data.get("concentration") == "other" and other is None and "concentration_other" not in self.errors:
                self.add_error("concentration_other", _("Type the strength, or choose one of the usual strengths."))
            elif other is not None and data.get("concentration") not in (None, "other"):
                self.add_error(
                    "concentration_other",
                    _("You typed another strength: choose “Another strength”, or clear this box."),
                )
        return data

    def _typed(self) -> dict:
        """The cleaned values and, for a field with an error, what was typed: so that when
        the form has errors the service can still report every other problem at once."""
        errors = self.errors  # validates the form once
        typed = dict(self.cleaned_data)
        for name in errors:
            if name in self.fields:
                typed[name] = self.data.get(name, "")
        return typed

    def submission(self) -> Submission:
        """What to record; on a form with errors, a best effort (only good for finding more errors)."""
        data = self._typed()
        values: dict = {}
        for name in ("volume_ml", "aspirated_ml", "capacity_ml", "alarm_volume_ml"):
            if name in self.fields and data.get(name) not in (None, ""):
                values[name] = str(data[name])
        for name in ("printout_alarm_date", "eri_date"):
            if data.get(name):
                values[name] = data[name].isoformat() if isinstance(data[name], date) else data[name]
        for name in ("model", "tone"):
            if data.get(name):
                values[name] = data[name]
        if self.has_program:
            values["program"] = self._program(data)
        occurred_at = None
        day, clock = data.get("occurred_date"), data.get("occurred_time")
        if isinstance(day, date) and isinstance(clock, time) and date_in_range(day):
            wall = datetime.combine(day, clock.replace(second=0, microsecond=0))
            occurred_at = wall.replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC)
        return Submission(kind=self.kind, values=values, occurred_at=occurred_at, note=data.get("note") or "")

    def _program(self, data: dict) -> dict:
        program: dict = {"mode": data.get("mode") or "simple"}
        if data.get("concentration") == "other":
            unit_key = (
                "concentration_mg_per_ml" if data.get("concentration_unit") == "mg" else "concentration_mcg_per_ml"
            )
            program[unit_key] = _text(data.get("concentration_other"))
        else:
            program["concentration_mcg_per_ml"] = data.get("concentration") or ""
        if program["mode"] == "simple":
            program["daily_dose_mcg"] = _text(data.get("daily_dose_mcg"))
        else:
            program["flex_steps"] = []
            self._flex_rows = []
            for i in range(self.flex_row_count):
                start, rate = data.get(f"flex_start_{i}") or "", data.get(f"flex_rate_{i}")
                if start or rate is not None:
                    program["flex_steps"].append({"start": start.strip(), "rate_mcg_per_hour": _text(rate)})
                    self._flex_rows.append(i)
        program["boluses"] = []
        self._bolus_rows = []
        for i in range(BOLUS_ROWS):
            at, dose = data.get(f"bolus_time_{i}") or "", data.get(f"bolus_dose_{i}")
            if at or dose is not None:
                program["boluses"].append({"time": at.strip(), "dose_mcg": _text(dose)})
                self._bolus_rows.append(i)
        if data.get("ptm_dose_mcg") is not None or data.get("ptm_max_per_day") is not None:
            program["ptm"] = {
                "dose_mcg": _text(data.get("ptm_dose_mcg")),
                "max_per_day": _text(data.get("ptm_max_per_day")),
            }
        return program

    def field_for(self, key: str) -> str | None:
        """The input a service error key is about ("program.flex_steps.2.start" → the start
        of the form row that became step 2); None puts it at the top of the form."""
        if match := FLEX_KEY.match(key):
            index, part = int(match.group(1)), match.group(2)
            row = self._flex_rows[index] if index < len(self._flex_rows) else index
            return f"flex_rate_{row}" if part == "rate_mcg_per_hour" else f"flex_start_{row}"
        if match := BOLUS_KEY.match(key):
            index, part = int(match.group(1)), match.group(2)
            row = self._bolus_rows[index] if index < len(self._bolus_rows) else index
            return f"bolus_dose_{row}" if part == "dose_mcg" else f"bolus_time_{row}"
        if key == "program.concentration_mcg_per_ml" and self.data.get("concentration") == "other":
            return "concentration_other"
        return SERVICE_KEYS.get(key, key)


# --- Filling the event form from stored values ------------------------------------------------


def initial_from_values(values: dict) -> dict:
    """Form initial data from a PumpEvent.values dict (a correction starts from these)."""
    initial: dict = {}
    for name in ("volume_ml", "aspirated_ml", "capacity_ml", "alarm_volume_ml"):
        if values.get(name) not in (None, ""):
            initial[name] = number(values[name])
    for name in ("model", "tone"):
        if values.get(name):
            initial[name] = values[name]
    for name in ("printout_alarm_date", "eri_date"):
        if values.get(name):
            initial[name] = date.fromisoformat(values[name])
    if values.get("program"):
        initial.update(initial_from_program(values["program"]))
    return initial


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
