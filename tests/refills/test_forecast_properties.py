"""Hypothesis properties of the refill forecast (SPEC §3–§4).

The reminder checks use an independent wall-clock reference (a scan over UTC instants for the
first one whose local reading is at or after the wanted hour), not the module's own helpers.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from refills.domain.clock import at_local_hour, latest_at_hour_before
from refills.domain.forecast import Bolus, DoseProgram, FlexStep, ForecastInputs, forecast, volume_at

D = Decimal
WEEK = timedelta(days=7)
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONES = [
    "UTC",
    "America/Chicago",
    "Europe/Paris",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Santiago",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/Havana",
    "Asia/Beirut",
    "Australia/Lord_Howe",
    "Pacific/Honolulu",
]
OFFSETS = [-600, -360, -300, -240, -180, 0, 60, 120, 330, 345, 600, 630, 660, 780]
CONCENTRATIONS = [D(50), D(500), D(1000), D(2000), D(250), D(1500), D("1234.5")]
START = datetime(2026, 1, 1, tzinfo=UTC)


# --- An independent wall-clock reference ---------------------------------------------------------------


def first_at_or_after(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """The first instant whose reading on the wall clock of `zone` is at or after day hour:00."""
    wall = datetime.combine(day, time(hour))
    t = (wall - timedelta(hours=15)).replace(tzinfo=UTC)  # reads before `wall` in every zone
    coarse = timedelta(minutes=15)
    while t.astimezone(zone).replace(tzinfo=None) < wall:
        t += coarse
    t -= coarse
    while t.astimezone(zone).replace(tzinfo=None) < wall:
        t += timedelta(minutes=1)
    return t


def hour_exists(day: date, hour: int, zone: ZoneInfo) -> bool:
    wall = datetime.combine(day, time(hour))
    return first_at_or_after(day, hour, zone).astimezone(zone).replace(tzinfo=None) == wall


def reference_reminder(deadline: datetime, hour: int, zone_name: str) -> datetime:
    zone = ZoneInfo(zone_name)
    local_day = deadline.astimezone(zone).date()
    candidates = [first_at_or_after(local_day + timedelta(days=k), hour, zone) for k in (-2, -1, 0, 1)]
    return max(c for c in candidates if c <= deadline)


# --- Strategies -----------------------------------------------------------------------------------------

nonzero_rate = st.sampled_from(range(1, 10001)).map(lambda n: Decimal(n) / 100)
rates = st.one_of(st.just(D(0)), nonzero_rate, nonzero_rate, nonzero_rate)
flex_steps = st.dictionaries(st.integers(0, 1439), rates, min_size=1, max_size=13).map(
    lambda steps: tuple(FlexStep(minute, rate) for minute, rate in steps.items())
)
bolus = st.builds(Bolus, st.integers(0, 1439), st.decimals(min_value=1, max_value=200, places=1))
ptm = st.one_of(st.just((D(0), 0)), st.tuples(st.decimals(min_value=5, max_value=100, places=1), st.integers(1, 8)))


@st.composite
def programs(draw, flex_only=False) -> DoseProgram:
    ptm_dose, ptm_max = draw(ptm)
    conc = draw(st.sampled_from(CONCENTRATIONS))
    boluses = tuple(draw(st.lists(bolus, max_size=3)))
    if not flex_only and draw(st.booleans()):
        dose = draw(st.sampled_from(range(240001)).map(lambda n: Decimal(n) / 100))
        program = DoseProgram(
            conc, daily_dose_mcg=dose, boluses=boluses, ptm_dose_mcg=ptm_dose, ptm_max_per_day=ptm_max
        )
    else:
        program = DoseProgram(
            conc, flex_steps=draw(flex_steps), boluses=boluses, ptm_dose_mcg=ptm_dose, ptm_max_per_day=ptm_max
        )
    if program.daily_dose_mcg_total <= 0:  # a program must deliver something
        program = replace(program, daily_dose_mcg=D(240), flex_steps=())
    return program


def daily_ml(program: DoseProgram) -> Fraction:
    """Hand formula (clinical reference §3.1): the day's mcg over the concentration."""
    mcg = Fraction(program.daily_dose_mcg or 0)
    steps = sorted(program.flex_steps, key=lambda s: s.start_minute)
    for i, step in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else steps[0].start_minute + 1440
        mcg += Fraction(step.rate_mcg_per_hour) * (end - step.start_minute) / 60
    mcg += sum((Fraction(b.dose_mcg) for b in program.boluses), Fraction(0))
    mcg += Fraction(program.ptm_dose_mcg) * program.ptm_max_per_day
    return mcg / Fraction(program.concentration_mcg_per_ml)


