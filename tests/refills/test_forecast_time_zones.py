"""Forecasts across DST changes, zone changes and half-hour zones (SPEC §4), by hand.

Rules under test:
- the pump clock is UTC + the offset stored on the programming event; it does not follow DST or a
  later zone change, so a step at 08:00 pump time keeps firing at the same UTC instant;
- the drain is in elapsed time (a day is 24 h, also across DST);
- the reminder hour is on the wall clock of the patient's *current* zone; a missing or repeated hour
  means the first instant at or after it.
"""

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from refills.domain.clock import at_local_hour, latest_at_hour_before
from refills.domain.forecast import Bolus, DoseProgram, FlexStep, ForecastInputs, forecast, volume_at
from tests.refills.helpers import utc

D = Decimal
MINUTE = timedelta(minutes=1)


# A two-step flex program used throughout: 500 mcg/mL, 08:00 → 40 mcg/h, 20:00 → 10 mcg/h (pump clock).
# Daily 40 × 12 + 10 × 12 = 600 mcg → 1.2 mL/day; day step 0.08 mL/h, night step 0.02 mL/h.
# Per minute: day 0.08/60 = 1/750 mL, night 0.02/60 = 1/3000 mL.
FLEX = DoseProgram(
    concentration_mcg_per_ml=D(500),
    flex_steps=(FlexStep(8 * 60, D(40)), FlexStep(20 * 60, D(10))),
)
DAY_PER_MIN = Fraction(1, 750)
NIGHT_PER_MIN = Fraction(1, 3000)


def make(t0: datetime, offset: int, zone: str, **overrides) -> ForecastInputs:
    values = {
        "t0": t0,
        "v0_ml": D("20.9"),
        "program": FLEX,
        "pump_utc_offset_minutes": offset,
        "alarm_volume_ml": D(2),
        "last_fill_at": t0,
        "max_days_in_pump": 180,
        "zone": zone,
        "reminder_hour": 9,
        "now": t0,
    }
    values.update(overrides)
    return ForecastInputs(**values)


def drained_per_minute_after(inputs: ForecastInputs, at: datetime) -> Fraction:
    return volume_at(inputs, at) - volume_at(inputs, at + MINUTE)


# --- America/Chicago: 8 Mar 2026 (CST → CDT) and 1 Nov 2026 (CDT → CST) -------------------------


def test_chicago_spring_forward_pump_keeps_cst():
    # Programmed 1 Mar 2026 16:00Z = 10:00 CST, pump offset −360. The 08:00 step fires at 14:00Z and the
    # 20:00 step at 02:00Z every day, also after DST starts on 8 Mar (when 08:00 pump = 09:00 CDT).
    t0 = utc(2026, 3, 1, 16, 0)
    inputs = make(t0, -360, "America/Chicago")
    # On 10 Mar (CDT): 13:00Z–14:00Z is still night (wall-clock 08:00 CDT does not matter); day from 14:00Z.
    assert drained_per_minute_after(inputs, utc(2026, 3, 10, 13, 0)) == NIGHT_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 3, 10, 13, 59)) == NIGHT_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 3, 10, 14, 0)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 3, 11, 1, 59)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 3, 11, 2, 0)) == NIGHT_PER_MIN
    f = forecast(inputs)
    # Alarm: drain 20.9 − 2 = 18.9 = 15 × 1.2 + 0.9. 15 d → 16 Mar 16:00Z (pump 10:00, day step);
    # 10 h to the 20:00 step (02:00Z) at 0.08 = 0.8 mL; then 0.1 / 0.02 = 5 h → 17 Mar 07:00Z.
    # (A pump that followed DST would switch at 01:00Z and alarm at 10:00Z.)
    assert f.low_reservoir_alarm_at == utc(2026, 3, 17, 7, 0)
    # Empty: 20.9 = 17 × 1.2 + 0.5 → 18 Mar 16:00Z + 0.5 / 0.08 = 6 h 15 min → 18 Mar 22:15Z.
    assert f.empty_at == utc(2026, 3, 18, 22, 15)
    # Reminder: 17 Mar 07:00Z − 7 d = 10 Mar 07:00Z = 02:00 CDT 10 Mar → 09:00 CDT 9 Mar = 14:00Z.
    assert f.reminder_at == utc(2026, 3, 9, 14, 0)


