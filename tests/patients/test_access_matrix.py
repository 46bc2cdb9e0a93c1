"""The access matrix: every URL that names a patient, for every kind of outsider.

The routes come from the URL configuration itself, so a new endpoint joins the matrix on its
own; a route with an object id the matrix cannot fill, or a route that names no patient and is
not classified below, fails the test until someone decides how it is protected.
"""

import json

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from patients.models import AuditEvent, CaregiverLink, Invitation, Patient
from refills.models import PumpEvent, PumpProfile

METHODS = ["get", "post", "patch", "put", "delete"]

# Routes that name no patient, and why they need no place in the matrix.
NON_PATIENT_ROUTES = {
    "": "home: lists only what access.visible_patients gives",
    "patients/new/": "staff only; an old address that sends staff to enrolment",
    "invite/<str:token>/": "signed single-use token (tests/patients/test_invitations.py)",
    "clinic/audit/": "clinic admins only, their own clinic's rows",
    "clinic/<int:clinic_id>/settings/": "clinic admins of that clinic only (tests/patients/test_pages.py)",
    "api/v1/auth/token/": "log-in",
    "api/v1/auth/tokens/": "the logged-in person's own API tokens only (tests/patients/test_api_tokens.py)",
    "api/v1/auth/tokens/<int:token_id>/": "one of the person's own API tokens, else 404",
    "account/tokens/": "the logged-in person's own API tokens only",
    "account/tokens/<int:token_id>/revoke/": "one of the person's own API tokens, else 404",
    "api/v1/patients/": "list: only visible patients; create: staff only",
    "api/schema/": "public schema",
    "api/docs/": "API documentation, no data (a log-in in production: docs/security.md)",
    "healthz": "operations probe, no patient data",
    "account/2fa/": "the user's own two-step log-in (tests/patients/test_two_factor.py)",
    "account/2fa/setup/": "the user's own two-step log-in",
    "account/2fa/verify/": "the user's own two-step log-in",
    "account/2fa/recovery/": "the user's own two-step log-in",
    "account/2fa/off/": "the user's own two-step log-in",
    "account/2fa/needed/": "the user's own two-step log-in",
    "account/2fa/enrol/<str:token>/": "signed one-time link for the signed-in person it names, else 404"
    " (tests/patients/test_second_factor_bypass.py)",
    "clinic/<int:clinic_id>/staff/": "clinic admins of that clinic only, else 404"
    " (tests/patients/test_second_factor_bypass.py)",
    "clinic/<int:clinic_id>/staff/<int:user_id>/second-factor/link/": "clinic admins, for members of that"
    " clinic only, else 404",
    "clinic/<int:clinic_id>/staff/<int:user_id>/second-factor/reset/": "clinic admins, for members of that"
    " clinic only, else 404",
    "r/ack/<str:token>/": "signed token bound to (cycle, recipient) (tests/refills/test_reminders.py)",
    "api/v1/reminders/ack/<str:token>/": "signed token bound to (cycle, recipient)",
    "calendar/<str:token>.ics": "signed token naming one patient: a private feed link, no names or doses"
    " (tests/refills/test_reminder_views.py)",
    "account/notifications/": "the logged-in person's own choices only; takes no id",
    "account/notifications/phone/send-code/": "texts a code to the logged-in person's own saved number",
    "account/notifications/phone/verify/": "checks the code kept in the logged-in person's own session",
    "account/notifications/texts-on/": "clears the STOP of the logged-in person's own records only",
    "account/notifications/test/": "a test message to the logged-in person only",
    "inbox/": "the logged-in person's own inbox messages only",
    "inbox/read-all/": "marks the logged-in person's own messages only",
    "inbox/<int:message_id>/": "the person's own message, else 404 (tests/refills/test_preferences.py)",
    "sms/inbound/": "SMS provider only: shared secret SMS_INBOUND_TOKEN, refused when unset",
    "checkins/<int:checkin_id>/": "a check-in looked up through access.visible_patients, else 404"
    " (tests/symptoms/test_checkin_pages.py)",
    "emergency-check/": "public symptom checker: no log-in, no patient data, saves nothing",
    "api/v1/symptoms/": "public symptom catalog, no patient data",
    "clinic/patients/": "clinic staff and admins only (else 404); lists only their own clinics' patients"
    " (tests/console/test_patients_list.py)",
    "clinic/board/": "clinic staff and admins only (else 404); their own clinics' patients only"
    " (tests/console/test_board.py)",
    "clinic/board.csv": "the refill board as CSV: the same rows and access as clinic/board/",
    "api/v1/triage/": "public triage that saves nothing; an optional patient id goes through"
    " access.get_visible_patient, else 404 (tests/symptoms/test_checkin_api.py)",
    "clinic/enrol/": "staff only (patients.access.staff_clinics), into their own clinics only, else 404"
    " (tests/console/test_enrol.py)",
    "clinic/enrol/<str:flow_id>/<str:step>/": "staff only; a flow kept in the staff member's own session, for"
    " their own clinics only, else 404 (tests/console/test_enrol.py)",
    "clinic/queue/": "staff and admins only, their own clinics' items (patients.queue.open_items), else 404",
    "api/v1/queue/": "staff and admins only, their own clinics' items (patients.queue.open_items), else 404",
    # Queue items are looked up through patients.queue.get_item (the user's clinics only), else
    # 404; tests/console/test_queue.py proves it for every one of these routes and method.
    "clinic/queue/<int:item_id>/": "a queue item of the user's own clinics, else 404 (tests/console/test_queue.py)",
    "clinic/queue/<int:item_id>/acknowledge/": "a queue item of the user's own clinics, else 404",
    "clinic/queue/<int:item_id>/resolve/": "a queue item of the user's own clinics, else 404",
    "api/v1/queue/<int:item_id>/acknowledge/": "a queue item of the user's own clinics, else 404",
    "api/v1/queue/<int:item_id>/resolve/": "a queue item of the user's own clinics, else 404",
}
# Patient routes that answer an anonymous POST on purpose, and why.
ANONYMOUS_POST_ANSWERED = {
    "patients/<int:patient_id>/checkin/": "a check-in posted after the session ended still shows its guidance"
    " (SPEC §6); it looks up no patient, shows no patient data and saves nothing",
}
NON_PATIENT_PREFIXES = ("admin/", "accounts/", "static/", "api/schema", "api/docs")


