"""Who e-mails come from, and how messages to people are rendered.

The sender: every e-mail comes from one address of the app's own (EMAIL_FROM_ADDRESS), under the
name of the clinic it is about, so a patient sees "Lakeside Pump Clinic" rather than an address
they do not know. The name is typed by a clinic admin, so it is made safe for a header here:
line breaks and control characters become spaces, and `formataddr` quotes commas and quotes and
encodes anything outside ASCII (RFC 2047), so no clinic name can add a header or a recipient.

How messages are rendered. A template's output goes either into HTML, where
everything a person typed (names, clinic names, notes, phone numbers) is escaped, or into plain
text (an e-mail's text part, an SMS, the in-app inbox), where escaping would show `&amp;` and
`&lt;` to the reader. Text parts are rendered here with autoescape off, so no template has to
remember to switch it off — and an HTML part that includes a text template escapes it."""

from email.utils import formataddr

from django.conf import settings
from django.template import Context
from django.template.backends.django import Template
from django.template.loader import get_template


def render_text(template_name: str, context: dict) -> str:
    """Render a plain-text template: nothing escaped (the reader sees exactly what was typed)."""
    template = get_template(template_name)
    assert isinstance(template, Template)  # the one engine is Django's (settings.TEMPLATES)
    return template.template.render(Context(context, autoescape=False))


def sender(clinic_name: str = "") -> str:
    """The From header: the clinic's name (EMAIL_FROM_NAME for mail about no clinic) and the
    app's address, e.g. '"Lakeside Pump Clinic, North" <reminders@ibt.example.org>'."""
    name = "".join(ch if ch.isprintable() else " " for ch in clinic_name or "")
    name = " ".join(name.split()) or settings.EMAIL_FROM_NAME
    return formataddr((name, settings.EMAIL_FROM_ADDRESS))
