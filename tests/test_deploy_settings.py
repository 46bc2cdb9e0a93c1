"""Production settings: `check --deploy` passes with a full environment and refuses a broken one.

Production settings are read once per process, so everything about them runs in a subprocess with a
clean environment (the developer's shell, e.g. a stray EMAIL_URL, cannot leak in; a repository
.env file still could, since base.py reads it for variables left unset). The checks inspect the
form of the settings only, so no server named here has to answer.
"""

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as test_settings

from ibt_companion.checks import broker_url_problem

REPO = Path(__file__).resolve().parent.parent
SECRET_ALPHABET = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"


def production_env(**changes: str | None) -> dict[str, str]:
    """A complete production environment; a change of None removes that variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "ibt_companion.settings.production",
        "SECRET_KEY": "".join(secrets.choice(SECRET_ALPHABET) for _ in range(60)),
        "ALLOWED_HOSTS": "ibt.example.org",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/ibt_companion",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "EMAIL_URL": "smtp+tls://user:pw@mail.example.org:587",
        "EMAIL_FROM_ADDRESS": "reminders@ibt.example.org",
    }
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def deploy_check(**changes: str | None) -> subprocess.CompletedProcess:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(**changes))


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# --- manage.py check --deploy ------------------------------------------------------------


def test_deploy_check_passes_with_a_full_production_environment():
    # This also runs drf-spectacular's deploy check, which builds the whole API schema.
    result = deploy_check()
    assert result.returncode == 0, output(result)
    assert "WARNINGS" not in output(result)
    assert "ERRORS" not in output(result)
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "address",
    [None, "no-reply@localhost", "Clinic <reminders@ibt.example.org>", "reminders"],
    ids=["unset", "localhost", "with-a-name", "no-domain"],
)
def test_deploy_check_refuses_a_start_without_a_real_sender_address(address):
    result = deploy_check(EMAIL_FROM_ADDRESS=address)
    assert result.returncode != 0
    assert "ibt.E003" in output(result)
    assert "ibt.E001" not in output(result)


@pytest.mark.parametrize("email_url", [None, "consolemail://"], ids=["unset", "console"])
def test_deploy_check_refuses_a_start_without_smtp(email_url):
    result = deploy_check(EMAIL_URL=email_url)
    assert result.returncode != 0
    assert "ibt.E001" in output(result)
    assert "ibt.E002" not in output(result)


@pytest.mark.parametrize("redis_url", ["redis://:6379/x", "http://foo"])
def test_deploy_check_refuses_a_malformed_broker_url(redis_url):
    result = deploy_check(REDIS_URL=redis_url)
    assert result.returncode != 0
    assert "ibt.E002" in output(result)
    assert "ibt.E001" not in output(result)


def test_deploy_check_refuses_the_filesystem_broker_in_production():
    # No REDIS_URL means the embedded filesystem broker, which is well-formed but not for production.
    result = deploy_check(REDIS_URL=None)
    assert result.returncode != 0
    assert "ibt.E002" in output(result)
    assert "not a network broker" in output(result)


# --- Resolved production settings --------------------------------------------------------

PRINT_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "PASSWORD_HASHER": s.PASSWORD_HASHERS[0],
    "DEBUG": s.DEBUG,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SECURE_REFERRER_POLICY": s.SECURE_REFERRER_POLICY,
    "X_FRAME_OPTIONS": s.X_FRAME_OPTIONS,
    "CONN_MAX_AGE": db["CONN_MAX_AGE"],
    "ENGINE": db["ENGINE"],
    "EMAIL_BACKEND": s.EMAIL_BACKEND,
    "EMAIL_USE_TLS": s.EMAIL_USE_TLS,
    "CELERY_BROKER_URL": s.CELERY_BROKER_URL,
    "CSP": {k: list(v) for k, v in s.CONTENT_SECURITY_POLICY["DIRECTIVES"].items()},
}))
"""


