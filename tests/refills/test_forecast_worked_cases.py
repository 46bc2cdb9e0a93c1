"""Worked refill-forecast cases, each computed by hand from SPEC §3–§4 (not from the code).

Every expected instant is derived in the comments. Instants are UTC; "d" is an elapsed day of
24 hours (SPEC §4: the pump drains in elapsed time). No database is used.
"""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from refills.domain.forecast import (
    Bolus,
    DoseProgram,
    FlexStep,
    ForecastInputs,
    forecast,
    mg_to_mcg_per_ml,
    volume_at,
)
from tests.refills.helpers import utc

D = Decimal


# The reference cycle used by several cases: a SynchroMed II 20 mL refilled on Monday 2 Mar 2026 at
# 09:00 CST (15:00Z), 500 mcg/mL, simple continuous 250 mcg/day; patient in America/Chicago, clinic
# reminder hour 09:00. 250 mcg/day / 500 mcg/mL = 0.5 mL/day.
T0 = utc(2026, 3, 2, 15, 0)
SIMPLE_250 = DoseProgram(concentration_mcg_per_ml=D(500), daily_dose_mcg=D(250))


def make(**overrides) -> ForecastInputs:
    values = {
        "t0": T0,
        "v0_ml": D(20),
        "program": SIMPLE_250,
        "pump_utc_offset_minutes": -360,  # CST on 2 Mar 2026
        "alarm_volume_ml": D("2.0"),
        "last_fill_at": overrides.get("t0", T0),
        "max_days_in_pump": 180,
        "zone": "America/Chicago",
        "reminder_hour": 9,
        "now": overrides.get("t0", T0) + timedelta(days=10),
    }
    values.update(overrides)
    return ForecastInputs(**values)


def test_simple_continuous():
    f = forecast(make())
    # 250 mcg/day / 500 mcg/mL = 0.5 mL/day.
    assert f.daily_dose_mcg == D(250)
    assert f.daily_volume_ml == D("0.5")
    # (20 − 2) mL / 0.5 mL/day = 36 d → 2 Mar 15:00Z + 36 d = 7 Apr 15:00Z (Mar 2 + 29 d = Mar 31, + 7 d).
    assert f.low_reservoir_alarm_at == utc(2026, 4, 7, 15, 0)
    # 20 mL / 0.5 mL/day = 40 d → 11 Apr 15:00Z.
    assert f.empty_at == utc(2026, 4, 11, 15, 0)
    # Stability: 2 Mar + 180 d (Mar 31 +29, Apr 30 +59, May 31 +90, Jun 30 +120, Jul 31 +151, Aug 29 +180).
    assert f.stability_limit_at == utc(2026, 8, 29, 15, 0)
    assert f.printout_alarm_at is None
    assert f.alarm_reported_at is None
    assert f.refill_due_at == utc(2026, 4, 7, 15, 0)
    assert f.refill_due_reason == "low_reservoir_alarm"
    # Reminder: 7 Apr 15:00Z − 7×24 h = 31 Mar 15:00Z = 10:00 CDT (DST began 8 Mar). 09:00 CDT on 31 Mar
    # = 14:00Z ≤ that deadline, and it is the latest 09:00 that is → 31 Mar 14:00Z.
    assert f.reminder_at == utc(2026, 3, 31, 14, 0)
    # now = 12 Mar 15:00Z (10:00 CDT, local date 12 Mar); refill due 7 Apr 10:00 CDT → 7 Apr − 12 Mar = 26 days.
    assert f.days_until_refill_due == 26
    # Volume now: 20 − 10 d × 0.5 mL/day = 15.00 mL.
    assert f.volume_now_ml == D("15.00")


