"""Who may change what about a patient (SPEC §10): one rule (patients/permissions.py), used by
the contacts page, the patient API and the notifications page alike. Every role × every field,
on the page and the API: the patient changes their contacts, a caregiver changes nothing on the
patient's record (403: they can see it), staff and admins of the clinic change everything, staff
of another clinic get 404."""

import json

import pytest

from patients import permissions
from patients.access import relation_to
from patients.models import AuditEvent, CaregiverLink, Patient
from patients.serializers import PatientSerializer
from tests.factories import PatientFactory
from tests.helpers import client_for

# --- The rule itself (no database) ------------------------------------------------------------

CONTACTS = {"email", "phone", "emergency_contacts", "notification_channels", "language"}
CLINICAL = {"full_name", "date_of_birth", "status", "time_zone"}


@pytest.mark.parametrize(
    ("relation", "expected"),
    [
        (set(), set()),
        ({"caregiver"}, set()),
        ({"self"}, CONTACTS | {"caregivers"}),
        ({"staff"}, CONTACTS | CLINICAL | {"caregivers"}),
        ({"admin"}, CONTACTS | CLINICAL | {"caregivers"}),
        ({"self", "caregiver"}, CONTACTS | {"caregivers"}),
        ({"caregiver", "staff"}, CONTACTS | CLINICAL | {"caregivers"}),
    ],
)
def test_editable_fields_per_relation(relation, expected):
    assert permissions.editable_fields(relation) == expected


def test_refused_fields_names_only_patient_fields_it_refuses():
    wanted = ["status", "email", "time_zone", "not_a_field", "id"]
    assert permissions.refused_fields({"self"}, wanted) == ["status", "time_zone"]
    assert permissions.refused_fields({"caregiver"}, wanted) == ["email", "status", "time_zone"]
    assert permissions.refused_fields({"staff"}, wanted) == []


def test_the_rule_knows_every_field_the_api_and_the_form_write():
    serializer = PatientSerializer()
    writable = {name for name, field in serializer.fields.items() if not field.read_only}
    assert writable == permissions.PATIENT_FIELDS
    assert set(Patient.PATIENT_EDITABLE) == permissions.CONTACT_FIELDS


# --- The selector -----------------------------------------------------------------------------


def test_relation_to_each_persona(world):
    patient = world.patient
    assert relation_to(world.patient_user, patient) == {"self"}
    assert relation_to(world.caregiver, patient) == {"caregiver"}
    assert relation_to(world.staff, patient) == {"staff"}
    assert relation_to(world.admin, patient) == {"admin"}
    for outsider in (world.revoked_caregiver, world.other_clinic_staff, world.other_caregiver):
        assert relation_to(outsider, patient) == set()
    # Staff of another clinic who looks after this patient is only a caregiver here.
    CaregiverLink.objects.create(caregiver=world.other_clinic_staff, patient=patient)
    assert relation_to(world.other_clinic_staff, patient) == {"caregiver"}
    world.patient_user.is_active = False
    world.patient_user.save()
    assert relation_to(world.patient_user, patient) == set()


# --- The API: every role × every field ----------------------------------------------------------

NEW_VALUES = {
    "email": "new-address@example.org",
    "phone": "555-0123",
    "emergency_contacts": [{"name": "Sam Lee", "phone": "555-0100", "relation": "brother"}],
    "notification_channels": [],
    "language": "es",
    "full_name": "Renamed Person",
    "date_of_birth": "1980-01-02",
    "status": "transferred",
    "time_zone": "Europe/Paris",
}
ROLES = ["patient_user", "caregiver", "staff", "admin", "other_clinic_staff"]


def expected_status(role: str, field: str) -> int:
    if role == "other_clinic_staff":
        return 404
    if role in ("staff", "admin") or (role == "patient_user" and field in CONTACTS):
        return 200
    return 403


def stored(patient, field):
    value = getattr(patient, field)
    return value.isoformat() if field == "date_of_birth" and value else value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("field", sorted(NEW_VALUES))
def test_api_patch_follows_the_rule(world, role, field):
    before = Patient.objects.get(pk=world.patient.pk)
    updates = AuditEvent.objects.filter(action="update").count()
    response = client_for(getattr(world, role)).patch(
        f"/api/v1/patients/{world.patient.pk}/",
        data=json.dumps({field: NEW_VALUES[field]}),
        content_type="application/json",
    )
    status = expected_status(role, field)
    assert response.status_code == status, response.content
    after = Patient.objects.get(pk=world.patient.pk)
    if status == 200:
        assert stored(after, field) == NEW_VALUES[field]
        return
    assert stored(after, field) == stored(before, field)
    assert after.updated_at == before.updated_at
    assert AuditEvent.objects.filter(action="update").count() == updates
    if status == 403:
        errors = response.json()["errors"]
        assert list(errors) == [field]
        assert errors[field][0] in (
            "Only your clinic can change this.",
            "Only the patient or their clinic can change this.",
        )


