"""Fixtures shared by the symptoms tests (plain helpers: tests/symptoms/test_checkin_fixtures.py)."""

import pytest

from .test_checkin_fixtures import with_pump


@pytest.fixture
def pump(world):
    """The world's patient with a pump and one refill at T0 (see `with_pump`)."""
    return with_pump(world)