def test_simple_continuous_reminder_is_at_least_a_week_before_and_days_count_in_local_dates():
    # Alarm reported at exactly 7 Apr 14:00Z: the deadline 31 Mar 14:00Z is itself 09:00 CDT, and
    # "at least 7×24 h before" includes equality → the reminder is that instant.
    f = forecast(make(alarms_reported_at=(utc(2026, 4, 7, 14, 0),)))
    assert f.refill_due_at == utc(2026, 4, 7, 14, 0)
    assert f.reminder_at == utc(2026, 3, 31, 14, 0)
    # One second earlier: 31 Mar 13:59:59Z is 08:59:59 CDT, before that day's 09:00 → 30 Mar 09:00 CDT = 14:00Z.
    f = forecast(make(alarms_reported_at=(utc(2026, 4, 7, 13, 59, 59),)))
    assert f.reminder_at == utc(2026, 3, 30, 14, 0)
    # days_until_refill_due counts local dates: now = 13 Mar 04:30Z is 23:30 CDT on 12 Mar, so with the
    # alarm on 7 Apr (local) it is 7 Apr − 12 Mar = 26 days, not the UTC-date answer 25.
    f = forecast(make(now=utc(2026, 3, 13, 4, 30)))
    assert f.days_until_refill_due == 26
    # A reported alarm at 5 Apr 04:00Z is 4 Apr 23:00 CDT: local date 4 Apr → 4 Apr − 12 Mar = 23 days
    # (the UTC dates would give 24).
    f = forecast(make(now=utc(2026, 3, 12, 15, 0), alarms_reported_at=(utc(2026, 4, 5, 4, 0),)))
    assert f.refill_due_at == utc(2026, 4, 5, 4, 0)
    assert f.days_until_refill_due == 23


def test_volume_now_is_clamped_at_zero_and_days_may_be_negative():
    # now = 20 Apr 15:00Z, after the empty instant (11 Apr 15:00Z): 20 − 49 d × 0.5 = −4.5 → clamped to 0.
    f = forecast(make(now=utc(2026, 4, 20, 15, 0)))
    assert f.volume_now_ml == D(0)
    # 7 Apr (local) − 20 Apr (local: 10:00 CDT) = −13 days.
    assert f.days_until_refill_due == -13
    # volume_at itself is not clamped: exactly −4.5 mL.
    assert volume_at(make(), utc(2026, 4, 20, 15, 0)) == Fraction(-9, 2)


def test_flex_with_wrap_around_last_step_runs_until_first_start_of_next_day():
    # 1000 mcg/mL; steps 06:00 → 50 mcg/h and 22:00 → 25 mcg/h, no 00:00 step: the 22:00 step runs
    # until 06:00 the next day (8 h). Daily: 50 × 16 h + 25 × 8 h = 800 + 200 = 1000 mcg → 1.0 mL/day.
    # Per hour: day 0.05 mL/h, night 0.025 mL/h. Pump clock = UTC (Europe/London in January, offset 0).
    program = DoseProgram(
        concentration_mcg_per_ml=D(1000),
        flex_steps=(FlexStep(6 * 60, D(50)), FlexStep(22 * 60, D(25))),
    )
    t0 = utc(2026, 1, 10, 12, 0)  # pump 12:00, the 06:00 step is running
    inputs = make(
        t0=t0,
        v0_ml=D("18.6"),
        program=program,
        pump_utc_offset_minutes=0,
        zone="Europe/London",
        now=t0,
    )
    f = forecast(inputs)
    assert f.daily_dose_mcg == D(1000)
    assert f.daily_volume_ml == D(1)
    # Alarm: drain 18.6 − 2 = 16.6 mL. 16 whole days (16.0 mL) → 26 Jan 12:00Z, 0.6 mL left to drain:
    # 12:00→22:00 at 0.05 = 0.5 mL (0.1 left), then the night step (which must still run after 00:00)
    # 0.1 / 0.025 = 4 h → 27 Jan 02:00Z.
    assert f.low_reservoir_alarm_at == utc(2026, 1, 27, 2, 0)
    # Empty: 18.6 mL = 18 whole days (→ 28 Jan 12:00Z) + 0.6 mL → same shape → 29 Jan 02:00Z.
    assert f.empty_at == utc(2026, 1, 29, 2, 0)
    # Reminder: 27 Jan 02:00Z − 7 d = 20 Jan 02:00Z (GMT); 09:00 on 20 Jan is after it → 19 Jan 09:00Z.
    assert f.reminder_at == utc(2026, 1, 19, 9, 0)

    # A t0 inside the wrap-around window (pump 03:00, 22:00 step running since the previous evening):
    night = replace(inputs, t0=utc(2026, 1, 10, 3, 0), last_fill_at=utc(2026, 1, 10, 3, 0))
    # 3 h of night at 0.025 = 0.075 mL by 06:00; one more hour of day at 0.05 → 0.125 mL by 07:00.
    assert volume_at(night, utc(2026, 1, 10, 6, 0)) == Fraction("18.6") - Fraction("0.075")
    assert volume_at(night, utc(2026, 1, 10, 7, 0)) == Fraction("18.6") - Fraction("0.125")
    # Whole day later exactly 1.0 mL drained.
    assert volume_at(night, utc(2026, 1, 11, 3, 0)) == Fraction("17.6")
    # Between 00:00 and 06:00 the night rate still applies (no implicit 00:00 step): 0.025 mL/h.
    assert volume_at(night, utc(2026, 1, 11, 0, 0)) - volume_at(night, utc(2026, 1, 11, 1, 0)) == Fraction("0.025")


