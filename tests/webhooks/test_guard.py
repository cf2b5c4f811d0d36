"""The SSRF guard with the production setting on: internal addresses refused when an endpoint
is saved and again when a delivery is made; deliveries connect to the address that was checked.

No test here sends anything to a non-loopback address: connections are intercepted."""

import socket
from pathlib import Path
from unittest import mock

import pytest

from apps.core.errors import ValidationFailed
from apps.webhooks import guard, services, transport
from apps.webhooks.models import WebhookAttempt, WebhookEndpoint
from tests.journeys.helpers import principal

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a public address (never contacted: connections are intercepted)


@pytest.fixture
def guard_on(settings):
    settings.WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_HTTPS_ONLY = True
    return settings


def _addrinfo(*addresses):
    def fake(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return fake


REFUSED = [
    "https://127.0.0.1/hook",
    "https://127.1.2.3:8443/hook",
    "https://10.0.0.5/hook",
    "https://172.16.3.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.1.2.3]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://[2002:7f00:1::]/hook",  # 6to4 around 127.0.0.1
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 around 169.254.169.254
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
    "https://2130706433/hook",  # 127.0.0.1 written as one number
    "https://localhost/hook",  # a host name resolving to loopback
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_addresses_are_refused_when_saved(guard_on, org, admin, url):
    with pytest.raises(ValidationFailed) as caught:
        services.webhook_endpoint_create(
            organization=org, actor=principal(org, admin), url=url, events=["alert.created"]
        )
    assert list(caught.value.fields) == ["url"]
    assert "private or internal" in caught.value.fields["url"][0]
    assert not WebhookEndpoint.objects.for_organization(org).exists()


def test_a_host_name_is_refused_if_any_of_its_addresses_is_internal(guard_on):
    with (
        mock.patch("socket.getaddrinfo", _addrinfo(PUBLIC, "10.0.0.7")),
        pytest.raises(guard.UnsafeUrl, match=r"hooks\.example resolves to 10\.0\.0\.7"),
    ):
        guard.url_check("https://hooks.example/x")


def test_public_https_urls_are_accepted(guard_on):
    assert guard.url_check(f"https://{PUBLIC}/hook?x=1") == f"https://{PUBLIC}/hook?x=1"
    with mock.patch(
        "socket.getaddrinfo", _addrinfo(PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    ):
        assert guard.url_check("https://hooks.example/x") == "https://hooks.example/x"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"http://{PUBLIC}/hook", "must start with https://"),
        (f"ftp://{PUBLIC}/hook", "must start with https://"),
        ("https:///hook", "no host name"),
        (f"https://user:pass@{PUBLIC}/hook", "user name or password"),
        (f"https://{PUBLIC}:99999/hook", "Not a valid URL"),
        ("https://no such host/", "spaces"),
        ("https://unresolvable.invalid/", "could not be resolved"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused_in_production(guard_on, url, message):
    with pytest.raises(guard.UnsafeUrl, match=message):
        guard.url_check(url)


def test_without_the_guard_local_receivers_are_allowed(settings):
    settings.WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = False
    settings.WEBHOOKS_HTTPS_ONLY = False
    assert guard.url_check("http://127.0.0.1:8000/hook")
    with pytest.raises(guard.UnsafeUrl, match="http:// or https://"):
        guard.url_check("gopher://127.0.0.1/")


def test_dns_rebinding_is_refused_at_delivery(guard_on, org, receiver, make_endpoint):
    """Public when saved, loopback when delivered: refused, and the local server hears nothing."""
    with mock.patch("socket.getaddrinfo", _addrinfo(PUBLIC)):
        make_endpoint(url=f"https://rebind.example:{receiver.port}/hook")
    (delivery,) = services.webhooks_emit(
        organization_id=org.pk, event="alert.created", payload={"x": 1}
    )
    with mock.patch("socket.getaddrinfo", _addrinfo("127.0.0.1")):
        outcome = services.webhook_delivery_attempt(
            organization_id=org.pk, delivery_id=delivery.pk, attempt=1
        )
    assert outcome.retry_in is not None
    assert receiver.requests == []
    (attempt,) = WebhookAttempt.objects.for_organization(org)
    assert attempt.status_code is None
    assert attempt.error.startswith("Not sent: Webhooks cannot be sent to private")
    assert "127.0.0.1 is a loopback address" in attempt.error


def test_an_endpoint_saved_before_the_guard_is_refused_at_delivery(
    settings, org, receiver, make_endpoint
):
    make_endpoint(url=receiver.url)  # test settings: guard off
    settings.WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = True
    (delivery,) = services.webhooks_emit(
        organization_id=org.pk, event="alert.created", payload={"x": 1}
    )
    services.webhook_delivery_attempt(organization_id=org.pk, delivery_id=delivery.pk, attempt=1)
    assert receiver.requests == []
    assert "loopback" in WebhookAttempt.objects.for_organization(org).get().error


def test_a_delivery_connects_to_the_address_it_checked(guard_on, org, make_endpoint):
    """Resolved once, checked, and that very address is connected to (TLS keeps the name)."""
    with mock.patch("socket.getaddrinfo", _addrinfo(PUBLIC)):
        make_endpoint(url="https://hooks.example/cx")
    (delivery,) = services.webhooks_emit(
        organization_id=org.pk, event="alert.created", payload={"x": 1}
    )
    lookups = mock.Mock(side_effect=_addrinfo(PUBLIC))
    connect = mock.Mock(side_effect=ConnectionRefusedError("intercepted"))
    with (
        mock.patch("socket.getaddrinfo", lookups),
        mock.patch.object(transport.socket, "create_connection", connect),
    ):
        services.webhook_delivery_attempt(
            organization_id=org.pk, delivery_id=delivery.pk, attempt=1
        )
    assert lookups.call_count == 1
    assert connect.call_args.args[0] == (PUBLIC, 443)


def test_the_pinned_connection_sends_the_urls_host_name(settings, org, receiver, make_endpoint):
    """With the guard off a name may point at this machine: the request still names the host."""
    with mock.patch("socket.getaddrinfo", _addrinfo("127.0.0.1")):
        make_endpoint(url=f"http://hooks.example:{receiver.port}/cx")
        (delivery,) = services.webhooks_emit(
            organization_id=org.pk, event="alert.created", payload={"x": 1}
        )
        outcome = services.webhook_delivery_attempt(
            organization_id=org.pk, delivery_id=delivery.pk, attempt=1
        )
    assert outcome.status == "delivered"
    (request,) = receiver.requests
    assert request.headers["Host"] == f"hooks.example:{receiver.port}"
    assert request.path == "/cx"


def test_production_settings_turn_the_guard_on():
    source = Path(guard.__file__).resolve().parents[2] / "cxplatform/settings/production.py"
    text = source.read_text()
    assert "WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = True" in text
    assert "WEBHOOKS_HTTPS_ONLY = True" in text
