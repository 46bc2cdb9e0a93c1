"""How each person hears from us (SPEC §5, Channels): their choices, the "send me a test
message" button, and the in-app inbox.

Where the choices live: a patient's own choices are on their Patient record, because every
reminder about them reads them there (refills/notify/recipients.for_patient). Anyone else's
(caregivers, staff) are on their User. A patient's User copy is kept the same as their Patient
record, so if they also look after someone, those messages follow the same choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils.translation import gettext as _

from patients import permissions, wording
from patients import services as patient_services
from patients.access import relation_to
from patients.emails import sender
from patients.models import CaregiverLink, Patient, User

from . import services
from .models import InboxMessage
from .notify import outbox, recipients
from .notify.kinds import MessageKind, subject_of

# refills/notify/recipients.py reads "no choice" as e-mail and inbox; the page shows that default.
DEFAULT_CHANNELS = ["email", "inbox"]
TEST_MESSAGE_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Choices:
    channels: list[str]
    language: str
    phone: str
    time_zone: str
    phone_verified_at: datetime | None
    sms_opted_out_at: datetime | None
    email: str

    @property
    def phone_verified(self) -> bool:
        return bool(self.phone) and self.phone_verified_at is not None

    @property
    def opted_out(self) -> bool:
        return self.sms_opted_out_at is not None


# --- Reading --------------------------------------------------------------------------------


def own_patient(user: User) -> Patient | None:
    """The patient record of this log-in, if the person is a patient."""
    return Patient.objects.filter(user=user).select_related("clinic", "user").first()


def live_links(user: User) -> list[CaregiverLink]:
    """The people this person looks after now, by name."""
    return list(
        CaregiverLink.objects.filter(caregiver=user, revoked_at__isnull=True)
        .select_related("patient")
        .order_by("patient__full_name", "pk")
    )


def current(user: User, patient: Patient | None) -> Choices:
    record = patient or user
    return Choices(
        channels=list(record.notification_channels or DEFAULT_CHANNELS),
        language=record.language,
        phone=record.phone,
        time_zone=user.time_zone,
        phone_verified_at=record.phone_verified_at,
        sms_opted_out_at=record.sms_opted_out_at,
        email=(patient.email or user.email) if patient else user.email,
    )


def notes(choices: Choices) -> list[str]:
    """Why a chosen way of reaching someone does not work yet, in plain words."""
    out = []
    if "sms" in choices.channels:
        if not choices.phone:
            out.append(_("To get text messages, add your mobile phone number."))
        elif choices.opted_out:
            out.append(_("You texted STOP, so we send you no text messages. Press “Start texts again” to undo it."))
        elif not choices.phone_verified:
            out.append(
                _("Text messages start after you check your phone number. Press “Send me a code” below to do it.")
            )
    if "email" in choices.channels and not choices.email:
        out.append(_("We have no e-mail address for you. Ask your clinic to add one."))
    reachable = ("email" in choices.channels and choices.email) or (
        "sms" in choices.channels and choices.phone_verified and not choices.opted_out
    )
    if not reachable:
        out.append(
            _(
                "Right now we can only reach you inside this app. "
                "Choose e-mail, or check your phone number, so reminders reach you when you are not here."
            )
        )
    return out


# --- Saving ---------------------------------------------------------------------------------


def save(
    *,
    by: User,
    patient: Patient | None,
    links: list[CaregiverLink],
    channels: list[str],
    language: str,
    phone: str,
    time_zone: str | None,
    call_clinic: dict[int, bool],
) -> bool:
    """Store one person's choices in one transaction; patient records are audited. A new phone
    number must be checked again, and a STOP sent from the old number no longer applies.
    `time_zone` None leaves it as it is. Returns whether anything changed. Raises
    ValidationError if a stored value is refused."""
    wanted = {"notification_channels": channels, "language": language, "phone": phone}
    with transaction.atomic():
        replanned: set[int] = set()
        changed = False
        if patient is not None:
            patient_changes = {field: value for field, value in wanted.items() if getattr(patient, field) != value}
            if permissions.refused_fields(relation_to(by, patient), patient_changes):
                # Only a person's own record comes here; the one rule says so too (SPEC §10).
                raise PermissionDenied(_("You can change only your own choices."))
            # A new number is cleared of its check and STOP there (patients.rules.with_new_number).
            patient_services.update_patient(by=by, patient=patient, changes=patient_changes)
            changed = bool(patient_changes)
            # update_patient re-planned them in this transaction (unless they also look after
            # themselves, so that their own User's choices below still reach that plan).
            if patient_services.update_replans(patient_changes) and all(x.patient_id != patient.pk for x in links):
                replanned.add(patient.pk)
        # The User copy follows the Patient record, including the state of the number.
        if patient_services.update_user_choices(
            user=by, channels=channels, language=language, phone=phone, time_zone=time_zone, follow=patient
        ):
            changed = True
        for link in links:
            wanted_flag = call_clinic.get(link.pk, link.notify_call_clinic)
            if patient_services.set_caregiver_alerts(by=by, link=link, call_clinic=wanted_flag):
                changed = True
        if changed:  # the reminders not yet sent follow the new choices
            services.replan(p for p in services.patients_heard_by(by) if p.pk not in replanned)
    return changed


# --- The test message -----------------------------------------------------------------------


@dataclass(frozen=True)
class TestSent:
    channels: tuple[str, ...]
    queued: bool  # True: Delivery rows for the minute tick; False: one e-mail sent at once


def send_test(user: User, now: datetime) -> TestSent:
    """One test message per usable channel, through the normal delivery machinery: rows due
    now, which the minute tick sends. A Delivery belongs to a patient, so it is about the
    person themself or, for a caregiver, the first person they look after (by name).

    Someone with no patient at all (clinic staff) gets no Delivery row: we send one plain
    e-mail to their log-in address at once instead. Raises ValidationError for the page."""
    patient = own_patient(user)
    if patient is not None:
        recipient, about = recipients.for_patient(patient), patient
    else:
        links = live_links(user)
        if not links:
            return _email_directly(user)
        about = Patient.objects.select_related("clinic", "user").get(pk=links[0].patient_id)
        recipient = recipients.for_caregiver(user, about)
    if not recipient.channels:
        raise ValidationError(_("None of the ways you chose can reach you yet. See the notes at the top of this page."))
    rows = outbox.create_test(patient=about, recipient=recipient, now=now)
    return TestSent(channels=tuple(row.channel for row in rows), queued=True)


def _email_directly(user: User) -> TestSent:
    mail = EmailMessage(
        subject=subject_of(MessageKind.TEST, wording.Reader(wording.PATIENT)),
        from_email=sender(),
        body=_(
            "Hello %(name)s,\n\nThis is a test message from IBT Companion. "
            "If you can read it, e-mail reaches you.\n\nIBT Companion\n"
        )
        % {"name": user.full_name or user.email},
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    try:
        mail.send(fail_silently=False)
    except Exception as error:  # SMTP down or refused: tell the person, never a 500
        raise ValidationError(_("We could not send the e-mail just now. Please try again later.")) from error
    return TestSent(channels=("email",), queued=False)


# --- The in-app inbox -----------------------------------------------------------------------


def inbox(user: User):
    """This person's messages, newest first, with the patient each one is about."""
    return InboxMessage.objects.filter(user=user).select_related("patient").order_by("-created_at", "-pk")


def unread_count(user: User) -> int:
    return InboxMessage.objects.filter(user=user, read_at__isnull=True).count()


def mark_read(message: InboxMessage, now: datetime) -> None:
    if message.read_at is None:
        InboxMessage.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now)
        message.read_at = now


def mark_all_read(user: User, now: datetime) -> int:
    return InboxMessage.objects.filter(user=user, read_at__isnull=True).update(read_at=now)


def display_zone(user: User) -> str:
    """The zone to show times in: the person's own, their patient record's, or the first
    person they look after."""
    if user.time_zone:
        return user.time_zone
    zone = (
        Patient.objects.filter(user=user).values_list("time_zone", flat=True).first()
        or CaregiverLink.objects.filter(caregiver=user, revoked_at__isnull=True)
        .order_by("patient__full_name", "pk")
        .values_list("patient__time_zone", flat=True)
        .first()
    )
    return zone or "UTC"
