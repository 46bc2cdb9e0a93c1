"""Actions that write people and access data. Views, forms, the API and tasks call these;
each validates, writes in one transaction and audits."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import api_tokens, audit, rules, two_factor
from .emails import render_text, sender
from .invitations import make_token
from .models import (
    AuditEvent,
    CaregiverLink,
    Clinic,
    EnrolmentDraft,
    Invitation,
    Patient,
    QueueItem,
    SchedulerHeartbeat,
    User,
)
from .signals import forecast_inputs_changed, recipients_changed

# Changing one of these changes the forecast or whether there is one.
FORECAST_PATIENT_FIELDS = {"status", "time_zone"}
# Who hears about the patient, and how: a change re-plans the reminders not yet sent.
RECIPIENT_PATIENT_FIELDS = {"notification_channels", "email", "phone", "phone_verified_at", "sms_opted_out_at"}
# The clinic's settings that are forecast inputs.
CLINIC_FORECAST_FIELDS = {"reminder_hour", "reminder_steps"}


def create_patient(*, by: User, clinic: Clinic, **fields) -> Patient:
    with transaction.atomic():
        patient = Patient(clinic=clinic, **fields)
        patient.full_clean()
        patient.save()
        audit.record(by, AuditEvent.Action.CREATE, "patient", [patient])
    return patient


def update_patient(*, by: User, patient: Patient, changes: dict) -> Patient:
    """Apply already-permitted changes (the caller checks which fields this user may change)."""
    if not changes:
        return patient
    changes = rules.with_new_number(patient.phone, changes)
    with transaction.atomic():
        for field, value in changes.items():
            setattr(patient, field, value)
        patient.full_clean()
        patient.save(update_fields=[*changes, "updated_at"])
        audit.record(by, AuditEvent.Action.UPDATE, "patient", [patient])
        if FORECAST_PATIENT_FIELDS & set(changes):
            forecast_inputs_changed.send(sender=Patient, patient=patient)
        elif RECIPIENT_PATIENT_FIELDS & set(changes):
            recipients_changed.send(sender=Patient, patient=patient)
    return patient


def update_replans(changes: Iterable[str]) -> bool:
    """Whether `update_patient` with these changed fields re-plans the patient's reminders itself
    (through forecast_inputs_changed or recipients_changed), so the caller need not again."""
    return bool((FORECAST_PATIENT_FIELDS | RECIPIENT_PATIENT_FIELDS) & set(changes))


# --- Contact state: choices, the phone's check and STOP --------------------------------------


def update_user_choices(
    *,
    user: User,
    channels: list[str],
    language: str,
    phone: str,
    time_zone: str | None,
    follow: Patient | None = None,
) -> bool:
    """Store a log-in's own choices of how to hear from us. `follow`: the person's patient
    record, whose number, checked time and STOP time the User copy takes; without one, a new
    number must be checked again (rules.with_new_number). `time_zone` None leaves it as it is.
    Returns whether anything changed; raises ValidationError if a value is refused."""
    wanted: dict[str, Any] = {"notification_channels": channels, "language": language, "phone": phone}
    if follow is not None:
        wanted = {
            **wanted,
            "phone_verified_at": follow.phone_verified_at,
            "sms_opted_out_at": follow.sms_opted_out_at,
        }
    changes = {field: value for field, value in wanted.items() if getattr(user, field) != value}
    if follow is None:
        changes = rules.with_new_number(user.phone, changes)
    if time_zone is not None and time_zone != user.time_zone:
        changes["time_zone"] = time_zone
    if not changes:
        return False
    for field, value in changes.items():
        setattr(user, field, value)
    user.clean_fields(exclude=[f.name for f in User._meta.concrete_fields if f.name not in changes])
    user.save(update_fields=list(changes))
    return True


def set_caregiver_alerts(*, by: User, link: CaregiverLink, call_clinic: bool) -> bool:
    """Whether this caregiver hears about the patient's call-clinic check-ins. Audited; returns
    whether it changed."""
    if call_clinic == link.notify_call_clinic:
        return False
    link.notify_call_clinic = call_clinic
    link.save(update_fields=["notify_call_clinic"])
    audit.record(by, AuditEvent.Action.UPDATE, "caregiver_link_notifications", [link.patient])
    return True


def set_phone_verified(*, user: User, patient: Patient | None, phone: str, now: datetime) -> None:
    """The person showed they hold `phone`: mark it checked on each record that still has it
    (the patient record's change audited). The caller re-plans in the same transaction."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk, phone=phone).update(phone_verified_at=now)
        if patient is not None:
            if Patient.objects.filter(pk=patient.pk, phone=phone).update(phone_verified_at=now, updated_at=now):
                audit.record(user, AuditEvent.Action.UPDATE, "patient_phone_verified", [patient])


def set_sms_opt_out(
    *,
    actor: User | None,
    user_ids: Iterable[int],
    patient_ids: Iterable[int],
    opted_out: bool,
    now: datetime,
    path: str = "",
) -> int:
    """STOP (`opted_out`) or START for these log-ins and patient records: no texts to their
    number, or texts again. The first opt-out time is kept; each patient record that changes is
    audited. Returns how many records changed. The caller re-plans in the same transaction."""
    still = {"sms_opted_out_at__isnull": opted_out}
    with transaction.atomic():
        changed = User.objects.filter(pk__in=list(user_ids), **still).update(
            sms_opted_out_at=now if opted_out else None
        )
        touched = list(Patient.objects.filter(pk__in=list(patient_ids), **still))
        Patient.objects.filter(pk__in=[p.pk for p in touched]).update(
            sms_opted_out_at=now if opted_out else None, updated_at=now
        )
        what = "patient_sms_opt_out" if opted_out else "patient_sms_opt_in"
        for patient in touched:
            audit.record(actor, AuditEvent.Action.UPDATE, what, [patient], path=path)
    return changed + len(touched)


def renew_calendar_link(*, by: User, patient: Patient, path: str = "") -> None:
    """A new private calendar link for this patient: the old one stops working at once."""
    Patient.objects.filter(pk=patient.pk).update(calendar_version=F("calendar_version") + 1)
    audit.record(by, AuditEvent.Action.UPDATE, "calendar_link_renewed", [patient], path=path)


def invite(*, by: User, patient: Patient, kind: str, email: str, full_name: str, relationship: str = "") -> Invitation:
    email = User.objects.normalize_email(email).lower()
    if (
        kind == Invitation.Kind.CAREGIVER
        and CaregiverLink.objects.filter(
            patient=patient, caregiver__email__iexact=email, revoked_at__isnull=True
        ).exists()
    ):
        raise ValidationError({"email": "This person is already a caregiver for this patient."})
    if kind == Invitation.Kind.PATIENT and patient.user_id is not None:
        raise ValidationError({"email": "This patient already has a log-in."})
    now = timezone.now()
    with transaction.atomic():
        # A newer invitation to the same address replaces any pending one.
        Invitation.objects.filter(
            patient=patient, kind=kind, email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation(
            patient=patient,
            kind=kind,
            email=email,
            full_name=full_name,
            relationship=relationship,
            invited_by=by,
            created_at=now,
            expires_at=now + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
        )
        invitation.full_clean()
        invitation.save()
        audit.record(by, AuditEvent.Action.CREATE, f"invitation_{kind}", [patient])
        transaction.on_commit(lambda: send_invitation_email(invitation))
    return invitation


def invitation_url(invitation: Invitation) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("invitation-accept", args=[make_token(invitation)])


def send_invitation_email(invitation: Invitation) -> None:
    context = {
        "invitation": invitation,
        "url": invitation_url(invitation),
        "clinic": invitation.patient.clinic,
        "max_age_days": settings.INVITATION_MAX_AGE_DAYS,
    }
    subject = render_text("emails/invitation_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_text("emails/invitation.txt", context),
        from_email=sender(invitation.patient.clinic.name),
        to=[invitation.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(render_to_string("emails/invitation.html", context), "text/html")
    message.send()


ACCOUNT_HAS_PATIENT_RECORD = "account_has_patient_record"


def accept_invitation(invitation: Invitation, *, password: str, existing_user: User | None = None) -> User:
    """Accept a pending invitation: create the log-in (or use the signed-in/verified existing
    one) and link it. Single use: the row is locked and re-checked inside the transaction."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.state != "pending":
            raise ValidationError(f"This invitation is {invitation.state}.")
        user = existing_user
        if user is None:
            if User.objects.filter(email__iexact=invitation.email).exists():
                raise ValidationError("An account with this e-mail exists: log in to accept.")
            user = User(email=invitation.email, full_name=invitation.full_name)
            validate_password(password, user)
            user.set_password(password)
            user.save()
        if invitation.kind == Invitation.Kind.CAREGIVER:
            CaregiverLink.objects.get_or_create(
                caregiver=user,
                patient=invitation.patient,
                revoked_at__isnull=True,
                defaults={"relationship": invitation.relationship},
            )
        else:
            patient = Patient.objects.select_for_update().get(pk=invitation.patient_id)
            if patient.user_id is not None:
                raise ValidationError("This patient already has a log-in.")
            has_record = ValidationError(
                "This account already has a patient record, so it cannot be the log-in of another one."
                " Please call your clinic: they can sort it out.",
                code=ACCOUNT_HAS_PATIENT_RECORD,
            )
            if Patient.objects.filter(user=user).exists():
                raise has_record
            patient.user = user
            try:
                with transaction.atomic():  # another request may link the account meanwhile
                    patient.save(update_fields=["user", "updated_at"])
            except IntegrityError:
                raise has_record from None
        invitation.accepted_at = timezone.now()
        invitation.accepted_user = user
        invitation.save(update_fields=["accepted_at", "accepted_user"])
        audit.record(user, AuditEvent.Action.CREATE, f"accepted_invitation_{invitation.kind}", [invitation.patient])
        recipients_changed.send(sender=Patient, patient=invitation.patient)  # the new person is reminded too
    return user


def revoke_caregiver(*, by: User, link: CaregiverLink) -> None:
    with transaction.atomic():
        updated = CaregiverLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=by
        )
        if updated:
            audit.record(by, AuditEvent.Action.UPDATE, "caregiver_link_revoked", [link.patient])
            recipients_changed.send(sender=Patient, patient=link.patient)


def revoke_invitation(*, by: User, invitation: Invitation) -> None:
    with transaction.atomic():
        updated = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            audit.record(by, AuditEvent.Action.UPDATE, "invitation_revoked", [invitation.patient])


def update_clinic(*, by: User, clinic: Clinic, changes: dict[str, Any]) -> Clinic:
    """Apply the clinic's settings (plain values, such as the settings page's cleaned data). The
    reminder hour and steps are forecast inputs: a change to either recomputes the forecasts."""
    if "reminder_steps" in changes:
        try:
            changes = {**changes, "reminder_steps": list(rules.validate_reminder_steps(changes["reminder_steps"]))}
        except ValueError as error:
            raise ValidationError({"reminder_steps": [str(error)]}) from None
    with transaction.atomic():
        stored = Clinic.objects.select_for_update().get(pk=clinic.pk)
        changed = {field for field, value in changes.items() if getattr(stored, field) != value}
        for field, value in changes.items():
            setattr(stored, field, value)
        stored.full_clean()
        stored.save()
        audit.record(by, AuditEvent.Action.UPDATE, "clinic_settings", clinic=stored)
        if CLINIC_FORECAST_FIELDS & changed:
            forecast_inputs_changed.send(sender=Clinic, clinic=stored)
    return stored


def record_heartbeat(name: str, now=None) -> None:
    SchedulerHeartbeat.objects.update_or_create(name=name, defaults={"last_tick_at": now or timezone.now()})


def open_queue_item(*, patient: Patient, kind: str, tier: int, source: str = "", key: str | None = None, now=None):
    """Open a clinic queue item unless one with the same key is still open. Call it inside the
    transaction that made the change, so the item and the change stand or fall together."""
    open_queue_items([{"patient": patient, "kind": kind, "tier": tier, "source": source, "key": key}], now=now)


def open_queue_items(items, *, now=None) -> None:
    """`open_queue_item` for many items at once (each a dict of its arguments: patient, kind,
    tier, source, optional key), in one INSERT that skips every key still open: the database's
    one-open-item-per-key constraint decides, so an item opened meanwhile by another
    transaction is kept and not doubled."""
    now = now or timezone.now()
    wanted: dict[str, dict[str, Any]] = {}
    for item in items:
        key = item.get("key") or f"{item['kind']}:{item['patient'].pk}:{item.get('source', '')}"
        wanted.setdefault(key, item)
    if not wanted:
        return
    QueueItem.objects.bulk_create(
        [
            QueueItem(
                patient=item["patient"],
                clinic_id=item["patient"].clinic_id,
                kind=item["kind"],
                tier=item["tier"],
                source=item.get("source", ""),
                dedupe_key=key,
                opened_at=now,
            )
            for key, item in wanted.items()
        ],
        ignore_conflicts=True,  # ON CONFLICT DO NOTHING: the only unique rule is one open item per key
    )


def housekeeping(now=None) -> dict[str, int]:
    """Hourly (patients.tasks.housekeeping): delete enrolment drafts past their 12 hours, which
    hold patients' details, sessions that have expired, API tokens past their time, and wrong
    second-factor codes that no longer count."""
    now = now or timezone.now()
    drafts, _ = EnrolmentDraft.objects.filter(started_at__lt=now - EnrolmentDraft.MAX_AGE).delete()
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return {
        "enrolment_drafts": drafts,
        "api_tokens": api_tokens.delete_ended(now),
        "wrong_codes": two_factor.forget_old_failures(now),
    }
