"""A database outage (issue 10) answers 503 with the emergency number, never 500, and the public
"Is this an emergency?" check still answers from the rules.

Two kinds of outage. The quick tests point Django's connection at a port on 127.0.0.1 that
nothing listens on (a real refused connection, as psycopg2 sees it when the server is down).
`test_a_real_postgres_outage_and_recovery` runs the app in gunicorn against a private PostgreSQL
cluster of its own (never the shared one), stops the cluster, checks every answer, starts it
again and checks that everything works again.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookies
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.db import InterfaceError, OperationalError, connections
from django.test import Client, RequestFactory

from .fault_fixtures import PG_BIN, as_postgres, private_postgres_cluster
from .refills.smtp_server import free_port

REPO = Path(__file__).resolve().parent.parent
CALL_NOW = "If you have signs of withdrawal or overdose, call 911 now."
TRY_AGAIN = "We can't reach our records right now. Please try again in a few minutes."
SESSION_KEY = "a" * 32  # any key: the session row cannot be read anyway
SEIZURE = {"symptoms": ["seizure"], "temperature_unit": "F"}


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
    from ibt_companion.outage import OutageMiddleware

    middleware = OutageMiddleware(lambda request: None)
    request = RequestFactory().get("/")
    assert middleware.process_exception(request, RuntimeError("a bug")) is None
    assert middleware.process_exception(request, OperationalError("connection refused")).status_code == 503
    assert middleware.process_exception(request, InterfaceError("connection already closed")).status_code == 503


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


# --- A real PostgreSQL server that stops and starts again ----------------------------------

WAIT = 30  # seconds: the bound on every wait for another process
# Persistent connections with health checks, as in production (base.tune_database): the pooled
# connection dies with the server, and a new one is refused.
SERVER_SETTINGS = """
from ibt_companion.settings.test import *  # noqa: F403
DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
"""


class Browser:
    """Plain HTTP to the app server, keeping cookies as a browser would."""

    def __init__(self, port: int, *, token: str = ""):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.token = token

    def request(self, method: str, path: str, *, form: dict | None = None, data: dict | None = None):
        headers = {}
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if data is not None:
            body = json.dumps(data)
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.text = response.read().decode()
        finally:
            connection.close()
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in http.cookies.SimpleCookie(header).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response

    def form_token(self, path: str) -> str:
        page = self.request("GET", path)
        assert page.status == 200, (path, page.status, page.text[:300])
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    def log_in(self, email: str, password: str):
        token = self.form_token("/accounts/login/")
        form = {"username": email, "password": password, "csrfmiddlewaretoken": token}
        return self.request("POST", "/accounts/login/", form=form)

    def emergency_check(self):
        token = self.form_token("/emergency-check/")
        return self.request("POST", "/emergency-check/", form={**SEIZURE, "csrfmiddlewaretoken": token})


def wait_until(check, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def assert_live_outage(response, *, api: bool) -> None:
    assert response.status == 503, (response.status, response.text[:300])
    assert response.getheader("Retry-After") == "30"
    assert "no-store" in response.getheader("Cache-Control")
    if api:
        assert response.getheader("Content-Type") == "application/json"
        assert json.loads(response.text) == {"errors": {"detail": [CALL_NOW, TRY_AGAIN]}}
    else:
        assert response.getheader("Content-Type").startswith("text/html")
        assert response.text.index("call 911 now") < response.text.index("reach our records")


@pytest.fixture
def private_postgres():
    with private_postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def app_server(private_postgres):
    """The app in gunicorn (one sync worker) against the private cluster, migrated afresh."""
    cluster = private_postgres
    subprocess.run(
        as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "ibt"]),
        check=True,
    )
    (cluster.folder / "ibt_outage_settings.py").write_text(SERVER_SETTINGS)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibt_outage_settings",
        "PYTHONPATH": f"{cluster.folder}{os.pathsep}{REPO}",
        "DATABASE_URL": cluster.url("ibt"),
        "PYTHONUNBUFFERED": "1",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True)
    create_user = (
        "from patients.models import User; "
        "User.objects.create_user(email='outage@example.org', password='a long password 1')"
    )
    subprocess.run([*manage, "shell", "-c", create_user], cwd=REPO, env=env, check=True)
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = (cluster.folder / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", str(WAIT),
         "ibt_companion.wsgi:application"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: Browser(port).request("GET", "/emergency-check/").status == 200, "gunicorn", server)
        yield cluster, port
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)
        log.close()


def test_a_real_postgres_outage_and_recovery(app_server):
    cluster, port = app_server
    person = Browser(port)
    assert person.log_in("outage@example.org", "a long password 1").status == 302
    assert "sessionid" in person.cookies
    assert person.request("GET", "/").status == 200
    issued = Browser(port).request(
        "POST", "/api/v1/auth/token/", data={"email": "outage@example.org", "password": "a long password 1"}
    )
    assert issued.status == 200, issued.text
    api = Browser(port, token=json.loads(issued.text)["token"])
    assert api.request("GET", "/api/v1/patients/").status == 200
    visitor = Browser(port)
    login_token = visitor.form_token("/accounts/login/")

    cluster.stop()  # the server goes away under the app's open (pooled) connection

    assert_live_outage(person.request("GET", "/"), api=False)
    assert_live_outage(person.request("GET", "/api/v1/patients/"), api=True)
    assert_live_outage(api.request("GET", "/api/v1/patients/"), api=True)
    log_in = {"username": "outage@example.org", "password": "a long password 1", "csrfmiddlewaretoken": login_token}
    assert_live_outage(visitor.request("POST", "/accounts/login/", form=log_in), api=False)
    # The emergency check answers from the rules, with a session cookie or without one.
    for who in (person, Browser(port)):
        answer = who.emergency_check()
        assert answer.status == 200, answer.text[:300]
        assert "Call 911 now" in answer.text and "This check-in was not saved" in answer.text
    triage = api.request("POST", "/api/v1/triage/", data={**SEIZURE, "temperature": "101.5"})
    assert triage.status == 200, triage.text[:300]
    assert json.loads(triage.text)["disposition"]["level"] == "emergency"
    health = Browser(port).request("GET", "/healthz")
    assert health.status == 503
    assert json.loads(health.text)["database"] == {"ok": False, "error": "OperationalError"}
    assert "sessionid" in person.cookies  # the outage did not end the session

    cluster.start()

    assert person.request("GET", "/").status == 200  # the same session, the same token
    assert api.request("GET", "/api/v1/patients/").status == 200
    assert json.loads(Browser(port).request("GET", "/healthz").text)["database"]["ok"] is True
    assert Browser(port).log_in("outage@example.org", "a long password 1").status == 302


def count_rows(cluster, sql: str) -> int:
    psql = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-At", "-d", "ibt"]
    return int(subprocess.run(as_postgres([*psql, "-c", sql]), check=True, capture_output=True, text=True).stdout)


OUTAGE_SECONDS = 30


def test_thirty_seconds_without_the_database_leave_nothing_half_written(app_server):
    """Issue 11's fault suite: the database stops for 30 s while a patient keeps posting
    check-ins and changing contacts. Every write answers 503 (the emergency check still answers),
    nothing of them is in the database afterwards, and the same session and token work again."""
    cluster, port = app_server
    make_patient = (
        "from patients.models import User; from tests.factories import PatientFactory; "
        "p = PatientFactory(user=User.objects.get(email='outage@example.org'), email='outage@example.org'); "
        "print(p.pk)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibt_outage_settings",
        "PYTHONPATH": f"{cluster.folder}{os.pathsep}{REPO}",
        "DATABASE_URL": cluster.url("ibt"),
    }
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", make_patient], cwd=REPO, env=env, check=True, capture_output=True
    )
    patient_id = int(made.stdout.decode().split()[-1])
    issued = Browser(port).request(
        "POST", "/api/v1/auth/token/", data={"email": "outage@example.org", "password": "a long password 1"}
    )
    api = Browser(port, token=json.loads(issued.text)["token"])
    checkins = f"/api/v1/patients/{patient_id}/checkins/"
    assert api.request("POST", checkins, data={"symptoms": ["itching"]}).status == 201
    before = count_rows(cluster, "SELECT count(*) FROM symptoms_checkin")
    contacts = count_rows(cluster, "SELECT count(*) FROM patients_patient WHERE phone = '+1 555 0177'")

    cluster.stop()
    stopped_at = time.monotonic()
    answers = []
    while time.monotonic() - stopped_at < OUTAGE_SECONDS:
        answers.append(api.request("POST", checkins, data={"symptoms": ["seizure"]}).status)
        answers.append(api.request("PATCH", f"/api/v1/patients/{patient_id}/", data={"phone": "+1 555 0177"}).status)
        answers.append(Browser(port).emergency_check().status)
        time.sleep(1)
    cluster.start()

    assert len(answers) >= 30
    assert set(answers[0::3]) == {503} and set(answers[1::3]) == {503}, answers
    assert set(answers[2::3]) == {200}, answers
    assert count_rows(cluster, "SELECT count(*) FROM symptoms_checkin") == before
    assert count_rows(cluster, "SELECT count(*) FROM patients_patient WHERE phone = '+1 555 0177'") == contacts
    # All works again, with the same token.
    assert api.request("POST", checkins, data={"symptoms": ["itching"]}).status == 201
    assert count_rows(cluster, "SELECT count(*) FROM symptoms_checkin") == before + 1
