"""The check-in form: large check boxes grouped under plain headings (danger signs first), one
question about pump alarms, a temperature with a °C/°F switch, and a note. Works without
JavaScript. The form only checks the shape of the answers; the rules (codes, temperature range,
how far back) live in symptoms.answers.clean, whose field errors the view puts on the form."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .answers import PUMP_ALARM_CODES
from .catalog import BY_CODE, SYMPTOMS, headings_with_symptoms
from .models import CheckIn
from .temperatures import shown

# The pump-alarm question replaces the two alarm check boxes.
ALARM_CODES = frozenset(code for codes in PUMP_ALARM_CODES.values() for code in codes)
PUMP_ALARM_CHOICES = [
    ("none", _("No")),
    ("single", _("Yes: one beep that repeats, about every hour")),
    ("two_tone", _("Yes: a two-tone alarm (two different sounds)")),
    ("unsure", _("It makes a sound, but I am not sure which")),
]
UNIT_CHOICES = [("F", "°F"), ("C", "°C")]


class CheckInForm(forms.Form):
    symptoms = forms.MultipleChoiceField(
        choices=[(s.code, s.label) for s in SYMPTOMS if s.code not in ALARM_CODES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    pump_alarm = forms.ChoiceField(
        label=_("Does the pump make an alarm sound?"),
        choices=PUMP_ALARM_CHOICES,
        required=False,
        widget=forms.RadioSelect,
    )
    temperature = forms.CharField(
        label=_("Temperature"),
        required=False,
        max_length=12,
        help_text=_("For example 38.5 °C or 101.3 °F."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 6}),
    )
    temperature_unit = forms.ChoiceField(
        label=_("Unit"), choices=UNIT_CHOICES, required=False, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label=_("Anything else?"),
        required=False,
        max_length=2000,
        help_text=_("For example, when it started."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    client_token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    # Service field → form field (the staff form puts observed_at on its date field).
    ERROR_FIELDS: dict[str, str | None] = {"observed_at": None}

    def groups(self) -> list[dict]:
        """The check boxes under their headings, danger signs first, each with whether it is ticked."""
        chosen = set(self["symptoms"].value() or [])
        groups = []
        for key, title, symptoms in headings_with_symptoms():
            items = [
                {"symptom": s, "checked": s.code in chosen, "id": f"symptom-{s.code}"}
                for s in symptoms
                if s.code not in ALARM_CODES
            ]
            groups.append({"key": key, "title": title, "items": items})
        return groups

    def answers(self) -> dict:
        """The raw answers for symptoms.services (valid forms only)."""
        data = self.cleaned_data
        return {
            "symptoms": list(data.get("symptoms") or []),
            "temperature": data.get("temperature") or None,
            "temperature_unit": data.get("temperature_unit") or None,
            "pump_alarm": data.get("pump_alarm") or "",
            "note": data.get("note") or "",
        }

    def add_service_errors(self, error: ValidationError) -> None:
        for field, messages in error.message_dict.items():
            target = self.ERROR_FIELDS.get(field, field)
            self.add_error(target if target in self.fields else None, messages)


class StaffCheckInForm(CheckInForm):
    """Staff taking a phone call may say when the signs were seen, up to 24 hours back, on the
    patient's clock."""

    observed_date = forms.DateField(
        label=_("Date seen"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    observed_time = forms.TimeField(
        label=_("Time seen"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )

    ERROR_FIELDS = {"observed_at": "observed_date"}

    def __init__(self, *args, zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.fields["observed_date"].help_text = _(
            "Leave both empty for now. Times are on the patient’s clock (%(zone)s)."
        ) % {"zone": zone}

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        day, time = data.get("observed_date"), data.get("observed_time")
        if (
            (day is None) != (time is None)
            and not self.errors.get("observed_date")
            and not self.errors.get("observed_time")
        ):
            self.add_error("observed_date" if day is None else "observed_time", _("Give both the date and the time."))
        return data

    def answers(self) -> dict:
        answers = super().answers()
        day, time = self.cleaned_data.get("observed_date"), self.cleaned_data.get("observed_time")
        if day is not None and time is not None:
            answers["observed_at"] = datetime.combine(day, time).replace(tzinfo=ZoneInfo(self.zone))
        return answers


def initial_unit(emergency_number: str) -> str:
    """°F where 911 is the emergency number (the United States), else °C. A wrong unit cannot
    slip through: it puts the temperature outside 25–45 °C, which is refused."""
    return "F" if emergency_number == "911" else "C"


def reported(symptoms, pump_alarm: str = "", temperature=None, temperature_unit: str = "") -> list[str]:
    """What was reported, in the form's words, for the pages that show it back."""
    lines = [BY_CODE[code].label for code in symptoms if code in BY_CODE]
    if pump_alarm == CheckIn.PumpAlarm.UNSURE:
        lines.append(str(dict(PUMP_ALARM_CHOICES)["unsure"]))
    if temperature not in (None, ""):
        words = shown(temperature, temperature_unit) or f"{temperature} °{temperature_unit}"
        lines.append(f"{_('Temperature')}: {words}")
    return lines
