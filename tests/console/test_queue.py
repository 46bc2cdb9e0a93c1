"""The clinic triage queue (SPEC §7, §8): tiers and order, acknowledge and resolve, a second
resolve, who may see what, bad input, constant queries, the audit, and an auto-refreshing page
that does not keep an unattended session alive."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from console.queue_rows import age_in_words
from patients import queue as queue_services
from patients.models import AuditEvent, QueueItem
from refills import services as refill_services
from tests.conftest import verify_second_factor
from tests.factories import PASSWORD, PatientFactory
from tests.patients.test_access_matrix import METHODS, all_routes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 3, 3, 20, 5, tzinfo=UTC)  # Tuesday 14:05 in Chicago (the clinics' zone)
QUEUE, API = "/clinic/queue/", "/api/v1/queue/"
keys = count()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def open_item(patient, kind="checkin_emergency", tier=QueueItem.Tier.EMERGENCY, *, minutes_ago=5, source=None, **extra):
    n = next(keys)
    return QueueItem.objects.create(
        patient=patient,
        clinic_id=patient.clinic_id,
        kind=kind,
        tier=tier,
        source=source if source is not None else f"checkin:{1000 + n}",
        dedupe_key=f"test:{n}",
        opened_at=NOW - timedelta(minutes=minutes_ago),
        **extra,
    )


def text(response) -> str:
    """The page's <main> as words: tags dropped and white space squeezed."""
    html = response.content.decode()
    html = html[html.index("<main") : html.index("</main>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


def open_section(response) -> str:
    html = response.content.decode()
    end = html.find('id="recently-resolved"')
    return html[: end if end >= 0 else len(html)]


def ids_on_page(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="item-(\d+)-title"', html)]


def resolve_api(client, item, data):
    return client.post(f"{API}{item.pk}/resolve/", data=json.dumps(data), content_type="application/json")


def row(item) -> dict:
    return QueueItem.objects.filter(pk=item.pk).values().get()


# --- Tiers, order, what each row says ---------------------------------------------------------------


def every_tier(world):
    """Items of every tier at different ages, shuffled in creation order."""
    p, q = world.patient, world.other_patient
    return [
        open_item(p, "overdue", 4, minutes_ago=600, source="cycle:1"),
        open_item(q, "checkin_emergency", 1, minutes_ago=3),
        open_item(p, "dead_delivery", 6, minutes_ago=50, source="delivery:9"),
        open_item(q, "checkin_call_clinic", 3, minutes_ago=90),
        open_item(p, "predicted_empty", 2, minutes_ago=20, source="cycle:1"),
        open_item(p, "checkin_emergency", 1, minutes_ago=12),
        open_item(q, "discrepancy", 5, minutes_ago=3000, source="event:4"),
        open_item(q, "critical_alarm", 2, minutes_ago=400, source="event:5"),
        open_item(q, "end_of_service", 6, minutes_ago=4000, source=""),
        open_item(p, "explanted", 6, minutes_ago=10, source="event:6"),
        open_item(q, "nobody_to_remind", 6, minutes_ago=5000, source="cycle:2"),
    ]


def expected_order(items):
    return [i.pk for i in sorted(items, key=lambda i: (i.tier, i.opened_at, i.pk))]


def test_the_queue_orders_by_tier_then_oldest_first_on_the_page_and_in_the_api(world, noor):
    items = every_tier(world)
    resolved = open_item(world.patient, minutes_ago=1, resolved_at=NOW, resolved_by=noor, outcome="other", note="x")
    elsewhere = open_item(PatientFactory(clinic=world.other_clinic_staff.memberships.get().clinic))
    client = client_for(world.staff)

    page = client.get(QUEUE)
    assert page.status_code == 200
    assert ids_on_page(open_section(page)) == expected_order(items)
    assert resolved.pk in ids_on_page(page.content.decode())  # under "Recently resolved" only
    assert elsewhere.pk not in ids_on_page(page.content.decode())

    body = client.get(API).json()
    assert [r["id"] for r in body["results"]] == expected_order(items)
    assert body["count"] == len(items)
    first = body["results"][0]
    assert first["tier"] == 1 and first["tier_label"] == "Emergency" and first["kind"] == "checkin_emergency"
    assert first["age_seconds"] == 12 * 60 and first["age"] == "12 minutes"
    assert first["patient"] == {"id": world.patient.pk, "full_name": "Pat Home"}
    assert first["statuses"] == [{"code": "ok", "label": "OK"}]
    assert first["acknowledged_by"] is None and first["resolved_at"] is None and first["outcome"] == ""


def test_each_row_says_its_tier_age_patient_source_and_who_is_on_it_in_words(world, noor):
    item = open_item(world.patient, minutes_ago=12, source="checkin:77")
    open_item(world.other_patient, "overdue", 4, minutes_ago=185, source="cycle:3")
    open_item(world.other_patient, "discrepancy", 5, minutes_ago=3 * 1440 + 60, source="event:8")
    queue_services.acknowledge(by=noor, item=item, now=NOW - timedelta(minutes=7))  # 13:58 in Chicago
    page = client_for(world.admin).get(QUEUE)
    words = text(page)
    html = page.content.decode()
    assert "1 · Emergency" in words and "4 · Overdue refill" in words and "5 · Refill discrepancy" in words
    assert "Emergency check-in: Pat Home" in words
    assert "Waiting for 12 minutes" in words and "3 hours 5 minutes" in words and "3 days 1 hour" in words
    assert "Noor Nurse is on it since 13:58" in words and "Nobody yet" in words
    assert f'href="/patients/{world.patient.pk}/"' in html
    assert 'href="/checkins/77/"' in html and "Open the check-in and its guidance" in words
    assert f'href="/patients/{world.other_patient.pk}/reminders/"' in html
    assert f'href="/patients/{world.other_patient.pk}/events/"' in html
    assert "I'm on it" in words and f'href="/clinic/queue/{item.pk}/"' in html


def test_the_statuses_of_each_patient_are_shown(world, frozen):
    frozen.move_to(datetime(2026, 1, 5, 16, 0, tzinfo=UTC))
    refill_services.save_profile(
        patient=world.patient, by=world.staff, values={"model": "synchromed2_20", "implant_date": date(2025, 1, 1)}
    )
    program = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}
    refill_services.record_event(
        patient=world.patient,
        kind="refill",
        values={"volume_ml": "20", "aspirated_ml": "1", "program": program},
        occurred_at=datetime(2026, 1, 5, 16, 0, tzinfo=UTC),
        by=world.staff,
    )
    frozen.move_to(NOW)  # 57 days later: the 20 mL at 0.5 mL a day ran out in February
    open_item(world.patient, "overdue", 4, source="cycle:1")
    words = text(client_for(world.staff).get(QUEUE))
    assert "Predicted empty, Refill overdue" in words
    result = client_for(world.staff).get(API).json()["results"][0]
    assert [s["code"] for s in result["statuses"]][:2] == ["empty", "overdue"]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "less than a minute"),
        (59, "less than a minute"),
        (60, "1 minute"),
        (12 * 60 + 30, "12 minutes"),
        (3600, "1 hour"),
        (3600 + 60, "1 hour 1 minute"),
        (2 * 86400, "2 days"),
        (86400 + 5 * 3600 + 59, "1 day 5 hours"),
    ],
)
def test_age_in_words(seconds, words):
    assert age_in_words(seconds) == words


