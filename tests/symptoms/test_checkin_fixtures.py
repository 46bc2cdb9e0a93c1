"""Shared helpers of the check-in tests (no tests here): `with_pump` gives the `world` patient a
pump and one refill at T0 draining 0.5 mL a day from 20 mL (the `pump` fixture of
tests/symptoms/conftest.py); the check-in URL and times. `client_for` and `post_json` are in
tests/helpers.py.

Volume at T0 + d days = 20 − d/2 mL: 4.0 mL at T0 + 32 days (rule 5's floor), the 2 mL alarm at
T0 + 36 days (the refill due date).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.factories import pump_with_refill

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # the refill: 09:00 CST in Chicago
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}  # 0.5 mL/day
QUIET = T0 + timedelta(days=10)  # 15 mL left, refill weeks away, nothing recent: only symptoms count


def at_volume(ml) -> datetime:
    """The instant the reservoir holds `ml` mL."""
    return T0 + timedelta(days=float((Decimal(20) - Decimal(str(ml))) * 2))


def with_pump(world):
    """The world's patient (Pat Home) with a pump and a refill at T0; e-mail and inbox for the
    patient and the caregiver."""
    world.patient.notification_channels = ["email", "inbox"]
    world.patient.save()
    world.caregiver.notification_channels = ["email", "inbox"]
    world.caregiver.save()
    pump_with_refill(world.patient, by=world.staff, at=T0)
    return world


def checkins_url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/checkins/"


def at(when: datetime) -> datetime:
    return when.astimezone(UTC)
