"""Sessions end after inactivity (15 minutes for clinic staff, 60 for everyone else) and
after 12 hours in all, whatever the activity."""

import time

from django.conf import settings
from django.contrib.auth import logout

from .access import is_clinic_staff

STARTED = "ibt_started_at"
LAST_SEEN = "ibt_last_seen_at"
IDLE_LIMIT = "ibt_idle_limit"


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
            session[LAST_SEEN] = now
        return self.get_response(request)
