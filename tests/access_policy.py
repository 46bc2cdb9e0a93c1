"""The access policy: who may do what, as one table to review (SPEC §1 and §10).

tests/test_access_policy.py walks every URL pattern of the URL configuration with every method
as every role below, and compares what happens with ROUTES; a route not in ROUTES, or an entry
for a route that no longer exists, fails. FIELDS says who may change what about one patient, and
the same test changes each field as each role and compares. Change the app and this table together.

Roles, all seen from one patient, "the patient" (the walk's ids name the patient, their clinic,
and objects owned by the patient's own log-in):
    anon           nobody signed in
    patient        the patient, signed in
    caregiver      a caregiver the patient linked
    staff, admin   staff and admin of the patient's clinic (second factor passed)
    other_staff    staff of another clinic
    other_patient  another patient of the same clinic
    revoked        a caregiver whose link the patient revoked
Aliases: clinic = staff, admin; insiders = patient, caregiver, staff, admin;
outsiders = other_staff, other_patient, revoked; any_staff = staff, admin, other_staff
(each sees only their own clinic's rows there); signed_in = everyone but anon.

Outcomes: ok (answered: 2xx, a redirect onward, or its input judged: 400 with field messages,
409), login (401 from the API, a redirect to the log-in page from a page), 403 (may see the
patient, may not do this: SPEC §10), 404 (may not see it, or a bad capability token), 405
(nobody may use this method here).

A rule is "roles:outcome ..." read left to right, "*" for every role not yet named; a route maps
methods ("GET POST", "*" for the rest) to rules. The walk sends the same body to every route
(tests/patients/test_access_matrix.send), so "ok" for a write says access was granted, not that
the body was valid; FIELDS checks writes with valid values.
"""

ANONYMOUS = "anon"
PATIENT = "patient"
CAREGIVER = "caregiver"
STAFF = "staff"
ADMIN = "admin"
OTHER_STAFF = "other_staff"
OTHER_PATIENT = "other_patient"
REVOKED = "revoked"
ROLES = [ANONYMOUS, PATIENT, CAREGIVER, STAFF, ADMIN, OTHER_STAFF, OTHER_PATIENT, REVOKED]
ALIASES = {
    "clinic": [STAFF, ADMIN],
    "insiders": [PATIENT, CAREGIVER, STAFF, ADMIN],
    "outsiders": [OTHER_STAFF, OTHER_PATIENT, REVOKED],
    "any_staff": [STAFF, ADMIN, OTHER_STAFF],
    "signed_in": ROLES[1:],
}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

OK = "ok"
LOGIN = "login"
OUTCOMES = {OK, LOGIN, "403", "404", "405"}

# Not walked: Django's admin site (is_staff superusers only, not a clinic role) and static files.
NOT_WALKED = ("admin/", "static/")
# Routes whose 503 is an answer (the probe reports a service that is not well).
MAY_ANSWER_503 = {"healthz"}

