"""The 404 and 500 pages in a real browser, at phone width (390 px) and at desktop width: axe finds
no serious or critical violation, nothing is wider than the screen, the way home is a large
target with a visible focus, and the call link is there. Screenshots go to test-artifacts/.

`live_server` runs in another thread with its own connection, hence the transactional database.
"""

from pathlib import Path

import pytest
from django.test import RequestFactory
from playwright.sync_api import Page, expect

from ibt_companion.errors import server_error
from tests.browser_fixtures import assert_accessible, log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


def check_page(page: Page, name: str, size: str) -> None:
    assert_accessible(page, f"{name} at {size}")
    width = SIZES[size]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    home = page.get_by_role("link", name="Go to your home page")
    expect(home).to_be_visible()
    box = home.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44
    home.focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline
    expect(page.locator('a[href="tel:911"]').first).to_be_visible()
    expect(page.get_by_role("link", name="Answer a few questions")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)


@pytest.mark.parametrize("size", SIZES)
def test_the_404_an_outsider_gets_for_another_patients_page(page: Page, live_server, world, size):
    page.set_viewport_size(SIZES[size])
    log_in(page, live_server.url, world.other_caregiver.email, PASSWORD)
    response = page.goto(f"{live_server.url}/patients/{world.patient.pk}/contacts/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We could not find that page")
    expect(page.get_by_text(world.patient.full_name)).to_have_count(0)
    check_page(page, "error-404", size)


@pytest.mark.parametrize("size", SIZES)
def test_the_500_page(page: Page, live_server, size):
    html = server_error(RequestFactory().get("/")).content.decode()
    # Served at a live-server address, so the stylesheet loads as it does after a real error.
    page.route(
        live_server.url + "/error-preview/",
        lambda route: route.fulfill(status=500, body=html, content_type="text/html"),
    )
    page.set_viewport_size(SIZES[size])
    page.goto(live_server.url + "/error-preview/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong on our side")
    background = page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor")
    assert background == "rgb(11, 79, 138)", background  # the stylesheet loaded
    check_page(page, "error-500", size)
