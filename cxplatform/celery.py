"""The Celery application; configuration lives in Django settings under the CELERY_ prefix."""

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxplatform.settings.local")

app = Celery("cxplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "cx_request_id"


@signals.before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """A task queued while handling a request logs under that request's id."""
    from apps.core.logging import request_id_var

    request_id = request_id_var.get()
    if headers is not None and request_id != "-":
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect
def _enter_request_id(task: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    from apps.core.logging import request_id_var

    carried = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    task.request._cx_token = request_id_var.set(carried or task_id or "-")


@signals.task_postrun.connect
def _leave_request_id(task: Any = None, **kwargs: Any) -> None:
    from apps.core.logging import request_id_var

    token = getattr(task.request, "_cx_token", None) if task is not None else None
    if token is not None:
        request_id_var.reset(token)
