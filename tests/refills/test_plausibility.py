"""Absurd numbers and dates in pump data are field errors in plain words, never a 500 (issue 10):
dates near year 1 or 9999, concentrations above 10,000 mcg/mL, programs below 1 mcg a day,
numbers too large or too finely divided to be a reading, and messages never show a huge number.
The rules live once in refills.domain.events / refills.domain.programs / refills.domain.numbers; the API, the staff
forms and enrolment all go through them."""

import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from refills import services
from refills.domain import numbers
from refills.domain.events import DATE_OUT_OF_RANGE, check_time, parse_event
from refills.domain.programs import TOO_STRONG, parse_program
from refills.models import PumpEvent, PumpProfile

from .test_event_rules import CTX, NOW, SIMPLE, errors_of, refill

LESS_THAN_1_MCG = "This program gives less than 1 mcg a day. Check the dose and its unit."


# --- The pure rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("at", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
def test_an_event_near_the_ends_of_the_calendar_is_a_field_error(at):
    errors: dict = {}
    check_time(at, CTX, errors, correction=False)
    assert errors == {"occurred_at": [DATE_OUT_OF_RANGE]}
    values = {"volume_ml": "20", "aspirated_ml": "2", "program": SIMPLE, "printout_alarm_date": "2026-06-10"}
    parse_event("refill", values, at, CTX)  # no OverflowError: check_time has said what is wrong


@pytest.mark.parametrize("day", ["0001-01-01", "1979-12-31", "2101-01-01", "9999-12-31"])
def test_printout_and_eri_dates_near_the_ends_of_the_calendar_are_field_errors(day):
    assert errors_of(lambda: refill(printout_alarm_date=day)) == {"printout_alarm_date": [DATE_OUT_OF_RANGE]}
    values = {"model": "synchromed2_20", "volume_ml": "20", "program": SIMPLE, "eri_date": day}
    assert errors_of(lambda: parse_event("pump_replaced", values, NOW, CTX)) == {"eri_date": [DATE_OUT_OF_RANGE]}


@pytest.mark.parametrize(
    ("program", "field", "ok"),
    [
        ({"concentration_mcg_per_ml": "10000"}, "concentration_mcg_per_ml", True),
        ({"concentration_mcg_per_ml": "10000.01"}, "concentration_mcg_per_ml", False),
        ({"concentration_mcg_per_ml": "1e9999"}, "concentration_mcg_per_ml", False),
        ({"concentration_mcg_per_ml": "", "concentration_mg_per_ml": "10"}, "concentration_mg_per_ml", True),
        ({"concentration_mcg_per_ml": "", "concentration_mg_per_ml": "10.001"}, "concentration_mg_per_ml", False),
        ({"concentration_mcg_per_ml": "", "concentration_mg_per_ml": "1e9999"}, "concentration_mg_per_ml", False),
        ({"concentration_mcg_per_ml": "", "concentration_mg_per_ml": "9e999999999"}, "concentration_mg_per_ml", False),
    ],
)
def test_a_concentration_above_10000_mcg_per_ml_is_refused(program, field, ok):
    data = {**SIMPLE, **program}
    if ok:
        assert parse_program(data).concentration_mcg_per_ml == 10_000
    else:
        assert errors_of(lambda: parse_program(data)) == {field: [TOO_STRONG]}


@pytest.mark.parametrize(
    ("program", "ok"),
    [
        ({"daily_dose_mcg": "1"}, True),
        ({"daily_dose_mcg": "0.999999"}, False),
        ({"daily_dose_mcg": "0.5"}, False),
        ({"mode": "flex", "flex_steps": [{"start": "00:00", "rate_mcg_per_hour": "0.04"}]}, False),  # 0.96 a day
        ({"daily_dose_mcg": "0.5", "boluses": [{"time": "08:00", "dose_mcg": "0.5"}]}, True),  # 1 mcg with the bolus
    ],
)
def test_a_program_below_1_mcg_a_day_is_refused(program, ok):
    data = {**SIMPLE, **program}
    if ok:
        assert parse_program(data)
    else:
        assert errors_of(lambda: parse_program(data)) == {"program": [LESS_THAN_1_MCG]}


