"""Attacks on the second factor (issue 10, SPEC §10): every way around it is tried here.

- A password alone never adds or replaces a device (it was enough, through /account/2fa/setup/).
- Whoever has a second factor, patient or caregiver too, is asked for it at every log-in.
- Staff with no device set one up only through a one-time link from a clinic admin.
- The help pages never ask for it: a half-verified session sees them as a signed-out visitor.
- A lost second factor: a clinic admin resets it, audited, and the person is told by e-mail.
- A new role reaches live sessions at once.
"""

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients import two_factor
from patients.models import AuditEvent, ClinicMembership, SecondFactorEnrolment
from symptoms.models import CheckIn
from tests.factories import PASSWORD, MembershipFactory
from tests.patients.helpers import totp_code as code

# Real commits: the e-mails go out on commit, as they do in production.
pytestmark = [pytest.mark.real_two_factor, pytest.mark.django_db(transaction=True)]


def password_login(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def device_of(user, **extra) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True, **extra)


def recovery_code(user, token="1234567890") -> str:
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=device, token=token)
    return f"{token[:5]}-{token[5:]}"


def verified_client(user) -> Client:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or device_of(user)
    client = password_login(user)
    response = client.post("/account/2fa/verify/", {"code": code(device)})
    assert response.status_code == 302
    return client


def link_in(message) -> str:
    return re.search(r"/account/2fa/enrol/[^/\s]+/", message.body).group(0)


# --- Critical: a new authenticator does not skip the second step ----------------------------------


def test_a_password_alone_cannot_replace_a_staff_members_device(world):
    real = device_of(world.staff)
    client = password_login(world.staff)
    page = client.get("/account/2fa/setup/")
    assert page.status_code == 302 and page["Location"].startswith("/account/2fa/verify/")
    assert not TOTPDevice.objects.filter(user=world.staff, confirmed=False).exists()  # no fresh secret shown
    # Even with an unconfirmed device of the attacker's own, posting its code does nothing.
    rogue = TOTPDevice.objects.create(user=world.staff, name="rogue", confirmed=False)
    posted = client.post("/account/2fa/setup/", {"code": code(rogue)})
    assert posted.status_code == 302 and posted["Location"].startswith("/account/2fa/verify/")
    assert TOTPDevice.objects.filter(pk=real.pk, confirmed=True).exists()
    rogue.refresh_from_db()
    assert not rogue.confirmed
    assert client.get("/clinic/patients/").status_code == 302
    assert client.get("/api/v1/patients/").status_code == 403
    token = Client().post("/api/v1/auth/token/", {"email": world.staff.email, "password": PASSWORD})
    assert token.status_code == 400 and "token" not in token.json()


