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
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import ClinicMembership, SecondFactorEnrolment, SecondFactorFailure, User

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

# Wrong codes: a few per person and address, more in all, within CODE_WINDOW; then a wait. Tries
# during the wait are not counted, so it ends CODE_WINDOW after the tries that caused it at the
# latest: someone who has the password can slow the owner down, never lock them out for good.
# (django-otp's own throttle doubles without end, so it is off: OTP_*_THROTTLE_FACTOR = 0.)
CODE_WINDOW = timedelta(minutes=15)
CODE_TRIES_PER_ADDRESS = 5
CODE_TRIES_IN_ALL = 20
TOO_MANY_CODES = gettext_lazy(
    "Too many wrong codes. Wait 15 minutes, then try again. If these tries were not yours, change your password."
)


def is_locked(wrong_from_address: int, wrong_in_all: int) -> bool:
    """Pure. The limit in all holds only addresses that have tried and failed, so tries spread
    over many addresses cannot keep the owner, typing the right code elsewhere, out."""
    if wrong_from_address >= CODE_TRIES_PER_ADDRESS:
        return True
    return wrong_in_all >= CODE_TRIES_IN_ALL and wrong_from_address > 0


@dataclass(frozen=True)
class Checked:
    device: object | None  # the device that took the code; None for a wrong code or a wait
    locked: bool = False  # too many wrong codes: nothing was checked
    missing: bool = False  # no code at all: asked for, not counted


def client_ip(request) -> str:
    from .throttling import client_ip as address  # the address django-axes counts log-ins by

    return address(request) if request is not None else ""


def _digits(code: str) -> str:
    return (code or "").strip().replace(" ", "").replace("-", "")


def _devices(user: User):
    return (*TOTPDevice.objects.filter(user=user, confirmed=True), *StaticDevice.objects.filter(user=user))


def _matching_device(user: User, code: str):
    code = _digits(code)
    if not code.isdigit():
        return None
    return next((device for device in _devices(user) if device.verify_token(code)), None)


def check_code(user: User, code: str, *, ip: str = "") -> Checked:
    """An app code, or a recovery code (used up), within the limit on wrong codes. The person's
    row is locked while counting, so tries sent at the same moment are counted one by one."""
    if not _digits(code):
        return Checked(None, missing=True)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        since = timezone.now() - CODE_WINDOW
        wrong = SecondFactorFailure.objects.filter(user=user, at__gt=since).aggregate(
            in_all=Count("pk"), from_address=Count("pk", filter=Q(ip_address=ip))
        )
        if is_locked(wrong["from_address"], wrong["in_all"]):
            return Checked(None, locked=True)
        device = _matching_device(user, code)
        if device is not None:
            SecondFactorFailure.objects.filter(user=user, ip_address=ip).delete()  # as django-axes does
            return Checked(device)
        SecondFactorFailure.objects.create(user=user, ip_address=ip)
    return Checked(None, locked=is_locked(wrong["from_address"] + 1, wrong["in_all"] + 1))


def forget_old_failures(now) -> int:
    """Delete wrong codes that no longer count (the hourly housekeeping)."""
    deleted, _ = SecondFactorFailure.objects.filter(at__lte=now - CODE_WINDOW).delete()
    return deleted


def verify(request, code: str) -> Checked:
    """Check the signed-in person's code; a right one marks the session verified."""
    checked = check_code(request.user, code, ip=client_ip(request))
    if checked.device is not None:
        otp_login(request, checked.device)
    return checked


def verify_for_token(request, user: User, code: str) -> Checked:
    """For the API token endpoint: the same check without a session."""
    return check_code(user, code, ip=client_ip(request))


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
    if enrolment is None or not enrolment.is_pending or has_two_factor(user):
        return None  # a device is replaced only from a verified session (or after a reset)
    return enrolment


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