# --- Acknowledge and resolve ------------------------------------------------------------------------


def test_i_am_on_it_on_the_page_says_who_and_is_audited(world, noor):
    item = open_item(world.patient)
    client = client_for(noor)
    response = client.post(f"{QUEUE}{item.pk}/acknowledge/", {"back": "queue"})
    assert response.status_code == 302 and response["Location"] == QUEUE
    assert row(item)["acknowledged_by_id"] == noor.pk and row(item)["acknowledged_at"] == NOW
    page = client.get(QUEUE)
    assert "You are on it: Pat Home, emergency check-in." in text(page)
    assert "Noor Nurse is on it since 14:05" in text(page)
    assert f'action="/clinic/queue/{item.pk}/acknowledge/"' not in page.content.decode()
    write = AuditEvent.objects.get(action="update")
    assert write.what == "queue_item_acknowledged" and write.patient_id == world.patient.pk


def test_acknowledging_is_idempotent_and_the_first_person_stays_on_it(world, noor):
    item = open_item(world.patient)
    first = client_for(noor).post(f"{API}{item.pk}/acknowledge/")
    assert first.status_code == 200
    assert first.json()["acknowledged_by"] == {"id": noor.pk, "full_name": "Noor Nurse"}
    again = client_for(noor).post(f"{API}{item.pk}/acknowledge/")
    by_admin = client_for(world.admin).post(f"{API}{item.pk}/acknowledge/")
    assert again.status_code == by_admin.status_code == 200
    assert by_admin.json()["acknowledged_by"]["full_name"] == "Noor Nurse"
    assert AuditEvent.objects.filter(action="update").count() == 1
    page = client_for(world.admin).post(f"{QUEUE}{item.pk}/acknowledge/", {"back": "item"}, follow=True)
    assert "Noor Nurse is already on it: Pat Home, emergency check-in." in text(page)


