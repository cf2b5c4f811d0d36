"""The client's address behind load balancers, without letting clients spoof it."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from apps.core.middleware import TrustedProxyMiddleware


def _seen_address(forwarded: str | None, remote: str = "10.0.0.5") -> str:
    seen = {}

    def view(request):
        seen["addr"] = request.META["REMOTE_ADDR"]
        return HttpResponse()

    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    TrustedProxyMiddleware(view)(request)
    return seen["addr"]


def test_without_trusted_proxies_the_header_is_ignored():
    assert _seen_address("1.2.3.4") == "10.0.0.5"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_one_proxy_takes_the_last_hop_and_ignores_client_written_entries():
    # The client wrote "6.6.6.6" itself; our load balancer appended the real peer 203.0.113.9.
    assert _seen_address("6.6.6.6, 203.0.113.9") == "203.0.113.9"
    assert _seen_address("203.0.113.9") == "203.0.113.9"


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_two_proxies_take_the_second_hop_from_the_right():
    assert _seen_address("6.6.6.6, 198.51.100.7, 10.1.1.1") == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=2)
@pytest.mark.parametrize("forwarded", [None, "", "203.0.113.9", "not-an-ip, 10.1.1.1"])
def test_missing_short_or_garbage_headers_keep_the_peer_address(forwarded):
    assert _seen_address(forwarded) == "10.0.0.5"
