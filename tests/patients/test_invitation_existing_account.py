"""An invitation to an address that already has an account asks for that account's password.
Those tries are throttled exactly like log-in (one count per account and IP, shared with the log-in
page), and an account that cannot take the invitation gets a clear page, never a 500."""

import re

import pytest
from django.core import mail
from django.test import Client

from patients.models import AuditEvent, CaregiverLink, Invitation, Patient
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("frozen")  # tests/patients/conftest.py: time stands still

LINK = re.compile(r"http://[^\s\"]+/invite/([^/\s\"]+)/")


def invite(world, patient, email, kind, capture) -> str:
    staff = Client()
    staff.force_login(world.staff)
    url = f"/patients/{patient.pk}/caregivers/" if kind == "caregiver" else f"/patients/{patient.pk}/invite/"
    with capture(execute=True):
        response = staff.post(url, {"full_name": "Someone", "email": email, "relationship": "friend"})
    assert response.status_code == 302, response.content.decode()[:300]
    return LINK.search(mail.outbox[-1].body).group(1)


def accept(token, password, ip="10.0.0.5"):
    client = Client()
    return client.post(f"/invite/{token}/", {"password1": password}, REMOTE_ADDR=ip), client


@pytest.fixture
def token(world, django_capture_on_commit_callbacks):
    return invite(world, world.patient, world.other_caregiver.email, "caregiver", django_capture_on_commit_callbacks)


def test_five_wrong_passwords_lock_the_invitation_page(world, token):
    for _ in range(4):
        response, _client = accept(token, "not their password")
        assert response.status_code == 200 and b"not right" in response.content
    assert accept(token, "not their password")[0].status_code == 429
    response, client = accept(token, PASSWORD)
    assert response.status_code == 429 and b"wait 15 minutes" in response.content
    assert "_auth_user_id" not in client.session
    assert not CaregiverLink.objects.filter(caregiver=world.other_caregiver, patient=world.patient).exists()
    assert Invitation.objects.get(email=world.other_caregiver.email).state == "pending"
    # Another IP is not locked, as with log-in.
    assert accept(token, PASSWORD, ip="10.0.0.6")[0].status_code == 302


def test_the_invitation_page_and_the_log_in_page_share_one_count(world, token):
    for _ in range(3):
        accept(token, "not their password")
    for _ in range(2):
        Client().post(
            "/accounts/login/", {"username": world.other_caregiver.email, "password": "wrong"}, REMOTE_ADDR="10.0.0.5"
        )
    assert accept(token, PASSWORD)[0].status_code == 429
    response = Client().post(
        "/accounts/login/", {"username": world.other_caregiver.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.5"
    )
    assert response.status_code == 429


def test_the_right_password_accepts_and_clears_the_count(world, token):
    for _ in range(4):
        accept(token, "not their password")
    assert accept(token, PASSWORD)[0].status_code == 302
    assert CaregiverLink.objects.filter(caregiver=world.other_caregiver, patient=world.patient).exists()
    for _ in range(4):  # a fresh count after the success
        response = Client().post(
            "/accounts/login/", {"username": world.other_caregiver.email, "password": "wrong"}, REMOTE_ADDR="10.0.0.5"
        )
        assert response.status_code == 200


def test_an_account_with_a_patient_record_cannot_become_another_patients_log_in(
    world, django_capture_on_commit_callbacks
):
    newcomer = Patient.objects.create(clinic=world.clinic, full_name="New Patient", time_zone="America/Chicago")
    existing = world.other_patient.user  # already the log-in of a patient record
    token = invite(world, newcomer, existing.email, "patient", django_capture_on_commit_callbacks)
    response, client = accept(token, PASSWORD)
    assert response.status_code == 409
    assert b"already has a patient record" in response.content
    assert "_auth_user_id" not in client.session
    # Nothing half-saved: the new record has no log-in, the old one keeps its own, the link still waits.
    newcomer.refresh_from_db()
    world.other_patient.refresh_from_db()
    assert newcomer.user_id is None and world.other_patient.user_id == existing.pk
    assert Invitation.objects.get(patient=newcomer).state == "pending"
    assert not AuditEvent.objects.filter(what="accepted_invitation_patient").exists()