def test_resolving_on_the_item_page_closes_the_item(world, noor):
    item = open_item(world.patient)
    client = client_for(noor)
    form = client.get(f"{QUEUE}{item.pk}/")
    assert form.status_code == 200
    assert "What happened" in text(form) and "Sent to the emergency department" in text(form)
    response = client.post(
        f"{QUEUE}{item.pk}/resolve/", {"outcome": "sent_to_emergency", "note": "  Told them to call 911.  "}
    )
    assert response.status_code == 302 and response["Location"] == QUEUE
    stored = row(item)
    assert stored["resolved_by_id"] == noor.pk and stored["resolved_at"] == NOW
    assert stored["outcome"] == "sent_to_emergency" and stored["note"] == "Told them to call 911."
    assert stored["acknowledged_by_id"] == noor.pk  # whoever resolves was on it
    page = client.get(QUEUE)
    assert item.pk not in ids_on_page(open_section(page))
    assert "Resolved: Pat Home, emergency check-in." in text(page)
    assert "Resolved by Noor Nurse at 14:05: Sent to the emergency department" in text(page)
    assert client.get(API).json()["results"] == []
    assert AuditEvent.objects.filter(action="update", what="queue_item_resolved").count() == 1


def test_resolving_keeps_an_earlier_acknowledgement(world, noor):
    item = open_item(world.patient)
    queue_services.acknowledge(by=noor, item=item, now=NOW - timedelta(minutes=3))
    response = resolve_api(client_for(world.admin), item, {"outcome": "spoke_to_patient", "note": "Fine now."})
    assert response.status_code == 200
    body = response.json()
    assert body["acknowledged_by"]["full_name"] == "Noor Nurse"
    assert body["resolved_by"] == {"id": world.admin.pk, "full_name": "Ari Admin"}
    assert body["outcome"] == "spoke_to_patient" and body["note"] == "Fine now."


def test_a_second_resolve_answers_409_naming_the_first_resolver_and_changes_nothing(world, noor):
    item = open_item(world.patient)
    assert resolve_api(client_for(noor), item, {"outcome": "refill_booked", "note": "Booked."}).status_code == 200
    before = row(item)
    second = resolve_api(client_for(world.admin), item, {"outcome": "other", "note": "Me too."})
    assert second.status_code == 409
    assert second.json() == {"errors": {"detail": ["Already resolved by Noor Nurse at 14:05."]}}
    page = client_for(world.admin).post(f"{QUEUE}{item.pk}/resolve/", {"outcome": "other", "note": "Me too."})
    assert page.status_code == 409
    assert "Already resolved by Noor Nurse at 14:05." in text(page)
    assert "Booked." in text(page)  # the first resolution's note, and no form to resolve again
    assert 'action="/clinic/queue/' not in page.content.decode()
    assert row(item) == before
    assert AuditEvent.objects.filter(action="update", what="queue_item_resolved").count() == 1


def test_two_staff_resolving_the_same_open_item_cannot_both_win(world, noor):
    """Both read the item while it was open; the conditional UPDATE lets one through."""
    item = open_item(world.patient)
    seen_by_noor, seen_by_admin = QueueItem.objects.get(pk=item.pk), QueueItem.objects.get(pk=item.pk)
    queue_services.resolve(by=noor, item=seen_by_noor, outcome="spoke_to_patient", note="First.")
    with pytest.raises(queue_services.AlreadyResolved) as lost:
        queue_services.resolve(by=world.admin, item=seen_by_admin, outcome="other", note="Second.")
    assert lost.value.item.resolved_by == noor and "Noor Nurse" in str(lost.value)
    assert row(item)["note"] == "First."


