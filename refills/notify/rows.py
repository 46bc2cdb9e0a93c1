"""Delivery rows: one row is one message to one person on one channel, named by its key.
Planning and the outbox make rows only through here, so a message planned twice is stored once."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from ..models import Delivery, RefillCycle

UNSENT = (Delivery.Status.PENDING, Delivery.Status.FAILED)
COVERED = "covered by an acknowledgement"


def row_key(cycle_or_scope, kind: str, occasion: str, recipient: str, channel: str) -> str:
    scope = f"c{cycle_or_scope.pk}" if isinstance(cycle_or_scope, RefillCycle) else cycle_or_scope
    return f"{scope}:{kind}:{occasion}:{recipient}:{channel}"


def build_rows(
    *,
    patient,
    cycle,
    kind,
    occasion,
    recipient,
    due_at,
    status=Delivery.Status.PENDING,
    payload=None,
    scope=None,
    only_keys: set[str] | None = None,
) -> list[Delivery]:
    """One unsaved row per channel of the recipient. With `only_keys`, a key not in it is
    stored as skipped (covered by an acknowledgement): planned, never sent."""
    rows = []
    for channel in recipient.channels:
        key = row_key(scope or cycle, kind, occasion, recipient.key, channel)
        covered = only_keys is not None and key not in only_keys
        rows.append(
            Delivery(
                key=key,
                patient=patient,
                cycle=cycle,
                kind=kind,
                occasion=occasion,
                recipient=recipient.key,
                recipient_user=recipient.user,
                channel=channel,
                due_at=due_at,
                next_attempt_at=due_at,
                status=Delivery.Status.SKIPPED if covered else status,
                last_error=COVERED if covered else "",
                payload=payload or {},
            )
        )
    return rows


def store_rows(rows: list[Delivery], *, new: bool = False) -> list[Delivery]:
    """Save the rows whose key is not stored yet, in one statement; return the ones saved. A
    key is one message to one person on one channel, so a row planned twice is kept once.
    `new`: the rows belong to a cycle inserted in this transaction, whose keys nobody else can
    have stored: nothing to look up."""
    stored = (
        set() if new else set(Delivery.objects.filter(key__in=[row.key for row in rows]).values_list("key", flat=True))
    )
    unsaved = []
    for row in rows:
        if row.key not in stored:
            stored.add(row.key)
            unsaved.append(row)
    if not unsaved:
        return []
    if new:
        return Delivery.objects.bulk_create(unsaved)
    try:
        with transaction.atomic():
            return Delivery.objects.bulk_create(unsaved)
    except IntegrityError:  # another transaction stored one of the keys meanwhile
        saved = []
        for row in unsaved:
            fields = {f.attname: getattr(row, f.attname) for f in Delivery._meta.concrete_fields if not f.primary_key}
            fields.pop("key")
            made, created = Delivery.objects.get_or_create(key=row.key, defaults=fields)
            if created:
                saved.append(made)
        return saved


def create_rows(**kwargs) -> list[Delivery]:
    """One row per channel of the recipient, unless it exists (see `_rows`)."""
    return store_rows(build_rows(**kwargs))