def test_chicago_fall_back_pump_keeps_cdt():
    # Programmed 20 Oct 2026 15:00Z = 10:00 CDT, offset −300: the 08:00 step fires at 13:00Z, also after
    # 1 Nov (when 08:00 CST would be 14:00Z).
    t0 = utc(2026, 10, 20, 15, 0)
    inputs = make(t0, -300, "America/Chicago")
    assert drained_per_minute_after(inputs, utc(2026, 11, 3, 12, 59)) == NIGHT_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 11, 3, 13, 0)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 11, 4, 0, 59)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 11, 4, 1, 0)) == NIGHT_PER_MIN
    f = forecast(inputs)
    # 15 d → 4 Nov 15:00Z (pump 10:00); 10 h day (to 01:00Z) = 0.8; 0.1 / 0.02 = 5 h → 5 Nov 06:00Z.
    assert f.low_reservoir_alarm_at == utc(2026, 11, 5, 6, 0)
    # 17 d → 6 Nov 15:00Z; 0.5 / 0.08 = 6 h 15 min → 6 Nov 21:15Z.
    assert f.empty_at == utc(2026, 11, 6, 21, 15)
    # Reminder: 29 Oct 06:00Z = 01:00 CDT 29 Oct → 09:00 CDT 28 Oct = 14:00Z.
    assert f.reminder_at == utc(2026, 10, 28, 14, 0)


def test_elapsed_days_across_fall_back_and_reminder_in_cst():
    # Simple 250 mcg/day at 500 mcg/mL = 0.5 mL/day, refill 20 Oct 2026 15:00Z (10:00 CDT).
    program = DoseProgram(concentration_mcg_per_ml=D(500), daily_dose_mcg=D(250))
    t0 = utc(2026, 10, 20, 15, 0)
    f = forecast(make(t0, -300, "America/Chicago", v0_ml=D(20), program=program))
    # (20 − 2) / 0.5 = 36 elapsed days → 25 Nov 15:00Z (09:00 CST: the wall clock moved, the instant did not).
    assert f.low_reservoir_alarm_at == utc(2026, 11, 25, 15, 0)
    # Stability: 20 Oct + 180 × 24 h → 18 Apr 2027 15:00Z (Oct 31 +11, Nov 30 +41, Dec 31 +72, Jan 31 +103,
    # Feb 28 +131, Mar 31 +162, Apr 18 +180).
    assert f.stability_limit_at == utc(2027, 4, 18, 15, 0)
    # Reminder: 18 Nov 15:00Z = 09:00 CST exactly → 18 Nov 15:00Z (in CDT it would have been 14:00Z).
    assert f.reminder_at == utc(2026, 11, 18, 15, 0)


@pytest.mark.parametrize(
    ("reported", "reminder"),
    [
        # deadline 1 Nov 16:00Z = 10:00 CST → 09:00 CST on 1 Nov = 15:00Z
        (utc(2026, 11, 8, 16, 0), utc(2026, 11, 1, 15, 0)),
        # deadline 1 Nov 14:30Z = 08:30 CST (before that day's 09:00) → 31 Oct 09:00 CDT = 14:00Z
        (utc(2026, 11, 8, 14, 30), utc(2026, 10, 31, 14, 0)),
        # deadline 8 Mar 14:00Z = 09:00 CDT (first day of DST) → exactly that instant
        (utc(2026, 3, 15, 14, 0), utc(2026, 3, 8, 14, 0)),
        # deadline 7 Mar 14:30Z = 08:30 CST → 6 Mar 09:00 CST = 15:00Z
        (utc(2026, 3, 14, 14, 30), utc(2026, 3, 6, 15, 0)),
    ],
)
def test_reminder_hour_in_chicago_around_dst(reported, reminder):
    t0 = utc(2026, 2, 20, 15, 0)
    program = DoseProgram(concentration_mcg_per_ml=D(500), daily_dose_mcg=D(10))  # alarm far away
    if reported.month > 6:
        t0 = utc(2026, 10, 1, 15, 0)
    f = forecast(make(t0, -360, "America/Chicago", program=program, alarms_reported_at=(reported,)))
    assert f.refill_due_at == reported
    assert f.refill_due_reason == "alarm_reported"
    assert f.reminder_at == reminder


