"""Instants on the patient's wall clock. Pure: no Django here, and no clock of its own (every
instant is passed in).

A zone is an IANA name ("America/Chicago") unless a parameter says otherwise. Local hours are
DST-correct: an hour the clocks skip (a spring-forward gap) becomes the first instant after
it, an hour that happens twice (clocks go back) the first of the two. Instants returned are in
UTC; the date of an instant is always its date on the wall clock of the zone given.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo


def truncate(at: datetime) -> datetime:
    """To the second: what is stored and shown (it only ever moves an instant earlier)."""
    return at.replace(microsecond=0)


def in_zone(at: datetime, zone: str) -> datetime:
    """The instant as the wall clock in `zone` shows it."""
    return at.astimezone(ZoneInfo(zone))


def local_day(at: datetime, zone: str) -> date:
    """The date of the instant on the wall clock in `zone`."""
    return in_zone(at, zone).date()


def local_date(at: datetime, zone: str) -> str:
    """The local date as ISO text ("2026-03-01"): the occasion of a daily message."""
    return local_day(at, zone).isoformat()


def days_between(at: datetime, now: datetime, zone: str) -> int:
    """The local date of `at` minus today's local date, in `zone` (may be negative)."""
    tz = ZoneInfo(zone)
    return (at.astimezone(tz).date() - now.astimezone(tz).date()).days


def utc_offset_minutes(zone: str, at: datetime) -> int:
    """The zone's offset from UTC at that instant, in minutes (-360 for CST)."""
    offset = at.astimezone(ZoneInfo(zone)).utcoffset()
    if offset is None:  # pragma: no cover - a ZoneInfo always gives one
        raise ValueError(f"{zone} has no UTC offset")
    return int(offset.total_seconds() // 60)


def isoformat_in(at: datetime, tz: tzinfo) -> str:
    """ISO 8601 with the offset of `tz` at that instant, to the second."""
    return truncate(at.astimezone(tz)).isoformat()


def at_local_hour(day_: date, hour: int, zone: ZoneInfo) -> datetime:
    """The instant the wall clock in `zone` shows `hour`:00 on `day_`; when that hour does not
    exist (a DST gap) or repeats, the first instant at or after it."""
    wall = datetime.combine(day_, time(hour))
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) == wall:
        return first.astimezone(ZoneInfo("UTC"))  # exists; fold=0 is the first of a repeat
    # In a gap: walk forward from the earliest reading to the first instant at or after it.
    instant = min(wall.replace(tzinfo=zone, fold=f).astimezone(ZoneInfo("UTC")) for f in (0, 1))
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant


def latest_at_hour_before(deadline: datetime, hour: int, zone_name: str) -> datetime:
    """The latest instant at `hour`:00 local time that is at or before `deadline`."""
    zone = ZoneInfo(zone_name)
    local_day_ = deadline.astimezone(zone).date()
    for back in range(3):
        candidate = at_local_hour(local_day_ - timedelta(days=back), hour, zone)
        if candidate <= deadline:
            return candidate
    raise AssertionError("no reminder hour within three days")  # pragma: no cover


def first_at_hour_after(after: datetime, hour: int, zone_name: str) -> datetime:
    """The first instant at `hour`:00 local time that is strictly after `after`: the reminder
    hour of the next day on the wall clock, whatever length (23, 24 or 25 hours) that day has.
    The counterpart of `latest_at_hour_before`: at that instant, it returns this one."""
    zone = ZoneInfo(zone_name)
    local_day_ = after.astimezone(zone).date()
    for ahead in range(3):
        candidate = at_local_hour(local_day_ + timedelta(days=ahead), hour, zone)
        if candidate > after:
            return candidate
    raise AssertionError("no reminder hour within three days")  # pragma: no cover


def start_of_local_day(day_: date, zone_name: str) -> datetime:
    """The first instant of that date on the wall clock in the zone."""
    return at_local_hour(day_, 0, ZoneInfo(zone_name))


def local_instant(day_: date, clock: time, zone: str) -> datetime | None:
    """The instant a wall clock in `zone` shows day + clock (to the minute); None when the
    clocks skip it. A time that happens twice (clocks go back) is the first of the two."""
    tz = ZoneInfo(zone)
    wall = datetime.combine(day_, clock).replace(second=0, microsecond=0)
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return instant if instant.astimezone(tz).replace(tzinfo=None) == wall else None
