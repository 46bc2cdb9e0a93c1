"""Replaying a patient's pump events (SPEC §3): what the app expected at each refill, the
discrepancy flag, the warnings, and the forecast inputs that hold after the last event.

Pure: plain data in, plain data out. The services load events (with corrections applied),
call `replay`, and store what it returns. Replaying the whole chain is how a correction of a
past event changes everything after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from . import catalog, numbers
from .forecast import DoseProgram, Forecast, ForecastInputs, forecast, volume_at

REFILL = "refill"
REPROGRAM = "reprogram"
PUMP_REPLACED = "pump_replaced"
EXPLANTED = "explanted"
ALARM_REPORTED = "alarm_reported"
CORRECTION = "correction"
PROGRAMMING_KINDS = (REFILL, REPROGRAM, PUMP_REPLACED)

T = TypeVar("T")


@dataclass(frozen=True)
class ChainEvent:
    """One event with its effective values (a correction's, when corrected)."""

    key: object  # the caller's id for the event
    kind: str
    at: datetime
    utc_offset_minutes: int
    capacity_ml: Decimal  # the pump's capacity at the time
    program: DoseProgram | None = None
    volume_ml: Decimal | None = None  # V0 for refills and replacements; optional for reprograms
    aspirated_ml: Decimal | None = None
    printout_alarm_date: date | None = None


@dataclass(frozen=True)
class Settings:
    """The forecast inputs that are not events."""

    alarm_volume_ml: Decimal
    max_days_in_pump: int
    zone: str
    reminder_hour: int


@dataclass(frozen=True)
class EventOutcome:
    key: object
    expected_volume_ml: Decimal | None = None
    volume_ml: Decimal | None = None  # the reservoir volume right after the event
    discrepancy: bool = False
    warnings: tuple[str, ...] = ()


@dataclass
class Replay:
    outcomes: list[EventOutcome] = field(default_factory=list)
    inputs: ForecastInputs | None = None  # None: no forecast (no programming event yet, or explanted)


def _ml(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"))


def program_warnings(program: DoseProgram) -> list[str]:
    warnings = []
    if program.daily_dose_mcg_total > catalog.HIGH_DAILY_DOSE_MCG:
        dose = numbers.shown(program.daily_dose_mcg_total)
        warnings.append(
            f"The daily dose, with boluses and the most patient boluses, is {dose} mcg: above 1000 mcg/day."
            " Check the program."
        )
    if program.concentration_mcg_per_ml not in catalog.STANDARD_CONCENTRATIONS:
        warnings.append(
            f"{numbers.shown(program.concentration_mcg_per_ml)} mcg/mL is not a standard concentration"
            " (50, 500, 1000 or 2000). Check the syringe label."
        )
    return warnings


def forecast_warnings(result: Forecast) -> list[str]:
    warnings = []
    alarm = result.low_reservoir_alarm_at
    if alarm is not None and result.stability_limit_at < alarm:
        warnings.append("The drug reaches its stability limit before the low-reservoir alarm: refill by the limit.")
    start = result.printout_alarm_at  # set exactly when the inputs have a printout date
    if start is not None and alarm is not None:
        end = start + timedelta(days=1)
        if alarm < start - timedelta(hours=24) or alarm > end + timedelta(hours=24):
            warnings.append(
                "The printout's low-reservoir alarm date is more than 24 hours from the app's. Check the volume"
                " and program entered; the earlier date is used."
            )
    return warnings


def _given(value: T | None, name: str, event: ChainEvent) -> T:
    """A value every programming event has (events.parse_event requires it)."""
    if value is None:
        raise ValueError(f"{event.kind} event {event.key!r} has no {name}")
    return value


def replay(events: list[ChainEvent], settings: Settings, now: datetime) -> Replay:
    """Walk the events in order. `events` holds no corrections (their values are applied)."""
    result = Replay()
    inputs: ForecastInputs | None = None
    # When the drug in force runs out: the last forecast's empty date (a reported alarm changes
    # the inputs but not that date), so a refill needs no forecast of its own to compare.
    empty_at: datetime | None = None

    def inputs_for(
        event: ChainEvent, volume: Decimal | None, last_fill_at: datetime, printout: date | None
    ) -> ForecastInputs:
        return ForecastInputs(
            t0=event.at,
            v0_ml=_given(volume, "volume", event),
            program=_given(event.program, "program", event),
            pump_utc_offset_minutes=event.utc_offset_minutes,
            alarm_volume_ml=settings.alarm_volume_ml,
            last_fill_at=last_fill_at,
            max_days_in_pump=settings.max_days_in_pump,
            zone=settings.zone,
            reminder_hour=settings.reminder_hour,
            now=event.at,
            printout_alarm_date=printout,
        )

    for event in sorted(events, key=lambda e: e.at):
        expected = None
        if inputs is not None and event.kind in PROGRAMMING_KINDS:
            expected = _ml(max(Fraction(0), volume_at(inputs, event.at)))
        warnings: list[str] = []
        discrepancy = False

        if event.kind == REFILL or event.kind == PUMP_REPLACED:
            if inputs is not None:
                if empty_at is not None and empty_at <= event.at:
                    warnings.append(
                        "Re-introduction after interruption: overdose risk. The pump was predicted to be empty"
                        " before this refill."
                    )
            if event.kind == REFILL and expected is not None and event.aspirated_ml is not None:
                limit = catalog.discrepancy_limit_ml(event.capacity_ml)
                if abs(expected - event.aspirated_ml) > limit:
                    discrepancy = True
                    warnings.append(
                        f"Refill discrepancy: the app expected {expected} mL, {event.aspirated_ml} mL was"
                        f" aspirated (more than {limit} mL apart). Check for a pocket fill or a catheter problem."
                    )
            inputs = inputs_for(event, event.volume_ml, event.at, event.printout_alarm_date)
            volume = event.volume_ml
        elif event.kind == REPROGRAM:
            if inputs is None:
                result.outcomes.append(EventOutcome(event.key, warnings=("No refill before this reprogram.",)))
                continue
            volume = event.volume_ml if event.volume_ml is not None else expected
            # Keep the refill's printout date unless this programming printed a new one: the earlier wins.
            printout = event.printout_alarm_date or inputs.printout_alarm_date
            inputs = inputs_for(event, volume, inputs.last_fill_at, printout)
        elif event.kind == EXPLANTED:
            inputs = None
            result.outcomes.append(EventOutcome(event.key))
            continue
        elif event.kind == ALARM_REPORTED:
            if inputs is not None:
                inputs = replace(inputs, alarms_reported_at=(*inputs.alarms_reported_at, event.at))
            result.outcomes.append(EventOutcome(event.key))
            continue
        else:
            raise ValueError(f"unknown event kind {event.kind!r}")

        warnings += program_warnings(_given(event.program, "program", event))
        after = forecast(inputs)
        empty_at = after.empty_at
        warnings += forecast_warnings(after)
        result.outcomes.append(
            EventOutcome(
                event.key,
                expected_volume_ml=expected,
                volume_ml=volume,
                discrepancy=discrepancy,
                warnings=tuple(warnings),
            )
        )

    result.inputs = replace(inputs, now=now) if inputs is not None else None
    return result
