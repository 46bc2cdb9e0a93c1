"""How refill dates, days and numbers are put in words, on pages and in messages. The one
`date_in_words`: pages say it in the reader's language ("jeudi 26 novembre"), messages and
what is stored for them always in English (translated=False)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone, translation
from django.utils.dateformat import format as format_date
from django.utils.translation import gettext as _

from patients import wording


def local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def date_in_words(
    at: datetime | date,
    zone: str,
    *,
    year: bool | None = None,
    now: datetime | None = None,
    translated: bool = True,
) -> str:
    """ "Thursday 26 November" on the patient's wall clock; the year is added when it is not
    this year (or always, with year=True; never, with year=False). translated=False says it in
    English whatever language is active (the words of a message)."""
    day = local(at, zone) if isinstance(at, datetime) else at
    if year is None:
        year = day.year != local(now or timezone.now(), zone).year
    pattern = "l j F Y" if year else "l j F"
    if translated:
        return format_date(day, pattern)
    with translation.override(None):  # Django's own English names, whatever the request's language
        return format_date(day, pattern)


def time_in_words(at: datetime, zone: str) -> str:
    return format_date(local(at, zone), "H:i")


def when_in_words(at: datetime, zone: str, *, year: bool | None = None) -> str:
    """ "Thursday 26 November at 10:30" (the patient's wall clock)."""
    return _("%(date)s at %(time)s") % {"date": date_in_words(at, zone, year=year), "time": time_in_words(at, zone)}


def number(value) -> str:
    """A decimal without trailing zeros: 20.00 → "20", 12.50 → "12.5"."""
    if value in (None, ""):
        return ""
    return f"{Decimal(str(value)).normalize():f}"


def days_left_in_words(days: int, who: wording.Reader) -> str:
    """ "in 3 days", "tomorrow", "today", or "2 days ago — call your clinic today" (said to `who`)."""
    return wording.days_left_words(days, who)


def reason_sentence(reason: str, who: wording.Reader, max_days: int | None = None) -> str:
    """Why the refill is due then, said to `who` (patients/wording.py)."""
    key = f"refill.reason.{reason}"
    if key not in wording.SENTENCES:
        return ""
    return wording.say(key, who, days=max_days or "—")
