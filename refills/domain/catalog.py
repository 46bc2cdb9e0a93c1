"""The pump catalog (SPEC §2, clinical-reference §1). Pure data: no Django here.

Capacities and alarm volumes are defaults; staff may override the alarm volume per patient
(raising it to 4 mL is a known fix for withdrawal above the 2 mL alarm).
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class PumpModel:
    key: str
    label: str
    family: str
    capacity_ml: Decimal | None  # None: entered per patient
    alarm_volume_ml: Decimal | None  # None: entered per patient
    concentration_range: tuple[Decimal, Decimal] | None = None  # labelled baclofen range (mcg/mL)
    max_battery_years: int | None = None  # automatic shutdown (SynchroMed II: 7 years)


CATALOG: dict[str, PumpModel] = {
    m.key: m
    for m in [
        PumpModel(
            "synchromed2_20",
            "Medtronic SynchroMed II 8637-20 (20 mL)",
            "synchromed2",
            Decimal(20),
            Decimal(2),
            max_battery_years=7,
        ),
        PumpModel(
            "synchromed2_40",
            "Medtronic SynchroMed II 8637-40 (40 mL)",
            "synchromed2",
            Decimal(40),
            Decimal(2),
            max_battery_years=7,
        ),
        PumpModel("synchromed3", "Medtronic SynchroMed III", "synchromed3", None, Decimal(2)),
        PumpModel(
            "prometra2_20",
            "Flowonix Prometra II (20 mL)",
            "prometra",
            Decimal(20),
            Decimal(3),
            (Decimal(500), Decimal(2000)),
        ),
        PumpModel(
            "prometra2_40",
            "Flowonix Prometra II (40 mL)",
            "prometra",
            Decimal(40),
            Decimal(3),
            (Decimal(500), Decimal(2000)),
        ),
        PumpModel("codman_medstream", "Codman MedStream", "codman", None, None),
        PumpModel("other", "Other", "other", None, None),
    ]
}

STANDARD_CONCENTRATIONS = (Decimal(50), Decimal(500), Decimal(1000), Decimal(2000))
DEFAULT_MAX_DAYS_IN_PUMP = 180
END_OF_SERVICE_AFTER_ERI_DAYS = 90
HIGH_DAILY_DOSE_MCG = Decimal(1000)
# A refill discrepancy: |expected − aspirated| above this, by pump size (clinical-reference §3.5).
SMALL_PUMP_MAX_ML = Decimal(20)
DISCREPANCY_SMALL_ML = Decimal("1.0")
DISCREPANCY_LARGE_ML = Decimal("2.0")


def discrepancy_limit_ml(capacity_ml: Decimal) -> Decimal:
    return DISCREPANCY_SMALL_ML if capacity_ml <= SMALL_PUMP_MAX_ML else DISCREPANCY_LARGE_ML


def choices() -> list[tuple[str, str]]:
    return [(m.key, m.label) for m in CATALOG.values()]
