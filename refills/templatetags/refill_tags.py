"""How refill dates and pump values are shown to people in templates: the "next refill due"
card (read by refills.selectors.refill_cards), dates in words in the patient's zone (the words
are refills.words), and plain descriptions of an event's values."""

from __future__ import annotations

from django import template
from django.utils.dateformat import format as format_date
from django.utils.translation import gettext as _

from patients import wording
from patients.access import reader_of
from refills import selectors
from refills.domain.catalog import CATALOG
from refills.words import date_in_words, local, number, when_in_words

register = template.Library()


# --- Words for dates and numbers ------------------------------------------------------------


@register.filter
def num(value) -> str:
    return number(value)


@register.filter
def local_date(at, zone) -> str:
    """{{ event.occurred_at|local_date:patient.time_zone }} → "Sunday 1 March 2026"."""
    return date_in_words(at, zone, year=True) if at else ""


@register.filter
def local_when(at, zone) -> str:
    """{{ at|local_when:zone }} → "Sunday 1 March 2026 at 09:00 CST"."""
    if not at:
        return ""
    return f"{when_in_words(at, zone, year=True)} {format_date(local(at, zone), 'T')}"


# --- The "next refill due" card ------------------------------------------------------------


@register.inclusion_tag("refills/_patient_panel.html", takes_context=True)
def refill_panel(context, patient):
    """The card and the pump links on a patient's page (staff also get the staff pages)."""
    who = reader_of(context["request"].user, patient)
    return {
        "card": selectors.refill_cards([patient], [who.role])[0],
        "patient": patient,
        "is_staff": who.role == wording.STAFF,
    }


# --- An event's values in plain words -------------------------------------------------------


@register.filter
def value_lines(values: dict) -> list[tuple[str, str]]:
    """(label, text) pairs describing a PumpEvent.values dict."""
    values = values or {}
    lines: list[tuple[str, str]] = []

    def ml(key, label):
        if values.get(key) not in (None, ""):
            lines.append((label, f"{number(values[key])} mL"))

    if values.get("model"):
        model = CATALOG.get(values["model"])
        lines.append((_("Pump model"), model.label if model else values["model"]))
    ml("capacity_ml", _("Reservoir size"))
    ml("alarm_volume_ml", _("Low-reservoir alarm volume"))
    if values.get("eri_date"):
        lines.append((_("Battery replacement (ERI) date"), values["eri_date"]))
    ml("volume_ml", _("Volume after the event (V0)"))
    ml("aspirated_ml", _("Volume taken out (aspirated)"))
    program = values.get("program")
    if program:
        lines.append((_("Strength"), f"{number(program.get('concentration_mcg_per_ml'))} mcg/mL"))
        if program.get("mode") == "flex":
            steps = ", ".join(
                f"{s.get('start')} {number(s.get('rate_mcg_per_hour'))} mcg/h" for s in program.get("flex_steps") or []
            )
            lines.append((_("Flex steps (from, rate)"), steps))
        else:
            lines.append((_("Daily dose"), f"{number(program.get('daily_dose_mcg'))} mcg/day"))
        boluses = program.get("boluses") or []
        if boluses:
            lines.append(
                (
                    _("Timed extra doses"),
                    ", ".join(f"{b.get('time')} {number(b.get('dose_mcg'))} mcg" for b in boluses),
                )
            )
        ptm = program.get("ptm")
        if ptm:
            lines.append(
                (
                    _("Patient-activated dose (PTM)"),
                    _("%(dose)s mcg, at most %(max)s a day")
                    % {"dose": number(ptm.get("dose_mcg")), "max": ptm.get("max_per_day")},
                )
            )
    if values.get("printout_alarm_date"):
        lines.append((_("Printout alarm date"), values["printout_alarm_date"]))
    if values.get("tone"):
        lines.append((_("Alarm sound"), _("two tones") if values["tone"] == "two_tone" else _("single tone")))
    return lines