def test_zone_change_moves_the_reminder_but_not_the_alarm():
    # The Chicago spring case; the patient moves to Paris, the pump is not reprogrammed (still −360).
    t0 = utc(2026, 3, 1, 16, 0)
    chicago = forecast(make(t0, -360, "America/Chicago"))
    paris = forecast(make(t0, -360, "Europe/Paris"))
    assert paris.low_reservoir_alarm_at == chicago.low_reservoir_alarm_at == utc(2026, 3, 17, 7, 0)
    assert paris.empty_at == chicago.empty_at
    assert paris.refill_due_at == chicago.refill_due_at
    # Paris: 10 Mar 07:00Z = 08:00 CET; 09:00 CET 10 Mar = 08:00Z is after it → 9 Mar 09:00 CET = 08:00Z.
    assert chicago.reminder_at == utc(2026, 3, 9, 14, 0)
    assert paris.reminder_at == utc(2026, 3, 9, 8, 0)


def test_local_dates_follow_the_current_zone():
    # Due 17 Mar 07:00Z: in Chicago 17 Mar 02:00 CDT, in Honolulu (−10) 16 Mar 21:00.
    t0 = utc(2026, 3, 1, 16, 0)
    now = utc(2026, 3, 10, 8, 0)  # Chicago 10 Mar 03:00; Honolulu 9 Mar 22:00
    assert forecast(make(t0, -360, "America/Chicago", now=now)).days_until_refill_due == 7  # 17 − 10
    assert forecast(make(t0, -360, "Pacific/Honolulu", now=now)).days_until_refill_due == 7  # 16 − 9
    now = utc(2026, 3, 10, 12, 0)  # Chicago 10 Mar 07:00; Honolulu 10 Mar 02:00
    assert forecast(make(t0, -360, "Pacific/Honolulu", now=now)).days_until_refill_due == 6  # 16 − 10


# --- Europe/Paris: 29 Mar 2026 (CET → CEST) and 25 Oct 2026 (CEST → CET) -----------------------------


def test_paris_spring_bolus_keeps_cet():
    # 1000 mcg/mL, simple 240 mcg/day (0.24 mL/day = 0.01 mL/h) + bolus 60 mcg (0.06 mL) at 08:00 pump.
    # Programmed 20 Mar 09:00Z (10:00 CET), offset +60 → the bolus is at 07:00Z every day, also after
    # 29 Mar (09:00 CEST on the wall), first on 21 Mar 07:00Z, 22 h after t0.
    program = DoseProgram(
        concentration_mcg_per_ml=D(1000),
        daily_dose_mcg=D(240),
        boluses=(Bolus(8 * 60, D(60)),),
    )
    t0 = utc(2026, 3, 20, 9, 0)
    inputs = make(t0, 60, "Europe/Paris", v0_ml=D("10.05"), program=program)
    # After DST, the bolus is at 07:00Z (not 06:00Z): one minute around 06:00Z drains only 0.01/60.
    assert volume_at(inputs, utc(2026, 4, 2, 6, 0)) - volume_at(inputs, utc(2026, 4, 2, 6, 1)) == Fraction(1, 6000)
    drop = volume_at(inputs, utc(2026, 4, 2, 6, 59, 59)) - volume_at(inputs, utc(2026, 4, 2, 7, 0))
    assert drop == Fraction("0.06") + Fraction(1, 360000)  # the bolus + one second of 0.01 mL/h
    f = forecast(inputs)
    # Drained at h hours after t0 with n boluses so far: 0.01 h + 0.06 n; bolus n at h = 22 + 24 (n − 1).
    # Target 10.05 − 2 = 8.05. Just before bolus 27 (h = 646): 6.46 + 26 × 0.06 = 8.02 < 8.05; after it
    # 8.08 ≥ 8.05 → the bolus crosses: t0 + 646 h = t0 + 26 d 22 h = 16 Apr 07:00Z.
    # (A pump that followed CEST would bolus at 06:00Z: 6.45 + 1.56 = 8.01, then 8.07 → 06:00Z.)
    assert f.low_reservoir_alarm_at == utc(2026, 4, 16, 7, 0)
    # Empty (10.05): after bolus 33 (h = 790) 7.90 + 1.98 = 9.88; 0.17 / 0.01 = 17 h more → h = 807
    # = 33 d 15 h → 22 Apr 09:00Z + 15 h = 23 Apr 00:00Z.
    assert f.empty_at == utc(2026, 4, 23, 0, 0)
    # Reminder: 9 Apr 07:00Z = 09:00 CEST exactly → 9 Apr 07:00Z.
    assert f.reminder_at == utc(2026, 4, 9, 7, 0)


