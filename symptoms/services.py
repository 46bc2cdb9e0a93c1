"""Symptom check-ins (SPEC §6): validate what was reported, take the pump-data snapshot at
`observed_at`, run the triage, and save the check-in with its queue item, its alert rows and
its audit row in one transaction.

The path of a check-in: form or API → record_checkin → answers.clean (field errors, nothing saved) →
context_for (the forecast at observed_at, the last refill, reprogram or replacement, the risk
markers) → triage.triage (pure) → CheckIn + queue item + alert rows (refills.notify.alerts, the same
machinery as the reminders) + audit, committed together → after the commit the alert rows are
claimed and handed to a worker at once. A broker outage only delays them: rows the broker did
not take go back to pending, and the minute tick sends them when it can.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from patients import audit, wording
from patients import services as patient_services
from patients.access import reader_of
from patients.models import AuditEvent, CaregiverLink, Patient, QueueItem, QueueKind, User
from refills import selectors as refill_selectors
from refills import services as refill_services
from refills.models import PumpEvent, PumpProfile
from refills.notify import alerts, recipients
from refills.notify.kinds import alert_kind

from . import triage
from .answers import Answers, clean
from .guidance import clinic_phone_now
from .models import CheckIn

log = logging.getLogger(__name__)

QUEUE_TIERS = {triage.EMERGENCY: QueueItem.Tier.EMERGENCY, triage.CALL_CLINIC: QueueItem.Tier.CALL_CLINIC}


# --- The context and the triage ------------------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def context_for(patient: Patient, observed_at: datetime) -> tuple[triage.Context, dict]:
    """The pump data as it stood at `observed_at`, for the triage and as a JSON snapshot: the
    forecast from the events up to that instant, the last refill, reprogram or replacement at or
    before it, the last fill (refill or replacement) and the risk markers."""
    profile = PumpProfile.objects.filter(patient=patient).first()
    result = refill_selectors.forecast_for(patient, observed_at, until=observed_at)
    last_change = last_fill = None
    changes = (
        PumpEvent.objects.filter(patient=patient, kind__in=triage.CHANGE_KINDS, occurred_at__lte=observed_at)
        .order_by("-occurred_at", "-pk")
        .values_list("kind", "occurred_at")
    )
    for kind, at in changes:
        last_change = last_change or (kind, at)
        if kind in triage.FILL_KINDS:
            last_fill = at
            break
    context = triage.Context(
        volume_ml_at_observed=result.volume_now_ml if result else None,
        alarm_volume_ml=profile.alarm_volume_ml if profile else None,
        refill_due_at=result.refill_due_at if result else None,
        last_change_kind=last_change[0] if last_change else None,
        last_change_at=last_change[1] if last_change else None,
        risk_markers=frozenset(profile.risk_markers if profile else ()),
        last_fill_at=last_fill,
    )
    snapshot = {
        "observed_at": observed_at.isoformat(),
        "volume_ml_at_observed": _text(context.volume_ml_at_observed),
        "alarm_volume_ml": _text(context.alarm_volume_ml),
        "refill_due_at": _iso(context.refill_due_at),
        "refill_due_reason": result.refill_due_reason if result else None,
        "low_reservoir_alarm_at": _iso(result.low_reservoir_alarm_at) if result else None,
        "empty_at": _iso(result.empty_at) if result else None,
        "last_change_kind": context.last_change_kind,
        "last_change_at": _iso(context.last_change_at),
        "last_fill_at": _iso(context.last_fill_at),
        "risk_markers": sorted(context.risk_markers),
        "pump_data_checked": context.has_forecast,
    }
    return context, snapshot


@dataclass(frozen=True)
class Assessment:
    answers: Answers
    disposition: triage.Disposition
    snapshot: dict


def assess(answers: Answers, patient: Patient | None = None) -> Assessment:
    """The triage of validated answers, with the patient's context when there is a patient."""
    if patient is None:
        context, snapshot = None, {"observed_at": answers.observed_at.isoformat(), "pump_data_checked": False}
    else:
        context, snapshot = context_for(patient, answers.observed_at)
    checkin = triage.CheckIn(
        answers.symptoms, answers.temperature_c, answers.observed_at, answers.temperature, answers.temperature_unit
    )
    disposition = triage.triage(checkin, context)
    snapshot["pump_data_checked"] = disposition.pump_data_checked
    return Assessment(answers=answers, disposition=disposition, snapshot=snapshot)


