"""Cache-Control: no-store on everything that may carry patient data, so no browser, proxy or
shared computer keeps a copy of a page after the person has gone.

- every response to a signed-in person, and every API response: always no-store, whatever the
  view said (a patient page, a CSV export, a JSON answer);
- anonymous pages that chose their own caching keep it (the public pages; /healthz already says
  never cache); any other anonymous page gets no-store too, because a link with a token (an
  invitation, a reminder acknowledgement, the calendar feed) shows data without a log-in.

Static files never reach this: WhiteNoise, above it in MIDDLEWARE, answers them first.
"""

from django.db import DatabaseError
from django.utils.cache import add_never_cache_headers

API_PREFIX = "/api/"


def _signed_in(request) -> bool:
    try:
        return bool(getattr(getattr(request, "user", None), "is_authenticated", False))
    except DatabaseError:
        # The database is down, so we cannot tell: treat the person as signed in.
        return True


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        private = request.path.startswith(API_PREFIX) or _signed_in(request)
        if private or not response.has_header("Cache-Control"):
            if private:
                # A view's own "public" or max-age must not let a shared cache keep patient data.
                response.headers.pop("Cache-Control", None)
            add_never_cache_headers(response)
        return response
