"""Sessions end after inactivity (15 minutes for clinic staff, 60 for everyone else) and
after 12 hours in all, whatever the activity. A page refreshing itself (`?auto=1`) is not activity."""

import time

from django.conf import settings
from django.contrib.auth import logout

from .access import is_clinic_staff

STARTED = "ibt_started_at"
LAST_SEEN = "ibt_last_seen_at"
IDLE_LIMIT = "ibt_idle_limit"
LAST_SEEN_RESOLUTION = 30  # seconds


def is_automatic(request) -> bool:
    """A request the page made on its own (the triage queue's meta refresh to `?auto=1`)."""
    return request.method in ("GET", "HEAD") and request.GET.get("auto") == "1"


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "_auth_user_id" in request.session:
            now = time.time()
            session = request.session
            if STARTED not in session:
                session[STARTED] = now
                staff = is_clinic_staff(user)
                minutes = settings.SESSION_IDLE_MINUTES_STAFF if staff else settings.SESSION_IDLE_MINUTES_OTHER
                session[IDLE_LIMIT] = minutes * 60
            idle = now - session.get(LAST_SEEN, now)
            total = now - session[STARTED]
            if idle > session[IDLE_LIMIT] or total > settings.SESSION_ABSOLUTE_HOURS * 3600:
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


TWO_FACTOR_EXEMPT = (
    "/account/2fa/",
    "/accounts/login/",
    "/accounts/logout/",
    "/static/",
    "/healthz",
    "/api/schema/",
    "/api/docs/",
)
REQUIRED_KEY = "ibt_2fa_required"


class StaffTwoFactorMiddleware:
    """Clinic staff and admins reach no page or endpoint until this session passed a second
    factor (django-otp). API tokens for staff are only issued with a code (patients.api)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.http import JsonResponse
        from django.shortcuts import redirect
        from django.utils.http import urlencode

        from . import two_factor

        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(TWO_FACTOR_EXEMPT)
        ):
            if REQUIRED_KEY not in request.session:
                request.session[REQUIRED_KEY] = two_factor.required_for(user)
            if request.session[REQUIRED_KEY]:
                if request.path.startswith("/api/"):
                    message = "Clinic staff must complete two-step log-in first."
                    return JsonResponse({"errors": {"detail": [message]}}, status=403)
                step = "verify" if two_factor.has_two_factor(user) else "setup"
                return redirect(f"/account/2fa/{step}/?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
