from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView

from console.urls import api_urlpatterns as console_api
from patients import urls as patient_urls
from patients.api_urls import urlpatterns as patient_api
from refills.web import urls as refill_urls
from symptoms.api_urls import urlpatterns as symptom_api

from .api_docs import ApiDocsView
from .views import healthz

# The admin site asks for a verified second factor too.
admin.site.__class__ = OTPAdminSite

# The app's own error pages, and the API's error shape under /api/ (ibt_companion/errors.py).
handler400 = "ibt_companion.errors.bad_request"
handler403 = "ibt_companion.errors.permission_denied"
handler404 = "ibt_companion.errors.page_not_found"
handler500 = "ibt_companion.errors.server_error"

api_v1 = [*patient_api, *refill_urls.api_urlpatterns]
api_v1 += symptom_api
api_v1 += console_api

urlpatterns = [
    path("", include(refill_urls)),
    path("", include(patient_urls)),
    path("", include("symptoms.urls")),
    path("", include("console.urls")),
    path("accounts/login/", patient_urls.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