def test_flex_daily_dose_and_volume_are_exact():
    # 1000 mcg/mL; 08:00 → 40 mcg/h, 11:20 → 25 mcg/h, 13:40 → 25 mcg/h (pump clock).
    # 08:00→11:20 = 200 min × 40 = 8000 mcg·min/h; 11:20→13:40 = 140 min × 25 = 3500;
    # 13:40→08:00 (next day) = 1100 min × 25 = 27500. Total 39000 / 60 = 650 mcg/day exactly
    # → 650 / 1000 = 0.65 mL/day. The hand check a person does (SPEC §4: "so a person can check the
    # arithmetic") must give these figures, not 649.99… and 0.6499.
    program = DoseProgram(
        concentration_mcg_per_ml=D(1000),
        flex_steps=(FlexStep(8 * 60, D(40)), FlexStep(11 * 60 + 20, D(25)), FlexStep(13 * 60 + 40, D(25))),
    )
    f = forecast(make(program=program, pump_utc_offset_minutes=0))
    assert f.daily_dose_mcg == D(650)
    assert f.daily_volume_ml == D("0.65")


def test_periodic_bolus_not_at_t0_and_crossing_the_alarm():
    # 500 mcg/mL, simple 200 mcg/day (0.4 mL/day) + a periodic bolus of 50 mcg (0.1 mL) at 08:00 pump
    # clock. Refill 1 Jun 2026 13:00Z = 08:00 CDT; pump offset −300 → the pump reads 08:00 at t0: the bolus
    # at t0 is NOT delivered; the next ones are at 13:00Z on each following day.
    program = DoseProgram(
        concentration_mcg_per_ml=D(500),
        daily_dose_mcg=D(200),
        boluses=(Bolus(8 * 60, D(50)),),
    )
    t0 = utc(2026, 6, 1, 13, 0)
    inputs = make(t0=t0, v0_ml=D("19.95"), program=program, pump_utc_offset_minutes=-300, now=t0)
    f = forecast(inputs)
    # Daily: 200 + 50 = 250 mcg → 0.5 mL/day.
    assert f.daily_dose_mcg == D(250)
    assert f.daily_volume_ml == D("0.5")
    # No bolus at t0: the volume at t0 is V0; one second later only continuous drain.
    assert volume_at(inputs, t0) == Fraction("19.95")
    assert volume_at(inputs, t0 + timedelta(seconds=1)) == Fraction("19.95") - Fraction(4, 10) / 86400
    # At t0 + 1 d: 0.4 mL continuous + the bolus at that instant (0.1) → 19.45.
    assert volume_at(inputs, t0 + timedelta(days=1)) == Fraction("19.45")
    # Alarm: after k days (bolus of day k included) the volume is 19.95 − 0.5k; just before the bolus
    # it is 0.1 mL more. k = 36: before the bolus 2.05 mL (> 2, the continuous drain has not reached 2),
    # after it 1.95 mL (< 2): the bolus crosses the alarm volume → that instant, t0 + 36 d = 7 Jul 13:00Z.
    # (Had the t0 bolus been delivered, the continuous drain would cross 21 h earlier, at 10:00Z.)
    assert f.low_reservoir_alarm_at == utc(2026, 7, 7, 13, 0)
    # Empty: after the bolus of day 39 the volume is 19.95 − 19.5 = 0.45; day 40 drains 0.4 continuously
    # (0.05 left just before the bolus), then the 0.1 mL bolus crosses 0 → t0 + 40 d = 11 Jul 13:00Z.
    assert f.empty_at == utc(2026, 7, 11, 13, 0)
    # Stability: 1 Jun + 180 d (Jun 30 +29, Jul 31 +60, Aug 31 +91, Sep 30 +121, Oct 31 +152, Nov 28 +180).
    assert f.stability_limit_at == utc(2026, 11, 28, 13, 0)
    assert f.refill_due_reason == "low_reservoir_alarm"
    # Reminder: 7 Jul 13:00Z − 7 d = 30 Jun 13:00Z = 08:00 CDT → 09:00 CDT on 29 Jun = 14:00Z.
    assert f.reminder_at == utc(2026, 6, 29, 14, 0)


