"""The reminder plan of a refill cycle (SPEC §5). Pure: plain data in, plain data out.

Each step falls at the latest instant at the clinic's reminder hour, on the patient's wall
clock, that is at least N × 24 hours before refill_due_at. Steps already past when the plan is
made: only the latest is sent (at once); earlier ones are stored as skipped. Overdue messages
start when refill_due_at passes and repeat daily at the reminder hour; the empty-date message
goes at empty_at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from patients.rules import validate_reminder_steps

from .clock import at_local_hour, first_at_hour_after, latest_at_hour_before, local_date, local_day

DEFAULT_STEPS = (14, 7, 3, 1)
BOOKING_STEP = 14  # "book your refill": only when no appointment is booked
ACK_CANCELS = {3, 14}  # an acknowledgement cancels these unsent steps for everyone
DATE_CHANGE_THRESHOLD = timedelta(hours=12)

# When several messages of one cycle are due for one recipient (after downtime), only the most
# current goes out. Higher wins; ties go to the later instant.
PRIORITY = {"empty": 40, "overdue": 30, "date_changed": 20, "step": 10}


STEP_PREFIX = "step_"


def step_kind(days: int) -> str:
    """The kind of the reminder step `days` before the refill date: step_14, or a clinic's own step_5."""
    return f"{STEP_PREFIX}{days}"


def step_days(kind: str) -> int | None:
    """The days of a step kind (step_14 → 14); None for any other kind."""
    rest = kind.removeprefix(STEP_PREFIX)
    return int(rest) if rest != kind and rest.isdigit() else None


def is_step(kind: str) -> bool:
    return kind.startswith(STEP_PREFIX)


def priority(kind: str) -> int:
    return PRIORITY.get("step" if is_step(kind) else kind, 0)


def validate_steps(days: object) -> tuple[int, ...]:
    """The clinic's steps, checked (the rule lives with the clinic: patients/rules.py)."""
    return validate_reminder_steps(days)


@dataclass(frozen=True)
class CycleFacts:
    refill_due_at: datetime
    empty_at: datetime | None
    appointment_booked: bool
    reminder_hour: int
    zone: str  # the patient's current zone
    steps: tuple[int, ...] = DEFAULT_STEPS


@dataclass(frozen=True)
class Planned:
    kind: str  # step_14 | step_7 | step_3 | step_1 | overdue | empty
    occasion: str  # "" or, for the daily overdue message, the local date
    due_at: datetime
    skipped: bool = False


def step_at(facts: CycleFacts, days: int) -> datetime:
    return latest_at_hour_before(facts.refill_due_at - timedelta(days=days), facts.reminder_hour, facts.zone)


def first_step_at(facts: CycleFacts) -> datetime:
    """The instant of the cycle's first reminder step, whoever (if anyone) will get it: from then
    on the refill is "due soon" (SPEC §7)."""
    return min(step.due_at for step in plan(facts, facts.refill_due_at) if is_step(step.kind))


def plan(facts: CycleFacts, now: datetime) -> list[Planned]:
    """The messages of one cycle up to and including the first overdue one and the empty one."""
    steps = [
        Planned(step_kind(days), "", step_at(facts, days))
        for days in facts.steps
        if not (days == BOOKING_STEP and facts.appointment_booked)
    ]
    past = [s for s in steps if s.due_at <= now]
    if past:
        latest = max(past, key=lambda s: s.due_at)
        steps = [
            s if s.due_at > now or s is latest else Planned(s.kind, s.occasion, s.due_at, skipped=True) for s in steps
        ]
    planned = [*steps, Planned("overdue", local_date(facts.refill_due_at, facts.zone), facts.refill_due_at)]
    if facts.empty_at is not None:
        planned.append(Planned("empty", "", facts.empty_at))
    return planned


def covered_by_acknowledgement(planned: Planned, acknowledged_until: datetime | None) -> bool:
    """An acknowledgement covers every step that was due when it was given: whoever gets that
    step later (a new channel, a new caregiver) would be told again what someone already
    answered for. Steps due after it, the overdue messages and the empty-date one still go."""
    return (
        acknowledged_until is not None
        and is_step(planned.kind)
        and not planned.skipped
        and planned.due_at <= acknowledged_until
    )


def next_overdue(facts: CycleFacts, after: datetime) -> Planned:
    """The daily overdue repeat: the first reminder-hour instant after `after` (local clock)."""
    at = first_at_hour_after(after, facts.reminder_hour, facts.zone)
    return Planned("overdue", local_date(at, facts.zone), at)


def date_moved_earlier(old_due: datetime | None, new_due: datetime) -> bool:
    return old_due is not None and old_due - new_due >= DATE_CHANGE_THRESHOLD


def end_of_service_notices(end_of_service_at: datetime, reminder_hour: int, zone: str) -> list[Planned]:
    """90 and 30 days before, counted in days on the patient's calendar, at the reminder hour
    (not 90 × 24 hours, which a change of clock in between would move by an hour)."""
    tz = ZoneInfo(zone)
    day = local_day(end_of_service_at, zone)
    return [Planned(f"eos_{n}", "", at_local_hour(day - timedelta(days=n), reminder_hour, tz)) for n in (90, 30)]


def collapse(due: list[tuple[object, str, datetime]]) -> tuple[object | None, list[object]]:
    """Of several due messages for one recipient and cycle, (the one to send, the ones to skip).
    Items are (key, kind, due_at)."""
    if not due:
        return None, []
    keep = max(due, key=lambda item: (priority(item[1]), item[2]))
    return keep[0], [item[0] for item in due if item is not keep]
