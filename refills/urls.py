"""Page routes of the refills app (filled in by the pages work)."""

urlpatterns: list = []
