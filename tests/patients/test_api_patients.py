"""The patients API: token auth, the error shape, who may create and change what."""

import json

import pytest
from django.test import Client

from patients.models import AuditEvent, Patient
from tests.factories import PASSWORD
from tests.helpers import client_for as api


def patch(client, url, data):
    return client.patch(url, data=json.dumps(data), content_type="application/json")


def post(client, url, data):
    return client.post(url, data=json.dumps(data), content_type="application/json")


def test_token_auth_round_trip(world):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=world.staff, name="app", confirmed=True)
    credentials = {"email": world.staff.email.upper(), "password": PASSWORD}
    without = post(Client(), "/api/v1/auth/token/", credentials)
    assert without.status_code == 400 and "otp" in without.json()["errors"]
    response = post(Client(), "/api/v1/auth/token/", {**credentials, "otp": f"{totp(device.bin_key):06d}"})
    assert response.status_code == 200
    token = response.json()["token"]
    listing = Client().get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {token}")
    assert listing.status_code == 200 and listing.json()["count"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "email"), ({"email": "not-an-email", "password": "x"}, "email"), ({"email": "a@b.org"}, "password")],
)
def test_token_bad_input_has_field_errors(db, body, field):
    response = post(Client(), "/api/v1/auth/token/", body)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_token_wrong_password(world):
    response = post(Client(), "/api/v1/auth/token/", {"email": world.staff.email, "password": "wrong"})
    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": ["That e-mail and password do not match an account."]}}


def test_401_and_404_use_the_error_shape(world):
    assert Client().get("/api/v1/patients/").json() == {
        "errors": {"detail": ["Authentication credentials were not provided."]}
    }
    response = api(world.other_clinic_staff).get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 404 and list(response.json()) == ["errors"]


def test_staff_create_patient(world):
    client = api(world.staff)
    body = {
        "full_name": "New Person",
        "time_zone": "Europe/Paris",
        "email": "new@example.org",
        "emergency_contacts": [{"name": "Kim", "phone": "555-0101"}],
        "notification_channels": ["email", "sms"],
    }
    response = post(client, "/api/v1/patients/", body)
    assert response.status_code == 201, response.json()
    data = response.json()
    patient = Patient.objects.get(pk=data["id"])
    assert patient.clinic == world.clinic and patient.status == "active"
    assert patient.emergency_contacts == [{"name": "Kim", "phone": "555-0101", "relation": ""}]
    assert AuditEvent.objects.filter(action="create", what="patient", patient_id=patient.pk, actor=world.staff).exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"full_name", "time_zone"}),
        ({"full_name": "A", "time_zone": "Mars/Olympus"}, {"time_zone"}),
        ({"full_name": "A", "time_zone": "UTC", "status": "asleep"}, {"status"}),
        ({"full_name": "A", "time_zone": "UTC", "email": "nope"}, {"email"}),
        ({"full_name": "A", "time_zone": "UTC", "notification_channels": ["pigeon"]}, {"notification_channels.0"}),
        ({"full_name": "A", "time_zone": "UTC", "notification_channels": ["sms", "sms"]}, {"notification_channels"}),
        (
            {"full_name": "A", "time_zone": "UTC", "emergency_contacts": [{"name": "Kim"}]},
            {"emergency_contacts.0.phone"},
        ),
        ({"full_name": "A", "time_zone": "UTC", "emergency_contacts": "Kim"}, {"emergency_contacts"}),
        ({"full_name": "A", "time_zone": "UTC", "date_of_birth": "31/02/1990"}, {"date_of_birth"}),
        ({"full_name": "x" * 151, "time_zone": "UTC"}, {"full_name"}),
        ({"full_name": "A", "time_zone": "UTC", "language": "tlh"}, {"language"}),
    ],
)
def test_create_bad_input_is_400_with_field_messages_and_saves_nothing(world, body, fields):
    before = Patient.objects.count()
    response = post(api(world.staff), "/api/v1/patients/", body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert set(errors) == fields
    assert all(isinstance(m, list) and m and all(isinstance(s, str) for s in m) for m in errors.values())
    assert Patient.objects.count() == before


def test_malformed_json_is_400(world):
    response = api(world.staff).post("/api/v1/patients/", data="{not json", content_type="application/json")
    assert response.status_code == 400 and "errors" in response.json()


@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
def test_only_staff_create_patients(world, who):
    response = post(api(getattr(world, who)), "/api/v1/patients/", {"full_name": "A", "time_zone": "UTC"})
    assert response.status_code == 403
    assert Patient.objects.count() == 2


def test_patient_edits_only_contacts_and_preferences(world):
    client = api(world.patient_user)
    url = f"/api/v1/patients/{world.patient.pk}/"
    ok = patch(client, url, {"phone": "555-0199", "language": "es", "notification_channels": ["sms"]})
    assert ok.status_code == 200, ok.json()
    world.patient.refresh_from_db()
    assert (world.patient.phone, world.patient.language, world.patient.notification_channels) == (
        "555-0199",
        "es",
        ["sms"],
    )
    refused = patch(client, url, {"status": "deceased", "time_zone": "UTC", "phone": "1"})
    assert refused.status_code == 403  # SPEC §10: a field the patient can see but not change
    assert set(refused.json()["errors"]) == {"status", "time_zone"}
    world.patient.refresh_from_db()
    assert world.patient.status == "active" and world.patient.phone == "555-0199"


def test_caregiver_cannot_change_staff_fields_either(world):
    response = patch(api(world.caregiver), f"/api/v1/patients/{world.patient.pk}/", {"status": "explanted"})
    assert response.status_code == 403
    world.patient.refresh_from_db()
    assert world.patient.status == "active"


def test_staff_changes_status_and_it_is_audited(world):
    response = patch(api(world.staff), f"/api/v1/patients/{world.patient.pk}/", {"status": "transferred"})
    assert response.status_code == 200
    assert response.json()["status"] == "transferred"
    assert AuditEvent.objects.filter(action="update", patient_id=world.patient.pk, actor=world.staff).count() == 1


def test_put_and_delete_are_not_offered(world):
    client = api(world.staff)
    assert (
        client.put(f"/api/v1/patients/{world.patient.pk}/", data="{}", content_type="application/json").status_code
        == 405
    )
    assert client.delete(f"/api/v1/patients/{world.patient.pk}/").status_code == 405
    assert Patient.objects.filter(pk=world.patient.pk).exists()


def test_schema_and_docs_are_served(db):
    client = Client()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/v1/auth/token/", "/api/v1/patients/", "/api/v1/patients/{patient_id}/"} <= set(paths)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()
