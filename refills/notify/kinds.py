"""The kinds of message (SPEC §5), each defined once: its value as stored in `Delivery.kind`, its
label (the plan pages), its subject (`subject_of`: the words for each reader are in the one table
of patients/wording.py) and its priority (refills/domain/reminders.py keeps the pure table, read
here).

Clinics may set their own reminder steps, so a step is `step_<days>` for any number of days:
`step_kind`, `step_days`, `kind_of`, `label_of` and `subject_of` take any stored code, and
`validate_kind` (the validator of `Delivery.kind`) accepts every kind, such steps included."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import TextChoices
from django.utils.translation import gettext_lazy, ngettext

from patients import wording

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
    "subject_key",
    "subject_of",
    "validate_kind",
]


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
    def priority(self) -> int:
        return reminders.priority(self.value)


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


def subject_key(code: str) -> str:
    """Where the subject of a kind is in patients/wording.py's table. The 14-day step asks to book
    the refill; any other step (a clinic's own too) says when it is due."""
    days = step_days(code)
    if days is not None:
        return "subject.step_14" if days == 14 else "subject.step"
    key = f"subject.{code}"
    return key if key in wording.SENTENCES else "subject.nobody_alert"


def subject_of(code: str, who: wording.Reader, *, when: str = "soon") -> str:
    """The subject line of a message of this kind as `who` reads it; `when` is the body's own
    phrase for the refill date ("in 5 days", "tomorrow"), so the two always agree."""
    return wording.say(subject_key(code), who, when=when)


assert all(subject_key(kind) != "subject.nobody_alert" for kind in MessageKind if kind != MessageKind.NOBODY_ALERT), (
    "every kind of message has a subject"
)
