"""The app's own error answers (handler400, 403, 404 and 500 in urls.py, CSRF_FAILURE_VIEW).

Pages say in plain words what happened and what to do next, in the app's layout; an `/api/`
path gets the API's error shape instead, `{"errors": {"detail": [message]}}`, also for a URL
that matches no route. Django shows these only with DEBUG off (with DEBUG on it shows its
technical pages, which list every URL), so DEBUG is off in every setting, `make run` included.

The 500 page renders with no request context: no context processor (one of them queries) and
no base template, so it still answers when the error came from the database or a template.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token

from symptoms.guidance import tel_href

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

# The last resort, when even the 500 template cannot be rendered: no template, no URL look-up.
BARE_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Something went wrong · IBT Companion</title></head><body><main>"
    "<h1>Something went wrong on our side</h1>"
    "<p>It is not your fault. Please try again in a few minutes.</p>"
    "<p><strong>If this is an emergency, call {number} now.</strong></p>"
    '<p><a href="/">Go to your home page</a></p></main></body></html>'
)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _api_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"errors": {"detail": [message]}}, status=status)


def _page(request: HttpRequest, template: str, status: int, context: dict | None = None) -> HttpResponse:
    return render(request, template, context or {}, status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _api_error(_("The request could not be understood."), 400)
    return _page(request, "400.html", 400)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _api_error(_("You do not have permission to do this."), 403)
    # The views' own reasons are written for the person ("Only the patient and their clinic can ...").
    reason = str(exception) if exception is not None and exception.args else ""
    return _page(request, "403.html", 403, {"reason": reason})


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _api_error(_("Not found."), 404)
    # Nothing from the exception: "No such patient." would tell an outsider what the URL was about.
    return _page(request, "404.html", 404)


@requires_csrf_token
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form sent after its page was open too long, or with cookies off."""
    if _is_api(request):
        return _api_error(_("CSRF check failed: send the form again from the page."), 403)
    return _page(request, "403_csrf.html", 403)


def server_error(request: HttpRequest) -> HttpResponse:
    number = settings.DEFAULT_EMERGENCY_NUMBER
    if _is_api(request):
        return _api_error(_("Something went wrong on our side. Please try again in a few minutes."), 500)
    page: str
    try:
        page = render_to_string("500.html", {"emergency_number": number, "emergency_href": tel_href(number)})
    except Exception:  # the error may be in templates or static files themselves
        log.exception("The 500 page could not be rendered; answered the bare page")
        page = BARE_500.format(number=escape(number))
    return HttpResponse(page, status=500)
