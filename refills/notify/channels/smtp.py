"""One SMTP connection per process, kept open across sends.

Opening a connection (TCP, greeting, EHLO, and STARTTLS and AUTH where configured) costs more
than sending a reminder over one. So each process keeps the connection it opened and sends the
next message over it:

- opened lazily, on the first send; never shared across a fork (a forked child, such as a
  Celery pool process, forgets its parent's connection without touching it and opens its own);
- a connection the server has closed, or one that answers 421 (closing), is noticed when the
  next message begins (at MAIL FROM, before any part of the message is on its way): it is
  replaced and the message is sent over a new one, so it still goes exactly once. Any later
  failure is the send's own outcome, classified as before by the channel (refills/notify/channels/email.py);
- an error that may leave the connection in an unknown state (a disconnect, a timeout, a 421,
  anything that is not a plain SMTP refusal) closes it, and the next send opens another;
- closed after IDLE_SECONDS without a send (mail servers drop idle clients; RFC 5321 asks
  them to wait five minutes, many wait less), when the settings it was opened with change, and
  at worker shutdown (Celery's worker_process_shutdown and worker_shutdown signals).

Only Django's SMTP backend is kept open; any other EMAIL_BACKEND (the test suite's locmem, the
local file backend) gets a new backend a send, as before.
"""

from __future__ import annotations

import os
import smtplib
import threading
import time
from typing import TYPE_CHECKING

from celery import signals
from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
IDLE_SECONDS = 30.0  # default for settings.EMAIL_IDLE_SECONDS
QUIT_TIMEOUT = 2.0  # seconds: a polite close never waits long for a server that does not answer


class _NotBegun(Exception):
    """A kept connection turned out dead before the message began (at MAIL FROM): nothing of
    this message reached the server."""


if TYPE_CHECKING:
    _SMTP = smtplib.SMTP  # what _Kept is mixed into
else:
    _SMTP = object


class _Kept(_SMTP):
    """Marks a kept connection's first command of each message, so a dead connection is known
    to have failed before the message began."""

    sends = 0  # messages begun over this connection

    def mail(self, sender, options=()):
        reused = self.sends > 0
        self.sends += 1
        try:
            code, answer = super().mail(sender, options)
        except (smtplib.SMTPServerDisconnected, ConnectionError) as error:
            if reused and not _timed_out(error):
                raise _NotBegun(f"{type(error).__name__}: {error}") from error
            raise
        if reused and code == 421:  # the server is closing this connection (an idle timeout)
            self.close()
            raise _NotBegun(f"SMTP 421 {answer!r}")
        return code, answer


class _KeptSMTP(_Kept, smtplib.SMTP):
    pass


class _KeptSMTP_SSL(_Kept, smtplib.SMTP_SSL):
    pass


class KeptBackend(EmailBackend):
    """Django's SMTP backend over a connection that marks each message's beginning."""

    _partial_connection: smtplib.SMTP | None  # Django's, while a connection is being opened

    @property
    def connection_class(self):
        return _KeptSMTP_SSL if self.use_ssl else _KeptSMTP


def _timed_out(error: BaseException | None) -> bool:
    """smtplib turns a timeout while waiting for an answer into SMTPServerDisconnected; the
    server may still be working on it, so it is not taken for a dead connection."""
    while error is not None:
        if isinstance(error, TimeoutError):
            return True
        error = error.__cause__ or error.__context__
    return False