def test_a_password_alone_cannot_enrol_a_staff_member_who_has_no_device(world):
    client = password_login(world.staff)
    page = client.get("/account/2fa/setup/")
    assert page.status_code == 302 and page["Location"] == "/account/2fa/needed/"
    assert not TOTPDevice.objects.filter(user=world.staff).exists()
    for url in ["/", "/clinic/patients/", f"/patients/{world.patient.pk}/", "/account/2fa/verify/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/account/2fa/needed/" in response["Location"], url
    needed = client.get("/account/2fa/needed/")
    assert needed.status_code == 200 and b"set-up link" in needed.content
    assert b"Triage queue" not in needed.content and b"API tokens" not in needed.content  # the header too
    assert client.post("/account/2fa/recovery/").status_code == 302
    assert not StaticDevice.objects.filter(user=world.staff).exists()


def test_a_superuser_with_a_password_alone_does_not_reach_the_admin_site(world):
    world.staff.is_staff = world.staff.is_superuser = True
    world.staff.save()
    device_of(world.staff)
    client = password_login(world.staff)
    client.get("/account/2fa/setup/")
    rogue = TOTPDevice.objects.create(user=world.staff, name="rogue", confirmed=False)
    client.post("/account/2fa/setup/", {"code": code(rogue)})
    assert client.get("/admin/").status_code == 302
    assert verified_client(world.staff).get("/admin/").status_code == 200


def test_a_verified_session_may_move_the_authenticator_to_a_new_phone(world):
    old = device_of(world.staff)
    client = verified_client(world.staff)
    client.get("/account/2fa/setup/")
    new = TOTPDevice.objects.get(user=world.staff, confirmed=False)
    done = client.post("/account/2fa/setup/", {"code": code(new)})
    assert done.status_code == 200 and len(re.findall(r"\d{5}-\d{5}", done.content.decode())) == 10
    assert list(TOTPDevice.objects.filter(user=world.staff).values_list("pk", flat=True)) == [new.pk]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(actor=world.staff, what="second_factor_setup").exists()
    assert mail.outbox[-1].to == [world.staff.email] and "set up" in mail.outbox[-1].body


def test_a_recovery_code_lets_someone_who_lost_their_phone_set_up_a_new_one(world):
    device_of(world.staff)
    spare = recovery_code(world.staff)
    client = password_login(world.staff)
    assert client.post("/account/2fa/verify/", {"code": spare}).status_code == 302
    assert client.get("/account/2fa/setup/").status_code == 200
    new = TOTPDevice.objects.get(user=world.staff, confirmed=False)
    assert client.post("/account/2fa/setup/", {"code": code(new)}).status_code == 200
    assert TOTPDevice.objects.filter(user=world.staff, confirmed=True).count() == 1


# --- Staff enrol only through a one-time link ---------------------------------------------------


def test_an_admin_sends_a_set_up_link_and_the_staff_member_enrols_with_it(world):
    admin = verified_client(world.admin)
    staff_page = admin.get(f"/clinic/{world.clinic.pk}/staff/")
    assert staff_page.status_code == 200 and world.staff.email.encode() in staff_page.content
    sent = admin.post(f"/clinic/{world.clinic.pk}/staff/{world.staff.pk}/second-factor/link/")
    assert sent.status_code == 302
    message = mail.outbox[-1]
    assert message.to == [world.staff.email]
    url = link_in(message)
    assert link_in(type("M", (), {"body": message.alternatives[0][0]})) == url

    # A mail scanner or anyone without the password is sent to log in; nothing is set up.
    assert Client().get(url).status_code == 302
    assert not TOTPDevice.objects.filter(user=world.staff).exists()

    client = password_login(world.staff)
    assert client.get("/clinic/patients/")["Location"].startswith("/account/2fa/needed/")
    page = client.get(url)
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=world.staff, confirmed=False)
    wrong = client.post(url, {"code": "000000" if code(device) != "000000" else "111111"})
    assert b"not right" in wrong.content
    time.sleep(1.1)  # django-otp slows down after a wrong code
    done = client.post(url, {"code": code(device)})
    assert done.status_code == 200 and len(re.findall(r"\d{5}-\d{5}", done.content.decode())) == 10
    assert client.get("/clinic/patients/").status_code == 200
    assert SecondFactorEnrolment.objects.get(user=world.staff).used_at is not None
    assert AuditEvent.objects.filter(actor=world.admin, what="second_factor_link").exists()

    # Used once: the same link does nothing more, even from a fresh log-in.
    again = Client()
    again.post("/accounts/login/", {"username": world.staff.email, "password": PASSWORD})
    assert again.get(url).status_code == 404
    assert again.post(url, {"code": code(device)}).status_code == 404


def test_a_set_up_link_works_only_for_its_person_fresh_and_untampered(world):
    url = two_factor.enrolment_url(two_factor.issue_enrolment(user=world.staff, by=world.admin))
    path = url.split("://", 1)[-1].split("/", 1)[1]
    path = "/" + path
    # Someone else, signed in with their own password, cannot use it.
    other = MembershipFactory(clinic=world.clinic, user__email="other-nurse@home.example").user
    assert password_login(other).get(path).status_code == 404
    # Tampered.
    assert password_login(world.staff).get(path[:-3] + "xx/").status_code == 404
    # Replaced by a newer link.
    newer = two_factor.issue_enrolment(user=world.staff, by=world.admin)
    assert password_login(world.staff).get(path).status_code == 404
    newer_path = "/" + two_factor.enrolment_url(newer).split("://", 1)[-1].split("/", 1)[1]
    # Too old.
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        client = Client()
        client.post("/accounts/login/", {"username": world.staff.email, "password": PASSWORD})
        assert client.get(newer_path).status_code == 404
    assert password_login(world.staff).get(newer_path).status_code == 200


def test_the_first_admin_gets_a_link_from_the_management_command(world, capsys):
    call_command("second_factor_link", world.admin.email.upper())
    printed = capsys.readouterr().out.strip()
    assert "/account/2fa/enrol/" in printed and mail.outbox[-1].to == [world.admin.email]
    path = "/" + printed.split("://", 1)[-1].split("/", 1)[1]
    client = password_login(world.admin)
    assert client.get(path).status_code == 200


