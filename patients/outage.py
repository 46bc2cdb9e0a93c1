"""Serving a public page while the database is down (issue 10).

The 503 of an outage, and the middlewares that decide when a request is served without the
database, are in ibt_companion/outage.py. These are the parts the apps' views need too, kept here
because the apps import nothing from ibt_companion.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.db import InterfaceError, OperationalError

logger = logging.getLogger("ibt_companion.outage")

# What django.db raises when the server cannot be reached or drops the connection.
DATABASE_ERRORS = (OperationalError, InterfaceError)
SERVED_WITHOUT_DATABASE = "_ibt_served_without_database"


class OfflineSession(SessionBase):
    """The session of a visitor whose session row cannot be read: empty, and never written, so
    the cookie (and the session behind it) is still there when the database is back."""

    def load(self):
        return {}

    def exists(self, session_key):
        return True

    def create(self):
        pass

    def save(self, must_create=False):
        pass

    def delete(self, session_key=None):
        pass

    def cycle_key(self):
        pass


def _django_request(request):
    return getattr(request, "_request", request)  # DRF's Request wraps Django's


def serve_as_logged_out(request) -> None:
    """The database is down: serve this visitor as someone not logged in."""
    logger.warning("Database unreachable: %s served as logged out", request.path)
    django_request = _django_request(request)
    setattr(django_request, SERVED_WITHOUT_DATABASE, True)
    django_request.user = AnonymousUser()
    session = getattr(django_request, "session", None)
    if session is not None and not isinstance(session, OfflineSession):
        django_request.session = OfflineSession(session.session_key)


def served_without_database(request) -> bool:
    return getattr(_django_request(request), SERVED_WITHOUT_DATABASE, False)


def require_database(request) -> None:
    """A public endpoint asked for something that needs the database (a patient's data) while
    this request is served without it: the outage's 503, not an answer as if logged out."""
    if served_without_database(request):
        raise OperationalError("the database was unreachable earlier in this request")


class AnswersWithoutDatabase:
    """For a public DRF view: credentials that cannot be checked because the database is down
    count as none, so the view still answers what needs no database."""

    def perform_authentication(self, request):
        try:
            request.user  # noqa: B018 — runs the authentication classes now
        except DATABASE_ERRORS:
            serve_as_logged_out(request)
            request.user = AnonymousUser()
            request.auth = None
