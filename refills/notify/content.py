"""What each message says (SPEC §5): the refill date in words in the recipient's zone, days
left, the appointment, the clinic's numbers, the acknowledgement link and a calendar event.
Subjects, SMS and calendar titles carry no symptoms, doses or full names.

Every sentence is said to its reader (patients/wording.py): the patient, a caregiver, or the
clinic's alert address, which reads as staff and knows the patient only by reference, with a
link to the console (docs/security.md, "Patients in e-mails"). A subject's "when" and the body's
come from one phrase (`wording.when_words`), so they cannot disagree."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from patients import wording
from patients.emails import render_text

from ..models import RefillCycle
from ..words import date_in_words
from . import acks, calendar
from .channels import Message
from .kinds import MessageKind, step_days, subject_key, subject_of

# Every kind of message, with the words of its subject (the reader's wording is chosen at render).
SUBJECTS = {kind.value: wording.SENTENCES[subject_key(kind.value)] for kind in MessageKind}


def days_left(at: datetime, zone: str, now: datetime) -> int:
    tz = ZoneInfo(zone)
    return (at.astimezone(tz).date() - now.astimezone(tz).date()).days


def alert_facts(payload: dict, zone: str, now: datetime) -> dict:
    """A check-in alert's time on the recipient's clock ("14:05", and the day when not today)."""
    observed = datetime.fromisoformat(payload["observed_at"]).astimezone(ZoneInfo(zone))
    today = now.astimezone(ZoneInfo(zone)).date()
    day = date_in_words(observed, zone, year=False, translated=False)
    return {
        "alert": True,
        "observed_time": f"{observed:%H:%M}",
        "observed_day": "" if observed.date() == today else f" on {day}",
        "logged_by_role": payload.get("logged_by_role", ""),
    }


def reader_of(recipient, patient) -> wording.Reader:
    """Who reads a message: the patient, a caregiver (the patient by first name), or the clinic's
    address (the patient by reference only)."""
    if recipient.role == "clinic":
        return wording.clinic_reader(patient.pk)
    return wording.reader(recipient.role, patient.full_name)


_ALERT_BY = {"patient": "by_patient", "staff": "by_staff", "caregiver": "by_caregiver"}


def body_lines(kind: str, who: wording.Reader, context: dict) -> list[str]:
    """The sentences of a message's text, in order, said to `who` (one line each)."""
    clinic = context["clinic"]

    def say(key: str, **facts) -> str:
        return wording.say(key, who, **facts)

    numbers = {"clinic": clinic.name, "phone": clinic.phone, "after_hours": clinic.after_hours_phone}
    staff = who.role == wording.STAFF
    link = context.get("link", "")
    lines: list[str] = []
    if kind == MessageKind.TEST:
        lines.append(say("message.test"))
    elif kind.startswith("alert_"):
        at = f"{context['observed_time']}{context['observed_day']}"
        role = context.get("logged_by_role", "")
        if kind == MessageKind.ALERT_EMERGENCY:
            key = f"alert.emergency.{_ALERT_BY.get(role, 'by_caregiver')}"
            lines.append(say(key, at=at, emergency=context["emergency_number"]))
        else:
            by = "by_patient" if role == "patient" else "by_other"
            lines.append(say(f"alert.call_clinic.{by}", at=at, **numbers))
        if link:
            lines.append(say("message.open_checkin", link=link))
    elif kind in (MessageKind.EOS_90, MessageKind.EOS_30):
        lines.append(say("message.eos", end=context.get("end_of_service", "")))
        lines.append(say("message.eos_plan", **numbers))
    elif kind == MessageKind.OVERDUE_CLINIC:
        lines.append(say("message.overdue_clinic", due=context.get("due_words", "")))
    else:
        due = context.get("due_words", "")
        if kind == MessageKind.OVERDUE:
            lines.append(say("message.overdue", due=due, **numbers))
        elif kind == MessageKind.EMPTY:
            lines += [say("message.empty"), say("message.empty_signs")]
            lines.append(say("message.empty_go", emergency=context["emergency_number"]))
            if not staff:
                lines.append(say("message.call_clinic_now", **numbers))
        elif kind == MessageKind.DATE_CHANGED:
            lines.append(say("message.date_changed", due=due))
        elif "days_left" in context:
            days = context["days_left"]
            lines.append(say("message.due" if days >= 0 else "message.due_past", due=due, when=context["when"]))
            if step_days(kind) == 14:
                lines.append(say("message.book_now"))
        if context.get("appointment_words"):
            lines.append(say("message.appointment", day=context["appointment_words"], time=context["appointment_time"]))
        if not staff:
            lines += ["", say("message.clinic_line", **numbers)]
            if link:
                lines.append(say("message.ack_link", link=link))
    if staff and context.get("console_link") and not kind.startswith("alert_"):
        lines.append(say("message.open_patient", link=context["console_link"]))
    footer = say("message.in_an_emergency", emergency=context["emergency_number"])
    if footer:
        lines += ["", footer]
    return lines


