"""Two-factor log-in (TOTP with recovery codes) on django-otp. Clinic staff and admins must
use it; patients and caregivers may turn it on."""

from __future__ import annotations

import io
import secrets

import segno
from django.db import transaction
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .access import is_clinic_staff
from .models import User

RECOVERY_CODES = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def required_for(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and (is_clinic_staff(user) or user.is_staff)


def confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


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
    """Confirm the device with a code from the app; returns fresh recovery codes, or None."""
    if not device.verify_token(code.strip().replace(" ", "")):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()
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


def verify(request, code: str) -> bool:
    """A code from the app, or a recovery code (used up). Marks the session verified."""
    code = code.strip().replace(" ", "").replace("-", "")
    user = request.user
    if not code.isdigit():
        return False
    for device in (*TOTPDevice.objects.filter(user=user, confirmed=True), *StaticDevice.objects.filter(user=user)):
        if device.verify_is_allowed()[0] and device.verify_token(code):
            otp_login(request, device)
            return True
    return False


def verify_for_token(user: User, code: str) -> bool:
    """For the API token endpoint: the same check without a session."""
    code = (code or "").strip().replace(" ", "").replace("-", "")
    if not code.isdigit():
        return False
    return any(
        device.verify_is_allowed()[0] and device.verify_token(code)
        for device in (*TOTPDevice.objects.filter(user=user, confirmed=True), *StaticDevice.objects.filter(user=user))
    )


def turn_off(user: User) -> None:
    """Only for people who need not use it (patients, caregivers)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
