"""E-mail through real SMTP, plain text and HTML, with a Message-ID fixed per delivery row."""

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from . import PermanentError, TransientError


def send(recipient, message, delivery) -> str:
    if not recipient.email:
        raise PermanentError("no e-mail address")
    mail = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        to=[recipient.email],
        headers={"Message-ID": delivery.message_id, "Auto-Submitted": "auto-generated"},
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    mail.attach_alternative(message.html, "text/html")
    for filename, content, mimetype in message.attachments:
        mail.attach(filename, content, mimetype)
    try:
        mail.send(fail_silently=False)
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
