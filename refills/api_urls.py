"""API routes of the refills app (filled in by the API work)."""

urlpatterns: list = []
