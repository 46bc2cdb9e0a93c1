"""System checks that refuse a misconfigured production start.

They look at the form of the settings only: no network I/O here (reachability is /healthz's job).
"""

from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

SMTP_BACKENDS = {"django.core.mail.backends.smtp.EmailBackend"}
BROKER_SCHEMES = {"redis", "rediss", "amqp", "amqps", "filesystem"}


def sender_address_problem(address: str) -> str | None:
    """Say what is wrong with EMAIL_FROM_ADDRESS, or None when it is a plain address that mail
    servers will take (not at localhost, which most refuse or mark as spam)."""
    if not address:
        return "is empty"
    name, parsed = parseaddr(address)
    if name or parsed != address or address.count("@") != 1 or any(ch.isspace() for ch in address):
        return f"{address!r} is not a plain address such as reminders@clinic.example.org"
    domain = address.rsplit("@", 1)[1].lower()
    if domain in ("localhost", "localhost.localdomain") or "." not in domain:
        return f"{address!r} is at {domain!r}, which mail servers refuse"
    return None


def broker_url_problem(url: str) -> str | None:
    """Say what is wrong with the form of a broker URL, or None when it looks right."""
    if not url:
        return "is empty"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"cannot be read ({exc})"
    if parts.scheme not in BROKER_SCHEMES:
        return f"has the scheme {parts.scheme!r}; expected one of {', '.join(sorted(BROKER_SCHEMES))}"
    if parts.scheme != "filesystem":
        if not parts.hostname:
            return "names no host"
        if port is not None and not 0 < port < 65536:
            return "has a port outside 1-65535"
    if parts.scheme.startswith("redis") and parts.path not in ("", "/"):
        db = parts.path.lstrip("/")
        if not db.isdigit():
            return f"names the Redis database {db!r}, which is not a number"
    return None


@register(Tags.compatibility)
def check_production_email(app_configs=None, **kwargs):
    if getattr(settings, "IBT_ENVIRONMENT", "") != "production":
        return []
    if settings.EMAIL_BACKEND not in SMTP_BACKENDS or not settings.EMAIL_HOST:
        return [
            Error(
                "No SMTP server is configured, so refill reminders and alerts could not be e-mailed.",
                hint="Set EMAIL_URL, for example smtp+tls://user:password@mail.example.org:587.",
                id="ibt.E001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_sender_address(app_configs=None, **kwargs):
    if getattr(settings, "IBT_ENVIRONMENT", "") != "production":
        return []
    problem = sender_address_problem(settings.EMAIL_FROM_ADDRESS)
    if problem:
        return [
            Error(
                f"The sender address EMAIL_FROM_ADDRESS {problem}.",
                hint="Set EMAIL_FROM_ADDRESS to an address your SMTP server sends as, e.g. "
                "reminders@clinic.example.org. E-mails show the clinic's name in front of it.",
                id="ibt.E003",
            )
        ]
    return []


@register(Tags.compatibility)
def check_broker_url(app_configs=None, **kwargs):
    if getattr(settings, "IBT_ENVIRONMENT", "") != "production":
        return []
    problem = broker_url_problem(settings.CELERY_BROKER_URL)
    if problem is None and not settings.CELERY_BROKER_URL.startswith(("redis", "amqp")):
        problem = "is not a network broker (production needs Redis: set REDIS_URL)"
    if problem:
        return [
            Error(
                f"The Celery broker URL {problem}.",
                hint="Set REDIS_URL, for example redis://redis:6379/0.",
                id="ibt.E002",
            )
        ]
    return []
