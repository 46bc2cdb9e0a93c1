"""Walk every route as every role and compare what happens with tests/access_policy.py."""

import copy
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from patients import api_tokens, permissions
from patients.models import CaregiverLink, Invitation, Patient, QueueItem
from patients.serializers import PatientSerializer
from refills.models import InboxMessage, PumpEvent, PumpProfile
from symptoms.models import CheckIn
from tests.factories import SIMPLE_PROGRAM, pump_with_refill
from tests.patients.test_access_matrix import all_routes, fill, send

from . import access_policy as policy

METHODS = ["get", "post", "put", "patch", "delete"]


def object_ids(world) -> dict:
    """One object of each kind the routes name, all belonging to the world's patient, their
    clinic or the patient's own log-in (so the table's 'own' means the same thing everywhere)."""
    now = timezone.now()
    pump_with_refill(world.patient, by=world.staff, at=now - timedelta(days=10))
    invitation = Invitation.objects.create(
        patient=world.patient,
        kind="caregiver",
        email="new@home.example",
        full_name="New Carer",
        invited_by=world.staff,
        expires_at=now + timedelta(days=3),
    )
    checkin = CheckIn.objects.create(
        patient=world.patient,
        logged_by=world.patient_user,
        logged_by_role=CheckIn.Role.PATIENT,
        observed_at=now - timedelta(hours=1),
        level="routine",
        reasons=[],
        rule_set_version="2026.1",
    )
    item = QueueItem.objects.create(
        patient=world.patient,
        clinic=world.clinic,
        kind="checkin_call_clinic",
        tier=QueueItem.Tier.CALL_CLINIC,
        source=f"checkin:{checkin.pk}",
        dedupe_key="policy:1",
    )
    message = InboxMessage.objects.create(user=world.patient_user, patient=world.patient, subject="Hi", body="Hello")
    token = api_tokens.issue(world.patient_user, "phone")
    return {
        "patient_id": world.patient.pk,
        "link_id": world.link.pk,
        "invitation_id": invitation.pk,
        "clinic_id": world.clinic.pk,
        "user_id": world.staff.pk,
        "checkin_id": checkin.pk,
        "item_id": item.pk,
        "message_id": message.pk,
        "token_id": token.token.pk,
    }


# Capability links: the token, not the log-in, decides. The walk sends a token that is not
# valid, so every role must get the same answer; a valid token's own tests are named in the table.
TOKEN_PARTS = {
    "<str:token>": "not-a-real-token",
    "<str:flow_id>": "no-such-flow",
    "<str:step>": "pump",
    "<uidb64>": "MQ",
    "<token>": "set-password",
}


def url_for(route: str, ids: dict) -> str:
    for part, value in TOKEN_PARTS.items():
        route = route.replace(part, value)
    return fill(route, ids)


def people(world) -> dict:
    return {
        policy.PATIENT: world.patient_user,
        policy.CAREGIVER: world.caregiver,
        policy.STAFF: world.staff,
        policy.ADMIN: world.admin,
        policy.OTHER_STAFF: world.other_clinic_staff,
        policy.OTHER_PATIENT: world.other_patient.user,
        policy.REVOKED: world.revoked_caregiver,
    }


def outcome(response, route: str) -> str:
    status = response.status_code
    if route in policy.MAY_ANSWER_503 and status == 503:
        return policy.OK  # the probe's "not well" (no scheduler beat in a test run) is an answer
    assert status < 500, f"{status} {response.content[:300]!r}"
    if status == 401 or (status == 302 and response["Location"].startswith("/accounts/login/")):
        return policy.LOGIN
    if status in (403, 404, 405):
        return str(status)
    # The request got past every access check: it was answered, redirected onward, or its
    # input was judged (400 with field messages, 409 for a state that has moved on).
    assert status < 300 or status in (301, 302, 303, 400, 409), status
    return policy.OK


def observe(client: Client, method: str, url: str, route: str) -> str:
    """One request, its writes rolled back and the client's cookies kept, so a log-out or a
    one-time change cannot leak into the next request."""
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        try:
            return outcome(send(client, method, url), route)
        finally:
            transaction.set_rollback(True)
            client.cookies = cookies


def walk(world, role: str) -> dict:
    ids = object_ids(world)
    client = Client()
    if role != policy.ANONYMOUS:
        client.force_login(people(world)[role])
    seen = {}
    for route, _ in all_routes():
        if route.startswith(policy.NOT_WALKED):
            continue
        url = url_for(route, ids)
        seen[route] = {method.upper(): observe(client, method, url, route) for method in METHODS}
    return seen


def walked_routes() -> set[str]:
    return {route for route, _ in all_routes() if not route.startswith(policy.NOT_WALKED)}


def test_every_route_is_in_the_table_and_every_entry_is_a_route():
    routes = walked_routes()
    assert len(routes) >= 80  # a floor, so a broken URL walk cannot pass by finding nothing
    missing = sorted(routes - set(policy.ROUTES))
    assert missing == [], "Add these routes to tests/access_policy.py ROUTES: " + ", ".join(missing)
    stale = sorted(set(policy.ROUTES) - routes)
    assert stale == [], "These ROUTES entries name no route: " + ", ".join(stale)
    for route in routes:
        policy.expected(route)  # every rule names every role, once per method


@pytest.mark.parametrize("role", policy.ROLES)
def test_every_route_and_method_answers_as_the_table_says(world, role):
    seen = walk(world, role)
    differences = [
        f"{method} {route}: table says {policy.expected(route)[method][role]}, got {outcome}"
        for route, by_method in sorted(seen.items())
        for method, outcome in by_method.items()
        if outcome != policy.expected(route)[method][role]
    ]
    assert differences == [], f"as {role}:\n" + "\n".join(differences)


