"""Accessibility proof (issue 11, item 5): every HTML page, for every role that may see it, at
phone width, passes axe-core (no serious or critical violation) and does not scroll sideways;
and the check-in and the reminder acknowledgement work with the keyboard alone.

The pages come from the URL configuration: every route whose GET the access policy
(tests/access_policy.py) answers "ok" for a role is visited as that role, so a new page joins
on its own (tests/test_access_policy.py already fails for a route missing from the table).
Capability links (invitation, reminder acknowledgement, password reset, second-factor set-up,
the enrolment flow) get real tokens below. Only routes that answer no HTML page are left out,
each with its reason in NOT_HTML. Ids come from the seeded demo (README.md's log-ins).

Runs against a live server in another thread, hence a transactional database.
"""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Page, expect

from patients import invitations, two_factor
from patients.models import CaregiverLink, Clinic, Invitation, Patient, QueueItem, User
from refills.models import Acknowledgement, InboxMessage, RefillCycle
from refills.notify import acks
from symptoms.models import CheckIn
from tests import access_policy as policy
from tests.browser_fixtures import assert_accessible, log_in
from tests.patients.test_access_matrix import all_routes, fill

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

# The demo's log-ins (README.md), one per role; "the patient" of the policy table is Pat.
LOGINS = {
    policy.PATIENT: ("pat@riverside.example", "demo-patient-2026"),
    policy.CAREGIVER: ("casey@riverside.example", "demo-caregiver-2026"),
    policy.STAFF: ("nurse@riverside.example", "demo-staff-2026"),
    policy.ADMIN: ("admin@riverside.example", "demo-admin-2026"),
}
ROLES = [policy.ANONYMOUS, *LOGINS]

# Routes that answer no HTML page to a GET, and why they are not checked here.
NOT_HTML_PREFIXES = {
    "api/v1/": "JSON API for the app, no page (fuzzed against the schema in tests/test_api_schema.py)",
    "api/schema/": "the OpenAPI schema, a YAML/JSON document",
}
NOT_HTML = {
    "api/docs/": "drf-spectacular's Swagger UI: a developer tool for the JSON API, not a page of the app",
    "calendar/<str:token>.ics": "an iCalendar feed for calendar apps",
    "clinic/board.csv": "the refill board as a CSV download",
    "healthz": "the operations probe's JSON",
    "sms/inbound/": "the SMS provider's webhook, POST only",
}


# axe rules allowed on one route, and why.
ALLOWED = {
    # axe fails any timed refresh under 20 hours, because it cannot see the "Stop refreshing"
    # control that meets WCAG 2.2.1; the same page with the refresh off is checked in full
    # (EXTRA_VISITS), as in tests/console/test_queue_browser.py.
    "clinic/queue/": frozenset({"meta-refresh"}),
}
# Further states of a page worth a look of their own: {route: query string}.
EXTRA_VISITS = {"clinic/queue/": "?refresh=off"}


def not_html(route: str) -> str | None:
    for prefix, why in NOT_HTML_PREFIXES.items():
        if route.startswith(prefix):
            return why
    return NOT_HTML.get(route)


def page_routes() -> list[str]:
    """Every walked route that may answer a page, once (some are included twice)."""
    routes = []
    for route, _ in all_routes():
        if route.startswith(policy.NOT_WALKED) or not_html(route) or route in routes:
            continue
        routes.append(route)
    return routes


