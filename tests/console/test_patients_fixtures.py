"""Shared helpers of the console list, panel and board tests (no tests here).

Time stands still at NOW (the `frozen` fixture of tests/console/conftest.py). Each refill puts
20 mL of 500 mcg/mL in a 20 mL pump at 250 mcg/day, so it drains 0.5 mL a day: the 2 mL alarm
(the refill due date) 36 days after the refill, empty after 40 days, the first reminder step (14
days before) 22 days after it. So a refill made `days_ago` days before NOW gives:

    1 day ago   → OK (due in 35 days)
    25 days ago → due soon (due in 11 days; the 14-day step has passed)
    37 days ago → overdue (due yesterday, not empty yet)
    41 days ago → predicted empty (and overdue)
"""

from datetime import UTC, date, datetime, timedelta

from django.test import Client

from patients.models import Patient
from refills import services
from refills.models import PumpEvent, PumpProfile, RefillCycle
from tests.factories import PatientFactory

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # Saturday 21 November, 09:00 CST in Chicago
TODAY = NOW.date()
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}  # 0.5 mL/day
AGES = {"ok": 1, "due_soon": 25, "overdue": 37, "empty": 41}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def give_pump(patient, **values) -> PumpProfile:
    fields = {"model": "synchromed2_20", "capacity_ml": 20, "alarm_volume_ml": 2, "implant_date": date(2025, 1, 1)}
    return PumpProfile.objects.create(patient=patient, **{**fields, **values})


def refill(patient, by, at: datetime, *, aspirated="1", note=""):
    values = {"volume_ml": "20", "aspirated_ml": aspirated, "program": SIMPLE}
    return services.record_event(patient=patient, kind="refill", values=values, occurred_at=at, by=by, note=note)


def pumped(clinic, by, name: str, *, days_ago: float = 1, pump: dict | None = None, **patient_fields) -> Patient:
    """A patient of `clinic` with a pump and one refill `days_ago` days before NOW, reminded
    by e-mail (so the reminder plan has rows)."""
    patient = PatientFactory(clinic=clinic, full_name=name, notification_channels=["email"], **patient_fields)
    give_pump(patient, **(pump or {}))
    refill(patient, by, NOW - timedelta(days=days_ago))
    return patient


def with_discrepancy(clinic, by, name: str) -> Patient:
    """Refilled 20 days ago and again 2 days ago, when about 11 mL were expected but 5 mL were
    taken out: a discrepancy, and otherwise OK (due in 34 days)."""
    patient = pumped(clinic, by, name, days_ago=20)
    refill(patient, by, NOW - timedelta(days=2), aspirated="5")
    return patient


def one_of_each(clinic, by) -> dict[str, Patient]:
    """A patient in each status, named so that alphabetical order is the reverse of urgency."""
    return {
        "empty": pumped(clinic, by, "Zoe Empty", days_ago=AGES["empty"]),
        "overdue": pumped(clinic, by, "Yuri Overdue", days_ago=AGES["overdue"]),
        "due_soon": pumped(clinic, by, "Xena Soon", days_ago=AGES["due_soon"]),
        "discrepancy": with_discrepancy(clinic, by, "Will Discrepancy"),
        # ERI 10 days ago: end of service (ERI + 90 days) in 80 days, within the 90-day warning.
        "end_of_service_near": pumped(
            clinic, by, "Vera Battery", days_ago=1, pump={"eri_date": TODAY - timedelta(days=10)}
        ),
        "ok": pumped(clinic, by, "Uma Fine", days_ago=1),
    }


def bulk_patients(clinic, count: int, *, due_in_days=range(1, 29), prefix="Bulk") -> list[Patient]:
    """`count` patients made quickly, each with a pump, a refill event and an open cycle whose
    refill is due within the next four weeks (no reminder rows)."""
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, full_name=f"{prefix} {i:03d}", time_zone="America/Chicago") for i in range(count)
    )
    PumpProfile.objects.bulk_create(
        PumpProfile(patient=p, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date=date(2025, 1, 1))
        for p in patients
    )
    started = NOW - timedelta(days=10)
    events = PumpEvent.objects.bulk_create(
        PumpEvent(
            patient=p,
            kind=PumpEvent.Kind.REFILL,
            occurred_at=started,
            zone="America/Chicago",
            utc_offset_minutes=-360,
            capacity_ml=20,
            values={"volume_ml": "20", "aspirated_ml": "1", "program": SIMPLE},
        )
        for p in patients
    )
    days = list(due_in_days)
    RefillCycle.objects.bulk_create(
        RefillCycle(
            patient=p,
            started_by=e,
            started_at=started,
            refill_due_at=NOW + timedelta(days=days[i % len(days)]),
            empty_at=NOW + timedelta(days=days[i % len(days)] + 4),
            appointment_at=NOW + timedelta(days=days[i % len(days)] - 1) if i % 2 else None,
        )
        for i, (p, e) in enumerate(zip(patients, events, strict=True))
    )
    return patients
