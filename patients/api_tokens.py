"""API tokens (SPEC §10): the one writer of ApiToken, and its reads.

A person may hold several tokens, one per app or device. The key is shown once; the database
keeps only its SHA-256. When a token ends is decided in patients/token_rules.py (pure). A change
of role (a clinic membership added, removed or changed; the admin-site flags) deletes the
person's tokens at once, through the receivers below, connected in PatientsConfig.ready.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from . import audit, token_rules
from .access import is_clinic_staff
from .models import ApiToken, AuditEvent, ClinicMembership, User

DEFAULT_NAME = "API token"
WHAT = "api_token"
WHAT_ROLE_CHANGED = "api_token: role changed"


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    key: str  # shown to the person once, never stored


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def password_fingerprint(user: User) -> str:
    """The HMAC of the password hash that Django's sessions carry. It changes whenever the
    password hash does, however it was changed (the change page, a reset link, the admin site,
    `set_password`, even a queryset update), so nothing has to remember to end the tokens."""
    return user.get_session_auth_hash()


def is_staff_account(user: User) -> bool:
    return is_clinic_staff(user) or user.is_staff


def idle_limit(token: ApiToken) -> timedelta:
    minutes = settings.SESSION_IDLE_MINUTES_STAFF if token.for_staff else settings.SESSION_IDLE_MINUTES_OTHER
    return timedelta(minutes=minutes)


def why_ended(token: ApiToken, *, now: datetime | None = None) -> token_rules.Ended | None:
    return token_rules.ended(
        now=now or timezone.now(),
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        idle_limit=idle_limit(token),
        fingerprint_matches=constant_time_compare(token.password_fingerprint, password_fingerprint(token.user)),
    )


def _audit(user: User, action: str, what: str, path: str) -> None:
    """One row per clinic the person works for, so each clinic's admins see it; else one row."""
    clinic_ids: list[int | None] = list(
        ClinicMembership.objects.filter(user=user).values_list("clinic_id", flat=True)
    ) or [None]
    for clinic_id in clinic_ids:
        audit.record_ids(user, action, what, [], clinic_id=clinic_id, path=path)


# --- writes ------------------------------------------------------------------------------


def issue(user: User, name: str = "", *, path: str = "") -> Issued:
    """A new token for `user` (who has passed every log-in check). Returns the key, once."""
    now = timezone.now()
    for_staff = is_staff_account(user)
    key = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip()[:100] or DEFAULT_NAME,
            key_hash=hash_key(key),
            password_fingerprint=password_fingerprint(user),
            for_staff=for_staff,
            created_at=now,
            last_used_at=now,
            expires_at=now + token_rules.lifetime(for_staff),
        )
        _audit(user, AuditEvent.Action.CREATE, WHAT, path)
    return Issued(token=token, key=key)


def revoke(user: User, token_id, *, path: str = "") -> bool:
    """Delete one of `user`'s own tokens. False when they hold no token with that id."""
    with transaction.atomic():
        deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
        if deleted:
            _audit(user, AuditEvent.Action.DELETE, WHAT, path)
    return bool(deleted)


def end_all(user_id: int, *, what: str = WHAT_ROLE_CHANGED) -> int:
    """Delete every token of one person (their role changed)."""
    with transaction.atomic():
        deleted, _ = ApiToken.objects.filter(user_id=user_id).delete()
        user = User.objects.filter(pk=user_id).first() if deleted else None
        if user is not None:
            _audit(user, AuditEvent.Action.DELETE, what, "")
    return deleted


def authenticate(key: str) -> tuple[ApiToken | None, token_rules.Ended | None]:
    """The live token for this key, or (None, why it ended; None if no such key). Records the
    use at most every LAST_USED_RESOLUTION, with one conditional UPDATE."""
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None:
        return None, None
    now = timezone.now()
    reason = why_ended(token, now=now)
    if reason is not None:
        return None, reason
    if token_rules.should_record_use(now=now, last_used_at=token.last_used_at):
        ApiToken.objects.filter(pk=token.pk, last_used_at__lt=now).update(last_used_at=now)
        token.last_used_at = now
    return token, None


def delete_ended(now: datetime | None = None) -> int:
    """Housekeeping: delete tokens past their expiry or idle limit. (A token ended by a password
    change is refused at once and listed nowhere; it goes when it expires.)"""
    now = now or timezone.now()
    staff_idle = now - timedelta(minutes=settings.SESSION_IDLE_MINUTES_STAFF)
    other_idle = now - timedelta(minutes=settings.SESSION_IDLE_MINUTES_OTHER)
    deleted, _ = ApiToken.objects.filter(
        Q(expires_at__lte=now)
        | Q(for_staff=True, last_used_at__lt=staff_idle)
        | Q(for_staff=False, last_used_at__lt=other_idle)
    ).delete()
    return deleted


# --- reads -------------------------------------------------------------------------------


def live_tokens(user: User, *, now: datetime | None = None) -> list[ApiToken]:
    """`user`'s tokens that still work, newest first."""
    now = now or timezone.now()
    tokens = list(ApiToken.objects.filter(user=user).order_by("-created_at", "-pk"))
    for token in tokens:
        token.user = user
    return [token for token in tokens if why_ended(token, now=now) is None]


# --- a change of role ends the person's tokens -------------------------------------------


@receiver(pre_save, sender=ClinicMembership, dispatch_uid="api_tokens_membership_before")
def _membership_before(sender, instance, raw=False, **kwargs):
    before = None
    if not raw and instance.pk is not None:
        before = ClinicMembership.objects.filter(pk=instance.pk).values_list("user_id", "clinic_id", "role").first()
    instance._role_before = before


@receiver(post_save, sender=ClinicMembership, dispatch_uid="api_tokens_membership_saved")
def _membership_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    before = getattr(instance, "_role_before", None)
    if created or before != (instance.user_id, instance.clinic_id, instance.role):
        end_all(instance.user_id)
        if before is not None and before[0] != instance.user_id:
            end_all(before[0])


@receiver(post_delete, sender=ClinicMembership, dispatch_uid="api_tokens_membership_deleted")
def _membership_deleted(sender, instance, **kwargs):
    end_all(instance.user_id)


ADMIN_FLAGS = ("is_staff", "is_superuser")


@receiver(pre_save, sender=User, dispatch_uid="api_tokens_user_before")
def _user_before(sender, instance, raw=False, update_fields=None, **kwargs):
    before = None
    if not raw and instance.pk is not None and (update_fields is None or set(ADMIN_FLAGS) & set(update_fields)):
        before = User.objects.filter(pk=instance.pk).values_list(*ADMIN_FLAGS).first()
    instance._admin_flags_before = before


@receiver(post_save, sender=User, dispatch_uid="api_tokens_user_saved")
def _user_saved(sender, instance, created, raw=False, **kwargs):
    before = getattr(instance, "_admin_flags_before", None)
    if not raw and before is not None and before != (instance.is_staff, instance.is_superuser):
        end_all(instance.pk)
