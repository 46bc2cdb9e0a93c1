"""Plain helpers (not fixtures) shared by test modules in more than one folder.

Fixtures shared across folders live in tests/conftest.py; a folder's own in its conftest.py.
"""

import json

from django.test import Client


def client_for(user=None) -> Client:
    """A test client logged in as `user` (staff pass the second factor, see tests/conftest.py);
    anonymous without one."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post_json(client: Client, url: str, data) -> object:
    """POST `data` as a JSON body (a string is sent as it is)."""
    body = data if isinstance(data, str) else json.dumps(data)
    return client.post(url, data=body, content_type="application/json")