def triage_only(*, patient: Patient | None = None, now: datetime | None = None, **raw) -> Assessment:
    """`POST /api/v1/triage/` and the public checker: validate and triage now, save nothing.
    The caller has checked that the user may see `patient`."""
    now = refill_services.truncate(now or timezone.now())
    return assess(clean(**raw, now=now), patient)


def disposition_of(checkin: CheckIn) -> triage.Disposition:
    """The stored disposition of a saved check-in."""
    return triage.Disposition(
        level=checkin.level,
        reasons=tuple(triage.Reason(**reason) for reason in checkin.reasons),
        rule_set_version=checkin.rule_set_version,
        pump_data_checked=checkin.pump_data_checked,
    )


def _stored_time(value) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _stored_number(value) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None


def stored_context(snapshot: dict) -> triage.Context | None:
    """The triage's context read back from a check-in's snapshot (None: there was no patient)."""
    if "last_change_kind" not in snapshot:
        return None
    return triage.Context(
        volume_ml_at_observed=_stored_number(snapshot.get("volume_ml_at_observed")),
        alarm_volume_ml=_stored_number(snapshot.get("alarm_volume_ml")),
        refill_due_at=_stored_time(snapshot.get("refill_due_at")),
        last_change_kind=snapshot.get("last_change_kind"),
        last_change_at=_stored_time(snapshot.get("last_change_at")),
        risk_markers=frozenset(snapshot.get("risk_markers") or ()),
        last_fill_at=_stored_time(snapshot.get("last_fill_at")),
    )


def reasons_for(checkin: CheckIn, who: wording.Reader) -> tuple[triage.Reason, ...]:
    """A saved check-in's reasons, said to `who`: "You reported a seizure" to the patient, "Sam
    has a danger sign: a seizure" to a caregiver or staff, with the temperature as it was typed.
    A check-in triaged by another rule set, or whose stored data cannot be read back, shows the
    reasons as they were saved."""
    stored = disposition_of(checkin).reasons
    if checkin.rule_set_version != triage.RULE_SET_VERSION:
        return stored
    try:
        answers = triage.CheckIn(
            tuple(checkin.symptoms),
            checkin.temperature_c,
            checkin.observed_at,
            checkin.temperature,
            checkin.temperature_unit,
        )
        context = stored_context(checkin.context or {})
        return tuple(
            triage.Reason(r.rule_id, r.level, triage.reason_text(r.rule_id, answers, context, who), r.source)
            for r in stored
        )
    except (KeyError, TypeError, ValueError, ArithmeticError):
        log.warning("check-in %s: reasons shown as saved", checkin.pk)
        return stored


# --- Recording --------------------------------------------------------------------------------


def role_of(user: User, patient: Patient) -> str:
    """How this user logs a check-in for this patient (the caller has checked they may see them).
    Staff of the clinic who are not the patient log as staff: a phone call."""
    return CheckIn.Role(reader_of(user, patient).role)


@dataclass(frozen=True)
class Recorded:
    checkin: CheckIn
    disposition: triage.Disposition
    created: bool  # False: this form was already saved (the same one-time token)
    alert_ids: tuple[int, ...] = ()