def test_paris_autumn_flex_keeps_cest():
    # Programmed 10 Oct 2026 08:00Z = 10:00 CEST, offset +120: 08:00 pump = 06:00Z, 20:00 pump = 18:00Z.
    t0 = utc(2026, 10, 10, 8, 0)
    inputs = make(t0, 120, "Europe/Paris")
    # After 25 Oct (CET), wall 08:00 = 07:00Z, but the pump still switches at 06:00Z.
    assert drained_per_minute_after(inputs, utc(2026, 10, 27, 5, 59)) == NIGHT_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 10, 27, 6, 0)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 10, 27, 17, 59)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 10, 27, 18, 0)) == NIGHT_PER_MIN
    f = forecast(inputs)
    # 15 d → 25 Oct 08:00Z (pump 10:00); 10 h day to 18:00Z = 0.8; 0.1 / 0.02 = 5 h → 25 Oct 23:00Z.
    assert f.low_reservoir_alarm_at == utc(2026, 10, 25, 23, 0)
    # 17 d → 27 Oct 08:00Z; 0.5 / 0.08 = 6 h 15 min → 27 Oct 14:15Z.
    assert f.empty_at == utc(2026, 10, 27, 14, 15)
    # Reminder: 18 Oct 23:00Z = 19 Oct 01:00 CEST → 09:00 CEST 18 Oct = 07:00Z.
    assert f.reminder_at == utc(2026, 10, 18, 7, 0)
    # Later reminder after the change: an alarm reported 5 Nov 12:00Z → deadline 29 Oct 12:00Z = 13:00 CET
    # → 09:00 CET 29 Oct = 08:00Z.
    f = forecast(replace(inputs, alarms_reported_at=(utc(2026, 11, 5, 12, 0),)))
    assert f.refill_due_at == utc(2026, 10, 25, 23, 0)  # the alarm is still earlier
    f = forecast(replace(inputs, v0_ml=D(40), alarms_reported_at=(utc(2026, 11, 5, 12, 0),)))
    assert f.refill_due_reason == "alarm_reported"
    assert f.reminder_at == utc(2026, 10, 29, 8, 0)


# --- Southern hemisphere: Australia/Sydney (5 Apr and 4 Oct 2026) --------------------------------


