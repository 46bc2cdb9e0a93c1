"""Two-step log-in: staff must pass a TOTP code (or a recovery code, once) before any staff
page or endpoint; patients and caregivers may turn it on."""

import re
import time

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients import two_factor
from tests.factories import PASSWORD
from tests.patients.helpers import totp_code as code

pytestmark = pytest.mark.real_two_factor


def password_login(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


STAFF_URLS = ["/", "/patients/new/", "/clinic/audit/"]


def test_staff_without_a_device_reach_no_staff_page_or_endpoint(world):
    client = password_login(world.admin)
    for url in [*STAFF_URLS, f"/patients/{world.patient.pk}/", f"/clinic/{world.clinic.pk}/settings/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/account/2fa/needed/"), url
    api = client.get("/api/v1/patients/")
    assert api.status_code == 403 and "two-step" in api.json()["errors"]["detail"][0]
    assert client.get("/admin/").status_code == 302


def enrolment_path(user) -> str:
    """A clinic admin's one-time set-up link (a password alone sets up nothing for staff)."""
    url = two_factor.enrolment_url(two_factor.issue_enrolment(user=user, by=None))
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_setup_then_verify_on_the_next_log_in(world):
    client = password_login(world.staff)
    link = enrolment_path(world.staff)
    page = client.get(link)
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=world.staff, confirmed=False)
    wrong = client.post(link, {"code": "000000" if code(device) != "000000" else "111111"})
    assert b"not right" in wrong.content
    time.sleep(1.1)  # django-otp throttles: one second after a wrong code
    done = client.post(link, {"code": code(device)})
    codes = re.findall(r"<code>(\d{5}-\d{5})</code>", done.content.decode())
    assert len(codes) == 10
    assert client.get("/").status_code == 200  # this session is verified now

    again = password_login(world.staff)
    response = again.get(f"/patients/{world.patient.pk}/")
    assert response["Location"].startswith("/account/2fa/verify/")
    assert again.post("/account/2fa/verify/", {"code": "12345"}).status_code == 200
    time.sleep(1.1)
    ok = again.post("/account/2fa/verify/", {"code": codes[0], "next": f"/patients/{world.patient.pk}/"})
    assert ok.status_code == 302 and ok["Location"] == f"/patients/{world.patient.pk}/"
    assert again.get(f"/patients/{world.patient.pk}/").status_code == 200

    # A recovery code works once.
    third = password_login(world.staff)
    reused = third.post("/account/2fa/verify/", {"code": codes[0]})
    assert reused.status_code == 200 and b"not right" in reused.content
    time.sleep(1.1)
    assert third.post("/account/2fa/verify/", {"code": codes[1]}).status_code == 302


def test_patients_and_caregivers_need_no_second_factor_but_may_turn_it_on(world):
    client = password_login(world.patient_user)
    assert client.get("/").status_code == 200
    client.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=world.patient_user, confirmed=False)
    client.post("/account/2fa/setup/", {"code": code(device)})
    assert TOTPDevice.objects.filter(user=world.patient_user, confirmed=True).exists()
    assert client.post("/account/2fa/off/").status_code == 302
    assert not TOTPDevice.objects.filter(user=world.patient_user).exists()


def test_staff_cannot_turn_it_off(world):
    client = password_login(world.staff)
    link = enrolment_path(world.staff)
    client.get(link)
    device = TOTPDevice.objects.get(user=world.staff, confirmed=False)
    client.post(link, {"code": code(device)})
    client.post("/account/2fa/off/")
    assert TOTPDevice.objects.filter(user=world.staff, confirmed=True).exists()


def test_open_redirects_are_refused(world):
    client = password_login(world.patient_user)
    client.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=world.patient_user, confirmed=False)
    response = client.post("/account/2fa/setup/", {"code": code(device), "next": "https://evil.example/"})
    assert b"https://evil.example/" not in response.content