# --- Bad input: 400 and field errors, nothing saved -----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({}, {"outcome", "note"}),
        ({"outcome": "spoke_to_patient"}, {"note"}),
        ({"outcome": "spoke_to_patient", "note": "   "}, {"note"}),
        ({"outcome": "made_it_up", "note": "x"}, {"outcome"}),
        ({"outcome": "", "note": "x"}, {"outcome"}),
        ({"outcome": "other", "note": "x" * 2001}, {"note"}),
        ({"outcome": ["other"], "note": {"a": 1}}, {"outcome", "note"}),
    ],
)
def test_bad_input_to_the_api_is_400_with_field_errors(world, data, fields):
    item = open_item(world.patient)
    before = row(item)
    response = resolve_api(client_for(world.staff), item, data)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == fields
    assert row(item) == before
    assert not AuditEvent.objects.filter(action="update").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outcome": "spoke_to_patient", "note": ""}, "Write a short note: what you did or decided."),
        ({"outcome": "spoke_to_patient", "note": "  \n "}, "Write a short note: what you did or decided."),
        ({"outcome": "made_it_up", "note": "Called."}, "Choose one of the listed outcomes."),
        ({"note": "Called."}, "Choose what happened."),
    ],
)
def test_bad_input_on_the_page_shows_field_errors_and_saves_nothing(world, data, message):
    item = open_item(world.patient)
    before = row(item)
    response = client_for(world.staff).post(f"{QUEUE}{item.pk}/resolve/", data)
    assert response.status_code == 400
    assert "Please fix these problems" in text(response) and message in text(response)
    assert 'aria-invalid="true"' in response.content.decode()
    assert row(item) == before


def test_odd_query_strings_do_not_break_the_page(world):
    open_item(world.patient)
    client = client_for(world.staff)
    for query in ["?page=x", "?page=999", "?auto=1&since=yesterday", "?auto=1&since=2026-13-45T99:00", "?since="]:
        assert client.get(QUEUE + query).status_code == 200, query
    broken_json = client.post(f"{API}{open_item(world.patient).pk}/resolve/", data="{", content_type="application/json")
    assert broken_json.status_code == 400


# --- Who may see what ------------------------------------------------------------------------------


def item_routes():
    return sorted({route for route, _ in all_routes() if "<int:item_id>" in route})


def queue_snapshot() -> str:
    return json.dumps([list(QueueItem.objects.order_by("pk").values()), AuditEvent.objects.count()], default=str)


def send(client, method, url):
    data = {"outcome": "other", "note": "Not mine."}
    if method == "get":
        return client.get(url)
    if url.startswith("/api/"):
        return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")
    return client.post(url, data) if method == "post" else getattr(client, method)(url)


def test_the_item_routes_are_the_ones_this_file_checks():
    assert item_routes() == [
        "api/v1/queue/<int:item_id>/acknowledge/",
        "api/v1/queue/<int:item_id>/resolve/",
        "clinic/queue/<int:item_id>/",
        "clinic/queue/<int:item_id>/acknowledge/",
        "clinic/queue/<int:item_id>/resolve/",
    ]


@pytest.mark.parametrize("outsider", ["other_clinic_staff", "patient_user", "caregiver", "other_caregiver"])
def test_outsiders_get_404_on_every_queue_item_url_and_change_nothing(world, outsider):
    item = open_item(world.patient)
    intruder, owner = client_for(getattr(world, outsider)), client_for(world.staff)
    checked = 0
    for route in item_routes():
        url = "/" + route.replace("<int:item_id>", str(item.pk))
        for method in METHODS:
            before = queue_snapshot()
            status = send(intruder, method, url).status_code
            assert queue_snapshot() == before, f"{outsider} {method.upper()} {url} changed something"
            if status == 405:
                assert send(owner, method, url).status_code == 405, f"{method.upper()} {url}"
                continue
            assert status == 404, f"{outsider} {method.upper()} {url} answered {status}"
            checked += 1
    assert checked >= len(item_routes())
    if outsider == "other_clinic_staff":  # their own (empty) queue, without this item
        assert intruder.get(API).json()["results"] == []
        assert item.pk not in ids_on_page(intruder.get(QUEUE).content.decode())
    else:  # no queue at all
        assert intruder.get(QUEUE).status_code == 404
        assert intruder.get(API).status_code == 404
    assert row(item)["acknowledged_at"] is None and row(item)["resolved_at"] is None