def test_sydney_autumn_dst_end_pump_keeps_aedt():
    # Programmed 25 Mar 2026 23:00Z = 26 Mar 10:00 AEDT (+11), offset +660: 08:00 pump = 21:00Z,
    # 20:00 pump = 09:00Z. After 5 Apr (AEST, +10), 08:00 pump is 07:00 on the wall.
    t0 = utc(2026, 3, 25, 23, 0)
    inputs = make(t0, 660, "Australia/Sydney")
    assert drained_per_minute_after(inputs, utc(2026, 4, 9, 20, 59)) == NIGHT_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 4, 9, 21, 0)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 4, 10, 8, 59)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 4, 10, 9, 0)) == NIGHT_PER_MIN
    f = forecast(inputs)
    # 15 d → 9 Apr 23:00Z (pump 10:00); 10 h to 09:00Z = 0.8; 5 h night → 10 Apr 14:00Z.
    assert f.low_reservoir_alarm_at == utc(2026, 4, 10, 14, 0)
    # 17 d → 11 Apr 23:00Z + 6 h 15 min → 12 Apr 05:15Z.
    assert f.empty_at == utc(2026, 4, 12, 5, 15)
    # Reminder: 3 Apr 14:00Z = 4 Apr 01:00 AEDT → 09:00 AEDT 3 Apr = 2 Apr 22:00Z.
    assert f.reminder_at == utc(2026, 4, 2, 22, 0)
    # After the change the reminder hour is 09:00 AEST = 23:00Z: alarm reported 20 Apr 00:00Z (10:00
    # AEST) → deadline 13 Apr 00:00Z = 10:00 AEST 13 Apr → 09:00 AEST 13 Apr = 12 Apr 23:00Z.
    f = forecast(replace(inputs, v0_ml=D(40), alarms_reported_at=(utc(2026, 4, 20, 0, 0),)))
    assert f.refill_due_reason == "alarm_reported"
    assert f.reminder_at == utc(2026, 4, 12, 23, 0)


def test_sydney_spring_dst_start_pump_keeps_aest():
    # Programmed 25 Sep 2026 00:00Z = 10:00 AEST, offset +600: 08:00 pump = 22:00Z. After 4 Oct (AEDT)
    # that is 09:00 on the wall.
    t0 = utc(2026, 9, 25, 0, 0)
    inputs = make(t0, 600, "Australia/Sydney")
    assert drained_per_minute_after(inputs, utc(2026, 10, 9, 21, 59)) == NIGHT_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 10, 9, 22, 0)) == DAY_PER_MIN
    f = forecast(inputs)
    # 15 d → 10 Oct 00:00Z (pump 10:00); 10 h to 10:00Z; 5 h → 10 Oct 15:00Z.
    assert f.low_reservoir_alarm_at == utc(2026, 10, 10, 15, 0)
    # Reminder: 3 Oct 15:00Z = 4 Oct 01:00 AEST (before the 02:00 jump) → 09:00 AEST 3 Oct = 2 Oct 23:00Z.
    assert f.reminder_at == utc(2026, 10, 2, 23, 0)


# --- Asia/Kolkata (+05:30) -------------------------------------------------------------------------


def test_kolkata_half_hour_offset():
    # Programmed 1 May 2026 04:30Z = 10:00 IST, offset +330: 08:00 pump = 02:30Z, 20:00 pump = 14:30Z.
    t0 = utc(2026, 5, 1, 4, 30)
    inputs = make(t0, 330, "Asia/Kolkata")
    assert drained_per_minute_after(inputs, utc(2026, 5, 3, 2, 29)) == NIGHT_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 5, 3, 2, 30)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 5, 3, 14, 29)) == DAY_PER_MIN
    assert drained_per_minute_after(inputs, utc(2026, 5, 3, 14, 30)) == NIGHT_PER_MIN
    f = forecast(inputs)
    # 15 d → 16 May 04:30Z (pump 10:00); 10 h day → 14:30Z; 5 h night → 16 May 19:30Z.
    assert f.low_reservoir_alarm_at == utc(2026, 5, 16, 19, 30)
    # 17 d → 18 May 04:30Z + 6 h 15 min → 18 May 10:45Z.
    assert f.empty_at == utc(2026, 5, 18, 10, 45)
    # Reminder: 9 May 19:30Z = 10 May 01:00 IST → 09:00 IST 9 May = 03:30Z.
    assert f.reminder_at == utc(2026, 5, 9, 3, 30)
    # days: due 17 May 01:00 IST; now 1 May 10:00 IST → 16.
    assert f.days_until_refill_due == 16


