"""Calendar events (.ics): one UID per refill cycle, SEQUENCE raised on every change, an alarm
the day before. Titles carry no names, doses or symptoms. Once a refill closes a cycle, its
event becomes that refill (same UID, higher SEQUENCE), so past refills stay in the calendar."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Alarm, Calendar, Event

from ..models import RefillCycle

PRODID = "-//IBT Companion//Refills//EN"


def _base(cycle: RefillCycle, summary: str, start, description: str) -> Event:
    event = Event()
    event.add("uid", f"refill-cycle-{cycle.pk}@ibt-companion")
    event.add("sequence", cycle.sequence)
    event.add("summary", summary)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=30))
    event.add("dtstamp", cycle.computed_at or start)
    event.add("description", description)
    return event


def _refilled(cycle: RefillCycle) -> Event:
    return _base(cycle, "Pump refilled", cycle.ended_at, "Your pump was refilled.")


def _event(cycle: RefillCycle) -> Event:
    start = cycle.appointment_at or cycle.refill_due_at
    event = _base(
        cycle, "Pump refill due", start, "Your pump refill is due. Call your clinic if you have not booked it."
    )
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", "Pump refill due tomorrow")
    alarm.add("trigger", timedelta(days=-1))
    event.add_component(alarm)
    return event


def _calendar(events) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    for event in events:
        cal.add_component(event)
    return cal.to_ical()


def cycle_ics(cycle: RefillCycle) -> bytes:
    return _calendar([_event(cycle)])


def feed_ics(cycles) -> bytes:
    """The open cycle's due date, and each closed cycle as the refill that closed it (a cycle
    closed by an explant has no event)."""
    cycles = list(cycles)
    fills = {c.started_at for c in cycles}
    events = []
    for cycle in cycles:
        if cycle.ended_at is None and cycle.refill_due_at is not None:
            events.append(_event(cycle))
        elif cycle.ended_at is not None and cycle.ended_at in fills:
            events.append(_refilled(cycle))
    return _calendar(events)
