"""The API documentation page. Apart from schema.py: drf_spectacular.views needs the schema
class (DEFAULT_SCHEMA_CLASS) while it is imported."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    """The Swagger UI over /api/schema/. With API_DOCS_REQUIRE_LOGIN (production) only people
    who are logged in see it; the schema itself stays public. GET only: its HTML renderer has
    no answer to OPTIONS (that was a server error)."""

    http_method_names = ["get", "head"]

    def dispatch(self, request, *args, **kwargs):
        if settings.API_DOCS_REQUIRE_LOGIN and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)