def demo_world() -> dict:
    """The seeded demo, plus one of each object the routes name, all about Pat."""
    call_command("seed_demo", stdout=io.StringIO())
    pat = Patient.objects.get(user__email="pat@riverside.example")
    casey = User.objects.get(email="casey@riverside.example")
    nurse = User.objects.get(email="nurse@riverside.example")
    now = timezone.now()
    checkin = CheckIn.objects.create(
        patient=pat,
        logged_by=pat.user,
        logged_by_role=CheckIn.Role.PATIENT,
        observed_at=now - timedelta(hours=1),
        level="call_clinic",
        reasons=[],
        rule_set_version="2026.1",
    )
    item = QueueItem.objects.create(
        patient=pat,
        clinic=pat.clinic,
        kind="checkin_call_clinic",
        tier=QueueItem.Tier.CALL_CLINIC,
        source=f"checkin:{checkin.pk}",
        dedupe_key="a11y:1",
    )
    message = InboxMessage.objects.create(user=pat.user, patient=pat, subject="Refill soon", body="Your refill is due.")
    invitation = Invitation.objects.create(
        patient=pat,
        kind="caregiver",
        email="new@riverside.example",
        full_name="New Carer",
        invited_by=nurse,
        expires_at=now + timedelta(days=3),
    )
    cycle = RefillCycle.objects.get(patient=pat, ended_at__isnull=True)
    return {
        "pat": pat,
        "casey": casey,
        "cycle": cycle,
        "ids": {
            "patient_id": pat.pk,
            "link_id": CaregiverLink.objects.get(patient=pat, caregiver=casey).pk,
            "invitation_id": invitation.pk,
            "clinic_id": Clinic.objects.get(pk=pat.clinic_id).pk,
            "user_id": nurse.pk,
            "checkin_id": checkin.pk,
            "item_id": item.pk,
            "message_id": message.pk,
        },
        "invitation": invitation,
    }


def capability_pages(world) -> dict[str, dict[str, str]]:
    """{route: {role: path}} for the routes a signed token opens, each with a real token."""
    pat_user = world["pat"].user
    cycle, casey = world["cycle"], world["casey"]
    enrolment = two_factor.issue_enrolment(user=pat_user, by=None)
    return {
        "invite/<str:token>/": {policy.ANONYMOUS: f"/invite/{invitations.make_token(world['invitation'])}/"},
        "r/ack/<str:token>/": {
            # Reminder e-mails are opened signed out as often as not.
            policy.ANONYMOUS: "/r/ack/" + acks.make_token(cycle, f"user:{casey.pk}") + "/",
            policy.PATIENT: "/r/ack/" + acks.make_token(cycle, f"user:{pat_user.pk}") + "/",
        },
        "accounts/reset/<uidb64>/<token>/": {
            policy.ANONYMOUS: f"/accounts/reset/{urlsafe_base64_encode(force_bytes(pat_user.pk))}/"
            f"{default_token_generator.make_token(pat_user)}/"
        },
        # The set-up link works only for a signed-in person with no second factor yet: the
        # demo's staff have one, so the same page is opened by the patient.
        "account/2fa/enrol/<str:token>/": {
            policy.PATIENT: f"/account/2fa/enrol/{two_factor.enrolment_token(enrolment)}/"
        },
        # A flow lives in the staff member's session: /clinic/enrol/ starts one and sends the
        # browser to its first step; the later steps are checked with axe in
        # tests/console/test_enrol_browser.py (they need the earlier ones filled in).
        "clinic/enrol/<str:flow_id>/<str:step>/": {policy.STAFF: "/clinic/enrol/", policy.ADMIN: "/clinic/enrol/"},
    }


def plan(world) -> dict[str, list[tuple[str, str]]]:
    """{role: [(route, path)]}: every page route each role may GET."""
    tokens = capability_pages(world)
    visits = {role: [] for role in ROLES}
    for route in page_routes():
        if route in tokens:
            for role, path in tokens[route].items():
                visits[role].append((route, path))
            continue
        assert "<str:" not in route and "<uidb64>" not in route, f"give {route!r} a real token in capability_pages"
        rules = policy.expected(route)["GET"]
        for role in ROLES:
            if rules[role] == policy.OK:
                visits[role].append((route, fill(route, world["ids"])))
                if route in EXTRA_VISITS:
                    visits[role].append((route + EXTRA_VISITS[route], fill(route, world["ids"]) + EXTRA_VISITS[route]))
    return visits