def test_ptm_worst_case_max_activations_spread_evenly():
    # 500 mcg/mL, simple 300 mcg/day + PTM 25 mcg × at most 4 per day = 100 mcg/day, spread evenly.
    # Total 400 mcg/day → 0.8 mL/day.
    program = DoseProgram(
        concentration_mcg_per_ml=D(500),
        daily_dose_mcg=D(300),
        ptm_dose_mcg=D(25),
        ptm_max_per_day=4,
    )
    t0 = utc(2026, 2, 2, 16, 0)
    inputs = make(t0=t0, program=program, now=t0)
    f = forecast(inputs)
    assert f.daily_dose_mcg == D(400)
    assert f.daily_volume_ml == D("0.8")
    # Spread evenly: after 6 h, 0.8 / 4 = 0.2 mL drained (no lumps).
    assert volume_at(inputs, t0 + timedelta(hours=6)) == Fraction("19.8")
    # (20 − 2) / 0.8 = 22.5 d = 22 d 12 h → 24 Feb 16:00Z + 12 h = 25 Feb 04:00Z.
    assert f.low_reservoir_alarm_at == utc(2026, 2, 25, 4, 0)
    # 20 / 0.8 = 25 d → 27 Feb 16:00Z.
    assert f.empty_at == utc(2026, 2, 27, 16, 0)


def test_prometra_threshold_three_millilitres():
    # Prometra II 20 mL, refill-date threshold 3.0 mL; 1000 mcg/mL, simple 500 mcg/day → 0.5 mL/day.
    program = DoseProgram(concentration_mcg_per_ml=D(1000), daily_dose_mcg=D(500))
    t0 = utc(2026, 5, 4, 14, 0)
    f = forecast(make(t0=t0, program=program, alarm_volume_ml=D("3.0"), pump_utc_offset_minutes=-300, now=t0))
    # (20 − 3) / 0.5 = 34 d → 4 May + 34 d (May 31 +27, Jun 7 +34) = 7 Jun 14:00Z.
    assert f.low_reservoir_alarm_at == utc(2026, 6, 7, 14, 0)
    # 20 / 0.5 = 40 d → 13 Jun 14:00Z.
    assert f.empty_at == utc(2026, 6, 13, 14, 0)
    assert f.refill_due_at == utc(2026, 6, 7, 14, 0)
    # Reminder: 31 May 14:00Z (09:00 CDT) exactly 7 d before → that instant.
    assert f.reminder_at == utc(2026, 5, 31, 14, 0)


def test_raised_alarm_volume_four_millilitres():
    # Same 0.5 mL/day cycle, alarm raised to 4.0 mL (withdrawal above 2 mL, clinical reference §3.5).
    f = forecast(make(alarm_volume_ml=D("4.0")))
    # (20 − 4) / 0.5 = 32 d → 2 Mar 15:00Z + 32 d = 3 Apr 15:00Z (4 days earlier than with 2.0 mL).
    assert f.low_reservoir_alarm_at == utc(2026, 4, 3, 15, 0)
    assert f.empty_at == utc(2026, 4, 11, 15, 0)  # unchanged: 40 d
    assert f.refill_due_at == utc(2026, 4, 3, 15, 0)
    # Reminder: 27 Mar 15:00Z = 10:00 CDT → 09:00 CDT 27 Mar = 14:00Z.
    assert f.reminder_at == utc(2026, 3, 27, 14, 0)


def test_v0_at_or_below_alarm_volume_alarms_at_t0():
    # "t0 if V0 is already at or below it".
    f = forecast(make(v0_ml=D("2.0")))
    assert f.low_reservoir_alarm_at == T0
    assert f.empty_at == T0 + timedelta(days=4)  # 2 / 0.5 = 4 d
    assert f.refill_due_at == T0
    assert f.refill_due_reason == "low_reservoir_alarm"


