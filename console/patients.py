"""The clinic's patient list and the patient panel (SPEC §7). Thin: access and the data come
from console.selectors, the chart from console.chart; every staff read is audited (one row
per list request, one per panel view)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from patients import audit, wording
from patients.access import staff_clinics
from patients.models import AuditEvent, Patient
from refills.domain.catalog import CATALOG
from refills.domain.forecast import Forecast, forecast, volume_at
from refills.domain.programs import program_to_dict
from refills.models import PumpProfile
from refills.templatetags.refill_tags import local_when, value_lines
from refills.web.views import KIND_NAMES
from refills.words import date_in_words, number
from symptoms.forms import reported

from . import chart, panel_selectors, selectors

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

PAGE_SIZE = 50

ACTION_WORDS: dict[str, StrPromise] = {
    AuditEvent.Action.READ: gettext_lazy("Looked at"),
    AuditEvent.Action.LIST: gettext_lazy("Saw in a list"),
    AuditEvent.Action.CREATE: gettext_lazy("Added"),
    AuditEvent.Action.UPDATE: gettext_lazy("Changed"),
    AuditEvent.Action.DELETE: gettext_lazy("Removed"),
}
REASON_WORDS = {
    "low_reservoir_alarm": gettext_lazy("the low-reservoir alarm"),
    "stability_limit": gettext_lazy("the stability limit"),
    "printout_alarm": gettext_lazy("the programmer printout's alarm date"),
    "alarm_reported": gettext_lazy("a reported pump alarm"),
}
RISK_FIELDS = ("risk_sci_t6_or_above", "risk_communication_difficulty", "risk_prior_withdrawal")


def require_staff(request) -> None:
    """The console is for clinic staff and admins; anyone else gets a 404."""
    if not staff_clinics(request.user).exists():
        raise Http404("No such page.")


def days_in_words(days: int | None) -> str:
    """For staff: "in 5 days", "tomorrow", "today", "3 days late"."""
    if days is None:
        return "—"
    if days > 1:
        return ngettext("in %(n)d day", "in %(n)d days", days) % {"n": days}
    if days == 1:
        return _("tomorrow")
    if days == 0:
        return _("today")
    return ngettext("%(n)d day late", "%(n)d days late", -days) % {"n": -days}


# --- The patient list --------------------------------------------------------------------------


class PatientFilterForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Name or e-mail"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Part of a name or an e-mail address is enough."),
    )
    status = forms.MultipleChoiceField(
        label=gettext_lazy("Refill status"),
        required=False,
        choices=[(name, selectors.LABELS[name]) for name in selectors.ORDER],
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Tick one or more to show only patients with any of them."),
    )
    state = forms.MultipleChoiceField(
        label=gettext_lazy("Patient status"),
        required=False,
        choices=Patient.Status.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "search": data.get("q") or "",
            "statuses": data.get("status") or [],
            "states": data.get("state") or [],
        }


@login_required
@require_GET
def patient_list(request):
    """Search, filter by status, most urgent first; 50 a page, the same queries for any number."""
    require_staff(request)
    now = timezone.now()
    form = PatientFilterForm(request.GET)
    patients = selectors.patient_list(request.user, now, **form.filters())
    page = Paginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.list_rows(page.object_list, now)
    audit.record_staff_list(request, [row.patient for row in rows], "patient_list")
    kept = [(key, value) for key, value in request.GET.lists() if key != "page" for value in value]
    return render(
        request,
        "console/patients.html",
        {
            "form": form,
            "page": page,
            "rows": [(row, days_in_words(row.days_left)) for row in rows],
            "query": urlencode(kept),
            "filtered": any(form.filters().values()),
        },
    )


# --- The patient panel ---------------------------------------------------------------------------


def _offset_words(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "−"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def forecast_inputs_rows(result: Forecast, zone: str) -> list[tuple[str, str]]:
    """Every input of the forecast, so a person can check the arithmetic (SPEC §4)."""
    inputs = result.inputs
    rows = [
        (_("Start of the forecast: the latest refill, new program or new pump"), local_when(inputs.t0, zone)),
        (_("Medicine in the pump at the start (V0)"), f"{number(inputs.v0_ml)} mL"),
        *[(str(label), text) for label, text in value_lines({"program": program_to_dict(inputs.program)})],
        (
            _("Pump clock"),
            _("%(offset)s, the offset when it was programmed (the pump does not follow clock changes)")
            % {"offset": _offset_words(inputs.pump_utc_offset_minutes)},
        ),
        (_("Low-reservoir alarm volume"), f"{number(inputs.alarm_volume_ml)} mL"),
        (_("Last refill (the stability limit counts from it)"), local_when(inputs.last_fill_at, zone)),
        (_("Most days the medicine may stay in the pump"), str(inputs.max_days_in_pump)),
        (_("Patient's time zone"), inputs.zone),
        (_("Clinic reminder hour"), f"{inputs.reminder_hour:02d}:00"),
        (
            _("Programmer printout alarm date"),
            date_in_words(inputs.printout_alarm_date, zone, year=True)
            if inputs.printout_alarm_date
            else _("None given"),
        ),
        (
            _("Pump alarms reported since the start"),
            "; ".join(local_when(a, zone) for a in inputs.alarms_reported_at) or _("None"),
        ),
        (_("Worked out at (now)"), local_when(inputs.now, zone)),
    ]
    return rows


def forecast_result_rows(result: Forecast, zone: str) -> list[tuple[str, str]]:
    def when(at):
        return local_when(at, zone) if at else _("Never (the program delivers nothing)")

    return [
        (
            _("Refill due"),
            _("%(when)s, set by %(reason)s")
            % {
                "when": local_when(result.refill_due_at, zone),
                "reason": REASON_WORDS.get(result.refill_due_reason, ""),
            },
        ),
        (_("Days until the refill is due"), days_in_words(result.days_until_refill_due)),
        (_("Medicine in the pump now"), f"{number(result.volume_now_ml)} mL"),
        (_("Daily dose, with the most patient-activated doses"), f"{number(result.daily_dose_mcg)} mcg/day"),
        (_("Daily volume"), f"{number(result.daily_volume_ml)} mL/day"),
        (_("Low-reservoir alarm"), when(result.low_reservoir_alarm_at)),
        (_("Predicted empty"), when(result.empty_at)),
        (_("Stability limit"), local_when(result.stability_limit_at, zone)),
        (_("First “refill now” reminder (7 days before)"), local_when(result.reminder_at, zone)),
    ]


def reservoir_chart(result: Forecast, pump: PumpProfile | None, zone: str, now: datetime) -> dict:
    """The SVG and the same facts in words. The chart runs from the start of the forecast to
    the refill due date or now, whichever is later, and on to empty (plus two weeks) or the
    stability limit, whichever comes first."""
    inputs = result.inputs
    at_floor = forecast(replace(inputs, alarm_volume_ml=panel_selectors.FLOOR_ML)).low_reservoir_alarm_at
    after_empty = result.empty_at + timedelta(days=14) if result.empty_at else result.stability_limit_at
    end = max(now, result.refill_due_at, min(result.stability_limit_at, after_empty))
    points = chart.sample(
        lambda at: volume_at(inputs, at),
        inputs.t0,
        end,
        also=(result.low_reservoir_alarm_at, at_floor, result.empty_at, now, result.stability_limit_at),
    )

    def on(at):
        return date_in_words(at, zone, year=True) if at else _("never")

    sentences = [
        _("On %(start)s the pump held %(v0)s mL; it uses %(daily)s mL a day.")
        % {"start": on(inputs.t0), "v0": number(inputs.v0_ml), "daily": number(result.daily_volume_ml)},
        _("Predicted to reach 4 mL on %(floor)s, the %(alarm)s mL alarm on %(alarm_at)s and empty on %(empty)s.")
        % {
            "floor": on(at_floor),
            "alarm": number(inputs.alarm_volume_ml),
            "alarm_at": on(result.low_reservoir_alarm_at),
            "empty": on(result.empty_at),
        },
        _("The medicine may stay in the pump until %(limit)s.") % {"limit": on(result.stability_limit_at)},
        _("Now: about %(now)s mL.") % {"now": number(result.volume_now_ml)},
    ]
    if result.stability_limit_at > end:
        sentences.append(_("The stability limit is after the end of the chart."))
    summary = " ".join(sentences)
    svg = chart.reservoir_svg(
        points,
        alarm_ml=inputs.alarm_volume_ml,
        floor_ml=panel_selectors.FLOOR_ML,
        capacity_ml=pump.capacity_ml if pump else None,
        stability_limit_at=result.stability_limit_at,
        now=now,
        zone=zone,
        title=_("Predicted medicine in the pump, in mL, over this refill cycle"),
        description=summary,
    )
    return {"svg": svg, "summary": summary}


def _verbose_name(name: str) -> str:
    field = PumpProfile._meta.get_field(name)
    assert isinstance(field, models.Field)  # a column of the pump, not a relation
    return str(field.verbose_name)


def pump_rows(pump: PumpProfile, statuses: list[str]) -> list[tuple[str, str]]:
    model = CATALOG.get(pump.model)
    eos = pump.end_of_service_date
    eos_words = date_in_words(eos, "UTC", year=True) if eos else _("Not known: no battery replacement (ERI) date")
    if eos and "end_of_service_near" in statuses:
        eos_words = _("%(date)s (within 90 days, or passed)") % {"date": eos_words}
    risks = [_verbose_name(name) for name in RISK_FIELDS if getattr(pump, name)]
    return [
        (_("Model"), model.label if model else pump.model),
        (_("Reservoir size"), f"{number(pump.capacity_ml)} mL"),
        (_("Low-reservoir alarm volume"), f"{number(pump.alarm_volume_ml)} mL"),
        (_("Most days the medicine may stay in the pump"), str(pump.max_days_in_pump)),
        (_("Implant date"), date_in_words(pump.implant_date, "UTC", year=True)),
        (
            _("Battery replacement (ERI) date"),
            date_in_words(pump.eri_date, "UTC", year=True) if pump.eri_date else _("Not recorded"),
        ),
        (_("End of service"), eos_words),
        (_("Catheter tip level"), pump.catheter_tip_level or _("Not recorded")),
        (_("Risk markers"), ", ".join(risks) if risks else _("None recorded")),
    ]


def plan_rows(lines: list[panel_selectors.PlanLine]) -> list[tuple[str, datetime, str, bool]]:
    return [(line.label, line.due_at, line.status_words, bool(line.statuses.get("dead"))) for line in lines]


@login_required
@require_GET
def patient_panel(request, patient_id):
    """Everything about one patient for the staff of their clinic; 404 for anyone else."""
    now = timezone.now()
    patient = panel_selectors.panel_patient(request.user, patient_id, now)
    if patient is None:
        raise Http404("No such patient.")
    audit.record_staff_read(request, patient, "clinic_panel")
    panel = panel_selectors.patient_panel(patient, now)
    zone = patient.time_zone
    result = panel.forecast
    context = {
        "patient": patient,
        "reference": wording.patient_reference(patient.pk),
        "panel": panel,
        "zone": zone,
        "clinic_zone": patient.clinic.time_zone,
        "zone_differs": ZoneInfo(zone) != ZoneInfo(patient.clinic.time_zone),
        "pump_rows": pump_rows(panel.pump, panel.statuses) if panel.pump else [],
        "inputs_rows": forecast_inputs_rows(result, zone) if result else [],
        "result_rows": forecast_result_rows(result, zone) if result else [],
        "chart": reservoir_chart(result, panel.pump, zone, now) if result else None,
        # KIND_NAMES (refills, not type-checked yet) is typed as keyed by its TextChoices; a str
        # finds the same entry. The ignore goes when refills annotates it.
        "events": [
            (
                line,
                KIND_NAMES.get(line.event.kind, line.event.get_kind_display()),
                value_lines(line.values_in_force),
            )
            for line in panel.events
        ],
        "checkins": [
            (c, reported(c.symptoms, c.pump_alarm, c.temperature, c.temperature_unit)) for c in panel.checkins
        ],
        "plan_rows": plan_rows(panel.plan),
        "eos_rows": plan_rows(panel.end_of_service_plan),
        "audit_rows": [
            (row, ACTION_WORDS.get(row.action, row.action), row.what.replace("_", " ")) for row in panel.audit
        ],
    }
    return render(request, "console/panel.html", context)
