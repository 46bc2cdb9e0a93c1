"""SMS through a provider interface. No real provider can be reached here: the default
backend appends each message to a file (one JSON object a line), which tests and the demo read.
A real provider is another class with the same `send`, named in SMS_BACKEND."""

import json
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from . import PermanentError

SMS_MAX_CHARS = 480  # three segments


class FileBackend:
    def __init__(self, path: str | None = None):
        self.path = Path(path or settings.SMS_FILE)

    def send(self, to: str, text: str, reference: str) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"to": to, "text": text, "reference": reference, "at": timezone.now().isoformat()}
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")
        return f"file:{reference}"


def backend():
    return import_string(settings.SMS_BACKEND)()


def send(recipient, message, delivery) -> str:
    if not recipient.phone:
        raise PermanentError("no verified phone number")
    text = message.sms[:SMS_MAX_CHARS]
    return backend().send(recipient.phone, text, delivery.key)
