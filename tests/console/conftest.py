"""Fixtures shared by the console tests.

A module whose clock stands still at its NOW asks for `frozen` for every test with
`pytestmark = pytest.mark.usefixtures("frozen")` (so time stops before the test's other
fixtures run); a test that moves the clock asks for `frozen` by name too and gets the traveller.
"""

import pytest
import time_machine
from django.test import Client


@pytest.fixture
def frozen(request):
    """Time stands still at the test module's NOW."""
    with time_machine.travel(request.module.NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def staff_client(world):
    """A client logged in as the world's clinic staff member."""
    client = Client()
    client.force_login(world.staff)
    return client


@pytest.fixture
def noor(world):
    """The world's staff member is Noor Nurse and its admin Ari Admin, as the queue names them."""
    world.staff.full_name = "Noor Nurse"
    world.staff.save(update_fields=["full_name"])
    world.admin.full_name = "Ari Admin"
    world.admin.save(update_fields=["full_name"])
    return world.staff