@st.composite
def forecast_inputs(draw, program_strategy=None) -> ForecastInputs:
    program = draw(programs() if program_strategy is None else program_strategy)
    v0 = draw(st.decimals(min_value=D("0.5"), max_value=40, places=2))
    # The module treats a crossing more than a century away as "never" (None); keep to programs that
    # empty the pump within ~90 years so that every date exists.
    assume(daily_ml(program) * 90 * 365 > v0)
    t0 = START + timedelta(seconds=draw(st.integers(0, 364 * 86400)))
    last_fill = t0 - timedelta(seconds=draw(st.one_of(st.just(0), st.integers(0, 60 * 86400))))
    printout = draw(st.one_of(st.none(), st.integers(-2, 200).map(lambda n: t0.date() + timedelta(days=n))))
    reported = draw(st.lists(st.integers(0, 200 * 86400).map(lambda s: t0 + timedelta(seconds=s)), max_size=2))
    return ForecastInputs(
        t0=t0,
        v0_ml=v0,
        program=program,
        pump_utc_offset_minutes=draw(st.sampled_from(OFFSETS)),
        alarm_volume_ml=draw(st.decimals(min_value=2, max_value=4, places=1)),
        last_fill_at=last_fill,
        max_days_in_pump=draw(st.integers(30, 180)),
        zone=draw(st.sampled_from(ZONES)),
        reminder_hour=draw(st.integers(7, 20)),
        now=t0 + timedelta(seconds=draw(st.integers(0, 120 * 86400))),
        printout_alarm_date=printout,
        alarms_reported_at=tuple(reported),
    )


def dates(f):
    return (f.low_reservoir_alarm_at, f.empty_at, f.refill_due_at, f.reminder_at)


def scaled(program: DoseProgram, k: Decimal) -> DoseProgram:
    return replace(
        program,
        daily_dose_mcg=None if program.daily_dose_mcg is None else program.daily_dose_mcg * k,
        flex_steps=tuple(FlexStep(s.start_minute, s.rate_mcg_per_hour * k) for s in program.flex_steps),
        boluses=tuple(Bolus(b.minute, b.dose_mcg * k) for b in program.boluses),
        ptm_dose_mcg=program.ptm_dose_mcg * k,
    )


# --- Properties -----------------------------------------------------------------------------------------


@SETTINGS
@given(forecast_inputs(), st.lists(st.integers(0, 90 * 86400), min_size=2, max_size=25))
def test_volume_never_rises(inputs, seconds):
    assert volume_at(inputs, inputs.t0) == Fraction(inputs.v0_ml)
    instants = [inputs.t0 + timedelta(seconds=s) for s in sorted(seconds)]
    volumes = [volume_at(inputs, t) for t in instants]
    assert all(a >= b for a, b in pairwise(volumes)), volumes


