"""Enrolment refuses absurd values with field messages, as the pump pages and the API do (issue
10): a zone that is not a place, dates near year 1 or 9999, a concentration above 10,000
mcg/mL and a program below 1 mcg a day. The rules are those of patients.zones and refills."""

import pytest

from refills.domain.events import DATE_OUT_OF_RANGE
from refills.domain.programs import TOO_STRONG

from .test_enrol import (
    NOW,  # noqa: F401 (the frozen fixture stops time at the enrolment's NOW)
    PATIENT,
    PUMP,
    REFILL,
    counts,
    errors_of,
    field_errors,
    post_ok,
    start,
    url,
)

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.mark.parametrize("zone", ["localtime", "Factory", "Etc/GMT+5"])
def test_step_1_refuses_a_zone_that_is_not_a_place(world, staff_client, zone):
    flow = start(staff_client)
    response = staff_client.post(url(flow, "patient"), {**PATIENT, "time_zone": zone})
    assert response.status_code == 200
    assert "is not a known time zone" in field_errors(response, "time_zone")
    assert staff_client.get(url(flow, "pump"))["Location"] == url(flow, "patient")


@pytest.mark.parametrize(
    "change", [{"implant_date": "0001-01-01"}, {"implant_date": "9999-12-31", "eri_date": "9999-12-31"}]
)
def test_step_2_refuses_dates_near_the_ends_of_the_calendar(world, staff_client, change):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    before = counts()
    response = staff_client.post(url(flow, "pump"), {**PUMP, **change})
    assert response.status_code == 200
    assert DATE_OUT_OF_RANGE in field_errors(response, "implant_date"), errors_of(response)
    assert counts() == before


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"occurred_date": "0001-01-01", "occurred_time": "00:00"}, "occurred_date", DATE_OUT_OF_RANGE),
        ({"occurred_date": "9999-12-31", "occurred_time": "23:59"}, "occurred_date", DATE_OUT_OF_RANGE),
        ({"printout_alarm_date": "0001-01-01"}, "printout_alarm_date", DATE_OUT_OF_RANGE),
        (
            {"concentration": "other", "concentration_other": "1e9999", "concentration_unit": "mg"},
            "concentration_other",
            TOO_STRONG,
        ),
        ({"concentration": "other", "concentration_other": "10001"}, "concentration_other", TOO_STRONG),
    ],
)
def test_step_3_refuses_absurd_values(world, staff_client, change, field, message):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    post_ok(staff_client, flow, "pump", PUMP, "refill")
    before = counts()
    for action in ("check", "next"):
        response = staff_client.post(url(flow, "refill"), {**REFILL, **change, "action": action})
        assert response.status_code == 200
        assert message in field_errors(response, field), errors_of(response)
    assert counts() == before


def test_step_3_refuses_a_program_below_1_mcg_a_day(world, staff_client):
    flow = start(staff_client)
    post_ok(staff_client, flow, "patient", PATIENT, "pump")
    post_ok(staff_client, flow, "pump", PUMP, "refill")
    response = staff_client.post(url(flow, "refill"), {**REFILL, "daily_dose_mcg": "0.5", "action": "check"})
    assert response.status_code == 200
    assert "less than 1 mcg a day" in response.content.decode()
    assert staff_client.get(url(flow, "invitations"))["Location"] == url(flow, "refill")
