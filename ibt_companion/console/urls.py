"""Console routes. Each part adds its own module's patterns here."""

urlpatterns: list = []
api_urlpatterns: list = []
