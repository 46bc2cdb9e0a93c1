"""Median time of one refill forecast: a simple program, and a 13-step flex program with
periodic boluses and a patient bolus, each over a 180-day cycle. Prints figures; asserts nothing.

    .venv/bin/python bench/forecast.py
"""

import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refills.domain.forecast import Bolus, DoseProgram, FlexStep, ForecastInputs, forecast

T0 = datetime(2026, 3, 1, 15, 0, 17, tzinfo=UTC)


def inputs(program: DoseProgram) -> ForecastInputs:
    return ForecastInputs(
        t0=T0,
        v0_ml=Decimal(40),
        program=program,
        pump_utc_offset_minutes=-360,
        alarm_volume_ml=Decimal(2),
        last_fill_at=T0,
        max_days_in_pump=180,
        zone="America/Chicago",
        reminder_hour=9,
        now=datetime(2026, 4, 1, tzinfo=UTC),
    )


SIMPLE = DoseProgram(concentration_mcg_per_ml=Decimal(2000), daily_dose_mcg=Decimal("420"))
FLEX = DoseProgram(
    concentration_mcg_per_ml=Decimal(2000),
    flex_steps=tuple(FlexStep(i * 110, Decimal("9.5") + Decimal("0.5") * i) for i in range(13)),
    boluses=(Bolus(7 * 60, Decimal(25)), Bolus(13 * 60 + 30, Decimal(25)), Bolus(21 * 60, Decimal(30))),
    ptm_dose_mcg=Decimal(10),
    ptm_max_per_day=4,
)


def median_ms(program: DoseProgram, runs: int = 2000) -> tuple[float, float]:
    data = inputs(program)
    result = forecast(data)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        forecast(data)
        timings.append((time.perf_counter() - started) * 1000)
    cycle_days = (result.empty_at - T0).total_seconds() / 86400
    return statistics.median(timings), cycle_days


if __name__ == "__main__":
    for name, program in (("simple", SIMPLE), ("flex 13 steps + 3 boluses + PTM", FLEX)):
        median, days = median_ms(program)
        print(f"{name:<34} median {median:.3f} ms  (cycle to empty {days:.1f} days)")
