"""A database outage (issue 10) answers 503 with the emergency number, never 500, and the public
"Is this an emergency?" check still answers from the rules.

Two kinds of outage. The quick tests point Django's connection at a port on 127.0.0.1 that
nothing listens on (a real refused connection, as psycopg2 sees it when the server is down).
`test_a_real_postgres_outage_and_recovery` runs the app in gunicorn against a private PostgreSQL
cluster of its own (never the shared one), stops the cluster, checks every answer, starts it
again and checks that everything works again.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from django.db import OperationalError, connections
from django.test import Client, RequestFactory

from ibt_companion.outage import OutageMiddleware

REPO = Path(__file__).resolve().parent.parent
CALL_NOW = "If you have signs of withdrawal or overdose, call 911 now."
TRY_AGAIN = "We can't reach our records right now. Please try again in a few minutes."
SESSION_KEY = "a" * 32  # any key: the session row cannot be read anyway
SEIZURE = {"symptoms": ["seizure"], "temperature_unit": "F"}


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released, never listened on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def database_down(django_db_blocker):
    """Django's connection points at a closed port: every query fails to connect."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


def client(*, session: bool = False, token: bool = False) -> Client:
    """A client that gets the server's answer (not the exception) whatever happens, as a browser."""
    headers = {"Authorization": f"Token {'b' * 40}"} if token else {}
    c = Client(raise_request_exception=False, headers=headers)
    if session:
        c.cookies["sessionid"] = SESSION_KEY
    return c


def assert_outage_page(response) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "30"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    # The emergency number comes first, then what happened.
    assert 'href="tel:911"' in page
    assert page.index(CALL_NOW.replace("'", "&#x27;")) < page.index(TRY_AGAIN.replace("'", "&#x27;"))
    assert "Something went wrong" not in page  # not the 500 page


def assert_outage_json(response) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "30"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"errors": {"detail": [CALL_NOW, TRY_AGAIN]}}


# --- 503 instead of 500 -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/clinic/patients/", "/account/notifications/"])
def test_a_page_with_a_session_cookie_is_a_503_page(database_down, path):
    assert_outage_page(client(session=True).get(path))


def test_the_api_with_a_token_is_a_503_in_json(database_down):
    assert_outage_json(client(token=True).get("/api/v1/patients/"))


def test_the_api_with_a_session_cookie_is_a_503_in_json(database_down):
    assert_outage_json(client(session=True).get("/api/v1/patients/"))


def test_a_log_in_is_a_503(database_down):
    response = client().post("/accounts/login/", {"username": "sam@example.org", "password": "a long password 1"})
    assert_outage_page(response)


def test_an_api_token_request_is_a_503_in_json(database_down):
    response = client().post(
        "/api/v1/auth/token/",
        {"email": "sam@example.org", "password": "a long password 1"},
        content_type="application/json",
    )
    assert_outage_json(response)


def test_the_page_names_the_configured_emergency_number(database_down, settings):
    settings.DEFAULT_EMERGENCY_NUMBER = "112"
    response = client(session=True).get("/")
    assert response.status_code == 503
    page = response.content.decode()
    assert "call 112 now" in page and 'href="tel:112"' in page and "911" not in page
    api = client(token=True).get("/api/v1/patients/").json()
    assert api["errors"]["detail"][0] == "If you have signs of withdrawal or overdose, call 112 now."


def test_other_server_errors_are_not_hidden():
    """Only the database's errors become a 503: a bug stays a 500 (and is reported as one)."""
    middleware = OutageMiddleware(lambda request: None)
    request = RequestFactory().get("/")
    assert middleware.process_exception(request, RuntimeError("a bug")) is None
    assert middleware.process_exception(request, OperationalError("connection refused")).status_code == 503


# --- The public emergency check answers from the rules -------------------------------------


@pytest.mark.parametrize("session", [False, True], ids=["no cookie", "session cookie"])
def test_the_emergency_check_answers_without_the_database(database_down, session):
    visitor = client(session=session)
    form = visitor.get("/emergency-check/")
    assert form.status_code == 200, form.content[:300]
    assert "Is this an emergency?" in form.content.decode()
    answer = visitor.post("/emergency-check/", SEIZURE)
    assert answer.status_code == 200, answer.content[:300]
    words = answer.content.decode()
    assert 'href="tel:911"' in words and "Call 911 now" in words
    assert "This check-in was not saved" in words
    # The session cookie is neither deleted nor replaced: it works again after the outage.
    assert "sessionid" not in answer.cookies


@pytest.mark.parametrize(
    "visitor",
    [client, lambda: client(session=True), lambda: client(token=True)],
    ids=["anonymous", "session cookie", "token"],
)
def test_the_triage_api_answers_without_the_database(database_down, visitor):
    api = visitor()
    response = api.post("/api/v1/triage/", {**SEIZURE, "temperature": "101.5"}, content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["disposition"]["level"] == "emergency"
    assert body["disposition"]["pump_data_checked"] is False
    assert api.get("/api/v1/symptoms/").status_code == 200


@pytest.mark.parametrize("visitor", [lambda: client(session=True), lambda: client(token=True)])
def test_a_triage_with_a_patient_needs_the_database(database_down, visitor):
    """Not a 404 ("no such patient") as if logged out: the patient's pump data is unreachable."""
    response = visitor().post(
        "/api/v1/triage/", {"symptoms": ["itching"], "patient": 1}, content_type="application/json"
    )
    assert_outage_json(response)


@pytest.mark.parametrize("session", [False, True], ids=["no cookie", "session cookie"])
def test_healthz_reports_the_database_in_json(database_down, session):
    response = client(session=session).get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["database"] == {"ok": False, "error": "OperationalError"}
