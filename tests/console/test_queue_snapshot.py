"""The queue's kept rows (console.snapshot): the page and the API reuse their rows
for a few seconds, yet a new, acknowledged or resolved item shows on the very next request, the
age and the "New" mark are of the moment, what people type cannot forge the marks the kept rows
carry, the CSRF token still works, and a cache that fails does not take the queue down."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from console import snapshot
from ibt_companion.pagination import NOT_A_PAGE
from patients import queue as queue_services
from patients.models import QueueItem
from tests.console.test_queue import (
    API,
    NOW,
    QUEUE,
    client_for,
    ids_on_page,
    open_item,
    open_section,
    queries,
    text,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen", "noor")]


def load(client, url) -> tuple[int, bytes]:
    """The number of queries and the page's rows (its <main>, less the clock of the moment)."""
    with CaptureQueriesContext(connection) as context:
        answer = client.get(url)
    assert answer.status_code == 200
    return len(context), re.sub(rb"Updated at [0-9:]+", b"", answer.content)


def test_a_second_load_reuses_the_rows_and_shows_the_same_queue(world):
    open_item(world.patient, minutes_ago=12)
    open_item(world.other_patient, "overdue", 4, minutes_ago=90, source="cycle:3")
    client = client_for(world.staff)
    client.get("/")  # the session's first request starts its clocks
    for url in (QUEUE, API):
        cache.clear()
        (cold, made), (warm, kept) = load(client, url), load(client, url)
        assert warm < cold, (url, cold, warm)  # the rows, the patients and their statuses were kept
        # The same page, bar the CSRF token, which is new on each request.
        token = rb'name="csrfmiddlewaretoken" value="[^"]+"'
        assert re.sub(token, b"", kept) == re.sub(token, b"", made)


def test_a_new_item_shows_on_the_next_load(world):
    first = open_item(world.patient, minutes_ago=12)
    client = client_for(world.staff)
    assert ids_on_page(open_section(client.get(QUEUE))) == [first.pk]
    assert [r["id"] for r in client.get(API).json()["results"]] == [first.pk]
    second = open_item(world.other_patient, minutes_ago=1)
    assert ids_on_page(open_section(client.get(QUEUE))) == [first.pk, second.pk]
    assert [r["id"] for r in client.get(API).json()["results"]] == [first.pk, second.pk]


def test_someone_else_acknowledging_shows_on_the_next_load(world):
    item = open_item(world.patient, minutes_ago=12)
    client = client_for(world.staff)
    assert "Nobody yet" in text(client.get(QUEUE))
    assert client.get(API).json()["results"][0]["acknowledged_by"] is None
    queue_services.acknowledge(by=world.admin, item=item)
    assert "Ari Admin is on it since 14:05" in text(client.get(QUEUE))
    assert client.get(API).json()["results"][0]["acknowledged_by"]["full_name"] == "Ari Admin"


def test_someone_else_resolving_shows_on_the_next_load(world):
    item = open_item(world.patient, minutes_ago=40)
    client = client_for(world.staff)
    assert ids_on_page(open_section(client.get(QUEUE))) == [item.pk]
    queue_services.resolve(by=world.admin, item=item, outcome="other", note="Called back.", now=NOW)
    page = client.get(QUEUE)
    assert ids_on_page(open_section(page)) == []
    assert "Resolved by Ari Admin at 14:05" in text(page)
    assert "Was open for 40 minutes" in text(page)  # from opening to resolution, not to now
    assert client.get(API).json()["count"] == 0


def test_a_resolved_item_was_open_until_it_was_resolved(world, frozen):
    open_item(world.patient, minutes_ago=40, resolved_at=NOW - timedelta(minutes=10), resolved_by=world.admin)
    client = client_for(world.staff)
    assert "Was open for 30 minutes" in text(client.get(QUEUE))
    frozen.shift(timedelta(minutes=10))  # (inside the staff idle limit)
    assert "Was open for 30 minutes" in text(client.get(QUEUE))


def test_the_age_and_the_new_mark_are_of_the_moment_while_the_rows_are_kept(world, frozen):
    item = open_item(world.patient, minutes_ago=0)
    frozen.shift(timedelta(seconds=12 * 60 + 58))  # 12 minutes 58 seconds old
    client = client_for(world.staff)
    client.get("/")
    page = client.get(QUEUE)
    assert "Waiting for 12 minutes" in text(page)
    assert client.get(API).json()["results"][0]["age_seconds"] == 12 * 60 + 58
    frozen.shift(timedelta(seconds=2))  # inside QUEUE_SNAPSHOT_SECONDS: the rows are kept
    kept = queries(client, QUEUE)
    cache.clear()
    assert kept < queries(client, QUEUE)
    frozen.shift(timedelta(seconds=1))  # 13 minutes 1 second
    assert "Waiting for 13 minutes" in text(client.get(QUEUE))
    assert client.get(API).json()["results"][0]["age_seconds"] == 13 * 60 + 1
    # Opened 13 minutes ago: "New" only for a refresh that carries an instant before it opened.
    html = client.get(QUEUE + "?auto=1&since=" + (NOW + timedelta(minutes=1)).isoformat().replace("+", "%2B")).content
    assert not re.search(rf'id="item-{item.pk}-title">\s*<strong', html.decode())
    html = client.get(QUEUE + "?auto=1&since=" + (NOW - timedelta(minutes=1)).isoformat().replace("+", "%2B")).content
    assert re.search(rf'id="item-{item.pk}-title">\s*<strong class="level level-emergency">New</strong>', html.decode())


