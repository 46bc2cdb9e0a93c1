"""What one row of the triage queue shows (the queue page, an item's page and the API), and a
row as console.snapshot keeps it. The items and their patients are read in console.selectors;
patients.queue gives the words for tiers, kinds, people and times of day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, TypeVar

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from patients import audit
from patients import queue as queue_services
from patients.models import AuditEvent, Patient, QueueItem
from refills import selectors as refill_selectors
from refills.domain import statuses as patient_statuses

# --- What one row shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    item: QueueItem
    age_seconds: int
    age: str
    tier_name: str
    kind_label: str
    statuses: list[dict]
    source_url: str
    source_label: str
    acknowledged: str
    resolved: str
    is_new: bool = False
    badge: str = ""  # the "New" mark, as HTML


def new_badge() -> str:
    return format_html('<strong class="level level-emergency">{}</strong> ', _("New"))


def is_new(item: QueueItem | KeptRow, new_since: datetime | None) -> bool:
    """An emergency nobody has picked up, opened after `new_since`."""
    return (
        new_since is not None
        and item.tier == QueueItem.Tier.EMERGENCY
        and item.resolved_at is None
        and item.acknowledged_at is None
        and item.opened_at > new_since
    )


def age_in_words(seconds: int) -> str:
    """ "less than a minute", "12 minutes", "3 hours 5 minutes", "2 days 4 hours"."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 1:
        return _("less than a minute")
    if hours < 1:
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    if days < 1:
        rest = minutes - hours * 60
        text = ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        return text + (" " + ngettext("%(n)d minute", "%(n)d minutes", rest) % {"n": rest} if rest else "")
    rest = hours - days * 24
    text = ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    return text + (" " + ngettext("%(n)d hour", "%(n)d hours", rest) % {"n": rest} if rest else "")


def statuses_of(patient: Patient, now: datetime) -> list[dict]:
    """The patient's statuses, most urgent first (a patient annotated by refills.selectors.annotate)."""
    found = []
    if not patient.is_active:
        found.append({"code": patient.status, "label": patient.get_status_display()})
    codes = patient_statuses.statuses(refill_selectors.facts_of(patient), now)
    found += [{"code": code, "label": patient_statuses.LABELS[code]} for code in codes]
    return found


def source_link(item: QueueItem) -> tuple[str, str]:
    """Where the item came from, as (url, words); ("", "") when there is nothing to open."""
    kind, ident = queue_services.source_parts(item.source)
    patient_id = item.patient_id
    if kind == "checkin" and ident is not None:
        return reverse("checkin-detail", args=[ident]), _("Open the check-in and its guidance")
    if kind == "event":
        return reverse("event-history", args=[patient_id]), _("Open the pump events")
    if kind in ("cycle", "delivery"):
        return reverse("reminder-plan", args=[patient_id]), _("Open the refill plan and reminders")
    return "", ""


def row_of(item: QueueItem, now: datetime, *, new_since: datetime | None = None) -> Row:
    zone = item.clinic.time_zone
    age = queue_services.age_seconds(item, now)
    url, label = source_link(item)
    acknowledged = resolved = ""
    if item.acknowledged_at and not item.resolved_at:
        acknowledged = _("%(who)s is on it since %(when)s") % {
            "who": queue_services.person(item.acknowledged_by),
            "when": queue_services.clock(item.acknowledged_at, zone, now),
        }
    if item.resolved_at:
        resolved = _("Resolved by %(who)s at %(when)s: %(outcome)s") % {
            "who": queue_services.person(item.resolved_by),
            "when": queue_services.clock(item.resolved_at, zone, now),
            "outcome": queue_services.outcome_label(item.outcome),
        }
    new = is_new(item, new_since)
    return Row(
        item=item,
        age_seconds=age,
        age=age_in_words(age),
        tier_name=queue_services.tier_name(item.tier),
        kind_label=queue_services.kind_label(item.kind),
        statuses=statuses_of(item.patient, now),
        source_url=url,
        source_label=label,
        acknowledged=acknowledged,
        resolved=resolved,
        is_new=new,
        badge=new_badge() if new else "",
    )


# --- Kept rows (console.snapshot) -----------------------------------------------------------------
# A row is kept as it renders, with marks where the request fills in the age, the "New" mark and
# the CSRF token. A mark is an HTML comment: what people type is escaped, so it cannot forge one.

AGE_MARK = mark_safe("<!--queue:age-->")
NEW_MARK = mark_safe("<!--queue:new-->")
CSRF_MARK = mark_safe("<!--queue:csrf-->")


C = TypeVar("C")  # what a kept row holds: its HTML (str) or its data (dict)


@dataclass(frozen=True)
class KeptRow(Generic[C]):
    """One row as kept: its HTML (the page) or its data (the API), and what the request needs."""

    content: C
    tier: int
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    patient_id: int
    clinic_id: int


def kept_row(item: QueueItem, content: C) -> KeptRow[C]:
    return KeptRow(
        content=content,
        tier=item.tier,
        opened_at=item.opened_at,
        acknowledged_at=item.acknowledged_at,
        resolved_at=item.resolved_at,
        patient_id=item.patient_id,
        clinic_id=item.clinic_id,
    )


def row_html(item: QueueItem, now: datetime) -> KeptRow[str]:
    row = replace(row_of(item, now), age=AGE_MARK, badge=NEW_MARK)
    html = render_to_string("console/queue_row.html", {"row": row, "back": "queue", "csrf_token": CSRF_MARK})
    return kept_row(item, html)


def filled(row: KeptRow[str], now: datetime, new_since: datetime, csrf_token: str) -> SafeString:
    age = age_in_words(queue_services.age_seconds(row, now))
    badge = new_badge() if is_new(row, new_since) else ""
    html = row.content.replace(AGE_MARK, escape(age)).replace(NEW_MARK, badge).replace(CSRF_MARK, escape(csrf_token))
    return mark_safe(html)  # noqa: S308 - our own rendered template, and every fill is escaped


def audit_list(request, rows: list[KeptRow]) -> None:
    """One audit row for the request, listing the patients shown (the user is staff: the queue
    shows nobody else anything)."""
    if rows:
        shown = {row.patient_id for row in rows}
        audit.record_ids(
            request.user, AuditEvent.Action.LIST, "queue", shown, clinic_id=rows[0].clinic_id, path=request.path
        )
