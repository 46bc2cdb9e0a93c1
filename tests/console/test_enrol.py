"""Enrolment (issue 6, part 6): one guided flow, without JavaScript, in which staff create the
patient, the pump and the first refill and invite the patient and caregivers. Nothing is
created until "Enrol"; then everything is created in one transaction, or nothing at all."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.core import mail
from django.test import Client

from console import enrol
from patients import services as patient_services
from patients.models import (
    AuditEvent,
    CaregiverLink,
    ClinicMembership,
    EnrolmentDraft,
    Invitation,
    Patient,
    QueueItem,
)
from refills.models import PumpEvent, PumpProfile, RefillCycle
from tests.factories import ClinicFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.usefixtures("frozen")  # tests/console/conftest.py: time stands still at NOW

# The patient lives in America/Chicago. 500 mcg/mL at 250 mcg/day drains 0.5 mL a day, so a
# 20 mL SynchroMed II filled on 21 October at 10:00 CDT reaches its 2 mL alarm 36 days later:
# Thursday 26 November, 09:00 CST (15:00 UTC).
NOW = datetime(2026, 10, 21, 16, 0, tzinfo=UTC)  # 11:00 CDT
DUE = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
NOBODY = "Nobody can get refill reminders by e-mail or text. Add an e-mail address or invite a caregiver."

PATIENT = {
    "full_name": "Robin Enrol",
    "date_of_birth": "1980-05-02",
    "time_zone": "America/Chicago",
    "email": "robin@example.org",
    "phone": "",
    "language": "en",
    "notification_channels": ["email", "inbox"],
    "emergency_contacts": "Sam Carer, 555-0100, brother",
}
PUMP = {
    "model": "synchromed2_20",
    "capacity_ml": "",
    "alarm_volume_ml": "",
    "implant_date": "2026-10-01",
    "eri_date": "2033-01-01",
    "max_days_in_pump": "180",
    "catheter_tip_level": "T10",
    "risk_prior_withdrawal": "on",
}
REFILL = {
    "occurred_date": "2026-10-21",
    "occurred_time": "10:00",
    "volume_ml": "20",
    "aspirated_ml": "0",
    "concentration": "500",
    "concentration_other": "",
    "concentration_unit": "mcg",
    "mode": "simple",
    "daily_dose_mcg": "250",
    "printout_alarm_date": "",
    "note": "",
    "rows": "4",
    "action": "next",
}
INVITES = {
    "invite_patient": "on",
    "patient_email": "robin@example.org",
    "caregiver_0_full_name": "Sam Carer",
    "caregiver_0_email": "sam@example.org",
    "caregiver_0_relationship": "brother",
}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def start(client) -> str:
    response = client.get("/clinic/enrol/")
    assert response.status_code == 302
    match = re.fullmatch(r"/clinic/enrol/([\w-]+)/patient/", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def url(flow: str, step: str) -> str:
    return f"/clinic/enrol/{flow}/{step}/"


def post_ok(client, flow, step, data, next_step):
    response = client.post(url(flow, step), data)
    assert response.status_code == 302, errors_of(response)
    assert response["Location"] == url(flow, next_step)
    return response


def walk(client, *, patient=None, pump=None, refill=None, invites=None) -> str:
    """Steps 1 to 4 with good values (or the ones given); returns the flow id."""
    flow = start(client)
    post_ok(client, flow, "patient", patient or PATIENT, "pump")
    post_ok(client, flow, "pump", pump or PUMP, "refill")
    post_ok(client, flow, "refill", refill or REFILL, "invitations")
    post_ok(client, flow, "invitations", INVITES if invites is None else invites, "review")
    return flow


def checked(response) -> str:
    return re.search(r'name="checked" value="([0-9a-f]+)"', response.content.decode()).group(1)


def text(response) -> str:
    html = response.content.decode()
    html = html[html.index("<main") : html.index("</main>")]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def errors_of(response) -> str:
    """The field errors on a page, for assertion messages."""
    if not hasattr(response, "content"):
        return ""
    return " | ".join(re.findall(r'<ul class="error-list"[^>]*>(.*?)</ul>', response.content.decode(), re.S))


def field_errors(response, name: str) -> str:
    """The error list rendered just before the input named `name` (its own field)."""
    html = response.content.decode()
    index = html.find(f'name="{name}"')
    assert index >= 0, f"no field {name}"
    start_at = max(html.rfind('<div class="field', 0, index), html.rfind("<td", 0, index))
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start_at:index])))


def counts() -> dict:
    return {
        "patients": Patient.objects.count(),
        "profiles": PumpProfile.objects.count(),
        "events": PumpEvent.objects.count(),
        "cycles": RefillCycle.objects.count(),
        "invitations": Invitation.objects.count(),
        "links": CaregiverLink.objects.count(),
        "audit": AuditEvent.objects.count(),
        "queue": QueueItem.objects.count(),
    }


# --- The happy path ------------------------------------------------------------------------------


def test_happy_path_creates_everything_in_one_go(world, staff_client, django_capture_on_commit_callbacks):
    before = counts()
    flow = walk(staff_client)
    assert counts() == before  # four steps done, nothing created yet

    review = staff_client.get(url(flow, "review"))
    assert review.status_code == 200
    page = text(review)
    assert "Robin Enrol" in page and "America/Chicago" in page
    assert "Medtronic SynchroMed II 8637-20 (20 mL)" in page and "20 mL" in page and "2 mL" in page
    assert "Has had baclofen withdrawal before" in page
    assert "Thursday 26 November 2026 at 09:00 CST" in page  # the forecast
    # Staff read about the patient by name ("your pump" was the patient's wording).
    assert "This is when Robin Enrol's pump will start its low-reservoir alarm. Refill it before then." in page
    assert "your pump" not in page
    assert "Caregiver Sam Carer, at sam@example.org (brother)" in page
    assert "The patient, at robin@example.org" in page
    assert NOBODY not in page
    assert counts() == before  # the review's dry run kept nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    patient = Patient.objects.get(full_name="Robin Enrol")
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.pk}/"

    after = counts()
    assert after["patients"] == before["patients"] + 1
    assert after["profiles"] == before["profiles"] + 1
    assert after["events"] == before["events"] + 1
    assert after["cycles"] == before["cycles"] + 1
    assert after["invitations"] == before["invitations"] + 2
    assert after["queue"] == before["queue"]  # someone can be reminded
    assert patient.clinic == world.clinic
    assert patient.date_of_birth == date(1980, 5, 2)
    assert patient.emergency_contacts == [{"name": "Sam Carer", "phone": "555-0100", "relation": "brother"}]
    assert patient.notification_channels == ["email", "inbox"]

    profile = patient.pump
    assert (profile.model, profile.capacity_ml, profile.alarm_volume_ml) == ("synchromed2_20", 20, 2)
    assert profile.risk_prior_withdrawal and not profile.risk_sci_t6_or_above

    event = PumpEvent.objects.get(patient=patient)
    assert event.kind == "refill" and event.occurred_at == datetime(2026, 10, 21, 15, 0, tzinfo=UTC)
    assert event.values["program"]["concentration_mcg_per_ml"] == "500"
    assert event.recorded_by == world.staff
    cycle = RefillCycle.objects.get(patient=patient)
    assert cycle.refill_due_at == DUE and cycle.refill_due_reason == "low_reservoir_alarm"
    assert cycle.daily_dose_mcg == Decimal(250)

    invitations = {i.kind: i for i in Invitation.objects.filter(patient=patient)}
    assert invitations["patient"].email == "robin@example.org"
    assert invitations["patient"].full_name == "Robin Enrol"
    assert invitations["caregiver"].email == "sam@example.org"
    assert invitations["caregiver"].relationship == "brother"
    assert sorted(m.to[0] for m in mail.outbox) == ["robin@example.org", "sam@example.org"]

    # One audit row per write, each naming the new patient and the staff member.
    rows = AuditEvent.objects.filter(patient_id=patient.pk).order_by("pk")
    assert [r.what for r in rows] == [
        "patient",
        "pump_profile",
        "pump_event_refill",
        "invitation_patient",
        "invitation_caregiver",
    ]
    assert {r.actor_id for r in rows} == {world.staff.pk}
    assert after["audit"] == before["audit"] + 5

    detail = staff_client.get(response["Location"])
    assert "Robin Enrol is enrolled." in text(detail)
    assert "Invitations sent to: robin@example.org, sam@example.org." in text(detail)


def test_a_second_enrol_of_the_same_flow_creates_nothing_more(world, staff_client):
    flow = walk(staff_client)
    review = staff_client.get(url(flow, "review"))
    first = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    before = counts()
    again = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert staff_client.get(url(flow, "patient"))["Location"] == first["Location"]
    assert counts() == before


def test_the_flow_remembers_each_step_and_can_go_back(world, staff_client):
    flow = walk(staff_client)
    page = staff_client.get(url(flow, "patient")).content.decode()
    assert 'value="Robin Enrol"' in page
    assert 'aria-current="step"' in page
    assert "<script" not in page  # works without JavaScript
    post_ok(staff_client, flow, "patient", {**PATIENT, "full_name": "Robin Changed"}, "pump")
    assert "Robin Changed" in text(staff_client.get(url(flow, "review")))


def test_steps_cannot_be_skipped(world, staff_client):
    flow = start(staff_client)
    response = staff_client.get(url(flow, "review"))
    assert response.status_code == 302 and response["Location"] == url(flow, "patient")
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    assert staff_client.get(url(flow, "invitations"))["Location"] == url(flow, "pump")


def test_refill_check_previews_the_forecast_and_saves_nothing(world, staff_client):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    post_ok(staff_client, flow, "pump", PUMP, "refill")
    before = counts()
    response = staff_client.post(url(flow, "refill"), {**REFILL, "action": "check"})
    assert response.status_code == 302 and response["Location"] == url(flow, "refill") + "#preview"
    page = text(staff_client.get(url(flow, "refill")))
    assert "Nothing is saved yet." in page
    assert "Next refill due Thursday 26 November 2026 at 09:00 CST" in page
    assert "Daily dose 250 mcg/day" in page
    assert counts() == before


def test_a_flex_program_with_a_non_standard_strength_shows_its_warning(world, staff_client):
    refill = {
        **REFILL,
        "mode": "flex",
        "daily_dose_mcg": "",
        "concentration": "other",
        "concentration_other": "0.75",
        "concentration_unit": "mg",
        "flex_start_0": "07:00",
        "flex_rate_0": "12",
        "flex_start_1": "19:00",
        "flex_rate_1": "8",
    }
    flow = walk(staff_client, refill=refill)
    page = text(staff_client.get(url(flow, "review")))
    assert "Strength 750 mcg/mL" in page
    assert "Flex steps (from, rate) 07:00 12 mcg/h, 19:00 8 mcg/h" in page
    assert "Warning:" in page


def test_thirteen_flex_rows_on_request(world, staff_client):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    post_ok(staff_client, flow, "pump", PUMP, "refill")
    page = staff_client.get(url(flow, "refill")).content.decode()
    assert 'name="flex_start_3"' in page and 'name="flex_start_4"' not in page
    page = staff_client.get(url(flow, "refill") + "?rows=13").content.decode()
    assert 'name="flex_start_12"' in page
    steps = {f"flex_start_{i}": f"{i:02d}:00" for i in range(13)} | {f"flex_rate_{i}": "10" for i in range(13)}
    post_ok(staff_client, flow, "refill", {**REFILL, **steps, "mode": "flex", "rows": "13"}, "invitations")
    assert 'value="12:00"' in staff_client.get(url(flow, "refill")).content.decode()  # kept, all 13 rows
    post_ok(staff_client, flow, "invitations", {}, "review")
    assert "Flex steps (from, rate) 00:00 10 mcg/h, 01:00 10 mcg/h" in text(staff_client.get(url(flow, "review")))


# --- Bad input on each step: field errors, nothing created ---------------------------------------


def test_step_1_bad_input(world, staff_client):
    flow = start(staff_client)
    before = counts()
    response = staff_client.post(
        url(flow, "patient"),
        {
            **PATIENT,
            "full_name": "",
            "date_of_birth": "2030-01-01",
            "time_zone": "Mars/Olympus",
            "email": "not-an-address",
            "language": "xx",
        },
    )
    assert response.status_code == 200
    page = text(response)
    assert "Please fix these problems" in page
    assert "This field is required" in field_errors(response, "full_name")
    assert "cannot be in the future" in field_errors(response, "date_of_birth")
    assert "is not a known time zone" in field_errors(response, "time_zone")
    assert "Enter a valid email address" in field_errors(response, "email")
    assert "Select a valid choice" in field_errors(response, "language")
    assert counts() == before
    assert staff_client.get(url(flow, "pump"))["Location"] == url(flow, "patient")


def test_step_1_channels_need_their_contact(world, staff_client):
    flow = start(staff_client)
    response = staff_client.post(
        url(flow, "patient"), {**PATIENT, "email": "", "phone": "", "notification_channels": ["email", "sms"]}
    )
    assert response.status_code == 200
    page = text(response)
    assert "add the patient's e-mail address, or untick e-mail" in page
    assert "add the patient's phone number, or untick them" in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"model": "other"}, "capacity_ml", "Enter the reservoir size"),
        ({"model": "other", "capacity_ml": "30"}, "alarm_volume_ml", "Enter the alarm volume"),
        ({"implant_date": "2027-01-01"}, "implant_date", "cannot be in the future"),
        ({"alarm_volume_ml": "20"}, "alarm_volume_ml", "Must be less than the pump's capacity"),
        ({"eri_date": "2020-01-01"}, "eri_date", "after the implant date"),
        ({"max_days_in_pump": "0"}, "max_days_in_pump", "greater than or equal to 1"),
    ],
)
def test_step_2_bad_input(world, staff_client, change, field, message):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    before = counts()
    response = staff_client.post(url(flow, "pump"), {**PUMP, **change})
    assert response.status_code == 200
    assert message in field_errors(response, field), errors_of(response)
    assert counts() == before
    assert staff_client.get(url(flow, "refill"))["Location"] == url(flow, "pump")


@pytest.mark.parametrize(
    ("pump", "change", "field", "message"),
    [
        ({}, {"volume_ml": "25"}, "volume_ml", "More than the pump holds (20 mL)"),
        ({}, {"volume_ml": "0"}, "volume_ml", "Must be more than 0 mL"),
        ({}, {"volume_ml": "abc"}, "volume_ml", "Enter a number"),
        ({}, {"aspirated_ml": "21"}, "aspirated_ml", "More than the pump holds"),
        ({}, {"occurred_date": "2026-09-30"}, "occurred_date", "before the pump was implanted"),
        ({}, {"occurred_date": "2026-10-22"}, "occurred_date", "This is in the future"),
        ({}, {"occurred_time": "25:00"}, "occurred_time", "Enter a valid time"),
        ({}, {"daily_dose_mcg": ""}, "daily_dose_mcg", "This field is required"),
        (
            {"model": "prometra2_20"},
            {"concentration": "other", "concentration_other": "400"},
            "concentration_other",
            "labelled for baclofen 500–2000 mcg/mL only",
        ),
        ({}, {"mode": "flex", "flex_start_0": "7am", "flex_rate_0": "5"}, "flex_start_0", "HH:MM"),
    ],
)
def test_step_3_bad_input(world, staff_client, pump, change, field, message):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    post_ok(staff_client, flow, "pump", {**PUMP, **pump}, "refill")
    before = counts()
    for action in ("check", "next"):
        response = staff_client.post(url(flow, "refill"), {**REFILL, **change, "action": action})
        assert response.status_code == 200
        assert message in field_errors(response, field), errors_of(response)
        assert "Please fix these problems" in text(response)
    assert counts() == before
    assert staff_client.get(url(flow, "invitations"))["Location"] == url(flow, "refill")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"invite_patient": "on", "patient_email": ""}, "patient_email", "Enter the patient's e-mail address"),
        ({"caregiver_0_full_name": "Sam"}, "caregiver_0_email", "Enter the caregiver's e-mail address"),
        ({"caregiver_1_email": "sam@example.org"}, "caregiver_1_full_name", "Enter the caregiver's name"),
        ({"caregiver_0_full_name": "Sam", "caregiver_0_email": "nope"}, "caregiver_0_email", "valid email"),
        (
            {**INVITES, "caregiver_1_full_name": "Robin", "caregiver_1_email": "ROBIN@example.org"},
            "caregiver_1_email",
            "already used above",
        ),
    ],
)
def test_step_4_bad_input(world, staff_client, data, field, message):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    post_ok(staff_client, flow, "pump", PUMP, "refill")
    post_ok(staff_client, flow, "refill", REFILL, "invitations")
    before = counts()
    response = staff_client.post(url(flow, "invitations"), data)
    assert response.status_code == 200
    assert message in field_errors(response, field), errors_of(response)
    assert counts() == before
    assert staff_client.get(url(flow, "review"))["Location"] == url(flow, "invitations")


# --- A failure at the last step: nothing created at all -------------------------------------------


def test_an_invitation_refused_at_enrol_rolls_everything_back(
    world, staff_client, monkeypatch, django_capture_on_commit_callbacks
):
    """Between the review and "Enrol", Alex became a caregiver of the new record (as if the
    link were made while enrolling): the service refuses the invitation after the patient,
    pump, refill and first invitation were written, and all of it is rolled back."""
    invites = {**INVITES, "caregiver_1_full_name": "Alex Carer", "caregiver_1_email": "alex@example.org"}
    flow = walk(staff_client, invites=invites)
    review = staff_client.get(url(flow, "review"))
    alex = UserFactory(email="alex@example.org")
    real_invite = patient_services.invite

    def invite(**kwargs):
        if kwargs["email"] == "alex@example.org":
            CaregiverLink.objects.create(caregiver=alex, patient=kwargs["patient"])
        return real_invite(**kwargs)

    monkeypatch.setattr(patient_services, "invite", invite)
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    assert response.status_code == 200
    assert "Nothing was saved." in text(response)
    assert "already a caregiver for this patient" in field_errors(response, "caregiver_1_email")
    assert counts() == before
    assert not Patient.objects.filter(full_name="Robin Enrol").exists()
    assert mail.outbox == []


def test_a_refill_invalid_for_a_pump_changed_afterwards_enrols_nothing(
    world, staff_client, django_capture_on_commit_callbacks
):
    """400 mcg/mL is fine in a SynchroMed; the pump is then changed to a Prometra II (500–2000
    mcg/mL only). "Enrol" shows the error on the refill step and creates nothing."""
    refill = {**REFILL, "concentration": "other", "concentration_other": "400"}
    flow = walk(staff_client, refill=refill)
    assert staff_client.get(url(flow, "review")).status_code == 200
    post_ok(staff_client, flow, "pump", {**PUMP, "model": "prometra2_20"}, "refill")
    draft = EnrolmentDraft.objects.get(pk=flow)
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url(flow, "review"), {"checked": enrol.fingerprint(enrol._as_flow(draft))})
    assert response.status_code == 200
    assert "labelled for baclofen 500–2000 mcg/mL only" in field_errors(response, "concentration_other")
    assert counts() == before
    assert mail.outbox == []


def test_enrol_after_a_change_elsewhere_asks_to_check_again(world, staff_client):
    flow = walk(staff_client)
    review = staff_client.get(url(flow, "review"))
    post_ok(staff_client, flow, "patient", {**PATIENT, "full_name": "Robin Other"}, "pump")
    before = counts()
    response = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    assert response.status_code == 200
    assert "Something changed since you checked it" in text(response)
    assert "Robin Other" in text(response)
    assert counts() == before


def test_a_service_failure_at_enrol_rolls_back(world, staff_client, monkeypatch):
    """Even a failure the dry run could not see (here the refill service refusing on the real
    run) leaves nothing behind."""
    flow = walk(staff_client)
    review = staff_client.get(url(flow, "review"))
    from django.core.exceptions import ValidationError

    from refills import services as refill_services

    real = refill_services.record_event

    def record_event(**kwargs):
        if kwargs.get("commit", True):
            raise ValidationError({"volume_ml": ["Refused for the test."]})
        return real(**kwargs)

    monkeypatch.setattr(refill_services, "record_event", record_event)
    before = counts()
    response = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    assert response.status_code == 200
    assert "Refused for the test." in field_errors(response, "volume_ml")
    assert counts() == before


def test_a_database_refusal_at_enrol_says_nothing_was_saved(world, staff_client, monkeypatch):
    from django.db import IntegrityError

    flow = walk(staff_client)
    review = staff_client.get(url(flow, "review"))
    real = patient_services.invite

    def invite(**kwargs):
        real(**kwargs)
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(patient_services, "invite", invite)
    before = counts()
    response = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    assert response.status_code == 200
    assert "The patient was not enrolled" in text(response)
    assert "nothing was saved" in text(response)
    assert counts() == before
    monkeypatch.setattr(patient_services, "invite", real)
    assert staff_client.get(url(flow, "review")).status_code == 200  # the flow is intact


# --- Nobody to remind ---------------------------------------------------------------------------


def test_review_warns_when_nobody_can_be_reminded(world, staff_client):
    patient = {**PATIENT, "email": "", "notification_channels": []}
    flow = walk(staff_client, patient=patient, invites={})
    review = staff_client.get(url(flow, "review"))
    page = text(review)
    assert NOBODY in page
    assert 'role="alert"' in review.content.decode()
    response = staff_client.post(url(flow, "review"), {"checked": checked(review)})
    patient = Patient.objects.get(full_name="Robin Enrol")
    assert QueueItem.objects.filter(patient=patient, kind="nobody_to_remind", resolved_at=None).exists()
    assert NOBODY in text(staff_client.get(response["Location"]))


def test_an_inbox_only_choice_is_nobody_to_remind_too(world, staff_client):
    flow = walk(staff_client, patient={**PATIENT, "notification_channels": ["inbox"]}, invites={})
    assert NOBODY in text(staff_client.get(url(flow, "review")))


@pytest.mark.parametrize(
    ("patient", "invites"),
    [
        ({}, {}),  # an e-mail address
        (
            {"email": "", "notification_channels": []},
            {"caregiver_0_full_name": "Sam", "caregiver_0_email": "sam@example.org"},
        ),  # a caregiver
    ],
)
def test_no_warning_when_someone_can_be_reminded(world, staff_client, patient, invites):
    flow = walk(staff_client, patient={**PATIENT, **patient}, invites=invites)
    assert NOBODY not in text(staff_client.get(url(flow, "review")))


# --- Who may enrol ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "revoked_caregiver", "nobody"])
def test_patients_and_caregivers_get_404(world, staff_client, who):
    flow = start(staff_client)
    person = UserFactory() if who == "nobody" else getattr(world, who)
    client = client_for(person)
    before = counts()
    assert client.get("/clinic/enrol/").status_code == 404
    for step in enrol.STEPS:
        assert client.get(url(flow, step)).status_code == 404
        assert client.post(url(flow, step), PATIENT).status_code == 404
    assert counts() == before


def test_anonymous_is_sent_to_log_in(world):
    response = Client().get("/clinic/enrol/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_staff_of_clinic_a_cannot_enrol_into_clinic_b(world, staff_client):
    clinic_b = ClinicMembership.objects.get(user=world.other_clinic_staff).clinic
    assert staff_client.get(f"/clinic/enrol/?clinic={clinic_b.pk}").status_code == 404
    assert staff_client.get("/clinic/enrol/?clinic=x").status_code == 404

    # A posted clinic is ignored for staff of one clinic: the patient goes into their own.
    flow = walk(staff_client, patient={**PATIENT, "clinic": str(clinic_b.pk)})
    review = staff_client.get(url(flow, "review"))
    staff_client.post(url(flow, "review"), {"checked": checked(review)})
    assert Patient.objects.get(full_name="Robin Enrol").clinic == world.clinic
    assert not Patient.objects.filter(clinic=clinic_b).exists()

    # A flow whose clinic was changed to clinic B (a tampered draft) is a 404.
    flow = walk(staff_client, patient={**PATIENT, "full_name": "Tampered"})
    EnrolmentDraft.objects.filter(pk=flow).update(clinic_id=clinic_b.pk)
    before = counts()
    assert staff_client.get(url(flow, "review")).status_code == 404
    assert staff_client.post(url(flow, "review"), {"checked": "x"}).status_code == 404
    assert counts() == before


def test_staff_of_two_clinics_choose_one_of_their_own(world):
    second = ClinicFactory(name="Second Clinic")
    MembershipFactory(clinic=second, user=world.staff)
    clinic_b = ClinicMembership.objects.get(user=world.other_clinic_staff).clinic
    client = client_for(world.staff)
    flow = start(client)
    page = client.get(url(flow, "patient")).content.decode()
    assert "Second Clinic" in page and "Home Clinic" in page and clinic_b.name not in page
    response = client.post(url(flow, "patient"), {**PATIENT, "clinic": str(clinic_b.pk)})
    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "clinic")

    post_ok(client, flow, "patient", {**PATIENT, "clinic": str(second.pk)}, "pump")
    post_ok(client, flow, "pump", PUMP, "refill")
    post_ok(client, flow, "refill", REFILL, "invitations")
    post_ok(client, flow, "invitations", {}, "review")
    review = client.get(url(flow, "review"))
    assert "Second Clinic" in text(review)
    client.post(url(flow, "review"), {"checked": checked(review)})
    assert Patient.objects.get(full_name="Robin Enrol").clinic == second

    # ?clinic= preselects one of their own clinics.
    assert client.get(f"/clinic/enrol/?clinic={second.pk}").status_code == 302


def test_a_flow_belongs_to_its_session(world, staff_client):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    colleague = MembershipFactory(clinic=world.clinic).user
    response = client_for(colleague).get(url(flow, "pump"))
    assert response.status_code == 302 and response["Location"] == "/clinic/enrol/"


def test_home_add_a_patient_starts_the_enrolment(world, staff_client):
    page = staff_client.get("/").content.decode()
    assert 'href="/clinic/enrol/"' in page and "Add a patient" in page


def test_unknown_step_is_404(world, staff_client):
    flow = start(staff_client)
    assert staff_client.get(url(flow, "payment")).status_code == 404


# --- The flow outlives the session ----------------------------------------------------------------


def test_an_enrolment_carries_on_after_an_idle_sign_out(world, staff_client, frozen):
    flow = walk(staff_client)
    frozen.shift(timedelta(minutes=16))  # past the staff idle limit: signed out
    answer = staff_client.get(url(flow, "review"))
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")
    again = client_for(world.staff)  # logs in again
    review = again.get(url(flow, "review"))
    assert review.status_code == 200 and "Robin Enrol" in text(review)
    assert again.post(url(flow, "review"), {"checked": checked(review)}).status_code == 302
    patient = Patient.objects.get(full_name="Robin Enrol")
    draft = EnrolmentDraft.objects.get(pk=flow)
    assert draft.patient == patient and draft.data == {}  # the answers are not kept once enrolled


def test_a_flow_is_its_authors_only_and_expires(world, staff_client, frozen):
    flow = walk(staff_client)
    colleague = client_for(world.admin)
    answer = colleague.get(url(flow, "review"))
    assert answer.status_code == 302 and answer["Location"] == "/clinic/enrol/"
    assert "Robin Enrol" not in text(colleague.get("/clinic/enrol/", follow=True))
    frozen.shift(timedelta(hours=12, minutes=1))
    assert client_for(world.staff).get(url(flow, "review"))["Location"] == "/clinic/enrol/"
    assert not EnrolmentDraft.objects.filter(pk=flow).exists()


def test_at_most_five_unfinished_flows_per_person(world, staff_client, frozen):
    flows = []
    for _ in range(7):
        flows.append(start(staff_client))
        frozen.shift(timedelta(seconds=1))
    kept = set(EnrolmentDraft.objects.filter(user=world.staff).values_list("pk", flat=True))
    assert kept == set(flows[-5:])


def test_the_hourly_housekeeping_deletes_drafts_nobody_came_back_to(world, staff_client, frozen):
    from patients import services as patient_services

    old = walk(staff_client)
    frozen.shift(timedelta(hours=11))
    young = start(client_for(world.staff))  # (the first session has ended by now)
    frozen.shift(timedelta(hours=1, minutes=1))
    assert patient_services.housekeeping() == {"enrolment_drafts": 1, "api_tokens": 0, "wrong_codes": 0}
    assert set(EnrolmentDraft.objects.values_list("pk", flat=True)) == {young}
    assert old != young


def test_beat_runs_the_housekeeping_every_hour(db):
    from ibt_companion.celery import app
    from patients.tasks import housekeeping

    entry = app.conf.beat_schedule["housekeeping"]
    assert entry["task"] == housekeeping.name == "patients.tasks.housekeeping" and entry["schedule"] == 3600.0
    assert housekeeping.apply().get() == {"enrolment_drafts": 0, "api_tokens": 0, "wrong_codes": 0}


def test_the_refill_steps_preview_speaks_to_staff_about_the_patient(world, staff_client):
    """Step 3 shows the forecast it gives: in staff's words, naming the patient being enrolled."""
    flow = walk(staff_client)
    page = text(staff_client.get(url(flow, "refill")))
    assert "What this refill gives" in page
    assert "This is when Robin Enrol's pump will start its low-reservoir alarm. Refill it before then." in page
    assert "your pump" not in page and "your clinic" not in page
