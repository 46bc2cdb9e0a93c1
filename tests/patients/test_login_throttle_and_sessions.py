"""Log-in throttling by (user, IP) with a 15-minute cool-off, and session expiry."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tests.conftest import verify_second_factor
from tests.factories import PASSWORD

LOGIN = "/accounts/login/"


def attempt(client, email, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def test_five_failures_lock_that_user_and_ip_for_15_minutes_only(world, start):
    email = world.patient_user.email
    with time_machine.travel(start, tick=False) as clock:
        client = Client()
        for _ in range(4):
            assert attempt(client, email, "wrong").status_code == 200
        assert attempt(client, email, "wrong").status_code == 429
        # Locked: even the right password is refused, with a plain explanation.
        locked = attempt(client, email, PASSWORD)
        assert locked.status_code == 429 and b"wait 15 minutes" in locked.content
        # The same user from another IP, and another user from this IP, are not locked.
        assert attempt(Client(), email, PASSWORD, ip="10.0.0.2").status_code == 302
        assert attempt(Client(), world.staff.email, PASSWORD).status_code == 302
        clock.shift(timedelta(minutes=14, seconds=59))
        assert attempt(Client(), email, PASSWORD).status_code == 429
        clock.shift(timedelta(seconds=2))
        assert attempt(Client(), email, PASSWORD).status_code == 302


def test_success_resets_the_failure_count(world, start):
    email = world.patient_user.email
    with time_machine.travel(start, tick=False):
        client = Client()
        for _ in range(4):
            attempt(client, email, "wrong")
        assert attempt(client, email, PASSWORD).status_code == 302
        client = Client()
        for _ in range(4):
            assert attempt(client, email, "wrong").status_code == 200
        assert attempt(client, email, PASSWORD).status_code == 302


def test_api_token_is_throttled_too(world, start):
    with time_machine.travel(start, tick=False):
        client = Client()
        for _ in range(5):
            client.post(
                "/api/v1/auth/token/", {"email": world.staff.email, "password": "wrong"}, REMOTE_ADDR="10.0.0.9"
            )
        response = client.post(
            "/api/v1/auth/token/", {"email": world.staff.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
        )
        assert response.status_code == 429
        assert "errors" in response.json()
        assert "token" not in response.content.decode()


def logged_in(user, at):
    with time_machine.travel(at, tick=False):
        client = Client()
        assert attempt(client, user.email, PASSWORD).status_code == 302
        if user.memberships.exists():
            verify_second_factor(client, user)  # staff: the code step (tested in test_two_factor.py)
        assert client.get("/").status_code == 200
    return client


@pytest.mark.parametrize(
    ("who", "idle_minutes"), [("patient_user", 60), ("caregiver", 60), ("staff", 15), ("admin", 15)]
)
def test_inactivity_ends_the_session(world, start, who, idle_minutes):
    user = getattr(world, who)
    client = logged_in(user, start)
    with time_machine.travel(start + timedelta(minutes=idle_minutes, seconds=-5), tick=False):
        assert client.get("/").status_code == 200  # activity moves the idle clock on
    later = start + timedelta(minutes=2 * idle_minutes, seconds=-10)
    with time_machine.travel(later, tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(later + timedelta(minutes=idle_minutes, seconds=1), tick=False):
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)
        page = client.get(response["Location"])
        assert b"You were signed out" in page.content
        assert client.get("/").status_code == 302


def test_twelve_hours_in_all_even_when_active(world, start):
    client = logged_in(world.patient_user, start)
    for step in range(1, 17):
        with time_machine.travel(start + timedelta(minutes=50 * step), tick=False):
            response = client.get("/")
            if 50 * step <= 12 * 60:
                assert response.status_code == 200, step
            else:
                assert response.status_code == 302, step
                return
    pytest.fail("the session outlived 12 hours")


def test_expired_session_gets_401_from_the_api(world, start):
    client = logged_in(world.staff, start)
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert client.get("/api/v1/patients/").status_code in (401, 403)


def test_log_in_page_shows_the_emergency_number(client, db):
    page = client.get(LOGIN)
    assert b'href="tel:911"' in page.content


def test_log_out_is_a_post(world):
    client = logged_in(world.patient_user, timezone.now())
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302
