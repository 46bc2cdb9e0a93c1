"""When an API token ends (SPEC §10). Pure: plain values in, a reason out.

Staff tokens last at most 12 hours, everyone else's 30 days; like a session, a token also lapses
when it has not been used for the owner's idle limit, and it ends when the password changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

LIFETIME_STAFF = timedelta(hours=12)
LIFETIME_OTHER = timedelta(days=30)
# last_used_at is written at most this often, so a busy app costs one write a minute, not one
# per request. Idle limits are minutes long, so this much slack does not matter.
LAST_USED_RESOLUTION = timedelta(seconds=30)


class Ended(StrEnum):
    EXPIRED = "expired"
    IDLE = "idle"
    PASSWORD = "password"


def lifetime(for_staff: bool) -> timedelta:
    return LIFETIME_STAFF if for_staff else LIFETIME_OTHER


def ended(
    *,
    now: datetime,
    expires_at: datetime,
    last_used_at: datetime,
    idle_limit: timedelta,
    fingerprint_matches: bool,
) -> Ended | None:
    """Why the token no longer works, or None while it does."""
    if not fingerprint_matches:
        return Ended.PASSWORD
    if now >= expires_at:
        return Ended.EXPIRED
    if now - last_used_at > idle_limit:
        return Ended.IDLE
    return None


def should_record_use(*, now: datetime, last_used_at: datetime) -> bool:
    return now - last_used_at >= LAST_USED_RESOLUTION
