"""Recording a check-in (symptoms.services): who logs it and when, the context snapshot it takes
at observed_at, and a disposition that is never lowered afterwards."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from patients.models import AuditEvent, QueueItem
from refills import services as refill_services
from symptoms import services
from symptoms.models import CheckIn, LevelLoweredError

from .test_checkin_fixtures import QUIET, T0, at_volume

pytestmark = pytest.mark.django_db


def record(world, by, now=QUIET, **answers):
    answers.setdefault("symptoms", [])
    return services.record_checkin(patient=world.patient, by=by, now=now, **answers)


# --- Who logs it, and when ----------------------------------------------------------------------


def test_a_patient_logs_a_check_in_now(pump):
    recorded = record(pump, pump.patient_user, symptoms=["constipation"], note="  since Monday ")
    checkin = recorded.checkin
    assert recorded.created and checkin.logged_by_role == "patient" and checkin.logged_by == pump.patient_user
    assert checkin.observed_at == QUIET and checkin.created_at == QUIET
    assert checkin.level == "routine" and checkin.symptoms == ["constipation"] and checkin.note == "since Monday"
    assert checkin.rule_set_version == "2026.1"
    assert checkin.reasons == [
        {
            "rule_id": 15,
            "level": "routine",
            "text": "You reported a common side effect: constipation.",
            "source": "SPEC §6",
        }
    ]
    assert AuditEvent.objects.filter(what="checkin", action="create", patient_id=pump.patient.pk).count() == 1


def test_a_caregiver_logs_a_check_in(pump):
    checkin = record(pump, pump.caregiver, symptoms=["itching"]).checkin
    assert checkin.logged_by_role == "caregiver" and checkin.level == "call_clinic"


def test_staff_may_back_date_up_to_24_hours(pump):
    checkin = record(pump, pump.staff, observed_at=QUIET - timedelta(hours=24)).checkin
    assert checkin.logged_by_role == "staff" and checkin.observed_at == QUIET - timedelta(hours=24)


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (-timedelta(hours=24, minutes=1), "up to 24 hours back"),
        (timedelta(minutes=2), "in the future"),
        (timedelta(days=1), "in the future"),
    ],
)
def test_staff_cannot_log_more_than_24_hours_back_or_in_the_future(pump, offset, message):
    with pytest.raises(ValidationError) as error:
        record(pump, pump.staff, observed_at=QUIET + offset)
    assert message in error.value.message_dict["observed_at"][0]
    assert not CheckIn.objects.exists()


def test_patients_and_caregivers_log_now(pump):
    with pytest.raises(ValidationError) as error:
        record(pump, pump.caregiver, observed_at=QUIET - timedelta(hours=2))
    assert "Only clinic staff" in error.value.message_dict["observed_at"][0]
    # A client's "now" a little behind the server's is now.
    checkin = record(pump, pump.patient_user, observed_at=QUIET - timedelta(minutes=3)).checkin
    assert checkin.observed_at == QUIET


def test_a_naive_or_unreadable_observed_at_is_a_field_error(pump):
    for value in (datetime(2026, 3, 11, 9, 0), "yesterday", 12):
        with pytest.raises(ValidationError) as error:
            record(pump, pump.staff, observed_at=value)
        assert "observed_at" in error.value.message_dict


# --- The temperature -------------------------------------------------------------------------------


def test_a_temperature_is_stored_as_entered_and_in_rounded_celsius(pump):
    checkin = record(pump, pump.patient_user, temperature="102", temperature_unit="F").checkin
    assert checkin.temperature == Decimal("102.00") and checkin.temperature_unit == "F"
    assert checkin.temperature_c == Decimal("38.9") and checkin.level == "call_clinic"  # rule 12
    checkin = record(pump, pump.patient_user, temperature=38.25, temperature_unit="C").checkin
    assert checkin.temperature_c == Decimal("38.3")  # ROUND_HALF_UP, from the digits as typed


def test_a_decimal_comma_is_read(pump):
    checkin = record(pump, pump.patient_user, temperature="38,5", temperature_unit="C").checkin
    assert checkin.temperature_c == Decimal("38.5")


def test_a_unit_without_a_temperature_is_ignored(pump):
    checkin = record(pump, pump.patient_user, temperature="", temperature_unit="F").checkin
    assert checkin.temperature is None and checkin.temperature_unit == "" and checkin.temperature_c is None


# --- The context snapshot --------------------------------------------------------------------------


def test_the_snapshot_holds_the_forecast_at_observed_at(pump):
    observed = at_volume("4.0")  # T0 + 32 days
    checkin = record(pump, pump.staff, now=observed + timedelta(hours=1), observed_at=observed).checkin
    assert checkin.context == {
        "observed_at": observed.isoformat(),
        "volume_ml_at_observed": "4.00",
        "alarm_volume_ml": "2.00",
        "refill_due_at": (T0 + timedelta(days=36)).isoformat(),
        "refill_due_reason": "low_reservoir_alarm",
        "low_reservoir_alarm_at": (T0 + timedelta(days=36)).isoformat(),
        "empty_at": (T0 + timedelta(days=40)).isoformat(),
        "last_change_kind": "refill",
        "last_change_at": T0.isoformat(),
        "last_fill_at": T0.isoformat(),
        "risk_markers": [],
        "pump_data_checked": True,
    }
    assert checkin.pump_data_checked is True


def test_rule_5_fires_through_the_whole_path_at_4_ml(pump):
    """A withdrawal sign with 4.0 mL left at observed_at is an emergency; at 4.5 mL it is not."""
    low = record(pump, pump.patient_user, now=at_volume("4.0"), symptoms=["itching"]).checkin
    assert low.level == "emergency" and [r["rule_id"] for r in low.reasons] == [5, 11]
    assert (
        low.reasons[0]["text"]
        == "Your pump may be low on medicine, and you reported a sign of too little medicine: itching."
    )
    fuller = record(pump, pump.patient_user, now=at_volume("4.5"), symptoms=["itching"]).checkin
    assert fuller.level == "call_clinic" and [r["rule_id"] for r in fuller.reasons] == [11]


def test_the_context_is_taken_at_observed_at_not_now(pump):
    """Staff back-date a call to when 4.0 mL were left; it is logged a day later, after a refill."""
    observed = at_volume("4.0")
    refill_services.record_event(
        patient=pump.patient,
        kind="refill",
        values={"volume_ml": "20", "aspirated_ml": "4", "program": {**_simple()}},
        occurred_at=observed + timedelta(hours=2),
        by=pump.staff,
        now=observed + timedelta(hours=3),
    )
    checkin = record(
        pump, pump.staff, now=observed + timedelta(hours=20), observed_at=observed, symptoms=["itching"]
    ).checkin
    assert checkin.level == "emergency" and checkin.context["volume_ml_at_observed"] == "4.00"
    assert checkin.context["last_change_at"] == T0.isoformat()


def _simple():
    return {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}


def test_rule_10_sees_a_refill_hidden_by_a_later_reprogram(pump):
    """last_fill_at is filled in: an overdose sign 20 hours after a refill is an emergency even
    when a reprogram came in between."""
    refill_at = T0 + timedelta(days=20)
    for kind, when, values in (
        ("refill", refill_at, {"volume_ml": "20", "aspirated_ml": "10", "program": _simple()}),
        ("reprogram", refill_at + timedelta(hours=18), {"program": {**_simple(), "daily_dose_mcg": "200"}}),
    ):
        refill_services.record_event(
            patient=pump.patient, kind=kind, values=values, occurred_at=when, by=pump.staff, now=when
        )
    checkin = record(pump, pump.patient_user, now=refill_at + timedelta(hours=20), symptoms=["nausea_vomiting"]).checkin
    assert checkin.context["last_change_kind"] == "reprogram"
    assert checkin.context["last_fill_at"] == refill_at.isoformat()
    assert checkin.level == "emergency" and checkin.reasons[0]["rule_id"] == 10


def test_risk_markers_are_in_the_snapshot_and_used(pump):
    pump.patient.pump.risk_prior_withdrawal = True
    pump.patient.pump.save()
    checkin = record(pump, pump.patient_user, symptoms=["pump_alarm_critical"]).checkin
    assert checkin.context["risk_markers"] == ["prior_withdrawal"]
    assert checkin.level == "emergency" and checkin.reasons[0]["rule_id"] == 7


def test_without_a_pump_the_pump_rules_cannot_fire_and_it_is_said(world):
    checkin = record(world, world.patient_user, symptoms=["itching"]).checkin
    assert checkin.level == "call_clinic" and checkin.pump_data_checked is False
    assert checkin.context["volume_ml_at_observed"] is None and checkin.context["pump_data_checked"] is False


def test_an_unsure_pump_alarm_is_read_as_the_two_tone_alarm(pump):
    checkin = record(pump, pump.patient_user, pump_alarm="unsure", symptoms=["itching"]).checkin
    assert checkin.pump_alarm == "unsure" and checkin.symptoms == ["itching", "pump_alarm_critical"]
    assert checkin.level == "emergency" and checkin.reasons[0]["rule_id"] == 4
    single = record(pump, pump.patient_user, pump_alarm="single").checkin
    assert single.symptoms == ["pump_alarm_single"] and single.level == "call_clinic"
    none = record(pump, pump.patient_user, pump_alarm="none", symptoms=["pump_alarm_critical"]).checkin
    assert none.symptoms == ["pump_alarm_critical"]  # a code sent is never dropped


# --- The same form twice -----------------------------------------------------------------------------


def test_the_same_form_token_saves_once(pump):
    first = record(pump, pump.patient_user, symptoms=["seizure"], client_token="abc")
    again = record(pump, pump.patient_user, symptoms=["seizure"], client_token="abc")
    assert first.created and not again.created and again.checkin.pk == first.checkin.pk
    assert again.disposition.level == "emergency"
    assert CheckIn.objects.count() == 1 and QueueItem.objects.count() == 1


# --- Never lowered --------------------------------------------------------------------------------


def test_save_refuses_to_lower_a_disposition(pump):
    checkin = record(pump, pump.patient_user, symptoms=["seizure"]).checkin
    for lower in ("call_clinic", "routine"):
        checkin.level = lower
        with pytest.raises(LevelLoweredError):
            checkin.save()
    checkin.refresh_from_db()
    assert checkin.level == "emergency"
    routine = record(pump, pump.patient_user, symptoms=[]).checkin
    routine.level = "call_clinic"
    routine.save()  # raising is allowed
    routine.refresh_from_db()
    assert routine.level == "call_clinic"


def test_bulk_updates_of_the_level_are_refused(pump):
    record(pump, pump.patient_user, symptoms=["seizure"])
    with pytest.raises(LevelLoweredError):
        CheckIn.objects.update(level="routine")
    assert set(CheckIn.objects.values_list("level", flat=True)) == {"emergency"}


def test_the_database_refuses_to_lower_a_disposition(pump):
    checkin = record(pump, pump.patient_user, symptoms=["seizure"]).checkin
    with pytest.raises(DatabaseError, match="never lowered"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE symptoms_checkin SET level = 'routine' WHERE id = %s", [checkin.pk])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE symptoms_checkin SET note = 'seen by the nurse' WHERE id = %s", [checkin.pk])
    checkin.refresh_from_db()
    assert checkin.level == "emergency" and checkin.note == "seen by the nurse"


def test_role_of(world):
    assert services.role_of(world.patient_user, world.patient) == "patient"
    assert services.role_of(world.caregiver, world.patient) == "caregiver"
    assert services.role_of(world.staff, world.patient) == "staff"
    assert services.role_of(world.admin, world.patient) == "staff"


def test_numbers_now_follow_the_clinic_hours(world):
    # Home Clinic: Chicago, open Monday 08:00-17:00.
    monday_noon = datetime(2026, 3, 9, 17, 0, tzinfo=UTC)  # 12:00 CDT
    assert services.numbers_now(world.clinic, monday_noon) == {"emergency_number": "911", "phone": "+1 555 0100"}
    assert services.numbers_now(world.clinic, monday_noon + timedelta(hours=6))["phone"] == "+1 555 0199"
