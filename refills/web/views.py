"""Pages about the pump: the home page's refill cards, and the staff pages (pump profile,
recording an event with a preview, the event history). Thin: each view asks
patients.access for the patient, calls refills.services, renders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from patients import audit, wording
from patients.access import get_visible_patient, is_clinic_staff
from patients.views import home_context

from .. import selectors, services
from ..models import PumpEvent, PumpProfile, RefillCycle
from ..selectors import refill_cards
from ..templatetags.refill_tags import local_when
from ..words import days_left_in_words, reason_sentence
from .event_forms import CORRECTABLE_KINDS, EventForm, initial_from_values
from .forms import PumpProfileForm
from .program_forms import flex_rows_needed, initial_from_program

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise, StrPromise

Kind = PumpEvent.Kind
RECORDABLE_KINDS = (Kind.REFILL, Kind.REPROGRAM, Kind.ALARM_REPORTED, Kind.PUMP_REPLACED, Kind.EXPLANTED)
KIND_TITLES = {
    Kind.REFILL: gettext_lazy("Record a refill"),
    Kind.REPROGRAM: gettext_lazy("Record a new dose program"),
    Kind.ALARM_REPORTED: gettext_lazy("Record a pump alarm"),
    Kind.PUMP_REPLACED: gettext_lazy("Record a new pump"),
    Kind.EXPLANTED: gettext_lazy("Record that the pump was removed"),
}
KIND_NAMES: dict[str, StrPromise] = {  # by PumpEvent.Kind, a str
    Kind.REFILL: gettext_lazy("Refill"),
    Kind.REPROGRAM: gettext_lazy("New dose program"),
    Kind.ALARM_REPORTED: gettext_lazy("Pump alarm"),
    Kind.PUMP_REPLACED: gettext_lazy("New pump"),
    Kind.EXPLANTED: gettext_lazy("Pump removed"),
    Kind.CORRECTION: gettext_lazy("Correction"),
}


@login_required
def home(request):
    """The home page of patients.views, plus a "next refill due" card for the user's own
    record and for each person they look after (one more query, whatever their number)."""
    context = home_context(request)
    own, cared_for = context["own"], context["cared_for"]
    roles = [wording.PATIENT] * bool(own) + [wording.CAREGIVER] * len(cared_for)
    cards = refill_cards(([own] if own else []) + cared_for, roles)
    if own:
        context["own_card"], cards = cards[0], cards[1:]
    context["cared_for_cards"] = cards
    return render(request, "patients/home.html", context)


def _staff_patient(request, patient_id):
    """The patient, for staff of their clinic; 404 for everyone else."""
    patient = get_visible_patient(request.user, patient_id)
    if not is_clinic_staff(request.user, patient):
        raise Http404("No such patient.")
    return patient


@login_required
@require_http_methods(["GET", "POST"])
def pump_profile(request, patient_id):
    patient = _staff_patient(request, patient_id)
    profile = PumpProfile.objects.filter(patient=patient).first()
    form = PumpProfileForm(
        request.POST if request.method == "POST" else None, initial=PumpProfileForm.initial_for(profile)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.save_profile(patient=patient, by=request.user, values=form.values())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("The pump profile is saved."))
            return redirect("patient-detail", patient_id=patient.pk)
    if request.method == "GET":
        audit.record_staff_read(request, patient, "pump_profile")
    return render(request, "refills/pump_profile.html", {"patient": patient, "profile": profile, "form": form})


# --- Recording an event -----------------------------------------------------------------------


def _correctable(patient, raw_id) -> PumpEvent:
    """The event to correct, among this patient's own events only; 404 otherwise."""
    try:
        return PumpEvent.objects.get(patient=patient, pk=int(raw_id), kind__in=CORRECTABLE_KINDS)
    except (PumpEvent.DoesNotExist, TypeError, ValueError):
        raise Http404("No such event.") from None


def _initial(patient, kind: str, target: PumpEvent | None) -> dict:
    if target is not None:
        corrections = list(target.corrections.all())
        return initial_from_values(selectors.effective_values(target, corrections))
    now = timezone.localtime(timezone.now(), timezone=ZoneInfo(patient.time_zone))
    initial = {"occurred_date": now.date(), "occurred_time": now.time().replace(second=0, microsecond=0)}
    if kind in (Kind.REFILL, Kind.REPROGRAM):
        # Start from the program in force: most refills and reprograms change little of it.
        cycle = RefillCycle.objects.filter(patient=patient, ended_at__isnull=True).first()
        program = (cycle.forecast_inputs or {}).get("program") if cycle else None
        if program:
            initial.update(initial_from_program(program))
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def event_new(request, patient_id):
    """Record an event in two steps: "Check" shows what saving would do and saves nothing;
    "Save" (confirm=1) saves exactly the values that were checked."""
    patient = _staff_patient(request, patient_id)
    kind = request.GET.get("kind", "")
    target = _correctable(patient, request.GET.get("corrects")) if kind == Kind.CORRECTION else None
    if request.method == "GET":
        audit.record_staff_read(request, patient, "pump_event_form")
    if kind not in RECORDABLE_KINDS and target is None:
        return render(request, "refills/event_choose.html", {"patient": patient, "kinds": KIND_TITLES})
    has_profile = PumpProfile.objects.filter(patient=patient).exists()

    initial = _initial(patient, kind, target)
    rows = flex_rows_needed(request.POST.get("rows") or request.GET.get("rows"), initial)
    form = EventForm(
        request.POST if request.method == "POST" else None,
        kind=kind,
        target_kind=target.kind if target else None,
        zone=patient.time_zone,
        rows=rows,
        initial=initial,
    )
    step = {"preview": None, "fingerprint": None, "changed_since_check": False}
    if request.method == "POST":
        saved, step = _check_or_save(request, patient, kind, target, form)
        if saved is not None:
            messages.success(request, _saved_message(patient, saved))
            return redirect("event-history", patient_id=patient.pk)

    query = {"kind": kind, **({"corrects": target.pk} if target else {})}
    return render(
        request,
        "refills/event_form.html",
        {
            "patient": patient,
            "kind": kind,
            "target": target,
            "target_name": KIND_NAMES.get(target.kind, "") if target else "",
            "title": _("Correct this event") if target else KIND_TITLES[kind],
            "form": form,
            "has_profile": has_profile,
            "action": f"{reverse('event-new', args=[patient.pk])}?{urlencode(query)}",
            "more_rows": f"{reverse('event-new', args=[patient.pk])}?{urlencode({**query, 'rows': 13})}",
            **step,
        },
    )


