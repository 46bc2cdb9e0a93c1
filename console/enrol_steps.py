"""The steps of the enrolment flow: their forms, bound to what was posted or to what the flow
stored for them, and the enrolment.Plan that the cleaned values of the steps done so far make.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from patients.models import Clinic
from refills.web.program_forms import flex_rows_needed

from .enrol_forms import InvitationsStepForm, PatientStepForm, PumpStepForm, RefillStepForm
from .enrolment import Plan

STEPS = ("patient", "pump", "refill", "invitations", "review")
STEP_TITLES = {
    "patient": gettext_lazy("The patient"),
    "pump": gettext_lazy("The pump"),
    "refill": gettext_lazy("The first refill"),
    "invitations": gettext_lazy("Invitations"),
    "review": gettext_lazy("Check and enrol"),
}


# --- Forms of each step, from what was posted or stored ----------------------------------------


def stored_data(flow: dict, step: str) -> QueryDict | None:
    """What the flow kept for this step (console/enrol.py stores it), as posted data."""
    data = flow["data"].get(step)
    if data is None:
        return None
    query = QueryDict(mutable=True)
    for name, values in data.items():
        query.setlist(name, [str(v) for v in values])
    return query


@dataclass
class Context:
    request: HttpRequest
    flow_id: str
    flow: dict
    clinics: list[Clinic]
    stored_forms: dict = field(default_factory=dict)

    def form(self, step: str):
        """The step's form bound to what was stored for it (unbound if nothing was), made and
        validated once a request."""
        if step not in self.stored_forms:
            form = FORMS[step](self)
            if form.is_bound:
                form.is_valid()
            self.stored_forms[step] = form
        return self.stored_forms[step]

    @property
    def user(self):
        return self.request.user

    def url(self, step: str) -> str:
        return reverse("enrol-step", kwargs={"flow_id": self.flow_id, "step": step})

    def clinic(self, form: PatientStepForm | None = None) -> Clinic | None:
        """The clinic to enrol into: the one chosen on step 1 (or at the start), else the only
        one. A clinic that is not the user's own is a 404."""
        chosen = self.flow.get("clinic")
        if form is not None and "clinic" in form.fields and form.is_valid():
            chosen = form.cleaned_data["clinic"]
        by_id = {c.pk: c for c in self.clinics}
        if chosen is None:
            return self.clinics[0] if len(self.clinics) == 1 else None
        if chosen not in by_id:
            raise Http404("No such clinic.")
        return by_id[chosen]


def _patient_form(ctx: Context, data=None) -> PatientStepForm:
    clinic = ctx.clinic()
    initial: dict[str, object] = {
        "time_zone": clinic.time_zone if clinic else "",
        "notification_channels": ["email", "inbox"],
    }
    if clinic is not None and len(ctx.clinics) > 1:
        initial["clinic"] = clinic.pk
    return PatientStepForm(
        data if data is not None else stored_data(ctx.flow, "patient"), clinics=ctx.clinics, initial=initial
    )


def zone_of(ctx: Context) -> str:
    form = ctx.form("patient")
    if form.is_bound and form.is_valid():
        return form.cleaned_data["time_zone"]
    clinic = ctx.clinic()
    return clinic.time_zone if clinic else "UTC"


def _pump_form(ctx: Context, data=None) -> PumpStepForm:
    return PumpStepForm(data if data is not None else stored_data(ctx.flow, "pump"))


def _refill_form(ctx: Context, data=None) -> RefillStepForm:
    bound = data if data is not None else stored_data(ctx.flow, "refill")
    zone = zone_of(ctx)
    now = timezone.localtime(timezone.now(), timezone=ZoneInfo(zone))
    initial = {
        "occurred_date": now.date(),
        "occurred_time": now.time().replace(second=0, microsecond=0),
        "aspirated_ml": 0,
        "mode": "simple",
    }
    # ?rows=13 (the "show 13 rows" link) wins over the row count stored with the step.
    asked = ctx.request.GET.get("rows") or (bound.get("rows") if bound is not None else None)
    return RefillStepForm(bound, zone=zone, rows=flex_rows_needed(asked, initial), initial=initial)


def _invitations_form(ctx: Context, data=None) -> InvitationsStepForm:
    patient_form = ctx.form("patient")
    email = patient_form.cleaned_data.get("email", "") if patient_form.is_bound and patient_form.is_valid() else ""
    initial = {"invite_patient": bool(email), "patient_email": email}
    return InvitationsStepForm(data if data is not None else stored_data(ctx.flow, "invitations"), initial=initial)


StepForm = PatientStepForm | PumpStepForm | RefillStepForm | InvitationsStepForm
FORMS: dict[str, Callable[..., StepForm]] = {
    "patient": _patient_form,
    "pump": _pump_form,
    "refill": _refill_form,
    "invitations": _invitations_form,
}


class Incomplete(Exception):
    def __init__(self, step: str):
        super().__init__(step)
        self.step = step


def plan_of(ctx: Context, upto: str, current=None) -> Plan:
    """The cleaned values of every step up to `upto` (the form just posted stands for its
    own step). Incomplete names the first step not done or no longer valid."""
    forms = {}
    for step in STEPS[: STEPS.index(upto) + 1]:
        if step == "review":
            break
        form = current if current is not None and step == upto else ctx.form(step)
        if not form.is_bound or not form.is_valid():
            raise Incomplete(step)
        forms[step] = form
    clinic = ctx.clinic(forms["patient"])
    if clinic is None:
        raise Incomplete("patient")
    return Plan(
        clinic=clinic,
        patient=forms["patient"].patient_fields(),
        pump=forms["pump"].values() if "pump" in forms else None,
        refill=forms["refill"].submission() if "refill" in forms else None,
        invitations=forms["invitations"].invitations() if "invitations" in forms else None,
    )
