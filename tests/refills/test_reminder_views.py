"""The reminder plan as people see it: the staff page and the API of a patient's plan and
deliveries, the booked refill appointment, the private calendar feed, and the end-of-service
notices (SPEC §5, §8). Time is frozen in early March 2026; ticks get `now` passed in."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from patients.models import AuditEvent, Patient
from refills import appointments, services
from refills.models import Delivery, RefillCycle
from refills.notify import planning
from refills.web.plan_views import feed_token
from tests.helpers import client_for as as_user
from tests.helpers import post_json
from tests.refills.helpers import tick_and_send as run

pytestmark = pytest.mark.usefixtures("early_march")  # tests/conftest.py: time stands still at EARLY_MARCH

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # EARLY_MARCH: the clock stands still here
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}
# 0.5 mL/day; 18 mL to the 2 mL alarm = 36 days → due 6 April 15:00Z (10:00 CDT).
DUE = datetime(2026, 4, 6, 15, 0, tzinfo=UTC)
STEP_14 = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)  # 09:00 CDT


def plan_url(world):
    return f"/patients/{world.patient.pk}/reminders/"


def api_url(world, query=""):
    return f"/api/v1/patients/{world.patient.pk}/reminders/{query}"


def appointment_api(world):
    return f"/api/v1/patients/{world.patient.pk}/appointment/"


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def add_rows(cycle, world, n: int) -> None:
    """n more delivery rows on the cycle, for several recipients (one no longer linked)."""
    keys = [f"user:{world.patient_user.pk}", f"user:{world.caregiver.pk}", f"clinic:{world.clinic.pk}", "user:0"]
    Delivery.objects.bulk_create(
        Delivery(
            key=f"test:{cycle.pk}:{i}",
            patient=world.patient,
            cycle=cycle,
            kind="overdue",
            occasion=f"2026-04-{i % 28 + 1:02d}",
            recipient=keys[i % 4],
            recipient_user=world.revoked_caregiver if keys[i % 4] == "user:0" else None,
            channel="email",
            due_at=DUE + timedelta(days=i),
            next_attempt_at=DUE + timedelta(days=i),
        )
        for i in range(n)
    )


# --- The staff page --------------------------------------------------------------------------


def test_staff_see_each_message_in_the_patients_zone_and_every_row(cycle, world):
    text = page_text(as_user(world.staff).get(plan_url(world)))
    assert "Reminders for Pat Home" in text
    assert "Book your refill (14 days before)" in text
    assert "Monday 23 March 2026 at 09:00 CDT" in text  # the 14-day step, on the patient's clock
    assert "Sunday 5 April 2026 at 09:00 CDT" in text  # the 1-day step
    assert "Monday 6 April 2026 at 10:00 CDT" in text  # refill due, and the overdue message
    assert "Patient: Pat Home" in text
    assert f"Caregiver: {world.caregiver.full_name}" in text
    assert "Clinic: Home Clinic" in text
    assert "E-mail" in text and "Message in the app" in text
    assert "Waiting to be sent" in text
    # Role and name, never an address.
    assert "carer@home.example" not in text and "patient@home.example" not in text


def test_sent_failed_and_skipped_rows_say_so_in_words(cycle, world):
    run(STEP_14)
    failed = Delivery.objects.get(cycle=cycle, kind="step_7", recipient=f"user:{world.caregiver.pk}")
    failed.status, failed.attempts, failed.last_error = "failed", 2, "SMTP 451"
    failed.next_attempt_at = datetime(2026, 3, 30, 14, 4, tzinfo=UTC)
    failed.save()
    planning.acknowledge(cycle, f"user:{world.caregiver.pk}", now=STEP_14 + timedelta(hours=1))
    text = page_text(as_user(world.staff).get(plan_url(world)))
    assert "Sent" in text and "Monday 23 March 2026 at 09:00 CDT" in text
    assert "Not sent yet: will try again" in text and "SMTP 451" in text
    assert "Monday 30 March 2026 at 09:04 CDT" in text  # the next attempt
    assert "Not sent: no longer needed" in text and "acknowledged" in text
    assert "Yes: the 14-day and 3-day reminders are cancelled for everyone" in text
    assert f"Caregiver: {world.caregiver.full_name}, Monday 23 March 2026 at 10:00 CDT" in text


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "other_clinic_staff", "revoked_caregiver"])
def test_only_the_patients_clinic_staff_reach_the_page(cycle, world, who):
    assert as_user(getattr(world, who)).get(plan_url(world)).status_code == 404
    assert as_user(world.admin).get(plan_url(world)).status_code == 200
    assert Client().get(plan_url(world)).status_code == 302


def test_staff_reads_are_audited(cycle, world):
    as_user(world.staff).get(plan_url(world))
    as_user(world.staff).get(api_url(world))
    assert AuditEvent.objects.filter(actor=world.staff, what="reminders", patient_id=world.patient.pk).count() == 2


def test_no_refill_yet_is_said_in_words(world):
    text = page_text(as_user(world.staff).get(plan_url(world)))
    assert "There is no refill date yet" in text and "Nothing is planned." in text


def test_page_and_api_queries_do_not_grow_with_the_deliveries(cycle, world):
    Delivery.objects.filter(cycle=cycle).delete()
    add_rows(cycle, world, 1)
    client = as_user(world.staff)
    client.get(plan_url(world))  # the session's first request does a little more

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    one = count(plan_url(world)), count(api_url(world))
    Delivery.objects.filter(cycle=cycle).delete()
    add_rows(cycle, world, 50)
    assert Delivery.objects.filter(cycle=cycle).count() == 50
    fifty = count(plan_url(world)), count(api_url(world))
    assert fifty == one, (one, fifty)


def test_a_caregiver_no_longer_linked_is_named_as_such(cycle, world):
    add_rows(cycle, world, 4)
    assert f"Former caregiver: {world.revoked_caregiver.full_name}" in page_text(
        as_user(world.staff).get(plan_url(world))
    )


def test_a_bad_page_number_is_not_an_error(cycle, world):
    assert as_user(world.staff).get(plan_url(world) + "?page=abc").status_code == 200
    assert as_user(world.staff).get(plan_url(world) + "?page=999").status_code == 200


# --- The API -----------------------------------------------------------------------------------


def test_staff_get_the_plan_and_every_delivery(cycle, world):
    body = as_user(world.staff).get(api_url(world)).json()
    plan = body["plan"]
    assert plan["zone"] == "America/Chicago"
    assert plan["cycle"]["id"] == cycle.pk
    assert plan["cycle"]["refill_due_at"] == "2026-04-06T10:00:00-05:00"
    assert plan["acknowledged"] is False
    steps = {s["kind"]: s for s in plan["steps"]}
    assert steps["step_14"]["due_at"] == "2026-03-23T09:00:00-05:00"
    assert steps["step_14"]["statuses"] == {"pending": 3}  # patient e-mail and inbox, caregiver e-mail
    assert steps["overdue_clinic"]["due_at"] == "2026-04-06T10:00:00-05:00"
    assert body["count"] == Delivery.objects.filter(cycle=cycle).count() == len(body["results"])
    recipients = {r["recipient"] for r in body["results"]}
    assert recipients == {f"user:{world.patient_user.pk}", f"user:{world.caregiver.pk}", f"clinic:{world.clinic.pk}"}
    row = next(r for r in body["results"] if r["kind"] == "step_7" and r["channel"] == "inbox")
    assert row["recipient_role"] == "patient" and row["recipient_name"] == "Pat Home"
    assert row["status"] == "pending" and row["status_words"] == "Waiting to be sent"
    assert row["next_attempt_at"] == row["due_at"] == "2026-03-30T09:00:00-05:00"
    assert row["sent_at"] is None and row["attempts"] == 0


@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
def test_patient_and_caregiver_see_only_their_own_rows(cycle, world, who):
    user = getattr(world, who)
    planning.acknowledge(cycle, f"user:{world.staff.pk}")  # someone else's acknowledgement
    response = as_user(user).get(api_url(world))
    assert response.status_code == 200
    body = response.json()
    assert body["results"] and {r["recipient"] for r in body["results"]} == {f"user:{user.pk}"}
    assert body["count"] == Delivery.objects.filter(cycle=cycle, recipient=f"user:{user.pk}").count()
    assert body["plan"]["acknowledged"] is True and body["plan"]["acknowledgements"] == []
    assert "overdue_clinic" not in {s["kind"] for s in body["plan"]["steps"]}
    raw = response.content.decode()
    for other in {world.patient_user, world.caregiver, world.staff} - {user}:
        assert f'user:{other.pk}"' not in raw and other.email not in raw
    assert f"clinic:{world.clinic.pk}" not in raw and world.clinic.alert_email not in raw


@pytest.mark.parametrize("who", ["other_clinic_staff", "revoked_caregiver", "other_caregiver"])
def test_outsiders_get_404_and_anonymous_401(cycle, world, who):
    assert as_user(getattr(world, who)).get(api_url(world)).status_code == 404
    assert Client().get(api_url(world)).status_code == 401


def test_the_deliveries_are_paginated(cycle, world):
    add_rows(cycle, world, 60)
    total = Delivery.objects.filter(cycle=cycle).count()
    client = as_user(world.staff)
    first = client.get(api_url(world)).json()
    assert first["count"] == total and len(first["results"]) == 50 and first["next"]
    second = client.get(api_url(world, "?page=2")).json()
    assert len(second["results"]) == total - 50 and second["previous"] and second["next"] is None
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])
    assert second["plan"] == first["plan"]


def test_no_open_cycle_answers_an_empty_plan(world):
    body = as_user(world.patient_user).get(api_url(world)).json()
    assert body["plan"]["cycle"] is None and body["plan"]["steps"] == [] and body["count"] == 0


# --- The booked appointment: service ------------------------------------------------------------


def step_kinds(cycle, status="pending"):
    return set(Delivery.objects.filter(cycle=cycle, status=status).values_list("kind", flat=True))


def test_booking_drops_the_book_your_refill_step_raises_sequence_and_is_audited(cycle, world):
    at = datetime(2026, 4, 2, 19, 30, tzinfo=UTC)  # 14:30 CDT, before the refill date
    booked = appointments.book_appointment(world.patient, at, world.staff)
    cycle.refresh_from_db()
    assert cycle.appointment_at == at and booked.warning == ""
    assert booked.cycle.sequence == cycle.sequence == 2
    assert "step_14" not in step_kinds(cycle) and {"step_7", "step_3", "step_1", "overdue"} <= step_kinds(cycle)
    assert not Delivery.objects.filter(cycle=cycle, kind="step_14").exists()
    assert AuditEvent.objects.filter(actor=world.staff, what="refill_appointment", action="update").exists()
    # Removing it brings the step back.
    appointments.book_appointment(world.patient, None, world.staff)
    cycle.refresh_from_db()
    assert cycle.appointment_at is None and cycle.sequence == 3 and "step_14" in step_kinds(cycle)


def test_an_appointment_after_the_refill_date_is_saved_with_a_warning(cycle, world):
    booked = appointments.book_appointment(world.patient, DUE + timedelta(days=2), world.staff)
    assert booked.warning == "This appointment is after the refill due date: the pump may alarm or run low first."
    cycle.refresh_from_db()
    assert cycle.appointment_at == DUE + timedelta(days=2)


def test_a_sent_step_is_not_planned_again(cycle, world):
    run(STEP_14)
    appointments.book_appointment(world.patient, datetime(2026, 4, 1, 15, 0, tzinfo=UTC), world.staff, now=STEP_14)
    assert Delivery.objects.filter(cycle=cycle, kind="step_14", status="sent").count() == 3
    assert Delivery.objects.filter(cycle=cycle, kind="step_7", status="pending").count() == 3


@pytest.mark.parametrize(
    "at, message",
    [
        (NOW - timedelta(minutes=1), "The appointment cannot be in the past."),
        (NOW + timedelta(days=366), "The appointment must be within a year from now."),
    ],
)
def test_bad_appointments_are_refused(cycle, world, at, message):
    with pytest.raises(services.ValidationError) as caught:
        appointments.book_appointment(world.patient, at, world.staff)
    assert caught.value.message_dict == {"appointment_at": [message]}
    cycle.refresh_from_db()
    assert cycle.appointment_at is None and cycle.sequence == 1


# --- The booked appointment: page -----------------------------------------------------------------


def appointment_page(world):
    return f"/patients/{world.patient.pk}/appointment/"


def test_staff_book_on_the_patients_clock(cycle, world):
    client = as_user(world.staff)
    assert "Monday 6 April 2026 at 10:00 CDT" in page_text(client.get(appointment_page(world)))
    response = client.post(appointment_page(world), {"date": "2026-04-02", "time": "14:30"}, follow=True)
    assert response.redirect_chain[-1][0] == plan_url(world)
    cycle.refresh_from_db()
    assert cycle.appointment_at == datetime(2026, 4, 2, 19, 30, tzinfo=UTC)
    text = page_text(response)
    assert "The appointment is saved" in text and "Thursday 2 April 2026 at 14:30 CDT" in text
    assert "is left out because an appointment is booked" in text
    # The form shows the booked time again.
    form = page_text(client.get(appointment_page(world)))
    assert 'value="2026-04-02"' in form and 'value="14:30"' in form


def test_a_late_appointment_is_saved_and_staff_are_warned(cycle, world):
    response = as_user(world.staff).post(appointment_page(world), {"date": "2026-04-08", "time": "09:00"}, follow=True)
    assert "after the refill due date: the pump may alarm or run low first" in page_text(response)
    cycle.refresh_from_db()
    assert cycle.appointment_at == datetime(2026, 4, 8, 14, 0, tzinfo=UTC)


def test_staff_remove_the_appointment(cycle, world):
    appointments.book_appointment(world.patient, DUE - timedelta(days=1), world.staff)
    response = as_user(world.staff).post(appointment_page(world), {"action": "remove"}, follow=True)
    assert "The appointment is removed." in page_text(response)
    cycle.refresh_from_db()
    assert cycle.appointment_at is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "This field is required."),
        ({"date": "2026-13-45", "time": "14:30"}, "Enter a valid date."),
        ({"date": "2026-04-02", "time": "25:99"}, "Enter a valid time."),
        ({"date": "2026-03-01", "time": "09:00"}, "The appointment cannot be in the past."),
        ({"date": "2026-03-08", "time": "02:30"}, "The clocks change at that time, so it does not exist."),
        ({"date": "2026-04-02", "time": "14:30", "x": "\x00" * 5}, None),
    ],
)
def test_bad_input_shows_errors_and_saves_nothing(cycle, world, data, message):
    response = as_user(world.staff).post(appointment_page(world), data)
    cycle.refresh_from_db()
    if message is None:  # unknown fields are ignored
        assert response.status_code == 302
        return
    assert response.status_code == 200
    assert message in page_text(response)
    assert cycle.appointment_at is None and cycle.sequence == 1


def test_without_a_refill_there_is_nothing_to_book(world):
    client = as_user(world.staff)
    assert "Record a refill first" in page_text(client.get(appointment_page(world)))
    response = client.post(appointment_page(world), {"date": "2026-04-02", "time": "14:30"})
    assert response.status_code == 200 and "Record a refill first" in page_text(response)
    assert "Record a refill first" in page_text(client.post(appointment_page(world), {"action": "remove"}, follow=True))


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "other_clinic_staff"])
def test_only_staff_reach_the_appointment_page(cycle, world, who):
    client = as_user(getattr(world, who))
    assert client.get(appointment_page(world)).status_code == 404
    assert client.post(appointment_page(world), {"date": "2026-04-02", "time": "14:30"}).status_code == 404
    cycle.refresh_from_db()
    assert cycle.appointment_at is None


# --- The booked appointment: API ----------------------------------------------------------------


def test_api_books_and_removes(cycle, world):
    client = as_user(world.staff)
    response = post_json(client, appointment_api(world), {"appointment_at": "2026-04-02T14:30:00-05:00"})
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "appointment_at": "2026-04-02T14:30:00-05:00",
        "refill_due_at": "2026-04-06T10:00:00-05:00",
        "sequence": 2,
        "warning": "",
    }
    late = post_json(client, appointment_api(world), {"appointment_at": "2026-04-07T14:30:00Z"}).json()
    assert late["warning"].startswith("This appointment is after the refill due date")
    removed = client.delete(appointment_api(world))
    assert removed.status_code == 200 and removed.json()["appointment_at"] is None
    cycle.refresh_from_db()
    assert cycle.appointment_at is None and cycle.sequence == 4


@pytest.mark.parametrize(
    "body, field",
    [
        ({"appointment_at": "2026-04-02T14:30:00"}, "appointment_at"),  # no offset
        ({"appointment_at": "next Tuesday"}, "appointment_at"),
        ({}, "appointment_at"),
        ({"appointment_at": "2026-03-01T09:00:00Z"}, "appointment_at"),  # in the past
        ("[1, 2", "detail"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_api_bad_input_is_400_in_the_errors_shape(cycle, world, body, field):
    response = post_json(as_user(world.staff), appointment_api(world), body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    cycle.refresh_from_db()
    assert cycle.appointment_at is None


@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
def test_api_patient_and_caregiver_may_not_book(cycle, world, who):
    client = as_user(getattr(world, who))
    assert post_json(client, appointment_api(world), {"appointment_at": "2026-04-02T14:30:00Z"}).status_code == 403
    assert client.delete(appointment_api(world)).status_code == 403
    assert as_user(world.other_clinic_staff).delete(appointment_api(world)).status_code == 404


def test_api_without_a_refill_is_a_conflict(world):
    response = post_json(as_user(world.staff), appointment_api(world), {"appointment_at": "2026-04-02T14:30:00Z"})
    assert response.status_code == 409
    assert "Record a refill first" in response.json()["errors"]["appointment_at"][0]
    world.patient.status = Patient.Status.DECEASED
    world.patient.save()
    assert as_user(world.staff).delete(appointment_api(world)).status_code == 409


# --- The private calendar feed ------------------------------------------------------------------


def feed_path(patient, user=None):
    return f"/calendar/{feed_token(patient, user or patient.user)}.ics"


def test_anyone_with_the_link_gets_the_feed_without_names_or_doses(cycle, world):
    response = Client().get(feed_path(world.patient))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    ics = response.content.decode()
    assert f"UID:refill-cycle-{cycle.pk}@ibt-companion" in ics
    assert "SEQUENCE:1" in ics and "DTSTART:20260406T150000Z" in ics
    assert "SUMMARY:Pump refill due" in ics
    for private in ("Pat", "Home", "mcg", "mL", "baclofen", "dose"):
        assert private not in ics


def test_the_feed_follows_the_appointment_with_a_higher_sequence(cycle, world):
    appointments.book_appointment(world.patient, datetime(2026, 4, 2, 19, 30, tzinfo=UTC), world.staff)
    ics = Client().get(feed_path(world.patient)).content.decode()
    assert "SEQUENCE:2" in ics and "DTSTART:20260402T193000Z" in ics


def test_after_a_refill_the_feed_has_the_new_cycle(cycle, world):
    services.record_event(
        patient=world.patient,
        kind="refill",
        values={"volume_ml": "20", "aspirated_ml": "2", "program": SIMPLE},
        occurred_at=NOW - timedelta(hours=1),
        by=world.staff,
    )
    new = RefillCycle.objects.get(patient=world.patient, ended_at__isnull=True)
    ics = Client().get(feed_path(world.patient)).content.decode()
    assert f"UID:refill-cycle-{new.pk}@" in ics
    # The old cycle's event is now the refill itself: same UID, a higher SEQUENCE, the refill's time.
    old = re.search(rf"BEGIN:VEVENT\r\n(?:(?!END:VEVENT).)*UID:refill-cycle-{cycle.pk}@.*?END:VEVENT", ics, re.S)
    assert old, ics
    refilled_at = (NOW - timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    assert "SUMMARY:Pump refilled" in old.group(0) and f"DTSTART:{refilled_at}" in old.group(0)
    assert "SEQUENCE:2" in old.group(0) and "VALARM" not in old.group(0)


def test_a_cycle_an_explant_closed_leaves_the_feed(cycle, world):
    services.record_event(
        patient=world.patient, kind="explanted", values={}, occurred_at=NOW - timedelta(hours=1), by=world.staff
    )
    assert "BEGIN:VEVENT" not in Client().get(feed_path(world.patient)).content.decode()


def test_tampered_or_unknown_tokens_are_404(cycle, world):
    token = feed_token(world.patient, world.patient_user)
    assert Client().get(f"/calendar/{token[:-2]}xx.ics").status_code == 404
    assert Client().get("/calendar/nonsense.ics").status_code == 404
    other_salt = signing.Signer(salt="refills.ack").sign_object({"p": world.patient.pk})
    assert Client().get(f"/calendar/{other_salt}.ics").status_code == 404
    gone = signing.Signer(salt="refills.calendar").sign_object({"p": 10**9})
    assert Client().get(f"/calendar/{gone}.ics").status_code == 404
    not_an_id = signing.Signer(salt="refills.calendar").sign_object({"p": "1"})
    assert Client().get(f"/calendar/{not_an_id}.ics").status_code == 404


def test_the_token_names_the_patient_and_the_person_and_stays_the_same(world):
    assert feed_token(world.patient, world.caregiver) == feed_token(world.patient, world.caregiver)
    assert feed_token(world.patient, world.caregiver) != feed_token(world.other_patient, world.caregiver)
    assert feed_token(world.patient, world.caregiver) != feed_token(world.patient, world.staff)


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "staff"])
def test_the_link_is_offered_to_patient_caregivers_and_staff(cycle, world, who):
    client = as_user(getattr(world, who))
    detail = page_text(client.get(f"/patients/{world.patient.pk}/"))
    calendar_page = f"/patients/{world.patient.pk}/calendar/"
    assert f'href="{calendar_page}"' in detail
    assert (f'href="/patients/{world.patient.pk}/reminders/"' in detail) == (who == "staff")
    text = page_text(client.get(calendar_page))
    assert "Copy this link into your calendar app" in text
    assert f"/calendar/{feed_token(world.patient, getattr(world, who))}.ics" in text


@pytest.mark.parametrize("who", ["other_clinic_staff", "revoked_caregiver", "other_caregiver"])
def test_outsiders_get_no_link(world, who):
    assert as_user(getattr(world, who)).get(f"/patients/{world.patient.pk}/calendar/").status_code == 404


# --- End of service ---------------------------------------------------------------------------


def profile_values(**changes):
    return {
        "model": "synchromed2_20",
        "implant_date": date(2025, 1, 1),
        "alarm_volume_ml": None,
        "eri_date": date(2026, 9, 1),
        **changes,
    }


def test_end_of_service_notices_at_90_and_30_days_for_everyone(world):
    world.caregiver.notification_channels = ["email"]
    world.caregiver.save()
    services.save_profile(patient=world.patient, by=world.staff, values=profile_values())
    # ERI 1 September + 90 days = 30 November (09:00 CST on the patient's clock). The notices go
    # 90 and 30 calendar days before, at 09:00 on that clock: still CDT then (UTC-5), so 14:00Z,
    # not 90 × 24 hours before (10:00 CDT).
    day_90, day_30 = datetime(2026, 9, 1, 14, 0, tzinfo=UTC), datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
    rows = Delivery.objects.filter(patient=world.patient, kind__startswith="eos_")
    due = {(r.kind, r.recipient, r.channel): r.due_at for r in rows}
    patient, carer, clinic = f"user:{world.patient_user.pk}", f"user:{world.caregiver.pk}", f"clinic:{world.clinic.pk}"
    assert due == {
        ("eos_90", patient, "email"): day_90,
        ("eos_90", patient, "inbox"): day_90,
        ("eos_90", carer, "email"): day_90,
        ("eos_90", clinic, "email"): day_90,
        ("eos_30", patient, "email"): day_30,
        ("eos_30", patient, "inbox"): day_30,
        ("eos_30", carer, "email"): day_30,
        ("eos_30", clinic, "email"): day_30,
    }
    assert set(rows.values_list("status", flat=True)) == {"pending"}
    # Saving again plans nothing twice; the staff page lists them.
    services.save_profile(patient=world.patient, by=world.staff, values=profile_values())
    assert Delivery.objects.filter(patient=world.patient, kind__startswith="eos_").count() == 8
    text = page_text(as_user(world.staff).get(plan_url(world)))
    assert "Battery replacement: 90 days before end of service: Tuesday 1 September 2026 at 09:00 CDT" in text


def test_the_notices_go_out_and_say_the_date(world, mailoutbox):
    services.save_profile(patient=world.patient, by=world.staff, values=profile_values())
    statuses = run(datetime(2026, 9, 2, 15, 0, tzinfo=UTC))
    assert statuses and set(statuses) == {"sent"}
    assert any("Monday 30 November" in m.body for m in mailoutbox)
    assert {m.to[0] for m in mailoutbox} >= {world.clinic.alert_email, world.caregiver.email}


def test_a_new_pump_moves_the_notices(world):
    services.save_profile(patient=world.patient, by=world.staff, values=profile_values())
    services.record_event(
        patient=world.patient,
        kind="pump_replaced",
        values={
            "model": "synchromed2_20",
            "eri_date": "2032-03-01",
            "volume_ml": "20",
            "program": SIMPLE,
        },
        occurred_at=NOW - timedelta(hours=2),
        by=world.staff,
    )
    rows = Delivery.objects.filter(patient=world.patient, kind__startswith="eos_")
    # ERI 1 March 2032 + 90 days = 30 May 2032 (before the 7-year limit, 1 March 2033). The
    # notices: 1 March at 09:00 CST (15:00Z) and 30 April at 09:00 CDT (14:00Z).
    notices = {datetime(2032, 3, 1, 15, 0, tzinfo=UTC), datetime(2032, 4, 30, 14, 0, tzinfo=UTC)}
    assert set(rows.values_list("due_at", flat=True)) == notices


def test_the_end_of_service_date_at_the_reminder_hour_in_a_far_zone(world):
    world.patient.time_zone = "Pacific/Auckland"
    world.patient.save()
    profile = services.save_profile(patient=world.patient, by=world.staff, values=profile_values())
    # 30 November 2026 09:00 NZDT (UTC+13) = 29 November 20:00Z.
    assert services.end_of_service_at(world.patient, profile) == datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "staff"])
def test_a_new_link_cancels_the_old_one_at_once(cycle, world, who):
    old = feed_path(world.patient)
    assert Client().get(old).status_code == 200
    client = as_user(getattr(world, who))
    answer = client.post(f"/patients/{world.patient.pk}/calendar/renew/", follow=True)
    assert "This is a new calendar link. The old one no longer works" in page_text(answer)
    world.patient.refresh_from_db()
    new = feed_path(world.patient, getattr(world, who))
    assert new != old and new in page_text(answer)
    assert Client().get(feed_path(world.patient)).status_code == 200  # the patient's own new link
    assert Client().get(old).status_code == 404
    assert Client().get(new).status_code == 200
    event = AuditEvent.objects.get(what="calendar_link_renewed")
    assert event.actor == getattr(world, who) and event.patient_ids == [world.patient.pk]
    client.post(f"/patients/{world.patient.pk}/calendar/renew/")  # and again: only the newest works
    assert Client().get(new).status_code == 404


def test_renewing_the_link_needs_a_post_and_is_not_for_outsiders(cycle, world):
    url = f"/patients/{world.patient.pk}/calendar/renew/"
    assert as_user(world.patient_user).get(url).status_code == 405
    for outsider in (world.other_clinic_staff, world.revoked_caregiver, world.other_caregiver):
        assert as_user(outsider).post(url).status_code == 404
    world.patient.refresh_from_db()
    assert world.patient.calendar_version == 0
