"""The clinic's patient list: statuses in words, search, filters, the urgency order, pagination,
who may see it, one audit row per request, and the same queries for 1 patient or 200."""

import re
from datetime import timedelta

import pytest
from django.test import Client

from console import selectors
from patients.models import AuditEvent, Patient
from tests.factories import MembershipFactory

from .test_patients_fixtures import NOW, bulk_patients, client_for, one_of_each, pumped

URL = "/clinic/patients/"
pytestmark = pytest.mark.usefixtures("frozen")  # tests/console/conftest.py: time stands still at NOW


def names(response) -> list[str]:
    """The patient names in the table, in order."""
    html = response.content.decode()
    return re.findall(r'<th scope="row"><a href="/clinic/patients/\d+/">([^<]+)</a>', html)


def row_of(response, name: str) -> str:
    html = response.content.decode()
    start = html.index(f">{name}</a>")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start : html.index("</tr>", start)]))


@pytest.fixture
def each(world):
    return one_of_each(world.clinic, world.staff)


def test_each_status_is_shown_in_words(world, each):
    response = client_for(world.staff).get(URL)
    assert response.status_code == 200
    assert "Predicted empty, Refill overdue" in row_of(response, "Zoe Empty")
    assert "Refill overdue" in row_of(response, "Yuri Overdue")
    assert "Refill due soon" in row_of(response, "Xena Soon")
    assert "Refill discrepancy" in row_of(response, "Will Discrepancy")
    assert "End of service near" in row_of(response, "Vera Battery")
    assert " OK " in row_of(response, "Uma Fine")


def test_a_row_shows_the_refill_date_on_the_patients_clock_the_days_left_and_the_appointment(world, each):
    patient = each["due_soon"]  # refilled 25 days ago: due in 11 days
    cycle = patient.refill_cycles.get(ended_at__isnull=True)
    cycle.appointment_at = NOW + timedelta(days=9, hours=1)
    cycle.save()
    row = row_of(client_for(world.staff).get(URL), "Xena Soon")
    due = cycle.refill_due_at  # Wednesday 2 December 2026, 09:00 in Chicago
    assert due.isoformat().startswith("2026-12-02T15:00")
    assert "Wednesday 2 December 2026" in row
    assert "in 11 days" in row
    assert "Monday 30 November 2026 at 10:00 CST" in row
    overdue = row_of(client_for(world.staff).get(URL), "Yuri Overdue")
    assert "1 day late" in overdue
    assert "None booked" in overdue


def test_most_urgent_first_then_the_earliest_refill(world, each):
    later_ok = pumped(world.clinic, world.staff, "Abe Fine", days_ago=0.5)  # due half a day after Uma
    response = client_for(world.staff).get(URL)
    expected = ["Zoe Empty", "Yuri Overdue", "Xena Soon", "Will Discrepancy", "Vera Battery", "Uma Fine"]
    listed = names(response)
    assert listed[: len(expected)] == expected
    assert listed.index("Uma Fine") < listed.index(later_ok.full_name)
    # The world's own patients have no refill date: OK, and after everyone with one.
    assert listed[-2:] == sorted([world.patient.full_name, world.other_patient.full_name])


def test_the_database_agrees_with_refills_statuses(world, each):
    annotated = selectors.with_statuses(Patient.objects.filter(clinic=world.clinic), NOW)
    for patient in annotated:
        found = selectors.statuses_of(patient, NOW)
        flags = [name for name in selectors.ORDER if getattr(patient, f"is_{name}")]
        assert flags == found, patient.full_name
        assert patient.status_rank == selectors.ORDER.index(found[0])


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (["empty"], ["Zoe Empty"]),
        (["overdue"], ["Zoe Empty", "Yuri Overdue"]),
        (["due_soon"], ["Xena Soon"]),
        (["discrepancy"], ["Will Discrepancy"]),
        (["end_of_service_near"], ["Vera Battery"]),
        (["discrepancy", "due_soon"], ["Xena Soon", "Will Discrepancy"]),
    ],
)
def test_filter_by_status(world, each, wanted, expected):
    response = client_for(world.staff).get(URL, {"status": wanted})
    assert names(response) == expected
    for name in wanted:  # the ticked boxes stay ticked
        assert re.search(rf'<input type="checkbox" name="status" value="{name}"[^>]*checked', response.content.decode())


def test_filter_ok(world, each):
    listed = names(client_for(world.staff).get(URL, {"status": "ok"}))
    assert "Uma Fine" in listed
    assert not {"Zoe Empty", "Yuri Overdue", "Xena Soon", "Will Discrepancy", "Vera Battery"} & set(listed)


