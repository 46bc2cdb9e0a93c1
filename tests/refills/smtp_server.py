"""A real SMTP server on loopback for the delivery tests and the bench: aiosmtpd in a thread.

It records the Message-ID of every message it accepts (a resend of a row carries the same one),
and can be told to answer like a struggling or a strict mail server: 451 to the first N DATA
commands for an address (transient), 550 to RCPT for an address (permanent).
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from email.parser import BytesParser

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """The aiosmtpd handler. `transient` maps an address to how many 451s it still gets;
    `refuse` is the addresses answered 550 at RCPT."""

    def __init__(self, *, transient: dict[str, int] | None = None, refuse: set[str] | frozenset = frozenset()):
        self.lock = threading.Lock()
        self.transient = dict(transient or {})
        self.refuse = set(refuse)
        self.accepted: list[tuple[str, tuple[str, ...]]] = []  # (Message-ID, recipients) in order of arrival
        self.answers: Counter = Counter()  # (address, code)
        # Called with the number of messages accepted so far, after recording one and before
        # answering 250: a test can kill the sender exactly while a message is in flight.
        self.on_accept = None
        # Called with the address at each RCPT, before answering: a test can kill the sender
        # while a message is on its way, before the server has it.
        self.on_rcpt = None
        self.first_seen: dict[str, float] = {}  # Message-ID -> time.monotonic() of its first arrival

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        if address in self.refuse:
            with self.lock:
                self.answers[(address, 550)] += 1
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for address in envelope.rcpt_tos:
                if self.transient.get(address, 0) > 0:
                    self.transient[address] -= 1
                    self.answers[(address, 451)] += 1
                    return "451 4.3.0 Try again later"
            headers = BytesParser().parsebytes(envelope.content, headersonly=True)
            message_id = "".join(str(headers["Message-ID"]).split())  # a long one is folded
            self.accepted.append((message_id, tuple(envelope.rcpt_tos)))
            self.first_seen.setdefault(message_id, time.monotonic())
            for address in envelope.rcpt_tos:
                self.answers[(address, 250)] += 1
            accepted = len(self.accepted)
        if self.on_accept is not None:
            self.on_accept(accepted)
        return "250 2.0.0 Message accepted"

    # --- Reading what arrived (thread-safe) ---

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def message_ids(self) -> Counter:
        with self.lock:
            return Counter(message_id for message_id, _ in self.accepted)

    def to(self, address: str) -> list[str]:
        with self.lock:
            return [message_id for message_id, rcpt in self.accepted if address in rcpt]


class SmtpServer:
    """`with SmtpServer() as smtp:` serves on 127.0.0.1:`smtp.port` until the block ends."""

    def __init__(self, handler: Recorder | None = None, port: int | None = None):
        self.handler = handler or Recorder()
        self.port = port or free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def django_settings(self) -> dict:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_TIMEOUT": 10,
        }

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
