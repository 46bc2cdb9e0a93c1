"""E-mail through real SMTP, plain text and HTML, with a Message-ID fixed per delivery row. Each
process keeps its SMTP connection open between sends (refills/notify/channels/smtp.py)."""

import smtplib

from django.core.mail import EmailMultiAlternatives

from patients.emails import sender

from . import PermanentError, TransientError, smtp


def build(recipient, message, delivery) -> EmailMultiAlternatives:
    """The e-mail of one row: text and HTML, its attachments, and the row's own Message-ID, from
    the patient's clinic (by name, at the app's address)."""
    mail = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=sender(delivery.patient.clinic.name),
        to=[recipient.email],
        headers={"Message-ID": delivery.message_id, "Auto-Submitted": "auto-generated"},
    )
    mail.attach_alternative(message.html, "text/html")
    for filename, content, mimetype in message.attachments:
        mail.attach(filename, content, mimetype)
    return mail


def send(recipient, message, delivery) -> str:
    if not recipient.email:
        raise PermanentError("no e-mail address")
    mail = build(recipient, message, delivery)
    try:
        smtp.send(mail)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        if all(500 <= code < 600 for code in codes):
            raise PermanentError(f"address refused: {codes}") from error
        raise TransientError(f"address refused for now: {codes}") from error
    except smtplib.SMTPResponseException as error:
        if 500 <= error.smtp_code < 600 and error.smtp_code not in (554,):
            raise PermanentError(f"SMTP {error.smtp_code}") from error
        raise TransientError(f"SMTP {error.smtp_code}") from error
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        raise TransientError(f"{type(error).__name__}: {error}") from error
    return delivery.message_id
