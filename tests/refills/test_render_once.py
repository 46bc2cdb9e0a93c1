"""A send renders what its channel sends, once (refills/notify/content.py): an e-mail its text and HTML
parts (the HTML part includes the text template, rendered again with escaping on), an SMS only
its text, the inbox only the text. Counted with Django's test signal for each template render."""

from collections import Counter
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test.signals import template_rendered
from django.utils import timezone

from refills.models import Delivery
from refills.notify import outbox


@contextmanager
def templates_rendered():
    seen = Counter()

    def count(sender, template, context, **kwargs):
        seen[template.name] += 1

    template_rendered.connect(count)
    try:
        yield seen
    finally:
        template_rendered.disconnect(count)


@pytest.fixture
def patient(world, settings, tmp_path):
    settings.SMS_FILE = str(tmp_path / "sms.jsonl")
    settings.SMS_BACKEND = "refills.notify.channels.sms.FileBackend"
    patient = world.patient
    patient.notification_channels = ["email", "sms", "inbox"]
    patient.phone, patient.phone_verified_at = "+15550100000", timezone.now()
    patient.save()
    return patient


@pytest.mark.parametrize(
    "channel, expected",
    [
        ("email", {"emails/reminder.txt": 2, "emails/reminder.html": 1}),
        ("sms", {"emails/reminder_sms.txt": 1}),
        ("inbox", {"emails/reminder.txt": 1}),
    ],
)
def test_a_send_renders_only_what_its_channel_sends(patient, mailoutbox, channel, expected):
    now = timezone.now()
    row = Delivery.objects.create(
        key=f"render-once::test::user:{patient.user_id}:{channel}",
        patient=patient,
        kind="test",
        recipient=f"user:{patient.user_id}",
        recipient_user_id=patient.user_id,
        channel=channel,
        due_at=now - timedelta(minutes=1),
        next_attempt_at=now - timedelta(minutes=1),
    )
    [(pk, token)] = outbox.tick_claims(now)
    with templates_rendered() as seen:
        assert outbox.deliver(pk, now, token=token) == "sent"
    assert pk == row.pk
    assert dict(seen) == expected
    assert len(mailoutbox) == (channel == "email")