def test_the_reported_attack_a_caregiver_silences_the_reminders(world):
    """PATCH with no channels and a new e-mail was a 200; now a 403 naming both, nothing saved."""
    world.patient.notification_channels = ["email", "sms"]
    world.patient.save()
    response = client_for(world.caregiver).patch(
        f"/api/v1/patients/{world.patient.pk}/",
        data=json.dumps({"notification_channels": [], "email": "attacker@example.org"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert set(response.json()["errors"]) == {"email", "notification_channels"}
    world.patient.refresh_from_db()
    assert world.patient.notification_channels == ["email", "sms"]
    assert world.patient.email == "patient@home.example"


@pytest.mark.parametrize("body", [{}, {"no_such_field": 1}, {"email": "not an address"}, {"id": 5}])
def test_a_caregiver_gets_403_whatever_the_body(world, body):
    response = client_for(world.caregiver).patch(
        f"/api/v1/patients/{world.patient.pk}/", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["errors"]


def test_a_patient_sending_a_staff_field_changes_nothing_at_all(world):
    response = client_for(world.patient_user).patch(
        f"/api/v1/patients/{world.patient.pk}/",
        data=json.dumps({"status": "deceased", "time_zone": "UTC", "phone": "555-0111"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert set(response.json()["errors"]) == {"status", "time_zone"}
    world.patient.refresh_from_db()
    assert (world.patient.status, world.patient.phone) == ("active", "")


def test_staff_of_another_clinic_who_cares_for_the_patient_is_a_caregiver_here(world):
    CaregiverLink.objects.create(caregiver=world.other_clinic_staff, patient=world.patient)
    response = client_for(world.other_clinic_staff).patch(
        f"/api/v1/patients/{world.patient.pk}/",
        data=json.dumps({"status": "deceased"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert client_for(world.other_clinic_staff).get(f"/patients/{world.patient.pk}/contacts/").status_code == 403


# --- The contacts page: the same rule -------------------------------------------------------------

PAGE_STATUS = {"patient_user": 200, "caregiver": 403, "staff": 200, "admin": 200, "other_clinic_staff": 404}
FORM = {
    "email": "new-address@example.org",
    "phone": "555-0123",
    "emergency_contacts": "Sam Lee, 555-0100, brother",
    "language": "es",
    # No channel ticked: the form's way of asking for none.
}


@pytest.mark.parametrize("role", ROLES)
def test_contacts_page_follows_the_rule(world, role):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    client = client_for(getattr(world, role))
    url = f"/patients/{world.patient.pk}/contacts/"
    status = PAGE_STATUS[role]
    page = client.get(url)
    assert page.status_code == status
    response = client.post(url, FORM)
    world.patient.refresh_from_db()
    if status == 200:
        assert response.status_code == 302
        assert (world.patient.email, world.patient.phone, world.patient.language) == (
            "new-address@example.org",
            "555-0123",
            "es",
        )
        assert world.patient.notification_channels == []
        assert world.patient.emergency_contacts == [{"name": "Sam Lee", "phone": "555-0100", "relation": "brother"}]
        return
    assert response.status_code == status
    assert world.patient.email == "patient@home.example" and world.patient.notification_channels == ["email"]
    if status == 403:
        assert "Only the patient and their clinic can change these contacts." in page.content.decode()


@pytest.mark.parametrize("role", ["patient_user", "caregiver", "staff", "admin"])
def test_the_detail_page_offers_what_the_rule_allows(world, role):
    page = client_for(getattr(world, role)).get(f"/patients/{world.patient.pk}/").content.decode()
    assert (f"/patients/{world.patient.pk}/contacts/" in page) == (role != "caregiver")
    assert (f"/patients/{world.patient.pk}/caregivers/" in page) == (role != "caregiver")


def test_a_patient_without_a_log_in_is_edited_by_staff_only(world):
    patient = PatientFactory(clinic=world.clinic, user=None)
    assert relation_to(world.staff, patient) == {"staff"}
    assert client_for(world.staff).get(f"/patients/{patient.pk}/contacts/").status_code == 200


# --- The notifications page: a caregiver's choices are their own ----------------------------------


def test_a_caregiver_on_the_notifications_page_changes_only_their_own_choices(world):
    world.patient.notification_channels = ["email", "sms"]
    world.patient.phone = "555-0100"
    world.patient.save()
    client = client_for(world.caregiver)
    answer = client.post(
        "/account/notifications/", {"channels": ["inbox"], "language": "fr", "phone": "(555) 010-1234", "time_zone": ""}
    )
    assert answer.status_code == 302
    client.post("/account/notifications/texts-on/")
    world.patient.refresh_from_db()
    world.caregiver.refresh_from_db()
    assert (world.patient.notification_channels, world.patient.language, world.patient.phone) == (
        ["email", "sms"],
        "en",
        "555-0100",
    )
    assert world.caregiver.language == "fr" and world.caregiver.notification_channels == ["inbox"]
    assert world.caregiver.phone and world.caregiver.phone != world.patient.phone


def test_the_preferences_service_refuses_someone_else_s_patient_record(world):
    from django.core.exceptions import PermissionDenied

    from refills import preferences

    world.patient.notification_channels = ["email"]
    world.patient.save()
    for by in (world.caregiver, world.other_clinic_staff):
        with pytest.raises(PermissionDenied):
            preferences.save(
                by=by,
                patient=world.patient,
                links=[],
                channels=[],
                language="fr",
                phone="",
                time_zone=None,
                call_clinic={},
            )
    world.patient.refresh_from_db()
    assert world.patient.notification_channels == ["email"] and world.patient.language == "en"
