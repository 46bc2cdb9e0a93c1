"""Fixtures shared by the patients tests.

A module whose clock stands still for each whole test asks for `frozen` with
`pytestmark = pytest.mark.usefixtures("frozen")`.
"""

import pytest
import time_machine
from django.utils import timezone


@pytest.fixture
def frozen():
    """Time stands still at the moment the test starts, to the second."""
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False):
        yield


@pytest.fixture
def start():
    """The moment the test starts, to the second (the clock keeps running)."""
    return timezone.now().replace(microsecond=0)