def test_only_admins_of_the_clinic_send_links_or_reset(world):
    device_of(world.admin)
    device_of(world.staff)
    nurse = password_login(world.staff)
    nurse.post("/account/2fa/verify/", {"code": code(TOTPDevice.objects.get(user=world.staff))})
    outsider = verified_client(world.other_clinic_staff)
    for client in (nurse, outsider, password_login(world.patient_user), password_login(world.caregiver)):
        assert client.get(f"/clinic/{world.clinic.pk}/staff/").status_code in (302, 404)
        for action in ("link", "reset"):
            response = client.post(f"/clinic/{world.clinic.pk}/staff/{world.admin.pk}/second-factor/{action}/")
            assert response.status_code in (302, 404)
            assert (
                response.status_code == 404
                or "/account/2fa/" in response["Location"]
                or "login" in response["Location"]
            )
    assert TOTPDevice.objects.filter(user=world.admin, confirmed=True).exists()
    assert not SecondFactorEnrolment.objects.exists()
    # An admin cannot reset a member of another clinic.
    admin = verified_client(world.admin)
    assert (
        admin.post(f"/clinic/{world.clinic.pk}/staff/{world.other_clinic_staff.pk}/second-factor/reset/").status_code
        == 404
    )


# --- A patient's own second factor ----------------------------------------------------------------


def patient_with_second_factor(world) -> TOTPDevice:
    client = password_login(world.patient_user)
    client.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=world.patient_user, confirmed=False)
    assert client.post("/account/2fa/setup/", {"code": code(device)}).status_code == 200
    return device


def test_a_patient_who_turned_it_on_is_asked_for_it_at_every_log_in(world):
    device = patient_with_second_factor(world)
    client = password_login(world.patient_user)
    for url in ["/", f"/patients/{world.patient.pk}/", "/inbox/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/account/2fa/verify/"), url
    assert client.get(f"/api/v1/patients/{world.patient.pk}/").status_code == 403
    # The unverified session can neither turn it off nor replace it.
    off = client.post("/account/2fa/off/")
    assert off.status_code == 302 and off["Location"].startswith("/account/2fa/verify/")
    assert client.get("/account/2fa/setup/")["Location"].startswith("/account/2fa/verify/")
    assert TOTPDevice.objects.filter(pk=device.pk, confirmed=True).exists()
    # The token endpoint asks for it too.
    api = Client()
    refused = api.post("/api/v1/auth/token/", {"email": world.patient_user.email, "password": PASSWORD})
    assert refused.status_code == 400 and "otp" in refused.json()["errors"]
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):  # the set-up code is spent
        assert client.post("/account/2fa/verify/", {"code": code(device)}).status_code == 302
        assert client.get("/").status_code == 200
        assert client.post("/account/2fa/off/").status_code == 302
    assert not TOTPDevice.objects.filter(user=world.patient_user).exists()
    assert mail.outbox[-1].to == [world.patient_user.email] and "turned off" in mail.outbox[-1].body


# --- Never lock anyone out of help ----------------------------------------------------------------


@pytest.fixture
def half_verified(world):
    """The patient has a second factor and this session typed the password, not yet the code."""
    patient_with_second_factor(world)
    return password_login(world.patient_user)


def test_the_emergency_check_never_asks_for_the_code(half_verified):
    assert half_verified.get("/emergency-check/").status_code == 200
    answer = half_verified.post("/emergency-check/", {"symptoms": ["seizure"], "temperature_unit": "F"})
    assert answer.status_code == 200 and b"911" in answer.content
    api = half_verified.post("/api/v1/triage/", {"symptoms": ["seizure"]}, content_type="application/json")
    assert api.status_code == 200 and api.json()["disposition"]["level"] == "emergency"


def test_a_check_in_posted_from_a_half_verified_session_shows_its_guidance_and_saves_nothing(world, half_verified):
    before = CheckIn.objects.count()
    response = half_verified.post(
        f"/patients/{world.patient.pk}/checkin/",
        {"symptoms": ["seizure"], "temperature_unit": "F", "client_token": "a" * 32},
    )
    assert response.status_code == 200
    assert b"911" in response.content and world.patient.full_name.encode() not in response.content
    assert CheckIn.objects.count() == before
    # The form itself, which shows the patient's name, asks for the code first.
    form = half_verified.get(f"/patients/{world.patient.pk}/checkin/")
    assert form.status_code == 302 and form["Location"].startswith("/account/2fa/verify/")


