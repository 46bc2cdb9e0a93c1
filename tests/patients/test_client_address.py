"""The address every throttle counts by (log-in tries, wrong second-factor codes). Behind the
production proxy, counting the proxy's address would put every person in one count: five wrong
passwords from anywhere would lock the owner out (issue 10, found by attack)."""

import pytest
from django.test import Client

from patients.throttling import client_address
from tests.factories import PASSWORD


def test_no_proxy_counts_the_socket_and_ignores_a_forwarded_header():
    assert client_address("192.0.2.1", "203.0.113.7", 0) == "192.0.2.1"


def test_behind_one_proxy_the_client_is_the_last_hop_and_what_it_wrote_is_ignored():
    assert client_address("10.0.0.2", "203.0.113.7", 1) == "203.0.113.7"
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.7", 1) == "203.0.113.7"  # 6.6.6.6 is the client's lie
    assert client_address("10.0.0.3", "6.6.6.6, 203.0.113.7, 10.0.0.2", 2) == "203.0.113.7"


def test_a_request_that_did_not_come_through_the_proxies_counts_by_its_socket():
    assert client_address("10.0.0.2", "", 1) == "10.0.0.2"
    assert client_address("10.0.0.2", "203.0.113.7", 2) == "10.0.0.2"


def test_ipv6_counts_by_its_64_block_and_ipv4_mapped_as_ipv4():
    assert client_address("2001:db8:1:2:aaaa::1", "", 0) == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:2:bbbb::9", "", 0) == "2001:db8:1:2::/64"
    assert client_address("::ffff:192.0.2.1", "", 0) == "192.0.2.1"
    assert client_address("not an address", "", 0) == "not an address"


@pytest.mark.django_db
def test_behind_the_proxy_wrong_passwords_from_one_person_do_not_lock_out_another(world, settings):
    settings.PROXY_COUNT = 1
    url = "/accounts/login/"
    for _ in range(5):
        Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50").post(
            url, {"username": world.patient_user.email, "password": "wrong-password"}
        )
    locked = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert locked.post(url, {"username": world.patient_user.email, "password": PASSWORD}).status_code == 429
    owner = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert owner.post(url, {"username": world.patient_user.email, "password": PASSWORD}).status_code == 302
