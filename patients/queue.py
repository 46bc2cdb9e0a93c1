"""The clinic triage queue (SPEC §7): which items a user may work, and the two things staff do
to one: acknowledge ("I'm on it") and resolve (an outcome and a note).

Both writes are conditional UPDATEs (`... WHERE resolved_at IS NULL`), so two staff pressing at
the same moment cannot both win: the second resolve finds no open row and is told who was first.
Items are opened elsewhere, through patients.services.open_queue_item; what each is about is a
`QueueKind` (defined with the model, patients/models.py, and read from here).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BigIntegerField, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit
from .access import staff_clinics
from .models import AuditEvent, QueueItem, QueueKind, User

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise, StrPromise

# Short tier names for lists; the tier is always shown in words, never by colour alone.
TIER_NAMES: dict[int, StrPromise] = {
    QueueItem.Tier.EMERGENCY: _("Emergency"),
    QueueItem.Tier.DEVICE: _("Pump or reservoir"),
    QueueItem.Tier.CALL_CLINIC: _("Call the clinic"),
    QueueItem.Tier.OVERDUE: _("Overdue refill"),
    QueueItem.Tier.DISCREPANCY: _("Refill discrepancy"),
    QueueItem.Tier.FOLLOW_UP: _("Follow-up"),
}

OUTCOMES = [
    ("spoke_to_patient", _("Spoke to the patient")),
    ("spoke_to_caregiver", _("Spoke to a caregiver")),
    ("sent_to_emergency", _("Sent to the emergency department")),
    ("refill_booked", _("Refill booked")),
    ("no_action_needed", _("No action needed")),
    ("other", _("Other")),
]
OUTCOME_LABELS = dict(OUTCOMES)
NOTE_MAX_LENGTH = 2000


class AlreadyResolved(Exception):
    """Someone resolved the item first; `item` is the row as it stands now."""

    def __init__(self, item: QueueItem):
        self.item = item
        super().__init__(resolved_message(item))


def tier_name(tier: int) -> str:
    return str(TIER_NAMES.get(tier, tier))


def kind_label(kind: str) -> str:
    if kind in QueueKind.values:
        return str(QueueKind(kind).label)
    return kind.replace("_", " ").capitalize()


def outcome_label(outcome: str) -> str:
    return str(OUTCOME_LABELS.get(outcome, outcome))


def source_parts(source: str) -> tuple[str, int | None]:
    """ "checkin:12" → ("checkin", 12); anything else → (source, None)."""
    kind, _sep, ident = source.partition(":")
    return (kind, int(ident)) if ident.isdigit() else (source, None)


def clock(at: datetime, zone: str, now: datetime | None = None) -> str:
    """ "14:05" on the clinic's clock, with the day when it is not today: "14:05 on 3 March"."""
    tz = ZoneInfo(zone)
    local, today = at.astimezone(tz), (now or timezone.now()).astimezone(tz).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    return f"{local:%H:%M} on {local.day} {local:%B}" + ("" if local.year == today.year else f" {local.year}")


def person(user: User | None) -> str:
    if user is None:
        return str(_("someone"))
    return user.full_name or user.email


def resolved_message(item: QueueItem) -> str:
    when = clock(item.resolved_at, item.clinic.time_zone) if item.resolved_at else ""
    return str(_("Already resolved by %(who)s at %(when)s.") % {"who": person(item.resolved_by), "when": when})


# --- Selectors ------------------------------------------------------------------------------------


def items_for(user) -> QuerySet[QueueItem]:
    """Every queue item of the clinics this user works for (staff and admins); none for others."""
    return QueueItem.objects.filter(clinic__in=staff_clinics(user)).select_related(
        "patient", "clinic", "acknowledged_by", "resolved_by"
    )


def open_items(user) -> QuerySet[QueueItem]:
    """Open items, most urgent tier first, oldest first within a tier."""
    return items_for(user).filter(resolved_at__isnull=True).order_by("tier", "opened_at", "pk")


def recently_resolved(user, *, limit: int = 10) -> QuerySet[QueueItem]:
    return items_for(user).filter(resolved_at__isnull=False).order_by("-resolved_at", "-pk")[:limit]


def get_item(user, item_id) -> QueueItem:
    """The item, if this user works for its clinic; else Http404, whatever the reason."""
    try:
        return items_for(user).get(pk=item_id)
    except (QueueItem.DoesNotExist, ValueError, TypeError):
        raise Http404("No such queue item.") from None


def age_seconds(item, now: datetime) -> int:
    """How long the item (or anything with its `opened_at` and `resolved_at`) has waited; for a
    resolved item, how long it was open."""
    return max(0, int(((item.resolved_at or now) - item.opened_at).total_seconds()))


# --- Services -------------------------------------------------------------------------------------


def acknowledge(*, by: User, item: QueueItem, now: datetime | None = None) -> tuple[QueueItem, bool]:
    """Say "I'm on it". Idempotent: the first person to acknowledge stays on it; acknowledging
    a resolved item changes nothing. Returns the item as it stands and whether this call changed it."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = QueueItem.objects.filter(pk=item.pk, acknowledged_at__isnull=True, resolved_at__isnull=True).update(
            acknowledged_by=by, acknowledged_at=now
        )
        if changed:
            audit.record(by, AuditEvent.Action.UPDATE, "queue_item_acknowledged", [item.patient])
    return _reload(item), bool(changed)


def clean_resolution(outcome, note) -> tuple[str, str]:
    """The outcome and note, or a ValidationError naming each bad field."""
    errors: dict[str, list[StrOrPromise]] = {}
    outcome = outcome.strip() if isinstance(outcome, str) else ""
    note = note.strip() if isinstance(note, str) else ""
    if not outcome:
        errors["outcome"] = [_("Choose what happened.")]
    elif outcome not in OUTCOME_LABELS:
        errors["outcome"] = [_("Choose one of the listed outcomes.")]
    if not note:
        errors["note"] = [_("Write a short note: what you did or decided.")]
    elif len(note) > NOTE_MAX_LENGTH:
        errors["note"] = [_("Keep the note under %(n)s characters.") % {"n": NOTE_MAX_LENGTH}]
    if errors:
        raise ValidationError(errors)
    return outcome, note


def resolve(*, by: User, item: QueueItem, outcome, note, now: datetime | None = None) -> QueueItem:
    """Close the item with an outcome and a note. Raises ValidationError on bad input and
    AlreadyResolved when someone else (or an earlier press) closed it first."""
    outcome, note = clean_resolution(outcome, note)
    now = now or timezone.now()
    with transaction.atomic():
        won = QueueItem.objects.filter(pk=item.pk, resolved_at__isnull=True).update(
            resolved_by=by,
            resolved_at=now,
            outcome=outcome,
            note=note,
            # Whoever resolves an item nobody acknowledged was, in effect, on it.
            acknowledged_by=Coalesce("acknowledged_by", Value(by.pk), output_field=BigIntegerField()),
            acknowledged_at=Coalesce("acknowledged_at", now),
        )
        if won:
            audit.record(by, AuditEvent.Action.UPDATE, "queue_item_resolved", [item.patient])
    current = _reload(item)
    if not won:
        raise AlreadyResolved(current)
    return current


def _reload(item: QueueItem) -> QueueItem:
    return QueueItem.objects.select_related("patient", "clinic", "acknowledged_by", "resolved_by").get(pk=item.pk)
