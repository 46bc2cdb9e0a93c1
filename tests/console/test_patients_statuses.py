"""The statuses worked out in the database (console.selectors.with_statuses) agree with
refills.domain.statuses.statuses at the edges: the instant a refill falls due or the pump runs dry,
and the first day end of service counts as near (ERI + 90 days, or a SynchroMed II's 7 years,
29 February included)."""

from datetime import date, timedelta

import pytest

from console import selectors
from patients.models import Patient
from refills.models import PumpProfile, RefillCycle

from .test_patients_fixtures import NOW, TODAY, bulk_patients, give_pump

pytestmark = pytest.mark.usefixtures("frozen")  # tests/console/conftest.py: time stands still at NOW


@pytest.mark.parametrize("by_year", [2027, 2028, 2031, 2032])
def test_latest_implant_date_matches_the_pump_profiles_own_rule(by_year):
    """implant + 7 years ≤ by  ⇔  implant ≤ latest_implant_date(by, 7), for every pair of days
    around the end of February."""
    for by in (date(by_year, 2, 1) + timedelta(days=d) for d in range(45)):
        cutoff = selectors.latest_implant_date(by, 7)
        for implant in (date(by_year - 7, 2, 1) + timedelta(days=d) for d in range(45)):
            limit = PumpProfile(model="synchromed2_20", implant_date=implant).end_of_service_date
            assert (limit <= by) == (implant <= cutoff), (by, implant)


def statuses_both_ways(patient) -> tuple[list[str], list[str]]:
    annotated = selectors.with_statuses(Patient.objects.filter(pk=patient.pk), NOW).get()
    in_database = [name for name in selectors.ORDER if getattr(annotated, f"is_{name}")]
    return in_database, selectors.statuses_of(annotated, NOW)


@pytest.mark.parametrize(
    ("pump", "near"),
    [
        ({"eri_date": TODAY}, True),  # end of service in exactly 90 days
        ({"eri_date": TODAY + timedelta(days=1)}, False),
        ({"implant_date": selectors.latest_implant_date(TODAY + timedelta(days=90), 7)}, True),
        ({"implant_date": selectors.latest_implant_date(TODAY + timedelta(days=90), 7) + timedelta(days=1)}, False),
        ({"model": "prometra2_20", "implant_date": date(2010, 1, 1), "alarm_volume_ml": 3}, False),  # no battery rule
        ({"model": "prometra2_20", "eri_date": TODAY - timedelta(days=400)}, True),  # passed long ago
    ],
)
def test_end_of_service_near_at_its_edges(world, pump, near):
    give_pump(world.patient, **pump)
    in_database, in_python = statuses_both_ways(world.patient)
    assert in_database == in_python
    assert ("end_of_service_near" in in_database) is near


@pytest.mark.parametrize(
    ("due", "empty", "expected"),
    [
        (NOW, NOW + timedelta(days=4), ["overdue"]),
        (NOW + timedelta(seconds=1), NOW + timedelta(days=4), ["ok"]),
        (NOW - timedelta(days=4), NOW, ["empty", "overdue"]),
        (None, None, ["ok"]),  # no forecast
    ],
)
def test_due_and_empty_at_the_very_instant(world, due, empty, expected):
    world.patient.delete()
    [patient] = bulk_patients(world.clinic, 1)
    RefillCycle.objects.filter(patient=patient).update(refill_due_at=due, empty_at=empty)
    in_database, in_python = statuses_both_ways(patient)
    assert in_database == in_python == expected


def test_due_soon_holds_for_a_patient_nobody_can_be_reminded(world):
    """The first step's instant is kept on the cycle, so "due soon" does not wait for reminder
    rows, which a patient with no account and no caregiver has none of."""
    from tests.factories import PatientFactory, pump_with_refill

    alone = PatientFactory(clinic=world.clinic, user=None, time_zone="America/Chicago")
    cycle = pump_with_refill(alone, by=world.staff, at=NOW - timedelta(days=25))  # due in 11 days
    assert not cycle.deliveries.filter(kind__startswith="step_").exists()
    assert alone.queue_items.filter(kind="nobody_to_remind", resolved_at__isnull=True).exists()
    assert cycle.first_step_at is not None and cycle.first_step_at <= NOW < cycle.refill_due_at
    in_database, in_python = statuses_both_ways(alone)
    assert in_database == in_python == ["due_soon"]


def test_the_migration_fills_the_first_step_of_open_cycles(world):
    import importlib

    from django.apps import apps

    from tests.factories import pump_with_refill

    cycle = pump_with_refill(world.patient, by=world.staff, at=NOW - timedelta(days=25))
    planned = cycle.first_step_at
    RefillCycle.objects.filter(pk=cycle.pk).update(first_step_at=None)
    importlib.import_module("refills.migrations.0003_cycle_first_step_at").fill(apps, None)
    assert RefillCycle.objects.get(pk=cycle.pk).first_step_at == planned


def test_a_patient_no_longer_active_is_not_due_soon(world):
    from patients import services as patient_services
    from tests.factories import pump_with_refill

    pump_with_refill(world.patient, by=world.staff, at=NOW - timedelta(days=25))
    assert statuses_both_ways(world.patient) == (["due_soon"], ["due_soon"])
    patient = Patient.objects.get(pk=world.patient.pk)
    patient_services.update_patient(by=world.staff, patient=patient, changes={"status": Patient.Status.TRANSFERRED})
    cycle = RefillCycle.objects.get(patient=patient, ended_at__isnull=True)
    assert cycle.refill_due_at is None and cycle.first_step_at is None
    assert statuses_both_ways(patient) == (["ok"], ["ok"])  # the list shows "Transferred" beside it
