"""The OpenAPI schema declares the errors every operation can answer, each with the one error
shape {"errors": {field: [messages]}} (ibt_companion/schema.py, ibt_companion/api_errors.py).

Two ways: the declared codes follow from what the schema itself says an operation takes (a body,
query parameters, a path parameter, a log-in), and every answer the running API gives to a
request that can fail (anonymous, a bad token, an outsider, no CSRF token, a second step not
passed, an empty or broken body, a page that does not exist) is one the schema declares.
"""

import io
import json
import re

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django_otp import DEVICE_ID_SESSION_KEY

from tests.factories import PASSWORD
from tests.patients.test_access_matrix import object_ids

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/Error"
METHODS = {"get", "post", "put", "patch", "delete"}
BODY_METHODS = {"post", "put", "patch"}

# What a view can answer beyond what the schema's shape implies, found by reading the views.
EXTRA_ERRORS = {
    # Wrong password; a session in the same browser short of its second step; the log-in lock-out.
    "POST /api/v1/auth/token/": {"400", "403", "429"},
    "POST /api/v1/patients/": {"403", "404"},  # not clinic staff; a clinic you do not work for
    "POST /api/v1/triage/": {"404"},  # a patient you cannot see, named in the body
    "PUT /api/v1/patients/{patient_id}/pump/": {"403"},  # not the patient's clinic staff
    "POST /api/v1/patients/{patient_id}/events/": {"403"},  # patients may only report an alarm
    "POST /api/v1/patients/{patient_id}/appointment/": {"403", "409"},  # no open cycle
    "DELETE /api/v1/patients/{patient_id}/appointment/": {"403", "409"},
    "POST /api/v1/queue/{item_id}/resolve/": {"409"},  # resolved already
    "POST /api/v1/reminders/ack/{token}/": {"404"},  # a link that is not valid
}


def load_schema() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def expected_errors(method: str, path: str, operation: dict) -> set[str]:
    parameters = operation.get("parameters", [])
    codes = set(EXTRA_ERRORS.get(f"{method.upper()} {path}", set()))
    if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
        codes.add("400")
    if "requestBody" in operation:
        codes |= {"413", "415"}
    if any(requirement for requirement in operation.get("security", [])):  # {} alone: no log-in at all
        codes |= {"401", "403"}
    if any(p["in"] == "path" for p in parameters) or any(p["name"] == "page" for p in parameters):
        codes.add("404")
    return codes


def test_the_schema_is_valid_without_a_warning(tmp_path):
    out = io.StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"), stdout=out, stderr=out
    )
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")


def test_the_error_component_is_the_api_error_shape():
    error = load_schema()["components"]["schemas"]["Error"]
    assert error["required"] == ["errors"]
    assert error["properties"]["errors"] == {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    }


def test_every_operation_declares_the_errors_it_can_return_in_the_error_shape():
    schema = load_schema()
    checked = 0
    for method, path, operation in operations(schema):
        name = f"{method.upper()} {path}"
        responses = operation["responses"]
        declared = {code for code in responses if code.startswith("4")}
        missing = expected_errors(method, path, operation) - declared
        assert not missing, f"{name} does not declare {sorted(missing)}"
        for code in declared:
            assert responses[code]["content"] == {"application/json": {"schema": {"$ref": ERROR_REF}}}, name
            assert responses[code]["description"], name
        checked += 1
    assert checked >= 20  # a floor, so a broken walk cannot pass by finding nothing
    token = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]["429"]
    assert "Retry-After" in token["headers"]


# --- What the running API answers ----------------------------------------------------------


def fill(path: str, ids: dict) -> str:
    values = {"patient_id": ids["patient_id"], "item_id": 999999, "token": "not-a-token"}
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), 1)), path)


def clients(world) -> dict[str, Client]:
    anonymous = Client()
    bad_token = Client(HTTP_AUTHORIZATION="Token not-a-real-token")
    outsider = Client()
    outsider.force_login(world.other_caregiver)
    caregiver = Client()
    caregiver.force_login(world.caregiver)
    no_csrf = Client(enforce_csrf_checks=True)
    no_csrf.force_login(world.caregiver)
    staff = Client()
    staff.force_login(world.staff)
    half_logged_in = Client()  # password but not yet the code
    half_logged_in.force_login(world.admin)
    session = half_logged_in.session
    session.pop(DEVICE_ID_SESSION_KEY, None)
    session.save()
    return {
        "anonymous": anonymous,
        "bad token": bad_token,
        "outsider": outsider,
        "caregiver": caregiver,
        "no csrf": no_csrf,
        "staff": staff,
        "half logged in": half_logged_in,
    }


def requests_for(method: str, path: str, operation: dict):
    """(what, query, body) of requests that may fail."""
    yield "empty body", "", "{}"
    if method in BODY_METHODS:
        yield "broken JSON", "", '{"a": '
        yield "a list", "", "[1, 2]"
    if any(p["name"] == "page" for p in operation.get("parameters", [])):
        yield "page abc", "?page=abc", None
        yield "page 999", "?page=999", None


def answer(client: Client, method: str, url: str, body: str | None):
    with transaction.atomic():  # the world stays as it was for the next request
        response = getattr(client, method)(url, data=body, content_type="application/json")
        transaction.set_rollback(True)
    return response


def test_every_answer_of_the_api_is_declared_and_errors_have_the_error_shape(world):
    schema = load_schema()
    ids = object_ids(world)
    people = clients(world)
    seen: set[str] = set()
    for method, path, operation in operations(schema):
        declared = set(operation["responses"])
        for who, client in people.items():
            for what, query, body in requests_for(method, path, operation):
                url = fill(path, ids) + query
                response = answer(client, method, url, body if method != "get" else None)
                code = str(response.status_code)
                where = f"{who}, {what}: {method.upper()} {url} answered {code}"
                assert code in declared, f"{where}, not declared ({sorted(declared)})"
                if response.status_code >= 400:
                    errors = response.json()["errors"]
                    assert errors and all(
                        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
                        for messages in errors.values()
                    ), where
                seen.add(code)
    # The declarations are real: each kind of error was met, not only written down.
    assert {"400", "401", "403", "404", "409"} <= seen


def test_the_log_in_lock_out_answers_a_declared_429_with_retry_after(world):
    declared = load_schema()["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    client = Client()
    payload = {"email": world.patient.user.email, "password": "wrong " + PASSWORD}
    answers = [client.post("/api/v1/auth/token/", payload, content_type="application/json") for _ in range(5)]
    assert [a.status_code for a in answers[:4]] == [400] * 4
    locked = answers[4]  # the fifth failure locks the account from this address
    assert locked.status_code == 429
    assert "429" in declared
    assert int(locked["Retry-After"]) > 0
    assert locked.json()["errors"]


# --- The documentation page -----------------------------------------------------------------


@override_settings(API_DOCS_REQUIRE_LOGIN=True)
def test_with_the_production_setting_the_docs_page_needs_a_log_in_and_the_schema_does_not(world):
    anonymous = Client()
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302
    assert docs["Location"] == "/accounts/login/?next=/api/docs/"
    assert anonymous.get("/api/docs/?script=").status_code == 302  # its script too
    assert anonymous.get("/api/schema/").status_code == 200
    patient = Client()
    patient.force_login(world.patient.user)
    page = patient.get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
