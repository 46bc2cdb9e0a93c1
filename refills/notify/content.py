"""What each message says (SPEC §5): the refill date in words in the recipient's zone, days
left, the appointment, the clinic's numbers, the acknowledgement link and a calendar event.
Subjects, SMS and calendar titles carry no symptoms, doses or full names."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from patients.emails import render_text

from ..models import RefillCycle
from ..words import date_in_words
from . import acks, calendar
from .channels import Message
from .kinds import MessageKind, subject_of

# Read from refills/notify/kinds.py (kept here by name for the callers that read them).
SUBJECTS = {kind.value: kind.subject for kind in MessageKind}
CLINIC_SUBJECTS = {kind.value: kind.clinic_subject for kind in MessageKind if kind.clinic_subject != kind.subject}


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


def render(delivery, recipient, now: datetime) -> Message:
    patient = delivery.patient
    clinic = patient.clinic
    cycle = delivery.cycle
    zone = recipient.zone
    ZoneInfo(zone)  # an invalid zone fails here, loudly, and the row is pushed aside
    context = {
        "kind": delivery.kind,
        "recipient": recipient,
        "patient": patient,
        "first_name": patient.full_name.split()[0] if patient.full_name else "",
        "clinic": clinic,
        "emergency_number": clinic.emergency_number,
    }
    link = ""
    calendar_cycle = None  # the cycle whose calendar event goes with the e-mail
    if cycle is not None and cycle.refill_due_at is not None:
        context.update(
            due_words=date_in_words(cycle.refill_due_at, zone, year=False, translated=False),
            days_left=days_left(cycle.refill_due_at, zone, now),
            appointment_words=date_in_words(cycle.appointment_at, zone, year=False, translated=False)
            if cycle.appointment_at
            else "",
            appointment_time=cycle.appointment_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
            if cycle.appointment_at
            else "",
        )
        if recipient.role != "clinic":
            token = acks.make_token(cycle, recipient.key)
            link = settings.SITE_URL.rstrip("/") + reverse("reminder-ack", args=[token])
            calendar_cycle = cycle
    if delivery.kind.startswith("eos_"):
        context["end_of_service"] = delivery.payload.get("end_of_service_date", "")
    if delivery.kind.startswith("alert_"):
        context.update(alert_facts(delivery.payload, zone, now))
        link = settings.SITE_URL.rstrip("/") + delivery.payload["path"] if delivery.payload.get("path") else ""
    context["link"] = link
    subject = subject_of(delivery.kind, clinic=recipient.role == "clinic").format(patient_id=patient.pk)
    message = RenderedMessage(subject=subject, link=link, context=context, calendar_cycle=calendar_cycle)
    for part in CHANNEL_PARTS.get(delivery.channel, ()):
        getattr(message, part)  # what the row's channel sends is rendered now: an error shows here
    return message


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