@SETTINGS
@given(forecast_inputs())
def test_order_of_dates_and_the_refill_due_is_the_earliest_limit(inputs):
    f = forecast(inputs)
    alarm, empty = f.low_reservoir_alarm_at, f.empty_at
    assert alarm is not None and empty is not None
    assert inputs.t0 <= alarm <= empty
    if inputs.v0_ml <= inputs.alarm_volume_ml:
        assert alarm == inputs.t0
    # The instants are the first crossings, truncated to the second: one second before, the volume is
    # still above the target; one second after, it is at or below it.
    second = timedelta(seconds=1)
    if alarm > inputs.t0:
        assert volume_at(inputs, alarm - second) > Fraction(inputs.alarm_volume_ml)
    assert volume_at(inputs, alarm + second) <= Fraction(inputs.alarm_volume_ml)
    assert volume_at(inputs, empty - second) > 0
    assert volume_at(inputs, empty + second) <= 0
    # Stability: last refill + max days × 24 h.
    assert f.stability_limit_at == inputs.last_fill_at + timedelta(days=inputs.max_days_in_pump)
    # refill_due = min(alarm, stability, printout, reported).
    limits = {"low_reservoir_alarm": alarm, "stability_limit": f.stability_limit_at}
    if inputs.printout_alarm_date is not None:
        assert f.printout_alarm_at is not None
        assert f.printout_alarm_at == first_at_or_after(inputs.printout_alarm_date, 0, ZoneInfo(inputs.zone))
        limits["printout_alarm"] = f.printout_alarm_at
    if inputs.alarms_reported_at:
        limits["alarm_reported"] = min(inputs.alarms_reported_at)
    assert f.refill_due_at <= alarm
    assert f.refill_due_at <= f.stability_limit_at
    assert all(f.refill_due_at <= at for at in limits.values())
    assert f.refill_due_at == min(limits.values()).replace(microsecond=0)
    assert limits[f.refill_due_reason].replace(microsecond=0) == f.refill_due_at


@SETTINGS
@given(forecast_inputs())
def test_reminder_is_the_latest_reminder_hour_at_least_a_week_before(inputs):
    f = forecast(inputs)
    zone = ZoneInfo(inputs.zone)
    deadline = f.refill_due_at - WEEK  # UTC arithmetic: exactly 7 × 24 h
    assert f.reminder_at <= deadline
    assert f.reminder_at == reference_reminder(deadline, inputs.reminder_hour, inputs.zone)
    local = f.reminder_at.astimezone(zone)
    assert (local.second, local.microsecond) == (0, 0)
    if hour_exists(local.date(), inputs.reminder_hour, zone):
        assert (local.hour, local.minute) == (inputs.reminder_hour, 0)
    # Latest: the next day's reminder hour is already past the deadline.
    assert first_at_or_after(local.date() + timedelta(days=1), inputs.reminder_hour, zone) > deadline
    # days_until_refill_due counts local dates of the current zone.
    expected_days = (f.refill_due_at.astimezone(zone).date() - inputs.now.astimezone(zone).date()).days
    assert f.days_until_refill_due == expected_days
    # volume_now_ml: the volume at now, clamped at 0, to 2 decimals.
    exact = max(Fraction(0), volume_at(inputs, inputs.now))
    assert f.volume_now_ml >= 0
    assert abs(Fraction(f.volume_now_ml) - exact) < Fraction(1, 100)


# Deadlines near the 2026 transitions of the awkward zones, any hour of the day (0–23): the rule
# "missing or repeated hour → the first instant at or after it" is exercised directly.
TRANSITIONS = [
    ("America/Chicago", datetime(2026, 3, 8, 8, tzinfo=UTC)),
    ("America/Chicago", datetime(2026, 11, 1, 7, tzinfo=UTC)),
    ("Europe/Paris", datetime(2026, 3, 29, 1, tzinfo=UTC)),
    ("Europe/Paris", datetime(2026, 10, 25, 1, tzinfo=UTC)),
    ("America/Havana", datetime(2026, 3, 8, 5, tzinfo=UTC)),
    ("America/Havana", datetime(2026, 11, 1, 5, tzinfo=UTC)),
    ("America/Santiago", datetime(2026, 4, 5, 3, tzinfo=UTC)),
    ("America/Santiago", datetime(2026, 9, 6, 4, tzinfo=UTC)),
    ("Asia/Beirut", datetime(2026, 3, 28, 22, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2026, 10, 3, 16, tzinfo=UTC)),
    ("Pacific/Auckland", datetime(2026, 4, 4, 14, tzinfo=UTC)),
]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(TRANSITIONS), st.integers(-36 * 60, 36 * 60), st.integers(0, 23))
def test_latest_at_hour_before_near_transitions(transition, minutes, hour):
    zone_name, instant = transition
    zone = ZoneInfo(zone_name)
    deadline = instant + timedelta(minutes=minutes, seconds=minutes % 7)
    got = latest_at_hour_before(deadline, hour, zone_name)
    assert got <= deadline
    assert got == reference_reminder(deadline, hour, zone_name)
    local = got.astimezone(zone)
    if hour_exists(local.date(), hour, zone):
        assert (local.hour, local.minute, local.second) == (hour, 0, 0)
    day = deadline.astimezone(zone).date()
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        assert at_local_hour(d, hour, zone) == first_at_or_after(d, hour, zone)


