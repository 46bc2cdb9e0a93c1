"""Bad input to any API endpoint is a 400 (or 413) in the one error shape, never a 500."""

import pytest
from django.test import Client

from ibt_companion.parsers import MAX_DEPTH, depth_exceeds

pytestmark = pytest.mark.django_db


def post_json(client, url, body: str):
    return client.post(url, data=body, content_type="application/json")


def test_deeply_nested_json_is_a_400_not_a_500():
    response = post_json(Client(raise_request_exception=False), "/api/v1/triage/", "[" * 100_000)
    assert response.status_code == 400
    assert response.json() == {"errors": {"detail": ["The request body is nested too deeply."]}}


def test_json_nested_past_the_limit_but_parseable_is_a_400():
    body = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    response = post_json(Client(raise_request_exception=False), "/api/v1/triage/", body)
    assert response.status_code == 400
    assert response.json()["errors"]["detail"] == ["The request body is nested too deeply."]


def test_deeply_nested_json_is_refused_for_a_logged_in_user_too(world):
    client = Client(raise_request_exception=False)
    client.force_login(world.staff)
    url = f"/api/v1/patients/{world.patient.pk}/checkins/"
    response = post_json(client, url, '{"symptoms": ' + "[" * 50_000 + "}")
    assert response.status_code == 400


def test_a_body_over_the_upload_limit_is_refused(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = '{"symptoms": [' + ", ".join(['"fever"'] * 50) + "]}"
    response = post_json(Client(raise_request_exception=False), "/api/v1/triage/", body)
    assert response.status_code == 413
    assert response.json() == {"errors": {"detail": ["The request body is too large."]}}


def test_ordinary_json_still_parses():
    response = post_json(Client(), "/api/v1/triage/", '{"symptoms": ["fever"]}')
    assert response.status_code in (200, 400)
    assert "nested" not in response.content.decode()


def test_depth_is_measured_without_recursion():
    assert not depth_exceeds({"a": [1, {"b": 2}]}, limit=3)
    assert depth_exceeds({"a": [1, {"b": [2]}]}, limit=3)
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    assert depth_exceeds(deep)


def test_deeply_nested_json_from_the_sms_provider_is_a_400(settings):
    settings.SMS_INBOUND_TOKEN = "sms-secret"
    response = Client(raise_request_exception=False).post(
        "/sms/inbound/", data="[" * 100_000, content_type="application/json", headers={"X-Sms-Token": "sms-secret"}
    )
    assert response.status_code == 400
    assert response.content.decode() == "The body is not a JSON object.\n"


# --- ?page= on every paginated list -------------------------------------------------------------


def paginated_urls(world) -> list[str]:
    pk = world.patient.pk
    return [
        "/api/v1/patients/",
        f"/api/v1/patients/{pk}/events/",
        f"/api/v1/patients/{pk}/checkins/",
        f"/api/v1/patients/{pk}/reminders/",
        "/api/v1/queue/",
    ]


@pytest.mark.parametrize("number", ["abc", "1.5", "0", "-1", " 1", "1e3", "²", "9" * 5000])
def test_a_page_that_is_not_a_whole_number_is_a_400_naming_page(world, number):
    from ibt_companion.pagination import NOT_A_PAGE
    from refills import services

    services.save_profile(
        patient=world.patient, by=world.staff, values={"model": "synchromed2_20", "implant_date": "2025-01-01"}
    )
    client = Client(raise_request_exception=False)
    client.force_login(world.staff)
    for url in paginated_urls(world):
        response = client.get(url, {"page": number})
        assert response.status_code == 400, (url, response.status_code)
        assert response.json() == {"errors": {"page": [NOT_A_PAGE]}}, url


def test_good_pages_still_work_and_a_page_past_the_end_is_a_404(world):
    client = Client()
    client.force_login(world.staff)
    for url in paginated_urls(world):
        if "/reminders/" in url:
            continue  # needs a pump profile; its paging is the same class
        assert client.get(url, {"page": "1"}).status_code == 200, url
        assert client.get(url, {"page": "last"}).status_code == 200, url
        assert client.get(url, {"page": ""}).status_code == 200, url
        assert client.get(url).status_code == 200, url
        assert client.get(url, {"page": "99"}).status_code == 404, url


# --- The OpenAPI schema says what the API returns --------------------------------------------------


def test_end_of_service_date_is_declared_nullable(world):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    profile = schema["components"]["schemas"]["PumpProfile"]["properties"]["end_of_service_date"]
    assert profile.get("nullable") is True and profile.get("readOnly") is True
