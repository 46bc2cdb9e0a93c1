"""Every validation rule of SPEC §3, at and just past its boundary (pure: no database)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from refills.domain.events import EventContext, EventError, check_time, parse_event
from refills.domain.programs import ProgramError, parse_program

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CTX = EventContext(
    now=NOW,
    capacity_ml=Decimal(20),
    pump_family="synchromed2",
    implant_date=date(2025, 1, 10),
    latest_event_at=datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
    current_concentration=Decimal(500),
    has_fill=True,
)
PROMETRA = EventContext(**{**CTX.__dict__, "pump_family": "prometra"})
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}


def refill(ctx=CTX, **values):
    return parse_event("refill", {"volume_ml": "20", "aspirated_ml": "2", "program": SIMPLE, **values}, NOW, ctx)


def errors_of(call) -> dict:
    with pytest.raises((EventError, ProgramError)) as caught:
        call()
    return caught.value.errors


@pytest.mark.parametrize(
    ("volume", "ok"), [("20", True), ("20.01", False), ("0.01", True), ("0", False), ("-1", False)]
)
def test_v0_between_zero_and_capacity(volume, ok):
    if ok:
        assert refill(volume_ml=volume).volume_ml == Decimal(volume)
    else:
        assert "volume_ml" in errors_of(lambda: refill(volume_ml=volume))


@pytest.mark.parametrize(("aspirated", "ok"), [("20", True), ("20.01", False), ("0", True), ("-0.01", False)])
def test_aspirated_at_most_capacity(aspirated, ok):
    if ok:
        assert refill(aspirated_ml=aspirated).aspirated_ml == Decimal(aspirated)
    else:
        assert "aspirated_ml" in errors_of(lambda: refill(aspirated_ml=aspirated))


@pytest.mark.parametrize(("concentration", "ok"), [("0.1", True), ("0", False), ("-5", False), ("abc", False)])
def test_concentration_above_zero(concentration, ok):
    # The smallest dose (1 mcg a day), so that the "more than the pump holds every day" rule stays out of it.
    program = {**SIMPLE, "concentration_mcg_per_ml": concentration, "daily_dose_mcg": "1"}
    if ok:
        assert refill(program=program).program.concentration_mcg_per_ml == Decimal(concentration)
    else:
        assert "program.concentration_mcg_per_ml" in errors_of(lambda: refill(program=program))


@pytest.mark.parametrize(("concentration", "ok"), [("499", False), ("500", True), ("2000", True), ("2001", False)])
def test_prometra_range(concentration, ok):
    program = {**SIMPLE, "concentration_mcg_per_ml": concentration}
    if ok:
        refill(PROMETRA, program=program)
    else:
        assert "program.concentration_mcg_per_ml" in errors_of(lambda: refill(PROMETRA, program=program))


def test_mg_per_ml_is_converted_exactly():
    program = {"concentration_mg_per_ml": "0.05", "mode": "simple", "daily_dose_mcg": "100"}
    assert parse_program(program).concentration_mcg_per_ml == Decimal("50.00")


def flex(n, **overrides):
    steps = [{"start": f"{(i * 100) // 60:02d}:{(i * 100) % 60:02d}", "rate_mcg_per_hour": "10"} for i in range(n)]
    return {"concentration_mcg_per_ml": "500", "mode": "flex", "flex_steps": steps, **overrides}


def test_flex_step_count():
    assert len(parse_program(flex(1)).flex_steps) == 1
    assert len(parse_program(flex(13)).flex_steps) == 13
    assert "flex_steps" in errors_of(lambda: parse_program(flex(14)))
    assert "flex_steps" in errors_of(lambda: parse_program(flex(0)))


@pytest.mark.parametrize("start", ["24:00", "7:00", "12:60", "noon", "", None])
def test_malformed_start(start):
    program = flex(2)
    program["flex_steps"][1]["start"] = start
    assert "flex_steps.1.start" in errors_of(lambda: parse_program(program))


def test_duplicate_start_negative_rate_and_nothing_delivered():
    program = flex(3)
    program["flex_steps"][2]["start"] = program["flex_steps"][0]["start"]
    assert "flex_steps.2.start" in errors_of(lambda: parse_program(program))
    program = flex(2)
    program["flex_steps"][0]["rate_mcg_per_hour"] = "-0.1"
    assert "flex_steps.0.rate_mcg_per_hour" in errors_of(lambda: parse_program(program))
    zero = flex(2)
    for step in zero["flex_steps"]:
        step["rate_mcg_per_hour"] = "0"
    assert "program" in errors_of(lambda: parse_program(zero))
    assert parse_program({**zero, "boluses": [{"time": "08:00", "dose_mcg": "50"}]})  # a bolus delivers


def test_00_00_step_is_not_required_and_2359_is_allowed():
    program = {
        "concentration_mcg_per_ml": "500",
        "mode": "flex",
        "flex_steps": [{"start": "06:00", "rate_mcg_per_hour": "10"}, {"start": "23:59", "rate_mcg_per_hour": "5"}],
    }
    assert [s.start_minute for s in parse_program(program).flex_steps] == [360, 1439]


def test_reprogram_cannot_change_the_concentration():
    same = parse_event("reprogram", {"program": SIMPLE}, NOW, CTX)
    assert same.volume_ml is None  # the app computes it
    other = {**SIMPLE, "concentration_mcg_per_ml": "1000"}
    assert "program.concentration_mcg_per_ml" in errors_of(
        lambda: parse_event("reprogram", {"program": other}, NOW, CTX)
    )


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (NOW, None),
        (NOW + timedelta(seconds=1), "future"),
        (datetime(2025, 1, 10, 0, 0, tzinfo=UTC), "before the latest"),
        (datetime(2026, 5, 1, 9, 0, tzinfo=UTC), None),
        (datetime(2026, 5, 1, 8, 59, 59, tzinfo=UTC), "before the latest"),
    ],
)
def test_event_time_rules(at, problem):
    errors: dict = {}
    check_time(at, CTX, errors, correction=False)
    if problem is None:
        assert errors == {}
    else:
        assert any(problem in m for m in errors["occurred_at"])


def test_before_implant_and_corrections_may_be_in_the_past():
    ctx = EventContext(**{**CTX.__dict__, "latest_event_at": None})
    errors: dict = {}
    check_time(datetime(2025, 1, 9, 23, 0, tzinfo=UTC), ctx, errors, correction=False)
    assert any("implanted" in m for m in errors["occurred_at"])
    errors = {}
    check_time(datetime(2026, 4, 1, tzinfo=UTC), CTX, errors, correction=True)
    assert errors == {}


def test_alarm_report_needs_a_tone():
    assert parse_event("alarm_reported", {"tone": "two_tone"}, NOW, CTX).tone == "two_tone"
    assert "tone" in errors_of(lambda: parse_event("alarm_reported", {"tone": "loud"}, NOW, CTX))


def test_pump_replaced_uses_the_new_pumps_capacity():
    values = {"model": "synchromed2_40", "volume_ml": "40", "program": SIMPLE}
    parsed = parse_event("pump_replaced", values, NOW, CTX)
    assert parsed.capacity_ml == Decimal(40) and parsed.alarm_volume_ml == Decimal(2)
    other = {"model": "other", "volume_ml": "30", "program": SIMPLE}
    assert set(errors_of(lambda: parse_event("pump_replaced", other, NOW, CTX))) >= {"capacity_ml", "alarm_volume_ml"}


def test_every_problem_is_reported_at_once():
    errors = errors_of(lambda: refill(volume_ml="25", aspirated_ml="x", program={**SIMPLE, "daily_dose_mcg": "-1"}))
    assert set(errors) == {"volume_ml", "aspirated_ml", "program.daily_dose_mcg"}