# --- writes, field by field -------------------------------------------------------------------

PATIENT_VALUES = {
    "email": "changed@home.example",
    "phone": "+15550100199",
    "emergency_contacts": [{"name": "Sam Home", "phone": "+15550100198", "relation": "brother"}],
    "notification_channels": ["email", "inbox"],
    "language": "es",
    "full_name": "Changed Name",
    "date_of_birth": "1970-02-03",
    "status": "transferred",
    "time_zone": "America/Denver",
}


def api(client: Client, method: str, url: str, body: dict):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def change_patient_field(field):
    def change(client, world, ids) -> bool:
        url = f"/api/v1/patients/{world.patient.pk}/"
        before = Patient.objects.values(field).get(pk=world.patient.pk)[field]
        status = api(client, "patch", url, {field: PATIENT_VALUES[field]}).status_code
        after = Patient.objects.values(field).get(pk=world.patient.pk)[field]
        assert (status == 200) == (after != before), f"{field}: answered {status}, changed {before!r} to {after!r}"
        return after != before

    return change


def revoke_caregiver_link(client, world, ids) -> bool:
    client.post(f"/patients/{world.patient.pk}/caregivers/{world.link.pk}/revoke/")
    return CaregiverLink.objects.get(pk=world.link.pk).revoked_at is not None


def change_pump(client, world, ids) -> bool:
    url = f"/api/v1/patients/{world.patient.pk}/pump/"
    body = {**ids["pump_body"], "alarm_volume_ml": "3.5"}
    status = api(client, "put", url, body).status_code
    changed = str(PumpProfile.objects.get(patient=world.patient).alarm_volume_ml) in ("3.5", "3.50")
    assert (status == 200) == changed, status
    return changed


def post_event(body):
    def change(client, world, ids) -> bool:
        before = PumpEvent.objects.filter(patient=world.patient).count()
        status = api(client, "post", f"/api/v1/patients/{world.patient.pk}/events/", body).status_code
        changed = PumpEvent.objects.filter(patient=world.patient).count() > before
        assert (status == 201) == changed, status
        return changed

    return change


def post_checkin(body):
    def change(client, world, ids) -> bool:
        before = CheckIn.objects.filter(patient=world.patient).count()
        status = api(client, "post", f"/api/v1/patients/{world.patient.pk}/checkins/", body).status_code
        assert status == 201 or CheckIn.objects.filter(patient=world.patient).count() == before, status
        return status == 201

    return change


def set_disposition(client, world, ids) -> bool:
    """Send a check-in of nothing with an emergency disposition: the level stays computed."""
    body = {"symptoms": [], "level": "emergency", "disposition": {"level": "emergency", "reasons": []}}
    post_checkin(body)(client, world, ids)
    return CheckIn.objects.filter(patient=world.patient, level="emergency").exists()


REPROGRAM = {"kind": "reprogram", "values": {"program": {**SIMPLE_PROGRAM, "daily_dose_mcg": "300"}}}
WRITES = {
    **{field: change_patient_field(field) for field in PATIENT_VALUES},
    "caregiver_link": revoke_caregiver_link,
    "pump": change_pump,
    "dose": post_event(REPROGRAM),
    "alarm_report": post_event({"kind": "alarm_reported", "values": {"tone": "two_tone"}}),
    "checkin": post_checkin({"symptoms": []}),
    "disposition": set_disposition,
}


def test_every_patient_field_and_write_is_in_the_field_table():
    writable = {name for name, field in PatientSerializer().fields.items() if not field.read_only}
    assert writable == permissions.PATIENT_FIELDS, "a patient field the permission rule does not name"
    missing = sorted(writable - set(policy.FIELDS))
    assert missing == [], "Add these patient fields to tests/access_policy.py FIELDS: " + ", ".join(missing)
    assert set(WRITES) == set(policy.FIELDS), "every FIELDS entry needs a write in WRITES, and back"


def test_the_field_table_and_the_permission_rule_agree():
    relation = {
        policy.PATIENT: {permissions.SELF},
        policy.CAREGIVER: {permissions.CAREGIVER},
        policy.STAFF: {permissions.STAFF},
        policy.ADMIN: {permissions.ADMIN},
    }
    for role in policy.SEES_THE_PATIENT:
        editable = permissions.editable_fields(relation[role])
        for field in permissions.PATIENT_FIELDS:
            assert (field in editable) == (role in policy.FIELDS[field]), f"{role} {field}"
        assert (permissions.CAREGIVERS in editable) == (role in policy.FIELDS["caregiver_link"]), role


@pytest.mark.parametrize("role", policy.SEES_THE_PATIENT)
def test_each_write_is_allowed_exactly_as_the_field_table_says(world, role):
    ids = object_ids(world)
    ids["pump_body"] = pump_body(world)
    client = Client()
    client.force_login(people(world)[role])
    differences = []
    for field, write in WRITES.items():
        with transaction.atomic():
            changed = write(client, world, ids)
            transaction.set_rollback(True)
        if changed != (role in policy.FIELDS[field]):
            table_says = "may" if role in policy.FIELDS[field] else "may not"
            differences.append(f"{field}: table says {table_says}, but it {'changed' if changed else 'did not change'}")
    assert differences == [], f"as {role}:\n" + "\n".join(differences)


def pump_body(world) -> dict:
    client = Client()
    client.force_login(world.staff)
    body = client.get(f"/api/v1/patients/{world.patient.pk}/pump/").json()
    return {key: value for key, value in body.items() if value is not None}
