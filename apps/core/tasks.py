"""Platform-level tasks."""

from celery import shared_task


@shared_task(ignore_result=False)
def ping() -> str:
    """Proves a worker is consuming: used by readiness tooling and the worker integration test."""
    return "pong"