@pytest.fixture(scope="module")
def production_settings() -> dict:
    result = run(["-c", PRINT_SETTINGS], production_env())
    assert result.returncode == 0, output(result)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_hashes_passwords_with_argon2(production_settings):
    assert production_settings["PASSWORD_HASHER"] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_tests_use_a_fast_hasher():
    # Argon2 is deliberately slow; the test settings use MD5 so the suite creating many users stays fast.
    assert test_settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_production_transport_security(production_settings):
    s = production_settings
    assert s["DEBUG"] is False
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_REFERRER_POLICY"] == "same-origin"
    assert s["X_FRAME_OPTIONS"] == "DENY"


def test_production_database_email_and_broker(production_settings):
    s = production_settings
    assert s["ENGINE"] == "django.db.backends.postgresql"
    assert s["CONN_MAX_AGE"] > 0
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert s["EMAIL_USE_TLS"] is True
    assert s["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"


def test_production_content_security_policy(production_settings):
    csp = production_settings["CSP"]
    assert csp["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert csp["frame-ancestors"] == ["'none'"]


# --- Answers under production settings ---------------------------------------------------

PRODUCTION_ANSWERS = """
import json
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="ibt.example.org", raise_request_exception=False)
answers = {}
def keep(name, response):
    answers[name] = {"status": response.status_code, "location": response.get("Location"),
                     "type": response.get("Content-Type"), "body": response.content.decode()}
keep("healthz over http", client.get("/healthz"))
keep("login over http", client.get("/accounts/login/"))
keep("schema over http", client.get("/api/schema/"))
keep("schema", client.get("/api/schema/", secure=True, HTTP_ACCEPT="application/vnd.oai.openapi+json"))
keep("docs", client.get("/api/docs/", secure=True))
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def production_answers() -> dict:
    result = run(["-c", PRODUCTION_ANSWERS], production_env())
    assert result.returncode == 0, output(result)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_plain_http_health_probe_gets_the_real_answer(production_answers):
    # A load balancer probes over plain HTTP; a redirect to HTTPS would hide the real state.
    healthz = production_answers["healthz over http"]
    assert healthz["status"] in (200, 503), healthz
    assert healthz["location"] is None
    assert "database" in json.loads(healthz["body"])
    # Everything else still goes to HTTPS.
    for name in ("login over http", "schema over http"):
        assert production_answers[name]["status"] == 301, name
        assert production_answers[name]["location"].startswith("https://ibt.example.org/"), name


def test_production_serves_the_schema_to_anyone_and_the_docs_page_after_log_in(production_answers):
    # docs/security.md: the schema lists no data and integrators need it; the interactive page
    # is for people with an account.
    schema = production_answers["schema"]
    assert schema["status"] == 200
    assert "/api/v1/patients/" in json.loads(schema["body"])["paths"]
    docs = production_answers["docs"]
    assert docs["status"] == 302
    assert docs["location"] == "/accounts/login/?next=/api/docs/"


# --- broker_url_problem ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://h:6380/1", "amqp://guest:guest@localhost:5672//", "filesystem://"]
)
def test_broker_url_problem_accepts(url):
    assert broker_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "empty"),
        ("redis://", "no host"),
        ("http://x", "scheme 'http'"),
        ("redis://h:99999/0", "cannot be read"),
        ("redis://h:0/0", "outside 1-65535"),
        ("redis://h:6379/abc", "not a number"),
        ("redis://h:port/0", "cannot be read"),
    ],
)
def test_broker_url_problem_refuses(url, says):
    problem = broker_url_problem(url)
    assert problem is not None
    assert says in problem


# --- Response headers (in-process, test settings share base.py's headers) ---------------


@pytest.mark.django_db
def test_login_page_security_headers(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    csp = {
        name: values
        for name, *values in (d.split() for d in response.headers["Content-Security-Policy"].split(";") if d.strip())
    }
    assert csp["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
