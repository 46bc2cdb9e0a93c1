"""The WSGI app of the console load benchmark (bench/console_load.py): the real app, plus two
bare views on the same server, so the benchmark can compare the real pages with floors:

- /bare/         a plain HttpResponse handed straight to WSGI: no middleware, no database
                 (the floor of gunicorn + WSGI on this machine);
- /bare-django/  a view that returns a plain HttpResponse through Django's whole middleware
                 stack (session, log-in, second factor, CSP, ...): the floor of any page.

Only the benchmark serves this module; the product's URL configuration never includes it.

    gunicorn bench.bare_app:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibt_companion.settings.production")

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse

REAL_URLCONF = settings.ROOT_URLCONF
settings.ROOT_URLCONF = __name__  # this module's urlpatterns: /bare-django/, then the real ones

real_app = get_wsgi_application()

from django.urls import include, path  # noqa: E402


def bare_view(request=None) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bare-django/", bare_view), path("", include(REAL_URLCONF))]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/bare/":
        response = bare_view()
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [response.content]
    return real_app(environ, start_response)
