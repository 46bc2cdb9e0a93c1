"""Forms of the notifications page: the choices, and the code that checks a phone number."""

from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from patients import zones
from patients.models import CHANNEL_CHOICES, LANGUAGE_CHOICES

from .. import phone

CHANNEL_LABELS = [("email", _("E-mail")), ("sms", _("Text message (SMS)")), ("inbox", _("Inbox in this app"))]


def zone_choices(current: str = "") -> list:
    """Time zones grouped by region, each shown by its city: America → Chicago."""
    groups: dict[str, list] = {}
    for name in sorted(zones.livable_zones() - {"UTC"}):
        region, _slash, place = name.partition("/")
        groups.setdefault(region, []).append((name, place.replace("_", " ").replace("/", " / ")))
    choices = [("", _("Same as the person I look after")), *groups.items(), ("UTC", "UTC")]
    known = {name for items in groups.values() for name, _label in items} | {"UTC"}
    if current and current not in known:
        choices.append((current, current))  # an older name set before this list existed
    return choices


class NotificationPreferencesForm(forms.Form):
    channels = forms.MultipleChoiceField(
        label=_("How should we reach you?"),
        help_text=_("Choose one or more."),
        choices=CHANNEL_LABELS,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one way for us to reach you."),
            "invalid_choice": _("“%(value)s” is not a way we can reach you. Choose e-mail, text message or inbox."),
        },
    )
    language = forms.ChoiceField(
        label=_("Language of our messages"),
        choices=LANGUAGE_CHOICES,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a language."),
            "invalid_choice": _("Choose English, Spanish or French."),
        },
    )
    time_zone = forms.ChoiceField(
        label=_("Your time zone"),
        required=False,
        help_text=_("We use it for the dates and times in your messages. Most people keep the first choice."),
        error_messages={"invalid_choice": _("Choose a time zone from the list, such as Chicago under America.")},
    )
    phone = forms.CharField(
        label=_("Mobile phone number for text messages"),
        required=False,
        max_length=32,
        help_text=_("Example: 555 010 1234. If you live outside the USA or Canada, start with + and the country code."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )

    def __init__(self, *args, links=(), show_time_zone=True, current_zone="", **kwargs):
        super().__init__(*args, **kwargs)
        self.links = list(links)
        if show_time_zone:
            cast(forms.ChoiceField, self.fields["time_zone"]).choices = zone_choices(current_zone)
        else:
            del self.fields["time_zone"]
        for link in self.links:
            self.fields[self.link_field(link)] = forms.BooleanField(
                label=link.patient.full_name, required=False, initial=link.notify_call_clinic
            )

    @staticmethod
    def link_field(link) -> str:
        return f"call_clinic_{link.pk}"

    @property
    def link_fields(self):
        return [self[self.link_field(link)] for link in self.links]

    @property
    def plain_fields(self):
        """Fields drawn with the shared field template (not the channels or the caregiver boxes)."""
        return [self[name] for name in ("language", "time_zone", "phone") if name in self.fields]

    def clean_channels(self):
        chosen = self.cleaned_data["channels"]
        return [channel for channel in CHANNEL_CHOICES if channel in chosen]

    def clean_phone(self):
        text = self.cleaned_data["phone"].strip()
        if not text:
            return ""
        number = phone.normalize(text)
        if number is None:
            raise forms.ValidationError(
                _("Write the whole number with the area code, like 555 010 1234, or start with + and the country code.")
            )
        return number

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        if "sms" in (data.get("channels") or []) and "phone" in data and not data["phone"]:
            self.add_error("phone", _("To get text messages, write your mobile phone number here."))
        return data

    def call_clinic(self) -> dict[int, bool]:
        return {link.pk: bool(self.cleaned_data.get(self.link_field(link))) for link in self.links}


class PhoneCodeForm(forms.Form):
    code = forms.CharField(
        label=_("The 6 numbers from the text message"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
        error_messages={"required": _("Type the 6 numbers from the text message.")},
    )

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split()).replace("-", "")
        if len(code) != 6 or not (code.isascii() and code.isdigit()):
            raise forms.ValidationError(_("Type the 6 numbers from the text message."))
        return code
