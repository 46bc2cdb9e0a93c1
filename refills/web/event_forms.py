"""The event form of the pump pages: one form whose fields follow the kind of event (a
correction's follow the kind of the event it corrects), what it submits to refills.services, and
its initial values from a stored event. The dose program's fields are in program_forms.py."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..domain import catalog
from ..domain.events import DATE_OUT_OF_RANGE, date_in_range
from ..models import PumpEvent
from ..words import number
from .forms import DateInput, ServiceErrorsMixin, number_field
from .program_forms import BOLUS_ROWS, FLEX_ROWS, initial_from_program, program_fields, program_from

Kind = PumpEvent.Kind
PROGRAMMING_KINDS = (Kind.REFILL, Kind.REPROGRAM, Kind.PUMP_REPLACED)
CORRECTABLE_KINDS = PROGRAMMING_KINDS


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

    def _build_fields(self) -> dict[str, forms.Field]:
        kind = self.target_kind
        fields: dict[str, forms.Field] = {}
        if self.kind != Kind.CORRECTION:
            fields["occurred_date"] = forms.DateField(label=_("Date"), widget=DateInput)
            fields["occurred_time"] = forms.TimeField(
                label=_("Time"), widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"})
            )
        if kind == Kind.PUMP_REPLACED:
            fields["model"] = forms.ChoiceField(label=_("New pump model"), choices=catalog.choices())
            fields["capacity_ml"] = number_field(
                _("Reservoir size (mL)"), help_text=_("Only for models without a fixed size.")
            )
            fields["alarm_volume_ml"] = number_field(
                _("Low-reservoir alarm volume (mL)"), help_text=_("Leave empty for the model's usual volume.")
            )
            fields["eri_date"] = forms.DateField(
                label=_("Expected battery replacement (ERI) date"), required=False, widget=DateInput
            )
        if kind in (Kind.REFILL, Kind.PUMP_REPLACED):
            fields["volume_ml"] = number_field(
                _("Volume in the pump after the refill, V0 (mL)"),
                required=True,
                help_text=_("As the programmer shows it, after any bridge or priming bolus."),
            )
        if kind == Kind.REFILL:
            fields["aspirated_ml"] = number_field(
                _("Volume taken out before the refill, aspirated (mL)"), required=True
            )
        if kind == Kind.REPROGRAM:
            fields["volume_ml"] = number_field(
                _("Volume in the pump now (mL)"),
                help_text=_("As the programmer shows it. Leave empty and the app works it out."),
            )
        if kind in PROGRAMMING_KINDS:
            fields.update(program_fields(self.flex_row_count))
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
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
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
            values["program"], self._flex_rows, self._bolus_rows = program_from(data, self.flex_row_count)
        occurred_at = None
        day, clock = data.get("occurred_date"), data.get("occurred_time")
        if isinstance(day, date) and isinstance(clock, time) and date_in_range(day):
            wall = datetime.combine(day, clock.replace(second=0, microsecond=0))
            occurred_at = wall.replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC)
        return Submission(kind=self.kind, values=values, occurred_at=occurred_at, note=data.get("note") or "")

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
