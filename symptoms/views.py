"""Check-in pages: the form, the guidance page of a saved check-in, a patient's check-in history,
and the public "Is this an emergency?" checker. Thin: each view asks patients.access for the
patient, calls symptoms.services, renders.

A check-in posted after the session ended still gets its guidance (SPEC §6): the answers are
triaged without any patient data, kept in the session, and saved after the person logs in and
presses "Save". Nothing about the patient is looked up or shown until then.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from datetime import time as dt_time
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from patients import audit, wording
from patients.access import get_visible_patient, own_record, reader_of, visible_patients
from refills.words import when_in_words

from . import services
from .forms import CheckInForm, StaffCheckInForm, initial_unit, reported
from .guidance import fill_page, fill_page_no_clinic, staff_script, tel_href
from .models import CheckIn

YOU = wording.Reader(wording.PATIENT)  # whoever is filling in the form themselves
DRAFT = "symptoms_checkin_draft"  # answers posted after the session ended, kept until saved


def _tel(number: str) -> str:
    return tel_href(number) if number else ""


def _guidance(
    request,
    *,
    page,
    reasons,
    answers: dict,
    who: wording.Reader = YOU,
    patient=None,
    checkin=None,
    script="",
    login_to_save="",
    own_patient=None,
    emergency_number="",
):
    unsure = answers.get("pump_alarm") == CheckIn.PumpAlarm.UNSURE
    return render(
        request,
        "symptoms/guidance.html",
        {
            "page": page,
            "call_href": _tel(page.call_number),
            "reasons": reasons,
            "unsure_alarm": wording.say("checkin.unsure_alarm", who) if unsure else "",
            "reported": reported(
                answers.get("symptoms") or [],
                answers.get("pump_alarm") or "",
                answers.get("temperature"),
                answers.get("temperature_unit") or "",
            ),
            "patient": patient,
            "checkin": checkin,
            "staff_script": script,
            "login_to_save": login_to_save,
            "own_patient": own_patient,
            "emergency_number": emergency_number,  # the strip on top (base.html); empty: the default
        },
    )


def _form_page(request, form, *, patient=None, title, action, logged_out=False, emergency_number=""):
    number = emergency_number or (patient.clinic.emergency_number if patient else settings.DEFAULT_EMERGENCY_NUMBER)
    return render(
        request,
        "symptoms/checkin_form.html",
        {
            "form": form,
            "groups": form.groups(),
            "patient": patient,
            "title": title,
            "action": action,
            "logged_out": logged_out,
            "emergency_number": number,
            "emergency_href": _tel(number),
            "is_staff_form": isinstance(form, StaffCheckInForm),
        },
    )


# --- Logging a check-in ---------------------------------------------------------------------------


def _new_form(patient, role, data=None):
    initial = {
        "temperature_unit": initial_unit(patient.clinic.emergency_number),
        "client_token": uuid.uuid4().hex,
    }
    if role == CheckIn.Role.STAFF:
        return StaffCheckInForm(data, initial=initial, zone=patient.time_zone)
    return CheckInForm(data, initial=initial)


def checkin_new(request, patient_id):
    """GET the form; POST saves and shows the guidance (through a redirect, so a reload does not
    post again). Logged out, a POST gets its guidance without saving; GET asks to log in."""
    if not request.user.is_authenticated:
        if request.method == "POST" and not request.POST.get("resume"):
            return _answer_logged_out(request, patient_id)
        return redirect_to_login(request.get_full_path())
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    patient = get_visible_patient(request.user, patient_id)
    role = services.role_of(request.user, patient)
    if request.GET.get("resume") or request.POST.get("resume"):
        return _resume(request, patient)
    form = _new_form(patient, role, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            recorded = services.record_checkin(
                patient=patient, by=request.user, client_token=form.cleaned_data["client_token"], **form.answers()
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            return redirect("checkin-detail", checkin_id=recorded.checkin.pk)
    if request.method == "GET":
        audit.record_staff_read(request, patient, "checkin_form")
    title = (
        _("Log a phone call about %(name)s") % {"name": patient.full_name}
        if role == CheckIn.Role.STAFF
        else _("How are you feeling?")
        if role == CheckIn.Role.PATIENT
        else _("How is %(name)s?") % {"name": patient.full_name}
    )
    return _form_page(request, form, patient=patient, title=title, action=request.path)


def _answer_logged_out(request, patient_id):
    """The session ended while the form was open. Triage the answers with no patient data (nothing
    about the patient is looked up), keep them in the session, and offer to log in to save them."""
    form = CheckInForm(request.POST)
    if form.is_valid():
        try:
            assessment = services.triage_only(**form.answers())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            request.session[DRAFT] = {
                **form.answers(),
                "patient_id": int(patient_id),
                "observed_at": assessment.answers.observed_at.isoformat(),
                # Staff may have said when the signs were seen: on the patient's clock, whose zone
                # is only known once they are logged in again.
                "seen_on_patient_clock": [request.POST.get("observed_date", ""), request.POST.get("observed_time", "")],
                "client_token": uuid.uuid4().hex,
            }
            resume = reverse("checkin-new", args=[patient_id]) + "?resume=1"
            login = f"{reverse('login')}?{urlencode({'next': resume})}"
            page = fill_page_no_clinic(assessment.disposition.level, settings.DEFAULT_EMERGENCY_NUMBER)
            return _guidance(
                request, page=page, reasons=assessment.disposition.reasons, answers=form.answers(), login_to_save=login
            )
    return _form_page(request, form, title=_("How are you feeling?"), action=request.path, logged_out=True)


def _draft_observed_at(draft: dict, patient, role: str):
    """When the signs were seen: the time staff gave (on the patient's clock), else when the
    answers were posted."""
    day, time = (draft.get("seen_on_patient_clock") or ["", ""])[:2]
    if not (day and time) or role != CheckIn.Role.STAFF:
        return draft["observed_at"]
    try:
        return datetime.combine(date.fromisoformat(day), dt_time.fromisoformat(time)).replace(
            tzinfo=ZoneInfo(patient.time_zone)
        )
    except ValueError:
        raise ValidationError({"observed_at": [_("The date or time seen could not be read.")]}) from None


def _resume(request, patient):
    """After logging in again: show the answers kept from before, and save them on "Save"."""
    draft = request.session.get(DRAFT)
    if not draft or draft.get("patient_id") != patient.pk:
        return redirect("checkin-new", patient_id=patient.pk)
    if request.method == "POST":
        if request.POST.get("resume") == "discard":
            request.session.pop(DRAFT, None)
            return redirect("checkin-new", patient_id=patient.pk)
        answers = {k: draft.get(k) for k in ("symptoms", "temperature", "temperature_unit", "pump_alarm", "note")}
        try:
            recorded = services.record_checkin(
                patient=patient,
                by=request.user,
                observed_at=_draft_observed_at(draft, patient, services.role_of(request.user, patient)),
                client_token=draft["client_token"],
                from_draft=True,
                **answers,
            )
        except ValidationError as error:
            request.session.pop(DRAFT, None)
            return render(
                request,
                "symptoms/resume.html",
                {"patient": patient, "problems": error.messages, "reported": []},
            )
        request.session.pop(DRAFT, None)
        return redirect("checkin-detail", checkin_id=recorded.checkin.pk)
    audit.record_staff_read(request, patient, "checkin_form")
    try:
        seen = _draft_observed_at(draft, patient, services.role_of(request.user, patient))
    except ValidationError:
        seen = draft["observed_at"]  # saving says what is wrong with the time given
    seen = datetime.fromisoformat(seen) if isinstance(seen, str) else seen
    return render(
        request,
        "symptoms/resume.html",
        {
            "patient": patient,
            "reported": reported(
                draft.get("symptoms") or [],
                draft.get("pump_alarm") or "",
                draft.get("temperature"),
                draft.get("temperature_unit") or "",
            ),
            "note": draft.get("note") or "",
            "when": when_in_words(seen, patient.time_zone),
            "problems": [],
        },
    )


# --- A saved check-in and the history -------------------------------------------------------------


@login_required
@require_GET
def checkin_detail(request, checkin_id):
    """The guidance of a saved check-in, with the clinic's numbers as they are now."""
    checkin = get_object_or_404(
        CheckIn.objects.select_related("patient__clinic", "logged_by").filter(
            patient__in=visible_patients(request.user)
        ),
        pk=checkin_id,
    )
    patient = checkin.patient
    who = reader_of(request.user, patient)
    staff = who.role == wording.STAFF
    if staff:
        audit.record_staff_read(request, patient, "checkin")
    numbers = services.numbers_now(patient.clinic)
    page = fill_page(
        checkin.level,
        {**numbers, "patient_phone": patient.phone},
        clinic_told=True,
        pump_data_checked=checkin.pump_data_checked,
        who=who,
    )
    script = staff_script(checkin.level, numbers) if staff and checkin.logged_by_role == CheckIn.Role.STAFF else ""
    answers = {
        "symptoms": checkin.symptoms,
        "pump_alarm": checkin.pump_alarm,
        "temperature": checkin.temperature,
        "temperature_unit": checkin.temperature_unit,
    }
    return _guidance(
        request,
        page=page,
        reasons=services.reasons_for(checkin, who),
        answers=answers,
        who=who,
        emergency_number=numbers["emergency_number"],
        patient=patient,
        checkin=checkin,
        script=script,
    )


HISTORY_PAGE_SIZE = 50


@login_required
@require_GET
def checkin_history(request, patient_id):
    """A patient's check-ins, newest first, each with its level. The same number of queries for
    one check-in or a page full."""
    patient = get_visible_patient(request.user, patient_id)
    audit.record_staff_read(request, patient, "checkins")
    checkins = CheckIn.objects.filter(patient=patient).select_related("logged_by").order_by("-observed_at", "-pk")
    page = Paginator(checkins, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "checkin": checkin,
            "when": when_in_words(checkin.observed_at, patient.time_zone),
            "reported": reported(checkin.symptoms, checkin.pump_alarm, checkin.temperature, checkin.temperature_unit),
        }
        for checkin in page
    ]
    return render(request, "symptoms/history.html", {"patient": patient, "page": page, "rows": rows})