def all_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def patient_routes():
    return sorted({route for route, _ in all_routes() if "<int:patient_id>" in route})


def fill(route: str, values: dict) -> str:
    url = "/" + route.lstrip("^").rstrip("$")
    for key, value in values.items():
        url = url.replace(f"<int:{key}>", str(value))
    assert "<" not in url, f"The access matrix cannot fill {route!r}: add its object id to object_ids()"
    return url


def object_ids(world) -> dict:
    invitation = Invitation.objects.create(
        patient=world.patient,
        kind="caregiver",
        email="new@home.example",
        full_name="New Carer",
        invited_by=world.staff,
        expires_at="2999-01-01T00:00:00Z",
    )
    # The pump routes answer 404 to everyone until the patient has a pump profile.
    PumpProfile.objects.create(
        patient=world.patient, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date="2025-01-01"
    )
    return {"patient_id": world.patient.pk, "link_id": world.link.pk, "invitation_id": invitation.pk}


def snapshot():
    rows = [
        list(Patient.objects.order_by("pk").values()),
        list(CaregiverLink.objects.order_by("pk").values()),
        list(Invitation.objects.order_by("pk").values()),
        list(PumpProfile.objects.order_by("pk").values()),
        list(PumpEvent.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
    ]
    return json.dumps(rows, default=str, sort_keys=True)


def send(client: Client, method: str, url: str):
    payload = {"full_name": "Changed", "email": "x@example.org", "status": "deceased"}
    if method == "get":
        return client.get(url)
    if url.startswith("/api/"):
        return getattr(client, method)(url, data=json.dumps(payload), content_type="application/json")
    return client.post(url, data=payload) if method == "post" else getattr(client, method)(url)


def owner_status(client: Client, method: str, url: str) -> int:
    """What the patient's own clinic staff get: proves the URL is real. Rolled back."""
    with transaction.atomic():
        status = send(client, method, url).status_code
        transaction.set_rollback(True)
    return status


def test_every_route_is_classified():
    unclassified = [
        route
        for route, _ in all_routes()
        if "<int:patient_id>" not in route
        and route not in NON_PATIENT_ROUTES
        and not route.startswith(NON_PATIENT_PREFIXES)
    ]
    assert unclassified == [], "Classify these routes in the access matrix: " + ", ".join(unclassified)


def test_the_matrix_covers_the_patient_routes():
    routes = patient_routes()
    # A floor, so a broken URL walk cannot pass by finding nothing.
    assert "patients/<int:patient_id>/" in routes
    assert "api/v1/patients/<int:patient_id>/" in routes
    assert len(routes) >= 6


OUTSIDERS = ["other_patient_user", "other_caregiver", "revoked_caregiver", "other_clinic_staff"]


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_outsiders_get_404_on_every_patient_route_and_change_nothing(world, outsider):
    ids = object_ids(world)
    people = {
        "other_patient_user": world.other_patient.user,
        "other_caregiver": world.other_caregiver,
        "revoked_caregiver": world.revoked_caregiver,
        "other_clinic_staff": world.other_clinic_staff,
    }
    intruder, owner = Client(), Client()
    intruder.force_login(people[outsider])
    owner.force_login(world.admin)  # an admin of the patient's clinic may do all that staff may, and more
    checked = 0
    for route in patient_routes():
        url = fill(route, ids)
        for method in METHODS:
            before = snapshot()
            status = send(intruder, method, url).status_code
            assert snapshot() == before, f"{outsider} {method.upper()} {url} changed data"
            if status == 405:
                # Not allowed for anyone, so it reveals nothing; prove the owner gets 405 too.
                assert owner_status(owner, method, url) == 405, f"{method.upper()} {url}"
                continue
            assert status == 404, f"{outsider} {method.upper()} {url} answered {status}"
            assert owner_status(owner, method, url) != 404, f"the owner cannot {method.upper()} {url} either"
            checked += 1
    assert checked >= len(patient_routes())


def test_anonymous_is_sent_to_log_in_or_gets_401(world):
    ids = object_ids(world)
    client = Client()
    for route in patient_routes():
        url = fill(route, ids)
        for method in METHODS:
            before = snapshot()
            response = send(client, method, url)
            assert snapshot() == before
            if method == "post" and route in ANONYMOUS_POST_ANSWERED:
                assert response.status_code == 200, f"POST {url}"
                assert world.patient.full_name not in response.content.decode()
                continue
            if url.startswith("/api/"):
                assert response.status_code == 401, f"{method.upper()} {url}"
            else:
                assert response.status_code == 302, f"{method.upper()} {url}"
                assert response["Location"].startswith("/accounts/login/")


def test_api_list_shows_only_visible_patients(world):
    client = Client()
    client.force_login(world.other_caregiver)
    ids = [row["id"] for row in client.get("/api/v1/patients/").json()["results"]]
    assert ids == [world.other_patient.pk]
    client.force_login(world.other_clinic_staff)
    assert client.get("/api/v1/patients/").json()["results"] == []
    client.force_login(world.staff)
    assert {row["id"] for row in client.get("/api/v1/patients/").json()["results"]} == {
        world.patient.pk,
        world.other_patient.pk,
    }


def test_insiders_see_the_patient(world):
    for person in (world.patient_user, world.caregiver, world.staff, world.admin):
        client = Client()
        client.force_login(person)
        assert client.get(f"/patients/{world.patient.pk}/").status_code == 200
        assert client.get(f"/api/v1/patients/{world.patient.pk}/").status_code == 200
