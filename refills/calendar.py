"""Calendar events (.ics): one UID per refill cycle, SEQUENCE raised on every change, an alarm
the day before. Titles carry no names, doses or symptoms."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Alarm, Calendar, Event

from .models import RefillCycle

PRODID = "-//IBT Companion//Refills//EN"


def _event(cycle: RefillCycle) -> Event:
    event = Event()
    event.add("uid", f"refill-cycle-{cycle.pk}@ibt-companion")
    event.add("sequence", cycle.sequence)
    event.add("summary", "Pump refill due")
    start = cycle.appointment_at or cycle.refill_due_at
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=30))
    event.add("dtstamp", cycle.computed_at or start)
    event.add("description", "Your pump refill is due. Call your clinic if you have not booked it.")
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
    return _calendar([_event(c) for c in cycles if c.refill_due_at is not None])
