"""The audit log: one append-only row per staff read of a patient's record and per write to
patient data. It names the record kind and ids, never clinical free text."""

from collections.abc import Iterable

from .access import is_clinic_staff
from .models import AuditEvent, Patient


def record(
    actor, action: str, what: str, patients: Iterable[Patient] = (), *, path: str = "", clinic=None
) -> AuditEvent:
    patients = list(patients)
    return record_ids(
        actor,
        action,
        what,
        [p.pk for p in patients],
        clinic_id=patients[0].clinic_id if patients else getattr(clinic, "pk", None),
        path=path,
    )


def record_ids(actor, action: str, what: str, patient_ids: Iterable[int], *, clinic_id=None, path: str = ""):
    """`record`, for a caller that holds the patients' ids and clinic, not the patients."""
    patient_ids = sorted(patient_ids)
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        what=what,
        clinic_id=clinic_id,
        patient_id=patient_ids[0] if len(patient_ids) == 1 else None,
        patient_ids=patient_ids,
        path=path[:300],
    )


def record_staff_read(request, patient: Patient, what: str = "patient") -> None:
    """Staff reads are audited; a patient or caregiver reading their own record is not."""
    if is_clinic_staff(request.user, patient):
        record(request.user, AuditEvent.Action.READ, what, [patient], path=request.path)


def record_staff_list(request, patients: Iterable[Patient], what: str = "patient") -> None:
    """A list read is one row per request, listing the patient ids shown."""
    patients = list(patients)
    if patients and is_clinic_staff(request.user):
        record(request.user, AuditEvent.Action.LIST, what, patients, path=request.path)