# --- Non-UTC aware inputs are instants too ---------------------------------------------------------


def test_instants_given_in_a_local_zone_mean_the_same_instants():
    # The interface takes aware datetimes. 20 Oct 2026 10:00 CDT and 15:00Z are the same instant, so
    # the forecast must be the same: 36 × 24 elapsed hours → 25 Nov 15:00Z (= 09:00 CST), and the
    # stability limit 180 × 24 h → 18 Apr 2027 15:00Z. Adding days on the local wall clock would give
    # 25 Nov 10:00 CST = 16:00Z: one hour late, past the real alarm.
    chicago = ZoneInfo("America/Chicago")
    program = DoseProgram(concentration_mcg_per_ml=D(500), daily_dose_mcg=D(250))
    local_t0 = datetime(2026, 10, 20, 10, 0, tzinfo=chicago)
    assert local_t0 == utc(2026, 10, 20, 15, 0)
    base = make(utc(2026, 10, 20, 15, 0), -300, "America/Chicago", v0_ml=D(20), program=program)
    local = replace(base, t0=local_t0, last_fill_at=local_t0, now=local_t0)
    expected = forecast(base)
    got = forecast(local)
    assert got.low_reservoir_alarm_at == expected.low_reservoir_alarm_at == utc(2026, 11, 25, 15, 0)
    assert got.empty_at == expected.empty_at
    assert got.stability_limit_at == expected.stability_limit_at == utc(2027, 4, 18, 15, 0)
    assert got.refill_due_at == expected.refill_due_at
    assert got.reminder_at == expected.reminder_at
    # volume_at: 36 elapsed days after t0 the volume is exactly 2 mL, whichever zone the instants use.
    at_local = datetime(2026, 11, 25, 9, 0, tzinfo=chicago)  # = 15:00Z
    assert volume_at(local, at_local) == volume_at(base, utc(2026, 11, 25, 15, 0)) == Fraction(2)


# --- The wall-clock helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "hour", "expected"),
    [
        # Ordinary hours.
        ("America/Chicago", date(2026, 3, 8), 9, utc(2026, 3, 8, 14, 0)),  # CDT
        ("America/Chicago", date(2026, 3, 7), 9, utc(2026, 3, 7, 15, 0)),  # CST
        ("Asia/Kolkata", date(2026, 5, 9), 9, utc(2026, 5, 9, 3, 30)),
        # Chicago 8 Mar: 02:00 does not exist (01:59 CST → 03:00 CDT) → 03:00 CDT = 08:00Z.
        ("America/Chicago", date(2026, 3, 8), 2, utc(2026, 3, 8, 8, 0)),
        # Chicago 1 Nov: 01:00 happens twice; the first is CDT (−5) → 06:00Z.
        ("America/Chicago", date(2026, 11, 1), 1, utc(2026, 11, 1, 6, 0)),
        # Paris 29 Mar: 02:00 missing → 03:00 CEST = 01:00Z; 25 Oct: first 02:00 is CEST → 00:00Z.
        ("Europe/Paris", date(2026, 3, 29), 2, utc(2026, 3, 29, 1, 0)),
        ("Europe/Paris", date(2026, 10, 25), 2, utc(2026, 10, 25, 0, 0)),
        # Havana 8 Mar: 00:00 → 01:00 (CST −5 → CDT −4): midnight missing → 01:00 CDT = 05:00Z.
        ("America/Havana", date(2026, 3, 8), 0, utc(2026, 3, 8, 5, 0)),
        # Havana 1 Nov: 01:00 CDT → 00:00 CST, so 00:00 repeats; the first is CDT (−4) → 04:00Z.
        ("America/Havana", date(2026, 11, 1), 0, utc(2026, 11, 1, 4, 0)),
        # Santiago 6 Sep: 00:00 → 01:00 (−4 → −3) → 01:00 −03 = 04:00Z.
        ("America/Santiago", date(2026, 9, 6), 0, utc(2026, 9, 6, 4, 0)),
        # Santiago 4–5 Apr: at 5 Apr 00:00 (−3) clocks go back to 4 Apr 23:00 (−4): 23:00 on 4 Apr repeats;
        # the first is −03 → 5 Apr 02:00Z.
        ("America/Santiago", date(2026, 4, 4), 23, utc(2026, 4, 5, 2, 0)),
        # Beirut 29 Mar: 00:00 → 01:00 (+2 → +3) → 01:00 +03 = 28 Mar 22:00Z.
        ("Asia/Beirut", date(2026, 3, 29), 0, utc(2026, 3, 28, 22, 0)),
        # Lord Howe 4 Oct: 02:00 → 02:30 (+10:30 → +11): 02:00 missing → 02:30 +11 = 3 Oct 15:30Z.
        ("Australia/Lord_Howe", date(2026, 10, 4), 2, utc(2026, 10, 3, 15, 30)),
        # Lord Howe 5 Apr: 02:00 (+11) → 01:30 (+10:30): 01:00 happens once (+11) → 4 Apr 14:00Z.
        ("Australia/Lord_Howe", date(2026, 4, 5), 1, utc(2026, 4, 4, 14, 0)),
    ],
)
def test_at_local_hour(zone, day, hour, expected):
    assert at_local_hour(day, hour, ZoneInfo(zone)) == expected


