"""The page a database outage shows must be readable by everyone who needs it most: axe finds no
serious violation, at phone width, and the call button is the first thing on it."""

import pytest
from django.test import RequestFactory
from playwright.sync_api import Page

from ibt_companion.outage import outage_response
from tests.browser_fixtures import assert_accessible

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_the_outage_page_passes_axe_at_phone_width(page: Page, live_server):
    html = outage_response(RequestFactory().get("/")).content.decode()
    # Served at a live-server address, so the stylesheet loads as it does in an outage.
    page.route(
        live_server.url + "/outage-preview/",
        lambda route: route.fulfill(status=503, body=html, content_type="text/html"),
    )
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/outage-preview/")
    assert_accessible(page, "outage page")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first_link = page.locator("a").first
    assert first_link.get_attribute("href").startswith("tel:") and first_link.is_visible()
