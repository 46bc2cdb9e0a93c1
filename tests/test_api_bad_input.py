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
