"""When to tell the operations address that the scheduler (celery beat) has stopped: pure, no
Django. The workers ask `decide` every SCHEDULER_WATCH_INTERVAL_SECONDS and store what it returns
on the scheduler's heartbeat row (patients/scheduler_watch.py).

The alarm is open from the first notice until the recovery note. While it is open, a notice goes
out every `repeat_every`; the first check that finds a fresh tick closes it with one note. A
heartbeat row that was never written stays quiet (like a new healthchecks.io check, which waits
for its first ping): /healthz already answers 503 "no tick recorded yet" for a new installation,
and logs that at WARNING, not ERROR, while the scheduler is only `awaiting_first_tick`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

STALLED = "stalled"  # the first notice of an alarm
STILL_STALLED = "still_stalled"  # the repeat while it lasts
RECOVERED = "recovered"  # the scheduler ticks again: one note, and the alarm is closed


@dataclass(frozen=True)
class Decision:
    notice: str | None  # one of the three above, or None: nothing to send now
    stalled_since: datetime | None  # what to store: the last tick before the stall, while the alarm is open
    alarm_sent_at: datetime | None  # what to store: when the latest notice went out, while the alarm is open


def is_stale(*, now: datetime, last_tick_at: datetime, max_age: timedelta) -> bool:
    """The same rule as /healthz: a tick older than max_age is stale, one exactly max_age old is not."""
    return now - last_tick_at > max_age


def awaiting_first_tick(*, last_tick_at: datetime | None, up_for: timedelta, max_age: timedelta) -> bool:
    """No tick recorded yet, and the process asking started no longer than max_age ago: a scheduler
    started with it has had no time to tick (beat's first heartbeat comes a minute after it starts).
    Past that, a scheduler that never ticked is as late as a stalled one (the same bound as is_stale)."""
    return last_tick_at is None and up_for <= max_age


def decide(
    *,
    now: datetime,
    last_tick_at: datetime | None,
    stalled_since: datetime | None,
    alarm_sent_at: datetime | None,
    max_age: timedelta,
    repeat_every: timedelta,
) -> Decision:
    """What to send now, given the last tick and the stored alarm state (both None: no alarm open)."""
    unchanged = Decision(None, stalled_since, alarm_sent_at)
    if last_tick_at is None:
        return unchanged
    if is_stale(now=now, last_tick_at=last_tick_at, max_age=max_age):
        if alarm_sent_at is None:
            return Decision(STALLED, last_tick_at, now)
        if now - alarm_sent_at >= repeat_every:
            return Decision(STILL_STALLED, stalled_since or last_tick_at, now)
        return unchanged
    if alarm_sent_at is not None:
        return Decision(RECOVERED, None, None)
    return unchanged


def duration_in_words(delta: timedelta) -> str:
    """'7 minutes', '1 hour 5 minutes', '2 days 3 hours': whole minutes, the two largest units."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words[:2]) or "less than a minute"