def test_stability_cap_wins():
    # 40 mL pump, 2000 mcg/mL, 100 mcg/day → 0.05 mL/day; (40 − 2) / 0.05 = 760 d to the alarm, far past
    # the 180-day limit.
    program = DoseProgram(concentration_mcg_per_ml=D(2000), daily_dose_mcg=D(100))
    t0 = utc(2026, 1, 5, 17, 0)
    f = forecast(make(t0=t0, v0_ml=D(40), program=program, now=t0))
    # Alarm: 5 Jan 2026 + 760 d: +365 → 5 Jan 2027, +730 → 5 Jan 2028 (2026, 2027 not leap), +30 → 4 Feb 2028.
    assert f.low_reservoir_alarm_at == utc(2028, 2, 4, 17, 0)
    # Stability: 5 Jan + 180 d (Jan 31 +26, Feb 28 +54, Mar 31 +85, Apr 30 +115, May 31 +146, Jun 30 +176,
    # Jul 4 +180) = 4 Jul 17:00Z.
    assert f.stability_limit_at == utc(2026, 7, 4, 17, 0)
    assert f.refill_due_at == utc(2026, 7, 4, 17, 0)
    assert f.refill_due_reason == "stability_limit"
    # Reminder: 27 Jun 17:00Z = 12:00 CDT → 09:00 CDT = 14:00Z on 27 Jun.
    assert f.reminder_at == utc(2026, 6, 27, 14, 0)
    # max days is configurable: 90 d → 5 Jan + 90 (Mar 31 +85, Apr 5 +90) = 5 Apr 17:00Z.
    f = forecast(make(t0=t0, v0_ml=D(40), program=program, now=t0, max_days_in_pump=90))
    assert f.refill_due_at == utc(2026, 4, 5, 17, 0)
    assert f.refill_due_reason == "stability_limit"


def test_mid_cycle_reprogram():
    # Refill 2 Mar 15:00Z (the reference 0.5 mL/day cycle, V0 20 mL, pump on CST −360).
    refill = make()
    # Reprogram 23 Mar 03:00Z = 22 Mar 22:00 CDT (the programmer now sets the pump clock to CDT, −300).
    t1 = utc(2026, 3, 23, 3, 0)
    # Elapsed 20 d 12 h = 20.5 d × 0.5 mL/day = 10.25 mL → 9.75 mL left.
    v1 = volume_at(refill, t1)
    assert v1 == Fraction("9.75")
    # New flex program (same 500 mcg/mL): 00:00 → 12.5 mcg/h, 08:00 → 30 mcg/h, 16:00 → 20 mcg/h.
    # Daily 12.5×8 + 30×8 + 20×8 = 100 + 240 + 160 = 500 mcg → 1.0 mL/day.
    # In mL/h: 00–08 0.025, 08–16 0.06, 16–24 0.04.
    program = DoseProgram(
        concentration_mcg_per_ml=D(500),
        flex_steps=(FlexStep(0, D("12.5")), FlexStep(8 * 60, D(30)), FlexStep(16 * 60, D(20))),
    )
    after = make(
        t0=t1,
        v0_ml=D("9.75"),
        program=program,
        pump_utc_offset_minutes=-300,
        last_fill_at=refill.t0,  # the stability limit still runs from the refill
        now=t1,
    )
    f = forecast(after)
    assert f.daily_dose_mcg == D(500)
    # Alarm: drain 9.75 − 2 = 7.75 mL. 7 whole days → 30 Mar 03:00Z (pump 22:00), 0.75 mL left:
    # 22:00→24:00 pump at 0.04 = 0.08 (0.67 left); 00:00→08:00 at 0.025 = 0.2 (0.47 left);
    # then 0.47 / 0.06 = 7 h 50 min after 08:00 pump → 15:50 pump = 20:50Z on 30 Mar.
    assert f.low_reservoir_alarm_at == utc(2026, 3, 30, 20, 50)
    # Empty: 9.75 mL = 9 whole days (→ 1 Apr 03:00Z) + 0.75 mL → 1 Apr 20:50Z.
    assert f.empty_at == utc(2026, 4, 1, 20, 50)
    # Stability unchanged from the refill: 29 Aug 15:00Z.
    assert f.stability_limit_at == utc(2026, 8, 29, 15, 0)
    assert f.refill_due_at == utc(2026, 3, 30, 20, 50)
    assert f.refill_due_reason == "low_reservoir_alarm"
    # Earlier than the pre-reprogram alarm (7 Apr 15:00Z).
    assert f.refill_due_at < forecast(refill).refill_due_at
    # Reminder: 23 Mar 20:50Z = 15:50 CDT → 09:00 CDT 23 Mar = 14:00Z.
    assert f.reminder_at == utc(2026, 3, 23, 14, 0)
    # Sanity of the new cycle at t1 + 1 h (pump 23:00): 0.04 mL drained.
    assert volume_at(after, t1 + timedelta(hours=1)) == Fraction("9.71")


