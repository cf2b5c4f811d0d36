"""Platform-level tasks."""

import logging

from celery import shared_task

from .logging import request_id_var

log = logging.getLogger(__name__)


@shared_task(ignore_result=False)
def ping() -> str:
    """Proves a worker is consuming: used by readiness tooling and the worker integration test."""
    log.info("ping")
    return "pong"


@shared_task(ignore_result=False)
def current_request_id() -> str:
    """The id this task's log lines carry (the queuing request's, else the task's own)."""
    return request_id_var.get()