def test_staff_of_another_clinic_see_only_their_own_items(world):
    mine = open_item(world.patient)
    other_clinic = world.other_clinic_staff.memberships.get().clinic
    theirs = open_item(PatientFactory(clinic=other_clinic, full_name="Oona Other"))
    client = client_for(world.other_clinic_staff)
    assert [r["id"] for r in client.get(API).json()["results"]] == [theirs.pk]
    page = client.get(QUEUE)
    assert ids_on_page(page.content.decode()) == [theirs.pk]
    assert "Pat Home" not in page.content.decode()
    assert client.get(f"{QUEUE}{mine.pk}/").status_code == 404
    assert client.get(f"{QUEUE}{theirs.pk}/").status_code == 200


def test_anonymous_is_sent_to_log_in_and_the_api_answers_401(world):
    item = open_item(world.patient)
    client = Client()
    response = client.get(QUEUE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get(f"{QUEUE}{item.pk}/").status_code == 302
    assert client.post(f"{QUEUE}{item.pk}/resolve/", {"outcome": "other", "note": "x"}).status_code == 302
    assert client.get(API).status_code == 401
    assert resolve_api(client, item, {"outcome": "other", "note": "x"}).status_code == 401
    assert row(item)["resolved_at"] is None


def test_the_nav_link_is_for_staff_and_admins_only(world):
    people = {world.staff: True, world.admin: True, world.caregiver: False, world.patient_user: False}
    for user, shown in people.items():
        assert ('href="/clinic/queue/"' in client_for(user).get("/").content.decode()) is shown, user.email


# --- Audit -----------------------------------------------------------------------------------------


def test_the_page_and_the_list_endpoint_write_one_audit_row_naming_every_patient(world):
    open_item(world.patient)
    open_item(world.patient, "overdue", 4, source="cycle:1")
    open_item(world.other_patient, "checkin_call_clinic", 3)
    client = client_for(world.staff)
    for url in (QUEUE, API):
        before = AuditEvent.objects.count()
        assert client.get(url).status_code == 200
        rows = list(AuditEvent.objects.order_by("pk")[before:])
        assert len(rows) == 1, url
        assert rows[0].action == "list" and rows[0].what == "queue" and rows[0].actor == world.staff
        assert rows[0].patient_ids == sorted([world.patient.pk, world.other_patient.pk])


# --- Constant queries --------------------------------------------------------------------------------


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def test_the_page_and_the_api_cost_the_same_queries_for_1_and_200_items(world, noor):
    client = client_for(world.staff)
    client.get("/")  # the session's first request starts its clocks; not what is measured
    open_item(world.patient)
    open_item(world.patient, resolved_at=NOW, resolved_by=noor, outcome="other", note="x")
    one = {url: queries(client, url) for url in (QUEUE, API, f"{QUEUE}?auto=1")}
    clinic = world.patient.clinic
    for n in range(199):
        patient = PatientFactory(clinic=clinic, user=None)
        extra = {"acknowledged_by": noor, "acknowledged_at": NOW} if n % 2 else {}
        open_item(patient, "overdue" if n % 3 else "checkin_emergency", 4 if n % 3 else 1, minutes_ago=n, **extra)
        if n < 9:
            open_item(patient, resolved_at=NOW, resolved_by=world.admin, outcome="other", note="x")
    assert QueueItem.objects.filter(resolved_at__isnull=True).count() == 200
    many = {url: queries(client, url) for url in one}
    assert many == one
    assert max(many.values()) <= 12, many
    item = QueueItem.objects.filter(resolved_at__isnull=True).first()
    assert queries(client, f"{QUEUE}{item.pk}/") <= 12


# --- "New" emergencies and the refresh ----------------------------------------------------------------


def test_new_emergencies_are_labelled_and_counted_in_the_title(world, noor):
    fresh = open_item(world.patient, minutes_ago=1)
    fresher = open_item(world.other_patient, minutes_ago=0)
    older = open_item(world.patient, minutes_ago=10)
    seen = open_item(world.other_patient, minutes_ago=1, acknowledged_by=noor, acknowledged_at=NOW)
    call = open_item(world.patient, "checkin_call_clinic", 3, minutes_ago=1)
    client = client_for(world.staff)
    page = client.get(QUEUE)
    html = page.content.decode()
    assert "<title>(2 new emergencies) Triage queue · IBT Companion</title>" in html
    assert "2 new emergencies since you last looked." in text(page)

    def is_new(item):
        title = re.search(rf'id="item-{item.pk}-title">(.*?)</h3>', html, re.S).group(1)
        return ">New<" in title

    assert is_new(fresh) and is_new(fresher)
    assert not any(is_new(i) for i in (older, seen, call))
    # The refresh carries the same instant (two minutes before this visit): what was new stays
    # new, and what opens later is new too, until a person loads the page again.
    refresh = re.search(r'<meta http-equiv="refresh" content="30; url=([^"]+)">', html).group(1)
    url = refresh.replace("&amp;", "&")
    assert url.startswith("/clinic/queue/?auto=1&since=2026-03-03T20%3A03%3A00%2B00%3A00")
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        later = open_item(world.patient, minutes_ago=-4)  # opened at 14:09
        refreshed = client.get(url)
        looked_again = client.get(QUEUE)  # a person at 14:10: only the last two minutes are new
    assert "<title>(1 new emergency) Triage queue" in looked_again.content.decode()
    assert "<title>(3 new emergencies) Triage queue" in refreshed.content.decode()
    assert re.search(
        rf'id="item-{later.pk}-title">\s*<strong class="level level-emergency">New</strong>', refreshed.content.decode()
    )


def test_a_person_can_stop_the_refresh(world):
    client = client_for(world.staff)
    page = client.get(QUEUE).content.decode()
    assert '<meta http-equiv="refresh"' in page and "Stop refreshing" in page
    off = client.get(QUEUE + "?refresh=off").content.decode()
    assert 'http-equiv="refresh"' not in off and "Automatic refresh is off." in off


def logged_in(user, at) -> Client:
    with time_machine.travel(at, tick=False):
        client = Client()
        assert client.post("/accounts/login/", {"username": user.email, "password": PASSWORD}).status_code == 302
        verify_second_factor(client, user)
        assert client.get(QUEUE).status_code == 200
    return client


def test_the_auto_refresh_does_not_keep_an_idle_session_alive(world):
    client = logged_in(world.staff, NOW)
    url = f"{QUEUE}?auto=1&since={NOW.isoformat()}"
    signed_out_at = None
    for step in range(1, 33):  # every 30 s for 16 minutes
        with time_machine.travel(NOW + timedelta(seconds=30 * step), tick=False):
            response = client.get(url)
        assert response.status_code == 200
        if "You were signed out" in response.content.decode():
            signed_out_at = signed_out_at or step * 30
        else:
            assert signed_out_at is None, "signed in again by a refresh"
            assert "Triage queue" in text(response)
    assert signed_out_at is not None and 15 * 60 < signed_out_at <= 15 * 60 + 30
    page = response.content.decode()
    assert 'href="/accounts/login/?next=/clinic/queue/"' in page
    assert 'http-equiv="refresh"' not in page and "Pat Home" not in page
    with time_machine.travel(NOW + timedelta(minutes=16, seconds=10), tick=False):
        assert client.get(QUEUE).status_code == 302  # signed out for good


def test_a_person_using_the_page_keeps_the_session_alive(world):
    client = logged_in(world.staff, NOW)
    for minutes in range(10, 61, 10):
        with time_machine.travel(NOW + timedelta(minutes=minutes), tick=False):
            response = client.get(QUEUE)
            assert response.status_code == 200, minutes
            assert "You were signed out" not in response.content.decode()
            assert client.get(f"{QUEUE}?auto=1").status_code == 200
    with time_machine.travel(NOW + timedelta(minutes=75), tick=False):
        assert "Triage queue" in text(client.get(f"{QUEUE}?auto=1"))
    with time_machine.travel(NOW + timedelta(minutes=76), tick=False):
        assert "You were signed out" in client.get(f"{QUEUE}?auto=1").content.decode()
