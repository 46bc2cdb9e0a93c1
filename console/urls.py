"""Console routes. Each part adds its own module's patterns here."""

from . import enrol_urls, panel_urls, queue_urls

urlpatterns: list = []
api_urlpatterns: list = []

urlpatterns += queue_urls.urlpatterns
api_urlpatterns += queue_urls.api_urlpatterns
urlpatterns += panel_urls.urlpatterns
urlpatterns += enrol_urls.urlpatterns
