"""Two-step log-in (TOTP with recovery codes) on django-otp (SPEC §10).

- Clinic staff and admins must use it; patients and caregivers may turn it on. Whoever has a
  second factor is asked for it at every log-in and for every API token.
- A device is added or replaced only from a session that already passed a second factor. A
  staff member with no device yet sets one up only through a one-time link from a clinic admin
  (the first admin through `manage.py second_factor_link`): a password alone reaches nothing.
- A lost second factor: a clinic admin resets it (audited; the person is told by e-mail).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import timedelta

import segno
from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import ClinicMembership, SecondFactorEnrolment, User

RECOVERY_CODES = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
ENROLMENT_SALT = "patients.second-factor-enrolment"
ENROLMENT_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class Standing:
    """What log-in asks of a person now (read on every request, so a new role counts at once)."""

    staff: bool  # clinic staff or admin (or a superuser): must have a second factor
    has_device: bool  # a confirmed authenticator app, or recovery codes not yet used

    @property
    def must_verify(self) -> bool:
        return self.staff or self.has_device


NOBODY = Standing(staff=False, has_device=False)


def _standing_sql() -> str:
    return f"""
        SELECT EXISTS (SELECT 1 FROM {ClinicMembership._meta.db_table} WHERE user_id = %(user)s),
               EXISTS (SELECT 1 FROM {TOTPDevice._meta.db_table} WHERE user_id = %(user)s AND confirmed),
               EXISTS (SELECT 1 FROM {StaticToken._meta.db_table} t
                       JOIN {StaticDevice._meta.db_table} d ON d.id = t.device_id
                       WHERE d.user_id = %(user)s AND d.confirmed)
    """  # noqa: S608 - table names from the models; the value is a parameter


def standing(user) -> Standing:
    """One query."""
    if not getattr(user, "is_authenticated", False):
        return NOBODY
    with connection.cursor() as cursor:
        cursor.execute(_standing_sql(), {"user": user.pk})
        member, totp, recovery = cursor.fetchone()
    return Standing(staff=bool(member or user.is_staff or user.is_superuser), has_device=bool(totp or recovery))


def required_for(user) -> bool:
    return standing(user).staff


def has_two_factor(user) -> bool:
    return standing(user).has_device


def may_change_devices(request) -> bool:
    """Adding, replacing or removing a device, or making new recovery codes: only a session that
    passed the second factor, or (for someone who need not have one) a person who has none yet."""
    if request.user.is_verified():
        return True
    now = standing(request.user)
    return not now.has_device and not now.staff


# --- Setting up an authenticator -----------------------------------------------------------------


def start_setup(user: User) -> TOTPDevice:
    """A fresh unconfirmed device (any earlier unconfirmed one is replaced)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def pending_setup(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def qr_svg(device: TOTPDevice) -> str:
    out = io.BytesIO()
    segno.make(device.config_url, error="m").save(out, kind="svg", scale=5, xmldecl=False, svgns=True, title="QR code")
    return out.getvalue().decode()


def confirm_setup(request, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the device with a code from the app; returns fresh recovery codes, or None.
    The caller has checked that this session may change devices (`may_change_devices`, or a
    valid enrolment link): the new device replaces any other."""
    if not device.verify_token(_digits(code)):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = new_recovery_codes(device.user)
    otp_login(request, device)
    return codes


def new_recovery_codes(user: User) -> list[str]:
    """Replace the recovery codes; each works once."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
        device.token_set.all().delete()
        codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return [f"{c[:5]}-{c[5:]}" for c in codes]


# --- Checking a code -----------------------------------------------------------------------------


def _digits(code: str) -> str:
    return (code or "").strip().replace(" ", "").replace("-", "")


def _devices(user: User):
    return (*TOTPDevice.objects.filter(user=user, confirmed=True), *StaticDevice.objects.filter(user=user))


def check_code(user: User, code: str):
    """The device that accepts this code (an app code, or a recovery code, used up), or None.
    django-otp slows down repeated wrong codes on each device."""
    code = _digits(code)
    if not code.isdigit():
        return None
    for device in _devices(user):
        if device.verify_is_allowed()[0] and device.verify_token(code):
            return device
    return None


def verify(request, code: str) -> bool:
    """A code from the app, or a recovery code (used up). Marks the session verified."""
    device = check_code(request.user, code)
    if device is None:
        return False
    otp_login(request, device)
    return True


def verify_for_token(user: User, code: str) -> bool:
    """For the API token endpoint: the same check without a session."""
    return check_code(user, code) is not None


def turn_off(user: User) -> None:
    """Only for people who need not use it (patients, caregivers), from a verified session."""
    remove_devices(user)


def remove_devices(user: User) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


# --- One-time set-up links for staff ---------------------------------------------------------------


def enrolment_token(enrolment: SecondFactorEnrolment) -> str:
    return signing.dumps({"s": enrolment.pk, "u": enrolment.user_id}, salt=ENROLMENT_SALT, compress=True)


def enrolment_url(enrolment: SecondFactorEnrolment) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("two-factor-enrol", args=[enrolment_token(enrolment)])


def load_enrolment(token: str, user) -> SecondFactorEnrolment | None:
    """The pending link this token names, for this signed-in user; else None (tampered, too
    old, used, replaced, or someone else's)."""
    try:
        payload = signing.loads(token, salt=ENROLMENT_SALT, max_age=ENROLMENT_MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not getattr(user, "is_authenticated", False) or payload.get("u") != user.pk:
        return None
    enrolment = SecondFactorEnrolment.objects.filter(pk=payload.get("s"), user=user).first()
    return enrolment if enrolment is not None and enrolment.is_pending else None


def issue_enrolment(*, user: User, by: User | None, now=None) -> SecondFactorEnrolment:
    """A new one-time link; any earlier unused one for this person stops working."""
    now = now or timezone.now()
    with transaction.atomic():
        SecondFactorEnrolment.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=now
        )
        return SecondFactorEnrolment.objects.create(
            user=user, created_by=by, created_at=now, expires_at=now + ENROLMENT_MAX_AGE
        )


def use_enrolment(request, enrolment: SecondFactorEnrolment, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the device through the link; the link is used up in the same transaction."""
    with transaction.atomic():
        locked = SecondFactorEnrolment.objects.select_for_update().get(pk=enrolment.pk)
        if not locked.is_pending:
            return None
        codes = confirm_setup(request, device, code)
        if codes is not None:
            locked.used_at = timezone.now()
            locked.save(update_fields=["used_at"])
    return codes
