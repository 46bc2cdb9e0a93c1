"""The log-in page's refusal is in the app's own words, and the same whether the e-mail has no
account, the password is wrong, or the account is turned off: the page never tells anyone which
e-mails have an account. Lock-out (tests/patients/test_login_throttle_and_sessions.py) is unchanged.
"""

import re

import pytest
from django.test import Client

from patients.forms import WRONG_LOGIN
from tests.factories import PASSWORD

LOGIN = "/accounts/login/"
OWN_WORDS = "That e-mail and password do not match. Check both and try again. In the password, capital letters matter."


def refusal(email: str, password: str, ip: str) -> tuple[int, str]:
    """The status and the error summary of one try at the log-in page."""
    response = Client().post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)
    text = response.content.decode()
    summary = re.search(r'<div class="error-summary" role="alert">(.*?)</div>', text, re.S)
    return response.status_code, summary.group(1).strip() if summary else ""


def test_the_message_is_the_apps_own_and_the_same_for_any_wrong_pair(world):
    assert str(WRONG_LOGIN) == OWN_WORDS
    wrong_password = refusal(world.patient_user.email, "not-the-password", "10.0.1.1")
    no_account = refusal("nobody-here@home.example", PASSWORD, "10.0.1.2")
    world.caregiver.is_active = False
    world.caregiver.save(update_fields=["is_active"])
    turned_off = refusal(world.caregiver.email, PASSWORD, "10.0.1.3")

    assert wrong_password == no_account == turned_off == (200, f'<ul class="error-list"><li>{OWN_WORDS}</li></ul>')
    page = Client().post(LOGIN, {"username": world.patient_user.email, "password": "x"}, REMOTE_ADDR="10.0.1.4")
    text = page.content.decode()
    assert "Please enter a correct" not in text and "case-sensitive" not in text
    # The e-mail typed stays in the box; the password does not.
    assert f'value="{world.patient_user.email}"' in text and 'value="x"' not in text


@pytest.mark.parametrize("email", ["patient@home.example", "nobody-here@home.example"], ids=["account", "no account"])
def test_the_fifth_wrong_try_still_locks_with_the_same_words_before_it(world, email):
    client = Client()
    for _ in range(4):
        response = client.post(LOGIN, {"username": email, "password": "wrong"}, REMOTE_ADDR="10.0.2.1")
        assert response.status_code == 200 and OWN_WORDS in response.content.decode()
    locked = client.post(LOGIN, {"username": email, "password": "wrong"}, REMOTE_ADDR="10.0.2.1")
    assert locked.status_code == 429 and "please wait 15 minutes" in locked.content.decode()
