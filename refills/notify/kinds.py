"""The kinds of message (SPEC §5), each defined once: its value as stored in `Delivery.kind`, its
label (the plan pages), its subject (the patient's and caregivers' wording, and the clinic's where
it differs) and its priority (refills/domain/reminders.py keeps the pure table, read here).

Clinics may set their own reminder steps, so a step is `step_<days>` for any number of days:
`step_kind`, `step_days`, `kind_of`, `label_of` and `subject_of` take any stored code, and
`validate_kind` (the validator of `Delivery.kind`) accepts every kind, such steps included."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import TextChoices
from django.utils.translation import gettext_lazy, ngettext

from ..domain import reminders
from ..domain.reminders import step_days, step_kind

__all__ = [
    "ACK_CANCELS",
    "END_OF_SERVICE",
    "PLAN_KINDS",
    "MessageKind",
    "alert_kind",
    "is_kind",
    "kind_of",
    "label_of",
    "step_days",
    "step_kind",
    "subject_of",
    "validate_kind",
]

DEFAULT_SUBJECT = "IBT Companion"


class MessageKind(TextChoices):
    STEP_14 = "step_14", gettext_lazy("Book your refill (14 days before)")
    STEP_7 = "step_7", gettext_lazy("Refill due in about a week (7 days before)")
    STEP_3 = "step_3", gettext_lazy("Refill due in 3 days")
    STEP_1 = "step_1", gettext_lazy("Refill due tomorrow (1 day before)")
    OVERDUE = "overdue", gettext_lazy("Refill overdue: call your clinic today")
    OVERDUE_CLINIC = "overdue_clinic", gettext_lazy("Overdue alert to the clinic")
    EMPTY = "empty", gettext_lazy("Pump may be empty: warning signs")
    DATE_CHANGED = "date_changed", gettext_lazy("The refill date changed")
    EOS_90 = "eos_90", gettext_lazy("Battery replacement: 90 days before end of service")
    EOS_30 = "eos_30", gettext_lazy("Battery replacement: 30 days before end of service")
    TEST = "test", gettext_lazy("Test message")
    NOBODY_ALERT = "nobody_alert", gettext_lazy("Nobody to alert")
    # Check-in alerts (symptoms.services): no symptoms, no names.
    ALERT_EMERGENCY = "alert_emergency", gettext_lazy("Emergency check-in alert")
    ALERT_CALL_CLINIC = "alert_call_clinic", gettext_lazy("Call-clinic check-in alert")

    @property
    def subject(self) -> str:
        """What the patient and caregivers read (may hold {patient_id})."""
        return _SUBJECTS[self]

    @property
    def clinic_subject(self) -> str:
        """What the clinic's address reads: its own wording where it differs."""
        return _CLINIC_SUBJECTS.get(self, _SUBJECTS[self])

    @property
    def priority(self) -> int:
        return reminders.priority(self.value)


_SUBJECTS: dict[MessageKind, str] = {
    MessageKind.STEP_14: "Time to book your pump refill",
    MessageKind.STEP_7: "Pump refill due in about a week",
    MessageKind.STEP_3: "Pump refill due in 3 days",
    MessageKind.STEP_1: "Pump refill due tomorrow",
    MessageKind.OVERDUE: "Pump refill overdue: call your clinic today",
    MessageKind.OVERDUE_CLINIC: "Overdue pump refill (patient #{patient_id})",
    MessageKind.EMPTY: "Pump may be empty now: watch for warning signs",
    MessageKind.DATE_CHANGED: "Your pump refill date changed",
    MessageKind.EOS_90: "Pump battery replacement: book it now",
    MessageKind.EOS_30: "Pump battery replacement is close",
    MessageKind.TEST: "Test message from IBT Companion",
    MessageKind.NOBODY_ALERT: DEFAULT_SUBJECT,
    MessageKind.ALERT_EMERGENCY: "Urgent: check on someone you care for",
    MessageKind.ALERT_CALL_CLINIC: "Please check on someone you care for",
}
_CLINIC_SUBJECTS: dict[MessageKind, str] = {
    MessageKind.ALERT_EMERGENCY: "Urgent: emergency check-in (patient #{patient_id})",
    MessageKind.ALERT_CALL_CLINIC: "Check-in: call the patient (patient #{patient_id})",
}
assert set(_SUBJECTS) == set(MessageKind), "every kind of message has a subject"
assert {k for k in reminders.PRIORITY if k != "step"} <= set(MessageKind.values), "priorities name known kinds"

# The rows a cycle's plan replaces on a re-plan, besides its steps (every step_<days> kind: the
# default 14/7/3/1 or the clinic's own): the overdue messages and the empty-date message.
PLAN_KINDS = (MessageKind.OVERDUE, MessageKind.OVERDUE_CLINIC, MessageKind.EMPTY)
# The unsent steps an acknowledgement cancels for everyone: step_14, step_3.
ACK_CANCELS = tuple(step_kind(days) for days in sorted(reminders.ACK_CANCELS, reverse=True))
END_OF_SERVICE = (MessageKind.EOS_90, MessageKind.EOS_30)


def kind_of(code: str) -> MessageKind | None:
    """The kind a stored code names (None for a clinic's own step, e.g. step_5, or anything else)."""
    try:
        return MessageKind(code)
    except ValueError:
        return None


def is_kind(code: str) -> bool:
    """Whether `Delivery.kind` may hold this code: a MessageKind, or a clinic's own step written
    as step_kind writes it (step_<days>, a whole number of days from 1, e.g. step_21)."""
    if kind_of(code) is not None:
        return True
    days = step_days(code)
    return days is not None and days >= 1 and step_kind(days) == code


def validate_kind(value: object) -> None:
    """The validator of `Delivery.kind`: any kind is_kind accepts (not only the choices, since a
    clinic's steps are its own)."""
    if not isinstance(value, str) or not is_kind(value):
        raise ValidationError(
            gettext_lazy("%(value)s is not a kind of message."), code="invalid_kind", params={"value": value}
        )


def alert_kind(level: str) -> MessageKind:
    """The alert kind of a check-in level ("emergency" → alert_emergency)."""
    return MessageKind(f"alert_{level}")


def label_of(code: str) -> str:
    """A kind in words; a clinic's own step from its days; an unknown code as it is."""
    kind = kind_of(code)
    if kind is not None:
        return str(kind.label)
    days = step_days(code)
    if days is not None:
        return ngettext("Refill due in %(n)d day", "Refill due in %(n)d days", days) % {"n": days}
    return code


def subject_of(code: str, *, clinic: bool = False) -> str:
    """The subject line's template (may hold {patient_id}); the clinic's wording when `clinic`."""
    kind = kind_of(code)
    if kind is None:
        return DEFAULT_SUBJECT
    return kind.clinic_subject if clinic else kind.subject