@SETTINGS
@given(forecast_inputs(), st.sampled_from([D("1.01"), D("1.1"), D("1.5"), D(2), D(3), D(10)]))
def test_a_higher_dose_never_gives_a_later_date(inputs, k):
    base = forecast(inputs)
    more = forecast(replace(inputs, program=scaled(inputs.program, k)))
    for a, b in zip(dates(more), dates(base), strict=True):
        assert a <= b


@SETTINGS
@given(forecast_inputs(), st.integers(0, 1439), st.decimals(min_value=1, max_value=200, places=1))
def test_adding_a_bolus_never_delays_a_date(inputs, minute, dose):
    base = forecast(inputs)
    program = replace(inputs.program, boluses=(*inputs.program.boluses, Bolus(minute, dose)))
    more = forecast(replace(inputs, program=program))
    for a, b in zip(dates(more), dates(base), strict=True):
        assert a <= b


@SETTINGS
@given(forecast_inputs(), st.integers(1, 1439), st.decimals(min_value=D("0.01"), max_value=100, places=2))
def test_raising_one_flex_step_never_delays_a_date(inputs, pick, extra):
    program = inputs.program
    if not program.flex_steps:
        program = replace(program, flex_steps=(FlexStep(0, D(5)), FlexStep(720, D(0))), daily_dose_mcg=None)
        inputs = replace(inputs, program=program)
    i = pick % len(program.flex_steps)
    steps = list(program.flex_steps)
    steps[i] = FlexStep(steps[i].start_minute, steps[i].rate_mcg_per_hour + extra)
    more = forecast(replace(inputs, program=replace(program, flex_steps=tuple(steps))))
    for a, b in zip(dates(more), dates(forecast(inputs)), strict=True):
        assert a <= b


@SETTINGS
@given(
    forecast_inputs(),
    st.sets(st.integers(0, 1439), min_size=1, max_size=13),
    st.sampled_from(range(1, 10001)).map(lambda n: Decimal(n) / 100),
    st.lists(st.integers(0, 120 * 86400), max_size=5),
)
def test_flex_with_equal_steps_matches_simple(inputs, starts, rate, seconds):
    simple = replace(inputs, program=replace(inputs.program, daily_dose_mcg=rate * 24, flex_steps=()))
    flex = replace(
        inputs,
        program=replace(inputs.program, daily_dose_mcg=None, flex_steps=tuple(FlexStep(m, rate) for m in starts)),
    )
    assume(daily_ml(simple.program) * 90 * 365 > inputs.v0_ml)
    fs, ff = forecast(simple), forecast(flex)
    # (daily_dose_mcg equality is checked by a worked case; here the instants and volumes.)
    for a, b in ((fs.low_reservoir_alarm_at, ff.low_reservoir_alarm_at), (fs.empty_at, ff.empty_at)):
        assert abs((a - b).total_seconds()) <= 1
    for s in seconds:
        at = inputs.t0 + timedelta(seconds=s)
        assert volume_at(flex, at) == volume_at(simple, at)


@SETTINGS
@given(forecast_inputs(programs(flex_only=True)), st.data())
def test_order_of_flex_steps_does_not_matter(inputs, data):
    steps = data.draw(st.permutations(inputs.program.flex_steps))
    shuffled = replace(inputs, program=replace(inputs.program, flex_steps=tuple(steps)))
    a, b = forecast(inputs), forecast(shuffled)
    fields = (
        "daily_dose_mcg",
        "daily_volume_ml",
        "volume_now_ml",
        "low_reservoir_alarm_at",
        "empty_at",
        "refill_due_at",
        "refill_due_reason",
        "reminder_at",
        "days_until_refill_due",
    )
    assert [getattr(a, n) for n in fields] == [getattr(b, n) for n in fields]