# --- The public checker --------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])  # HEAD: an uptime check must see the page up
def emergency_check(request):
    """ "Is this an emergency?": the triage, saving nothing. Without a log-in it has no pump data
    and no clinic, so it gives the default emergency number. A logged-in patient gets their own
    clinic's numbers and the triage with their pump data (still saved nowhere, so the page says the
    clinic has not been told, and offers to log the check-in)."""
    own = own_record(request.user)
    number = services.numbers_now(own.clinic)["emergency_number"] if own else settings.DEFAULT_EMERGENCY_NUMBER
    form = CheckInForm(
        request.POST if request.method == "POST" else None, initial={"temperature_unit": initial_unit(number)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            assessment = services.triage_only(patient=own, **form.answers())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            disposition = assessment.disposition
            if own is None:
                page = fill_page_no_clinic(disposition.level, number)
            else:
                page = fill_page(
                    disposition.level,
                    services.numbers_now(own.clinic),
                    clinic_told=False,
                    pump_data_checked=disposition.pump_data_checked,
                )
            return _guidance(
                request,
                page=page,
                reasons=disposition.reasons,
                answers=form.answers(),
                own_patient=own,
                emergency_number=number,
            )
    return _form_page(request, form, title=_("Is this an emergency?"), action=request.path, emergency_number=number)