def test_mg_per_ml_input_is_exact():
    # 2 mg/mL = 2000 mcg/mL exactly, as a Decimal (no float).
    c = mg_to_mcg_per_ml(D("2"))
    assert isinstance(c, Decimal)
    assert c == D(2000)
    assert mg_to_mcg_per_ml(D("0.05")) == D(50)
    assert mg_to_mcg_per_ml(D("0.5")) == D(500)
    # 1.1 × 1000 in binary float is 1100.0000000000002; with Decimal it is exactly 1100.
    assert mg_to_mcg_per_ml(D("1.1")) == D(1100)
    # Forecast at 2 mg/mL, 500 mcg/day → 0.25 mL/day; (20 − 2) / 0.25 = 72 d →
    # 2 Mar + 72 d (Mar 31 +29, Apr 30 +59, May 13 +72) = 13 May 15:00Z.
    program = DoseProgram(concentration_mcg_per_ml=c, daily_dose_mcg=D(500))
    f = forecast(make(program=program))
    assert f.daily_volume_ml == D("0.25")
    assert f.low_reservoir_alarm_at == utc(2026, 5, 13, 15, 0)
    # 20 / 0.25 = 80 d → 21 May 15:00Z.
    assert f.empty_at == utc(2026, 5, 21, 15, 0)


def test_partial_fill():
    # 12 mL in a 20 mL pump, 0.5 mL/day: (12 − 2) / 0.5 = 20 d → 22 Mar 15:00Z; 12 / 0.5 = 24 d → 26 Mar.
    f = forecast(make(v0_ml=D(12)))
    assert f.low_reservoir_alarm_at == utc(2026, 3, 22, 15, 0)
    assert f.empty_at == utc(2026, 3, 26, 15, 0)
    # now = 12 Mar 15:00Z: 12 − 10 × 0.5 = 7.00 mL.
    assert f.volume_now_ml == D("7.00")
    # Reminder: 15 Mar 15:00Z = 10:00 CDT → 09:00 CDT 15 Mar = 14:00Z.
    assert f.reminder_at == utc(2026, 3, 15, 14, 0)


def test_alarm_reported_before_the_predicted_alarm():
    # Predicted alarm 7 Apr 15:00Z; the patient reports a single-tone alarm on 30 Mar at 03:12:45Z.
    reported = utc(2026, 3, 30, 3, 12, 45)
    f = forecast(make(alarms_reported_at=(utc(2026, 4, 2, 12, 0), reported)))
    assert f.low_reservoir_alarm_at == utc(2026, 4, 7, 15, 0)  # the prediction itself is unchanged
    assert f.alarm_reported_at == reported  # the earliest report
    assert f.refill_due_at == reported
    assert f.refill_due_reason == "alarm_reported"
    # Reminder: 23 Mar 03:12:45Z = 22 Mar 22:12:45 CDT → 09:00 CDT on 22 Mar = 14:00Z.
    assert f.reminder_at == utc(2026, 3, 22, 14, 0)
    # now = 12 Mar (local) → 30 Mar 03:12Z is 29 Mar 22:12 CDT → 29 Mar − 12 Mar = 17 days.
    assert f.days_until_refill_due == 17


def test_printout_alarm_date_earlier_than_the_apps():
    # Printout says 5 Apr; the app says 7 Apr 15:00Z. Due at 00:00 local (CDT, −5) on 5 Apr = 05:00Z.
    f = forecast(make(printout_alarm_date=date(2026, 4, 5)))
    assert f.printout_alarm_at == utc(2026, 4, 5, 5, 0)
    assert f.refill_due_at == utc(2026, 4, 5, 5, 0)
    assert f.refill_due_reason == "printout_alarm"
    # Reminder: 29 Mar 05:00Z = 00:00 CDT 29 Mar → the latest 09:00 before it is 28 Mar 09:00 CDT = 14:00Z.
    assert f.reminder_at == utc(2026, 3, 28, 14, 0)
    # days: 5 Apr − 12 Mar = 24.
    assert f.days_until_refill_due == 24


def test_printout_alarm_date_later_than_the_apps_does_not_delay():
    # Printout 9 Apr: 00:00 CDT = 05:00Z on 9 Apr, after the app's 7 Apr 15:00Z → the app's alarm stands.
    f = forecast(make(printout_alarm_date=date(2026, 4, 9)))
    assert f.printout_alarm_at == utc(2026, 4, 9, 5, 0)
    assert f.refill_due_at == utc(2026, 4, 7, 15, 0)
    assert f.refill_due_reason == "low_reservoir_alarm"
