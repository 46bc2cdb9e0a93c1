"""The notifications page (ways to reach me, language, phone check, STOP state, test message),
the in-app inbox, and the endpoint where the SMS provider passes on texts such as STOP.

Every page here is about the logged-in person only: nothing takes a user or patient id from
the request, and an inbox message of anyone else answers 404.
"""

import json
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from .. import phone, preferences
from .preference_forms import NotificationPreferencesForm, PhoneCodeForm

INBOX_PAGE_SIZE = 50
TEST_SENT_AT = "refills_test_message_sent_at"
# Names on the records → names of the form's fields, for errors found when saving.
FORM_FIELD_OF = {
    "notification_channels": "channels",
    "language": "language",
    "phone": "phone",
    "time_zone": "time_zone",
}


class _Person:
    """Who is on the page: their patient record (if any), the people they look after, their choices."""

    def __init__(self, user):
        self.user = user
        self.patient = preferences.own_patient(user)
        self.links = preferences.live_links(user)
        self.choices = preferences.current(user, self.patient)
        # A patient's own zone is set by their clinic; a caregiver's blank zone means the patient's.
        self.show_time_zone = self.patient is None or bool(self.links)

    def form(self, data=None):
        choices = self.choices
        initial = {
            "channels": choices.channels,
            "language": choices.language,
            "phone": choices.phone,
            "time_zone": choices.time_zone,
        }
        return NotificationPreferencesForm(
            data,
            initial=initial,
            links=self.links,
            show_time_zone=self.show_time_zone,
            current_zone=choices.time_zone,
        )


def _page(request, person: _Person, *, form=None, code_form=None):
    now = timezone.now()
    choices = person.choices
    pending = phone.pending_code(request.session, choices.phone, now) if choices.phone else None
    show_code_form = (pending is not None and not choices.phone_verified) or code_form is not None
    return render(
        request,
        "refills/preferences.html",
        {
            "person": person,
            "choices": choices,
            "form": form or person.form(),
            "code_form": code_form or PhoneCodeForm(),
            "show_code_form": show_code_form,
            "pending": pending,
            "last_digits": phone.last_digits(choices.phone),
            "notes": preferences.notes(choices),
            "is_patient": person.patient is not None,
        },
    )


def _to_page(anchor: str = ""):
    return redirect(reverse("notification-preferences") + (f"#{anchor}" if anchor else ""))


@login_required
@require_http_methods(["GET", "POST"])
def preferences_page(request):
    person = _Person(request.user)
    if request.method == "GET":
        return _page(request, person)
    form = person.form(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = preferences.save(
                by=request.user,
                patient=person.patient,
                links=person.links,
                channels=data["channels"],
                language=data["language"],
                phone=data["phone"],
                time_zone=data.get("time_zone") if person.show_time_zone else None,
                call_clinic=form.call_clinic(),
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Your choices are saved.") if changed else _("Nothing changed."))
            return _to_page()
    return _page(request, person, form=form)


def _add_errors(form, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        name = FORM_FIELD_OF.get(field)
        form.add_error(name if name in form.fields else None, errors)


@login_required
@require_POST
def send_code(request):
    person = _Person(request.user)
    choices = person.choices
    if choices.opted_out:
        messages.error(request, _("You texted STOP, so we cannot text you a code. Press “Start texts again” first."))
    elif choices.phone_verified:
        messages.info(request, _("Your phone number is already checked."))
    else:
        try:
            phone.send_code(request.session, request.user, choices.phone, timezone.now())
        except ValidationError as error:
            messages.error(request, error.messages[0])
        else:
            messages.success(
                request,
                _("We texted a code to your number ending in %(digits)s. It works for 10 minutes.")
                % {"digits": phone.last_digits(choices.phone)},
            )
    return _to_page("phone")


@login_required
@require_POST
def verify_code(request):
    person = _Person(request.user)
    if person.choices.phone_verified:
        messages.info(request, _("Your phone number is already checked."))
        return _to_page("phone")
    code_form = PhoneCodeForm(request.POST)
    if code_form.is_valid():
        now = timezone.now()
        try:
            phone.check_code(request.session, request.user, person.choices.phone, code_form.cleaned_data["code"], now)
        except ValidationError as error:
            code_form.add_error("code", error)
        else:
            phone.mark_verified(request.user, person.patient, person.choices.phone, now)
            messages.success(request, _("Your phone number is checked. Text messages can reach you now."))
            return _to_page("phone")
    return _page(request, person, code_form=code_form)


@login_required
@require_POST
def texts_on(request):
    person = _Person(request.user)
    phone.opt_in(request.user, person.patient, timezone.now(), path=request.path)
    messages.success(
        request,
        _("Texts are on again. If they still do not arrive, text START to the number our texts come from."),
    )
    return _to_page("phone")


@login_required
@require_POST
def send_test(request):
    now = timezone.now()
    last = request.session.get(TEST_SENT_AT)
    if last and (now - datetime.fromisoformat(last)) < preferences.TEST_MESSAGE_EVERY:
        messages.error(request, _("We just sent you a test message. Please wait a minute before you send another."))
        return _to_page("test")
    try:
        sent = preferences.send_test(request.user, now)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return _to_page("test")
    request.session[TEST_SENT_AT] = now.isoformat()
    if sent.queued:
        messages.success(
            request,
            _("Sent to the queue: it arrives within a minute, by %(ways)s.") % {"ways": _ways(sent.channels)},
        )
    else:
        messages.success(request, _("We sent a test e-mail to %(email)s.") % {"email": request.user.email})
    return _to_page("test")


def _ways(channels) -> str:
    names = {"email": _("e-mail"), "sms": _("text message"), "inbox": _("your inbox in this app")}
    return ", ".join(names[c] for c in channels) if channels else _("no way yet")


# --- The in-app inbox -----------------------------------------------------------------------


@login_required
def inbox(request):
    page = Paginator(preferences.inbox(request.user), INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "refills/inbox.html", {"page": page, "zone": preferences.display_zone(request.user)})


@login_required
def inbox_message(request, message_id):
    message = get_object_or_404(preferences.inbox(request.user), pk=message_id)
    was_new = message.read_at is None
    preferences.mark_read(message, timezone.now())
    link = message.link if message.link.startswith(("https://", "http://", "/")) else ""
    return render(
        request,
        "refills/inbox_message.html",
        {"message": message, "was_new": was_new, "link": link, "zone": preferences.display_zone(request.user)},
    )


@login_required
@require_POST
def inbox_read_all(request):
    count = preferences.mark_all_read(request.user, timezone.now())
    if count:
        messages.success(request, _("All your messages are marked as read."))
    return redirect("inbox")


# --- Texts the SMS provider passes on -----------------------------------------------------------


@csrf_exempt
@require_POST
def sms_inbound(request):
    """The SMS provider posts each text people send us: `from` and `text`, form-encoded or
    JSON, with the shared secret SMS_INBOUND_TOKEN in the X-Sms-Token header. The answer is
    the reply to text back, as plain text."""
    expected = getattr(settings, "SMS_INBOUND_TOKEN", "")
    if not expected or not constant_time_compare(request.headers.get("X-Sms-Token", ""), expected):
        return _plain("Forbidden.", status=403)
    data = request.POST
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            data = None
        if not isinstance(data, dict):
            return _plain("The body is not a JSON object.", status=400)
    number, text = data.get("from"), data.get("text")
    if not isinstance(number, str) or not number.strip() or not isinstance(text, str):
        return _plain("Both `from` and `text` are required.", status=400)
    reply = phone.handle_inbound(number.strip(), text, path=request.path)
    return _plain(reply)


def _plain(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
