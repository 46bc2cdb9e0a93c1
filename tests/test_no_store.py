"""Cache-Control: no-store on every response that may carry patient data (ibt_companion/no_store.py):
anything a signed-in person gets, every API answer, the CSV export and the calendar feed. Static
files and /healthz keep their own headers."""

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client, RequestFactory

from ibt_companion.no_store import NoStoreMiddleware
from refills.web.plan_views import feed_token
from tests.helpers import client_for


def assert_no_store(response):
    assert "no-store" in response.get("Cache-Control", ""), (response.status_code, response.headers)
    assert "public" not in response["Cache-Control"]


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "staff"])
def test_patient_pages_are_not_stored(world, who):
    client = client_for(getattr(world, who))
    for url in ("/", f"/patients/{world.patient.pk}/", f"/patients/{world.patient.pk}/calendar/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_store(response)


def test_a_signed_in_persons_redirects_and_404s_are_not_stored_either(world):
    client = client_for(world.caregiver)
    assert_no_store(client.get(f"/patients/{world.other_patient.pk}/"))  # 404
    assert_no_store(client.get(f"/patients/{world.patient.pk}/contacts/"))  # 403


def test_api_answers_are_not_stored(world):
    staff = client_for(world.staff)
    assert_no_store(staff.get("/api/v1/patients/"))
    assert_no_store(staff.get(f"/api/v1/patients/{world.patient.pk}/"))
    assert_no_store(Client().get(f"/api/v1/patients/{world.patient.pk}/"))  # 401
    assert_no_store(Client().get("/api/v1/symptoms/"))  # public, but an API answer all the same


def test_the_csv_export_is_not_stored(world):
    response = client_for(world.staff).get("/clinic/board.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert_no_store(response)
    assert "private" in response["Cache-Control"]


def test_the_calendar_feed_is_not_stored(world):
    response = Client().get(f"/calendar/{feed_token(world.patient, world.patient_user)}.ics")
    assert response.status_code == 200
    assert_no_store(response)
    assert "private" in response["Cache-Control"]


def test_static_files_and_healthz_keep_their_own_headers(world):
    client = client_for(world.patient_user)
    static = client.get("/static/css/site.css")
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")
    healthz = Client().get("/healthz")
    assert "no-cache" in healthz["Cache-Control"]


def _through(user, *, path="/somewhere/", cache_control=None):
    request = RequestFactory().get(path)
    request.user = user

    def view(_request):
        response = HttpResponse("ok")
        if cache_control:
            response["Cache-Control"] = cache_control
        return response

    return NoStoreMiddleware(view)(request)


class _Anonymous:
    is_authenticated = False


class _SignedIn:
    is_authenticated = True


class _DatabaseDown:
    @property
    def is_authenticated(self):
        raise OperationalError("connection refused")


def test_a_views_public_caching_never_reaches_a_signed_in_person():
    response = _through(_SignedIn(), cache_control="public, max-age=600")
    assert_no_store(response)
    assert "max-age=600" not in response["Cache-Control"]


def test_anonymous_pages_keep_the_caching_they_chose_and_others_are_not_stored():
    assert _through(_Anonymous(), cache_control="public, max-age=600")["Cache-Control"] == "public, max-age=600"
    assert_no_store(_through(_Anonymous()))
    assert_no_store(_through(_Anonymous(), path="/api/v1/anything/", cache_control="public, max-age=600"))


def test_when_the_database_cannot_say_who_it_is_nothing_is_stored():
    assert_no_store(_through(_DatabaseDown(), cache_control="public, max-age=600"))