def test_other_details_are_at_most_the_snapshot_time_old(world, frozen):
    open_item(world.patient, minutes_ago=5)
    client = client_for(world.staff)
    assert "Pat Home" in text(client.get(QUEUE))
    world.patient.full_name = "Patricia Home"
    world.patient.save(update_fields=["full_name"])
    frozen.shift(timedelta(seconds=settings.QUEUE_SNAPSHOT_SECONDS + 1))
    assert "Patricia Home" in text(client.get(QUEUE))
    assert client.get(API).json()["results"][0]["patient"]["full_name"] == "Patricia Home"


def test_what_people_type_cannot_forge_the_marks_of_the_kept_rows(world):
    world.patient.full_name = "Eve <!--queue:age--> <!--queue:new--> <!--queue:csrf-->"
    world.patient.save(update_fields=["full_name"])
    open_item(world.patient, minutes_ago=5)
    html = client_for(world.staff).get(QUEUE).content.decode()
    assert "Eve &lt;!--queue:age--&gt; &lt;!--queue:new--&gt; &lt;!--queue:csrf--&gt;" in html
    assert "<!--queue:" not in html


def test_the_kept_page_carries_a_working_csrf_token(world):
    item = open_item(world.patient, minutes_ago=5)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff)
    client.get(QUEUE)
    page = client.get(QUEUE).content.decode()  # from the kept rows
    form = re.search(rf'action="/clinic/queue/{item.pk}/acknowledge/".*?</form>', page, re.S).group(0)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    assert client.post(f"{QUEUE}{item.pk}/acknowledge/", {"back": "queue"}).status_code == 403  # no token
    answer = client.post(f"{QUEUE}{item.pk}/acknowledge/", {"back": "queue", "csrfmiddlewaretoken": token})
    assert answer.status_code == 302
    assert QueueItem.objects.get(pk=item.pk).acknowledged_by == world.staff


def test_a_cache_that_fails_does_not_take_the_queue_down(world):
    item = open_item(world.patient, minutes_ago=5)
    nowhere = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    client = client_for(world.staff)
    with override_settings(CACHES=nowhere):
        page = client.get(QUEUE)
        assert page.status_code == 200 and ids_on_page(open_section(page)) == [item.pk]
        assert [r["id"] for r in client.get(API).json()["results"]] == [item.pk]


def test_the_api_checks_the_page_it_is_asked_for(world):
    for minutes in range(3):
        open_item(world.patient, minutes_ago=minutes)
    client = client_for(world.staff)
    assert client.get(API + "?page=1").json()["count"] == 3
    assert client.get(API + "?page=last").status_code == 200
    past_the_end = client.get(API + "?page=2")
    assert past_the_end.status_code == 404 and "Invalid page" in past_the_end.json()["errors"]["detail"][0]
    for page in ("0", "-1", "abc", "1.5"):  # not a page number at all: the request is wrong (issue 10)
        answer = client.get(API + f"?page={page}")
        assert answer.status_code == 400 and answer.json() == {"errors": {"page": [NOT_A_PAGE]}}


def test_the_kept_rows_are_kept_apart_by_clinic_state_and_language(world):
    from patients.models import Clinic

    clinic = Clinic(pk=7, name="A")
    clinic.open_count, clinic.open_id_sum, clinic.acknowledged_count, clinic.acknowledged_id_sum = 2, 9, 1, 4
    base = snapshot.key("page", [clinic], 1)
    assert snapshot.key("page", [clinic], 2) != base
    assert snapshot.key("api", [clinic], 1) != base
    clinic.acknowledged_id_sum = 5  # someone else acknowledged instead
    assert snapshot.key("page", [clinic], 1) != base
    from django.utils import translation

    clinic.acknowledged_id_sum = 4
    with translation.override("es"):
        assert snapshot.key("page", [clinic], 1) != base


@override_settings(QUEUE_SNAPSHOT_SECONDS=0)
def test_with_no_snapshot_time_the_rows_are_made_on_every_request(world):
    open_item(world.patient, minutes_ago=5)
    client = client_for(world.staff)
    client.get("/")
    for url in (QUEUE, API):
        first = queries(client, url)
        assert queries(client, url) == first
