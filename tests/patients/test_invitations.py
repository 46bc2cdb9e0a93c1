"""Caregiver invitations end to end: invite, e-mail, GET shows a button, POST accepts once."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from patients.models import AuditEvent, CaregiverLink, Invitation, User

LINK = re.compile(r"http://[^\s\"]+/invite/([^/\s\"]+)/")


def invite(client, patient, email="helper@example.org", name="Helper Person"):
    response = client.post(
        f"/patients/{patient.pk}/caregivers/", {"full_name": name, "email": email, "relationship": "friend"}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def token_from_last_mail():
    message = mail.outbox[-1]
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def patient_client(world):
    client = Client()
    client.force_login(world.patient_user)
    return client


def test_patient_invites_and_caregiver_accepts(world, patient_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(patient_client, world.patient)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["helper@example.org"]
    assert "Pat Home" not in message.subject  # no full names in subjects
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    token = token_from_last_mail()

    visitor = Client()
    page = visitor.get(f"/invite/{token}/")
    assert page.status_code == 200
    assert b"Accept invitation" in page.content
    # A mail scanner fetching the link accepts nothing.
    assert not CaregiverLink.objects.filter(caregiver__email="helper@example.org").exists()
    assert Invitation.objects.get(email="helper@example.org").state == "pending"

    response = visitor.post(
        f"/invite/{token}/", {"password1": "a long new secret 42", "password2": "a long new secret 42"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="helper@example.org")
    assert user.check_password("a long new secret 42")
    assert CaregiverLink.objects.get(caregiver=user, patient=world.patient, revoked_at__isnull=True)
    assert visitor.get(f"/patients/{world.patient.pk}/").status_code == 200
    assert AuditEvent.objects.filter(what="accepted_invitation_caregiver", patient_id=world.patient.pk).exists()


def test_reused_link_is_refused(world, patient_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(patient_client, world.patient)
    token = token_from_last_mail()
    data = {"password1": "a long new secret 42", "password2": "a long new secret 42"}
    assert Client().post(f"/invite/{token}/", data).status_code == 302
    again = Client().post(f"/invite/{token}/", data)
    assert again.status_code == 410
    assert b"already used" in again.content
    assert CaregiverLink.objects.filter(caregiver__email="helper@example.org").count() == 1


def test_expired_link_is_refused(world, patient_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(patient_client, world.patient)
    token = token_from_last_mail()
    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1), tick=False):
        response = Client().post(
            f"/invite/{token}/", {"password1": "a long new secret 42", "password2": "a long new secret 42"}
        )
    assert response.status_code in (404, 410)
    assert b"does not work" in response.content
    assert not User.objects.filter(email="helper@example.org").exists()


def test_link_just_before_expiry_still_works(world, patient_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(patient_client, world.patient)
    token = token_from_last_mail()
    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23), tick=False):
        response = Client().post(
            f"/invite/{token}/", {"password1": "a long new secret 42", "password2": "a long new secret 42"}
        )
    assert response.status_code == 302


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "x" + t, lambda t: "garbage"]
)
def test_tampered_link_is_refused(world, patient_client, django_capture_on_commit_callbacks, tamper):
    with django_capture_on_commit_callbacks(execute=True):
        invite(patient_client, world.patient)
    bad = tamper(token_from_last_mail())
    assert Client().get(f"/invite/{bad}/").status_code == 404
    response = Client().post(
        f"/invite/{bad}/", {"password1": "a long new secret 42", "password2": "a long new secret 42"}
    )
    assert response.status_code == 404
    assert not User.objects.filter(email="helper@example.org").exists()


def test_revoked_invitation_and_revoked_link(world, patient_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(patient_client, world.patient)
    token = token_from_last_mail()
    invitation = Invitation.objects.get(email="helper@example.org")
    assert patient_client.post(f"/patients/{world.patient.pk}/invitations/{invitation.pk}/revoke/").status_code == 302
    assert (
        Client()
        .post(f"/invite/{token}/", {"password1": "a long new secret 42", "password2": "a long new secret 42"})
        .status_code
        == 410
    )

    # The patient removes an existing caregiver: from then on, 404.
    carer = Client()
    carer.force_login(world.caregiver)
    assert carer.get(f"/patients/{world.patient.pk}/").status_code == 200
    assert patient_client.post(f"/patients/{world.patient.pk}/caregivers/{world.link.pk}/revoke/").status_code == 302
    assert carer.get(f"/patients/{world.patient.pk}/").status_code == 404
    world.link.refresh_from_db()
    assert world.link.revoked_by == world.patient_user


def test_staff_can_invite_and_existing_user_accepts_with_their_password(world, django_capture_on_commit_callbacks):
    staff = Client()
    staff.force_login(world.staff)
    existing = world.other_caregiver  # already a caregiver of another patient
    with django_capture_on_commit_callbacks(execute=True):
        invite(staff, world.patient, email=existing.email, name=existing.full_name)
    token = token_from_last_mail()
    wrong = Client().post(f"/invite/{token}/", {"password1": "not their password"})
    assert wrong.status_code == 200 and b"not right" in wrong.content
    assert Client().post(f"/invite/{token}/", {"password1": "correct horse battery 9"}).status_code == 302
    assert CaregiverLink.objects.filter(caregiver=existing, revoked_at__isnull=True).count() == 2


def test_bad_input_on_invitation_forms(world, patient_client, django_capture_on_commit_callbacks):
    response = patient_client.post(
        f"/patients/{world.patient.pk}/caregivers/", {"full_name": "", "email": "not-an-email"}
    )
    assert response.status_code == 200
    assert b"Enter a valid email address" in response.content
    assert b"This field is required" in response.content
    # Inviting someone who is already a caregiver is a form error, not a 500.
    response = patient_client.post(
        f"/patients/{world.patient.pk}/caregivers/", {"full_name": "C", "email": world.caregiver.email}
    )
    assert response.status_code == 200 and b"already a caregiver" in response.content

    with django_capture_on_commit_callbacks(execute=True):
        invite(patient_client, world.patient)
    token = token_from_last_mail()
    for data, expected in [
        ({"password1": "a long new secret 42", "password2": "different secret 43"}, b"not the same"),
        ({"password1": "short", "password2": "short"}, b"too short"),
        ({"password1": "", "password2": ""}, b"required"),
    ]:
        response = Client().post(f"/invite/{token}/", data)
        assert response.status_code == 200 and expected in response.content
    assert Invitation.objects.get(email="helper@example.org").state == "pending"


def test_caregiver_cannot_invite_other_caregivers(world):
    carer = Client()
    carer.force_login(world.caregiver)
    assert carer.get(f"/patients/{world.patient.pk}/caregivers/").status_code == 404
    assert (
        carer.post(
            f"/patients/{world.patient.pk}/caregivers/", {"full_name": "X", "email": "x@example.org"}
        ).status_code
        == 404
    )
    assert not Invitation.objects.exists()


def test_staff_invite_a_patient_without_a_log_in(world, django_capture_on_commit_callbacks):
    from patients.models import Patient

    patient = Patient.objects.create(clinic=world.clinic, full_name="No Login Yet", time_zone="Europe/Paris")
    staff = Client()
    staff.force_login(world.staff)
    assert staff.post(f"/patients/{patient.pk}/invite/", {"email": "nope"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.post(f"/patients/{patient.pk}/invite/", {"email": "self@example.org"}).status_code == 302
    token = token_from_last_mail()
    visitor = Client()
    assert (
        visitor.post(
            f"/invite/{token}/", {"password1": "a long new secret 42", "password2": "a long new secret 42"}
        ).status_code
        == 302
    )
    patient.refresh_from_db()
    assert patient.user.email == "self@example.org"
    assert visitor.get("/").status_code == 200 and b"Your pump" in visitor.get("/").content
    # A patient who has a log-in cannot be invited again; caregivers cannot invite patients.
    assert staff.post(f"/patients/{patient.pk}/invite/", {"email": "x@example.org"}).status_code == 200
    carer = Client()
    carer.force_login(world.caregiver)
    assert carer.get(f"/patients/{world.patient.pk}/invite/").status_code == 404
