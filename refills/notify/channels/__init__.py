"""The ways a message reaches someone: e-mail (real SMTP), SMS (a provider interface) and the
in-app inbox. Each `send` returns a provider message id or raises one of these errors."""

from __future__ import annotations

from dataclasses import dataclass, field


class TransientError(Exception):
    """Worth trying again later (a timeout, a 4xx from the mail server, a broker hiccup)."""


class PermanentError(Exception):
    """Will not work however often we try (a refused address, an opted-out number)."""


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    sms: str
    link: str = ""
    attachments: tuple[tuple[str, bytes, str], ...] = field(default=())  # (filename, content, mimetype)


def send(channel: str, recipient, message: Message, delivery) -> str:
    from . import email, inbox, sms

    senders = {"email": email.send, "sms": sms.send, "inbox": inbox.send}
    if channel not in senders:
        raise PermanentError(f"unknown channel {channel!r}")
    return senders[channel](recipient, message, delivery)
