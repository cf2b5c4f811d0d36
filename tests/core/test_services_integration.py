"""The real components production uses: PostgreSQL with its pool, Redis, and a Celery worker."""

import pytest
from django.conf import settings
from django.db import connection

from cxplatform.celery import app as project_app


@pytest.mark.postgres
@pytest.mark.django_db
def test_database_is_postgresql_through_psycopg3_with_a_pool():
    assert connection.vendor == "postgresql"
    import psycopg

    assert connection.Database is psycopg
    assert settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"] >= 1
    assert connection.pool is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int")
        assert cursor.fetchone()[0] >= 130000


@pytest.mark.redis
def test_redis_cache_backend_round_trip(redis_url):
    from django.core.cache.backends.redis import RedisCache

    cache = RedisCache(redis_url, {})
    cache.set("cx-test-key", {"n": 3}, timeout=30)
    assert cache.get("cx-test-key") == {"n": 3}
    cache.delete("cx-test-key")
    assert cache.get("cx-test-key") is None


@pytest.mark.celery_worker
def test_a_real_worker_consumes_tasks_from_redis(celery_worker_process, celery_client):
    result = celery_client.send_task("apps.core.tasks.ping", queue=celery_worker_process.queue)
    assert result.get(timeout=60) == "pong"


def test_tasks_are_routed_to_their_queues():
    router = project_app.amqp.router
    cases = {
        "apps.responses.tasks.process_response": "ingest",
        "apps.scoring.tasks.drain": "ingest",
        "apps.distribution.tasks.send_batch": "email",
        "apps.reports.tasks.render_pdf": "reports",
        "apps.core.tasks.ping": "default",
    }
    for task_name, queue in cases.items():
        route = router.route({}, task_name)
        assert route["queue"].name == queue, task_name


def test_celery_is_configured_for_reliability():
    conf = project_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit and conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    # Worker processes are replaced now and then: PDF rendering grows native memory.
    assert conf.worker_max_tasks_per_child == 200


@pytest.mark.celery_worker
def test_worker_log_lines_carry_the_queuing_requests_id(celery_worker_process, celery_client):
    from apps.core.logging import request_id_var

    # cxplatform.celery stamps every published task (signals are process-wide).
    token = request_id_var.set("req-from-web-0001")
    try:
        stamped = celery_client.send_task(
            "apps.core.tasks.current_request_id", queue=celery_worker_process.queue
        )
    finally:
        request_id_var.reset(token)
    assert stamped.get(timeout=60) == "req-from-web-0001"

    plain = celery_client.send_task(
        "apps.core.tasks.current_request_id", queue=celery_worker_process.queue
    )
    assert plain.get(timeout=60) == plain.id