@pytest.mark.parametrize(
    ("deadline", "hour", "zone", "expected"),
    [
        # Deadline 8 Mar 07:59Z = 01:59 CST; hour 2 that day is 08:00Z (after) → 7 Mar 02:00 CST = 08:00Z.
        (utc(2026, 3, 8, 7, 59), 2, "America/Chicago", utc(2026, 3, 7, 8, 0)),
        # Deadline 8 Mar 08:00Z: hour 2 of 8 Mar (→ 08:00Z) is at or before it.
        (utc(2026, 3, 8, 8, 0), 2, "America/Chicago", utc(2026, 3, 8, 8, 0)),
        # Deadline during the second 01:xx on 1 Nov (07:30Z = 01:30 CST): the first 01:00 (06:00Z).
        (utc(2026, 11, 1, 7, 30), 1, "America/Chicago", utc(2026, 11, 1, 6, 0)),
        # Deadline at 05:59Z (00:59 CDT, before the first 01:00) → 31 Oct 01:00 CDT = 06:00Z.
        (utc(2026, 11, 1, 5, 59), 1, "America/Chicago", utc(2026, 10, 31, 6, 0)),
        # Kolkata: deadline 9 May 03:29:59Z → 8 May 09:00 IST = 03:30Z.
        (utc(2026, 5, 9, 3, 29, 59), 9, "Asia/Kolkata", utc(2026, 5, 8, 3, 30)),
    ],
)
def test_latest_at_hour_before(deadline, hour, zone, expected):
    assert latest_at_hour_before(deadline, hour, zone) == expected


def test_printout_date_at_midnight_in_a_dst_gap():
    # Santiago 6 Sep 2026 has no 00:00 (00:00 −04 → 01:00 −03): the printout date's start is the first
    # instant at or after it, 01:00 −03 = 04:00Z.
    program = DoseProgram(concentration_mcg_per_ml=D(500), daily_dose_mcg=D(250))
    t0 = utc(2026, 8, 20, 14, 0)
    f = forecast(make(t0, -240, "America/Santiago", v0_ml=D(20), program=program, printout_alarm_date=date(2026, 9, 6)))
    assert f.printout_alarm_at == utc(2026, 9, 6, 4, 0)
    assert f.refill_due_at == utc(2026, 9, 6, 4, 0)
    assert f.refill_due_reason == "printout_alarm"
    # Reminder: 30 Aug 04:00Z = 00:00 −04 → 09:00 −04 29 Aug = 13:00Z.
    assert f.reminder_at == utc(2026, 8, 29, 13, 0)
