"""Text messages and the phone numbers behind them (SPEC §5, Channels): checking that a number
belongs to the person who typed it, and the STOP / START keywords a provider passes on.

A number is usable for texts only when it was checked (phone_verified_at) and its owner has
not texted STOP (sms_opted_out_at); refills/notify/recipients.py applies that rule when sending.

The one-time code lives in the session, not the database: it is short-lived, belongs to one
log-in, and needs no migration. Only an HMAC of it is stored, bound to the user and the number.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from patients import services as patient_services
from patients.models import Patient, User

from . import services
from .notify.channels import sms

CODE_LIFETIME = timedelta(minutes=10)
CODE_MAX_TRIES = 5
# Texts cost money and can annoy: one code a minute, five an hour, per log-in session.
CODE_RESEND_AFTER = timedelta(minutes=1)
CODES_PER_HOUR = 5
SESSION_KEY = "refills_phone_code"

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_FORMATTING = re.compile(r"[\s().\-/]")


# --- Numbers ------------------------------------------------------------------------------


def normalize(raw: str) -> str | None:
    """The number in international form (+15555550123), or None when it cannot be one.
    Ten digits with no country code are taken as a North American number."""
    text = _FORMATTING.sub("", raw or "")
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    if plus:
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None


def same_number(a: str, b: str) -> bool:
    """True when two ways of writing a number name the same phone."""
    na, nb = normalize(a), normalize(b)
    if na and nb:
        return na == nb
    da, db = re.sub(r"\D", "", a or ""), re.sub(r"\D", "", b or "")
    return bool(da) and da == db


def last_digits(number: str) -> str:
    """The last four digits, the only part of a number that pages and messages show."""
    return re.sub(r"\D", "", number or "")[-4:]


def holders_of(number: str) -> tuple[list[User], list[Patient]]:
    """Every log-in and every patient record with this number, however it was written.
    The last four digits narrow the search in the database; Python compares the rest."""
    digits = re.sub(r"\D", "", number or "")
    if len(digits) < 4:
        return [], []
    tail = digits[-4:]
    users = [u for u in User.objects.filter(phone__endswith=tail) if same_number(u.phone, number)]
    patients = [p for p in Patient.objects.filter(phone__endswith=tail) if same_number(p.phone, number)]
    return users, patients


# --- Checking a number with a one-time code -------------------------------------------------


@dataclass(frozen=True)
class PendingCode:
    phone: str
    expires_at: datetime
    tries: int


def _digest(user_id: int, phone: str, nonce: str, code: str) -> str:
    return salted_hmac("refills.phone.code", f"{user_id}:{phone}:{nonce}:{code}", algorithm="sha256").hexdigest()


def pending_code(session, phone: str, now: datetime) -> PendingCode | None:
    """The code waiting to be typed for this number, if one is (even an expired one)."""
    saved = session.get(SESSION_KEY)
    if not saved or saved.get("phone") != phone:
        return None
    return PendingCode(phone=phone, expires_at=datetime.fromisoformat(saved["expires_at"]), tries=saved["tries"])


def send_code(session, user: User, phone: str, now: datetime) -> None:
    """Text a new 6-digit code to `phone`. Raises ValidationError with a message for the page."""
    if not phone:
        raise ValidationError(_("First save your mobile phone number, then ask for a code."))
    sent = [datetime.fromisoformat(at) for at in session.get(SESSION_KEY + "_sent", [])]
    sent = [at for at in sent if now - at < timedelta(hours=1)]
    if sent and now - max(sent) < CODE_RESEND_AFTER:
        raise ValidationError(_("We just sent you a code. Please wait a minute before you ask for a new one."))
    if len(sent) >= CODES_PER_HOUR:
        raise ValidationError(_("We sent you many codes this hour. Please try again later."))
    code = f"{secrets.randbelow(10**6):06d}"
    text = _("Your IBT Companion code is %(code)s. It works for 10 minutes. Do not share it.") % {"code": code}
    try:
        sms.backend().send(phone, text, f"verify:{user.pk}:{int(now.timestamp())}")
    except Exception as error:  # any provider failure is the same to the person waiting
        raise ValidationError(_("We could not send a text to this number. Check the number and try again.")) from error
    nonce = secrets.token_hex(8)
    session[SESSION_KEY] = {
        "phone": phone,
        "nonce": nonce,
        "digest": _digest(user.pk, phone, nonce, code),
        "expires_at": (now + CODE_LIFETIME).isoformat(),
        "tries": 0,
    }
    session[SESSION_KEY + "_sent"] = [at.isoformat() for at in [*sent, now]]


def check_code(session, user: User, phone: str, code: str, now: datetime) -> None:
    """Accept the code or raise ValidationError saying what went wrong. A right code is
    used up; a wrong one counts as a try, and after CODE_MAX_TRIES the code is void."""
    saved = session.get(SESSION_KEY)
    if not saved:
        raise ValidationError(_("Ask for a code first."))
    if saved.get("phone") != phone:
        raise ValidationError(_("That code was for another phone number. Ask for a new code."))
    if now >= datetime.fromisoformat(saved["expires_at"]):
        raise ValidationError(_("This code is too old. Codes work for 10 minutes. Ask for a new code."))
    if saved["tries"] >= CODE_MAX_TRIES:
        raise ValidationError(_("Too many tries. Ask for a new code."))
    if not constant_time_compare(_digest(user.pk, phone, saved["nonce"], code), saved["digest"]):
        saved["tries"] += 1
        session[SESSION_KEY] = saved
        if saved["tries"] >= CODE_MAX_TRIES:
            raise ValidationError(_("That code is not right, and that was the last try. Ask for a new code."))
        raise ValidationError(_("That code is not right. Check the text message and try again."))
    del session[SESSION_KEY]


def mark_verified(user: User, patient: Patient | None, phone: str, now: datetime) -> None:
    """The person showed they hold `phone`: mark it checked on each record that still has it."""
    with transaction.atomic():
        patient_services.set_phone_verified(user=user, patient=patient, phone=phone, now=now)
        services.replan(services.patients_heard_by(user), now)  # texts can go to this number now


# --- STOP and START ------------------------------------------------------------------------


def keyword(text: str) -> str:
    """STOP, START, HELP or "" for anything else. The whole message must be the keyword
    (any case, spaces and a final full stop or ! allowed), as carriers match it."""
    word = (text or "").strip().rstrip(".!").strip().upper()
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return ""


def opt_out(number: str, now: datetime, *, path: str = "") -> int:
    """STOP: no more texts to this number, for every log-in and patient record that has it.
    Returns how many records changed. The first opt-out time is kept."""
    users, patients = holders_of(number)
    return _set_opt_out(None, users, patients, now, opted_out=True, path=path)


def opt_in_number(number: str, now: datetime, *, path: str = "") -> int:
    """START texted back: texts may go to this number again."""
    users, patients = holders_of(number)
    return _set_opt_out(None, users, patients, now, opted_out=False, path=path)


def opt_in(user: User, patient: Patient | None, now: datetime, *, path: str = "") -> int:
    """The person pressed "Start texts again" on their own page."""
    return _set_opt_out(user, [user], [patient] if patient else [], now, opted_out=False, path=path)


def _set_opt_out(actor, users, patients, now, *, opted_out: bool, path) -> int:
    """Record STOP (opted_out) or START for these log-ins and records and re-plan around them,
    in one transaction."""
    with transaction.atomic():
        changed = patient_services.set_sms_opt_out(
            actor=actor,
            user_ids=[u.pk for u in users],
            patient_ids=[p.pk for p in patients],
            opted_out=opted_out,
            now=now,
            path=path,
        )
        _replan_around(users, patients, now)
    return changed


def _replan_around(users, patients, now: datetime) -> None:
    """Texts stopped or started for these records: re-plan the reminders of everyone they reach."""
    services.replan([*patients, *(p for user in users for p in services.patients_heard_by(user))], now)


def handle_inbound(number: str, text: str, now: datetime | None = None, *, path: str = "") -> str:
    """What a provider passes on when someone texts us. Returns the reply to send back.
    The reply is the same whether or not we know the number, so it reveals nothing."""
    now = now or timezone.now()
    word = keyword(text)
    if word == "STOP":
        opt_out(number, now, path=path)
        return _("IBT Companion: you will get no more texts from us. Reply START to get them again.")
    if word == "START":
        opt_in_number(number, now, path=path)
        return _("IBT Companion: texts are on again. Reply STOP to stop them.")
    if word == "HELP":
        return _("IBT Companion pump refill reminders. Reply STOP to stop texts. For help, call your clinic.")
    return _(
        "IBT Companion cannot read replies. Call your clinic. In an emergency, call %(number)s. "
        "Reply STOP to stop texts."
    ) % {"number": settings.DEFAULT_EMERGENCY_NUMBER}
