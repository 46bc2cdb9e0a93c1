"""A database outage answers 503, never 500, and still says what to do.

With the database unreachable, nearly every request fails somewhere: the session and the user are
loaded lazily, so the error can come from any middleware, from DRF's token check, from a view or
from a template. Two middlewares handle it:

- `OutageMiddleware` (early in MIDDLEWARE) turns a `django.db` OperationalError or InterfaceError
  raised anywhere in the request into a 503 with `Retry-After`: a plain page, or the API's error
  shape for `/api/`. Both lead with the emergency number. A view's error reaches it through
  `process_exception`; an error in a later middleware has already been turned into a 500 by
  Django (each middleware is wrapped), so `got_request_exception` marks the request and the
  middleware replaces that 500 on its way out.
- `AnonymousDuringOutageMiddleware` (right after the authentication middlewares) keeps the
  public pages that need no database — the "Is this an emergency?" check, the triage and the
  symptom catalog of the API, /healthz — answering: when the session or the user cannot be
  loaded, the visitor is served as someone not logged in, with a session that reads as empty and
  writes nothing (the cookie is kept for when the database is back).

The 503 page renders with no request context: no context processor (one of them queries) runs.
"""

from __future__ import annotations

import functools
import logging
import sys

from django.conf import settings
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from patients.outage import DATABASE_ERRORS, serve_as_logged_out
from symptoms.guidance import tel_href

logger = logging.getLogger("ibt_companion.outage")

RETRY_AFTER_SECONDS = 30
MARK = "_ibt_database_outage"  # an exception from the database was raised in this request

# Pages and endpoints that answer without the database (by URL name).
PUBLIC_WITHOUT_DATABASE = ("emergency-check", "api-triage", "api-symptoms", "healthz")


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_ERRORS)


def messages() -> tuple[str, str]:
    number = settings.DEFAULT_EMERGENCY_NUMBER
    return (
        _("If you have signs of withdrawal or overdose, call %(number)s now.") % {"number": number},
        _("We can't reach our records right now. Please try again in a few minutes."),
    )


def outage_response(request) -> HttpResponse:
    call_now, try_again = messages()
    if request.path_info.startswith("/api/"):
        response: HttpResponse = JsonResponse({"errors": {"detail": [call_now, try_again]}}, status=503)
    else:
        number = settings.DEFAULT_EMERGENCY_NUMBER
        page = render_to_string(
            "503.html",
            {
                "emergency_number": number,
                "emergency_href": tel_href(number),
                "call_now": call_now,
                "try_again": try_again,
            },
        )
        response = HttpResponse(page, status=503)
        # The middlewares that add these to other pages come after this one.
        response["X-Frame-Options"] = "DENY"
        response["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'; object-src 'none'"
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


@receiver(got_request_exception, dispatch_uid="ibt_companion.outage.mark")
def _mark_outage(sender, request=None, **kwargs):
    """Django turned an exception from a middleware into a 500: remember it was the database."""
    if request is not None and is_outage(sys.exc_info()[1]):
        setattr(request, MARK, True)


class OutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, MARK, False) and response.status_code >= 500:
            return outage_response(request)
        return response

    def process_exception(self, request, exception):
        if not is_outage(exception):
            return None
        setattr(request, MARK, True)
        logger.error("Database unreachable: %s %s answered 503", request.method, request.path, exc_info=exception)
        return outage_response(request)


@functools.cache
def _public_paths() -> frozenset[str]:
    return frozenset(reverse(name) for name in PUBLIC_WITHOUT_DATABASE)


class AnonymousDuringOutageMiddleware:
    """After AuthenticationMiddleware and OTPMiddleware, before anything that reads the user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info in _public_paths():
            try:
                request.user.is_authenticated  # noqa: B018 — loads the session and the user now
            except DATABASE_ERRORS:
                serve_as_logged_out(request)
        return self.get_response(request)
