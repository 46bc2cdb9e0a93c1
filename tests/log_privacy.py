"""No log line written during the suite carries a person's name, e-mail address or phone number
(issue 11: logs go to places with weaker protection than the database).

Every name, address and number saved on a User or Patient (emergency contacts included) during
the tests is remembered; a handler on the root logger checks each record, traceback included, as
it is written, and the test that wrote one fails with the line. Loaded from tests/conftest.py
through `pytest_plugins`. Worker subprocesses write their own logs and are not seen here."""

from __future__ import annotations

import logging

import pytest
from django.db.models.signals import post_save

MIN_LENGTH = 6  # shorter strings (e.g. "Pat") would match too much that is not personal

_remembered: set[str] = set()


def _remember(*values) -> None:
    for value in values:
        text = str(value or "").strip()
        if len(text) >= MIN_LENGTH:
            _remembered.add(text.lower())


def _on_save(sender, instance, **kwargs) -> None:
    from patients.models import Patient, User

    if isinstance(instance, User):
        _remember(instance.email, instance.full_name)
    elif isinstance(instance, Patient):
        _remember(instance.full_name, instance.email, instance.phone)
        for contact in instance.emergency_contacts or []:
            if isinstance(contact, dict):
                _remember(contact.get("name"), contact.get("phone"))


class _Watch(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted carries nothing we can read
            return
        lowered = line.lower()
        found = sorted(value for value in _remembered if value in lowered)
        if found:
            self.leaks.append(f"{found} in: {line[:500]}")


@pytest.fixture(scope="session", autouse=True)
def _remember_personal_data():
    post_save.connect(_on_save, dispatch_uid="tests.log_privacy")
    yield
    post_save.disconnect(dispatch_uid="tests.log_privacy")


@pytest.fixture(autouse=True)
def no_personal_data_in_logs():
    watch = _Watch()
    root = logging.getLogger()
    root.addHandler(watch)
    yield watch
    root.removeHandler(watch)
    assert not watch.leaks, "A log line carries personal data:\n" + "\n".join(watch.leaks)