def _check_or_save(request, patient, kind, target, form) -> tuple[services.Recorded | None, dict]:
    """Save when "Save" comes with the fingerprint of the values last checked; otherwise
    check (a preview that saves nothing). Returns what was saved, or what to show."""
    submission = form.submission()
    occurred_at = submission.occurred_at or (target.occurred_at if target else None)
    arguments = {
        "patient": patient,
        "kind": kind,
        "values": submission.values,
        "occurred_at": occurred_at or timezone.now(),
        "by": request.user,
        "note": submission.note,
        "corrects": target,
    }
    step: dict[str, object] = {"preview": None, "fingerprint": None, "changed_since_check": False}
    if not form.is_valid():
        # Ask the service too, so that every problem shows at once; nothing is saved.
        try:
            services.record_event(**arguments, commit=False)
        except ValidationError as error:
            form.add_service_errors(error, only_new=True, ignore=() if occurred_at else ("occurred_at",))
        return None, step
    fingerprint = submission.fingerprint(target.pk if target else None)
    confirmed = request.POST.get("confirm") == "1"
    step["changed_since_check"] = confirmed and request.POST.get("checked") != fingerprint
    try:
        if confirmed and not step["changed_since_check"]:
            return services.record_event(**arguments), step
        preview = services.record_event(**arguments, commit=False)
    except ValidationError as error:
        form.add_service_errors(error)
        return None, step
    step.update(preview=_preview_context(preview, form), fingerprint=fingerprint)
    return None, step


def _preview_context(recorded: services.Recorded, form: EventForm) -> dict:
    result, outcome = recorded.forecast, recorded.outcome
    context = {"forecast": result, "outcome": outcome, "aspirated_ml": form.cleaned_data.get("aspirated_ml")}
    if result is not None:
        staff = wording.reader(wording.STAFF, recorded.event.patient.full_name)  # only staff record events
        context["reason"] = reason_sentence(result.refill_due_reason, staff, result.inputs.max_days_in_pump)
        context["days_left"] = days_left_in_words(result.days_until_refill_due, staff)
    return context


def _saved_message(patient, recorded: services.Recorded) -> str:
    name = KIND_NAMES[recorded.event.kind]
    if recorded.forecast is None:
        return _("%(kind)s saved.") % {"kind": name}
    return _("%(kind)s saved. Next refill due: %(date)s.") % {
        "kind": name,
        "date": local_when(recorded.forecast.refill_due_at, patient.time_zone),
    }


# --- The event history --------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    event: PumpEvent
    name: StrOrPromise
    corrections: list[PumpEvent]
    values_in_force: dict
    can_correct: bool


@login_required
@require_GET
def event_history(request, patient_id):
    """Everyone who can see the patient sees the events and the values in force; staff also
    see the warnings and discrepancy flags. Three queries whatever the number of events."""
    patient = get_visible_patient(request.user, patient_id)
    staff = is_clinic_staff(request.user, patient)
    if staff:
        audit.record_staff_read(request, patient, "pump_events")
    events = list(
        PumpEvent.objects.filter(patient=patient).select_related("recorded_by").order_by("-occurred_at", "-pk")
    )
    corrections: dict[int, list[PumpEvent]] = {}
    for event in sorted(events, key=lambda e: (e.recorded_at, e.pk)):
        if event.kind == Kind.CORRECTION and event.corrects_id is not None:
            corrections.setdefault(event.corrects_id, []).append(event)
    rows = [
        HistoryRow(
            event=event,
            name=KIND_NAMES.get(event.kind, event.get_kind_display()),
            corrections=corrections.get(event.pk, []),
            values_in_force=selectors.effective_values(event, corrections.get(event.pk, [])),
            can_correct=staff and event.kind in CORRECTABLE_KINDS,
        )
        for event in events
        if event.kind != Kind.CORRECTION
    ]
    return render(request, "refills/event_history.html", {"patient": patient, "rows": rows, "is_staff": staff})
