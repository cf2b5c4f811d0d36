"""A real Celery worker delivers to the local receiver: a 500 is retried after its countdown
on the same queue, and the delivery ends delivered once."""

import json
import time
from unittest import mock

import pytest
from django.db import connection

from apps.webhooks import services
from apps.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.conftest import WorkerProcess, wait_until
from tests.reports.test_delivery_smtp import _database_url

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]


def test_a_real_worker_retries_with_a_countdown_then_delivers(
    org, receiver, make_endpoint, redis_url, celery_client
):
    receiver.answer(500, 500, 200)
    make_endpoint(url=receiver.url)
    # This test process runs tasks eagerly: its own queueing is held back, the worker's runs.
    with mock.patch.object(services, "_queue") as held:
        (delivery,) = services.webhooks_emit(
            organization_id=org.pk, event="alert.created", payload={"alert": 1}
        )
    held.assert_called_once_with(org.pk, [delivery.pk])
    queue = f"test-webhooks-{time.monotonic_ns()}"
    worker = WorkerProcess(
        redis_url,
        queue=queue,
        extra_env={
            "DATABASE_URL": _database_url(connection),
            "WEBHOOKS_RETRY_BASE_SECONDS": "1",
        },
    )
    worker.start()
    try:
        celery_client.send_task(
            "apps.webhooks.tasks.deliver", args=[org.pk, delivery.pk, 1], queue=queue
        )

        def delivered() -> bool:
            row = WebhookDelivery.objects.for_organization(org).get(pk=delivery.pk)
            return row.status == DeliveryStatus.DELIVERED

        assert wait_until(delivered, timeout=90), worker.log_path.read_text()[-3000:]
    finally:
        worker.stop()
    assert len(receiver.requests) == 3
    assert json.loads(receiver.requests[0].body)["data"] == {"alert": 1}
    attempts = list(WebhookAttempt.objects.for_organization(org).filter(delivery_id=delivery.pk))
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    # The second attempt waited for its countdown (1 s +-20 %) after the first.
    gap = (attempts[1].started_at - attempts[0].started_at).total_seconds()
    assert gap >= 0.8 * attempts[0].retry_in