def render(delivery, recipient, now: datetime) -> Message:
    patient = delivery.patient
    clinic = patient.clinic
    cycle = delivery.cycle
    zone = recipient.zone
    ZoneInfo(zone)  # an invalid zone fails here, loudly, and the row is pushed aside
    who = reader_of(recipient, patient)
    site = settings.SITE_URL.rstrip("/")
    context = {
        "kind": delivery.kind,
        "recipient": recipient,
        "patient": patient,
        "first_name": wording.name_for(wording.CAREGIVER, patient.full_name),
        "clinic": clinic,
        "emergency_number": clinic.emergency_number,
        "console_link": site + reverse("console-panel", args=[patient.pk]) if recipient.role == "clinic" else "",
    }
    link = ""
    calendar_cycle = None  # the cycle whose calendar event goes with the e-mail
    if cycle is not None and cycle.refill_due_at is not None:
        days = days_left(cycle.refill_due_at, zone, now)
        context.update(
            due_words=date_in_words(cycle.refill_due_at, zone, year=False, translated=False),
            days_left=days,
            when=wording.when_words(days),
            appointment_words=date_in_words(cycle.appointment_at, zone, year=False, translated=False)
            if cycle.appointment_at
            else "",
            appointment_time=cycle.appointment_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
            if cycle.appointment_at
            else "",
        )
        if recipient.role != "clinic":
            token = acks.make_token(cycle, recipient.key)
            link = site + reverse("reminder-ack", args=[token])
            calendar_cycle = cycle
    if delivery.kind.startswith("eos_"):
        context["end_of_service"] = delivery.payload.get("end_of_service_date", "")
    if delivery.kind.startswith("alert_"):
        context.update(alert_facts(delivery.payload, zone, now))
        link = site + delivery.payload["path"] if delivery.payload.get("path") else ""
    context["link"] = link
    context["lines"] = body_lines(delivery.kind, who, context)
    context["button"] = _button(delivery.kind, who, link, context["console_link"])
    subject = subject_of(delivery.kind, who, when=context.get("when", "soon"))
    message = RenderedMessage(subject=subject, link=link, context=context, calendar_cycle=calendar_cycle)
    for part in CHANNEL_PARTS.get(delivery.channel, ()):
        getattr(message, part)  # what the row's channel sends is rendered now: an error shows here
    return message


def _button(kind: str, who: wording.Reader, link: str, console_link: str) -> tuple[str, str]:
    """The HTML part's one button: (label, address), or ("", "") for none."""
    if kind.startswith("alert_") and link:
        return ("See the check-in", link)
    if who.role == wording.STAFF:
        return ("Open the patient", console_link) if console_link else ("", "")
    return ("I got this message", link) if link else ("", "")


# The parts of a message each channel reads (refills/notify/channels/): only those are rendered.
CHANNEL_PARTS = {"email": ("text", "html", "attachments"), "sms": ("sms",), "inbox": ("text",)}


class RenderedMessage(Message):
    """A Message whose bodies are rendered from one context when first read, each at most once:
    an e-mail never renders the SMS, an SMS never the e-mail's parts or its calendar event."""

    _context: dict  # the templates' context
    _calendar_cycle: RefillCycle | None  # the cycle whose calendar event goes with an e-mail

    def __init__(self, *, subject: str, link: str, context: dict, calendar_cycle: RefillCycle | None = None):
        # A frozen dataclass: set the fields the way its own __init__ does.
        object.__setattr__(self, "subject", subject)
        object.__setattr__(self, "link", link)
        object.__setattr__(self, "_context", context)
        object.__setattr__(self, "_calendar_cycle", calendar_cycle)

    @cached_property
    def text(self) -> str:
        return render_text("emails/reminder.txt", self._context)

    @cached_property
    def html(self) -> str:
        return render_to_string("emails/reminder.html", self._context)

    @cached_property
    def sms(self) -> str:
        return " ".join(render_text("emails/reminder_sms.txt", self._context).split())

    @cached_property
    def attachments(self) -> tuple[tuple[str, bytes, str], ...]:
        if self._calendar_cycle is None:
            return ()
        return (("refill.ics", calendar.cycle_ics(self._calendar_cycle), "text/calendar"),)
