"""API tokens (SPEC §10): they expire (staff 12 hours, others 30 days), lapse when idle like
sessions, end on a password change or reset and on a change of role; several per person, each
listed and revocable by its owner only; only a hash of the key is kept; and whoever has a second
factor passes it for every token."""

import hashlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients import services as patient_services
from patients.models import ApiToken, AuditEvent, ClinicMembership, User
from patients.token_rules import Ended, ended
from tests.factories import PASSWORD
from tests.patients.helpers import totp_code as code

TOKEN_URL = "/api/v1/auth/token/"
LIST_URL = "/api/v1/auth/tokens/"
PROBE = "/api/v1/patients/"  # any endpoint that needs a log-in


def request_token(user, **extra):
    body = {"email": user.email, "password": PASSWORD, **extra}
    return Client().post(TOKEN_URL, data=json.dumps(body), content_type="application/json")


def new_token(user, name="") -> str:
    """A token for `user`; staff pass the second factor with a fresh authenticator app."""
    extra = {"name": name} if name else {}
    if user.memberships.exists():
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="app", confirmed=True
        )
        extra["otp"] = code(device)
    response = request_token(user, **extra)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def use(key, url=PROBE, method="get"):
    return getattr(Client(), method)(url, HTTP_AUTHORIZATION=f"Token {key}")


def works(key) -> bool:
    status = use(key).status_code
    assert status in (200, 401), status
    return status == 200


def refusal(key) -> str:
    response = use(key)
    assert response.status_code == 401
    return response.json()["errors"]["detail"][0]


# --- how long a token lasts ------------------------------------------------------------------


def test_staff_tokens_end_after_12_hours_however_busy(world, start, settings):
    settings.SESSION_IDLE_MINUTES_STAFF = 24 * 60  # only the 12 hours in all are tested here
    with time_machine.travel(start, tick=False) as clock:
        key = new_token(world.staff)
        clock.shift(timedelta(hours=11, minutes=59, seconds=59))
        assert works(key)
        clock.shift(timedelta(seconds=1))
        assert refusal(key) == "That token has expired. Get a new one."


def test_other_tokens_end_after_30_days(world, start, settings):
    settings.SESSION_IDLE_MINUTES_OTHER = 31 * 24 * 60
    with time_machine.travel(start, tick=False) as clock:
        key = new_token(world.patient_user)
        clock.shift(timedelta(days=29, hours=23, minutes=59))
        assert works(key)
        clock.shift(timedelta(minutes=1))
        assert not works(key)


def test_the_expiry_is_given_with_the_token(world, start):
    with time_machine.travel(start, tick=False):
        body = request_token(world.caregiver, name="Phone").json()
    assert body["name"] == "Phone"
    assert body["expires_at"].replace("Z", "+00:00") == (start + timedelta(days=30)).isoformat()


@pytest.mark.parametrize(("who", "minutes"), [("staff", 15), ("patient_user", 60), ("caregiver", 60)])
def test_tokens_lapse_when_idle_like_sessions(world, start, who, minutes):
    with time_machine.travel(start, tick=False) as clock:
        key = new_token(getattr(world, who))
        # Used just inside the limit, again and again: the token carries on.
        for _ in range(3):
            clock.shift(timedelta(minutes=minutes))
            assert works(key)
        clock.shift(timedelta(minutes=minutes, seconds=1))
        assert refusal(key) == "That token was not used for too long. Get a new one."


def test_last_used_is_written_at_most_every_30_seconds(world, start):
    with time_machine.travel(start, tick=False) as clock:
        key = new_token(world.caregiver)
        token = ApiToken.objects.get()
        clock.shift(timedelta(seconds=29))
        assert works(key)
        token.refresh_from_db()
        assert token.last_used_at == start
        clock.shift(timedelta(seconds=1))
        assert works(key)
        token.refresh_from_db()
        assert token.last_used_at == start + timedelta(seconds=30)


# --- what ends a token early -----------------------------------------------------------------


