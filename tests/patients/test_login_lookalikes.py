"""Log-in throttling keys on the address as the database compares it (SPEC §10): look-alikes of one
address (dotless ı, long ſ, capitals) share its count of tries, and a look-alike is not a way in.

PostgreSQL's case-insensitive match folds ı → I and ſ → S, while Python's lower() does not; before
the fix each look-alike got five fresh tries, got in with the right password, and its success
cleared the real address's lock."""

import pytest
from django.db import connection
from django.test import Client

from patients.addresses import fold, same_address
from patients.models import User
from tests.factories import PASSWORD, PatientFactory

pytestmark = pytest.mark.usefixtures("frozen")  # tests/patients/conftest.py: time stands still

REAL = "sam@riverside.example"
LOOK_ALIKES = ["sam@rıverside.example", "ſam@riverſide.example", "Sam@RIVERSIDE.example", "SAM@RıVERSIDE.EXAMPLE"]
DOTLESS = "sam@rıverside.example"


@pytest.fixture
def sam(db):
    return PatientFactory(user__email=REAL).user


def page(address, password, ip="10.0.0.1"):
    client = Client()
    response = client.post("/accounts/login/", {"username": address, "password": password}, REMOTE_ADDR=ip)
    return response, client


def api(address, password, ip="10.0.0.1"):
    return Client().post("/api/v1/auth/token/", {"email": address, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- The fold, against the database it stands for -------------------------------------------


def test_fold_puts_look_alikes_on_one_key():
    assert {fold(address) for address in [REAL, *LOOK_ALIKES, "ｓam@riverside.example", "sam@riverside.example"]} == {
        REAL
    }
    assert fold("sam@riverside.example") != fold("pam@riverside.example")


@pytest.mark.django_db
def test_every_letter_the_database_matches_to_an_ascii_letter_folds_to_it():
    """Ask PostgreSQL which letters its UPPER() turns into an ASCII capital; each must fold to
    that letter, or a look-alike would get a count of its own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chr(n), upper(chr(n)) FROM generate_series(128, 65533) AS n"
            " WHERE n NOT BETWEEN 55296 AND 57343 AND upper(chr(n)) ~ '^[A-Z]$'"
        )
        folded_by_database = cursor.fetchall()
    assert ("ı", "I") in folded_by_database and ("ſ", "S") in folded_by_database
    for letter, capital in folded_by_database:
        assert fold(letter) == capital.lower(), (letter, hex(ord(letter)))


def test_a_look_alike_is_not_the_address():
    assert same_address(REAL, "Sam@Riverside.Example")
    # Compatibility forms are the address (Django's log-in form turns them into it, too).
    assert same_address(REAL, "ſam@riverside.example") and same_address(REAL, "ｓam@riverside.example")
    assert not same_address(REAL, DOTLESS) and not same_address(REAL, "SAM@RıVERSIDE.EXAMPLE")


# --- The log-in page -----------------------------------------------------------------------


def test_a_look_alike_with_the_right_password_does_not_sign_in(sam):
    for address in ["sam@rıverside.example", "SAM@RıVERSIDE.EXAMPLE"]:
        response, client = page(address, PASSWORD, ip="10.0.0.7")
        assert response.status_code == 200 and not signed_in(client), address
    assert User.objects.get_by_natural_key("SAM@Riverside.example") == sam
    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key(DOTLESS)
    response, client = page("SAM@Riverside.EXAMPLE", PASSWORD, ip="10.0.0.7")
    assert response.status_code == 302 and signed_in(client)


def test_five_failures_lock_every_look_alike(sam):
    for _ in range(5):
        page(REAL, "wrong")
    for address in [DOTLESS, "ſam@riverside.example", REAL]:
        response, client = page(address, PASSWORD)
        assert response.status_code == 429 and not signed_in(client), address
    # Another IP is not locked (the lock is the (account, IP) pair).
    assert page(REAL, PASSWORD, ip="10.0.0.2")[0].status_code == 302


def test_failures_with_look_alikes_lock_the_real_address(sam):
    """The reverse order: each look-alike's failures count against the real address."""
    for address in ["sam@rıverside.example", "ſam@riverside.example", "SAM@RIVERSIDE.EXAMPLE", DOTLESS, DOTLESS]:
        assert page(address, "wrong")[0].status_code in (200, 429)
    response, client = page(REAL, PASSWORD)
    assert response.status_code == 429 and not signed_in(client)


def test_a_look_alike_does_not_reset_the_real_count(sam):
    for _ in range(4):
        page(REAL, "wrong")
    response, client = page(DOTLESS, PASSWORD)  # the fifth failure, not a success
    assert not signed_in(client)
    response, client = page(REAL, PASSWORD)
    assert response.status_code == 429 and not signed_in(client)


# --- The API token endpoint ----------------------------------------------------------------


def test_the_token_endpoint_shares_the_count(sam):
    assert api(DOTLESS, PASSWORD, ip="10.0.0.8").status_code == 400, "a look-alike gets no token"
    assert api("ſam@riverside.example", PASSWORD, ip="10.0.0.8").status_code == 200, "the same address"
    for _ in range(5):
        api(REAL, "wrong")
    for address in [DOTLESS, "ſam@riverside.example", REAL]:
        response = api(address, PASSWORD)
        assert response.status_code == 429 and "token" not in response.json(), address


def test_the_token_endpoint_in_the_reverse_order(sam):
    for _ in range(4):
        api(DOTLESS, "wrong")
    assert api("SAM@RıVERSIDE.EXAMPLE", PASSWORD).status_code == 429  # the fifth failure locks
    response = api(REAL, PASSWORD)
    assert response.status_code == 429 and "token" not in response.json()
