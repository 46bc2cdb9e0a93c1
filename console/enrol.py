"""Enrolment (SPEC §1 "enrol patients"; issue 6 part 6): clinic staff create a patient, the
pump profile and the first refill, and invite the patient and caregivers, in one guided flow
that works without JavaScript and warns when nobody could be reminded.

    /clinic/enrol/                    starts a flow (a new flow id) and goes to step 1
    /clinic/enrol/<flow>/<step>/      patient → pump → refill → invitations → review

Each step validates its own fields (its form, then the services in a dry run that is rolled
back) and keeps what was posted under the flow's id in the database (patients.models.
EnrolmentDraft, so a staff member signed out for being idle carries on after logging in
again); nothing is created until "Enrol" on the review step, which writes everything in ONE transaction through the same
services the other pages use (patients.services.create_patient and invite,
refills.services.save_profile and record_event). Any error rolls all of it back and shows the
field errors on the step they belong to. The invitation e-mails go out on commit.

Only staff of a clinic may enrol, and only into their own clinics; everyone else gets 404.

    enrolment.py    the one transaction: plain values in (a Plan), no request
    enrol_steps.py  the steps' forms, bound to what was posted or stored, and the Plan they make
    enrol_forms.py  the fields of each step's form
    enrol.py        the pages, and the flow's state in the database
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from patients import wording
from patients.access import staff_clinics
from patients.models import Clinic, EnrolmentDraft, Patient
from refills.domain.catalog import CATALOG
from refills.models import PumpProfile
from refills.templatetags.refill_tags import local_when
from refills.web.event_forms import Submission
from refills.words import days_left_in_words, reason_sentence

from .enrol_forms import PumpStepForm, RefillStepForm
from .enrol_steps import FORMS, STEP_TITLES, STEPS, Context, Incomplete, plan_of, zone_of
from .enrolment import Enrolled, Plan, StepError, enrol, nobody_to_remind

logger = logging.getLogger(__name__)

MAX_FLOWS = 5  # unfinished flows per person; the oldest is dropped first
FLOW_MAX_AGE = EnrolmentDraft.MAX_AGE  # the hourly housekeeping deletes older ones too
NOBODY_TO_REMIND = gettext_lazy(
    "Nobody can get refill reminders by e-mail or text. Add an e-mail address or invite a caregiver."
)


# --- The flow's state, kept in the database (patients.models.EnrolmentDraft) -------------------


def _as_flow(draft: EnrolmentDraft) -> dict:
    return {"clinic": draft.clinic_id, "data": draft.data, "done": draft.done, "patient": draft.patient_id}


def _flow(request, flow_id: str) -> dict | None:
    """This user's flow, unless it has expired (expired ones are deleted on the way)."""
    EnrolmentDraft.objects.filter(user=request.user, started_at__lt=timezone.now() - FLOW_MAX_AGE).delete()
    draft = EnrolmentDraft.objects.filter(pk=flow_id, user=request.user).first()
    return _as_flow(draft) if draft else None


def _save_flow(request, flow_id: str, flow: dict) -> None:
    EnrolmentDraft.objects.filter(pk=flow_id, user=request.user).update(
        data=flow["data"], done=flow["done"], patient_id=flow.get("patient")
    )


def _new_flow(request, clinic_id: int | None) -> str:
    mine = EnrolmentDraft.objects.filter(user=request.user, patient__isnull=True).order_by("-started_at")
    EnrolmentDraft.objects.filter(pk__in=list(mine.values_list("pk", flat=True)[MAX_FLOWS - 1 :])).delete()
    flow_id = secrets.token_urlsafe(12)
    EnrolmentDraft.objects.create(pk=flow_id, user=request.user, clinic_id=clinic_id, started_at=timezone.now())
    return flow_id


def _store(request, flow_id: str, flow: dict, step: str, form) -> None:
    """Keep what was posted for this step (re-validated each time it is used)."""
    flow["data"][step] = {name: form.data.getlist(name) for name in form.data if name in form.fields}
    if step not in flow["done"]:
        flow["done"].append(step)
    _save_flow(request, flow_id, flow)