def test_a_near_zero_dose_is_refused():
    errors = errors_of(lambda: parse_program({**SIMPLE, "daily_dose_mcg": "1e-22"}))
    assert errors == {"daily_dose_mcg": [numbers.TOO_PRECISE]}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"volume_ml": "9e999999999"}, "volume_ml", numbers.TOO_LARGE),
        ({"aspirated_ml": "1e-999999999"}, "aspirated_ml", numbers.TOO_PRECISE),
        ({"program": {**SIMPLE, "daily_dose_mcg": "9e999999999"}}, "program.daily_dose_mcg", numbers.TOO_LARGE),
        (
            {"program": {**SIMPLE, "boluses": [{"time": "08:00", "dose_mcg": "1e-999999999"}]}},
            "program.boluses.0.dose_mcg",
            numbers.TOO_PRECISE,
        ),
        (
            {"program": {**SIMPLE, "ptm": {"dose_mcg": "10", "max_per_day": "9" * 5000}}},
            "program.ptm.max_per_day",
            "Enter a whole number from 1 to 24.",
        ),
        (
            {"program": {**SIMPLE, "ptm": {"dose_mcg": "10", "max_per_day": "²"}}},
            "program.ptm.max_per_day",
            "Enter a whole number from 1 to 24.",
        ),
    ],
)
def test_numbers_no_reading_could_have_are_field_errors_at_once(values, field, message):
    started = time.monotonic()
    assert errors_of(lambda: refill(**values)) == {field: [message]}
    assert time.monotonic() - started < 1


def test_six_digits_after_the_point_are_kept_exactly():
    assert refill(volume_ml="19.123456").volume_ml == Decimal("19.123456")
    assert refill(volume_ml="19.1234560000").volume_ml == Decimal("19.123456")  # trailing zeros are not digits


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("2000"), "2000"),
        (Decimal("2E+3"), "2000"),
        (Decimal("12.50"), "12.5"),
        (Decimal("0.1234567"), "0.123457"),
        (Decimal("1e9999"), "a very large number"),
        (Decimal("1e-22"), "0"),
    ],
)
def test_messages_show_numbers_short(value, text):
    assert numbers.shown(value) == text


def test_a_non_standard_concentration_warning_stays_short():
    from refills.domain.chain import program_warnings

    warnings = program_warnings(parse_program({**SIMPLE, "concentration_mcg_per_ml": "9999.999999"}))
    assert warnings == [
        "9999.999999 mcg/mL is not a standard concentration (50, 500, 1000 or 2000). Check the syringe label."
    ]


# --- The API --------------------------------------------------------------------------------------

API_NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def pumped(world):
    with time_machine.travel(API_NOW, tick=False):
        services.save_profile(
            patient=world.patient, by=world.staff, values={"model": "synchromed2_20", "implant_date": date(2025, 1, 1)}
        )
        yield world


def staff_client(world) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(world.staff)
    return client


def post_event(world, body):
    return staff_client(world).post(
        f"/api/v1/patients/{world.patient.pk}/events/", data=json.dumps(body), content_type="application/json"
    )


def refill_body(at="2026-03-01T09:00:00-06:00", program=SIMPLE, **values):
    return {
        "kind": "refill",
        "occurred_at": at,
        "values": {"volume_ml": "20", "aspirated_ml": "1", "program": program, **values},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["refill", "reprogram", "pump_replaced"])
@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "0001-01-01T12:00:00+05:00", "9999-12-31T12:00:00Z"])
def test_api_an_event_dated_year_1_or_9999_is_a_400(pumped, kind, at):
    body = refill_body(at=at, model="synchromed2_20")
    body["kind"] = kind
    response = post_event(pumped, body)
    assert response.status_code == 400, response.content
    assert "occurred_at" in response.json()["errors"]
    assert not PumpEvent.objects.exists()