def test_the_reminder_acknowledgement_link_never_asks_for_the_code(world, half_verified):
    from refills.models import Acknowledgement
    from refills.notify import acks
    from tests.factories import pump_with_refill

    pump_with_refill(world.patient, by=world.staff, at=timezone.now() - timedelta(days=1))
    cycle = world.patient.refill_cycles.get(ended_at__isnull=True)
    token = acks.make_token(cycle, f"user:{world.patient_user.pk}")
    assert half_verified.get(f"/r/ack/{token}/").status_code == 200
    assert half_verified.post(f"/r/ack/{token}/").status_code == 200
    assert Acknowledgement.objects.filter(cycle=cycle).exists()
    assert half_verified.post(f"/api/v1/reminders/ack/{token}/").status_code == 200


# --- A lost second factor -------------------------------------------------------------------------


def test_an_admin_resets_a_staff_members_lost_second_factor(world):
    device_of(world.staff)
    nurse = verified_client(world.staff)
    assert nurse.get("/clinic/patients/").status_code == 200
    admin = verified_client(world.admin)
    response = admin.post(f"/clinic/{world.clinic.pk}/staff/{world.staff.pk}/second-factor/reset/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=world.staff).exists()
    assert not StaticDevice.objects.filter(user=world.staff).exists()
    event = AuditEvent.objects.get(what="second_factor_reset")
    assert event.actor == world.admin and event.clinic_id == world.clinic.pk
    told = mail.outbox[-1]
    assert told.to == [world.staff.email] and "reset" in told.subject and "/account/2fa/enrol/" in told.body
    # The session that passed the old device passes it no more.
    assert nurse.get("/clinic/patients/")["Location"].startswith("/account/2fa/needed/")
    # The link in the e-mail sets up the new phone.
    client = password_login(world.staff)
    url = link_in(told)
    assert client.get(url).status_code == 200
    new = TOTPDevice.objects.get(user=world.staff, confirmed=False)
    assert client.post(url, {"code": code(new)}).status_code == 200
    assert client.get("/clinic/patients/").status_code == 200


def test_an_admin_cannot_reset_their_own_second_factor(world):
    device = device_of(world.admin)
    admin = verified_client(world.admin)
    admin.post(f"/clinic/{world.clinic.pk}/staff/{world.admin.pk}/second-factor/reset/")
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_the_clinic_admin_resets_a_patients_lost_second_factor(world):
    patient_with_second_factor(world)
    url = f"/patients/{world.patient.pk}/second-factor/reset/"
    device_of(world.staff)
    for client in (verified_client(world.staff), verified_client(world.other_clinic_staff), Client()):
        response = client.post(url)
        assert response.status_code in (302, 404)
        assert response.status_code == 404 or "login" in response["Location"]
    caregiver = password_login(world.caregiver)
    assert caregiver.post(url).status_code == 404
    assert TOTPDevice.objects.filter(user=world.patient_user, confirmed=True).exists()

    admin = verified_client(world.admin)
    assert b"Reset two-step log-in" in admin.get(f"/patients/{world.patient.pk}/").content
    assert admin.post(url).status_code == 302
    assert not TOTPDevice.objects.filter(user=world.patient_user).exists()
    event = AuditEvent.objects.get(what="second_factor_reset")
    assert event.actor == world.admin and event.patient_id == world.patient.pk
    assert mail.outbox[-1].to == [world.patient_user.email] and "reset" in mail.outbox[-1].subject
    # The patient gets in with their password now.
    assert password_login(world.patient_user).get("/").status_code == 200


# --- A new role reaches live sessions -------------------------------------------------------------


def test_a_new_staff_role_reaches_a_live_session_at_once(world):
    client = password_login(world.caregiver)
    assert client.get("/").status_code == 200
    ClinicMembership.objects.create(user=world.caregiver, clinic=world.clinic)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/account/2fa/needed/")


def test_a_new_staff_role_brings_the_staff_idle_limit_to_a_live_session(world):
    device_of(world.caregiver)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = verified_client(world.caregiver)
        assert client.get("/").status_code == 200
    ClinicMembership.objects.create(user=world.caregiver, clinic=world.clinic)
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