def test_filter_by_patient_status(world, each):
    Patient.objects.filter(pk=each["ok"].pk).update(status=Patient.Status.TRANSFERRED)
    Patient.objects.filter(pk=each["empty"].pk).update(status=Patient.Status.DECEASED)
    client = client_for(world.staff)
    assert names(client.get(URL, {"state": "transferred"})) == ["Uma Fine"]
    assert names(client.get(URL, {"state": ["transferred", "deceased"]})) == ["Zoe Empty", "Uma Fine"]
    assert "Transferred" in row_of(client.get(URL, {"state": "transferred"}), "Uma Fine")
    assert "Zoe Empty" not in names(client.get(URL, {"state": "active"}))


def test_search_by_name_or_e_mail(world, each):
    client = client_for(world.staff)
    assert names(client.get(URL, {"q": "xena"})) == ["Xena Soon"]
    assert names(client.get(URL, {"q": each["overdue"].email.upper()})) == ["Yuri Overdue"]
    assert names(client.get(URL, {"q": "Battery", "status": "ok"})) == []
    response = client.get(URL, {"q": "nobody by this name"})
    assert "No patients match" in response.content.decode()


def test_unknown_filter_values_are_an_error_not_a_crash(world, each):
    response = client_for(world.staff).get(URL, {"status": "nonsense", "page": "x"})
    assert response.status_code == 200
    assert 'class="error-summary"' in response.content.decode()
    assert len(names(response)) == 8


def test_fifty_a_page_with_the_filters_kept(world):
    bulk_patients(world.clinic, 120)
    client = client_for(world.staff)
    first = client.get(URL, {"q": "bulk"})
    assert len(names(first)) == 50
    assert "Page 1 of 3" in first.content.decode()
    assert "q=bulk&amp;page=2" in first.content.decode()
    third = client.get(URL, {"q": "bulk", "page": 3})
    assert len(names(third)) == 20
    every = names(first) + names(client.get(URL, {"q": "bulk", "page": 2})) + names(third)
    assert len(set(every)) == 120  # nobody twice, nobody missed
    due = [Patient.objects.get(full_name=name).refill_cycles.get(ended_at__isnull=True).refill_due_at for name in every]
    assert due == sorted(due)


def test_one_audit_row_per_request_listing_the_patients_shown(world, each):
    before = AuditEvent.objects.count()
    client_for(world.staff).get(URL, {"status": "overdue"})
    assert AuditEvent.objects.count() == before + 1
    row = AuditEvent.objects.latest("pk")
    assert (row.action, row.what, row.actor_id) == ("list", "patient_list", world.staff.pk)
    assert row.patient_ids == sorted([each["empty"].pk, each["overdue"].pk])


def test_staff_see_only_their_own_clinics_patients(world, each):
    elsewhere = pumped(world.other_clinic_staff.memberships.get().clinic, world.other_clinic_staff, "Out Side")
    assert "Out Side" not in names(client_for(world.staff).get(URL))
    other = client_for(world.other_clinic_staff).get(URL)
    assert names(other) == [elsewhere.full_name]


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "revoked_caregiver", "other_caregiver"])
def test_patients_and_caregivers_get_404(world, each, who):
    before = AuditEvent.objects.count()
    assert client_for(getattr(world, who)).get(URL).status_code == 404
    assert AuditEvent.objects.count() == before


def test_anonymous_is_sent_to_log_in(world):
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_nav_links_show_for_staff_only(world):
    staff_page = client_for(world.staff).get("/").content.decode()
    assert 'href="/clinic/patients/"' in staff_page
    assert 'href="/clinic/board/"' in staff_page
    patient_page = client_for(world.patient_user).get("/").content.decode()
    assert 'href="/clinic/patients/"' not in patient_page
    admin = MembershipFactory(clinic=world.clinic, role="admin").user
    assert 'href="/clinic/board/"' in client_for(admin).get("/").content.decode()


def test_the_same_queries_for_one_row_and_for_two_hundred(world, django_assert_max_num_queries):
    world.patient.delete()
    world.other_patient.delete()
    bulk_patients(world.clinic, 1, prefix="First")
    client = client_for(world.staff)
    client.get(URL)  # the session settles
    with django_assert_max_num_queries(12) as one:
        assert len(names(client.get(URL))) == 1
    bulk_patients(world.clinic, 199)
    with django_assert_max_num_queries(len(one)) as many:
        assert len(names(client.get(URL))) == 50
    assert len(many) == len(one)
    # And with a search and filters.
    with django_assert_max_num_queries(len(one)):
        assert len(names(client.get(URL, {"q": "bulk", "status": ["ok", "due_soon"], "state": "active"}))) == 50