def _keeps_connection(error: BaseException) -> bool:
    """After a plain refusal smtplib has reset the transaction (RSET) and the connection is
    usable; after anything else its state is unknown."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code != 421


def _settings_key() -> tuple:
    return (
        settings.EMAIL_HOST,
        settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER,
        settings.EMAIL_HOST_PASSWORD,
        settings.EMAIL_USE_TLS,
        settings.EMAIL_USE_SSL,
        settings.EMAIL_SSL_KEYFILE,
        settings.EMAIL_SSL_CERTFILE,
        settings.EMAIL_TIMEOUT,
    )


def idle_seconds() -> float:
    return float(getattr(settings, "EMAIL_IDLE_SECONDS", IDLE_SECONDS))


class _Process:
    """This process's connection, its lock, and the thread that closes it when idle."""

    def __init__(self):
        self.lock = threading.Lock()
        self.backend: KeptBackend | None = None
        self.key: tuple | None = None
        self.last_used = 0.0
        self.sweeper: threading.Thread | None = None
        self.opened = 0  # connections this process has opened (for tests and the bench)

    def connection(self) -> KeptBackend:
        """The open connection for the current settings (opened now if there is none)."""
        key = _settings_key()
        if self.backend is not None and (key != self.key or time.monotonic() - self.last_used > idle_seconds()):
            self.close()
        if self.backend is not None:
            return self.backend
        backend = KeptBackend(timeout=settings.EMAIL_TIMEOUT)
        try:
            backend.open()
        except BaseException:
            self.drop(backend)
            raise
        self.backend, self.key, self.last_used = backend, key, time.monotonic()
        self.opened += 1
        if self.sweeper is None:
            self.sweeper = threading.Thread(target=self.sweep, name="smtp-idle-close", daemon=True)
            self.sweeper.start()
        return backend

    def send(self, mail) -> int:
        try:
            try:
                return self.connection().send_messages([mail])
            except _NotBegun:  # only a kept connection raises it, never a new one
                self.drop()
                return self.connection().send_messages([mail])
        except BaseException as error:
            if not _keeps_connection(error):
                self.drop()
            raise
        finally:
            self.last_used = time.monotonic()

    def close(self) -> None:
        """Close politely: QUIT, without waiting long for the answer."""
        backend, self.backend, self.key = self.backend, None, None
        if backend is None or backend.connection is None:
            return
        connection = backend.connection
        try:
            if connection.sock is not None:
                connection.sock.settimeout(QUIT_TIMEOUT)
            connection.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            connection.close()

    def drop(self, backend: KeptBackend | None = None) -> None:
        """Close at once, saying nothing: the connection's state is unknown."""
        if backend is None:
            backend, self.backend, self.key = self.backend, None, None
        if backend is None:
            return
        for connection in (backend.connection, backend._partial_connection):
            if connection is not None:
                connection.close()
        backend.connection = backend._partial_connection = None

    def sweep(self) -> None:
        """Close the connection once it has been idle for idle_seconds()."""
        while True:
            limit = idle_seconds()
            time.sleep(min(max(limit / 4, 0.05), 5.0))
            with self.lock:
                if self.backend is None:
                    self.sweeper = None
                    return
                if time.monotonic() - self.last_used > limit:
                    self.close()
                    self.sweeper = None
                    return

    def forget(self) -> None:
        """In a forked child: the connection is the parent's. Close only this process's copy of
        the socket (no QUIT, no shutdown: the parent's connection stays as it was)."""
        backend = self.backend
        if backend is not None:
            for connection in (backend.connection, backend._partial_connection):
                if connection is not None:
                    connection.close()  # smtplib's close: closes its file and socket, sends nothing


_process = _Process()


def send(mail) -> int:
    """Send one EmailMessage (raising what Django's backend raises), over this process's kept
    connection when the SMTP backend is configured."""
    if settings.EMAIL_BACKEND != SMTP_BACKEND:
        from django.core.mail import get_connection

        mail.connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
        return mail.send(fail_silently=False)
    if not mail.recipients():
        return 0
    with _process.lock:
        return _process.send(mail)


def close() -> None:
    """Close this process's connection, if it has one (QUIT)."""
    with _process.lock:
        _process.close()


def connections_opened() -> int:
    """How many SMTP connections this process has opened so far."""
    return _process.opened


def _after_fork_in_child() -> None:
    global _process
    old, _process = _process, _Process()  # a new lock too: the parent's may be held by a thread
    old.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)


@signals.worker_process_shutdown.connect(weak=False)
def _close_at_process_shutdown(**kwargs) -> None:
    close()


@signals.worker_shutdown.connect(weak=False)
def _close_at_worker_shutdown(**kwargs) -> None:
    close()
