"""The statuses worked out in the database (console.selectors.with_statuses) agree with
refills.statuses.statuses at the edges: the instant a refill falls due or the pump runs dry,
and the first day end of service counts as near (ERI + 90 days, or a SynchroMed II's 7 years,
29 February included)."""

from datetime import date, timedelta

import pytest

from ibt_companion.console import selectors
from patients.models import Patient
from refills.models import PumpProfile, RefillCycle

from .test_patients_fixtures import NOW, TODAY, bulk_patients, frozen, give_pump

frozen = pytest.fixture(autouse=True)(frozen)


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
