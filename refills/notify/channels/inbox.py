"""The in-app inbox: a row per delivery (idempotent: a resend finds the row it made)."""

from . import PermanentError


def send(recipient, message, delivery) -> str:
    from refills.models import InboxMessage

    if recipient.user is None:
        raise PermanentError("no log-in for an inbox")
    row, _ = InboxMessage.objects.get_or_create(
        delivery=delivery,
        defaults={
            "user": recipient.user,
            "patient_id": delivery.patient_id,
            "subject": message.subject,
            "body": message.text,
            "link": message.link,
        },
    )
    return f"inbox:{row.pk}"
