"""Forms of the pump pages: the pump profile here, the event form in event_forms.py (its dose
program's fields in program_forms.py). Forms only turn what a person typed into the shapes
refills.services takes, and put the service's field errors back next to the inputs they are about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..domain import catalog
from ..models import PumpProfile


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class ClockInput(forms.TextInput):
    """HH:MM. A plain string reaches the service, which explains a malformed time itself."""

    input_type = "time"


if TYPE_CHECKING:
    _Form = forms.BaseForm  # what ServiceErrorsMixin is mixed into
else:
    _Form = object


class ServiceErrorsMixin(_Form):
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


def number_field(label, *, required=False, help_text=""):
    return forms.DecimalField(label=label, required=required, help_text=help_text)


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
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        model = catalog.CATALOG.get(data.get("model", ""))  # absent when the choice was invalid
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
