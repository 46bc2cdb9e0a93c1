from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from . import two_factor
from .models import CHANNEL_CHOICES, Clinic, Invitation, Patient, User, validate_opening_hours
from .rules import validate_reminder_steps

WRONG_LOGIN = _(
    "That e-mail and password do not match. Check both and try again. In the password, capital letters matter."
)


class LoginForm(AuthenticationForm):
    """Django's log-in form in the app's words. A wrong e-mail, a wrong password and an account
    that is turned off all get the same message: it must not tell anyone which e-mails have an
    account. Lock-out stays with django-axes (its own page, registration/locked_out.html)."""

    error_messages = {"invalid_login": WRONG_LOGIN, "inactive": WRONG_LOGIN}


class InviteCaregiverForm(forms.Form):
    full_name = forms.CharField(label=_("Their name"), max_length=150)
    email = forms.EmailField(label=_("Their e-mail address"))
    relationship = forms.CharField(label=_("How they know the patient"), max_length=60, required=False)


class InvitePatientForm(forms.Form):
    email = forms.EmailField(label=_("The patient's e-mail address"))


class AcceptInvitationForm(forms.Form):
    """A new log-in sets a password; someone who already has a log-in confirms theirs."""

    password1 = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("Password again"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, invitation: Invitation, existing_user: User | None, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        self.existing_user = existing_user
        self.request = request
        self.device: object | None = None  # the second factor that took the code, for the session
        self.standing = two_factor.standing(existing_user) if existing_user is not None else two_factor.NOBODY
        if existing_user is not None:
            del self.fields["password2"]
            self.fields["password1"].label = _("Your current password")
            self.fields["password1"].widget.attrs["autocomplete"] = "current-password"
        if self.standing.has_device:
            # Whoever has a second factor passes it here too (SPEC §10): a password alone links nothing.
            self.fields["code"] = forms.CharField(
                label=_("Code from your authenticator app (or a recovery code)"),
                max_length=20,
                widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
            )

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        password = data.get("password1")
        if not password:
            return data
        if self.existing_user is not None:
            # Through authenticate(), so django-axes counts the try with the log-in page's tries
            # for this account and refuses while it is locked (the page then answers 429).
            user = authenticate(self.request, username=self.existing_user.email, password=password)
            if user is None or user.pk != self.existing_user.pk:
                self.add_error("password1", _("That password is not right."))
            elif self.standing.staff and not self.standing.has_device:
                self.add_error(
                    None,
                    _(
                        "Set up two-step log-in first (ask your clinic admin for a set-up link), then open this link"
                        " again."
                    ),
                )
            elif self.standing.has_device and data.get("code"):
                checked = two_factor.check_code(self.existing_user, data["code"], ip=two_factor.client_ip(self.request))
                self.device = checked.device
                if checked.locked:
                    self.add_error("code", two_factor.TOO_MANY_CODES)
                elif checked.device is None:
                    self.add_error("code", _("That code is not right, or was used already. Try the newest code."))
            return data
        if password != data.get("password2"):
            self.add_error("password2", _("The two passwords are not the same."))
            return data
        try:
            password_validation.validate_password(
                password, User(email=self.invitation.email, full_name=self.invitation.full_name)
            )
        except forms.ValidationError as error:
            self.add_error("password1", error)
        return data


class EmergencyContactsField(forms.CharField):
    """One contact a line: name, phone[, relation]."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(
                ", ".join(v for v in (c.get("name", ""), c.get("phone", ""), c.get("relation", "")) if v) for c in value
            )
        return value

    def to_python(self, value):
        text = super().to_python(value)
        contacts = []
        for number, line in enumerate(filter(None, (ln.strip() for ln in (text or "").splitlines())), start=1):
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 2 or not parts[0] or not parts[1]:
                raise forms.ValidationError(
                    _("Line %(n)s: write a name, a comma, then a phone number."), params={"n": number}
                )
            contacts.append({"name": parts[0], "phone": parts[1], "relation": ", ".join(parts[2:])})
        return contacts


class PatientContactsForm(forms.ModelForm):
    """What a patient may change about themself (every forecast input is staff-only)."""

    emergency_contacts = EmergencyContactsField(
        label=_("Emergency contacts"),
        required=False,
        help_text=_("One a line: name, phone, how they know you. Example: Sam Lee, 555-0100, brother"),
    )
    notification_channels = forms.MultipleChoiceField(
        label=_("How should we reach you?"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[("email", _("E-mail")), ("sms", _("Text message (SMS)")), ("inbox", _("Inbox in this app"))],
    )

    class Meta:
        model = Patient
        fields = list(Patient.PATIENT_EDITABLE)
        labels = {"email": _("E-mail"), "phone": _("Phone"), "language": _("Language")}

    def clean_notification_channels(self):
        chosen = self.cleaned_data["notification_channels"]
        return [c for c in CHANNEL_CHOICES if c in chosen]


class PatientCreateForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["full_name", "date_of_birth", "time_zone", "email", "phone", "language"]
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"})}
        help_texts = {"time_zone": _("An IANA name such as America/Chicago or Europe/Paris.")}


DAY_LABELS = {
    "mon": _("Monday"),
    "tue": _("Tuesday"),
    "wed": _("Wednesday"),
    "thu": _("Thursday"),
    "fri": _("Friday"),
    "sat": _("Saturday"),
    "sun": _("Sunday"),
}


class ClinicSettingsForm(forms.ModelForm):
    """Clinic admins set the numbers, hours, emergency number, alert e-mail and reminder hour.
    Opening hours are typed one day a field, like 08:00-12:00, 13:00-17:00 (blank = closed)."""

    reminder_hour = forms.TypedChoiceField(
        label=_("Reminder hour (patient's local time)"),
        coerce=int,
        choices=[(h, f"{h:02d}:00") for h in range(7, 21)],
    )

    reminder_steps = forms.CharField(
        label=_("Reminder steps (days before the refill date)"),
        help_text=_("1 to 6 numbers, like 14, 7, 3, 1. The earliest at least 7; the 1-day step stays."),
    )

    class Meta:
        model = Clinic
        fields = [
            "name",
            "phone",
            "after_hours_phone",
            "emergency_number",
            "alert_email",
            "time_zone",
            "reminder_hour",
            "reminder_steps",
        ]
        help_texts = {"time_zone": _("The clinic's own time zone, for its opening hours. Example: America/Chicago")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["reminder_steps"] = ", ".join(str(d) for d in self.instance.reminder_steps or [])
        hours = self.instance.opening_hours or {}
        for day, label in DAY_LABELS.items():
            self.fields[f"hours_{day}"] = forms.CharField(
                label=label,
                required=False,
                max_length=60,
                initial=", ".join(f"{a}-{b}" for a, b in hours.get(day, [])),
                help_text=_("Example: 08:00-17:00. Leave blank when closed.") if day == "mon" else "",
            )

    def clean_reminder_steps(self):
        raw = self.cleaned_data["reminder_steps"]
        if isinstance(raw, list):
            raw = ", ".join(str(d) for d in raw)
        try:
            days = [int(part) for part in str(raw).replace(";", ",").split(",") if part.strip()]
            return list(validate_reminder_steps(days))
        except ValueError as error:
            message = str(error) if "invalid literal" not in str(error) else _("Write whole numbers, like 14, 7, 3, 1.")
            raise forms.ValidationError(message) from None

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        hours = {}
        for day in DAY_LABELS:
            text = (data.get(f"hours_{day}") or "").strip()
            if not text:
                continue
            spans = []
            for part in text.split(","):
                bounds = [b.strip() for b in part.split("-")]
                spans.append(bounds)
            try:
                validate_opening_hours({day: spans})
            except forms.ValidationError:
                self.add_error(f"hours_{day}", _("Write times like 08:00-17:00; the start must be before the end."))
                continue
            hours[day] = spans
        data["opening_hours"] = hours
        return data

    def changes(self) -> dict:
        """The settings as plain values for patients.services.update_clinic (a valid form only)."""
        return {name: self.cleaned_data[name] for name in [*self.Meta.fields, "opening_hours"]}

    def save(self, commit=True):
        raise NotImplementedError("patients.services.update_clinic writes the clinic: pass it changes()")