def check(page: Page, route: str, label: str, problems: list[str]) -> None:
    try:
        assert_accessible(page, label, allowed=ALLOWED.get(route, frozenset()))
    except AssertionError as error:
        problems.append(str(error).splitlines()[0])
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        problems.append(f"{label}: {width}px wide at a {PHONE['width']}px screen")


def test_every_page_for_every_role_passes_axe_at_phone_width(browser, live_server):
    world = demo_world()
    visits = plan(world)
    # Floors, so a broken walk cannot pass by visiting nothing.
    assert len(visits[policy.ANONYMOUS]) >= 8
    assert all(len(visits[role]) >= 15 for role in LOGINS)
    problems: list[str] = []
    checked = 0
    for role, pages in visits.items():
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        if role in LOGINS:
            log_in(page, live_server.url, *LOGINS[role])
            assert "/accounts/" not in page.url and "/2fa/" not in page.url, f"{role} did not log in: {page.url}"
        for route, path in pages:
            response = page.goto(live_server.url + path)
            label = f"{role} GET /{route} ({path} -> {page.url.removeprefix(live_server.url)})"
            if response is None or response.status >= 400:
                problems.append(f"{label}: answered {response and response.status}")
                continue
            assert "text/html" in response.headers.get("content-type", ""), label
            check(page, route, label, problems)
            checked += 1
        context.close()
    print(f"checked {checked} pages")
    assert problems == [], "\n".join(problems)


# --- keyboard only ------------------------------------------------------------------------------

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  return {
    what: `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""} ${(e.innerText || e.value || "").slice(0, 40)}`,
    visible: (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none",
  };
}"""


def tab_to(page: Page, selector: str, *, limit: int = 150) -> list[str]:
    """Press Tab until the focus is on `selector`; every stop on the way must show its focus.
    Returns what was focused, in order."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused is not None, f"Tab left the page before reaching {selector} (after {stops})"
        assert focused["visible"], f"no visible focus on {focused['what']}"
        stops.append(focused["what"])
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return stops
    raise AssertionError(f"{selector} not reached with Tab in {limit} presses: {stops}")


def test_a_patient_checks_in_with_the_keyboard_alone(browser, live_server):
    call_command("seed_demo", stdout=io.StringIO())
    pat = Patient.objects.get(user__email="pat@riverside.example")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    log_in(page, live_server.url, *LOGINS[policy.PATIENT])
    page.goto(f"{live_server.url}/patients/{pat.pk}/checkin/")

    for code in ("itching", "tingling"):
        box = f'input[name="symptoms"][value="{code}"]'
        tab_to(page, box)
        page.keyboard.press("Space")
        expect(page.locator(box)).to_be_checked()
    # The temperature, its unit and the note are on the way to the button, and can be passed by.
    stops = tab_to(page, 'form button[type="submit"]')
    assert any("Temperature" in s or s.startswith("input#id_temperature") for s in stops), stops
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/checkins/\d+/$"))
    checkin = CheckIn.objects.get(patient=pat)
    assert sorted(checkin.symptoms) == ["itching", "tingling"]
    assert page.url == f"{live_server.url}/checkins/{checkin.pk}/"
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # The call link of the guidance is reached from the top of the page with Tab alone.
    page.locator("body").focus()
    tab_to(page, "a.call-now")
    assert page.evaluate("document.activeElement.getAttribute('href')").startswith("tel:")
    context.close()


def test_a_caregiver_acknowledges_a_reminder_with_the_keyboard_alone(browser, live_server):
    call_command("seed_demo", stdout=io.StringIO())
    pat = Patient.objects.get(user__email="pat@riverside.example")
    casey = User.objects.get(email="casey@riverside.example")
    cycle = RefillCycle.objects.get(patient=pat, ended_at__isnull=True)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(live_server.url + "/r/ack/" + acks.make_token(cycle, f"user:{casey.pk}") + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pump refill due")

    tab_to(page, 'main button[type="submit"]')
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1, name="Thank you")).to_be_visible()
    assert Acknowledgement.objects.filter(cycle=cycle, recipient=f"user:{casey.pk}").count() == 1
    context.close()