def test_a_password_change_ends_every_token(world):
    keys = [new_token(world.patient_user, "Phone"), new_token(world.patient_user, "Tablet")]
    client = Client()
    client.force_login(world.patient_user)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new long passphrase 7",
            "new_password2": "a new long passphrase 7",
        },
    )
    assert response.status_code == 302
    for key in keys:
        assert refusal(key) == "That token stopped working when the password changed. Get a new one."
    # The page lists none of them, and a new token works.
    assert client.get(LIST_URL).json() == []
    fresh = Client().post(
        TOKEN_URL,
        data=json.dumps({"email": world.patient_user.email, "password": "a new long passphrase 7"}),
        content_type="application/json",
    )
    assert works(fresh.json()["token"])


def test_a_password_reset_ends_every_token(world):
    user = world.caregiver
    key = new_token(user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    client = Client()
    form = client.get(f"/accounts/reset/{uid}/{default_token_generator.make_token(user)}/", follow=True)
    assert form.status_code == 200
    new = "another long passphrase 9"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    assert not works(key)


def test_a_password_set_anywhere_ends_every_token(world):
    key = new_token(world.caregiver)
    # Even a change that skips every signal (an admin's shell, a bulk update).
    User.objects.filter(pk=world.caregiver.pk).update(password=make_password("set by hand 12345"))
    assert not works(key)


def test_a_new_clinic_role_ends_every_token(world):
    key = new_token(world.patient_user)
    ClinicMembership.objects.create(user=world.patient_user, clinic=world.clinic)
    assert refusal(key) == "That token does not work. Get a new one."


def test_losing_a_clinic_role_ends_every_token(world):
    key = new_token(world.staff)
    ClinicMembership.objects.get(user=world.staff).delete()
    assert not works(key)


def test_a_changed_clinic_role_ends_every_token_and_an_unchanged_one_does_not(world):
    key = new_token(world.staff)
    membership = ClinicMembership.objects.get(user=world.staff)
    membership.save()  # nothing changed
    assert works(key)
    membership.role = ClinicMembership.Role.ADMIN
    membership.save()
    assert not works(key)
    rows = AuditEvent.objects.filter(what="api_token: role changed", actor=world.staff)
    assert rows.count() == 1 and rows.get().clinic_id == world.clinic.pk


def test_the_admin_site_flag_is_a_role_too(world):
    key = new_token(world.caregiver)
    world.caregiver.full_name = "Renamed"
    world.caregiver.save()
    assert works(key)
    world.caregiver.is_staff = True
    world.caregiver.save()
    assert not works(key)


# --- several tokens; each person sees and revokes their own ----------------------------------


def test_the_list_shows_only_your_own_tokens_and_never_a_key(world, start):
    with time_machine.travel(start, tick=False) as clock:
        phone = new_token(world.patient_user, "Phone")
        clock.shift(timedelta(seconds=1))
        tablet = new_token(world.patient_user, "Tablet")
        other = new_token(world.caregiver, "Carer phone")
        response = use(tablet, LIST_URL)
    assert response.status_code == 200
    rows = response.json()
    assert [row["name"] for row in rows] == ["Tablet", "Phone"]
    assert [row["current"] for row in rows] == [True, False]
    assert set(rows[0]) == {"id", "name", "created_at", "last_used_at", "expires_at", "current"}
    for key in (phone, tablet, other):
        assert key not in response.content.decode()
    assert [row["name"] for row in use(other, LIST_URL).json()] == ["Carer phone"]


def test_revoking_your_own_token_ends_it_and_someone_elses_is_404(world):
    mine = new_token(world.patient_user, "Phone")
    theirs = new_token(world.caregiver, "Carer phone")
    their_id = ApiToken.objects.get(user=world.caregiver).pk
    my_id = ApiToken.objects.get(user=world.patient_user).pk

    response = use(mine, f"{LIST_URL}{their_id}/", "delete")
    assert response.status_code == 404 and list(response.json()) == ["errors"]
    assert works(theirs)

    assert use(mine, f"{LIST_URL}{my_id}/", "delete").status_code == 204
    assert refusal(mine) == "That token does not work. Get a new one."
    assert use(theirs, f"{LIST_URL}{my_id}/", "delete").status_code == 404
    assert AuditEvent.objects.filter(what="api_token", action=AuditEvent.Action.CREATE).count() == 2
    revoked = AuditEvent.objects.get(what="api_token", action=AuditEvent.Action.DELETE)
    assert revoked.actor == world.patient_user


def test_the_tokens_page_lists_and_revokes_your_own(world):
    new_token(world.patient_user, "Kitchen tablet")
    key = new_token(world.patient_user, "Phone")
    new_token(world.caregiver, "Carer phone")
    client = Client()
    client.force_login(world.patient_user)
    page = client.get("/account/tokens/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Kitchen tablet" in html and "Phone" in html and "Carer phone" not in html
    assert key not in html

    theirs = ApiToken.objects.get(user=world.caregiver).pk
    assert client.post(f"/account/tokens/{theirs}/revoke/").status_code == 404
    assert client.get(f"/account/tokens/{theirs}/revoke/").status_code == 405
    mine = ApiToken.objects.get(user=world.patient_user, name="Phone").pk
    response = client.post(f"/account/tokens/{mine}/revoke/", follow=True)
    assert response.redirect_chain == [("/account/tokens/", 302)]
    assert "can no longer get in" in response.content.decode()
    assert not works(key)
    assert ApiToken.objects.filter(user=world.caregiver).exists()


def test_the_tokens_page_needs_a_log_in_and_csrf(world):
    assert Client().get("/account/tokens/")["Location"].startswith("/accounts/login/")
    new_token(world.patient_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.patient_user)
    assert client.post(f"/account/tokens/{ApiToken.objects.get().pk}/revoke/").status_code == 403
    assert ApiToken.objects.exists()


# --- storage -------------------------------------------------------------------------------


def test_only_a_hash_of_the_key_is_stored(world):
    key = new_token(world.patient_user)
    row = ApiToken.objects.get()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert len(key) >= 40


def test_housekeeping_deletes_ended_tokens(world, start):
    with time_machine.travel(start, tick=False) as clock:
        idle = new_token(world.staff)
        clock.shift(timedelta(minutes=10))
        busy = new_token(world.caregiver)
        clock.shift(timedelta(minutes=6))
        assert patient_services.housekeeping()["api_tokens"] == 1
        assert works(busy) and not works(idle)
        assert list(ApiToken.objects.values_list("user", flat=True)) == [world.caregiver.pk]


# --- the second factor for every token -----------------------------------------------------


@pytest.mark.real_two_factor
@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
def test_whoever_has_a_second_factor_passes_it_for_a_token(world, who, start):
    user = getattr(world, who)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    with time_machine.travel(start, tick=False) as clock:
        without = request_token(user)
        assert without.status_code == 400 and "otp" in without.json()["errors"]
        wrong = request_token(user, otp="000000" if code(device) != "000000" else "111111")
        assert wrong.status_code == 400 and "otp" in wrong.json()["errors"]
        assert not ApiToken.objects.exists()
        clock.shift(timedelta(seconds=2))  # django-otp waits a moment after a wrong code
        response = request_token(user, otp=code(device))
        assert response.status_code == 200
        assert works(response.json()["token"])


@pytest.mark.real_two_factor
def test_staff_without_a_second_factor_get_no_token(world):
    response = request_token(world.staff)
    assert response.status_code == 400
    assert response.json()["errors"]["otp"] == ["Set up two-step log-in in the web app first."]
    assert not ApiToken.objects.exists()


# --- the rule itself (pure) ----------------------------------------------------------------


def test_the_rule_names_why_a_token_ended(start):
    hour = timedelta(hours=1)
    live = {"now": start, "expires_at": start + hour, "last_used_at": start, "idle_limit": hour}
    assert ended(**live, fingerprint_matches=True) is None
    assert ended(**live, fingerprint_matches=False) is Ended.PASSWORD
    assert ended(**{**live, "now": start + hour}, fingerprint_matches=True) is Ended.EXPIRED
    assert ended(**{**live, "last_used_at": start - hour}, fingerprint_matches=True) is None
    assert ended(**{**live, "last_used_at": start - hour - timedelta(seconds=1)}, fingerprint_matches=True) is (
        Ended.IDLE
    )


def test_deleting_an_account_deletes_its_tokens(world):
    key = new_token(world.staff)
    world.staff.delete()
    assert not ApiToken.objects.exists()
    assert not works(key)
