"""Sessions and the second factor, checked on every request.

- Sessions end after inactivity (15 minutes for clinic staff, 60 for everyone else) and after 12
  hours in all, whatever the activity. A page refreshing itself (`?auto=1`) is not activity.
- Whoever has a second factor, and all clinic staff, reach nothing until this session passed it;
  the help pages (HELP_PATHS) never ask for it: they see such a session as a signed-out visitor.
- Roles are read on every request, so a new role counts at once (idle limit, second factor).
"""

import re
import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils.http import urlencode

from . import two_factor

STARTED = "ibt_started_at"
LAST_SEEN = "ibt_last_seen_at"
LAST_SEEN_RESOLUTION = 30  # seconds

# Never behind a log-in or a second factor (SPEC §6, §10): the public "is this an emergency?"
# page and API, a check-in posted from an open form, the acknowledgement links in reminders. A
# session that has a password but not yet the code sees them as a signed-out visitor would:
# guidance without anyone's records. One-tap answer links join this list.
HELP_PATHS = re.compile(r"^/(?:emergency-check/|api/v1/triage/|r/ack/[^/]+/|api/v1/reminders/ack/[^/]+/)$")
CHECKIN_POST = re.compile(r"^/patients/\d+/checkin/$")  # the form's GET asks for the code as usual
# The way through the second step itself, and what carries no one's data.
SECOND_STEP_PATHS = (
    "/account/2fa/",
    "/accounts/login/",
    "/accounts/logout/",
    "/api/v1/auth/token/",  # checks the password and the code itself
    "/static/",
    "/healthz",
    "/api/schema/",
    "/api/docs/",
)
STANDING = "_ibt_standing"


def standing_of(request) -> two_factor.Standing:
    """The user's standing, read once per request."""
    if not hasattr(request, STANDING):
        setattr(request, STANDING, two_factor.standing(request.user))
    return getattr(request, STANDING)


def is_automatic(request) -> bool:
    """A request the page made on its own (the triage queue's meta refresh to `?auto=1`)."""
    return request.method in ("GET", "HEAD") and request.GET.get("auto") == "1"


def is_help(request) -> bool:
    return bool(HELP_PATHS.match(request.path)) or (request.method == "POST" and bool(CHECKIN_POST.match(request.path)))


def idle_limit_seconds(staff: bool) -> int:
    return 60 * (settings.SESSION_IDLE_MINUTES_STAFF if staff else settings.SESSION_IDLE_MINUTES_OTHER)


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "_auth_user_id" in request.session:
            now = time.time()
            session = request.session
            session.setdefault(STARTED, now)
            idle = now - session.get(LAST_SEEN, now)
            total = now - session[STARTED]
            if idle > idle_limit_seconds(standing_of(request).staff) or total > settings.SESSION_ABSOLUTE_HOURS * 3600:
                logout(request)
                request.session["signed_out_reason"] = "timeout"
                # Carry on as a signed-out visitor: pages that need a log-in send them to it (which
                # says why), the API answers 401, and a check-in posted now still gets its guidance.
                return self.get_response(request)
            if is_automatic(request):
                # A page refreshing itself is not a person at the screen: it must not keep an
                # unattended session alive. It may start the idle clock, never move it on.
                session.setdefault(LAST_SEEN, now)
                return self.get_response(request)
            if now - session.get(LAST_SEEN, 0) >= LAST_SEEN_RESOLUTION:
                session[LAST_SEEN] = now  # written at most every 30 s: a session write is a query
        return self.get_response(request)


class SecondFactorMiddleware:
    """Whoever must pass a second factor (staff, and anyone who has one) reaches no page or
    endpoint until this session passed it; API tokens are only issued with a code (patients.api).
    A staff member with no device yet is sent to the page that asks for a set-up link."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return self.get_response(request)
        if request.path.startswith(SECOND_STEP_PATHS):
            return self.get_response(request)
        standing = standing_of(request)
        if not standing.must_verify:
            return self.get_response(request)
        if is_help(request):
            request.user = AnonymousUser()
            return self.get_response(request)
        if request.path.startswith("/api/"):
            message = "Complete two-step log-in in the web app first."
            return JsonResponse({"errors": {"detail": [message]}}, status=403)
        step = "verify" if standing.has_device else "needed"
        return redirect(f"/account/2fa/{step}/?{urlencode({'next': request.get_full_path()})}")
