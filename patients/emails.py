"""How messages to people are rendered. A template's output goes either into HTML, where
everything a person typed (names, clinic names, notes, phone numbers) is escaped, or into plain
text (an e-mail's text part, an SMS, the in-app inbox), where escaping would show `&amp;` and
`&lt;` to the reader. Text parts are rendered here with autoescape off, so no template has to
remember to switch it off — and an HTML part that includes a text template escapes it."""

from django.template import Context
from django.template.backends.django import Template
from django.template.loader import get_template


def render_text(template_name: str, context: dict) -> str:
    """Render a plain-text template: nothing escaped (the reader sees exactly what was typed)."""
    template = get_template(template_name)
    assert isinstance(template, Template)  # the one engine is Django's (settings.TEMPLATES)
    return template.template.render(Context(context, autoescape=False))
