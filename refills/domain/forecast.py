"""The refill forecast (SPEC §4): one pure function over plain data. No Django here.

The pump drains in elapsed time. Its own clock, which places flex steps and periodic boluses,
is UTC shifted by the offset stored on the latest programming event: the pump does not follow
DST or a later zone change until it is reprogrammed. So the drain repeats exactly every 24
elapsed hours from t0, and the forecast integrates one such day exactly (piecewise: constant
rates between step starts, boluses as drops at their instants) and skips whole days.

Arithmetic is exact (fractions of mL); instants are truncated to the second, which only ever
moves a predicted date earlier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from .clock import days_between, latest_at_hour_before, start_of_local_day, truncate

DAY = 86_400  # seconds
HORIZON_DAYS = 36_525  # a crossing more than a century away is "never" (and past datetime's range)
MG_PER_ML_TO_MCG_PER_ML = Decimal(1000)


def mg_to_mcg_per_ml(mg_per_ml: Decimal) -> Decimal:
    """Exact: 2 mg/mL is 2000 mcg/mL."""
    return Decimal(mg_per_ml) * MG_PER_ML_TO_MCG_PER_ML


@dataclass(frozen=True)
class FlexStep:
    start_minute: int  # on the pump clock, 0..1439
    rate_mcg_per_hour: Decimal


@dataclass(frozen=True)
class Bolus:
    minute: int  # on the pump clock, 0..1439
    dose_mcg: Decimal


@dataclass(frozen=True)
class DoseProgram:
    concentration_mcg_per_ml: Decimal
    daily_dose_mcg: Decimal | None = None  # simple continuous
    flex_steps: tuple[FlexStep, ...] = ()  # flex (when given, daily_dose_mcg is None)
    boluses: tuple[Bolus, ...] = ()  # periodic, each day at that pump-clock minute
    ptm_dose_mcg: Decimal = Decimal(0)  # patient-activated bolus, worst case spread evenly
    ptm_max_per_day: int = 0

    @property
    def mode(self) -> str:
        return "flex" if self.flex_steps else "simple"

    @property
    def continuous_mcg_per_day(self) -> Decimal:
        if not self.flex_steps:
            return Decimal(self.daily_dose_mcg or 0)
        steps = sorted(self.flex_steps, key=lambda s: s.start_minute)
        mcg_minutes_per_hour = Decimal(0)  # Σ rate × minutes, exact; divided by 60 once
        for i, step in enumerate(steps):
            end = steps[i + 1].start_minute if i + 1 < len(steps) else steps[0].start_minute + 1440
            mcg_minutes_per_hour += step.rate_mcg_per_hour * (end - step.start_minute)
        return mcg_minutes_per_hour / 60

    @property
    def bolus_mcg_per_day(self) -> Decimal:
        return sum((b.dose_mcg for b in self.boluses), Decimal(0))

    @property
    def ptm_mcg_per_day(self) -> Decimal:
        return self.ptm_dose_mcg * self.ptm_max_per_day

    @property
    def daily_dose_mcg_total(self) -> Decimal:
        """Everything the pump may deliver in a day, PTM at its maximum."""
        return self.continuous_mcg_per_day + self.bolus_mcg_per_day + self.ptm_mcg_per_day


@dataclass(frozen=True)
class ForecastInputs:
    t0: datetime  # instant of the latest refill, reprogram or pump replacement (aware)
    v0_ml: Decimal  # reservoir volume at t0
    program: DoseProgram
    pump_utc_offset_minutes: int  # the offset stored on that event: the pump's clock
    alarm_volume_ml: Decimal
    last_fill_at: datetime  # the last refill (or pump replacement, which fills a new pump)
    max_days_in_pump: int
    zone: str  # the patient's current IANA zone
    reminder_hour: int  # the clinic's, 7..20, on the patient's wall clock
    now: datetime
    printout_alarm_date: date | None = None  # the programmer printout's low-reservoir alarm date
    alarms_reported_at: tuple[datetime, ...] = ()  # alarm reports since t0


@dataclass(frozen=True)
class Forecast:
    inputs: ForecastInputs
    daily_dose_mcg: Decimal
    daily_volume_ml: Decimal
    volume_now_ml: Decimal
    low_reservoir_alarm_at: datetime | None  # None: the program delivers nothing
    empty_at: datetime | None
    stability_limit_at: datetime
    printout_alarm_at: datetime | None
    alarm_reported_at: datetime | None
    refill_due_at: datetime
    refill_due_reason: str  # "low_reservoir_alarm" | "stability_limit" | "printout_alarm" | "alarm_reported"
    reminder_at: datetime
    days_until_refill_due: int
    notes: tuple[str, ...] = field(default=())


# --- The drain over one pump day ----------------------------------------------------------


@dataclass(frozen=True)
class _Day:
    """What drains in the elapsed window (t0 + k·24h, t0 + (k+1)·24h], the same for every k.

    pieces: (start, end, mL per second) over [0, DAY) in elapsed seconds from the window start;
    drops: (second, mL) with 0 < second <= DAY (a bolus exactly at t0 is not delivered).
    """

    pieces: tuple[tuple[int, int, Fraction], ...]
    drops: tuple[tuple[int, Fraction], ...]
    total_ml: Fraction


def _day(inputs: ForecastInputs) -> _Day:
    program = inputs.program
    concentration = Fraction(program.concentration_mcg_per_ml)
    t0_seconds = int(inputs.t0.timestamp())
    # Seconds past midnight on the pump clock at t0.
    clock0 = (t0_seconds + inputs.pump_utc_offset_minutes * 60) % DAY

    def elapsed(pump_minute: int) -> int:
        """Seconds after t0 (0..DAY-1) when the pump clock next shows this minute."""
        return (pump_minute * 60 - clock0) % DAY

    ptm = Fraction(program.ptm_mcg_per_day) / DAY / concentration
    if program.flex_steps:
        steps = sorted(program.flex_steps, key=lambda s: s.start_minute)
        # The step running at t0 is the last one whose start is at or before the pump clock.
        starts = sorted((elapsed(s.start_minute), Fraction(s.rate_mcg_per_hour) / 3600 / concentration) for s in steps)
        if starts[0][0] != 0:
            current = max(steps, key=lambda s: (s.start_minute * 60 <= clock0, s.start_minute))
            starts.insert(0, (0, Fraction(current.rate_mcg_per_hour) / 3600 / concentration))
    else:
        starts = [(0, Fraction(program.daily_dose_mcg or 0) / DAY / concentration)]
    pieces = tuple(
        (start, starts[i + 1][0] if i + 1 < len(starts) else DAY, rate + ptm) for i, (start, rate) in enumerate(starts)
    )
    drops = tuple(sorted((elapsed(b.minute) or DAY, Fraction(b.dose_mcg) / concentration) for b in program.boluses))
    total = sum(((end - start) * rate for start, end, rate in pieces), Fraction(0)) + sum(
        (ml for _, ml in drops), Fraction(0)
    )
    return _Day(pieces=pieces, drops=drops, total_ml=total)


def _drained_within(day: _Day, seconds: Fraction) -> Fraction:
    """mL drained in the first `seconds` (0..DAY) of a window, boluses at or before it included."""
    drained = Fraction(0)
    for start, end, rate in day.pieces:
        if seconds <= start:
            break
        drained += (min(Fraction(end), seconds) - start) * rate
    return drained + sum((ml for at, ml in day.drops if at <= seconds), Fraction(0))


def _seconds_to_drain(day: _Day, amount: Fraction) -> Fraction:
    """Seconds (0 < s <= DAY) into a window until `amount` (0 < amount <= day total) has drained."""
    breakpoints = sorted({end for _, end, _ in day.pieces} | {at for at, _ in day.drops})
    drained = Fraction(0)
    previous = 0
    for point in breakpoints:
        rate = next(rate for start, end, rate in day.pieces if start <= previous < end)
        continuous = (point - previous) * rate
        if drained + continuous >= amount:
            return previous + (amount - drained) / rate
        drained += continuous
        drained += sum((ml for at, ml in day.drops if at == point), Fraction(0))
        if drained >= amount:
            return Fraction(point)  # a bolus crossed it
        previous = point
    raise AssertionError("the amount is more than one day drains")  # pragma: no cover


def _crossing(inputs: ForecastInputs, day: _Day, target_ml: Decimal) -> datetime | None:
    """When the volume first reaches target_ml: t0 if it already has, None if it never will."""
    amount = Fraction(inputs.v0_ml) - Fraction(target_ml)
    if amount <= 0:
        return inputs.t0
    if day.total_ml <= 0:
        return None
    whole_days = math.ceil(amount / day.total_ml) - 1
    if whole_days > HORIZON_DAYS:
        return None
    seconds = whole_days * DAY + _seconds_to_drain(day, amount - whole_days * day.total_ml)
    return inputs.t0 + timedelta(seconds=math.floor(seconds))


def volume_at(inputs: ForecastInputs, at: datetime, day: _Day | None = None) -> Fraction:
    """The reservoir volume at an instant at or after t0 (not clamped)."""
    inputs = _in_utc(inputs)
    day = day or _day(inputs)
    elapsed = Fraction(int((at.astimezone(UTC) - inputs.t0).total_seconds()))
    if elapsed <= 0:
        return Fraction(inputs.v0_ml)
    whole_days = math.floor(elapsed / DAY)
    return Fraction(inputs.v0_ml) - whole_days * day.total_ml - _drained_within(day, elapsed - whole_days * DAY)


def _quantize(value: Fraction | Decimal, places: str) -> Decimal:
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value).quantize(Decimal(places), rounding=ROUND_FLOOR)


REMINDER_LEAD = timedelta(days=7)


def _in_utc(inputs: ForecastInputs) -> ForecastInputs:
    """Elapsed-time arithmetic needs UTC: an instant given in a local zone would otherwise be
    added to as wall-clock time (an hour off across a DST change)."""
    return replace(
        inputs,
        t0=inputs.t0.astimezone(UTC),
        last_fill_at=inputs.last_fill_at.astimezone(UTC),
        now=inputs.now.astimezone(UTC),
        alarms_reported_at=tuple(a.astimezone(UTC) for a in inputs.alarms_reported_at),
    )


def forecast(inputs: ForecastInputs) -> Forecast:
    inputs = _in_utc(inputs)
    program = inputs.program
    day = _day(inputs)
    alarm_at = _crossing(inputs, day, inputs.alarm_volume_ml)
    empty_at = _crossing(inputs, day, Decimal(0))
    stability_at = truncate(inputs.last_fill_at + timedelta(days=inputs.max_days_in_pump))
    printout_at = start_of_local_day(inputs.printout_alarm_date, inputs.zone) if inputs.printout_alarm_date else None
    reported_at = min(inputs.alarms_reported_at) if inputs.alarms_reported_at else None

    candidates = [
        (at, rank, why)
        for at, rank, why in (
            (alarm_at, 0, "low_reservoir_alarm"),
            (stability_at, 1, "stability_limit"),
            (printout_at, 2, "printout_alarm"),
            (reported_at, 3, "alarm_reported"),
        )
        if at is not None
    ]
    due_at, _, reason = min(candidates, key=lambda c: (c[0], c[1]))
    due_at = truncate(due_at)
    reminder_at = latest_at_hour_before(due_at - REMINDER_LEAD, inputs.reminder_hour, inputs.zone)

    days_left = days_between(due_at, inputs.now, inputs.zone)
    volume_now = max(Fraction(0), volume_at(inputs, inputs.now, day))
    daily_dose = program.daily_dose_mcg_total
    return Forecast(
        inputs=inputs,
        daily_dose_mcg=daily_dose,
        daily_volume_ml=_quantize(daily_dose / program.concentration_mcg_per_ml, "0.0001"),
        volume_now_ml=_quantize(volume_now, "0.01"),
        low_reservoir_alarm_at=alarm_at,
        empty_at=empty_at,
        stability_limit_at=stability_at,
        printout_alarm_at=printout_at,
        alarm_reported_at=reported_at,
        refill_due_at=due_at,
        refill_due_reason=reason,
        reminder_at=reminder_at,
        days_until_refill_due=days_left,
    )
