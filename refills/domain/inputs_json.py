"""The forecast inputs stored on a cycle (`RefillCycle.forecast_inputs`), both ways: the one
codec, so what is written is what is read. refills.services stores them with `inputs_to_json`;
refills.selectors.stored_inputs reads a cycle's back with `inputs_from_json`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .forecast import ForecastInputs
from .programs import parse_program, program_to_dict


def inputs_to_json(inputs: ForecastInputs) -> dict[str, Any]:
    return {
        "t0": inputs.t0.isoformat(),
        "v0_ml": str(inputs.v0_ml),
        "program": program_to_dict(inputs.program),
        "pump_utc_offset_minutes": inputs.pump_utc_offset_minutes,
        "alarm_volume_ml": str(inputs.alarm_volume_ml),
        "last_fill_at": inputs.last_fill_at.isoformat(),
        "max_days_in_pump": inputs.max_days_in_pump,
        "zone": inputs.zone,
        "reminder_hour": inputs.reminder_hour,
        "printout_alarm_date": inputs.printout_alarm_date.isoformat() if inputs.printout_alarm_date else None,
        "alarms_reported_at": [a.isoformat() for a in inputs.alarms_reported_at],
    }


def inputs_from_json(data: Mapping[str, Any], now: datetime) -> ForecastInputs | None:
    """The inputs `inputs_to_json` stored, as of `now`; None when they are missing or unreadable."""
    try:
        printout = data.get("printout_alarm_date")
        return ForecastInputs(
            t0=datetime.fromisoformat(data["t0"]),
            v0_ml=Decimal(data["v0_ml"]),
            program=parse_program(data["program"]),
            pump_utc_offset_minutes=int(data["pump_utc_offset_minutes"]),
            alarm_volume_ml=Decimal(data["alarm_volume_ml"]),
            last_fill_at=datetime.fromisoformat(data["last_fill_at"]),
            max_days_in_pump=int(data["max_days_in_pump"]),
            zone=data["zone"],
            reminder_hour=int(data["reminder_hour"]),
            now=now,
            printout_alarm_date=date.fromisoformat(printout) if printout else None,
            alarms_reported_at=tuple(datetime.fromisoformat(a) for a in data.get("alarms_reported_at") or ()),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None
