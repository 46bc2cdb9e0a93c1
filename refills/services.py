"""Record pump events and keep the forecast current, each in one transaction (SPEC §3–§4).

The path of a refill: form or API → record_event → events.parse_event (validation) →
chain.replay (expected volumes, flags, warnings) → forecast.forecast → stored on the open
RefillCycle, with the derived columns of every event, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from patients import audit
from patients import services as patient_services
from patients.models import AuditEvent, CaregiverLink, Patient, QueueItem, QueueKind, User

from .domain import catalog, chain
from .domain.clock import at_local_hour, truncate, utc_offset_minutes
from .domain.events import EventContext, EventError, EventValues, check_time, parse_event, values_to_json
from .domain.forecast import Forecast, forecast
from .domain.inputs_json import inputs_to_json
from .models import PumpEvent, PumpProfile, RefillCycle
from .notify import planning
from .selectors import chain_event, chain_settings, load_chain

FILL_KINDS = (PumpEvent.Kind.REFILL, PumpEvent.Kind.PUMP_REPLACED)


# --- Writing ------------------------------------------------------------------------------


@dataclass
class Recorded:
    event: PumpEvent  # unsaved on a preview
    outcome: chain.EventOutcome | None
    forecast: Forecast | None


def _context(
    patient: Patient, profile: PumpProfile, now: datetime, originals: list[PumpEvent], chain_events
) -> EventContext:
    programs = [c for c in chain_events if c.program is not None]
    return EventContext(
        now=now,
        capacity_ml=profile.capacity_ml,
        pump_family=profile.pump_model.family,
        implant_date=profile.implant_date,
        latest_event_at=originals[-1].occurred_at if originals else None,
        current_concentration=programs[-1].program.concentration_mcg_per_ml if programs else None,
        has_fill=any(e.kind in FILL_KINDS for e in originals),
    )


def lock_patient(patient: Patient, *related: str) -> Patient:
    """The patient, read again and locked to this transaction: one change to a patient's chain
    at a time. Only the patient's row is locked (not the clinic's, which every patient of the
    clinic shares), and without its key (rows that refer to the patient can still be added)."""
    return Patient.objects.select_for_update(of=("self",), no_key=True).select_related(*related).get(pk=patient.pk)


def _as_validation_error(error: EventError) -> ValidationError:
    return ValidationError({field: messages for field, messages in error.errors.items()})


def record_event(
    *,
    patient: Patient,
    kind: str,
    values: dict,
    occurred_at: datetime,
    by: User,
    note: str = "",
    corrects: PumpEvent | None = None,
    now: datetime | None = None,
    commit: bool = True,
) -> Recorded:
    """Validate and record one event, replay the chain and store the new forecast. With
    commit=False nothing is written: the preview shows exactly what saving would do."""
    now = truncate(now or timezone.now())
    with transaction.atomic():
        patient = lock_patient(patient, "clinic", "user")
        profile = PumpProfile.objects.filter(patient=patient).first()
        if profile is None:
            raise ValidationError({"kind": ["Record the pump profile first."]})
        if not patient.is_active:
            raise ValidationError(
                {"kind": [f"This patient is {patient.get_status_display().lower()}: no pump events."]}
            )
        originals, chain_events = load_chain(patient)
        ctx = _context(patient, profile, now, originals, chain_events)

        target_kind = kind
        if kind == PumpEvent.Kind.CORRECTION:
            if corrects is None or corrects.patient_id != patient.pk or corrects.kind == PumpEvent.Kind.CORRECTION:
                raise ValidationError({"corrects": ["Choose an event of this patient to correct."]})
            target_kind = corrects.kind
            occurred_at = corrects.occurred_at  # a correction keeps its target's instant
        occurred_at = truncate(occurred_at)
        errors: dict[str, list[str]] = {}
        check_time(occurred_at, ctx, errors, correction=kind == PumpEvent.Kind.CORRECTION)
        parsed: EventValues | None = None
        try:
            parsed = parse_event(target_kind, values, occurred_at, ctx)
        except EventError as error:
            errors.update({k: errors.get(k, []) + v for k, v in error.errors.items()})
        if errors or parsed is None:
            raise ValidationError(errors)

        event = PumpEvent(
            patient=patient,
            kind=kind,
            occurred_at=occurred_at,
            zone=patient.time_zone,
            utc_offset_minutes=utc_offset_minutes(patient.time_zone, occurred_at),
            capacity_ml=parsed.capacity_ml or profile.capacity_ml,
            values=values_to_json(parsed),
            corrects=corrects,
            note=note,
            recorded_by=by,
            recorded_at=timezone.now(),
        )
        if kind == PumpEvent.Kind.PUMP_REPLACED:
            _apply_replacement(profile, parsed, occurred_at)
        if not commit:
            return _preview(patient, profile, event, originals, chain_events, corrects, now)
        event.save()
        if kind == PumpEvent.Kind.PUMP_REPLACED:
            profile.save()
        if kind == PumpEvent.Kind.EXPLANTED:
            patient_services.update_patient(by=by, patient=patient, changes={"status": Patient.Status.EXPLANTED})
            patient_services.open_queue_item(
                patient=patient,
                kind=QueueKind.EXPLANTED,
                tier=QueueItem.Tier.FOLLOW_UP,
                source=f"event:{event.pk}",
                now=now,
            )
        if kind == PumpEvent.Kind.ALARM_REPORTED:
            _open_alarm_item(patient, event, parsed.tone, now)
        audit.record(by, AuditEvent.Action.CREATE, f"pump_event_{kind}", [patient])
        loaded = None
        if kind != PumpEvent.Kind.CORRECTION:  # the chain as read above, with this event in its place
            loaded = _with_event(originals, chain_events, event)
        done = recompute(patient, now=now, profile=profile, loaded=loaded)
        if kind == PumpEvent.Kind.PUMP_REPLACED:
            planning.plan_end_of_service(patient, end_of_service_at(patient, profile), now)
        outcome = next((o for o in done.replay.outcomes if o.key == (corrects.pk if corrects else event.pk)), None)
        if kind != PumpEvent.Kind.CORRECTION and outcome is not None:
            _set_derived(event, outcome)  # what the replay stored
        else:
            event.refresh_from_db(fields=DERIVED_FIELDS)  # keeps recorded_by
        return Recorded(event=event, outcome=outcome, forecast=done.forecast)


def _with_event(
    originals: list[PumpEvent], chain_events: list[chain.ChainEvent], event: PumpEvent
) -> tuple[list[PumpEvent], list[chain.ChainEvent]]:
    """The chain of `load_chain` after `event` (saved, not a correction) joins it: no event
    corrects a new one, so its own values are in force."""
    events = sorted([*originals, event], key=lambda e: (e.occurred_at, e.pk))
    return events, [*chain_events, chain_event(event, event.values)]


def _open_alarm_item(patient: Patient, event: PumpEvent, tone: str, now: datetime) -> None:
    """A two-tone alarm means the drug may not be flowing; a single tone before the forecast's
    alarm date means the forecast or the pump is wrong. Both go to the top of the queue."""
    cycle = RefillCycle.objects.filter(patient=patient, ended_at__isnull=True).first()
    if tone == "two_tone":
        kind = QueueKind.CRITICAL_ALARM
    elif cycle is None or cycle.low_reservoir_alarm_at is None or event.occurred_at < cycle.low_reservoir_alarm_at:
        kind = QueueKind.ALARM_BEFORE_FORECAST
    else:
        return  # the low-reservoir alarm came when forecast: the refill reminders cover it
    patient_services.open_queue_item(
        patient=patient, kind=kind, tier=QueueItem.Tier.DEVICE, source=f"event:{event.pk}", now=now
    )


def _apply_replacement(profile: PumpProfile, parsed: EventValues, occurred_at: datetime) -> None:
    # parse_event gives a replacement both, or raises EventError.
    assert parsed.capacity_ml is not None and parsed.alarm_volume_ml is not None
    profile.model = parsed.model
    profile.capacity_ml = parsed.capacity_ml
    profile.alarm_volume_ml = parsed.alarm_volume_ml
    profile.eri_date = parsed.eri_date
    profile.implant_date = occurred_at.date()


def _preview(patient, profile, event, originals, chain_events, corrects, now) -> Recorded:
    event.pk = -1  # a key the replay can report on; never saved
    key = corrects.pk if corrects else -1
    if corrects is not None:
        chain_events = [c if c.key != corrects.pk else chain_event(corrects, event.values) for c in chain_events]
    elif event.kind != PumpEvent.Kind.CORRECTION:
        chain_events = [*chain_events, chain_event(event, event.values)]
    replayed = chain.replay(chain_events, chain_settings(patient, profile), now)
    outcome = next((o for o in replayed.outcomes if o.key == key), None)
    result = forecast(replayed.inputs) if replayed.inputs and event.kind != PumpEvent.Kind.EXPLANTED else None
    event.pk = None
    return Recorded(event=event, outcome=outcome, forecast=result)


DERIVED_FIELDS = ["expected_volume_ml", "volume_ml", "discrepancy", "warnings"]


def _derived(outcome: chain.EventOutcome) -> dict:
    return {
        "expected_volume_ml": outcome.expected_volume_ml,
        "volume_ml": outcome.volume_ml,
        "discrepancy": outcome.discrepancy,
        "warnings": list(outcome.warnings),
    }


def _set_derived(event: PumpEvent, outcome: chain.EventOutcome) -> None:
    for name, value in _derived(outcome).items():
        setattr(event, name, value)


@dataclass
class Recomputed:
    replay: chain.Replay
    forecast: Forecast | None  # the open cycle's, as stored; None without one


def recompute(
    patient: Patient,
    *,
    now: datetime | None = None,
    profile: PumpProfile | None = None,
    loaded: tuple[list[PumpEvent], list[chain.ChainEvent]] | None = None,
) -> Recomputed:
    """Replay the chain, store every event's derived columns, and put the forecast on the
    open refill cycle (or none). Call inside the transaction of the change; `profile`: the
    pump profile when the caller has just read (and locked the patient for) it; `loaded`: the
    chain as `load_chain` would read it now, when the caller has it."""
    now = truncate(now or timezone.now())
    profile = profile or PumpProfile.objects.filter(patient=patient).first()
    originals, chain_events = loaded or load_chain(patient)
    if profile is None:
        return Recomputed(chain.Replay(), None)
    replayed = chain.replay(chain_events, chain_settings(patient, profile), now)
    by_key = {o.key: o for o in replayed.outcomes}
    for event in originals:
        outcome = by_key.get(event.pk)
        if outcome is None:
            continue
        fields = _derived(outcome)
        if any(getattr(event, k) != v for k, v in fields.items()):
            PumpEvent.objects.filter(pk=event.pk).update(**fields)
            if outcome.discrepancy and not event.discrepancy:
                patient_services.open_queue_item(
                    patient=patient,
                    kind=QueueKind.DISCREPANCY,
                    tier=QueueItem.Tier.DISCREPANCY,
                    source=f"event:{event.pk}",
                    now=now,
                )
    current = forecast(replayed.inputs) if replayed.inputs and patient.is_active else None
    _sync_cycles(patient, originals, current, now)
    return Recomputed(replayed, current)


def _sync_cycles(patient: Patient, originals: list[PumpEvent], current: Forecast | None, now: datetime) -> None:
    """One cycle per fill, ended by the next fill or an explant; `current`, the forecast in
    force, goes on the open one."""
    fills = [e for e in originals if e.kind in FILL_KINDS]
    cycles = {c.started_by_id: c for c in RefillCycle.objects.filter(patient=patient)}
    explants = [e.occurred_at for e in originals if e.kind == PumpEvent.Kind.EXPLANTED]
    for index, fill in enumerate(fills):
        next_fill = fills[index + 1].occurred_at if index + 1 < len(fills) else None
        ends = [t for t in [next_fill, *explants] if t is not None and t >= fill.occurred_at]
        ended_at = min(ends) if ends else None
        cycle = cycles.get(fill.pk) or RefillCycle(patient=patient, started_by=fill, started_at=fill.occurred_at)
        before = (cycle.ended_at, cycle.refill_due_at, cycle.empty_at, cycle.sequence)
        old_due = cycle.refill_due_at
        cycle.ended_at = ended_at
        is_open = ended_at is None
        _store_forecast(cycle, current if is_open else None, now)
        if cycle.pk is not None and (cycle.ended_at, cycle.refill_due_at, cycle.empty_at, cycle.sequence) == before:
            if is_open:
                planning.plan_cycle(cycle, patient, now, old_due=old_due)  # recipients may have changed
            continue
        new = cycle.pk is None
        if new and any(c.ended_at is None for c in cycles.values()):
            # Close the old open cycle first: one open cycle per patient. (`cycles` holds every
            # cycle of the patient as stored, so an open one elsewhere shows here.)
            RefillCycle.objects.filter(patient=patient, ended_at__isnull=True).update(ended_at=fill.occurred_at)
            for other in cycles.values():
                if other.ended_at is None:
                    other.ended_at = fill.occurred_at
        planning.schedule(cycle, patient)  # saved with the cycle, not by a second UPDATE
        cycle.save()
        cycles[fill.pk] = cycle
        planning.plan_cycle(cycle, patient, now, old_due=old_due, new=new, scheduled=True)


def _store_forecast(cycle: RefillCycle, result: Forecast | None, now: datetime) -> None:
    before = (cycle.refill_due_at, cycle.empty_at, cycle.reminder_at)
    if result is None:
        cycle.refill_due_at = cycle.low_reservoir_alarm_at = cycle.empty_at = None
        cycle.stability_limit_at = cycle.reminder_at = None
        cycle.refill_due_reason = ""
        cycle.daily_dose_mcg = cycle.daily_volume_ml = None
        cycle.forecast_inputs = {}
    else:
        cycle.refill_due_at = result.refill_due_at
        cycle.refill_due_reason = result.refill_due_reason
        cycle.low_reservoir_alarm_at = result.low_reservoir_alarm_at
        cycle.empty_at = result.empty_at
        cycle.stability_limit_at = result.stability_limit_at
        cycle.reminder_at = result.reminder_at
        cycle.daily_dose_mcg = result.daily_dose_mcg
        cycle.daily_volume_ml = result.daily_volume_ml
        cycle.forecast_inputs = inputs_to_json(result.inputs)
    cycle.computed_at = now
    if (cycle.refill_due_at, cycle.empty_at, cycle.reminder_at) != before:
        cycle.sequence += 1


def save_profile(*, patient: Patient, by: User, values: dict) -> PumpProfile:
    """Create or change the pump profile (staff only; checked by the caller) and recompute."""
    with transaction.atomic():
        patient = lock_patient(patient, "clinic")
        profile = PumpProfile.objects.filter(patient=patient).first() or PumpProfile(patient=patient)
        model = values.get("model", profile.model)
        pump_model = catalog.CATALOG.get(model)
        for field, value in values.items():
            setattr(profile, field, value)
        if pump_model is not None:
            if pump_model.capacity_ml is not None:
                profile.capacity_ml = pump_model.capacity_ml
            if profile.alarm_volume_ml is None and pump_model.alarm_volume_ml is not None:
                profile.alarm_volume_ml = pump_model.alarm_volume_ml
        profile.full_clean()
        if profile.alarm_volume_ml >= profile.capacity_ml:
            raise ValidationError({"alarm_volume_ml": ["Must be less than the pump's capacity."]})
        profile.save()
        audit.record(by, AuditEvent.Action.UPDATE, "pump_profile", [patient])
        recompute(patient)
        planning.plan_end_of_service(patient, end_of_service_at(patient, profile), truncate(timezone.now()))
    return profile


def end_of_service_at(patient: Patient, profile: PumpProfile) -> datetime | None:
    """The end-of-service date at the clinic's reminder hour on the patient's clock."""
    day = profile.end_of_service_date
    return at_local_hour(day, patient.clinic.reminder_hour, ZoneInfo(patient.time_zone)) if day else None


def on_forecast_inputs_changed(sender, patient=None, clinic=None, **kwargs):
    """patients.signals.forecast_inputs_changed: the zone, status or reminder hour changed. The
    end-of-service notices hang on the same zone, hour and status."""
    patients = (
        [patient] if patient is not None else list(Patient.objects.filter(clinic=clinic).select_related("clinic"))
    )
    for each in patients:
        recompute(each)
        _plan_end_of_service(each, truncate(timezone.now()))


def on_recipients_changed(sender, patient, **kwargs):
    """patients.signals.recipients_changed."""
    replan([patient])


def replan(patients: Iterable[Patient], now: datetime | None = None) -> None:
    """Who hears about these patients, or through which channels, changed: make the unsent part
    of each open cycle's plan and the end-of-service notices again, for the people as they are
    now. A person who joins after a step went out gets the latest step due at once (the plan's
    catch-up); what was sent stays sent. Call inside the transaction of the change."""
    now = truncate(now or timezone.now())
    for patient in {p.pk: p for p in patients}.values():
        patient = Patient.objects.select_related("clinic", "user").get(pk=patient.pk)
        cycle = RefillCycle.objects.filter(patient=patient, ended_at__isnull=True).first()
        if cycle is not None:
            planning.plan_cycle(cycle, patient, now)
        _plan_end_of_service(patient, now)


def patients_heard_by(user: User) -> list[Patient]:
    """The patients whose reminders go to this log-in: their own record and those they look after."""
    looked_after = CaregiverLink.objects.filter(caregiver=user, revoked_at__isnull=True).values("patient_id")
    return list(Patient.objects.filter(Q(user=user) | Q(pk__in=looked_after)).select_related("clinic", "user"))


def _plan_end_of_service(patient: Patient, now: datetime) -> None:
    profile = PumpProfile.objects.filter(patient=patient).first()
    if profile is not None:
        planning.plan_end_of_service(patient, end_of_service_at(patient, profile), now)
