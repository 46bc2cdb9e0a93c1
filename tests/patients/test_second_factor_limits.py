"""What an attacker with a stolen password tried after the second factor was fixed (issue 10):
locking the owner out with wrong codes, keeping a token made before the second factor, a set-up
link for someone who has a device, an invitation accepted with the password alone; and a PATCH
that stored an emergency contact with no name or phone."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients import services, two_factor
from patients.invitations import make_token
from patients.models import CaregiverLink, Invitation, SecondFactorEnrolment
from tests.factories import PASSWORD
from tests.patients.helpers import totp_code as code

pytestmark = [pytest.mark.real_two_factor, pytest.mark.django_db(transaction=True)]

WRONG = "000000"


def with_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    recovery = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=recovery, token="1234567890")
    return device


def password_login(user, ip="127.0.0.1") -> Client:
    client = Client(REMOTE_ADDR=ip)
    assert client.post("/accounts/login/", {"username": user.email, "password": PASSWORD}).status_code == 302
    return client


def wrong_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return WRONG if code(device) != WRONG else "111111"


# --- Wrong codes slow an attacker down, and never lock the owner out for good -----------------------


def test_five_wrong_codes_make_that_address_wait_15_minutes_and_no_longer(world):
    device = with_device(world.patient_user)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        attacker = password_login(world.patient_user, ip="203.0.113.9")
        for _ in range(5):
            response = attacker.post("/account/2fa/verify/", {"code": wrong_code(world.patient_user)})
            assert response.status_code == 200
        assert b"Too many wrong codes" in response.content
        # Even the right code (or a recovery code) waits now, from that address.
        locked = attacker.post("/account/2fa/verify/", {"code": code(device)})
        assert locked.status_code == 200 and b"Too many wrong codes" in locked.content
        # The owner, elsewhere, is not held up by these five.
        owner = password_login(world.patient_user, ip="198.51.100.7")
        assert owner.post("/account/2fa/verify/", {"code": "12345-67890"}).status_code == 302
    # Tries during the wait do not make it longer.
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        assert b"Too many" in attacker.post("/account/2fa/verify/", {"code": code(device)}).content
    with time_machine.travel(start + timedelta(minutes=15, seconds=5), tick=False):
        assert attacker.post("/account/2fa/verify/", {"code": code(device)}).status_code == 302


def test_wrong_codes_from_many_addresses_hold_those_addresses_never_the_owner(world):
    device = with_device(world.patient_user)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        attackers = []
        for n in range(4):
            attacker = password_login(world.patient_user, ip=f"203.0.113.{n}")
            for _ in range(4):
                attacker.post("/account/2fa/verify/", {"code": wrong_code(world.patient_user)})
            attackers.append(attacker)
        # 16 wrong in all; a fifth address adds four more: 20. Every address that failed waits,
        # even one that has only four wrong codes of its own.
        fifth = password_login(world.patient_user, ip="203.0.113.99")
        for _ in range(4):
            fifth.post("/account/2fa/verify/", {"code": wrong_code(world.patient_user)})
        assert b"Too many" in attackers[0].post("/account/2fa/verify/", {"code": code(device)}).content
        # The owner, who typed no wrong code, gets in with the right one.
        owner = password_login(world.patient_user, ip="198.51.100.7")
        assert owner.post("/account/2fa/verify/", {"code": code(device)}).status_code == 302


def test_wrong_codes_sent_at_the_same_moment_are_counted_one_by_one(world):
    import threading

    from django.db import connection

    from patients.models import SecondFactorFailure

    with_device(world.patient_user)
    wrong = wrong_code(world.patient_user)
    results, barrier = [], threading.Barrier(12)

    def attempt():
        barrier.wait()
        try:
            results.append(two_factor.check_code(world.patient_user, wrong, ip="203.0.113.3"))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SecondFactorFailure.objects.filter(user=world.patient_user).count() == 5
    assert sum(not r.locked for r in results) == 4 and sum(r.locked for r in results) == 8


def test_a_token_request_without_a_code_is_asked_for_one_not_counted(world):
    from patients.models import SecondFactorFailure

    with_device(world.patient_user)
    body = {"email": world.patient_user.email, "password": PASSWORD}
    for _ in range(6):
        answer = Client().post("/api/v1/auth/token/", body)
        assert answer.status_code == 400 and "send the code" in answer.json()["errors"]["otp"][0]
    assert not SecondFactorFailure.objects.exists()


def test_the_token_endpoint_counts_wrong_codes_and_answers_429(world):
    device = with_device(world.patient_user)
    api = Client(REMOTE_ADDR="203.0.113.9")
    body = {"email": world.patient_user.email, "password": PASSWORD}
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        answers = [api.post("/api/v1/auth/token/", {**body, "otp": wrong_code(world.patient_user)}) for _ in range(5)]
        assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
        right = api.post("/api/v1/auth/token/", {**body, "otp": code(device)})
        assert right.status_code == 429 and int(right["Retry-After"]) == 900
        assert "Too many wrong codes" in right.json()["errors"]["detail"][0]
    with time_machine.travel(start + timedelta(minutes=15, seconds=5), tick=False):
        assert api.post("/api/v1/auth/token/", {**body, "otp": code(device)}).status_code == 200


def test_housekeeping_forgets_wrong_codes_that_no_longer_count(world):
    from patients.models import SecondFactorFailure
    from patients.services import housekeeping

    with_device(world.patient_user)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        two_factor.check_code(world.patient_user, wrong_code(world.patient_user), ip="203.0.113.9")
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        two_factor.check_code(world.patient_user, wrong_code(world.patient_user), ip="203.0.113.9")
    assert housekeeping(start + timedelta(minutes=16))["wrong_codes"] == 1
    assert SecondFactorFailure.objects.count() == 1


def test_the_limit_is_a_plain_rule():
    assert not two_factor.is_locked(4, 19)
    assert two_factor.is_locked(5, 5) and two_factor.is_locked(1, 20)
    assert not two_factor.is_locked(0, 200)  # an address that never failed is never held


# --- A token made before the second factor ends with it -------------------------------------------


def test_turning_on_the_second_factor_ends_tokens_made_with_the_password_alone(world):
    token = Client().post("/api/v1/auth/token/", {"email": world.patient_user.email, "password": PASSWORD})
    key = token.json()["token"]
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/patients/").status_code == 200
    client = password_login(world.patient_user)
    client.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=world.patient_user, confirmed=False)
    assert client.post("/account/2fa/setup/", {"code": code(device)}).status_code == 200
    assert api.get("/api/v1/patients/").status_code == 401


# --- Set-up links are for people with no second factor --------------------------------------------


def test_no_set_up_link_for_someone_who_has_a_device(world):
    with_device(world.staff)
    admin_device = with_device(world.admin)
    admin = password_login(world.admin)
    assert admin.post("/account/2fa/verify/", {"code": code(admin_device)}).status_code == 302
    response = admin.post(f"/clinic/{world.clinic.pk}/staff/{world.staff.pk}/second-factor/link/", follow=True)
    assert b"already has two-step log-in" in response.content
    assert not SecondFactorEnrolment.objects.exists()
    with pytest.raises(CommandError, match="already has two-step log-in"):
        call_command("second_factor_link", world.staff.email)
    # A link made before the device was set up no longer works either.
    SecondFactorEnrolment.objects.all().delete()
    link = two_factor.issue_enrolment(user=world.staff, by=world.admin)
    path = "/" + two_factor.enrolment_url(link).split("://", 1)[1].split("/", 1)[1]
    assert password_login(world.staff).get(path).status_code == 404


# --- An invitation asks an existing account for its second factor too -------------------------------


def invitation_to(world, user) -> str:
    invitation = services.invite(
        by=world.patient_user, patient=world.patient, kind=Invitation.Kind.CAREGIVER, email=user.email, full_name="N"
    )
    return f"/invite/{make_token(invitation)}/"


def test_accepting_an_invitation_with_a_second_factor_needs_the_code(world):
    device = with_device(world.other_caregiver)
    url = invitation_to(world, world.other_caregiver)
    client = Client()
    page = client.get(url)
    assert b'name="code"' in page.content
    refused = client.post(url, {"password1": PASSWORD})
    assert refused.status_code == 200 and b"This field is required" in refused.content
    wrong = client.post(url, {"password1": PASSWORD, "code": wrong_code(world.other_caregiver)})
    assert b"not right" in wrong.content
    assert not CaregiverLink.objects.filter(caregiver=world.other_caregiver, patient=world.patient).exists()
    assert client.post(url, {"password1": PASSWORD, "code": code(device)}).status_code == 302
    assert CaregiverLink.objects.filter(caregiver=world.other_caregiver, patient=world.patient).exists()
    assert client.get(f"/patients/{world.patient.pk}/").status_code == 200  # the session passed the code


def test_staff_with_no_second_factor_cannot_accept_an_invitation_with_a_password(world):
    url = invitation_to(world, world.staff)
    response = Client().post(url, {"password1": PASSWORD})
    assert response.status_code == 200 and b"Set up two-step log-in first" in response.content
    assert not CaregiverLink.objects.filter(caregiver=world.staff).exists()


# --- An emergency contact has a name and a phone --------------------------------------------------


@pytest.mark.parametrize("contacts", [[{"relation": "spouse"}], [{}], [{"name": "Ann"}], [{"phone": "555"}]])
def test_a_patch_cannot_store_an_emergency_contact_without_a_name_or_phone(world, contacts):
    world.patient.emergency_contacts = [{"name": "Ann", "phone": "+1 555 0100", "relation": "sister"}]
    world.patient.save()
    for user in (world.patient_user, world.staff):
        client = Client()
        client.force_login(user)
        if user == world.staff:
            with_device(user)
            from tests.conftest import verify_second_factor

            verify_second_factor(client, user)
        response = client.patch(
            f"/api/v1/patients/{world.patient.pk}/",
            data=json.dumps({"emergency_contacts": contacts}),
            content_type="application/json",
        )
        assert response.status_code == 400, response.content
        assert any(key.startswith("emergency_contacts.0.") for key in response.json()["errors"])
        world.patient.refresh_from_db()
        assert world.patient.emergency_contacts[0]["phone"] == "+1 555 0100"
        assert client.get(f"/api/v1/patients/{world.patient.pk}/").status_code == 200


def test_the_model_refuses_a_contact_without_a_phone(world):
    from django.core.exceptions import ValidationError

    world.patient.emergency_contacts = [{"name": "Ann"}]
    with pytest.raises(ValidationError, match="name and a phone"):
        world.patient.full_clean()


def test_the_emergency_check_answers_head_for_uptime_checks():
    assert Client().head("/emergency-check/").status_code == 200
