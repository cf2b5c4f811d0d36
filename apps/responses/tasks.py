"""Response background work: queued after a response is committed."""

from celery import shared_task
from django.db import OperationalError

from apps.core.tenancy import organization_context

# Drain for at most this long, then queue again (as apps.scoring.tasks.responses_process_task).
TIME_BUDGET_SECONDS = 50.0


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=1, retry_backoff_max=30, max_retries=5
)
def process_response(*, organization_id: int, response_id: int | None = None) -> int:
    """Process the organisation's unprocessed responses into the scoring aggregates.

    The web queues it at most about once a second per organisation (services._queue), so one run
    covers every response stored in that window. `response_id` is only accepted from messages
    queued before processing went by organisation: the whole organisation is processed anyway.
    """
    # Nothing is logged per response: a log line with a response id and a time stamp would
    # undo the date-only storage of employee responses.
    from apps.organizations.models import Organization
    from apps.scoring.services import DRAIN_BATCH_SIZE, responses_process_pending

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0
    with organization_context(organization):
        processed, drained = responses_process_pending(
            organization_id=organization.pk,
            limit=DRAIN_BATCH_SIZE,
            time_budget=TIME_BUDGET_SECONDS,
        )
    if not drained:
        process_response.delay(organization_id=organization_id)
    return processed
