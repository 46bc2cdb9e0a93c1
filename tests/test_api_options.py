"""OPTIONS on every API route answers without a server error, for the people who may see the
patient and for those who may not (DRF describes a view's PUT by asking for its object)."""

import re

import pytest
from django.test import Client

from tests.patients.test_access_matrix import all_routes, object_ids

pytestmark = pytest.mark.django_db


def api_urls(ids: dict) -> list[str]:
    urls = []
    for route, _pattern in all_routes():
        if not route.startswith("api/"):
            continue
        url = "/" + route
        for key, value in {**ids, "item_id": 1, "pk": 1}.items():
            url = url.replace(f"<int:{key}>", str(value))
        url = re.sub(r"<(?:str:|slug:)?\w+>", "x", url)
        urls.append(url)
    return sorted(set(urls))


@pytest.mark.parametrize("who", ["staff", "patient_user", "other_clinic_staff", None])
def test_options_never_answers_a_server_error(world, who):
    ids = object_ids(world)
    client = Client()
    if who:
        client.force_login(getattr(world, who))
    urls = api_urls(ids)
    assert any("/pump/" in url for url in urls)
    answers = {url: client.options(url).status_code for url in urls}
    assert all(code < 500 for code in answers.values()), answers
