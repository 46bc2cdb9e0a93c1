"""Enrolment, the service (SPEC §1 "enrol patients"): the patient, the pump profile, the first
refill and the invitations, written in ONE transaction through the services the other pages use
(patients.services.create_patient and invite, refills.services.save_profile and record_event).
Plain values in (a Plan), no request and no forms: the flow's pages (console/enrol.py) make the
Plan from the steps' forms (console/enrol_steps.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction
from django.utils.translation import gettext as _

from patients import services as patient_services
from patients.models import Clinic, Invitation, Patient, User
from refills import services as refill_services
from refills.models import PumpEvent, PumpProfile
from refills.notify import recipients
from refills.web.event_forms import Submission

logger = logging.getLogger(__name__)


# --- The one transaction -----------------------------------------------------------------------


@dataclass
class Plan:
    """The cleaned values of the steps done so far (None: not part of this run)."""

    clinic: Clinic
    patient: dict
    pump: dict | None = None
    refill: Submission | None = None
    invitations: list[dict] | None = None


@dataclass
class Enrolled:
    patient: Patient
    profile: PumpProfile | None = None
    recorded: refill_services.Recorded | None = None
    invitations: list[Invitation] = field(default_factory=list)


class StepError(Exception):
    """A service refused the values of one step: its field errors, to show on that step."""

    def __init__(self, step: str, error: ValidationError):
        super().__init__(step, error)
        self.step = step
        self.error = error


def _in_step(step: str, action, **kwargs):
    try:
        return action(**kwargs)
    except ValidationError as error:
        raise StepError(step, error) from error


def _invitation_error(error: ValidationError, prefix: str) -> ValidationError:
    """Key an invitation's errors by the row it came from: "caregiver_1_:email"."""
    if hasattr(error, "error_dict"):
        return ValidationError({f"{prefix}:{key}": messages for key, messages in error.message_dict.items()})
    return ValidationError({f"{prefix}:email": error.messages})


def enrol(plan: Plan, *, by: User, commit: bool = True, before_commit=None) -> Enrolled:
    """Create the patient, the pump profile, the first refill and the invitations in ONE
    transaction, each through its own service (which validates and audits it). With
    commit=False the same writes are made and rolled back, and the refill is a
    record_event(commit=False) preview: what enrolling would do, with nothing kept.
    Raises StepError (nothing kept) naming the step whose values were refused."""
    try:
        with transaction.atomic():
            enrolled = _write(plan, by, commit)
            if before_commit is not None:
                before_commit(enrolled)
            if not commit:
                transaction.set_rollback(True)
    except (IntegrityError, DataError) as error:
        logger.warning("enrolment refused by the database: %s", error)
        raise StepError(
            "review", ValidationError(_("The record could not be saved, so nothing was saved. Please try again."))
        ) from error
    return enrolled


def _write(plan: Plan, by: User, commit: bool) -> Enrolled:
    patient = _in_step("patient", patient_services.create_patient, by=by, clinic=plan.clinic, **plan.patient)
    enrolled = Enrolled(patient=patient)
    if plan.pump is None:
        return enrolled
    enrolled.profile = _in_step("pump", refill_services.save_profile, patient=patient, by=by, values=plan.pump)
    if plan.refill is None:
        return enrolled
    enrolled.recorded = _in_step(
        "refill",
        refill_services.record_event,
        patient=patient,
        kind=PumpEvent.Kind.REFILL,
        values=plan.refill.values,
        occurred_at=plan.refill.occurred_at,
        by=by,
        note=plan.refill.note,
        commit=commit,
    )
    for spec in plan.invitations or []:
        try:
            invitation = patient_services.invite(
                by=by,
                patient=patient,
                kind=spec["kind"],
                email=spec["email"],
                full_name=spec["full_name"] or patient.full_name,
                relationship=spec.get("relationship", ""),
            )
        except ValidationError as error:
            raise StepError("invitations", _invitation_error(error, spec["prefix"])) from error
        enrolled.invitations.append(invitation)
    return enrolled


def nobody_to_remind(patient: Patient, invitations: list[dict]) -> bool:
    """True when no one could get a refill reminder by e-mail or text: the patient has no
    usable e-mail and no verified phone, and no caregiver is invited."""
    if any(spec["kind"] == Invitation.Kind.CAREGIVER for spec in invitations):
        return False
    return not recipients.for_patient(patient).reachable_outside_app
