"""The pump API: profile, events (with preview and every validation rule at its boundary),
and the forecast; who may do what; the error shape. Time is frozen at NOW."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from patients.models import AuditEvent, Patient
from refills import services
from refills.models import PumpEvent, PumpProfile, RefillCycle
from tests.helpers import client_for as api

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)  # 10:00 CDT in Chicago
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 09:00 CST
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}


def send(client, method, url, data):
    body = data if isinstance(data, str) else json.dumps(data)
    return getattr(client, method)(url, data=body, content_type="application/json")


def pump_url(world):
    return f"/api/v1/patients/{world.patient.pk}/pump/"


def events_url(world, query=""):
    return f"/api/v1/patients/{world.patient.pk}/events/{query}"


def forecast_url(world):
    return f"/api/v1/patients/{world.patient.pk}/forecast/"


def refill_body(at=T0, program=SIMPLE, **values):
    return {
        "kind": "refill",
        "occurred_at": at.isoformat(),
        "values": {"volume_ml": "20", "aspirated_ml": "1.5", "program": program, **values},
    }


def flex(*starts, rate="10"):
    return {
        "concentration_mcg_per_ml": "500",
        "mode": "flex",
        "flex_steps": [{"start": start, "rate_mcg_per_hour": rate} for start in starts],
    }


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def pumped(world, frozen):
    services.save_profile(
        patient=world.patient, by=world.staff, values={"model": "synchromed2_20", "implant_date": date(2025, 1, 1)}
    )
    return world


@pytest.fixture
def refilled(pumped):
    response = send(api(pumped.staff), "post", events_url(pumped), refill_body())
    assert response.status_code == 201, response.json()
    return pumped


def assert_field_errors(response, fields):
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert set(errors) == set(fields), errors
    assert all(isinstance(m, list) and m and all(isinstance(s, str) for s in m) for m in errors.values())


# --- Pump profile -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff", "admin", "patient_user", "caregiver"])
def test_anyone_who_sees_the_patient_reads_the_pump(pumped, who):
    PumpProfile.objects.filter(patient=pumped.patient).update(eri_date=date(2030, 6, 1), risk_prior_withdrawal=True)
    response = api(getattr(pumped, who)).get(pump_url(pumped))
    assert response.status_code == 200
    data = response.json()
    assert data["model"] == "synchromed2_20"
    assert data["model_label"] == "Medtronic SynchroMed II 8637-20 (20 mL)"
    assert (data["capacity_ml"], data["alarm_volume_ml"], data["max_days_in_pump"]) == ("20.00", "2.00", 180)
    assert (data["implant_date"], data["eri_date"]) == ("2025-01-01", "2030-06-01")
    assert data["end_of_service_date"] == "2030-08-30"  # ERI + 90 days, before implant + 7 years
    assert data["risk_markers"] == ["prior_withdrawal"]
    assert data["time_zone"] == "America/Chicago"


def test_staff_reads_of_the_pump_are_audited_and_the_patients_are_not(pumped):
    api(pumped.patient_user).get(pump_url(pumped))
    api(pumped.staff).get(pump_url(pumped))
    reads = AuditEvent.objects.filter(action="read", what="pump", patient_id=pumped.patient.pk)
    assert list(reads.values_list("actor", flat=True)) == [pumped.staff.pk]


def test_no_pump_profile_yet_is_404(world):
    response = api(world.staff).get(pump_url(world))
    assert response.status_code == 404 and list(response.json()) == ["errors"]


def test_staff_create_then_replace_the_pump(world, frozen):
    client = api(world.staff)
    body = {
        "model": "synchromed2_40",
        "implant_date": "2025-01-01",
        "catheter_tip_level": "T10",
        "risk_markers": ["sci_t6_or_above", "communication_difficulty"],
    }
    created = send(client, "put", pump_url(world), body)
    assert created.status_code == 201, created.json()
    data = created.json()
    # Capacity and alarm volume come from the catalog; end of service is implant + 7 years.
    assert (data["capacity_ml"], data["alarm_volume_ml"], data["end_of_service_date"]) == (
        "40.00",
        "2.00",
        "2032-01-01",
    )
    assert data["risk_markers"] == ["sci_t6_or_above", "communication_difficulty"]
    profile = PumpProfile.objects.get(patient=world.patient)
    assert profile.risk_sci_t6_or_above and profile.risk_communication_difficulty and not profile.risk_prior_withdrawal

    replaced = send(client, "put", pump_url(world), {**body, "alarm_volume_ml": "4", "risk_markers": []})
    assert replaced.status_code == 200
    assert (replaced.json()["alarm_volume_ml"], replaced.json()["risk_markers"]) == ("4.00", [])
    assert AuditEvent.objects.filter(action="update", what="pump_profile", actor=world.staff).count() == 2


def test_models_without_a_catalog_capacity_need_one(world, frozen):
    client = api(world.staff)
    response = send(client, "put", pump_url(world), {"model": "other", "implant_date": "2025-01-01"})
    assert_field_errors(response, {"capacity_ml", "alarm_volume_ml"})
    # SynchroMed III has a default alarm volume but no fixed capacity.
    response = send(client, "put", pump_url(world), {"model": "synchromed3", "implant_date": "2025-01-01"})
    assert_field_errors(response, {"capacity_ml"})
    body = {"model": "codman_medstream", "implant_date": "2025-01-01", "capacity_ml": "35", "alarm_volume_ml": "3"}
    response = send(client, "put", pump_url(world), body)
    assert response.status_code == 201
    assert (response.json()["capacity_ml"], response.json()["end_of_service_date"]) == ("35.00", None)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"model": "synchromed9"}, {"model"}),
        ({"model": None}, {"model"}),
        ({"capacity_ml": "40"}, {"capacity_ml"}),  # the 8637-20 holds 20 mL
        ({"alarm_volume_ml": "20"}, {"alarm_volume_ml"}),
        ({"alarm_volume_ml": "-0.01"}, {"alarm_volume_ml"}),
        ({"alarm_volume_ml": "two"}, {"alarm_volume_ml"}),
        ({"max_days_in_pump": 0}, {"max_days_in_pump"}),
        ({"max_days_in_pump": 181}, {"max_days_in_pump"}),
        ({"max_days_in_pump": "many"}, {"max_days_in_pump"}),
        ({"implant_date": "2025-13-01"}, {"implant_date"}),
        ({"implant_date": "01/02/2025"}, {"implant_date"}),
        ({"implant_date": None}, {"implant_date"}),
        ({"eri_date": "soon"}, {"eri_date"}),
        ({"catheter_tip_level": "x" * 21}, {"catheter_tip_level"}),
        ({"risk_markers": ["tall"]}, {"risk_markers.0"}),
        ({"risk_markers": ["prior_withdrawal", "prior_withdrawal"]}, {"risk_markers"}),
        ({"risk_markers": "prior_withdrawal"}, {"risk_markers"}),
    ],
)
def test_bad_pump_input_is_400_with_field_messages_and_saves_nothing(world, frozen, changes, fields):
    body = {"model": "synchromed2_20", "implant_date": "2025-01-01", **changes}
    assert_field_errors(send(api(world.staff), "put", pump_url(world), body), fields)
    assert not PumpProfile.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [{"alarm_volume_ml": "19.99"}, {"alarm_volume_ml": "0"}, {"max_days_in_pump": 1}, {"max_days_in_pump": 180}],
)
def test_pump_input_at_its_boundaries_is_accepted(world, frozen, changes):
    body = {"model": "synchromed2_20", "implant_date": "2025-01-01", **changes}
    assert send(api(world.staff), "put", pump_url(world), body).status_code == 201


@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
def test_patient_and_caregiver_cannot_change_the_pump(pumped, who):
    body = {"model": "synchromed2_20", "implant_date": "2025-01-01", "alarm_volume_ml": "4"}
    assert send(api(getattr(pumped, who)), "put", pump_url(pumped), body).status_code == 403
    assert PumpProfile.objects.get(patient=pumped.patient).alarm_volume_ml == 2


def test_changing_the_alarm_volume_recomputes_the_forecast(refilled):
    body = {"model": "synchromed2_20", "implant_date": "2025-01-01", "alarm_volume_ml": "4"}
    assert send(api(refilled.staff), "put", pump_url(refilled), body).status_code == 200
    # (20 − 4) / 0.5 mL a day = 32 days after T0
    cycle = RefillCycle.objects.get(patient=refilled.patient, ended_at__isnull=True)
    assert cycle.low_reservoir_alarm_at == T0 + timedelta(days=32)


# --- Recording events ---------------------------------------------------------------------


def test_staff_record_a_refill(pumped):
    response = send(api(pumped.staff), "post", events_url(pumped), {**refill_body(), "note": "Uneventful."})
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["preview"] is False
    event = PumpEvent.objects.get(patient=pumped.patient)
    assert data["event"]["id"] == event.pk
    assert data["event"]["kind"] == "refill"
    assert data["event"]["occurred_at"] == "2026-03-01T09:00:00-06:00"
    assert data["event"]["recorded_by"] == pumped.staff.full_name
    assert data["event"]["note"] == "Uneventful."
    assert data["event"]["values"] == {
        "volume_ml": "20",
        "aspirated_ml": "1.5",
        "program": {**SIMPLE, "boluses": [], "ptm": None},
    }
    assert (data["expected_volume_ml"], data["volume_ml"], data["discrepancy"], data["warnings"]) == (
        None,
        "20",
        False,
        [],
    )
    # 0.5 mL a day: the alarm (2 mL) 36 days after T0, in CDT by then.
    assert data["forecast"]["low_reservoir_alarm_at"] == "2026-04-06T10:00:00-05:00"
    assert data["forecast"]["refill_due_reason"] == "low_reservoir_alarm"
    cycle = RefillCycle.objects.get(patient=pumped.patient, ended_at__isnull=True)
    assert cycle.started_by == event
    assert cycle.refill_due_at == datetime(2026, 4, 6, 15, 0, tzinfo=UTC)


def test_occurred_at_defaults_to_now(pumped):
    body = refill_body()
    del body["occurred_at"]
    response = send(api(pumped.staff), "post", events_url(pumped), body)
    assert response.status_code == 201
    assert PumpEvent.objects.get().occurred_at == NOW
    assert response.json()["event"]["occurred_at"] == "2026-03-20T10:00:00-05:00"


@pytest.mark.parametrize(("query", "flag"), [("?preview=1", None), ("?preview=true", None), ("", True)])
def test_preview_answers_what_would_happen_and_saves_nothing(refilled, query, flag):
    cycle = RefillCycle.objects.get(patient=refilled.patient)
    audit_rows = AuditEvent.objects.count()
    body = refill_body(at=T0 + timedelta(days=10), aspirated_ml="13.9")
    if flag is not None:
        body["preview"] = flag
    response = send(api(refilled.staff), "post", events_url(refilled, query), body)
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["preview"] is True and data["event"]["id"] is None
    assert (data["expected_volume_ml"], data["discrepancy"]) == ("15", True)
    assert any("Refill discrepancy" in w for w in data["warnings"])
    assert data["forecast"]["refill_due_at"] == "2026-04-16T10:00:00-05:00"
    assert PumpEvent.objects.count() == 1
    assert list(RefillCycle.objects.filter(patient=refilled.patient)) == [cycle]
    assert RefillCycle.objects.get().refill_due_at == cycle.refill_due_at
    assert AuditEvent.objects.count() == audit_rows


def test_preview_0_records_the_event(refilled):
    response = send(api(refilled.staff), "post", events_url(refilled, "?preview=0"), refill_body(at=T0 + timedelta(1)))
    assert response.status_code == 201


def test_a_preview_with_errors_is_a_400_too(refilled):
    response = send(api(refilled.staff), "post", events_url(refilled, "?preview=1"), refill_body(volume_ml="21"))
    assert_field_errors(response, {"values.volume_ml"})
    assert PumpEvent.objects.count() == 1


def test_a_bad_preview_flag_is_400(refilled):
    response = send(api(refilled.staff), "post", events_url(refilled, "?preview=maybe"), refill_body())
    assert_field_errors(response, {"preview"})


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"volume_ml": "20"}, None),  # V0 = capacity
        ({"volume_ml": "20.01"}, "values.volume_ml"),
        ({"volume_ml": "0.01"}, None),
        ({"volume_ml": "0"}, "values.volume_ml"),
        ({"volume_ml": "-1"}, "values.volume_ml"),
        ({"volume_ml": None}, "values.volume_ml"),
        ({"volume_ml": "lots"}, "values.volume_ml"),
        ({"volume_ml": "NaN"}, "values.volume_ml"),
        ({"aspirated_ml": "20"}, None),
        ({"aspirated_ml": "20.01"}, "values.aspirated_ml"),
        ({"aspirated_ml": "0"}, None),
        ({"aspirated_ml": "-0.01"}, "values.aspirated_ml"),
        ({"printout_alarm_date": "April"}, "values.printout_alarm_date"),
        ({"program": {**SIMPLE, "concentration_mcg_per_ml": "0"}}, "values.program.concentration_mcg_per_ml"),
        ({"program": {**SIMPLE, "concentration_mg_per_ml": "0.5", "concentration_mcg_per_ml": ""}}, None),
        ({"program": {**SIMPLE, "mode": "pulsed"}}, "values.program.mode"),
        ({"program": {**SIMPLE, "daily_dose_mcg": "0"}}, "values.program"),  # delivers nothing
        ({"program": {**SIMPLE, "daily_dose_mcg": "-5"}}, "values.program.daily_dose_mcg"),
        ({"program": "500 mcg/mL"}, "values.program"),
        ({"program": None}, "values.program"),
        ({"program": flex(*[f"{h:02d}:00" for h in range(13)])}, None),
        ({"program": flex(*[f"{h:02d}:00" for h in range(14)])}, "values.program.flex_steps"),
        ({"program": {**flex("07:00"), "flex_steps": []}}, "values.program.flex_steps"),
        ({"program": {**flex("07:00"), "flex_steps": "07:00"}}, "values.program.flex_steps"),
        ({"program": {**flex("07:00"), "flex_steps": [7]}}, "values.program.flex_steps.0"),
        ({"program": flex("07:00", "19:00", "07:00")}, "values.program.flex_steps.2.start"),
        ({"program": flex("24:00")}, "values.program.flex_steps.0.start"),
        ({"program": flex("7:00")}, "values.program.flex_steps.0.start"),
        ({"program": flex("23:59")}, None),
        ({"program": flex("00:00")}, None),
        (
            {"program": {**flex("07:00"), "flex_steps": [{"start": 700, "rate_mcg_per_hour": "1"}]}},
            "values.program.flex_steps.0.start",
        ),
        ({"program": flex("07:00", rate="-1")}, "values.program.flex_steps.0.rate_mcg_per_hour"),
        ({"program": flex("07:00", "19:00", rate="0")}, "values.program"),  # delivers nothing
        ({"program": {**SIMPLE, "boluses": [{"time": "12:00", "dose_mcg": "0"}]}}, "values.program.boluses.0.dose_mcg"),
        ({"program": {**SIMPLE, "ptm": {"dose_mcg": "25", "max_per_day": 25}}}, "values.program.ptm.max_per_day"),
    ],
)
def test_refill_values_at_and_past_their_boundaries(pumped, values, field):
    response = send(api(pumped.staff), "post", events_url(pumped), refill_body(**values))
    if field is None:
        assert response.status_code == 201, response.json()
        assert PumpEvent.objects.count() == 1
    else:
        assert_field_errors(response, {field})
        assert PumpEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("at", "ok"),
    [
        (NOW, True),
        (NOW + timedelta(minutes=1), False),  # the future
        (datetime(2025, 1, 1, 0, 0, tzinfo=UTC), True),  # the implant date
        (datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC), False),
    ],
)
def test_occurred_at_between_implant_and_now(pumped, at, ok):
    response = send(api(pumped.staff), "post", events_url(pumped), refill_body(at=at))
    if ok:
        assert response.status_code == 201, response.json()
    else:
        assert_field_errors(response, {"occurred_at"})
        assert not PumpEvent.objects.exists()


@pytest.mark.parametrize(("delta", "ok"), [(timedelta(0), True), (timedelta(seconds=-1), False)])
def test_no_event_before_the_latest(refilled, delta, ok):
    response = send(api(refilled.staff), "post", events_url(refilled), refill_body(at=T0 + delta))
    if ok:
        assert response.status_code == 201
    else:
        assert_field_errors(response, {"occurred_at"})
        assert PumpEvent.objects.count() == 1


@pytest.mark.parametrize(("concentration", "ok"), [("500", True), ("1000", False)])
def test_a_reprogram_keeps_the_concentration(refilled, concentration, ok):
    body = {
        "kind": "reprogram",
        "occurred_at": (T0 + timedelta(days=2)).isoformat(),
        "values": {"program": {**SIMPLE, "daily_dose_mcg": "300", "concentration_mcg_per_ml": concentration}},
    }
    response = send(api(refilled.staff), "post", events_url(refilled), body)
    if ok:
        assert response.status_code == 201, response.json()
        assert response.json()["volume_ml"] == "19"  # computed: two days at 0.5 mL
    else:
        assert_field_errors(response, {"values.program.concentration_mcg_per_ml"})
        assert PumpEvent.objects.count() == 1


@pytest.mark.parametrize(("concentration", "ok"), [("499", False), ("500", True), ("2000", True), ("2001", False)])
def test_prometra_takes_500_to_2000_mcg_per_ml(world, frozen, concentration, ok):
    services.save_profile(
        patient=world.patient, by=world.staff, values={"model": "prometra2_20", "implant_date": date(2025, 1, 1)}
    )
    program = {**SIMPLE, "concentration_mcg_per_ml": concentration}
    response = send(api(world.staff), "post", events_url(world), refill_body(program=program))
    if ok:
        assert response.status_code == 201, response.json()
    else:
        assert_field_errors(response, {"values.program.concentration_mcg_per_ml"})
        assert not PumpEvent.objects.exists()


def test_every_error_is_answered_at_once(refilled):
    body = refill_body(at=T0 - timedelta(minutes=1), volume_ml="20.01", aspirated_ml="-1", program=flex("7:00"))
    response = send(api(refilled.staff), "post", events_url(refilled), body)
    assert_field_errors(
        response, {"occurred_at", "values.volume_ml", "values.aspirated_ml", "values.program.flex_steps.0.start"}
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ("{not json", {"detail"}),
        ("[]", {"non_field_errors"}),
        ('"refill"', {"non_field_errors"}),
        ({}, {"kind"}),
        ({"kind": "birthday"}, {"kind"}),
        ({"kind": 5}, {"kind"}),
        ({**refill_body(), "values": ["volume_ml", "20"]}, {"values"}),
        ({**refill_body(), "values": "20 mL"}, {"values"}),
        ({**refill_body(), "occurred_at": "yesterday"}, {"occurred_at"}),
        ({**refill_body(), "occurred_at": 1772377200}, {"occurred_at"}),
        ({**refill_body(), "occurred_at": "2026-03-01T09:00:00"}, {"occurred_at"}),  # no offset
        ({**refill_body(), "occurred_at": "2026-03-01"}, {"occurred_at"}),
        ({**refill_body(), "corrects": "first"}, {"corrects"}),
        ({**refill_body(), "preview": "maybe"}, {"preview"}),
        ({**refill_body(), "note": {"text": "hi"}}, {"note"}),
    ],
)
def test_malformed_input_is_400_never_500(pumped, body, fields):
    assert_field_errors(send(api(pumped.staff), "post", events_url(pumped), body), fields)
    assert not PumpEvent.objects.exists()


def test_events_need_a_pump_profile(world, frozen):
    assert_field_errors(send(api(world.staff), "post", events_url(world), refill_body()), {"kind"})


def test_a_patient_who_is_not_active_gets_no_events(pumped):
    Patient.objects.filter(pk=pumped.patient.pk).update(status=Patient.Status.TRANSFERRED)
    assert_field_errors(send(api(pumped.staff), "post", events_url(pumped), refill_body()), {"kind"})


def test_explant_ends_the_forecast(refilled):
    body = {"kind": "explanted", "occurred_at": (T0 + timedelta(days=3)).isoformat()}
    response = send(api(refilled.staff), "post", events_url(refilled), body)
    assert response.status_code == 201, response.json()
    assert response.json()["forecast"] is None
    forecast = api(refilled.staff).get(forecast_url(refilled)).json()
    assert forecast["forecast"] is None and "explanted" in forecast["reason"]


# --- Warnings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("program", "warning"),
    [
        ({**SIMPLE, "daily_dose_mcg": "1000"}, None),
        ({**SIMPLE, "daily_dose_mcg": "1001"}, "above 1000 mcg/day"),
        ({**SIMPLE, "daily_dose_mcg": "900", "ptm": {"dose_mcg": "25", "max_per_day": 5}}, "above 1000 mcg/day"),
        ({**SIMPLE, "concentration_mcg_per_ml": "750", "daily_dose_mcg": "375"}, "not a standard concentration"),
        ({**SIMPLE, "concentration_mcg_per_ml": "2000", "daily_dose_mcg": "500"}, None),
        ({**SIMPLE, "daily_dose_mcg": "25"}, "stability limit before the low-reservoir alarm"),
    ],
)
def test_program_warnings_are_saved_and_returned(pumped, program, warning):
    response = send(api(pumped.staff), "post", events_url(pumped), refill_body(program=program))
    assert response.status_code == 201, response.json()
    stored = PumpEvent.objects.get().warnings
    assert response.json()["warnings"] == response.json()["event"]["warnings"] == stored
    if warning is None:
        assert stored == []
    else:
        assert len(stored) == 1 and warning in stored[0]


@pytest.mark.parametrize(("printout", "warned"), [("2026-04-07", False), ("2026-04-08", True)])
def test_a_printout_date_more_than_24_hours_from_the_apps_is_a_warning(pumped, printout, warned):
    # The app's alarm: 6 April 15:00Z; the printout's day starts 7 (8) April 00:00 CDT.
    response = send(api(pumped.staff), "post", events_url(pumped), refill_body(printout_alarm_date=printout))
    assert response.status_code == 201
    assert any("printout" in w for w in PumpEvent.objects.get().warnings) is warned
    assert response.json()["forecast"]["inputs"]["printout_alarm_date"] == printout


@pytest.mark.parametrize(("aspirated", "flagged"), [("14.0", False), ("13.9", True)])
def test_a_refill_discrepancy_is_flagged(refilled, aspirated, flagged):
    body = refill_body(at=T0 + timedelta(days=10), aspirated_ml=aspirated)
    response = send(api(refilled.staff), "post", events_url(refilled), body)
    data = response.json()
    assert response.status_code == 201
    assert (data["expected_volume_ml"], data["discrepancy"]) == ("15", flagged)
    event = PumpEvent.objects.get(pk=data["event"]["id"])
    assert event.discrepancy is flagged
    assert any("Refill discrepancy" in w for w in event.warnings) is flagged


def test_a_refill_after_the_pump_ran_dry_warns_of_reintroduction(pumped):
    client = api(pumped.staff)
    first = datetime(2026, 1, 1, 15, 0, tzinfo=UTC)
    assert send(client, "post", events_url(pumped), refill_body(at=first)).status_code == 201
    # Empty 40 days after the first refill; this one is 45 days after.
    response = send(client, "post", events_url(pumped), refill_body(at=first + timedelta(days=45)))
    assert response.status_code == 201
    warnings = PumpEvent.objects.latest("occurred_at").warnings
    assert any("Re-introduction after interruption" in w for w in warnings)
    assert response.json()["expected_volume_ml"] == "0"


# --- Corrections ----------------------------------------------------------------------------


def test_a_correction_of_a_past_refill_changes_the_later_refills_expected_volume(refilled):
    client = api(refilled.staff)
    first = PumpEvent.objects.get()
    second = send(client, "post", events_url(refilled), refill_body(at=T0 + timedelta(days=10), aspirated_ml="15"))
    assert second.json()["expected_volume_ml"] == "15"
    correction = {
        "kind": "correction",
        "corrects": first.pk,
        "values": {"volume_ml": "18", "aspirated_ml": "1.5", "program": SIMPLE},
        "note": "V0 was 18 mL.",
    }
    response = send(client, "post", events_url(refilled), correction)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["event"]["corrects"] == first.pk
    assert data["event"]["occurred_at"] == "2026-03-01T09:00:00-06:00"  # keeps its target's instant
    later = PumpEvent.objects.get(pk=second.json()["event"]["id"])
    assert later.expected_volume_ml == 13 and later.discrepancy
    first.refresh_from_db()
    assert first.values["volume_ml"] == "20"  # never edited in place


@pytest.mark.parametrize(
    ("corrects", "kind"),
    [("other_patient", "correction"), ("missing", "correction"), (None, "correction"), ("own", "refill")],
)
def test_a_correction_names_an_event_of_the_same_patient(refilled, corrects, kind):
    other = PumpEvent.objects.create(
        patient=refilled.other_patient, kind="alarm_reported", occurred_at=T0, zone="UTC", utc_offset_minutes=0,
        capacity_ml=20, values={"tone": "single"},
    )  # fmt: skip
    ids = {"other_patient": other.pk, "missing": 999999, "own": PumpEvent.objects.first().pk, None: None}
    body = {"kind": kind, "corrects": ids[corrects], "values": refill_body()["values"]}
    response = send(api(refilled.staff), "post", events_url(refilled), body)
    assert_field_errors(response, {"corrects"})
    assert PumpEvent.objects.count() == 2


# --- Alarms reported by patients and caregivers ---------------------------------------------


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "staff"])
def test_anyone_who_sees_the_patient_may_report_an_alarm(refilled, who):
    body = {"kind": "alarm_reported", "values": {"tone": "two_tone"}, "note": "Beeping twice."}
    response = send(api(getattr(refilled, who)), "post", events_url(refilled), body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["event"]["recorded_by"] == getattr(refilled, who).full_name
    assert data["forecast"]["refill_due_reason"] == "alarm_reported"
    assert data["forecast"]["refill_due_at"] == "2026-03-20T10:00:00-05:00"


@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
@pytest.mark.parametrize("kind", ["refill", "reprogram", "correction", "explanted", "pump_replaced", "nonsense", None])
def test_patients_and_caregivers_record_nothing_else(refilled, who, kind):
    body = {**refill_body(at=NOW), "kind": kind, "corrects": PumpEvent.objects.get().pk}
    response = send(api(getattr(refilled, who)), "post", events_url(refilled), body)
    assert response.status_code == 403
    assert PumpEvent.objects.count() == 1


def test_a_reported_alarm_needs_a_tone(refilled):
    response = send(api(refilled.patient_user), "post", events_url(refilled), {"kind": "alarm_reported"})
    assert_field_errors(response, {"values.tone"})


# --- Listing events -------------------------------------------------------------------------


def test_events_are_listed_newest_first_with_the_patients_offset(refilled):
    client = api(refilled.staff)
    send(client, "post", events_url(refilled), {"kind": "alarm_reported", "values": {"tone": "single"}})
    response = api(refilled.caregiver).get(events_url(refilled))
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2 and data["next"] is None
    alarm, refill = data["results"]
    assert (alarm["kind"], refill["kind"]) == ("alarm_reported", "refill")
    assert alarm["occurred_at"] == "2026-03-20T10:00:00-05:00" and alarm["utc_offset_minutes"] == -300
    assert refill["occurred_at"] == "2026-03-01T09:00:00-06:00" and refill["utc_offset_minutes"] == -360
    assert refill["zone"] == "America/Chicago"
    assert refill["recorded_at"] == "2026-03-20T10:00:00-05:00"
    assert refill["recorded_by"] == refilled.staff.full_name
    assert set(refill) == {
        "id", "kind", "occurred_at", "zone", "utc_offset_minutes", "values", "corrects", "note", "recorded_by",
        "recorded_at", "expected_volume_ml", "volume_ml", "discrepancy", "discrepancy_resolved_at", "warnings",
    }  # fmt: skip


def test_events_are_paginated(refilled):
    client = api(refilled.staff)
    for hour in range(1, 55):
        body = {"kind": "alarm_reported", "occurred_at": (T0 + timedelta(hours=hour)).isoformat()}
        body["values"] = {"tone": "single"}
        assert send(client, "post", events_url(refilled), body).status_code == 201
    first = client.get(events_url(refilled)).json()
    assert first["count"] == 55 and len(first["results"]) == 50 and first["next"]
    last = client.get(events_url(refilled, "?page=2")).json()
    assert [e["kind"] for e in last["results"]][-1] == "refill"


def test_the_event_list_makes_as_many_queries_for_3_rows_as_for_30(refilled):
    client = api(refilled.staff)

    def queries_for_listing():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(events_url(refilled)).status_code == 200
        return len(captured)

    def add_alarms(first_hour, count):
        for hour in range(first_hour, first_hour + count):
            body = {"kind": "alarm_reported", "occurred_at": (T0 + timedelta(hours=hour)).isoformat()}
            send(client, "post", events_url(refilled), {**body, "values": {"tone": "single"}})

    add_alarms(1, 2)
    few = queries_for_listing()
    add_alarms(3, 27)
    assert queries_for_listing() == few


def test_staff_reads_of_events_and_forecast_are_audited(refilled):
    for who in (refilled.patient_user, refilled.caregiver, refilled.staff):
        api(who).get(events_url(refilled))
        api(who).get(forecast_url(refilled))
    reads = AuditEvent.objects.filter(action="read", patient_id=refilled.patient.pk)
    assert sorted(reads.values_list("what", "actor")) == [
        ("events", refilled.staff.pk),
        ("forecast", refilled.staff.pk),
    ]


# --- The forecast ---------------------------------------------------------------------------


def test_the_forecast_and_every_input(refilled):
    response = api(refilled.patient_user).get(forecast_url(refilled))
    assert response.status_code == 200
    body = response.json()
    assert body["reason"] is None
    forecast = body["forecast"]
    inputs = forecast.pop("inputs")
    assert forecast == {
        "low_reservoir_alarm_at": "2026-04-06T10:00:00-05:00",
        "empty_at": "2026-04-10T10:00:00-05:00",
        "stability_limit_at": "2026-08-28T10:00:00-05:00",
        "printout_alarm_at": None,
        "alarm_reported_at": None,
        "refill_due_at": "2026-04-06T10:00:00-05:00",
        "refill_due_reason": "low_reservoir_alarm",
        "reminder_at": "2026-03-30T09:00:00-05:00",
        "daily_dose_mcg": "250",
        "daily_volume_ml": "0.5",
        "volume_now_ml": "10.5",  # 19 days at 0.5 mL
        "days_until_refill_due": 17,
    }
    assert inputs == {
        "t0": "2026-03-01T09:00:00-06:00",
        "v0_ml": "20",
        "program": {**SIMPLE, "boluses": [], "ptm": None},
        "pump_utc_offset_minutes": -360,
        "alarm_volume_ml": "2",
        "last_fill_at": "2026-03-01T09:00:00-06:00",
        "max_days_in_pump": 180,
        "zone": "America/Chicago",
        "reminder_hour": 9,
        "printout_alarm_date": None,
        "alarms_reported_at": [],
        "now": "2026-03-20T10:00:00-05:00",
    }


def test_the_forecast_follows_the_patients_current_zone(refilled):
    Patient.objects.filter(pk=refilled.patient.pk).update(time_zone="Europe/Paris")
    forecast = api(refilled.staff).get(forecast_url(refilled)).json()["forecast"]
    assert forecast["refill_due_at"] == "2026-04-06T17:00:00+02:00"
    assert forecast["inputs"]["t0"] == "2026-03-01T16:00:00+01:00"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("no_profile", "No pump profile"),
        ("no_refill", "No refill"),
        ("transferred", "transferred"),
        ("deceased", "deceased"),
    ],
)
def test_no_forecast_is_200_with_null_and_a_reason(world, frozen, setup, reason):
    if setup != "no_profile":
        services.save_profile(
            patient=world.patient, by=world.staff, values={"model": "synchromed2_20", "implant_date": date(2025, 1, 1)}
        )
    if setup in ("transferred", "deceased"):
        assert send(api(world.staff), "post", events_url(world), refill_body()).status_code == 201
        Patient.objects.filter(pk=world.patient.pk).update(status=setup)
    response = api(world.patient_user).get(forecast_url(world))
    assert response.status_code == 200
    assert response.json()["forecast"] is None and reason in response.json()["reason"]


# --- Who may see what -----------------------------------------------------------------------


@pytest.mark.parametrize("outsider", ["other_clinic_staff", "other_caregiver", "revoked_caregiver"])
def test_outsiders_get_404_and_change_nothing(refilled, outsider):
    client = api(getattr(refilled, outsider))
    pump = {"model": "synchromed2_20", "implant_date": "2025-01-01", "alarm_volume_ml": "4"}
    alarm = {"kind": "alarm_reported", "values": {"tone": "single"}}
    responses = [
        client.get(pump_url(refilled)),
        send(client, "put", pump_url(refilled), pump),
        client.get(events_url(refilled)),
        send(client, "post", events_url(refilled), alarm),
        client.get(forecast_url(refilled)),
    ]
    assert [r.status_code for r in responses] == [404] * 5
    assert PumpEvent.objects.count() == 1
    assert PumpProfile.objects.get().alarm_volume_ml == 2


def test_the_other_patient_cannot_see_this_one(refilled):
    client = api(refilled.other_patient.user)
    assert client.get(forecast_url(refilled)).status_code == 404
    assert client.get(f"/api/v1/patients/{refilled.other_patient.pk}/forecast/").status_code == 200


def test_anonymous_gets_401(refilled):
    for url in (pump_url(refilled), events_url(refilled), forecast_url(refilled)):
        assert Client().get(url).status_code == 401
