"""The app's own error pages (ibt_companion/errors.py): plain words, what to do next, nothing
leaked; the API keeps its JSON error shape for every error, an unknown /api/ URL included; and
`make run`'s settings show these pages, not Django's debug pages that list every URL.

The browser checks (axe at phone and desktop width) are in tests/test_error_pages_browser.py.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import SuspiciousOperation
from django.test import Client, RequestFactory

from ibt_companion import errors
from tests.helpers import client_for

REPO = Path(__file__).resolve().parent.parent

# What Django's technical pages say; none of it may reach a person.
DEBUG_PAGE_WORDS = ("URLconf", "Page not found (404)", "Traceback", "DEBUG = True", "Request Method", "api/v1/")


def page_text(response) -> str:
    assert response["Content-Type"].startswith("text/html"), response["Content-Type"]
    return response.content.decode()


def assert_no_debug_words(text: str) -> None:
    for words in DEBUG_PAGE_WORDS:
        assert words not in text, words


def assert_help_offered(text: str) -> None:
    assert "If this is an emergency, call 911 now." in text
    assert 'href="tel:911"' in text
    assert 'href="/emergency-check/"' in text and "Answer a few questions" in text


# --- 404 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/patients/{id}/", "/patients/{id}/contacts/", "/patients/{id}/checkins/"])
def test_an_outsider_opening_another_patients_page_gets_the_friendly_404(world, settings, path):
    settings.DEBUG = False
    patient = world.patient
    url = path.format(id=patient.pk)
    response = client_for(world.other_caregiver).get(url)
    assert response.status_code == 404
    text = page_text(response)
    assert "We could not find that page" in text
    assert 'href="/"' in text and "Go to your home page" in text
    assert_help_offered(text)  # a caregiver: the way to help
    # Nothing about the patient, their clinic, or why: "No such patient." would say what the URL was.
    for leak in (patient.full_name, patient.user.email, world.clinic.name, "No such patient", url):
        assert leak not in text, leak
    assert_no_debug_words(text)


def test_an_unknown_address_is_the_same_page_for_a_visitor_with_the_log_in_link(db):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    text = page_text(response)
    assert "We could not find that page" in text
    assert 'href="/accounts/login/"' in text and "Go to the log-in page" in text
    assert_help_offered(text)
    assert_no_debug_words(text)


def test_clinic_staff_get_the_way_home_without_the_patients_help(world):
    text = page_text(client_for(world.staff).get("/no-such-page/"))
    assert "Go to your home page" in text
    assert "Need help now?" not in text


# --- 403, CSRF, 400 --------------------------------------------------------------------------


def test_a_caregiver_who_may_not_edit_gets_the_friendly_403_with_the_reason(world):
    response = client_for(world.caregiver).get(f"/patients/{world.patient.pk}/contacts/")
    assert response.status_code == 403
    text = page_text(response)
    assert "You cannot do this" in text
    assert "Only the patient and their clinic can change these contacts." in text
    assert_help_offered(text)
    assert_no_debug_words(text)


def test_a_form_without_its_csrf_token_gets_a_plain_page(world):
    response = Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": world.patient_user.email, "password": "x"}
    )
    assert response.status_code == 403
    text = page_text(response)
    assert "Please send that form again" in text and "Nothing was saved." in text
    assert "CSRF" not in text and "Forbidden" not in text
    assert_help_offered(text)


def test_a_csrf_failure_under_api_is_json():
    response = errors.csrf_failure(RequestFactory().post("/api/v1/patients/"), reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert json.loads(response.content) == {
        "errors": {"detail": ["CSRF check failed: send the form again from the page."]}
    }


def test_a_bad_request_gets_the_friendly_400(world, monkeypatch):
    def refuse(*args, **kwargs):
        raise SuspiciousOperation("a forged value")

    monkeypatch.setattr("refills.web.views.refill_cards", refuse)
    response = client_for(world.patient_user).get("/")
    assert response.status_code == 400
    text = page_text(response)
    assert "We could not understand that" in text
    assert "a forged value" not in text
    assert_no_debug_words(text)


def test_a_host_the_site_does_not_serve_gets_the_friendly_400(db, settings):
    """DisallowedHost is raised before the log-in is read (CommonMiddleware): the page still renders."""
    settings.ALLOWED_HOSTS = ["ibt.example.org"]
    response = Client().get("/accounts/login/", HTTP_HOST="elsewhere.example")
    assert response.status_code == 400
    text = page_text(response)
    assert "We could not understand that" in text and "Go to the log-in page" in text
    assert "elsewhere.example" not in text and "ALLOWED_HOSTS" not in text


# --- 500 -------------------------------------------------------------------------------------


def test_a_view_that_raises_answers_the_500_page_with_no_trace(world, settings, monkeypatch):
    settings.DEBUG = False

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail of the bug")

    monkeypatch.setattr("refills.web.views.refill_cards", broken)
    response = Client(raise_request_exception=False)
    response.force_login(world.patient_user)
    answer = response.get("/")
    assert answer.status_code == 500
    text = page_text(answer)
    assert "Something went wrong on our side" in text
    assert "It is not your fault. Please try again in a few minutes." in text
    assert 'href="/"' in text
    assert_help_offered(text)
    assert "secret detail of the bug" not in text and "RuntimeError" not in text
    assert_no_debug_words(text)
    assert '<link rel="stylesheet" href="/static/css/site.css">' in text


def test_the_500_page_needs_no_database_and_no_request_context(settings):
    """No database fixture: any query would raise here."""
    settings.DEFAULT_EMERGENCY_NUMBER = "112"
    response = errors.server_error(RequestFactory().get("/anything/"))
    assert response.status_code == 500
    text = response.content.decode()
    assert "If this is an emergency, call 112 now." in text and 'href="tel:112"' in text
    assert "911" not in text


def test_the_500_page_still_answers_when_its_template_cannot_be_rendered(monkeypatch, caplog):
    def fails(*args, **kwargs):
        raise ValueError("Missing staticfiles manifest entry for 'css/site.css'")

    monkeypatch.setattr(errors, "render_to_string", fails)
    response = errors.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    text = response.content.decode()
    assert "Something went wrong on our side" in text and "call 911 now" in text
    assert "The 500 page could not be rendered" in caplog.text


# --- The API keeps its JSON ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/no-such-version/patients/", "/api/"])
def test_an_unknown_api_url_answers_json_404(world, path):
    for client in (Client(), client_for(world.patient_user)):
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"errors": {"detail": ["Not found."]}}


def test_an_api_object_out_of_sight_is_still_drfs_json_404(world):
    response = client_for(world.other_caregiver).get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert list(response.json()["errors"]) == ["detail"]


def test_an_api_view_that_raises_answers_json_500(world, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail of the bug")

    monkeypatch.setattr("patients.api.visible_patients", broken)
    client = Client(raise_request_exception=False)
    client.force_login(world.patient_user)
    response = client.get("/api/v1/patients/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "errors": {"detail": ["Something went wrong on our side. Please try again in a few minutes."]}
    }


# --- `make run` ------------------------------------------------------------------------------


def test_make_run_settings_have_debug_off_unless_asked():
    """The launcher's settings (ibt_companion.settings.local) with no DEBUG in the environment."""
    script = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "ibt_companion.settings.local"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
