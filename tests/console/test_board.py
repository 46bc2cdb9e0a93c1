"""The refill board: refills due in the next 30 days by day on the clinic's clock, overdue and
empty on top, appointments and end-of-service dates shown; the same rows as CSV; one audit row
per request; only the staff's own clinics; the same queries for 1 patient or 200."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client

from patients.models import AuditEvent, Patient
from refills.models import RefillCycle

from .test_patients_fixtures import AGES, NOW, TODAY, bulk_patients, client_for, pumped

pytestmark = pytest.mark.usefixtures("frozen")  # tests/console/conftest.py: time stands still at NOW
BOARD, CSV = "/clinic/board/", "/clinic/board.csv"
HEADER = ["patient_id", "name", "status", "refill_due", "empty_at", "appointment", "end_of_service"]


@pytest.fixture
def board(world):
    clinic, by = world.clinic, world.staff
    people = {
        "empty": pumped(clinic, by, "Zoe Empty", days_ago=AGES["empty"]),
        "overdue": pumped(clinic, by, "Yuri Overdue", days_ago=AGES["overdue"]),
        "soon": pumped(clinic, by, "Xena Soon", days_ago=AGES["due_soon"]),  # due Wednesday 2 December
        # Due at 03:00 UTC on 2 December: 21:00 on Tuesday 1 December on the clinic's clock.
        "london": pumped(clinic, by, "Lou London", days_ago=AGES["due_soon"] + 0.5, time_zone="Europe/London"),
        # ERI 70 days ago: end of service (ERI + 90 days) on Friday 11 December; the refill is later.
        "battery": pumped(clinic, by, "Bea Battery", pump={"eri_date": TODAY - timedelta(days=70)}),
        "battery_passed": pumped(clinic, by, "Pia Passed", pump={"eri_date": TODAY - timedelta(days=100)}),
        "later": pumped(clinic, by, "Uma Later", days_ago=AGES["ok"]),  # due in 35 days: not on the board
        "moved": pumped(clinic, by, "Tom Moved", days_ago=AGES["due_soon"]),
    }
    Patient.objects.filter(pk=people["moved"].pk).update(status=Patient.Status.TRANSFERRED)
    cycle = RefillCycle.objects.get(patient=people["soon"], ended_at__isnull=True)
    cycle.appointment_at = NOW + timedelta(days=9, hours=1)  # Monday 30 November, 10:00 CST
    cycle.save()
    return people


def sections(response) -> list[tuple[str, list[str]]]:
    """(heading, patient names) for each section of the board, in order."""
    html = response.content.decode()
    found = []
    for part in html.split("<section")[1:]:
        heading = re.search(r"<h2[^>]*>([^<]+)</h2>", part).group(1).strip()
        found.append((heading, re.findall(r'<th scope="row"><a href="/clinic/patients/\d+/">([^<]+)</a>', part)))
    return found


def row_text(response, name: str) -> str:
    html = response.content.decode()
    start = html.index(f">{name}</a>")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start : html.index("</tr>", start)]))


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_grouped_by_day_on_the_clinics_clock_with_what_needs_action_now_on_top(world, board):
    response = client_for(world.staff).get(BOARD)
    assert response.status_code == 200
    assert sections(response) == [
        (
            "Needs action now: overdue, predicted empty or end of service passed",
            ["Zoe Empty", "Yuri Overdue", "Pia Passed"],
        ),
        ("Tuesday 1 December", ["Lou London"]),
        ("Wednesday 2 December", ["Xena Soon"]),
        ("Friday 11 December", ["Bea Battery"]),
    ]


def test_rows_show_statuses_dates_appointments_and_end_of_service(world, board):
    response = client_for(world.staff).get(BOARD)
    assert "Predicted empty, Refill overdue" in row_text(response, "Zoe Empty")
    soon = row_text(response, "Xena Soon")
    assert "Refill due soon" in soon
    assert "Wednesday 2 December 2026 at 09:00 CST" in soon
    assert "Sunday 6 December 2026 at 09:00 CST" in soon  # predicted empty
    assert "Monday 30 November 2026 at 10:00 CST" in soon  # the booked appointment
    assert "Tuesday 1 December 2026 at 21:00 CST" in row_text(response, "Lou London")
    battery = row_text(response, "Bea Battery")
    assert "End of service near" in battery
    assert "Friday 11 December 2026" in battery
    assert "Wednesday 11 November 2026" in row_text(response, "Pia Passed")  # passed 10 days ago


def test_the_csv_has_the_same_rows_and_no_free_text(world, board):
    client = client_for(world.staff)
    response = client.get(CSV)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="refill-board-2026-11-21.csv"'
    rows = csv_of(response)
    assert rows[0] == HEADER
    board_names = [name for _, names in sections(client.get(BOARD)) for name in names]
    assert [r[1] for r in rows[1:]] == board_names
    by_name = {r[1]: r for r in rows[1:]}
    soon = board["soon"]
    assert by_name["Xena Soon"] == [
        str(soon.pk),
        "Xena Soon",
        "Refill due soon",
        "2026-12-02T09:00:00-06:00",
        "2026-12-06T09:00:00-06:00",
        "2026-11-30T10:00:00-06:00",
        "2032-01-01",  # implant + 7 years: SynchroMed II
    ]
    assert by_name["Lou London"][3] == "2026-12-02T03:00:00+00:00"  # the patient's own offset
    assert by_name["Zoe Empty"][2] == "Predicted empty; Refill overdue"
    assert by_name["Bea Battery"][3:7] == ["", "2026-12-30T09:00:00-06:00", "", "2026-12-11"]


def test_the_csv_carries_no_notes_and_no_formulas(world):
    patient = pumped(world.clinic, world.staff, "=HYPERLINK(1)", days_ago=AGES["due_soon"])
    event = patient.pump_events.get()
    event.note = "private clinical note"
    event.save()
    body = client_for(world.staff).get(CSV).content.decode()
    assert "private clinical note" not in body
    assert csv_of(client_for(world.staff).get(CSV))[1][1] == "'=HYPERLINK(1)"


def test_one_audit_row_per_request(world, board):
    for url, what in ((BOARD, "refill_board"), (CSV, "refill_board_csv")):
        before = AuditEvent.objects.count()
        client_for(world.staff).get(url)
        assert AuditEvent.objects.count() == before + 1
        row = AuditEvent.objects.latest("pk")
        assert (row.action, row.what, row.actor_id) == ("list", what, world.staff.pk)
        shown = ["empty", "overdue", "soon", "london", "battery", "battery_passed"]
        assert row.patient_ids == sorted(board[key].pk for key in shown)


def test_only_the_staffs_own_clinics(world, board):
    other_clinic = world.other_clinic_staff.memberships.get().clinic
    pumped(other_clinic, world.other_clinic_staff, "Oscar Other", days_ago=AGES["overdue"])
    assert "Oscar Other" not in client_for(world.staff).get(BOARD).content.decode()
    other = client_for(world.other_clinic_staff)
    assert [names for _, names in sections(other.get(BOARD))] == [["Oscar Other"]]
    assert [r[1] for r in csv_of(other.get(CSV))[1:]] == ["Oscar Other"]


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "other_caregiver"])
def test_patients_and_caregivers_get_404(world, board, who):
    client = client_for(getattr(world, who))
    assert client.get(BOARD).status_code == 404
    assert client.get(CSV).status_code == 404


def test_anonymous_is_sent_to_log_in(world):
    for url in (BOARD, CSV):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_an_empty_board_says_so(world):
    assert "Nothing is due in the next 30 days." in client_for(world.staff).get(BOARD).content.decode()
    assert csv_of(client_for(world.staff).get(CSV)) == [HEADER]


@pytest.mark.parametrize("url", [BOARD, CSV])
def test_the_same_queries_for_one_patient_and_for_two_hundred(world, url, django_assert_max_num_queries):
    bulk_patients(world.clinic, 1, prefix="First")
    client = client_for(world.staff)
    client.get(url)  # the session settles
    with django_assert_max_num_queries(12) as one:
        response = client.get(url)
    assert "First 000" in response.content.decode()
    bulk_patients(world.clinic, 199)
    with django_assert_max_num_queries(len(one)) as many:
        response = client.get(url)
    assert len(many) == len(one)
    assert response.content.decode().count("Bulk ") == 199
