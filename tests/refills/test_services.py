"""Recording pump events: validation, the preview, the chain, and the stored forecast."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from patients.models import QueueItem
from refills import selectors, services
from refills.models import PumpEvent, PumpProfile, RefillCycle

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}


@pytest.fixture
def pumped(world):
    PumpProfile.objects.create(
        patient=world.patient, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date=date(2025, 1, 1)
    )
    return world


def refill(world, at=T0, now=None, **values):
    data = {"volume_ml": "20", "aspirated_ml": "1.5", "program": SIMPLE, **values}
    return services.record_event(
        patient=world.patient,
        kind="refill",
        values=data,
        occurred_at=at,
        by=world.staff,
        now=now or at + timedelta(hours=1),
    )


def test_first_refill_stores_the_forecast(pumped):
    recorded = refill(pumped)
    # 250 mcg/day / 500 mcg/mL = 0.5 mL/day; (20 − 2) / 0.5 = 36 days → 6 April 15:00Z
    assert recorded.forecast.low_reservoir_alarm_at == datetime(2026, 4, 6, 15, 0, tzinfo=UTC)
    cycle = RefillCycle.objects.get(patient=pumped.patient, ended_at__isnull=True)
    assert cycle.refill_due_at == datetime(2026, 4, 6, 15, 0, tzinfo=UTC)
    assert cycle.empty_at == datetime(2026, 4, 10, 15, 0, tzinfo=UTC)
    # 7 days before is 30 March 15:00Z = 10:00 CDT → 09:00 CDT = 14:00Z
    assert cycle.reminder_at == datetime(2026, 3, 30, 14, 0, tzinfo=UTC)
    event = recorded.event
    assert event.expected_volume_ml is None and not event.discrepancy
    assert event.utc_offset_minutes == -360 and event.zone == "America/Chicago"


def test_second_refill_flags_a_discrepancy_and_opens_a_queue_item(pumped):
    refill(pumped)
    # 10 days later: 20 − 10 × 0.5 = 15 mL expected; 13.9 aspirated is 1.1 mL off (> 1.0 for a 20 mL pump)
    second = refill(pumped, at=T0 + timedelta(days=10), aspirated_ml="13.9")
    assert second.event.expected_volume_ml == Decimal("15.00")
    assert second.event.discrepancy
    assert QueueItem.objects.filter(patient=pumped.patient, kind="discrepancy").count() == 1
    assert RefillCycle.objects.filter(patient=pumped.patient).count() == 2
    assert RefillCycle.objects.filter(patient=pumped.patient, ended_at__isnull=True).count() == 1


def test_exactly_one_ml_off_is_no_discrepancy(pumped):
    refill(pumped)
    assert not refill(pumped, at=T0 + timedelta(days=10), aspirated_ml="14.0").event.discrepancy


def test_preview_saves_nothing(pumped):
    refill(pumped)
    preview = services.record_event(
        patient=pumped.patient,
        kind="refill",
        values={"volume_ml": "20", "aspirated_ml": "15", "program": SIMPLE},
        occurred_at=T0 + timedelta(days=10),
        by=pumped.staff,
        now=T0 + timedelta(days=10, hours=1),
        commit=False,
    )
    assert preview.forecast.refill_due_at == datetime(2026, 4, 16, 15, 0, tzinfo=UTC)
    assert preview.outcome.expected_volume_ml == Decimal("15.00")
    assert PumpEvent.objects.count() == 1


def test_validation_errors_save_nothing(pumped):
    refill(pumped)
    with pytest.raises(ValidationError) as error:
        refill(pumped, at=T0 - timedelta(minutes=1), volume_ml="20.01", aspirated_ml="-1")
    fields = error.value.message_dict
    assert set(fields) == {"occurred_at", "volume_ml", "aspirated_ml"}
    assert PumpEvent.objects.count() == 1


def test_correction_replays_the_chain(pumped):
    first = refill(pumped)
    second = refill(pumped, at=T0 + timedelta(days=10), aspirated_ml="15")
    assert not second.event.discrepancy
    # The first refill was really 18 mL: at day 10 the app should have expected 13 mL, so 15 is 2 mL off.
    services.record_event(
        patient=pumped.patient,
        kind="correction",
        corrects=first.event,
        values={"volume_ml": "18", "aspirated_ml": "1.5", "program": SIMPLE},
        occurred_at=T0,
        by=pumped.staff,
        now=T0 + timedelta(days=10, hours=2),
    )
    second.event.refresh_from_db()
    assert second.event.expected_volume_ml == Decimal("13.00")
    assert second.event.discrepancy
    first.event.refresh_from_db()
    assert first.event.values["volume_ml"] == "20"  # never edited in place


def test_any_input_change_recomputes_in_the_same_transaction(pumped):
    from patients import services as patient_services
    from patients.forms import ClinicSettingsForm

    refill(pumped)
    cycle = RefillCycle.objects.get(patient=pumped.patient, ended_at__isnull=True)
    assert cycle.reminder_at == datetime(2026, 3, 30, 14, 0, tzinfo=UTC)  # 09:00 CDT

    # The patient moves to Paris: the pump keeps its clock, the reminder follows the new zone.
    patient_services.update_patient(by=pumped.staff, patient=pumped.patient, changes={"time_zone": "Europe/Paris"})
    cycle.refresh_from_db()
    assert cycle.refill_due_at == datetime(2026, 4, 6, 15, 0, tzinfo=UTC)
    assert cycle.reminder_at == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST

    # The clinic moves its reminder hour to 07.
    clinic = pumped.clinic
    data = {
        "name": clinic.name,
        "phone": clinic.phone,
        "after_hours_phone": clinic.after_hours_phone,
        "emergency_number": "911",
        "alert_email": clinic.alert_email,
        "time_zone": clinic.time_zone,
        "reminder_hour": "7",
        "reminder_steps": "14, 7, 3, 1",
    }
    form = ClinicSettingsForm(data, instance=clinic)
    assert form.is_valid(), form.errors
    patient_services.update_clinic(by=pumped.admin, clinic=clinic, changes=form.changes())
    cycle.refresh_from_db()
    assert cycle.reminder_at == datetime(2026, 3, 30, 5, 0, tzinfo=UTC)  # 07:00 CEST

    # A raised alarm volume (4 mL): (20 − 4) / 0.5 = 32 days → 2 April 15:00Z.
    services.save_profile(patient=pumped.patient, by=pumped.staff, values={"alarm_volume_ml": Decimal(4)})
    cycle.refresh_from_db()
    assert cycle.refill_due_at == datetime(2026, 4, 2, 15, 0, tzinfo=UTC)

    # A shorter stability limit wins: 30 days from the refill.
    services.save_profile(patient=pumped.patient, by=pumped.staff, values={"max_days_in_pump": 30})
    cycle.refresh_from_db()
    assert (cycle.refill_due_at, cycle.refill_due_reason) == (
        datetime(2026, 3, 31, 15, 0, tzinfo=UTC),
        "stability_limit",
    )

    # Not active: no forecast, no plan.
    patient_services.update_patient(by=pumped.staff, patient=pumped.patient, changes={"status": "transferred"})
    cycle.refresh_from_db()
    assert cycle.refill_due_at is None and cycle.reminder_at is None
    assert selectors.forecast_for(pumped.patient, T0 + timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("tone", "days_after", "kind"),
    [("two_tone", 10, "critical_alarm"), ("single", 10, "alarm_before_forecast"), ("single", 37, None)],
)
def test_reported_alarms_open_queue_items(pumped, tone, days_after, kind):
    refill(pumped)  # the forecast's alarm: 6 April 15:00Z (36 days)
    at = T0 + timedelta(days=days_after)
    services.record_event(
        patient=pumped.patient,
        kind="alarm_reported",
        values={"tone": tone},
        occurred_at=at,
        by=pumped.staff,
        now=at + timedelta(minutes=1),
    )
    items = QueueItem.objects.filter(patient=pumped.patient, tier=QueueItem.Tier.DEVICE)
    assert list(items.values_list("kind", flat=True)) == ([kind] if kind else [])
    # Any reported alarm pulls the refill date to that instant.
    cycle = RefillCycle.objects.get(patient=pumped.patient, ended_at__isnull=True)
    assert cycle.refill_due_at <= at
