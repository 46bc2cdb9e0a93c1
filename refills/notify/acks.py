"""Acknowledgement tokens: signed, bound to (cycle, recipient), valid until refill_due_at + 7 days."""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.utils import timezone

from ..models import RefillCycle

SALT = "refills.ack"
VALID_AFTER_DUE = timedelta(days=7)


def make_token(cycle: RefillCycle, recipient_key: str) -> str:
    return signing.dumps({"c": cycle.pk, "r": recipient_key}, salt=SALT, compress=True)


def load(token: str, now=None) -> tuple[RefillCycle, str] | None:
    """(cycle, recipient key) for a valid token, else None (tampered, unknown or expired)."""
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    cycle = RefillCycle.objects.select_related("patient__clinic").filter(pk=payload.get("c")).first()
    if cycle is None or not isinstance(payload.get("r"), str) or cycle.refill_due_at is None:
        return None
    if (now or timezone.now()) > cycle.refill_due_at + VALID_AFTER_DUE:
        return None
    return cycle, payload["r"]
