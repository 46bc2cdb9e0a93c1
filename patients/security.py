"""Writes about how people prove who they are: second-factor set-up links, resets, turning it
off. Each is audited, and the person is told by e-mail (a change they did not make is how a
person notices an attacker). The rules are in two_factor.py."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import api_tokens, audit, two_factor
from .emails import render_text, sender
from .models import AuditEvent, Clinic, ClinicMembership, Patient, User


def _send(user: User, template: str, context: dict) -> None:
    context = {**context, "user": user, "site_url": settings.SITE_URL.rstrip("/")}
    message = EmailMultiAlternatives(
        subject=render_text(f"emails/{template}_subject.txt", context).strip(),
        body=render_text(f"emails/{template}.txt", context),
        from_email=sender(),
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()


def record_setup(user: User, *, by_link: bool = False) -> None:
    """After a new device is confirmed: API tokens made before it (perhaps with a stolen password
    alone) end, the change is audited, and the person is told."""
    with transaction.atomic():
        api_tokens.end_all(user.pk, what="second_factor_setup")
        audit.record(user, AuditEvent.Action.UPDATE, "second_factor_setup_link" if by_link else "second_factor_setup")
        transaction.on_commit(lambda: _send(user, "second_factor_changed", {"change": "on"}))


def turn_off(user: User) -> None:
    with transaction.atomic():
        two_factor.remove_devices(user)
        audit.record(user, AuditEvent.Action.DELETE, "second_factor")
        transaction.on_commit(lambda: _send(user, "second_factor_changed", {"change": "off"}))


def send_enrolment_link(*, user: User, by: User | None, clinic: Clinic | None) -> str:
    """A new one-time set-up link, e-mailed to the person; returns it (for the management command).
    Only for someone with no second factor: a lost one is reset first."""
    if two_factor.has_two_factor(user):
        message = _("%(email)s already has two-step log-in. If they lost their phone, reset it instead.")
        raise ValidationError(message % {"email": user.email})
    with transaction.atomic():
        enrolment = two_factor.issue_enrolment(user=user, by=by)
        url = two_factor.enrolment_url(enrolment)
        audit.record(by or user, AuditEvent.Action.CREATE, "second_factor_link", clinic=clinic)
        transaction.on_commit(lambda: _send(user, "second_factor_link", {"url": url, "clinic": clinic}))
    return url


def reset_second_factor(*, user: User, by: User, clinic: Clinic, patient: Patient | None = None) -> None:
    """A lost phone: remove every device and recovery code, end the person's API tokens, and tell
    them. Staff get a new set-up link in the same e-mail; a patient or caregiver logs in with
    their password and may set it up again."""
    with transaction.atomic():
        two_factor.remove_devices(user)
        api_tokens.end_all(user.pk, what="second_factor_reset")
        audit.record(by, AuditEvent.Action.DELETE, "second_factor_reset", [patient] if patient else (), clinic=clinic)
        url = ""
        if two_factor.required_for(user):
            url = two_factor.enrolment_url(two_factor.issue_enrolment(user=user, by=by))
        context = {"url": url, "clinic": clinic, "by": by}
        transaction.on_commit(lambda: _send(user, "second_factor_reset", context))


@dataclass(frozen=True)
class StaffRow:
    membership: ClinicMembership
    has_device: bool


def staff_with_second_factor(clinic: Clinic) -> list[StaffRow]:
    """The clinic's staff and admins, each with whether they have two-step log-in. One query."""
    rows = (
        ClinicMembership.objects.filter(clinic=clinic)
        .select_related("user")
        .annotate(has_device=Exists(TOTPDevice.objects.filter(user_id=OuterRef("user_id"), confirmed=True)))
        .order_by("user__full_name", "user__email")
    )
    return [StaffRow(membership=row, has_device=row.has_device) for row in rows]