ROUTES = {
    "": {
        "why": "home: each person's own view; lists only what access.visible_patients gives",
        "*": "anon:login *:ok",
    },
    "patients/<int:patient_id>/pump/": {
        "why": "pump profile form: staff-only (SPEC §2); others learn nothing of the page",
        "GET POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/events/": {
        "why": "event history: everyone who may see the patient",
        "GET": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/events/new/": {
        "why": "recording refills, reprogramming, alarms: clinic staff (SPEC §1, §3)",
        "GET POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "r/ack/<str:token>/": {
        "why": "capability link: the signed token decides (tests/refills/test_reminders.py);"
        " a bad token is 404 for all",
        "GET POST": "*:404",
        "*": "*:405",
    },
    "patients/<int:patient_id>/reminders/": {
        "why": "the reminder plan page is the console's (staff); patients read it in the API",
        "GET": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/appointment/": {
        "why": "staff record the booked refill appointment (SPEC §11)",
        "GET POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/calendar/": {
        "why": "the calendar feed link: everyone who may see the patient, each their own link",
        "GET": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/calendar/renew/": {
        "why": "renews the person's own feed link",
        "POST": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "calendar/<str:token>.ics": {
        "why": "capability link (tests/refills/test_reminder_views.py); a bad token is 404 for all",
        "GET": "*:404",
        "*": "*:405",
    },
    "account/2fa/": {
        "why": "the signed-in person's own second factor (SPEC §10)",
        "*": "anon:login *:ok",
    },
    "account/2fa/setup/": {
        "why": "the signed-in person's own second factor",
        "GET POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/2fa/verify/": {
        "why": "the signed-in person's own second factor",
        "GET POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/2fa/recovery/": {
        "why": "the signed-in person's own recovery codes",
        "POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/2fa/off/": {
        "why": "the signed-in person's own second factor",
        "POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/2fa/needed/": {
        "why": "explains that a second factor is needed",
        "*": "anon:login *:ok",
    },
    "account/2fa/enrol/<str:token>/": {
        "why": "one-time link for the signed-in person it names (tests/patients/test_second_factor_bypass.py)",
        "GET POST": "anon:login *:404",
        "*": "anon:login *:405",
    },
    "clinic/<int:clinic_id>/staff/": {
        "why": "clinic admins manage their own clinic's staff (SPEC §1)",
        "*": "anon:login admin:ok *:404",
    },
    "clinic/<int:clinic_id>/staff/<int:user_id>/second-factor/link/": {
        "why": "clinic admins, for members of their clinic",
        "POST": "anon:login admin:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/<int:clinic_id>/staff/<int:user_id>/second-factor/reset/": {
        "why": "clinic admins, for members of their clinic",
        "POST": "anon:login admin:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/second-factor/reset/": {
        "why": "clinic admins reset a patient's lost second factor",
        "POST": "anon:login admin:ok *:404",
        "*": "anon:login *:405",
    },
    "account/tokens/": {
        "why": "the signed-in person's own API tokens (SPEC §10)",
        "GET": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/tokens/<int:token_id>/revoke/": {
        "why": "one of the person's own tokens (the walk's token is the patient's)",
        "POST": "anon:login patient:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/new/": {
        "why": "staff of any clinic: an old address that sends them to enrolment in their own clinic",
        "GET POST": "anon:login any_staff:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/": {
        "why": "the patient page: everyone who may see the patient; other methods answer the page",
        "*": "anon:login outsiders:404 *:ok",
    },
    "patients/<int:patient_id>/contacts/": {
        "why": "contacts: the patient and their clinic; a caregiver sees the patient but may not"
        " change them (403, SPEC §10)",
        "GET POST": "anon:login caregiver:403 clinic,patient:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/caregivers/": {
        "why": "the patient and their clinic manage caregivers (SPEC §1, §10)",
        "GET POST": "anon:login clinic,patient:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/invite/": {
        "why": "staff invite the patient to make an account",
        "GET POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/caregivers/<int:link_id>/revoke/": {
        "why": "the patient and their clinic remove a caregiver",
        "POST": "anon:login clinic,patient:ok *:404",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/invitations/<int:invitation_id>/revoke/": {
        "why": "the patient and their clinic take back an invitation",
        "POST": "anon:login clinic,patient:ok *:404",
        "*": "anon:login *:405",
    },
    "invite/<str:token>/": {
        "why": "capability link (tests/patients/test_invitations.py); a bad token is 404 for all",
        "GET POST": "*:404",
        "*": "*:405",
    },
    "clinic/audit/": {
        "why": "clinic admins read their own clinic's log",
        "*": "anon:login admin:ok *:404",
    },
    "clinic/<int:clinic_id>/settings/": {
        "why": "clinic admins edit their own clinic (SPEC §1, §10)",
        "GET POST": "anon:login admin:ok *:404",
        "*": "anon:login *:405",
    },
    "account/notifications/": {
        "why": "the signed-in person's own choices",
        "GET POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/notifications/phone/send-code/": {
        "why": "texts the signed-in person's own number",
        "POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/notifications/phone/verify/": {
        "why": "the code in the person's own session",
        "POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/notifications/texts-on/": {
        "why": "the person's own records",
        "POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "account/notifications/test/": {
        "why": "a test message to the person",
        "POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "inbox/": {
        "why": "the person's own inbox",
        "*": "anon:login *:ok",
    },
    "inbox/read-all/": {
        "why": "the person's own inbox",
        "POST": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "inbox/<int:message_id>/": {
        "why": "one of the person's own messages (the walk's message is the patient's)",
        "*": "anon:login patient:ok *:404",
    },
    "sms/inbound/": {
        "why": "the SMS provider only, by a shared secret: refused without it",
        "POST": "*:403",
        "*": "*:405",
    },
    "patients/<int:patient_id>/checkin/": {
        "why": "patients, caregivers and staff log check-ins (SPEC §1);"
        " an anonymous POST still shows guidance, saves nothing (SPEC §6)",
        "GET": "anon:login outsiders:404 *:ok",
        "POST": "outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "patients/<int:patient_id>/checkins/": {
        "why": "check-in history: everyone who may see the patient",
        "GET": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "checkins/<int:checkin_id>/": {
        "why": "one check-in: everyone who may see its patient",
        "GET": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "emergency-check/": {
        "why": "public symptom checker: no patient data, saves nothing",
        "GET POST": "*:ok",
        "*": "*:405",
    },
    "clinic/queue/": {
        "why": "staff of any clinic, each their own clinic's items",
        "GET": "anon:login any_staff:ok *:404",
        "*": "*:405",
    },
    "clinic/queue/<int:item_id>/": {
        "why": "a queue item of the person's own clinic",
        "GET": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/queue/<int:item_id>/acknowledge/": {
        "why": "a queue item of the person's own clinic",
        "POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/queue/<int:item_id>/resolve/": {
        "why": "a queue item of the person's own clinic",
        "POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/patients/": {
        "why": "staff of any clinic, each their own clinic's patients",
        "GET": "anon:login any_staff:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/patients/<int:patient_id>/": {
        "why": "the patient panel: the patient's own clinic",
        "GET": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/board/": {
        "why": "staff of any clinic, each their own clinic's patients",
        "GET": "anon:login any_staff:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/board.csv": {
        "why": "the board as CSV: as the board",
        "GET": "anon:login any_staff:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/enrol/": {
        "why": "staff of any clinic enrol into their own clinic",
        "GET": "anon:login any_staff:ok *:404",
        "*": "anon:login *:405",
    },
    "clinic/enrol/<str:flow_id>/<str:step>/": {
        "why": "a flow in the staff member's own session (the walk's is unknown: a fresh start)",
        "GET POST": "anon:login any_staff:ok *:404",
        "*": "anon:login *:405",
    },
    "accounts/login/": {
        "why": "log-in",
        "PATCH DELETE": "*:405",
        "*": "*:ok",
    },
    "accounts/logout/": {
        "why": "log-out (POST only), then the log-in page",
        "POST": "*:login",
        "*": "*:405",
    },
    "accounts/password_change/": {
        "why": "the signed-in person's own password",
        "PATCH DELETE": "anon:login *:405",
        "*": "anon:login *:ok",
    },
    "accounts/password_change/done/": {
        "why": "the signed-in person's own password",
        "GET": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "accounts/password_reset/": {
        "why": "public: asks for an address, tells nothing about it",
        "PATCH DELETE": "*:405",
        "*": "*:ok",
    },
    "accounts/password_reset/done/": {
        "why": "public",
        "GET": "*:ok",
        "*": "*:405",
    },
    "accounts/reset/<uidb64>/<token>/": {
        "why": "capability link: a bad one shows 'this link no longer works'",
        "*": "*:ok",
    },
    "accounts/reset/done/": {
        "why": "public",
        "GET": "*:ok",
        "*": "*:405",
    },
    "api/v1/auth/token/": {
        "why": "log-in for the API",
        "POST": "*:ok",
        "*": "*:405",
    },
    "api/v1/auth/tokens/": {
        "why": "the person's own API tokens",
        "GET": "anon:login *:ok",
        "*": "anon:login *:405",
    },
    "api/v1/auth/tokens/<int:token_id>/": {
        "why": "one of the person's own tokens (the walk's token is the patient's)",
        "DELETE": "anon:login patient:ok *:404",
        "*": "anon:login *:405",
    },
    "api/v1/patients/": {
        "why": "list: only visible patients; create: staff, into their own clinic (SPEC §8)",
        "GET": "anon:login *:ok",
        "POST": "anon:login any_staff:ok *:403",
        "*": "anon:login *:405",
    },
    "api/v1/patients/<int:patient_id>/": {
        "why": "read: who may see the patient; PATCH: by field (FIELDS below);"
        " the walk's PATCH changes full_name, so 403 for the patient and caregiver",
        "GET": "anon:login outsiders:404 *:ok",
        "PATCH": "anon:login clinic:ok patient,caregiver:403 *:404",
        "*": "anon:login *:405",
    },
    "api/v1/patients/<int:patient_id>/pump/": {
        "why": "read: who may see the patient; PUT: staff only (SPEC §2)",
        "GET": "anon:login outsiders:404 *:ok",
        "PUT": "anon:login clinic:ok patient,caregiver:403 *:404",
        "*": "anon:login *:405",
    },
    "api/v1/patients/<int:patient_id>/events/": {
        "why": "read: who may see the patient; POST: by kind (FIELDS below); the walk posts no kind",
        "GET": "anon:login outsiders:404 *:ok",
        "POST": "anon:login clinic:ok patient,caregiver:403 *:404",
        "*": "anon:login *:405",
    },
    "api/v1/patients/<int:patient_id>/forecast/": {
        "why": "who may see the patient",
        "GET": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "api/v1/reminders/ack/<str:token>/": {
        "why": "capability link; a bad token is 404 for all",
        "POST": "*:404",
        "*": "*:405",
    },
    "api/v1/patients/<int:patient_id>/reminders/": {
        "why": "who may see the patient",
        "GET": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "api/v1/patients/<int:patient_id>/appointment/": {
        "why": "staff record or clear the booked appointment (SPEC §11)",
        "POST DELETE": "anon:login clinic:ok patient,caregiver:403 *:404",
        "*": "anon:login *:405",
    },
    "api/v1/symptoms/": {
        "why": "public catalog",
        "GET": "*:ok",
        "*": "*:405",
    },
    "api/v1/triage/": {
        "why": "public triage that saves nothing",
        "POST": "*:ok",
        "*": "*:405",
    },
    "api/v1/patients/<int:patient_id>/checkins/": {
        "why": "patients, caregivers and staff log check-ins (SPEC §1)",
        "GET POST": "anon:login outsiders:404 *:ok",
        "*": "anon:login *:405",
    },
    "api/v1/queue/": {
        "why": "staff of any clinic, each their own clinic's items",
        "GET": "anon:login any_staff:ok *:404",
        "*": "anon:login *:405",
    },
    "api/v1/queue/<int:item_id>/acknowledge/": {
        "why": "a queue item of the person's own clinic",
        "POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "api/v1/queue/<int:item_id>/resolve/": {
        "why": "a queue item of the person's own clinic",
        "POST": "anon:login clinic:ok *:404",
        "*": "anon:login *:405",
    },
    "api/schema/": {
        "why": "public schema (docs/security.md)",
        "GET": "*:ok",
        "*": "*:405",
    },
    "api/docs/": {
        "why": "API documentation, no data (a log-in in production)",
        "GET": "*:ok",
        "*": "*:405",
    },
    "healthz": {
        "why": "operations probe, no patient data (503 when unwell)",
        "*": "*:ok",
    },
}


def parse_rule(rule: str) -> dict[str, str]:
    """'anon:login clinic:ok *:404' -> {role: outcome} for every role."""
    expected: dict[str, str] = {}
    for part in rule.split():
        names, outcome = part.split(":")
        assert outcome in OUTCOMES, f"unknown outcome {outcome!r} in {rule!r}"
        for name in names.split(","):
            roles = ROLES if name == "*" else ALIASES.get(name, [name])
            for role in roles:
                assert role in ROLES, f"unknown role {name!r} in {rule!r}"
                expected.setdefault(role, outcome)
    assert set(expected) == set(ROLES), f"{rule!r} leaves out {set(ROLES) - set(expected)}"
    return expected


def expected(route: str) -> dict[str, dict[str, str]]:
    """{method: {role: outcome}} for one route of ROUTES."""
    entry = ROUTES[route]
    assert entry.get("why"), f"{route!r}: say why in 'why'"
    by_method: dict[str, str] = {}
    for methods, rule in entry.items():
        if methods not in ("why", "*"):
            for method in methods.split():
                assert method in METHODS and method not in by_method, f"{route!r}: {methods!r}"
                by_method[method] = rule
    return {method: parse_rule(by_method.get(method, entry["*"])) for method in METHODS}


# --- writes of one patient's record, field by field (SPEC §1, §10) -----------------------------
# Who may change each thing about the patient, among those who may see the patient (outsiders get
# 404 for all of it, as ROUTES says). Everyone else who can see the patient is refused (403, or
# 404 where the page is not theirs at all) and nothing changes. Restated from SPEC, not read from
# patients/permissions.py, so the two can be compared.
SEES_THE_PATIENT = [PATIENT, CAREGIVER, STAFF, ADMIN]
CONTACTS = {PATIENT, STAFF, ADMIN}  # SPEC §1: the patient edits only these; staff edit everything
CLINICAL = {STAFF, ADMIN}  # every forecast input and the record's identity are staff-only
FIELDS = {
    "email": CONTACTS,
    "phone": CONTACTS,
    "emergency_contacts": CONTACTS,
    "notification_channels": CONTACTS,
    "language": CONTACTS,
    "full_name": CLINICAL,
    "date_of_birth": CLINICAL,
    "status": CLINICAL,
    "time_zone": CLINICAL,
    # Not patient columns:
    "caregiver_link": {PATIENT, STAFF, ADMIN},  # invite and revoke caregivers (SPEC §1, §10)
    "pump": CLINICAL,  # the pump profile (SPEC §2)
    "dose": CLINICAL,  # a new dose program: refill or reprogram events (SPEC §3)
    "alarm_report": {PATIENT, CAREGIVER, STAFF, ADMIN},  # "alarm reported (by patient, caregiver or staff)"
    "checkin": {PATIENT, CAREGIVER, STAFF, ADMIN},  # SPEC §1
    "disposition": set(),  # a check-in's triage level is computed (SPEC §6): nobody sets it
}
