"""A patient's statuses in the clinic console (SPEC §7), pure. Several may hold; lists sort by
the most urgent. refills.selectors.annotate adds the facts to a patient queryset in the same
query, and refills.selectors.facts_of reads them back into `Facts`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

ORDER = ("empty", "overdue", "due_soon", "discrepancy", "end_of_service_near", "ok")
LABELS = {
    "empty": "Predicted empty",
    "overdue": "Refill overdue",
    "due_soon": "Refill due soon",
    "discrepancy": "Refill discrepancy",
    "end_of_service_near": "End of service near",
    "ok": "OK",
}
END_OF_SERVICE_WARNING = timedelta(days=90)


@dataclass(frozen=True)
class Facts:
    refill_due_at: datetime | None
    empty_at: datetime | None
    first_step_at: datetime | None
    discrepancy_open: bool
    end_of_service_on: date | None


def statuses(facts: Facts, now: datetime) -> list[str]:
    found: list[str] = []
    if facts.empty_at is not None and now >= facts.empty_at:
        found.append("empty")
    if facts.refill_due_at is not None and now >= facts.refill_due_at:
        found.append("overdue")
    elif facts.refill_due_at is not None and facts.first_step_at is not None and now >= facts.first_step_at:
        found.append("due_soon")
    if facts.discrepancy_open:
        found.append("discrepancy")
    if facts.end_of_service_on is not None and now.date() >= facts.end_of_service_on - END_OF_SERVICE_WARNING:
        found.append("end_of_service_near")
    return found or ["ok"]


def rank(found: list[str]) -> int:
    return min(ORDER.index(s) for s in found)
