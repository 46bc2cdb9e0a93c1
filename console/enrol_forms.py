"""Forms of the enrolment flow (SPEC §1 "enrol patients", §2, §3). Each step has its own form
and validates its own fields; the flow (console/enrol.py) keeps what each step posted and
hands the cleaned values to the services, which have the last word.

The steps reuse the forms of the pages they stand for: the patient form of patients.forms,
the pump profile form of refills.web.forms, the event form of refills.web.event_forms (for the
refill), the caregiver invitation form.
"""

from __future__ import annotations

import copy

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.forms import EmergencyContactsField, InviteCaregiverForm, PatientCreateForm
from patients.models import CHANNEL_CHOICES, Patient
from refills.models import PumpEvent
from refills.web.event_forms import EventForm
from refills.web.forms import PumpProfileForm, ServiceErrorsMixin

MAX_CAREGIVERS = 3
OLDEST_BIRTH_YEAR = 1900


class PatientStepForm(ServiceErrorsMixin, PatientCreateForm):
    """Step 1: who the patient is and how to reach them. Validated like the model (the time
    zone, the e-mail), never saved by the form itself."""

    notification_channels = forms.MultipleChoiceField(
        label=_("How should we send refill reminders to the patient?"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[("email", _("E-mail")), ("sms", _("Text message (SMS)")), ("inbox", _("Inbox in this app"))],
        help_text=_(
            "Texts start only after the patient checks their phone number in the app. "
            "The inbox needs the patient to log in."
        ),
    )
    emergency_contacts = EmergencyContactsField(
        label=_("Emergency contacts"),
        required=False,
        help_text=_("One a line: name, phone, how they know the patient. Example: Sam Lee, 555-0100, brother"),
    )

    class Meta(PatientCreateForm.Meta):
        fields = [*PatientCreateForm.Meta.fields, "notification_channels", "emergency_contacts"]
        labels = {
            "full_name": _("Full name"),
            "date_of_birth": _("Date of birth"),
            "time_zone": _("Time zone where the patient lives"),
            "email": _("Patient's e-mail address"),
            "phone": _("Patient's phone number"),
            "language": _("Language for messages"),
        }
        help_texts = {
            **PatientCreateForm.Meta.help_texts,
            "email": _("Refill reminders go here. Leave empty if the patient has none."),
        }

    def __init__(self, *args, clinics=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["full_name"].widget.attrs["autocomplete"] = "off"
        self.fields["email"].widget.attrs["autocomplete"] = "off"
        self.fields["phone"].widget.input_type = "tel"
        clinics = list(clinics)
        if len(clinics) > 1:
            # Staff of several clinics choose; the choices are their own clinics only.
            self.fields = {
                "clinic": forms.TypedChoiceField(
                    label=_("Clinic"), coerce=int, choices=[(c.pk, c.name) for c in clinics]
                ),
                **self.fields,
            }

    def clean_date_of_birth(self):
        born = self.cleaned_data.get("date_of_birth")
        if born is not None and born > timezone.localdate():
            raise forms.ValidationError(_("The date of birth cannot be in the future."))
        if born is not None and born.year < OLDEST_BIRTH_YEAR:
            raise forms.ValidationError(_("Check the year of birth."))
        return born

    def clean_notification_channels(self):
        chosen = self.cleaned_data["notification_channels"]
        return [c for c in CHANNEL_CHOICES if c in chosen]

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        channels = data.get("notification_channels") or []
        if "email" in channels and not data.get("email") and "email" not in self.errors:
            self.add_error(
                "notification_channels", _("You chose e-mail: add the patient's e-mail address, or untick e-mail.")
            )
        if "sms" in channels and not data.get("phone") and "phone" not in self.errors:
            self.add_error(
                "notification_channels", _("You chose text messages: add the patient's phone number, or untick them.")
            )
        return data

    def patient_fields(self) -> dict:
        """The keyword arguments of patients.services.create_patient."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    def unsaved_patient(self) -> Patient:
        """The patient as they would be, for questions such as "can anyone be reminded?"."""
        return Patient(**self.patient_fields())


class PumpStepForm(PumpProfileForm):
    """Step 2: the pump profile form as it is."""


class RefillStepForm(EventForm):
    """Step 3: the refill form of the event pages, in the patient's zone."""

    def __init__(self, data=None, *, zone: str, **kwargs):
        super().__init__(data, kind=PumpEvent.Kind.REFILL, zone=zone, **kwargs)
        self.fields["aspirated_ml"].help_text = _("Usually 0 for a new pump.")


def _caregiver_field(name: str, n: int) -> forms.Field:
    field = copy.deepcopy(InviteCaregiverForm.base_fields[name])
    field.required = False  # a row left empty is no caregiver; clean() asks for the rest of a row
    # A marker of ours that templates/console/enrol_field.html reads: it does not call such a
    # field "optional" (the row is). Field declares no such attribute.
    field.row_field = True  # type: ignore[attr-defined]
    field.label = _("Caregiver %(n)d: %(what)s") % {"n": n, "what": field.label}
    return field


class InvitationsStepForm(ServiceErrorsMixin, forms.Form):
    """Step 4: invite the patient to log in, and up to three caregivers (a row left empty
    is no caregiver)."""

    invite_patient = forms.BooleanField(
        label=_("Send the patient an e-mail inviting them to log in"),
        required=False,
        help_text=_("With a log-in the patient sees their refill date, gets the inbox and can log symptoms."),
    )
    patient_email = forms.EmailField(
        label=_("Patient's e-mail address for the invitation"),
        required=False,
        help_text=_("Usually the same as their contact e-mail."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i in range(MAX_CAREGIVERS):
            for name in InviteCaregiverForm.base_fields:
                self.fields[f"caregiver_{i}_{name}"] = _caregiver_field(name, i + 1)
        for i in range(MAX_CAREGIVERS):
            self.fields[f"caregiver_{i}_email"].widget.attrs["autocomplete"] = "off"
        # Needed when the box above is ticked (the marker of _caregiver_field).
        self.fields["patient_email"].row_field = True  # type: ignore[attr-defined]

    @property
    def patient_fields(self):
        return [self["invite_patient"], self["patient_email"]]

    @property
    def caregiver_rows(self):
        return [
            {"n": i + 1, "fields": [self[f"caregiver_{i}_{name}"] for name in InviteCaregiverForm.base_fields]}
            for i in range(MAX_CAREGIVERS)
        ]

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        emails: dict[str, str] = {}
        if data.get("invite_patient"):
            if not data.get("patient_email") and "patient_email" not in self.errors:
                self.add_error("patient_email", _("Enter the patient's e-mail address, or untick the invitation."))
            elif data.get("patient_email"):
                emails[data["patient_email"].lower()] = "patient_email"
        for i in range(MAX_CAREGIVERS):
            name_key, email_key = f"caregiver_{i}_full_name", f"caregiver_{i}_email"
            relation_key = f"caregiver_{i}_relationship"
            name, email = data.get(name_key), data.get(email_key)
            if not (name or email or data.get(relation_key)) and email_key not in self.errors:
                continue
            if not name:
                self.add_error(name_key, _("Enter the caregiver's name, or clear this row."))
            if not email and email_key not in self.errors:
                self.add_error(email_key, _("Enter the caregiver's e-mail address, or clear this row."))
            if email:
                if email.lower() in emails:
                    self.add_error(
                        email_key, _("This e-mail address is already used above. Each person needs their own.")
                    )
                emails.setdefault(email.lower(), email_key)
        return data

    def invitations(self) -> list[dict]:
        """What to send: patients.services.invite keyword arguments, with the field each
        came from (so an error from the service lands next to it)."""
        data = self.cleaned_data
        out = []
        if data.get("invite_patient") and data.get("patient_email"):
            out.append({"kind": "patient", "email": data["patient_email"], "full_name": "", "prefix": "patient_"})
        for i in range(MAX_CAREGIVERS):
            if data.get(f"caregiver_{i}_email"):
                out.append(
                    {
                        "kind": "caregiver",
                        "email": data[f"caregiver_{i}_email"],
                        "full_name": data[f"caregiver_{i}_full_name"],
                        "relationship": data.get(f"caregiver_{i}_relationship") or "",
                        "prefix": f"caregiver_{i}_",
                    }
                )
        return out

    def field_for(self, key: str) -> str | None:
        """Service errors arrive as "caregiver_1_:email"; the patient's as "patient_:email"."""
        prefix, _sep, name = key.partition(":")
        if not _sep:
            return key
        return "patient_email" if prefix == "patient_" else f"{prefix}{name}"