@pytest.mark.django_db
def test_api_a_printout_date_of_year_1_is_a_400(pumped):
    response = post_event(pumped, refill_body(printout_alarm_date="0001-01-01"))
    assert response.status_code == 400
    assert response.json() == {"errors": {"values.printout_alarm_date": [DATE_OUT_OF_RANGE]}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes",
    [
        {"implant_date": "9999-12-31", "eri_date": "9999-12-31"},
        {"implant_date": "0001-01-01"},
        {"implant_date": "2025-01-01", "eri_date": "9999-12-31"},
    ],
)
def test_api_pump_profile_dates_near_the_ends_of_the_calendar_are_a_400(pumped, changes):
    client = staff_client(pumped)
    response = client.put(
        f"/api/v1/patients/{pumped.patient.pk}/pump/",
        data=json.dumps({"model": "synchromed2_20", **changes}),
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert all(errors[name] == [DATE_OUT_OF_RANGE] for name in changes if changes[name][:4] in ("0001", "9999"))
    assert PumpProfile.objects.get().implant_date == date(2025, 1, 1)


@pytest.mark.django_db
def test_api_a_concentration_of_1e9999_mg_per_ml_is_a_400_with_a_short_message(pumped):
    program = {"concentration_mg_per_ml": "1e9999", "mode": "simple", "daily_dose_mcg": "250"}
    response = post_event(pumped, refill_body(program=program))
    assert response.status_code == 400
    assert response.json() == {"errors": {"values.program.concentration_mg_per_ml": [TOO_STRONG]}}
    assert len(response.content) < 300


@pytest.mark.django_db
def test_api_a_program_below_1_mcg_a_day_is_a_400(pumped):
    response = post_event(pumped, refill_body(program={**SIMPLE, "daily_dose_mcg": "0.5"}))
    assert response.status_code == 400
    assert response.json() == {"errors": {"values.program": [LESS_THAN_1_MCG]}}
    response = post_event(pumped, refill_body(program={**SIMPLE, "daily_dose_mcg": "1e-22"}))
    assert response.status_code == 400
    assert not PumpEvent.objects.exists()


# --- The staff forms ------------------------------------------------------------------------------

FORM = {
    "occurred_date": "2026-03-01",
    "occurred_time": "09:00",
    "volume_ml": "20",
    "aspirated_ml": "1",
    "concentration": "500",
    "mode": "simple",
    "daily_dose_mcg": "250",
    "rows": "4",
    "confirm": "0",
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"occurred_date": "0001-01-01", "occurred_time": "00:00"}, DATE_OUT_OF_RANGE),
        ({"occurred_date": "9999-12-31", "occurred_time": "23:59"}, DATE_OUT_OF_RANGE),  # past datetime.max in UTC
        ({"printout_alarm_date": "0001-01-01"}, DATE_OUT_OF_RANGE),
        ({"printout_alarm_date": "9999-12-31"}, DATE_OUT_OF_RANGE),
        ({"concentration": "other", "concentration_other": "20000"}, TOO_STRONG),
        (
            {"concentration": "other", "concentration_other": "1e9999", "concentration_unit": "mg"},
            TOO_STRONG,
        ),
        ({"daily_dose_mcg": "0.5"}, LESS_THAN_1_MCG),
        ({"volume_ml": "9e999999999"}, numbers.TOO_LARGE),
    ],
)
@pytest.mark.parametrize("confirm", ["0", "1"])
def test_form_absurd_values_are_form_errors(pumped, changes, message, confirm):
    with time_machine.travel(API_NOW, tick=False):
        response = staff_client(pumped).post(
            f"/patients/{pumped.patient.pk}/events/new/?kind=refill", {**FORM, **changes, "confirm": confirm}
        )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Please fix these problems" in page and message.replace("'", "&#x27;") in page
    assert len(page) < 200_000
    assert not PumpEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_form_pump_profile_dates_near_the_ends_of_the_calendar_are_form_errors(pumped, day):
    with time_machine.travel(API_NOW, tick=False):
        response = staff_client(pumped).post(
            f"/patients/{pumped.patient.pk}/pump/",
            {"model": "synchromed2_20", "implant_date": day, "eri_date": day, "max_days_in_pump": "180"},
        )
    assert response.status_code == 200
    assert "Please fix these problems" in response.content.decode()
    assert DATE_OUT_OF_RANGE in response.content.decode()
    assert PumpProfile.objects.get().implant_date == date(2025, 1, 1)


@pytest.mark.django_db
@pytest.mark.parametrize(("day", "clock"), [("9999-12-31", "23:30"), ("0001-01-01", "00:00")])
def test_form_an_appointment_near_the_ends_of_the_calendar_is_a_form_error(world, day, clock):
    from refills.models import RefillCycle
    from tests.factories import pump_with_refill

    with time_machine.travel(API_NOW, tick=False):
        pump_with_refill(world.patient, by=world.staff, at=datetime(2026, 3, 15, 15, 0, tzinfo=UTC))
        response = staff_client(world).post(f"/patients/{world.patient.pk}/appointment/", {"date": day, "time": clock})
    assert response.status_code == 200
    assert DATE_OUT_OF_RANGE in response.content.decode()
    assert RefillCycle.objects.get(ended_at__isnull=True).appointment_at is None


@pytest.mark.django_db
def test_api_an_appointment_in_year_9999_is_a_400(world):
    from tests.factories import pump_with_refill

    with time_machine.travel(API_NOW, tick=False):
        pump_with_refill(world.patient, by=world.staff, at=datetime(2026, 3, 15, 15, 0, tzinfo=UTC))
        response = staff_client(world).post(
            f"/api/v1/patients/{world.patient.pk}/appointment/",
            data=json.dumps({"appointment_at": "9999-12-31T23:30:00-05:00"}),
            content_type="application/json",
        )
    assert response.status_code == 400
    assert "appointment_at" in response.json()["errors"]
