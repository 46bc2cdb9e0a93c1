"""The reminder plan as people see it (SPEC §5): the staff page of a patient's plan and
deliveries, the booked refill appointment, and the private calendar feed.

Thin: the patient comes from patients.access (anything else is a 404), writes go through
refills.services. refills.selectors.reminder_plan is the one reader of a plan; the API
(plan_api.py) uses it too, so the page and the API can never disagree about what is planned or
who may see a row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from patients import audit
from patients import services as patient_services
from patients.access import get_visible_patient, visible_patients
from patients.models import Patient, User

from .. import appointments, selectors
from ..domain.clock import local_instant
from ..domain.events import DATE_OUT_OF_RANGE, date_in_range
from ..models import RefillCycle
from ..notify import calendar
from .forms import DateInput, ServiceErrorsMixin
from .views import _staff_patient

if TYPE_CHECKING:
    pass

PAGE_SIZE = 100
FEED_SALT = "refills.calendar"
FEED_KEEPS_ENDED_CYCLES = timedelta(days=180)


# --- The private calendar feed ----------------------------------------------------------------


def feed_token(patient: Patient, user: User) -> str:
    """One person's link to one patient's refill dates, signed and deterministic: the same link
    every time the page shows it to them, until someone asks for a new one (the version; links
    made before versions had none, which reads as 0). It names the person, so it stops working
    as soon as they may no longer see the patient."""
    payload = {"p": patient.pk, "u": user.pk}
    if patient.calendar_version:
        payload["v"] = patient.calendar_version
    return signing.Signer(salt=FEED_SALT).sign_object(payload)


def feed_patient(token: str) -> Patient | None:
    """The patient of a link, if the person it was made for may still see them (a revoked
    caregiver, staff who left the clinic or whose patient moved to another clinic, a closed
    account: None). Links that name no person, from before links named one, are refused."""
    try:
        payload = signing.Signer(salt=FEED_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    patient_id, user_id, version = payload.get("p"), payload.get("u"), payload.get("v", 0)
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (patient_id, user_id, version)):
        return None
    user = User.objects.filter(pk=cast(int, user_id)).first()  # an int: checked above
    if user is None:
        return None
    return visible_patients(user).filter(pk=cast(int, patient_id), calendar_version=version).first()


def feed_url(patient: Patient, user: User) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("calendar-feed", args=[feed_token(patient, user)])


@require_safe
def calendar_feed(request, token):
    """Anyone with the link gets the refill dates: no log-in (calendar apps have none), so the
    events carry no names or doses. Each fetch checks that the person the link was made for may
    still see the patient."""
    patient = feed_patient(token)
    if patient is None:
        raise Http404("No such calendar.")
    recent = timezone.now() - FEED_KEEPS_ENDED_CYCLES
    cycles = RefillCycle.objects.filter(patient=patient).filter(Q(ended_at__isnull=True) | Q(ended_at__gte=recent))
    response = HttpResponse(
        calendar.feed_ics(cycles.order_by("started_at")), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="pump-refills.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@login_required
@require_GET
def calendar_link(request, patient_id):
    """The patient's private calendar link, for the patient, their caregivers and staff."""
    patient = get_visible_patient(request.user, patient_id)
    audit.record_staff_read(request, patient, "calendar_link")
    url = feed_url(patient, request.user)
    webcal = "webcal://" + url.split("://", 1)[-1]
    return render(request, "refills/plan_calendar.html", {"patient": patient, "url": url, "webcal": webcal})


@login_required
@require_POST
def calendar_link_renew(request, patient_id):
    """A new private link; the old one stops working at once (it was shared or lost)."""
    patient = get_visible_patient(request.user, patient_id)
    patient_services.renew_calendar_link(by=request.user, patient=patient, path=request.path)
    messages.success(
        request,
        _("This is a new calendar link. The old one no longer works: put the new one in each calendar app you use."),
    )
    return redirect("patient-calendar", patient_id=patient.pk)


# --- The staff page of the plan ----------------------------------------------------------------


@login_required
@require_GET
def reminder_plan_page(request, patient_id):
    patient = _staff_patient(request, patient_id)
    audit.record_staff_read(request, patient, "reminders")
    plan = selectors.reminder_plan(patient)
    page = Paginator(plan.deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "refills/plan.html",
        {"patient": patient, "plan": plan, "page": page, "rows": plan.delivery_lines(page)},
    )


# --- The booked refill appointment -----------------------------------------------------------


class TimeOfDayInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%H:%M")


class AppointmentForm(ServiceErrorsMixin, forms.Form):
    date = forms.DateField(label=gettext_lazy("Date of the appointment"), widget=DateInput)
    time = forms.TimeField(
        label=gettext_lazy("Time"), widget=TimeOfDayInput, help_text=gettext_lazy("For example 14:30.")
    )

    def __init__(self, *args, zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone

    def clean_date(self):
        day = self.cleaned_data["date"]
        if not date_in_range(day):  # year 9999 would overflow on the way to UTC
            raise forms.ValidationError(DATE_OUT_OF_RANGE)
        return day

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        if data.get("date") and data.get("time"):
            data["at"] = local_instant(data["date"], data["time"], self.zone)
            if data["at"] is None:
                self.add_error("time", _("The clocks change at that time, so it does not exist. Choose another time."))
        return data

    @classmethod
    def initial_for(cls, cycle: RefillCycle | None, zone: str) -> dict:
        if cycle is None or cycle.appointment_at is None:
            return {}
        local = cycle.appointment_at.astimezone(ZoneInfo(zone))
        return {"date": local.date(), "time": local.time().replace(second=0, microsecond=0)}


@login_required
@require_http_methods(["GET", "POST"])
def appointment(request, patient_id):
    """Staff record (or remove) the booked refill appointment of the open cycle. One after the
    refill date is saved anyway, with a warning."""
    patient = _staff_patient(request, patient_id)
    cycle = selectors.open_cycle(patient)
    removing = request.method == "POST" and request.POST.get("action") == "remove"
    form = AppointmentForm(
        request.POST if request.method == "POST" and not removing else None,
        zone=patient.time_zone,
        initial=AppointmentForm.initial_for(cycle, patient.time_zone),
    )
    if request.method == "POST" and (removing or form.is_valid()):
        at = None if removing else form.cleaned_data["at"]
        try:
            booked = appointments.book_appointment(patient, at, request.user)
        except ValidationError as error:
            if removing:
                messages.error(request, " ".join(error.messages))
            else:
                form.add_service_errors(error)
        else:
            if at is None:
                messages.success(request, _("The appointment is removed."))
            else:
                messages.success(request, _("The appointment is saved. The reminders now mention it."))
            if booked.warning:
                messages.warning(request, booked.warning)
            return redirect("reminder-plan", patient_id=patient.pk)
    if request.method == "GET":
        audit.record_staff_read(request, patient, "refill_appointment")
    return render(
        request,
        "refills/appointment.html",
        {"patient": patient, "cycle": cycle, "form": form, "warning": selectors.appointment_warning(cycle)},
    )