def record_checkin(
    *,
    patient: Patient,
    by: User,
    symptoms,
    temperature=None,
    temperature_unit=None,
    pump_alarm=None,
    note=None,
    observed_at=None,
    client_token: str = "",
    from_draft: bool = False,
    now: datetime | None = None,
) -> Recorded:
    """Validate, triage and save one check-in with its queue item and alert rows, in one
    transaction. `from_draft`: the answers were kept by the server when the session had ended
    (observed_at is when they were posted, so it may be earlier than now)."""
    now = refill_services.truncate(now or timezone.now())
    role = role_of(by, patient)
    answers = clean(
        symptoms=symptoms,
        temperature=temperature,
        temperature_unit=temperature_unit,
        pump_alarm=pump_alarm,
        note=note,
        observed_at=observed_at,
        now=now,
        may_backdate=role == CheckIn.Role.STAFF or from_draft,
    )
    client_token = (client_token or "")[:64]
    if client_token:
        existing = CheckIn.objects.filter(patient=patient, client_token=client_token).first()
        if existing is not None:
            return Recorded(existing, disposition_of(existing), created=False)
    with transaction.atomic():
        assessment = assess(answers, patient)
        disposition = assessment.disposition
        checkin = CheckIn(
            patient=patient,
            logged_by=by,
            logged_by_role=role,
            observed_at=answers.observed_at,
            created_at=now,
            symptoms=list(answers.symptoms),
            temperature=answers.temperature,
            temperature_unit=answers.temperature_unit,
            temperature_c=answers.temperature_c,
            pump_alarm=answers.pump_alarm,
            note=answers.note,
            level=disposition.level,
            reasons=[asdict(reason) for reason in disposition.reasons],
            rule_set_version=disposition.rule_set_version,
            pump_data_checked=disposition.pump_data_checked,
            context=assessment.snapshot,
            client_token=client_token,
        )
        try:
            with transaction.atomic():
                checkin.save()
        except IntegrityError:
            existing = CheckIn.objects.filter(patient=patient, client_token=client_token).first()
            if not client_token or existing is None:
                raise
            return Recorded(existing, disposition_of(existing), created=False)
        if disposition.level in QUEUE_TIERS:
            patient_services.open_queue_item(
                patient=patient,
                kind=QueueKind.for_checkin(disposition.level),
                tier=QUEUE_TIERS[disposition.level],
                source=f"checkin:{checkin.pk}",
                now=now,
            )
        alert_ids = _send_alerts(checkin, patient, by, now)
        audit.record(by, AuditEvent.Action.CREATE, "checkin", [patient])
    return Recorded(checkin, disposition, created=True, alert_ids=tuple(alert_ids))


def _send_alerts(checkin: CheckIn, patient: Patient, by: User, now: datetime) -> list[int]:
    """Emergency: every linked caregiver and the clinic. Call clinic: the caregivers who chose to
    hear about it. Never the person who logged it (they are reading the guidance), and only for
    an active patient (SPEC §1). The rows are written by refills.notify.alerts, which hands them
    to workers after the commit."""
    if checkin.level == triage.ROUTINE or not patient.is_active:
        return []
    links = CaregiverLink.objects.filter(patient=patient, revoked_at__isnull=True).select_related("caregiver")
    if checkin.level == triage.CALL_CLINIC:
        links = links.filter(notify_call_clinic=True)
    people = [recipients.for_caregiver(link.caregiver, patient) for link in links if link.caregiver_id != by.pk]
    if checkin.level == triage.EMERGENCY:
        people.append(recipients.for_clinic(patient.clinic))
    payload = {
        "checkin_id": checkin.pk,
        "observed_at": checkin.observed_at.isoformat(),
        "logged_by_role": checkin.logged_by_role,
        "path": reverse("checkin-detail", args=[checkin.pk]),  # the message links to the check-in
    }
    return alerts.send(
        patient=patient,
        scope=f"checkin:{checkin.pk}",
        kind=alert_kind(checkin.level),
        people=people,
        due_at=now,
        payload=payload,
    )


# --- What the pages show ------------------------------------------------------------------------


def numbers_now(clinic, now: datetime | None = None) -> dict[str, str]:
    """The numbers a guidance page dials: the clinic's emergency number, and its phone or its
    after-hours phone depending on the clinic's opening hours in its zone."""
    now = now or timezone.now()
    return {
        "emergency_number": clinic.emergency_number or settings.DEFAULT_EMERGENCY_NUMBER,
        "phone": clinic_phone_now(clinic.opening_hours, clinic.time_zone, now, clinic.phone, clinic.after_hours_phone),
    }


def local_time(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))