def fingerprint(flow: dict) -> str:
    """Identifies the values the review showed, so "Enrol" enrols exactly those."""
    payload = {"clinic": flow.get("clinic"), "data": flow["data"]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _lock_flow(request, flow_id: str) -> int | None:
    """Inside the enrolment's transaction: lock the flow's row (a second "Enrol" of the same
    flow, e.g. a double click, waits here) and return the patient it already enrolled."""
    draft = EnrolmentDraft.objects.select_for_update().filter(pk=flow_id, user=request.user).first()
    return draft.patient_id if draft else None


# --- Pages -----------------------------------------------------------------------------------


def _clinics_or_404(request) -> list[Clinic]:
    clinics = list(staff_clinics(request.user).order_by("name"))
    if not clinics:
        raise Http404
    return clinics


@login_required
@require_GET
def enrol_start(request):
    """Start a new enrolment (several may run side by side, one a browser tab)."""
    clinics = _clinics_or_404(request)
    clinic_id = None
    if request.GET.get("clinic"):
        try:
            clinic_id = int(request.GET["clinic"])
        except ValueError:
            raise Http404 from None
        if clinic_id not in {c.pk for c in clinics}:
            raise Http404("No such clinic.")
    elif len(clinics) == 1:
        clinic_id = clinics[0].pk
    flow_id = _new_flow(request, clinic_id)
    return redirect("enrol-step", flow_id=flow_id, step="patient")


@login_required
@require_http_methods(["GET", "POST"])
def enrol_step(request, flow_id: str, step: str):
    clinics = _clinics_or_404(request)
    if step not in STEPS:
        raise Http404
    flow = _flow(request, flow_id)
    if flow is None:
        messages.info(request, _("That enrolment has expired or was never started. Please start again."))
        return redirect("enrol-start")
    if flow.get("patient"):
        # Already enrolled (a reload or a second click): show the patient, never a duplicate.
        return redirect("patient-detail", patient_id=flow["patient"])
    ctx = Context(request=request, flow_id=flow_id, flow=flow, clinics=clinics)
    ctx.clinic()  # 404 for a clinic that is not the user's own
    missing = next((s for s in STEPS[: STEPS.index(step)] if s not in flow["done"]), None)
    if missing is not None:
        return redirect(ctx.url(missing))
    if step == "review":
        return _review(ctx)
    if request.method == "POST":
        return _post_step(ctx, step)
    form = ctx.form(step)
    preview = None
    if step == "refill" and form.is_bound:
        try:
            preview = _preview(ctx, "refill")
        except StepError as error:
            return _show_error(ctx, error, _("Something does not fit. Fix it, then go on."))
        except Incomplete as missing_step:
            if missing_step.step != step:
                return redirect(ctx.url(missing_step.step))
    return _render_step(ctx, step, form, preview=preview)


def _post_step(ctx: Context, step: str):
    form = FORMS[step](ctx, ctx.request.POST)
    if form.is_valid():
        try:
            _dry_run(ctx, step, form)
        except StepError as error:
            if error.step != step:
                _store(ctx.request, ctx.flow_id, ctx.flow, step, form)
                return _show_error(ctx, error, _("Something in an earlier step does not fit. Fix it, then go on."))
            form.add_service_errors(error.error)
        except Incomplete as missing:
            return redirect(ctx.url(missing.step))
        else:
            if step == "patient" and "clinic" in form.cleaned_data:
                ctx.flow["clinic"] = form.cleaned_data["clinic"]
            _store(ctx.request, ctx.flow_id, ctx.flow, step, form)
            if step == "refill" and ctx.request.POST.get("action") == "check":
                return redirect(ctx.url("refill") + "#preview")
            return redirect(ctx.url(STEPS[STEPS.index(step) + 1]))
    elif isinstance(form, RefillStepForm):
        # The refill step: ask the services too, so every problem shows at once; nothing is kept.
        submission = form.submission()
        ignore = ("occurred_at",) if submission.occurred_at is None else ()
        try:
            plan = plan_of(ctx, "pump")
            plan.refill = Submission(
                submission.kind, submission.values, submission.occurred_at or timezone.now(), submission.note
            )
            enrol(plan, by=ctx.user, commit=False)
        except StepError as error:
            if error.step == step:
                form.add_service_errors(error.error, only_new=True, ignore=ignore)
        except Incomplete:
            pass
    return _render_step(ctx, step, form)


def _dry_run(ctx: Context, step: str, form) -> Enrolled:
    """Run the enrolment up to this step and roll it back: the services' own checks."""
    return enrol(plan_of(ctx, step, current=form), by=ctx.user, commit=False)


def _preview(ctx: Context, upto: str) -> dict:
    """What enrolling would do, from the stored steps: the forecast, the refill's warnings."""
    plan = plan_of(ctx, upto)
    enrolled = enrol(plan, by=ctx.user, commit=False)
    recorded = enrolled.recorded
    result = recorded.forecast if recorded else None
    preview = {
        "plan": plan,
        "forecast": result,
        "outcome": recorded.outcome if recorded else None,
        "values": recorded.event.values if recorded else {},
        "occurred_at": recorded.event.occurred_at if recorded else None,
        "profile": enrolled.profile,
        "zone": plan.patient["time_zone"],
    }
    if result is not None:
        staff = wording.reader(wording.STAFF, plan.patient.get("full_name", ""))
        preview["reason"] = reason_sentence(result.refill_due_reason, staff, result.inputs.max_days_in_pump)
        preview["days_left"] = days_left_in_words(result.days_until_refill_due, staff)
    return preview


def _review(ctx: Context):
    request = ctx.request
    notice = ""
    if request.method == "POST":
        if request.POST.get("checked") == fingerprint(ctx.flow):
            try:
                plan = plan_of(ctx, "review")
            except Incomplete as missing:
                return redirect(ctx.url(missing.step))
            return _enrol_now(ctx, plan)
        notice = _("Something changed since you checked it. Check everything again, then press “Enrol”.")
    try:
        preview = _preview(ctx, "review")
    except StepError as error:
        return _show_error(ctx, error, _("Something does not fit. Fix it here, then go on to enrol."))
    except Incomplete as missing:
        return redirect(ctx.url(missing.step))
    plan = preview["plan"]
    patient = Patient(clinic=plan.clinic, **plan.patient)
    context = {
        "preview": preview,
        "plan": plan,
        "patient": patient,
        "profile": preview["profile"],
        "pump_model": CATALOG[preview["profile"].model].label,
        "risk_labels": _risk_labels(preview["profile"]),
        "invitations": plan.invitations,
        "nobody_to_remind": nobody_to_remind(patient, plan.invitations),
        "nobody_message": NOBODY_TO_REMIND,
        "fingerprint": fingerprint(ctx.flow),
        "notice": notice,
    }
    return _render(ctx, "review", "console/enrol_review.html", context)


def _risk_labels(profile: PumpProfile) -> list[str]:
    return [str(PumpStepForm.base_fields[name].label) for name in PumpStepForm.RISK_FIELDS if getattr(profile, name)]


def _enrol_now(ctx: Context, plan: Plan):
    request = ctx.request
    already: list[int | None] = [None]

    def mark_done(enrolled: Enrolled) -> None:
        # Inside the transaction: the flow is marked done with the patient it created (and its
        # answers dropped), so a second "Enrol", which waited on the flow's row, creates nothing.
        _save_flow(request, ctx.flow_id, {**ctx.flow, "patient": enrolled.patient.pk, "data": {}})

    def guarded(plan: Plan) -> Enrolled | None:
        with transaction.atomic():
            already[0] = _lock_flow(request, ctx.flow_id)
            if already[0]:
                return None
            return enrol(plan, by=ctx.user, before_commit=mark_done)

    try:
        enrolled = guarded(plan)
    except StepError as error:
        return _show_error(ctx, error, _("Nothing was saved. Fix this, then enrol again."))
    except (IntegrityError, DataError) as error:  # at commit: nothing was saved
        logger.warning("enrolment refused by the database at commit: %s", error)
        return _show_error(
            ctx,
            StepError("review", ValidationError(_("The record could not be saved, so nothing was saved."))),
            _("Please try again."),
        )
    if enrolled is None:  # another "Enrol" of this flow got there first
        return redirect("patient-detail", patient_id=already[0])
    patient = enrolled.patient
    sent = ", ".join(i.email for i in enrolled.invitations)
    message = _("%(name)s is enrolled.") % {"name": patient.full_name}
    if enrolled.recorded and enrolled.recorded.forecast:
        message += " " + _("Next refill due: %(date)s.") % {
            "date": local_when(enrolled.recorded.forecast.refill_due_at, patient.time_zone)
        }
    if sent:
        message += " " + _("Invitations sent to: %(emails)s.") % {"emails": sent}
    messages.success(request, message)
    if nobody_to_remind(patient, plan.invitations or []):
        messages.warning(request, NOBODY_TO_REMIND)
    return redirect("patient-detail", patient_id=patient.pk)


def _show_error(ctx: Context, error: StepError, notice: str):
    """Show the step a service refused, bound to its stored values, with the field errors."""
    step = error.step if error.step in FORMS else "review"
    if step == "review":
        context = {"notice": notice, "errors": error.error.messages}
        return _render(ctx, "review", "console/enrol_problem.html", context)
    form = ctx.form(step)
    form.add_service_errors(error.error)
    return _render_step(ctx, step, form, notice=notice)


TEMPLATES = {
    "patient": "console/enrol_patient.html",
    "pump": "console/enrol_pump.html",
    "refill": "console/enrol_refill.html",
    "invitations": "console/enrol_invitations.html",
}


def _render_step(ctx: Context, step: str, form, *, preview=None, notice: str = ""):
    context = {"form": form, "preview": preview, "notice": notice}
    if step == "refill":
        context["zone"] = form.zone
        context["more_rows"] = ctx.url("refill") + "?rows=13"
    if step == "pump":
        context["zone"] = zone_of(ctx)
    return _render(ctx, step, TEMPLATES[step], context)


def _render(ctx: Context, step: str, template: str, context: dict):
    index = STEPS.index(step)
    steps = [
        {
            "n": i + 1,
            "key": key,
            "title": STEP_TITLES[key],
            "url": ctx.url(key),
            "current": key == step,
            "done": key in ctx.flow["done"],
            "reachable": all(s in ctx.flow["done"] for s in STEPS[:i]),
        }
        for i, key in enumerate(STEPS)
    ]
    patient_form = ctx.form("patient")
    name = patient_form.cleaned_data.get("full_name", "") if patient_form.is_bound and patient_form.is_valid() else ""
    clinic = ctx.clinic()
    return render(
        ctx.request,
        template,
        {
            **context,
            "step": step,
            "flow_id": ctx.flow_id,
            "step_n": index + 1,
            "step_count": len(STEPS),
            "step_title": STEP_TITLES[step],
            "steps": steps,
            "action": ctx.url(step),
            "back": ctx.url(STEPS[index - 1]) if index else None,
            "patient_name": name,
            "clinic": clinic,
            "several_clinics": len(ctx.clinics) > 1,
        },
    )
