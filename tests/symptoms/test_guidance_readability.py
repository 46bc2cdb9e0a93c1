"""Guidance pages: the required words, about a 6th-grade reading level, and which number to call."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import textstat

from symptoms.guidance import PAGES, clinic_phone_now, fill_page, page_text, staff_script, tel_href
from symptoms.triage import CheckIn, Context, triage

NUMBERS = {"emergency_number": "911", "phone": "+1 555 010 2000"}
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONTEXT = Context(
    volume_ml_at_observed=Decimal("3.0"),
    alarm_volume_ml=Decimal("2.0"),
    refill_due_at=T0 + timedelta(days=2),
    last_change_kind="refill",
    last_change_at=T0 - timedelta(hours=30),
    risk_markers=frozenset({"prior_withdrawal"}),
)

# A representative check-in per level, with several reasons each.
CASES = {
    "emergency": CheckIn(("seizure", "itching", "spasticity_increase", "racing_heart"), Decimal("38.9"), T0),
    "call_clinic": CheckIn(("pump_alarm_single", "constipation"), Decimal("38.1"), T0),
    "routine": CheckIn(("constipation", "dry_mouth", "trouble_sleeping"), None, T0),
}

# Words a page must use however long they are: masked before scoring.
MASKS = [
    ("intrathecal baclofen pump", "drug pump"),
    ("intrathecal", "pump"),
    ("baclofen", "drug"),
    ("programmer printout", "pump sheet"),
    ("programmer", "pump"),
    ("printout", "sheet"),
    ("emergency department", "ER"),
]
MAX_GRADE = 7


def masked(text: str) -> str:
    for word, plain in MASKS:
        text = re.sub(word, plain, text, flags=re.IGNORECASE)
    return text


QUIET = Context(  # nothing recent, refill weeks away: lets the routine case stay routine
    volume_ml_at_observed=Decimal("15.0"),
    alarm_volume_ml=Decimal("2.0"),
    refill_due_at=T0 + timedelta(days=30),
    last_change_kind="refill",
    last_change_at=T0 - timedelta(days=20),
    risk_markers=frozenset(),
)


def disposition_for(level, with_patient=True):
    context = (QUIET if level == "routine" else CONTEXT) if with_patient else None
    disposition = triage(CASES[level], context)
    assert disposition.level == level
    return disposition


@pytest.mark.parametrize("level", ["emergency", "call_clinic", "routine"])
@pytest.mark.parametrize(("clinic_told", "with_patient"), [(True, True), (False, False)])
def test_page_reads_at_grade_7_or_lower(level, clinic_told, with_patient):
    disposition = disposition_for(level, with_patient)
    text = page_text(
        level,
        disposition.reasons,
        NUMBERS,
        clinic_told=clinic_told,
        pump_data_checked=disposition.pump_data_checked,
    )
    grade = textstat.flesch_kincaid_grade(masked(text))
    assert grade <= MAX_GRADE, f"{level}: grade {grade}\n{text}"


@pytest.mark.parametrize("level", ["emergency", "call_clinic", "routine"])
def test_staff_script_reads_at_grade_7_or_lower(level):
    grade = textstat.flesch_kincaid_grade(masked(staff_script(level, NUMBERS)))
    assert grade <= MAX_GRADE


def test_emergency_page_leads_with_the_call_then_what_to_say_and_bring():
    disposition = disposition_for("emergency")
    text = page_text("emergency", disposition.reasons, NUMBERS)
    lines = text.splitlines()
    assert lines[0] == "Call 911 now"
    page = fill_page("emergency", NUMBERS)
    assert page.call_first and page.call_number == "911" and tel_href(page.call_number) == "tel:911"
    lower = text.lower()
    assert "say: “i have an intrathecal baclofen pump.”" in lower
    assert "bring your pump card and the latest programmer printout." in lower
    assert "your clinic has been told, but do not wait for them." in lower
    assert lower.index("call 911 now") < lower.index("say:") < lower.index("bring your pump card")
    for reason in disposition.reasons:
        assert f"- {reason.text}" in lines
    assert "You reported a danger sign: a seizure." in text


def test_emergency_page_without_a_saved_check_in_does_not_claim_the_clinic_knows():
    text = page_text("emergency", [], NUMBERS, clinic_told=False, pump_data_checked=False)
    assert "has been told, but" not in text
    assert "your clinic has not been told" in text
    assert "could not check your pump data" in text
    assert text.splitlines()[0] == "Call 911 now"


def test_staff_script_tells_the_caller_to_call_the_emergency_number():
    assert staff_script("emergency", NUMBERS).startswith("Tell the caller to call 911 now")
    assert staff_script("emergency", {**NUMBERS, "emergency_number": "112"}).startswith(
        "Tell the caller to call 112 now"
    )


def test_call_clinic_page_gives_the_number_and_the_30_minute_rule():
    disposition = disposition_for("call_clinic")
    text = page_text("call_clinic", disposition.reasons, NUMBERS)
    assert "Call +1 555 010 2000 now" in text
    assert "The app does not call you." in text
    assert (
        "If you cannot talk to them within 30 minutes, or anything gets worse, go to the emergency department." in text
    )
    assert "Call 911 now if you see a danger sign" in text
    assert tel_href(fill_page("call_clinic", NUMBERS).call_number) == "tel:+15550102000"
    public = page_text("call_clinic", disposition.reasons, NUMBERS, clinic_told=False)
    assert "can see this check-in" not in public


def test_routine_page_explains_and_says_keep_the_refill_and_when_to_call():
    disposition = disposition_for("routine")
    text = page_text("routine", disposition.reasons, NUMBERS)
    assert "common side effects" in text
    assert "Keep your next refill" in text
    assert "Call your clinic at +1 555 010 2000 if anything changes" in text
    assert "You reported common side effects: constipation, a dry mouth and trouble sleeping." in text


def test_every_placeholder_is_filled():
    for level in PAGES:
        text = page_text(level, [], NUMBERS, clinic_told=False, pump_data_checked=False)
        assert "{" not in text and "}" not in text
        assert "{" not in staff_script(level, NUMBERS)


# --- Which clinic number to call ---------------------------------------------------------------

HOURS = {day: [["08:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [["09:00", "12:00"]]}
DAY, NIGHT = "+1 555 010 2000", "+1 555 010 9999"
CHICAGO = ZoneInfo("America/Chicago")


def number_at(now, hours=HOURS, zone="America/Chicago"):
    return "day" if clinic_phone_now(hours, zone, now, DAY, NIGHT) == DAY else "night"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 3, 2, 8, 0), "day"),  # Monday, opening minute
        (datetime(2026, 3, 2, 7, 59), "night"),
        (datetime(2026, 3, 2, 16, 59), "day"),
        (datetime(2026, 3, 2, 17, 0), "night"),  # closing minute
        (datetime(2026, 3, 7, 11, 0), "day"),  # Saturday
        (datetime(2026, 3, 7, 13, 0), "night"),
        (datetime(2026, 3, 1, 10, 0), "night"),  # Sunday: closed
        (datetime(2026, 3, 2, 23, 30), "night"),  # Monday night, already Tuesday in UTC
    ],
)
def test_clinic_phone_by_the_clinics_hours(local, expected):
    assert number_at(local.replace(tzinfo=CHICAGO)) == expected
    assert number_at(local.replace(tzinfo=CHICAGO).astimezone(UTC)) == expected  # same instant, any zone


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Monday 9 March 2026, the day after clocks went forward: 13:00 UTC is 08:00 CDT (07:00 in CST).
        (datetime(2026, 3, 9, 13, 0, tzinfo=UTC), "day"),
        (datetime(2026, 3, 9, 12, 59, tzinfo=UTC), "night"),
        (datetime(2026, 3, 9, 22, 0, tzinfo=UTC), "night"),  # 17:00 CDT (16:00 in CST)
        # Monday 2 November 2026, the day after clocks went back: 14:00 UTC is 08:00 CST.
        (datetime(2026, 11, 2, 13, 59, tzinfo=UTC), "night"),
        (datetime(2026, 11, 2, 14, 0, tzinfo=UTC), "day"),
    ],
)
def test_clinic_phone_follows_daylight_saving(utc, expected):
    assert number_at(utc) == expected


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Sunday 8 March 2026, the DST day itself: 02:00 CST jumps to 03:00 CDT.
        (datetime(2026, 3, 8, 13, 30, tzinfo=UTC), "day"),  # 08:30 CDT
        (datetime(2026, 3, 8, 12, 30, tzinfo=UTC), "night"),  # 07:30 CDT
        (datetime(2026, 3, 8, 8, 30, tzinfo=UTC), "night"),  # 03:30 CDT, just after the jump
        # Sunday 1 November 2026: 02:00 CDT falls back to 01:00 CST.
        (datetime(2026, 11, 1, 14, 30, tzinfo=UTC), "day"),  # 08:30 CST
        (datetime(2026, 11, 1, 13, 30, tzinfo=UTC), "night"),  # 07:30 CST
    ],
)
def test_clinic_phone_on_a_dst_day(utc, expected):
    assert number_at(utc, hours={"sun": [["08:00", "12:00"]]}) == expected


def test_clinic_phone_uses_the_clinics_weekday_not_utcs():
    # Monday 09:00 in Auckland is still Sunday in UTC.
    now = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    assert now.astimezone(UTC).weekday() == 6
    assert number_at(now, zone="Pacific/Auckland") == "day"


def test_clinic_phone_with_a_lunch_break():
    hours = {"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}
    assert number_at(datetime(2026, 3, 2, 12, 30, tzinfo=CHICAGO), hours) == "night"
    assert number_at(datetime(2026, 3, 2, 13, 0, tzinfo=CHICAGO), hours) == "day"


def test_clinic_phone_when_in_doubt_gives_the_after_hours_line():
    monday_morning = datetime(2026, 3, 2, 10, 0, tzinfo=CHICAGO)
    assert number_at(monday_morning, zone="Mars/Olympus") == "night"
    assert number_at(monday_morning, hours={}) == "night"
    assert number_at(monday_morning, hours={"mon": [["08:00"]]}) == "night"
    assert clinic_phone_now(HOURS, "America/Chicago", monday_morning, DAY, "") == DAY
    assert clinic_phone_now(HOURS, "America/Chicago", datetime(2026, 3, 1, 10, 0, tzinfo=CHICAGO), "", NIGHT) == NIGHT
    with pytest.raises(ValueError):
        clinic_phone_now(HOURS, "America/Chicago", datetime(2026, 3, 2, 10, 0), DAY, NIGHT)
