"""The pipeline with a real Celery worker on Redis and PostgreSQL: killing the worker or Redis
delays results but never loses or double-counts a response."""

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import redis
from django.db import connection

from apps.responses.models import Response
from apps.scoring.tasks import responses_sweep
from cxplatform.celery import app as project_app
from tests.conftest import IN_CI, WorkerProcess, wait_until
from tests.scoring.conftest import (
    NA,
    ResponseRow,
    a_day,
    expected_aggregates,
    rating_key,
    stored_aggregates,
    submit_response,
)

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def _test_database_url() -> str:
    """The test database the worker must use (the suite's, not DATABASE_URL's)."""
    s = connection.settings_dict
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    host, port = s["HOST"] or "127.0.0.1", s["PORT"] or 5432
    return f"postgres://{quote(s['USER'])}{password}@{host}:{port}/{s['NAME']}"


def _worker(broker_url: str, queue: str) -> WorkerProcess:
    worker = WorkerProcess(
        broker_url, queue=queue, extra_env={"DATABASE_URL": _test_database_url()}
    )
    worker.log_path = worker.log_path.with_name(f"worker-{queue}-{uuid.uuid4().hex[:6]}.log")
    worker.start()
    # Ready once it consumes: tests time what the pipeline does, not a worker's start-up.
    assert wait_until(lambda: _ready(worker), timeout=120, interval=0.1), worker.log_path
    return worker


def _ready(worker: WorkerProcess) -> bool:
    assert worker.proc is not None and worker.proc.poll() is None, worker.log_path
    return worker.log_path.exists() and " ready." in worker.log_path.read_text()


def _unprocessed(organization) -> int:
    return Response.objects.for_organization(organization).filter(pending__isnull=False).count()


def _rows(journey, count: int):
    t1, t2, t3 = journey.touchpoints_in_order
    return [
        ResponseRow(
            "employee" if i % 5 == 0 else "customer",
            {rating_key(t1, "ease"): 1 + (i * 7) % 5,
             rating_key(t1, "emotion"): NA if i % 9 == 0 else 1 + i % 5,
             rating_key(t2, "effectiveness"): 1 + (i * 3) % 5, rating_key(t2, "ease"): 1 + i % 4,
             rating_key(t3, "emotion"): 1 + (i * 11) % 5, "nps": (i * 13) % 11,
             "overall": 1 + i % 5},
            segment={"region": ("north", "south", "east", "west")[i % 4], "tier": str(i % 3)},
            day=a_day(i % 5),
        )
        for i in range(count)
    ]  # fmt: skip


def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(
    org, scoring_journey, response_store, redis_url, celery_client
):
    total = 4000
    response_store.add_many(_rows(scoring_journey, total))
    queue = f"test-{uuid.uuid4().hex[:12]}"
    worker = _worker(redis_url, queue)
    try:
        celery_client.send_task(
            "apps.scoring.tasks.responses_process_task",
            kwargs={"organization_id": org.pk, "limit": 100}, queue=queue,
        )  # fmt: skip
        assert wait_until(lambda: _unprocessed(org) <= total - 600, timeout=60, interval=0.01)
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
    finally:
        worker.stop()
    left = _unprocessed(org)
    assert 0 < left < total, "the worker should have been killed halfway through"
    # Whatever was committed is complete: exactly the responses marked processed are counted.
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk, only_processed=True))

    # The unacknowledged message waits for Redis' visibility timeout; the sweeper queues the
    # organisation again long before that. Here the test queues what the sweeper would.
    worker = _worker(redis_url, queue)
    try:
        celery_client.send_task(
            "apps.scoring.tasks.responses_process_task",
            kwargs={"organization_id": org.pk}, queue=queue,
        )  # fmt: skip
        assert wait_until(lambda: _unprocessed(org) == 0, timeout=90, interval=0.2)
    finally:
        worker.stop()
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


class RedisServer:
    """A private, throw-away redis-server that a test may kill and start again on one port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed"
            if IN_CI:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        self.binary = binary
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        assert wait_until(answers, timeout=10), "redis-server did not start"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def publishing_to():
    """Make this process publish tasks for real (not eagerly) to the given broker."""
    conf = project_app.conf
    saved = {"task_always_eager": conf.task_always_eager, "broker_url": conf.broker_url}

    def point(broker_url: str) -> None:
        conf.task_always_eager = False
        conf.broker_url = broker_url
        project_app.set_current()
        project_app._pool = None
        project_app.amqp._producer_pool = None

    yield point
    if project_app._pool is not None:
        project_app._pool.force_close_all()
    project_app._pool = None
    project_app.amqp._producer_pool = None
    for name, value in saved.items():
        setattr(conf, name, value)


def test_responses_arriving_while_redis_is_down_are_stored_and_processed_after(
    org, scoring_journey, survey_link, private_redis, publishing_to
):
    t1, t2, _t3 = scoring_journey.touchpoints_in_order
    link = survey_link("customer")
    staff = survey_link("employee")
    answers = {rating_key(t1, "ease"): 4, rating_key(t2, "emotion"): 2, "nps": 8, "overall": 4}
    publishing_to(private_redis.url)
    # Consumes the real "ingest" queue: the broker is this test's own.
    worker = _worker(private_redis.url, "ingest")
    try:
        # Healthy: the debounced trigger gets a response processed within seconds.
        started = time.monotonic()
        first = submit_response(link, answers, segment={"region": "north"})
        assert wait_until(lambda: _unprocessed(org) == 0, timeout=60, interval=0.05)
        assert first is not None
        healthy_delay = time.monotonic() - started
        time.sleep(0.5)  # let the worker acknowledge that task

        private_redis.kill()
        during = []
        for i in range(12):
            began = time.monotonic()
            stored = submit_response(
                staff if i % 3 == 0 else link, {**answers, "nps": i % 11},
                segment={"region": "south"},
            )  # fmt: skip
            during.append(time.monotonic() - began)
            assert stored is not None
            time.sleep(0.1)
        # Stored, not processed, and the respondents were not kept waiting.
        assert _unprocessed(org) == 12
        assert max(during) < 5, during

        private_redis.start()
        if worker.proc.poll() is not None:
            # Celery's solo worker may exit on a lost broker connection (a kombu restore bug);
            # in production the supervisor restarts it (compose: restart: unless-stopped).
            worker = _worker(private_redis.url, "ingest")
        assert responses_sweep.apply(kwargs={"older_than_seconds": 0}).get() == 1
        assert wait_until(lambda: _unprocessed(org) == 0, timeout=90, interval=0.1)
    finally:
        worker.stop()
    assert healthy_delay < 10
    stored = stored_aggregates(org.pk)
    assert sum(v for k, v in stored.item_days.items() if k[1] == "nps") == 13
    stored.assert_equal(expected_aggregates(org.pk))
