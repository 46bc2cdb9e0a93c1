"""Schemathesis against /api/schema/ as every role (issue 11, item 1).

Every operation in the schema gets generated requests, valid ones and deliberately invalid ones
("negative"), sent in-process to the WSGI application with real PostgreSQL, as a patient, a
caregiver, clinic staff, staff of another clinic and an anonymous caller. Each answer must be
one the schema declares for that operation, in the declared shape, and never a 5xx. A negative
request changes nothing: the row count of every table is the same after it as before.

CI runs FUZZ_EXAMPLES (default 10) examples per operation, role and mode; `make fuzz` runs many
more. Valid requests are mostly aimed at the world's real patients, so that access rules and
writes run, not only 404s.
"""

import copy
import os

import pytest
import schemathesis
from django.apps import apps
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from patients import api_tokens

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
ROLES = ["patient", "caregiver", "staff", "other_clinic_staff", "anonymous"]
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
METHODS = {"get", "post", "put", "patch", "delete"}
# A refused log-in is counted toward the lock-out (django-axes): that row is the point, not a leak.
COUNTED_WHEN_REFUSED = {("POST", "/api/v1/auth/token/"): {"axes_accessattempt", "axes_accessfailurelog"}}

# The schema as /api/schema/ serves it (test_api_schema.py checks that view); built once.
RAW_SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (method.upper(), path) for path, item in RAW_SCHEMA["paths"].items() for method in item if method in METHODS
]


@pytest.fixture
def same_connection():
    """Django's test client keeps the test's database connection (and so its transaction) across
    requests; the bare WSGI handler would close it after each one. Do as the test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def api_schema():
    from ibt_companion.wsgi import application

    loaded = schemathesis.openapi.from_dict(RAW_SCHEMA)
    loaded.app = application
    return loaded


def row_counts(leave_out=frozenset()) -> dict[str, int]:
    """The number of rows in every table of every model, in one query."""
    tables = sorted({model._meta.db_table for model in apps.get_models() if model._meta.managed} - set(leave_out))
    sql = " UNION ALL ".join(f"SELECT %s, COUNT(*) FROM {connection.ops.quote_name(table)}" for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return dict(cursor.fetchall())


def headers_for(role: str, world) -> dict[str, str]:
    if role == "anonymous":
        return {}
    user = {
        "patient": world.patient_user,
        "caregiver": world.caregiver,
        "staff": world.staff,
        "other_clinic_staff": world.other_clinic_staff,
    }[role]
    # A token stands for a full log-in, second factor included (patients/api_tokens.py).
    return {"Authorization": f"Token {api_tokens.issue(user, 'fuzz').key}"}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_as_every_role(method, path, role, api_schema, world, same_connection):
    operation = api_schema[path][method]
    headers = headers_for(role, world)
    patient_ids = [world.patient.pk, world.other_patient.pk]

    @given(case=operation.as_strategy(GenerationMode.POSITIVE), data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def valid(case, data):
        if "patient_id" in (case.path_parameters or {}):
            case.path_parameters["patient_id"] = data.draw(
                st.sampled_from([*patient_ids, case.path_parameters["patient_id"]]), label="patient_id"
            )
        if "token" in (case.path_parameters or {}):
            # Link-like text: the fuzzer would also try phrases it saw (a saved note), which Django's
            # "Not Found: <path>" log line would then carry, failing tests/log_privacy.py.
            case.path_parameters["token"] = data.draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
        case.call_and_validate(headers=headers, checks=CHECKS)

    leave_out = COUNTED_WHEN_REFUSED.get((method, path), frozenset())

    @given(case=operation.as_strategy(GenerationMode.NEGATIVE))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def not_valid(case):
        before = row_counts(leave_out)
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        if response.status_code >= 400:  # refused: nothing written (an ignored extra field may be answered 2xx)
            assert row_counts(leave_out) == before, f"{method} {path} changed rows on a request it refused"

    valid()
    if can_be_made_invalid(RAW_SCHEMA["paths"][path][method.lower()]):
        not_valid()


def can_be_made_invalid(operation: dict) -> bool:
    """A body, a query parameter or a path parameter with a type other than free text; an
    operation with none of these (a list with no filters, a link's free-text token) has no
    invalid request to send."""
    return "requestBody" in operation or any(
        parameter["in"] == "query"
        or parameter.get("schema", {}).get("type") not in ("string", None)
        or parameter.get("schema", {}).get("format")
        for parameter in operation.get("parameters", [])
    )


def test_an_answer_the_schema_does_not_declare_fails_the_checks(world, same_connection):
    """The checks above can fail: the outsider's 404 for another clinic's patient passes as
    declared, and fails once 404 is taken out of the operation's declared answers. And the
    roles' tokens do log in (else every answer would be a declared 401)."""
    from ibt_companion.wsgi import application

    schema = schemathesis.openapi.from_dict(RAW_SCHEMA)
    schema.app = application
    own = schema["/api/v1/patients/{patient_id}/"]["GET"].Case(path_parameters={"patient_id": world.patient.pk})
    for role in ("patient", "caregiver", "staff"):
        assert own.call_and_validate(headers=headers_for(role, world), checks=CHECKS).status_code == 200, role

    headers = headers_for("other_clinic_staff", world)
    raw = copy.deepcopy(RAW_SCHEMA)
    del raw["paths"]["/api/v1/patients/{patient_id}/"]["get"]["responses"]["404"]
    for loaded, declared in (
        (schemathesis.openapi.from_dict(RAW_SCHEMA), True),
        (schemathesis.openapi.from_dict(raw), False),
    ):
        loaded.app = application
        case = loaded["/api/v1/patients/{patient_id}/"]["GET"].Case(path_parameters={"patient_id": world.patient.pk})
        if declared:
            assert case.call_and_validate(headers=headers, checks=CHECKS).status_code == 404
        else:
            with pytest.raises(FailureGroup, match="404"):
                case.call_and_validate(headers=headers, checks=CHECKS)
