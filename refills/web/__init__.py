"""The web of the refills app: pages, forms, the API and its serializers, and one urls.py."""
