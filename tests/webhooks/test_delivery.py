"""Emitting and delivering: signed posts to a real local server, retries with backoff,
idempotent tasks, the delivery log, and disabling after repeated failures."""

import json
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.webhooks import services, tasks
from apps.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.webhooks.conftest import Answer
from tests.webhooks.recipe import verify

pytestmark = pytest.mark.django_db


def _emit(org, event="response.submitted", payload=None):
    return services.webhooks_emit(
        organization_id=org.pk, event=event, payload=payload or {"hello": "world"}
    )


def test_a_delivery_is_signed_and_verifiable_with_the_readme_recipe(
    org, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    _endpoint, secret = make_endpoint(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = _emit(org, payload={"n": 1, "text": "ääkköset"})

    (request,) = receiver.requests
    assert request.path == "/hooks/cx"
    assert request.headers["Content-Type"] == "application/json"
    assert verify(secret, request.headers, request.body)
    # Any other secret, or a changed body or timestamp, fails the recipe.
    assert not verify(services.new_secret(), request.headers, request.body)
    assert not verify(secret, request.headers, request.body + b" ")
    stale = dict(request.headers, **{"X-CX-Webhook-Timestamp": "1000000000"})
    assert not verify(secret, stale, request.body)

    envelope = json.loads(request.body)
    assert set(envelope) == {"id", "type", "created", "organization", "data"}
    assert envelope["type"] == "response.submitted"
    assert envelope["organization"] == "acme"
    assert envelope["data"] == {"n": 1, "text": "ääkköset"}
    assert envelope["created"].endswith("Z")
    assert request.headers["X-CX-Webhook-Id"] == envelope["id"]
    uuid.UUID(envelope["id"])

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    (attempt,) = WebhookAttempt.objects.for_organization(org)
    assert attempt.status_code == 200
    assert attempt.response_body == "ok"
    assert attempt.error == ""
    assert attempt.retry_in is None
    assert attempt.duration_ms >= 0


def test_a_secret_has_at_least_256_random_bits(make_endpoint):
    _endpoint, secret = make_endpoint()
    _other, another = make_endpoint()
    assert secret.startswith("whsec_") and another != secret
    # token_urlsafe(32): 32 random bytes, 43 base64url characters.
    assert len(secret) - len("whsec_") >= 43


def test_an_event_in_a_rolled_back_transaction_sends_nothing(
    org, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(url=receiver.url)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _emit(org)
        raise RuntimeError("the caller's transaction fails")
    assert callbacks == []
    assert receiver.requests == []
    assert not WebhookDelivery.objects.for_organization(org).exists()
    assert not WebhookEvent.objects.for_organization(org).exists()


def test_only_active_endpoints_subscribed_to_the_event_get_it(
    org, other_org, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    subscribed, _ = make_endpoint(url=receiver.url, events=["report.delivered"])
    make_endpoint(url=receiver.url, events=["alert.created"])
    disabled, _ = make_endpoint(url=receiver.url, events=["report.delivered"])
    WebhookEndpoint.objects.for_organization(org).filter(pk=disabled.pk).update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries = _emit(org, event="report.delivered")
        assert _emit(other_org, event="report.delivered") == []
    assert [d.endpoint_id for d in deliveries] == [subscribed.pk]
    assert len(receiver.requests) == 1


def test_emitting_with_no_subscriber_costs_one_query(org, make_endpoint, django_assert_num_queries):
    make_endpoint(events=["alert.created"])
    with django_assert_num_queries(1):
        assert _emit(org, event="report.delivered") == []


def test_an_unknown_event_name_is_a_programming_error(org):
    with pytest.raises(ValueError, match="unknown webhook event"):
        _emit(org, event="response.deleted")


def test_a_duplicate_task_never_resends_a_delivered_delivery(
    org, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = _emit(org)
    assert len(receiver.requests) == 1
    # The same message again (a broker redelivery), and a late sweeper's "next attempt".
    assert tasks.deliver.delay(org.pk, delivery.pk, 1).get() == "delivered"
    assert tasks.deliver.delay(org.pk, delivery.pk, 2).get() == "delivered"
    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.for_organization(org).count() == 1


def test_a_500_is_retried_with_exponential_backoff_and_jitter_then_given_up(
    org, receiver, make_endpoint, django_capture_on_commit_callbacks, settings
):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 100
    receiver.answer(500, body=b"x" * 5000)
    endpoint, _ = make_endpoint(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = _emit(org)

    assert len(receiver.requests) == 6  # WEBHOOKS_MAX_ATTEMPTS
    # Each retry is the same event, freshly signed.
    assert len({r.body for r in receiver.requests}) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 6
    assert delivery.last_status_code == 500
    attempts = list(WebhookAttempt.objects.for_organization(org).filter(delivery=delivery))
    assert [a.number for a in attempts] == [1, 2, 3, 4, 5, 6]
    for attempt in attempts[:-1]:
        nominal = 100 * 2 ** (attempt.number - 1)
        assert 0.8 * nominal <= attempt.retry_in <= 1.2 * nominal
        assert attempt.status_code == 500
        assert attempt.error == "HTTP 500."
        assert len(attempt.response_body) == 1000  # truncated
    assert attempts[-1].retry_in is None
    # The six attempts span about an hour at the default base of 120 s.
    assert 0.8 * 3720 <= sum(120 * 2**n for n in range(5)) <= 1.2 * 3720
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1 and endpoint.is_active


def test_a_timeout_is_retried(
    org, receiver, make_endpoint, django_capture_on_commit_callbacks, settings
):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.answer(Answer(200, delay=1.5), Answer(204))
    make_endpoint(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = _emit(org)
    first, second = WebhookAttempt.objects.for_organization(org).filter(delivery=delivery)
    assert first.status_code is None
    assert first.error == "Timed out after 0.3 s."
    assert first.retry_in is not None
    assert second.status_code == 204
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2


def test_a_refused_connection_is_logged_and_retried(
    org, make_endpoint, django_capture_on_commit_callbacks, settings
):
    settings.WEBHOOKS_MAX_ATTEMPTS = 2
    make_endpoint(url="http://127.0.0.1:9/nobody-listens")
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = _emit(org)
    attempts = list(WebhookAttempt.objects.for_organization(org).filter(delivery=delivery))
    assert len(attempts) == 2
    assert "ConnectionRefusedError" in attempts[0].error


def test_redirects_are_not_followed(
    org, receiver, make_endpoint, django_capture_on_commit_callbacks, settings
):
    settings.WEBHOOKS_MAX_ATTEMPTS = 1
    receiver.answer(Answer(302, headers={"Location": "http://169.254.169.254/latest/"}))
    make_endpoint(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = _emit(org)
    assert len(receiver.requests) == 1
    (attempt,) = WebhookAttempt.objects.for_organization(org).filter(delivery=delivery)
    assert attempt.status_code == 302
    assert "redirects are not followed" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_attempts_are_claimed_by_number_so_a_retry_runs_once(org, receiver, make_endpoint):
    receiver.answer(500)
    make_endpoint(url=receiver.url)
    (delivery,) = _emit(org)  # on_commit never runs here: the test drives the attempts
    first = services.webhook_delivery_attempt(
        organization_id=org.pk, delivery_id=delivery.pk, attempt=1
    )
    assert first.status == DeliveryStatus.PENDING and first.retry_in
    again = services.webhook_delivery_attempt(
        organization_id=org.pk, delivery_id=delivery.pk, attempt=1
    )
    assert again.skipped and len(receiver.requests) == 1
    receiver.answer(200)
    second = services.webhook_delivery_attempt(
        organization_id=org.pk, delivery_id=delivery.pk, attempt=2
    )
    assert second.status == DeliveryStatus.DELIVERED and len(receiver.requests) == 2


def test_the_sweeper_requeues_a_delivery_whose_retry_message_was_lost(org, receiver, make_endpoint):
    make_endpoint(url=receiver.url)
    (delivery,) = _emit(org)  # queued on commit, which never comes: the message is "lost"
    now = timezone.now() + timedelta(minutes=5)
    assert services.webhook_deliveries_requeue_stalled(now=now) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 1
    assert services.webhook_deliveries_requeue_stalled(now=now + timedelta(hours=1)) == 0


def test_a_disabled_endpoint_gets_nothing_already_queued(org, receiver, make_endpoint):
    endpoint, _ = make_endpoint(url=receiver.url)
    (delivery,) = _emit(org)
    WebhookEndpoint.objects.for_organization(org).filter(pk=endpoint.pk).update(is_active=False)
    outcome = services.webhook_delivery_attempt(
        organization_id=org.pk, delivery_id=delivery.pk, attempt=1
    )
    assert outcome.status == DeliveryStatus.CANCELLED
    assert receiver.requests == []


def test_repeated_failures_disable_the_endpoint_and_email_the_admins(
    org, owner, admin, analyst, receiver, make_endpoint, django_capture_on_commit_callbacks,
    settings, client,
):  # fmt: skip
    settings.WEBHOOKS_MAX_ATTEMPTS = 2
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    receiver.answer(503)
    endpoint, _ = make_endpoint(url=receiver.url)
    for n in range(1, 4):
        with django_capture_on_commit_callbacks(execute=True):
            _emit(org, payload={"n": n})
        endpoint.refresh_from_db()
        assert endpoint.consecutive_failures == n
    assert len(receiver.requests) == 6
    assert not endpoint.is_active
    assert endpoint.disabled_reason == "failures"
    entry = AuditEntry.objects.for_organization(org).get(action="webhook.disabled")
    assert entry.actor_label == "system" and entry.data["consecutive_failures"] == 3
    recipients = sorted(message.to[0] for message in mail.outbox)
    assert recipients == sorted([owner.email, admin.email])  # not the analyst
    assert receiver.url in mail.outbox[0].body
    assert f"/o/acme/settings/webhooks/{endpoint.pk}/" in mail.outbox[0].body

    # Nothing more is sent while disabled...
    with django_capture_on_commit_callbacks(execute=True):
        assert _emit(org) == []
    assert len(receiver.requests) == 6

    # ...until an admin presses "Enable again": the count starts from zero.
    client.force_login(admin)
    response = client.post(f"/o/acme/settings/webhooks/{endpoint.pk}/enable/")
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 0
    assert AuditEntry.objects.for_organization(org).filter(action="webhook.enabled").exists()


def test_a_success_resets_the_failure_count(
    org, receiver, make_endpoint, django_capture_on_commit_callbacks, settings
):
    settings.WEBHOOKS_MAX_ATTEMPTS = 1
    receiver.answer(500)
    endpoint, _ = make_endpoint(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        _emit(org)
        _emit(org)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 2
    receiver.answer(200)
    with django_capture_on_commit_callbacks(execute=True):
        _emit(org)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_test_events_reach_a_disabled_endpoint_and_do_not_count(
    org, admin, receiver, make_endpoint, django_capture_on_commit_callbacks, settings
):
    from tests.journeys.helpers import principal

    settings.WEBHOOKS_MAX_ATTEMPTS = 1
    receiver.answer(500)
    endpoint, secret = make_endpoint(url=receiver.url)
    WebhookEndpoint.objects.for_organization(org).filter(pk=endpoint.pk).update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.webhook_endpoint_send_test(
            organization=org, actor=principal(org, admin), endpoint_id=endpoint.pk
        )
    (request,) = receiver.requests
    assert json.loads(request.body)["type"] == "webhook.test"
    assert verify(secret, request.headers, request.body)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_the_readme_gives_the_recipe_the_tests_use():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    recipe = (root / "tests/webhooks/recipe.py").read_text()
    snippet = recipe.split("# --- README snippet (keep identical) ---\n", 1)[1]
    snippet = snippet.split("\n\n# --- end of README snippet ---", 1)[0].strip("\n")
    assert f"```python\n{snippet}\n```" in (root / "README.md").read_text()


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_deadline(org, make_endpoint, settings):
    """Each byte comes before the per-read timeout, but the whole answer takes too long."""
    import socket
    import threading
    import time

    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOKS_MAX_ATTEMPTS = 1
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        make_endpoint(url=f"http://127.0.0.1:{port}/slow")
        (delivery,) = _emit(org)
        started = time.monotonic()
        services.webhook_delivery_attempt(
            organization_id=org.pk, delivery_id=delivery.pk, attempt=1
        )
        took = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
        thread.join(5)
    (attempt,) = WebhookAttempt.objects.for_organization(org)
    assert attempt.error == "Timed out after 0.5 s."
    assert attempt.status_code is None
    assert took < 2.0


def test_several_events_at_once_cost_three_queries(org, make_endpoint, django_assert_num_queries):
    make_endpoint(events=["alert.created"])
    make_endpoint(events=["alert.created"])
    payloads = [{"alert": n} for n in range(25)]
    with django_assert_num_queries(3):
        deliveries = services.webhooks_emit_many(
            organization_id=org.pk, event="alert.created", payloads=payloads
        )
    assert len(deliveries) == 50
    bodies = [json.loads(e.body) for e in WebhookEvent.objects.for_organization(org)]
    assert sorted(b["data"]["alert"] for b in bodies) == list(range(25))
    assert len({b["id"] for b in bodies}) == 25
    with django_assert_num_queries(1):
        services.webhooks_emit_many(
            organization_id=org.pk, event="report.delivered", payloads=payloads
        )
